//! SIP messages as the proxy sees them: a start line, an ordered list of header
//! fields kept verbatim, and a body.
//!
//! Framing, validation and the typed views of the values the proxy acts on (Via,
//! URIs, name-addr, CSeq, tags, multi-valued headers) are all in this module (RFC
//! 3261 §7, §18.3, §25 and the lessons of RFC 4475 and RFC 5118). Header values are
//! kept as text, read on demand, so a proxy forwards what it does not understand
//! unchanged.

mod error;
mod fields;
mod header;
mod method;
mod parse;
mod stream;
mod syntax;
mod uri;
mod validate;
mod via;

pub use error::{ParseError, ParseErrorKind};
pub use fields::CSeq;
pub use header::{Header, HeaderName, Headers};
pub use method::Method;
pub use parse::MAX_MESSAGE_LEN;
pub use stream::StreamFramer;
pub use syntax::uri_of_name_addr;
pub use uri::SipUri;
pub use via::{Via, MAGIC_COOKIE};

use bytes::Bytes;

/// A request line: method and Request-URI (kept as text; see [`Message::request_uri`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: Method,
    pub uri: String,
}

/// A status line: code and reason phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub code: u16,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request(RequestLine),
    Response(StatusLine),
}

/// One SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Headers,
    pub body: Bytes,
}

impl Message {
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    pub fn request_line(&self) -> Option<&RequestLine> {
        match &self.start {
            StartLine::Request(line) => Some(line),
            StartLine::Response(_) => None,
        }
    }

    pub fn status_line(&self) -> Option<&StatusLine> {
        match &self.start {
            StartLine::Response(line) => Some(line),
            StartLine::Request(_) => None,
        }
    }

    pub fn method(&self) -> Option<&Method> {
        self.request_line().map(|line| &line.method)
    }

    pub fn status_code(&self) -> Option<u16> {
        self.status_line().map(|line| line.code)
    }

    /// Serialises the message; `Content-Length` is always rewritten from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len() + self.headers.len() * 48);
        match &self.start {
            StartLine::Request(line) => {
                out.extend_from_slice(line.method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(line.uri.as_bytes());
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response(line) => {
                out.extend_from_slice(b"SIP/2.0 ");
                out.extend_from_slice(line.code.to_string().as_bytes());
                out.push(b' ');
                out.extend_from_slice(line.reason.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        for header in self.headers.iter() {
            if header.name == HeaderName::ContentLength {
                continue;
            }
            out.extend_from_slice(header.name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(header.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}
