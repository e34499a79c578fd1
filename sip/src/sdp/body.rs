//! Where the session description of a SIP message body is: the whole body
//! (`application/sdp`), or one part of a `multipart/*` body (RFC 5621; carriers
//! interworking with ISUP send `multipart/mixed` with an SDP part and an
//! `application/ISUP` part, RFC 3204). Anchoring rewrites that part only and keeps
//! every other byte of the body.

use std::ops::Range;

use bytes::Bytes;

/// The longest boundary RFC 2046 §5.1.1 allows.
const MAX_BOUNDARY_LEN: usize = 70;

/// Where a body's session description lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpLocation {
    /// No session description: no body, or a body of another type (a multipart body
    /// whose parts are all of other types, e.g. ISUP alone).
    Absent,
    /// The session description is these bytes of the body (all of them for an
    /// `application/sdp` body).
    At(Range<usize>),
    /// A body that may carry a session description the gateway cannot isolate: a
    /// `multipart` body without a usable boundary or with broken framing, more than
    /// one SDP part, or an SDP part nested in another multipart. Such a body must
    /// not travel on as if it had no SDP.
    Unreadable,
}

impl SdpLocation {
    /// Finds the session description of a body with the given `Content-Type`.
    ///
    /// A body without a `Content-Type` breaks RFC 3261 §20.15; it is taken for a
    /// session description, as a lax peer would take it, so that it is anchored or
    /// refused rather than relayed unseen.
    pub fn find(content_type: Option<&str>, body: &[u8]) -> SdpLocation {
        if body.is_empty() {
            return SdpLocation::Absent;
        }
        let Some(content_type) = content_type else {
            return SdpLocation::At(0..body.len());
        };
        let media_type = MediaType::parse(content_type);
        if media_type.is("application", "sdp") {
            return SdpLocation::At(0..body.len());
        }
        if !media_type.main.eq_ignore_ascii_case("multipart") {
            return SdpLocation::Absent;
        }
        match media_type.boundary() {
            Some(boundary) => locate_in_parts(body, boundary.as_bytes()),
            None => SdpLocation::Unreadable,
        }
    }
}

/// The body with the bytes at `at` replaced by `sdp`; everything else is kept byte
/// for byte (other parts, boundaries, part headers).
pub fn splice(body: &[u8], at: &Range<usize>, sdp: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(body.len() + sdp.len());
    out.extend_from_slice(body.get(..at.start).unwrap_or_default());
    out.extend_from_slice(sdp);
    out.extend_from_slice(body.get(at.end..).unwrap_or_default());
    Bytes::from(out)
}

/// `type/subtype; name=value; ...`, as much of it as locating the SDP needs.
struct MediaType<'a> {
    main: &'a str,
    sub: &'a str,
    parameters: &'a str,
}

impl<'a> MediaType<'a> {
    fn parse(value: &'a str) -> MediaType<'a> {
        let (essence, parameters) = value.split_once(';').unwrap_or((value, ""));
        let (main, sub) = essence.split_once('/').unwrap_or((essence, ""));
        MediaType {
            main: main.trim(),
            sub: sub.trim(),
            parameters,
        }
    }

    /// Media types compare without regard to case (RFC 2045 §5.1).
    fn is(&self, main: &str, sub: &str) -> bool {
        self.main.eq_ignore_ascii_case(main) && self.sub.eq_ignore_ascii_case(sub)
    }

    /// The `boundary` parameter, unquoted (RFC 2046 §5.1.1: 1 to 70 characters).
    fn boundary(&self) -> Option<String> {
        let value = self.parameters.split(';').find_map(|parameter| {
            let (name, value) = parameter.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| value.trim())
        })?;
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => value,
        };
        (1..=MAX_BOUNDARY_LEN)
            .contains(&value.len())
            .then(|| value.to_string())
    }
}

/// Walks the parts of a multipart body (RFC 2046 §5.1.1): each delimiter is
/// `--boundary` at the start of a line, the line break before it belongs to it, and
/// `--boundary--` closes the body. Bare LF line ends are accepted as well as CRLF.
fn locate_in_parts(body: &[u8], boundary: &[u8]) -> SdpLocation {
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    let Some(mut at) = find_delimiter(body, &delimiter, 0) else {
        return SdpLocation::Unreadable;
    };
    let mut found = None;
    loop {
        let after = at + delimiter.len();
        if body.get(after..after + 2) == Some(b"--") {
            break;
        }
        let Some(content_start) = end_of_line(body, after) else {
            return SdpLocation::Unreadable;
        };
        let Some(next) = find_delimiter(body, &delimiter, content_start) else {
            // No close delimiter: the framing is broken.
            return SdpLocation::Unreadable;
        };
        let content_end = line_break_before(body, next);
        let Some(part) = body.get(content_start..content_end) else {
            return SdpLocation::Unreadable;
        };
        match part_kind(part) {
            Some(PartKind::Sdp(range)) if found.is_none() => {
                found = Some((content_start + range.start)..(content_start + range.end));
            }
            Some(PartKind::Other) => {}
            Some(PartKind::Sdp(_)) | None => return SdpLocation::Unreadable,
        }
        at = next;
    }
    found.map_or(SdpLocation::Absent, SdpLocation::At)
}

/// The next delimiter at the start of a line, at or after `from`.
fn find_delimiter(body: &[u8], delimiter: &[u8], from: usize) -> Option<usize> {
    let mut start = from;
    loop {
        let at = start + memchr::memmem::find(body.get(start..)?, delimiter)?;
        if at == 0 || body.get(at - 1) == Some(&b'\n') {
            return Some(at);
        }
        start = at + 1;
    }
}

/// The start of the line after `from`, skipping transport padding (RFC 2046
/// §5.1.1: linear white space after a delimiter).
fn end_of_line(body: &[u8], from: usize) -> Option<usize> {
    let rest = body.get(from..)?;
    let newline = memchr::memchr(b'\n', rest)?;
    let padding = rest.get(..newline)?;
    let padding = padding.strip_suffix(b"\r").unwrap_or(padding);
    padding
        .iter()
        .all(|byte| *byte == b' ' || *byte == b'\t')
        .then_some(from + newline + 1)
}

/// Where a part's content ends: before the CRLF (or LF) that precedes the
/// delimiter at `delimiter_at`.
fn line_break_before(body: &[u8], delimiter_at: usize) -> usize {
    let mut end = delimiter_at;
    if end > 0 && body.get(end - 1) == Some(&b'\n') {
        end -= 1;
        if end > 0 && body.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
    }
    end
}

enum PartKind {
    /// An SDP part; its content lies at this range of the part.
    Sdp(Range<usize>),
    Other,
}

/// What one body part holds, from its own headers (RFC 2046 §5.1: no Content-Type
/// means `text/plain`). A nested multipart or unreadable headers give `None`.
fn part_kind(part: &[u8]) -> Option<PartKind> {
    let mut content_type = None;
    let mut at = 0;
    loop {
        let rest = part.get(at..)?;
        let newline = memchr::memchr(b'\n', rest);
        let line_end = newline.unwrap_or(rest.len());
        let line = rest.get(..line_end)?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let next = at + newline.map_or(rest.len(), |at| at + 1);
        if line.is_empty() {
            // The blank line ends the part's headers; a part without one has
            // headers only and no content.
            let content = if newline.is_some() { next } else { part.len() };
            return classify(content_type.as_deref(), content..part.len());
        }
        let text = std::str::from_utf8(line).ok()?;
        if let Some((name, value)) = text.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            }
        }
        if newline.is_none() {
            return classify(content_type.as_deref(), part.len()..part.len());
        }
        at = next;
    }
}

fn classify(content_type: Option<&str>, content: Range<usize>) -> Option<PartKind> {
    let Some(content_type) = content_type else {
        return Some(PartKind::Other);
    };
    let media_type = MediaType::parse(content_type);
    if media_type.is("application", "sdp") {
        Some(PartKind::Sdp(content))
    } else if media_type.main.eq_ignore_ascii_case("multipart") {
        None
    } else {
        Some(PartKind::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
    /// An ISUP IAM as SIP-I carriers send it: binary, with bytes that look like
    /// line ends and dashes.
    const ISUP: &[u8] =
        b"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x0a\r\n--\x0d\x00";

    fn multipart(boundary: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/sdp\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(SDP);
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Type: application/ISUP;version=itu-t92+;base=itu-t92+\r\nContent-Disposition: signal;handling=optional\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(ISUP);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    }

    #[test]
    fn an_application_sdp_body_is_the_whole_body() {
        assert_eq!(
            SdpLocation::find(Some("application/sdp"), SDP),
            SdpLocation::At(0..SDP.len())
        );
        assert_eq!(
            SdpLocation::find(Some("Application/SDP; charset=utf-8"), SDP),
            SdpLocation::At(0..SDP.len())
        );
        assert_eq!(
            SdpLocation::find(None, SDP),
            SdpLocation::At(0..SDP.len()),
            "a body without Content-Type is not relayed unseen"
        );
        assert_eq!(
            SdpLocation::find(Some("application/dtmf-relay"), b"Signal=1\r\n"),
            SdpLocation::Absent
        );
        assert_eq!(
            SdpLocation::find(Some("application/sdp"), b""),
            SdpLocation::Absent
        );
    }

    #[test]
    fn the_sdp_part_of_a_multipart_body_is_found_and_the_isup_part_kept_byte_for_byte() {
        let body = multipart("unique-boundary-1");
        let location = SdpLocation::find(Some("multipart/mixed;boundary=unique-boundary-1"), &body);
        let SdpLocation::At(range) = location else {
            panic!("no SDP part found: {location:?}");
        };
        assert_eq!(&body[range.clone()], SDP);
        let replacement = b"v=0\r\nc=IN IP4 203.0.113.1\r\n";
        let spliced = splice(&body, &range, replacement);
        let expected = {
            let mut expected = body[..range.start].to_vec();
            expected.extend_from_slice(replacement);
            expected.extend_from_slice(&body[range.end..]);
            expected
        };
        assert_eq!(&spliced[..], &expected[..]);
        assert!(
            spliced.windows(ISUP.len()).any(|window| window == ISUP),
            "the ISUP part travels unchanged"
        );
        assert!(spliced.ends_with(b"\r\n--unique-boundary-1--\r\n"));
    }

    #[test]
    fn quoted_boundaries_lf_line_ends_and_parameter_case() {
        let body = multipart("a b'c");
        let location = SdpLocation::find(Some("Multipart/Mixed; BOUNDARY=\"a b'c\""), &body);
        assert!(matches!(location, SdpLocation::At(_)), "{location:?}");
        let lf = String::from_utf8_lossy(&multipart("x")).replace("\r\n", "\n");
        let location = SdpLocation::find(Some("multipart/mixed;boundary=x"), lf.as_bytes());
        let SdpLocation::At(range) = location else {
            panic!("LF framing not read: {location:?}");
        };
        assert!(lf.as_bytes()[range].starts_with(b"v=0\no="));
    }

    #[test]
    fn a_multipart_without_sdp_has_none() {
        let body = b"--b\r\nContent-Type: application/ISUP\r\n\r\n\x01\x02\r\n--b--\r\n";
        assert_eq!(
            SdpLocation::find(Some("multipart/mixed;boundary=b"), body),
            SdpLocation::Absent
        );
    }

    #[test]
    fn multipart_bodies_that_hide_their_sdp_are_unreadable() {
        let two_sdps = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--\r\n";
        let nested = b"--b\r\nContent-Type: multipart/mixed;boundary=c\r\n\r\n--c\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--c--\r\n--b--\r\n";
        let unclosed = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n";
        let padding_then_text =
            b"--b junk\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--\r\n";
        let cases: [(&str, &[u8]); 6] = [
            ("multipart/mixed;boundary=b", two_sdps),
            ("multipart/mixed;boundary=b", nested),
            ("multipart/mixed;boundary=b", unclosed),
            ("multipart/mixed;boundary=b", padding_then_text),
            ("multipart/mixed", two_sdps),
            ("multipart/mixed;boundary=zz", two_sdps),
        ];
        for (content_type, body) in cases {
            assert_eq!(
                SdpLocation::find(Some(content_type), body),
                SdpLocation::Unreadable,
                "{content_type} {}",
                String::from_utf8_lossy(body)
            );
        }
        let too_long = format!("multipart/mixed;boundary={}", "b".repeat(71));
        assert_eq!(
            SdpLocation::find(Some(&too_long), two_sdps),
            SdpLocation::Unreadable
        );
    }

    #[test]
    fn a_boundary_inside_a_line_is_not_a_delimiter() {
        let body = b"--b\r\nContent-Type: text/plain\r\n\r\nsee --b here\r\n--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--";
        let SdpLocation::At(range) = SdpLocation::find(Some("multipart/mixed;boundary=b"), body)
        else {
            panic!("not found");
        };
        assert_eq!(&body[range], b"v=0");
    }
}
