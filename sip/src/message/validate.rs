//! The checks a framed message must pass before the proxy acts on it (RFC 3261
//! §8.1.1, §16.3, §20 and the invalid messages of RFC 4475 and RFC 5118).

use super::error::{ParseError, ParseErrorKind};
use super::header::HeaderName;
use super::syntax::{is_token, parse_u32, split_values, trim_lws, NameAddr};
use super::uri::check_request_uri;
use super::via::ViaParts;
use super::Message;

/// Headers that must appear exactly once, in this order in [`Counts`].
const SINGLETONS: [HeaderName; 7] = [
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentLength,
    HeaderName::ContentType,
];

/// Headers every request and response carries. Max-Forwards may be missing (RFC
/// 2543 agents, RFC 4475 inv2543, PBXs that omit it): the proxy adds it (RFC 3261
/// §16.6 step 3).
const MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

fn invalid(detail: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::InvalidHeader, detail)
}

pub(crate) fn validate(message: &Message) -> Result<(), ParseError> {
    let mut singleton_counts = [0u8; SINGLETONS.len()];
    let mut via_seen = false;
    for header in message.headers.iter() {
        let singleton = SINGLETONS.iter().position(|name| *name == header.name);
        if let Some(count) = singleton.and_then(|slot| singleton_counts.get_mut(slot)) {
            if *count > 0 {
                return Err(ParseError::new(
                    ParseErrorKind::DuplicateHeader,
                    duplicate_detail(&header.name),
                ));
            }
            *count += 1;
        }
        let value = header.value.as_str();
        match &header.name {
            HeaderName::Via => {
                via_seen = true;
                check_via_line(value)?;
            }
            HeaderName::From => check_address(value).map_err(|_| invalid("malformed From"))?,
            HeaderName::To => check_address(value).map_err(|_| invalid("malformed To"))?,
            HeaderName::CallId => check_call_id(value)?,
            HeaderName::CSeq => {
                parse_cseq(value).map_err(invalid)?;
            }
            HeaderName::MaxForwards => {
                parse_max_forwards(value).map_err(invalid)?;
            }
            HeaderName::Contact => check_contact(value)?,
            HeaderName::Route | HeaderName::RecordRoute => {
                check_address_list(value, "malformed Route or Record-Route")?
            }
            _ => {}
        }
    }
    let present = |name: &HeaderName| match SINGLETONS.iter().position(|n| n == name) {
        Some(slot) => singleton_counts.get(slot).is_some_and(|count| *count > 0),
        None => via_seen,
    };
    for name in &MANDATORY {
        if !present(name) {
            return Err(ParseError::new(
                ParseErrorKind::MissingHeader,
                missing_detail(name),
            ));
        }
    }
    if let Some(line) = message.request_line() {
        check_request_uri(&line.uri)
            .map_err(|detail| ParseError::new(ParseErrorKind::BadRequestUri, detail))?;
        let (_, cseq_method) = message
            .headers
            .get(&HeaderName::CSeq)
            .map(parse_cseq)
            .transpose()
            .map_err(invalid)?
            .unwrap_or_default();
        if cseq_method != line.method.as_str() {
            return Err(ParseError::new(
                ParseErrorKind::MethodMismatch,
                "CSeq method differs from the request method",
            ));
        }
    }
    Ok(())
}

fn duplicate_detail(name: &HeaderName) -> &'static str {
    match name {
        HeaderName::From => "more than one From",
        HeaderName::To => "more than one To",
        HeaderName::CallId => "more than one Call-ID",
        HeaderName::CSeq => "more than one CSeq",
        HeaderName::MaxForwards => "more than one Max-Forwards",
        HeaderName::ContentLength => "more than one Content-Length",
        _ => "more than one Content-Type",
    }
}

fn missing_detail(name: &HeaderName) -> &'static str {
    match name {
        HeaderName::Via => "no Via",
        HeaderName::From => "no From",
        HeaderName::To => "no To",
        HeaderName::CallId => "no Call-ID",
        _ => "no CSeq",
    }
}

/// Every comma-separated Via value parses, none is empty (RFC 4475 badinv01).
fn check_via_line(line: &str) -> Result<(), ParseError> {
    for value in split_values(line) {
        let value = trim_lws(value.map_err(invalid)?);
        if value.is_empty() {
            return Err(invalid("empty Via value"));
        }
        ViaParts::parse_strict(value).map_err(invalid)?;
    }
    Ok(())
}

fn check_address(value: &str) -> Result<(), &'static str> {
    NameAddr::parse_strict(value).map(|_| ())
}

fn check_contact(line: &str) -> Result<(), ParseError> {
    if trim_lws(line) == "*" {
        return Ok(());
    }
    check_address_list(line, "malformed Contact")
}

fn check_address_list(line: &str, detail: &'static str) -> Result<(), ParseError> {
    for value in split_values(line) {
        let value = value.map_err(|_| invalid(detail))?;
        check_address(value).map_err(|_| invalid(detail))?;
    }
    Ok(())
}

/// `word ["@" word]`: printable, no whitespace (RFC 3261 §25.1).
fn check_call_id(value: &str) -> Result<(), ParseError> {
    if value.is_empty() || value.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(invalid("malformed Call-ID"));
    }
    Ok(())
}

/// `1*DIGIT LWS Method`, the number within 2^32-1 (RFC 4475 scalar02, scalarlg).
pub(crate) fn parse_cseq(value: &str) -> Result<(u32, &str), &'static str> {
    let value = trim_lws(value);
    let split = value
        .find(|c: char| c.is_ascii_whitespace())
        .ok_or("CSeq without method")?;
    let number = value.get(..split).unwrap_or_default();
    let method = trim_lws(value.get(split..).unwrap_or_default());
    if !is_token(method) {
        return Err("malformed CSeq method");
    }
    let number = parse_u32(number).ok_or("CSeq number out of range")?;
    Ok((number, method))
}

/// `1*DIGIT`, at most 255 (RFC 4475 scalar02).
pub(crate) fn parse_max_forwards(value: &str) -> Result<u32, &'static str> {
    match parse_u32(trim_lws(value)) {
        Some(hops) if hops <= 255 => Ok(hops),
        _ => Err("Max-Forwards not a number or too large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [(&str, &str); 7] = [
        ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx"),
        ("Max-Forwards", "70"),
        ("From", "<sip:alice@example.com>;tag=1"),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", "c1"),
        ("CSeq", "1 OPTIONS"),
        ("Content-Length", "0"),
    ];

    /// Builds an OPTIONS from BASE with one header replaced (`None` removes it) or added.
    fn request(uri: &str, change: (&str, Option<&str>)) -> Vec<u8> {
        let mut text = format!("OPTIONS {uri} SIP/2.0\r\n");
        let mut replaced = false;
        for (name, value) in BASE {
            if name == change.0 {
                replaced = true;
                if let Some(value) = change.1 {
                    text.push_str(&format!("{name}: {value}\r\n"));
                }
            } else {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        if !replaced {
            if let Some(value) = change.1 {
                text.push_str(&format!("{}: {value}\r\n", change.0));
            }
        }
        text.push_str("\r\n");
        text.into_bytes()
    }

    fn kind_of(uri: &str, change: (&str, Option<&str>)) -> Option<ParseErrorKind> {
        Message::parse_datagram(&request(uri, change))
            .err()
            .map(|e| e.kind())
    }

    fn kind(change: (&str, Option<&str>)) -> Option<ParseErrorKind> {
        kind_of("sip:bob@example.com", change)
    }

    #[test]
    fn the_base_request_is_valid() {
        assert_eq!(kind(("X-Nothing", None)), None);
    }

    #[test]
    fn mandatory_headers() {
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            assert_eq!(
                kind((name, None)),
                Some(ParseErrorKind::MissingHeader),
                "{name}"
            );
        }
        assert_eq!(kind(("Max-Forwards", None)), None);
    }

    #[test]
    fn singletons() {
        for (name, value) in [
            ("f", "<sip:carol@example.com>;tag=2"),
            ("t", "<sip:dave@example.com>"),
            ("i", "c2"),
            ("CSeq", "2 OPTIONS"),
            ("Max-Forwards", "69"),
            ("l", "0"),
        ] {
            let mut text = String::from_utf8(request("sip:bob@example.com", ("X", None))).unwrap();
            text.insert_str(text.len() - 2, &format!("{name}: {value}\r\n"));
            let error = Message::parse_datagram(text.as_bytes()).unwrap_err();
            assert_eq!(error.kind(), ParseErrorKind::DuplicateHeader, "{name}");
        }
        let two_types = "Content-Type: a/b\r\nContent-Type: c/d";
        let text = String::from_utf8(request("sip:b@example.com", ("X", None))).unwrap();
        let text = text.replace(
            "Content-Length: 0\r\n",
            &format!("{two_types}\r\nContent-Length: 0\r\n"),
        );
        assert_eq!(
            Message::parse_datagram(text.as_bytes()).unwrap_err().kind(),
            ParseErrorKind::DuplicateHeader
        );
    }

    #[test]
    fn cseq_rules() {
        assert_eq!(kind(("CSeq", Some("0009\r\n  OPTIONS"))), None);
        assert_eq!(
            kind(("CSeq", Some("1 INVITE"))),
            Some(ParseErrorKind::MethodMismatch)
        );
        assert_eq!(kind(("CSeq", Some("4294967295 OPTIONS"))), None);
        assert_eq!(
            kind(("CSeq", Some("4294967296 OPTIONS"))),
            Some(ParseErrorKind::InvalidHeader)
        );
        assert_eq!(
            kind(("CSeq", Some("-1 OPTIONS"))),
            Some(ParseErrorKind::InvalidHeader)
        );
        assert_eq!(
            kind(("CSeq", Some("1"))),
            Some(ParseErrorKind::InvalidHeader)
        );
        assert_eq!(
            kind(("CSeq", Some("1 OPTIONS x"))),
            Some(ParseErrorKind::InvalidHeader)
        );
    }

    #[test]
    fn max_forwards_rules() {
        assert_eq!(kind(("Max-Forwards", Some("0068"))), None);
        assert_eq!(kind(("Max-Forwards", Some("255"))), None);
        assert_eq!(kind(("Max-Forwards", Some("0"))), None);
        assert_eq!(
            kind(("Max-Forwards", Some("256"))),
            Some(ParseErrorKind::InvalidHeader)
        );
        assert_eq!(
            kind(("Max-Forwards", Some("seventy"))),
            Some(ParseErrorKind::InvalidHeader)
        );
    }

    #[test]
    fn request_uri_rules() {
        assert_eq!(kind_of("sips:[2001:db8::10]:5070", ("X", None)), None);
        assert_eq!(kind_of("urn:service:sos", ("X", None)), None);
        for bad in [
            "<sip:bob@example.com>",
            "sip:bob@example.com?Route=x",
            "sip:2001:db8::10",
        ] {
            assert_eq!(
                kind_of(bad, ("X", None)),
                Some(ParseErrorKind::BadRequestUri),
                "{bad}"
            );
        }
    }

    #[test]
    fn via_rules() {
        assert_eq!(
            kind(("Via", Some("SIP/2.0/UDP a, SIP/2.0/TCP b:5061"))),
            None
        );
        for bad in [
            "",
            "SIP/2.0/UDP a,,",
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/2.0/UDP a;branch=z9hG4bK",
            "SIP/2.0 a",
        ] {
            assert_eq!(
                kind(("Via", Some(bad))),
                Some(ParseErrorKind::InvalidHeader),
                "{bad}"
            );
        }
    }

    #[test]
    fn address_rules() {
        assert_eq!(
            kind(("To", Some("sip:bob@example.com ;   tag    = 19"))),
            None
        );
        assert_eq!(kind(("To", Some("isbn:2983792873"))), None);
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "Watson, Thomas <sip:t.watson@example.org>",
            "\"Watson\" < sip:t.watson@example.org >",
            "<sip:bob@example.com>;;",
        ] {
            assert_eq!(
                kind(("To", Some(bad))),
                Some(ParseErrorKind::InvalidHeader),
                "{bad}"
            );
        }
        assert_eq!(kind(("Contact", Some("*"))), None);
        assert_eq!(
            kind(("Contact", Some("<sip:a@b>, \"B, C\" <sip:c@d>;q=0.5"))),
            None
        );
        assert_eq!(
            kind(("Contact", Some("sip:user@example.com?Route=%3Csip:x%3E"))),
            Some(ParseErrorKind::InvalidHeader)
        );
        assert_eq!(kind(("Route", Some("<sip:p1;lr>, <sip:p2;lr>"))), None);
        assert_eq!(
            kind(("Record-Route", Some("<sip:p1;lr"))),
            Some(ParseErrorKind::InvalidHeader)
        );
    }

    #[test]
    fn call_id_and_date_rules() {
        assert_eq!(
            kind(("Call-ID", Some("a b"))),
            Some(ParseErrorKind::InvalidHeader)
        );
        assert_eq!(
            kind(("Call-ID", Some(""))),
            Some(ParseErrorKind::InvalidHeader)
        );
        assert_eq!(kind(("Date", Some("Sat, 15 Oct 2005 04:44:56 GMT"))), None);
        // Only GMT is legal (RFC 3261 §20.17), but a proxy does not read Date and
        // RFC 4475 baddate lets it pass one in another zone on unchanged.
        assert_eq!(kind(("Date", Some("Fri, 01 Jan 2010 16:00:00 EST"))), None);
    }

    #[test]
    fn responses_need_the_same_headers() {
        let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        assert!(Message::parse_datagram(response.as_bytes()).is_ok());
        let without_via = response.replace("Via: SIP/2.0/UDP a;branch=z9hG4bKx\r\n", "");
        let error = Message::parse_datagram(without_via.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::MissingHeader);
        assert!(error.reply().is_none());
    }
}
