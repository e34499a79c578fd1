//! Why a message was refused, and the stateless error response it deserves.
//!
//! Error texts are static: they name the rule that failed and never echo header
//! values (which carry phone numbers and addresses).

use std::fmt;

use super::header::{HeaderName, Headers};
use super::syntax::NameAddr;
use super::via::ViaParts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// Only CR/LF/whitespace: a keep-alive (RFC 5626 §4.4.1), to be ignored silently.
    KeepAlive,
    /// The start line or the header structure cannot be read.
    Malformed,
    /// A SIP version other than 2.0 (answered with 505).
    UnsupportedVersion,
    /// Content-Length missing on a stream, negative, non-numeric, conflicting, or
    /// larger than the datagram.
    BadContentLength,
    /// The message exceeds the size a connection may buffer.
    TooLarge,
    /// A mandatory header is absent.
    MissingHeader,
    /// A header that may appear once appears more than once.
    DuplicateHeader,
    /// A header value breaks its grammar.
    InvalidHeader,
    /// The CSeq method differs from the request method.
    MethodMismatch,
    /// The Request-URI breaks its grammar.
    BadRequestUri,
    /// A response status code outside 100-699.
    BadStatusCode,
}

impl ParseErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::KeepAlive => "keep-alive",
            ParseErrorKind::Malformed => "malformed message",
            ParseErrorKind::UnsupportedVersion => "unsupported SIP version",
            ParseErrorKind::BadContentLength => "bad Content-Length",
            ParseErrorKind::TooLarge => "message too large",
            ParseErrorKind::MissingHeader => "missing header",
            ParseErrorKind::DuplicateHeader => "duplicate header",
            ParseErrorKind::InvalidHeader => "invalid header",
            ParseErrorKind::MethodMismatch => "CSeq method mismatch",
            ParseErrorKind::BadRequestUri => "bad Request-URI",
            ParseErrorKind::BadStatusCode => "bad status code",
        }
    }

    /// The status code of the stateless answer to a request refused for this reason.
    pub fn status_code(self) -> u16 {
        match self {
            ParseErrorKind::UnsupportedVersion => 505,
            ParseErrorKind::TooLarge => 513,
            _ => 400,
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message refused by framing or validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ParseError {
    kind: ParseErrorKind,
    detail: &'static str,
    connection_error: bool,
    reply_to: Option<Box<ReplyContext>>,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, detail: &'static str) -> ParseError {
        ParseError {
            kind,
            detail,
            connection_error: false,
            reply_to: None,
        }
    }

    pub(crate) fn keep_alive() -> ParseError {
        ParseError::new(ParseErrorKind::KeepAlive, "only line breaks")
    }

    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The rule that failed, in words (no values from the message).
    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// Whether a stream can no longer be framed after this error: the caller closes
    /// the connection (after sending [`ParseError::reply`] if there is one).
    pub fn is_connection_error(&self) -> bool {
        self.connection_error
    }

    pub(crate) fn closing_connection(mut self) -> ParseError {
        self.connection_error = true;
        self
    }

    /// Remembers what a stateless answer needs, if the message is a request whose
    /// Via, From, To, Call-ID and CSeq could be read.
    pub(crate) fn answering(
        mut self,
        request_method: Option<&str>,
        headers: &Headers,
    ) -> ParseError {
        if self.kind != ParseErrorKind::KeepAlive {
            self.reply_to = ReplyContext::capture(request_method, headers).map(Box::new);
        }
        self
    }

    /// The wire bytes of a `400 Bad Request` (`505`, `513` by kind) answering the
    /// refused request, or `None` for responses, ACKs and requests too broken to answer.
    pub fn reply(&self) -> Option<Vec<u8>> {
        let context = self.reply_to.as_deref()?;
        Some(context.render(self.kind.status_code()))
    }
}

/// The headers copied verbatim into a stateless answer (RFC 3261 §8.2.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReplyContext {
    vias: Vec<String>,
    from: String,
    to: String,
    call_id: String,
    cseq: String,
}

impl ReplyContext {
    fn capture(request_method: Option<&str>, headers: &Headers) -> Option<ReplyContext> {
        // Never answer an ACK (RFC 3261 §17.2.3) nor a response.
        if request_method.is_none_or(|method| method == "ACK") {
            return None;
        }
        let vias: Vec<String> = headers
            .get_all(&HeaderName::Via)
            .map(str::to_string)
            .collect();
        let top = vias.first()?;
        let top_value = super::syntax::split_values(top).next()?.ok()?;
        ViaParts::parse_any_version(super::syntax::trim_lws(top_value)).ok()?;
        let cseq = headers.get(&HeaderName::CSeq)?;
        if cseq.split_whitespace().nth(1) == Some("ACK") {
            return None;
        }
        Some(ReplyContext {
            vias,
            from: headers.get(&HeaderName::From)?.to_string(),
            to: headers.get(&HeaderName::To)?.to_string(),
            call_id: headers.get(&HeaderName::CallId)?.to_string(),
            cseq: cseq.to_string(),
        })
    }

    fn render(&self, code: u16) -> Vec<u8> {
        let reason = match code {
            505 => "Version Not Supported",
            513 => "Message Too Large",
            _ => "Bad Request",
        };
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(format!("SIP/2.0 {code} {reason}\r\n").as_bytes());
        for via in &self.vias {
            push_header(&mut out, "Via", via);
        }
        push_header(&mut out, "From", &self.from);
        push_header(&mut out, "To", &self.to);
        if !to_has_tag(&self.to) {
            out.truncate(out.len() - 2);
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(self.to_tag().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        push_header(&mut out, "Call-ID", &self.call_id);
        push_header(&mut out, "CSeq", &self.cseq);
        out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        out
    }

    /// A tag derived from the request, so a retransmission gets the same answer.
    fn to_tag(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [&self.call_id, &self.cseq, &self.from] {
            for byte in part.bytes().chain([0]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn to_has_tag(to: &str) -> bool {
    match NameAddr::parse(to) {
        Ok(parsed) => parsed.tag().is_some(),
        Err(_) => to.to_ascii_lowercase().contains(";tag="),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in lines {
            headers.push(HeaderName::parse(name), *value);
        }
        headers
    }

    fn complete() -> Headers {
        headers(&[
            ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa"),
            ("Via", "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKb"),
            ("From", "<sip:a@example.com>;tag=1"),
            ("To", "<sip:b@example.com>"),
            ("Call-ID", "abc"),
            ("CSeq", "1 INVITE"),
        ])
    }

    #[test]
    fn reply_copies_headers_and_adds_a_stable_tag() {
        let error = ParseError::new(ParseErrorKind::InvalidHeader, "x")
            .answering(Some("INVITE"), &complete());
        let reply = String::from_utf8(error.reply().unwrap()).unwrap();
        assert!(reply.starts_with("SIP/2.0 400 Bad Request\r\n"));
        assert!(reply.contains("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKb\r\n"));
        assert!(reply.contains("To: <sip:b@example.com>;tag="));
        assert!(reply.contains("CSeq: 1 INVITE\r\n"));
        assert!(reply.ends_with("Content-Length: 0\r\n\r\n"));
        let again =
            ParseError::new(ParseErrorKind::Malformed, "y").answering(Some("INVITE"), &complete());
        assert_eq!(again.reply().unwrap(), error.reply().unwrap());
    }

    #[test]
    fn version_errors_answer_505() {
        let error = ParseError::new(ParseErrorKind::UnsupportedVersion, "x")
            .answering(Some("OPTIONS"), &complete());
        assert!(error
            .reply()
            .unwrap()
            .starts_with(b"SIP/2.0 505 Version Not Supported\r\n"));
    }

    #[test]
    fn existing_to_tag_is_kept() {
        let mut with_tag = complete();
        with_tag.set(HeaderName::To, "<sip:b@example.com>;tag=xyz");
        let error =
            ParseError::new(ParseErrorKind::InvalidHeader, "x").answering(Some("BYE"), &with_tag);
        let reply = String::from_utf8(error.reply().unwrap()).unwrap();
        assert!(reply.contains("To: <sip:b@example.com>;tag=xyz\r\n"));
        assert_eq!(reply.matches("tag=").count(), 2);
    }

    #[test]
    fn no_reply_without_the_needed_headers_or_for_ack_and_responses() {
        let mut no_call_id = complete();
        no_call_id.remove_all(&HeaderName::CallId);
        let kind = ParseErrorKind::InvalidHeader;
        assert!(ParseError::new(kind, "x")
            .answering(Some("INVITE"), &no_call_id)
            .reply()
            .is_none());
        assert!(ParseError::new(kind, "x")
            .answering(Some("ACK"), &complete())
            .reply()
            .is_none());
        assert!(ParseError::new(kind, "x")
            .answering(None, &complete())
            .reply()
            .is_none());
        let mut bad_via = complete();
        bad_via.remove_all(&HeaderName::Via);
        bad_via.push(HeaderName::Via, "garbage");
        assert!(ParseError::new(kind, "x")
            .answering(Some("INVITE"), &bad_via)
            .reply()
            .is_none());
    }

    #[test]
    fn error_text_names_the_rule_only() {
        let error = ParseError::new(ParseErrorKind::InvalidHeader, "CSeq number out of range");
        assert_eq!(
            error.to_string(),
            "invalid header: CSeq number out of range"
        );
        assert_eq!(error.kind(), ParseErrorKind::InvalidHeader);
        assert!(!error.is_connection_error());
    }
}
