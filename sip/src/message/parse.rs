//! Reading one message head: start line, header lines (unfolded, compact names
//! mapped), Content-Length; and the datagram framing rules (RFC 3261 §18.3).

use bytes::Bytes;

use super::error::{ParseError, ParseErrorKind};
use super::header::{HeaderName, Headers};
use super::syntax::is_token;
use super::validate::validate;
use super::{Message, Method, RequestLine, StartLine, StatusLine};

/// The largest message accepted on a stream; UDP datagrams are smaller anyway.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Start line and headers, before the body is known.
pub(crate) struct Head {
    /// A start-line error already carries what its stateless answer needs.
    pub start: Result<StartLine, ParseError>,
    pub headers: Headers,
    /// `Ok(None)`: absent. Errors carry what their answer needs.
    pub content_length: Result<Option<usize>, ParseError>,
}

/// Number of CR/LF bytes before the first message byte.
pub(crate) fn leading_line_breaks(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

/// Finds the empty line ending the head, searching from `from`. Returns the end of
/// the last header line (its line break excluded) and the start of the body.
/// Bare LF line ends are accepted as well as CRLF.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let search = buf.get(from..)?;
    for offset in memchr::memchr_iter(b'\n', search) {
        let at = from + offset;
        match (buf.get(at + 1), buf.get(at + 2)) {
            (Some(b'\n'), _) => return Some((at, at + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((at, at + 3)),
            _ => {}
        }
    }
    None
}

/// Reads the head (start line and header lines, without the empty line). An error
/// here means the header structure is unreadable, so the message cannot be framed.
pub(crate) fn parse_head(head: &[u8]) -> Result<Head, ParseError> {
    let mut lines = lines(head);
    let start_line = lines.next().unwrap_or_default();
    let start = parse_start_line(start_line);
    let mut headers = Headers::with_capacity(memchr::memchr_iter(b'\n', head).count());
    let mut current: Option<(HeaderName, String)> = None;
    let mut content_length = ContentLength::default();
    for line in lines {
        if let Some(continuation) = line.strip_prefix(b" ").or_else(|| line.strip_prefix(b"\t")) {
            let (_, value) = current
                .as_mut()
                .ok_or_else(|| malformed("continuation line before any header"))?;
            append_folded(value, continuation);
            continue;
        }
        if let Some((name, value)) = current.take() {
            content_length.note(&name, &value);
            headers.push(name, value);
        }
        current = Some(parse_header_line(line)?);
    }
    if let Some((name, value)) = current {
        content_length.note(&name, &value);
        headers.push(name, value);
    }
    let answering =
        |error: ParseError| error.answering(request_method_token(start_line).as_deref(), &headers);
    let start = start.map_err(answering);
    let content_length = content_length.finish().map_err(answering);
    Ok(Head {
        start,
        headers,
        content_length,
    })
}

/// The lines of a head, line ends (LF or CRLF) removed.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let text = rest?;
        let line = match memchr::memchr(b'\n', text) {
            Some(at) => {
                rest = text.get(at + 1..);
                text.get(..at).unwrap_or_default()
            }
            None => {
                rest = None;
                text
            }
        };
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// Header text as a string; bytes that are not UTF-8 become U+FFFD rather than
/// refusing a call over a Latin-1 display name.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn malformed(detail: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::Malformed, detail)
}

fn trim_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |at| at + 1);
    bytes.get(start..end).unwrap_or_default()
}

fn append_folded(value: &mut String, continuation: &[u8]) {
    let continuation = trim_ws(continuation);
    if continuation.is_empty() {
        return;
    }
    if !value.is_empty() {
        value.push(' ');
    }
    match std::str::from_utf8(continuation) {
        Ok(text) => value.push_str(text),
        Err(_) => value.push_str(&String::from_utf8_lossy(continuation)),
    }
}

fn parse_header_line(line: &[u8]) -> Result<(HeaderName, String), ParseError> {
    let colon = memchr::memchr(b':', line).ok_or_else(|| malformed("header line without colon"))?;
    let name = line.get(..colon).map(trim_ws).unwrap_or_default();
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|name| is_token(name))
        .ok_or_else(|| malformed("malformed header name"))?;
    let value = line.get(colon + 1..).map(trim_ws).unwrap_or_default();
    Ok((HeaderName::parse(name), text_of(value)))
}

/// Content-Length as seen across the header lines.
#[derive(Default)]
struct ContentLength {
    value: Option<usize>,
    problem: Option<&'static str>,
}

impl ContentLength {
    fn note(&mut self, name: &HeaderName, value: &str) {
        if *name != HeaderName::ContentLength || self.problem.is_some() {
            return;
        }
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            self.problem = Some("Content-Length is not a non-negative number");
            return;
        }
        // Digits that overflow are simply too large: framing refuses them below.
        let length = value.parse().unwrap_or(usize::MAX);
        match self.value {
            Some(previous) if previous != length => {
                self.problem = Some("conflicting Content-Length values");
            }
            _ => self.value = Some(length),
        }
    }

    fn finish(self) -> Result<Option<usize>, ParseError> {
        match self.problem {
            Some(problem) => Err(ParseError::new(ParseErrorKind::BadContentLength, problem)),
            None => Ok(self.value),
        }
    }
}

/// The method token of what looks like a request line, for answering it.
fn request_method_token(line: &[u8]) -> Option<String> {
    if line.starts_with(b"SIP/") {
        return None;
    }
    let token = line.split(|&b| b == b' ').next()?;
    std::str::from_utf8(token)
        .ok()
        .filter(|token| is_token(token))
        .map(str::to_string)
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    if line.starts_with(b"SIP/") {
        parse_status_line(line).map(StartLine::Response)
    } else {
        parse_request_line(line).map(StartLine::Request)
    }
}

fn check_version(version: &[u8]) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case(b"SIP/2.0") {
        Ok(())
    } else if version.len() > 4
        && version
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        Err(ParseError::new(
            ParseErrorKind::UnsupportedVersion,
            "SIP version is not 2.0",
        ))
    } else {
        Err(malformed("malformed SIP version"))
    }
}

/// `Method SP Request-URI SP SIP-Version`, single spaces only (RFC 4475 lwsstart,
/// trws and lwsruri are refused).
fn parse_request_line(line: &[u8]) -> Result<RequestLine, ParseError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("request line is not method, URI and version"));
    };
    check_version(version)?;
    let method = std::str::from_utf8(method)
        .ok()
        .filter(|method| is_token(method))
        .ok_or_else(|| malformed("malformed method"))?;
    let uri = std::str::from_utf8(uri)
        .ok()
        .filter(|uri| !uri.is_empty())
        .ok_or_else(|| ParseError::new(ParseErrorKind::BadRequestUri, "malformed Request-URI"))?;
    Ok(RequestLine {
        method: Method::from_token(method),
        uri: uri.to_string(),
    })
}

/// `SIP-Version SP Status-Code SP Reason-Phrase`; the reason may be empty (RFC 4475
/// noreason) and UTF-8 (unreason).
fn parse_status_line(line: &[u8]) -> Result<StatusLine, ParseError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().unwrap_or_default();
    check_version(version)?;
    let code = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default();
    let code = match code {
        [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => {
            return Err(ParseError::new(
                ParseErrorKind::BadStatusCode,
                "status code is not three digits",
            ))
        }
    };
    if !(100..=699).contains(&code) {
        return Err(ParseError::new(
            ParseErrorKind::BadStatusCode,
            "status code out of range",
        ));
    }
    Ok(StatusLine {
        code,
        reason: text_of(reason),
    })
}

/// Completes a framed message: start line, body, then validation.
pub(crate) fn finish(head: Head, body: Bytes) -> Result<Message, ParseError> {
    let message = Message {
        start: head.start?,
        headers: head.headers,
        body,
    };
    match validate(&message) {
        Ok(()) => Ok(message),
        Err(error) => {
            let method = message.method().map(Method::as_str);
            Err(error.answering(method, &message.headers))
        }
    }
}

impl Message {
    /// Parses one UDP datagram (RFC 3261 §18.3): without Content-Length the body is
    /// the rest of the datagram; a Content-Length beyond the datagram is an error;
    /// bytes after the body are ignored (RFC 4475 dblreq). A datagram of line breaks
    /// only is a keep-alive ([`ParseErrorKind::KeepAlive`]).
    pub fn parse_datagram(bytes: &[u8]) -> Result<Message, ParseError> {
        let start = leading_line_breaks(bytes);
        let bytes = bytes.get(start..).unwrap_or_default();
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ParseError::keep_alive());
        }
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(ParseError::new(
                ParseErrorKind::TooLarge,
                "datagram too large",
            ));
        }
        // A datagram ending right after its last header line lacks only the empty
        // line: its end is unambiguous, so it is read as a head without body.
        let (head_end, body_start) = match find_head_end(bytes, 0) {
            Some(bounds) => bounds,
            None if bytes.ends_with(b"\n") => (bytes.len() - 1, bytes.len()),
            None => return Err(malformed("no empty line after the headers")),
        };
        let head = parse_head(bytes.get(..head_end).unwrap_or_default())?;
        let available = bytes.len().saturating_sub(body_start);
        let body_len = match &head.content_length {
            Ok(Some(length)) if *length > available => {
                let error = ParseError::new(
                    ParseErrorKind::BadContentLength,
                    "Content-Length larger than the datagram",
                );
                let method = head.start.as_ref().ok().and_then(StartLine::method_str);
                return Err(error.answering(method, &head.headers));
            }
            Ok(Some(length)) => *length,
            Ok(None) => available,
            Err(error) => return Err(error.clone()),
        };
        let body = bytes
            .get(body_start..body_start + body_len)
            .unwrap_or_default();
        finish(head, Bytes::copy_from_slice(body))
    }
}

impl StartLine {
    fn method_str(&self) -> Option<&str> {
        match self {
            StartLine::Request(line) => Some(line.method.as_str()),
            StartLine::Response(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:alice@example.com>;tag=1\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: c1\r\n\
        CSeq: 1 OPTIONS\r\n";

    fn with(extra: &str, body: &str) -> Vec<u8> {
        format!("{OPTIONS}{extra}\r\n{body}").into_bytes()
    }

    #[test]
    fn head_end_accepts_crlf_and_lf() {
        assert_eq!(find_head_end(b"A\r\nB\r\n\r\nbody", 0), Some((5, 8)));
        assert_eq!(find_head_end(b"A\nB\n\nbody", 0), Some((3, 5)));
        assert_eq!(find_head_end(b"A\r\nB\r\n", 0), None);
    }

    #[test]
    fn folded_lines_are_unfolded_and_compact_names_mapped() {
        let head = parse_head(
            b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n  two\r\n\tthree\r\ni: x\r\nl: 0",
        )
        .unwrap();
        let subject = HeaderName::Other("Subject".into());
        assert_eq!(head.headers.get(&subject), Some("one two three"));
        assert_eq!(head.headers.get(&HeaderName::CallId), Some("x"));
        assert_eq!(head.content_length, Ok(Some(0)));
    }

    #[test]
    fn header_structure_errors() {
        assert_eq!(
            parse_head(b"OPTIONS sip:a@b SIP/2.0\r\n folded first")
                .err()
                .map(|e| e.kind()),
            Some(ParseErrorKind::Malformed)
        );
        assert!(parse_head(b"OPTIONS sip:a@b SIP/2.0\r\nno colon here").is_err());
        assert!(parse_head(b"OPTIONS sip:a@b SIP/2.0\r\nbad name: x").is_err());
    }

    #[test]
    fn content_length_rules() {
        let cl = |value: &str| {
            parse_head(format!("OPTIONS sip:a@b SIP/2.0\r\n{value}").as_bytes())
                .unwrap()
                .content_length
                .map_err(|e| e.kind())
        };
        assert_eq!(cl("Content-Length: 12"), Ok(Some(12)));
        assert_eq!(cl("X: y"), Ok(None));
        assert_eq!(
            cl("Content-Length: -999"),
            Err(ParseErrorKind::BadContentLength)
        );
        assert_eq!(cl("l: twelve"), Err(ParseErrorKind::BadContentLength));
        assert_eq!(cl("l: 13\r\nl: 5"), Err(ParseErrorKind::BadContentLength));
        assert_eq!(cl("l: 5\r\nContent-Length: 5"), Ok(Some(5)));
        assert_eq!(cl("l: 99999999999999999999999"), Ok(Some(usize::MAX)));
    }

    #[test]
    fn start_line_rules() {
        let kind = |line: &[u8]| parse_start_line(line).err().map(|e| e.kind());
        assert_eq!(kind(b"INVITE sip:a@b SIP/2.0"), None);
        assert_eq!(kind(b"INVITE sip:a@b sip/2.0"), None);
        assert_eq!(
            kind(b"INVITE  sip:a@b SIP/2.0"),
            Some(ParseErrorKind::Malformed)
        );
        assert_eq!(
            kind(b"INVITE sip:a@b SIP/2.0 "),
            Some(ParseErrorKind::Malformed)
        );
        assert_eq!(
            kind(b"INVITE sip:a@b SIP/7.0"),
            Some(ParseErrorKind::UnsupportedVersion)
        );
        assert_eq!(
            kind(b"INVITE sip:a@b HTTP/1.1"),
            Some(ParseErrorKind::Malformed)
        );
        assert_eq!(
            kind(b"IN VITE sip:a@b SIP/2.0"),
            Some(ParseErrorKind::Malformed)
        );
        assert_eq!(kind(b"SIP/2.0 200 OK"), None);
        assert_eq!(kind(b"SIP/2.0 100 "), None);
        assert_eq!(kind(b"SIP/2.0 180"), None);
        assert_eq!(
            kind(b"SIP/2.0 4294967301 big"),
            Some(ParseErrorKind::BadStatusCode)
        );
        assert_eq!(
            kind(b"SIP/2.0 099 low"),
            Some(ParseErrorKind::BadStatusCode)
        );
        assert_eq!(
            kind(b"SIP/2.0 700 high"),
            Some(ParseErrorKind::BadStatusCode)
        );
        assert_eq!(
            kind(b"SIP/3.0 200 OK"),
            Some(ParseErrorKind::UnsupportedVersion)
        );
    }

    #[test]
    fn datagram_body_rules() {
        let no_cl = Message::parse_datagram(&with("", "v=0\r\n")).unwrap();
        assert_eq!(&no_cl.body[..], b"v=0\r\n");
        let trailing =
            Message::parse_datagram(&with("Content-Length: 3\r\n", "v=0\r\nextra")).unwrap();
        assert_eq!(&trailing.body[..], b"v=0");
        let short =
            Message::parse_datagram(&with("Content-Length: 30\r\n", "v=0\r\n")).unwrap_err();
        assert_eq!(short.kind(), ParseErrorKind::BadContentLength);
        assert!(short.reply().is_some());
    }

    #[test]
    fn keep_alives_and_leading_line_breaks() {
        for keep_alive in [&b""[..], b"\r\n", b"\r\n\r\n", b" \r\n\t"] {
            assert_eq!(
                Message::parse_datagram(keep_alive).unwrap_err().kind(),
                ParseErrorKind::KeepAlive
            );
        }
        let mut prefixed = b"\r\n\r\n".to_vec();
        prefixed.extend(with("l: 0\r\n", ""));
        assert!(Message::parse_datagram(&prefixed).is_ok());
    }

    #[test]
    fn datagram_without_final_empty_line() {
        let message = Message::parse_datagram(OPTIONS.as_bytes()).unwrap();
        assert_eq!(message.call_id(), Some("c1"));
        assert!(message.body.is_empty());
        let cut = &OPTIONS.as_bytes()[..OPTIONS.len() - 2];
        let error = Message::parse_datagram(cut).unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::Malformed);
    }
}
