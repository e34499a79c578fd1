//! Framing messages out of a byte stream (TCP, TLS), RFC 3261 §18.3: Content-Length
//! is mandatory and delimits each message; CRLF keep-alives between messages are
//! skipped.

use bytes::{Buf, BytesMut};

use super::error::{ParseError, ParseErrorKind};
use super::parse::{find_head_end, finish, leading_line_breaks, parse_head, Head, MAX_MESSAGE_LEN};
use super::{Message, StartLine};

/// Accumulates the bytes of one connection and hands out complete messages.
///
/// After an error with [`ParseError::is_connection_error`] the stream cannot be
/// framed any more: the framer yields nothing else and the caller closes the
/// connection. Other errors (a framed message that fails validation) consume that
/// message only.
#[derive(Default)]
pub struct StreamFramer {
    buffer: BytesMut,
    /// How far the search for the end of the head has gone without success.
    scanned: usize,
    /// A head already read, waiting for its body.
    pending: Option<PendingHead>,
    failed: bool,
    /// Line-break bytes skipped at the current message boundary.
    boundary_breaks: usize,
    ping_seen: bool,
}

struct PendingHead {
    head: Head,
    body_start: usize,
    body_len: usize,
}

impl StreamFramer {
    pub fn new() -> StreamFramer {
        StreamFramer::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// Bytes received and not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Whether a connection error ended framing.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Whether a double-CRLF keep-alive ping (RFC 5626 §3.5.1) arrived between
    /// messages since the last call; the transport answers it with a CRLF pong.
    pub fn take_ping(&mut self) -> bool {
        std::mem::take(&mut self.ping_seen)
    }

    /// The next complete message, `None` while more bytes are needed.
    pub fn next_message(&mut self) -> Option<Result<Message, ParseError>> {
        if self.failed {
            return None;
        }
        let pending = match self.pending.take() {
            Some(pending) => pending,
            None => match self.read_head()? {
                Ok(pending) => pending,
                Err(error) => return Some(Err(self.fail(error))),
            },
        };
        let end = pending.body_start + pending.body_len;
        if self.buffer.len() < end {
            self.pending = Some(pending);
            return None;
        }
        let frame = self.buffer.split_to(end).freeze();
        self.scanned = 0;
        Some(finish(pending.head, frame.slice(pending.body_start..end)))
    }

    fn fail(&mut self, error: ParseError) -> ParseError {
        self.failed = true;
        self.buffer = BytesMut::new();
        self.pending = None;
        error.closing_connection()
    }

    fn read_head(&mut self) -> Option<Result<PendingHead, ParseError>> {
        let line_breaks = leading_line_breaks(&self.buffer);
        if line_breaks > 0 {
            self.buffer.advance(line_breaks);
            self.scanned = 0;
            self.boundary_breaks += line_breaks;
            if self.boundary_breaks >= 4 {
                self.ping_seen = true;
                self.boundary_breaks = 0;
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        self.boundary_breaks = 0;
        let Some((head_end, body_start)) = find_head_end(&self.buffer, self.scanned) else {
            // Resume a few bytes back: the terminator may straddle two reads.
            self.scanned = self.buffer.len().saturating_sub(3);
            if self.buffer.len() > MAX_MESSAGE_LEN {
                return Some(Err(too_large()));
            }
            return None;
        };
        let head = self.buffer.get(..head_end).unwrap_or_default();
        Some(frame_head(head, body_start))
    }
}

fn too_large() -> ParseError {
    ParseError::new(ParseErrorKind::TooLarge, "message exceeds the stream limit")
}

fn frame_head(head_bytes: &[u8], body_start: usize) -> Result<PendingHead, ParseError> {
    let head = parse_head(head_bytes)?;
    let method = head.start.as_ref().ok().and_then(|start| match start {
        StartLine::Request(line) => Some(line.method.as_str()),
        StartLine::Response(_) => None,
    });
    let body_len = match &head.content_length {
        Ok(Some(length)) => *length,
        Ok(None) => {
            let error = ParseError::new(
                ParseErrorKind::BadContentLength,
                "no Content-Length on a stream",
            );
            return Err(error.answering(method, &head.headers));
        }
        Err(error) => return Err(error.clone()),
    };
    if body_len > MAX_MESSAGE_LEN.saturating_sub(body_start) {
        return Err(too_large().answering(method, &head.headers));
    }
    Ok(PendingHead {
        head,
        body_start,
        body_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(call_id: &str, body: &str) -> Vec<u8> {
        format!(
            "OPTIONS sip:bob@example.com SIP/2.0\r\n\
             Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK{call_id}\r\n\
             From: <sip:alice@example.com>;tag=1\r\n\
             To: <sip:bob@example.com>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn waits_for_complete_messages_and_skips_keep_alives() {
        let mut framer = StreamFramer::new();
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend(options("a", "hello"));
        stream.extend(b"\r\n\r\n");
        stream.extend(options("b", ""));
        let (first, second) = stream.split_at(40);
        framer.push(first);
        assert!(framer.next_message().is_none());
        framer.push(&second[..second.len() - 1]);
        let message = framer.next_message().unwrap().unwrap();
        assert_eq!(message.call_id(), Some("a"));
        assert_eq!(&message.body[..], b"hello");
        assert!(framer.next_message().is_none());
        framer.push(&second[second.len() - 1..]);
        assert_eq!(framer.next_message().unwrap().unwrap().call_id(), Some("b"));
        assert!(framer.next_message().is_none());
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn double_crlf_between_messages_is_a_ping() {
        let mut framer = StreamFramer::new();
        framer.push(b"\r\n");
        assert!(framer.next_message().is_none());
        assert!(!framer.take_ping());
        framer.push(b"\r\n");
        assert!(framer.next_message().is_none());
        assert!(framer.take_ping());
        assert!(!framer.take_ping());
        framer.push(&options("p", ""));
        framer.push(b"\r\n");
        assert!(framer.next_message().unwrap().is_ok());
        assert!(framer.next_message().is_none());
        assert!(!framer.take_ping());
    }

    #[test]
    fn byte_by_byte_delivery() {
        let mut framer = StreamFramer::new();
        let mut out = Vec::new();
        let stream = [options("x", "body"), options("y", "")].concat();
        for byte in &stream {
            framer.push(std::slice::from_ref(byte));
            while let Some(message) = framer.next_message() {
                out.push(message.unwrap().call_id().map(str::to_string));
            }
        }
        assert_eq!(out, vec![Some("x".to_string()), Some("y".to_string())]);
    }

    fn first_error(stream: &[u8]) -> ParseError {
        let mut framer = StreamFramer::new();
        framer.push(stream);
        let error = framer.next_message().unwrap().unwrap_err();
        assert!(framer.next_message().is_none());
        error
    }

    #[test]
    fn content_length_is_required_and_checked() {
        let text = String::from_utf8(options("c", "")).unwrap();
        for (replacement, kind) in [
            ("", ParseErrorKind::BadContentLength),
            ("Content-Length: -999\r\n", ParseErrorKind::BadContentLength),
            ("Content-Length: x\r\n", ParseErrorKind::BadContentLength),
            (
                "Content-Length: 1\r\nl: 2\r\n",
                ParseErrorKind::BadContentLength,
            ),
            ("Content-Length: 70000\r\n", ParseErrorKind::TooLarge),
        ] {
            let stream = text.replace("Content-Length: 0\r\n", replacement);
            let error = first_error(stream.as_bytes());
            assert_eq!(error.kind(), kind, "{replacement:?}");
            assert!(error.is_connection_error());
            assert!(error.reply().is_some());
        }
    }

    #[test]
    fn endless_head_is_too_large() {
        let mut framer = StreamFramer::new();
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\n");
        let filler = vec![b'a'; 1024];
        for _ in 0..64 {
            framer.push(b"X-Filler: ");
            framer.push(&filler);
            framer.push(b"\r\n");
            if let Some(result) = framer.next_message() {
                let error = result.unwrap_err();
                assert_eq!(error.kind(), ParseErrorKind::TooLarge);
                assert!(error.is_connection_error());
                assert!(framer.is_failed());
                return;
            }
        }
        panic!("an endless head was buffered without limit");
    }

    #[test]
    fn invalid_message_does_not_end_the_stream() {
        let mut framer = StreamFramer::new();
        let bad = String::from_utf8(options("bad", ""))
            .unwrap()
            .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
        framer.push(bad.as_bytes());
        framer.push(&options("good", ""));
        let error = framer.next_message().unwrap().unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::MethodMismatch);
        assert!(!error.is_connection_error());
        assert_eq!(
            framer.next_message().unwrap().unwrap().call_id(),
            Some("good")
        );
    }

    #[test]
    fn unreadable_header_structure_ends_the_stream() {
        let error = first_error(b"OPTIONS sip:a@b SIP/2.0\r\nno colon\r\n\r\n");
        assert_eq!(error.kind(), ParseErrorKind::Malformed);
        assert!(error.is_connection_error());
    }
}
