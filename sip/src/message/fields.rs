//! Typed views of the header values a proxy acts on. They read the header text on
//! demand; on a message that passed validation none of them fails.

use super::header::HeaderName;
use super::syntax::NameAddr;
use super::uri::SipUri;
use super::validate::{parse_cseq, parse_max_forwards};
use super::via::Via;
use super::{Message, Method};

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl Message {
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get(&HeaderName::CallId)
    }

    pub fn cseq(&self) -> Option<CSeq> {
        let (seq, method) = parse_cseq(self.headers.get(&HeaderName::CSeq)?).ok()?;
        Some(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }

    /// The `tag` parameter of From.
    pub fn from_tag(&self) -> Option<&str> {
        tag_of(self.headers.get(&HeaderName::From)?)
    }

    /// The `tag` parameter of To.
    pub fn to_tag(&self) -> Option<&str> {
        tag_of(self.headers.get(&HeaderName::To)?)
    }

    /// The URI of From (inside `<>` or bare).
    pub fn from_uri(&self) -> Option<&str> {
        NameAddr::parse(self.headers.get(&HeaderName::From)?)
            .ok()
            .map(|parsed| parsed.uri)
    }

    /// The URI of To (inside `<>` or bare).
    pub fn to_uri(&self) -> Option<&str> {
        NameAddr::parse(self.headers.get(&HeaderName::To)?)
            .ok()
            .map(|parsed| parsed.uri)
    }

    pub fn max_forwards(&self) -> Option<u32> {
        parse_max_forwards(self.headers.get(&HeaderName::MaxForwards)?).ok()
    }

    /// Every Via value, top first, across header lines and comma-joined values.
    /// Values that do not parse are skipped (a validated message has none).
    pub fn vias(&self) -> Vec<Via> {
        self.headers
            .values(&HeaderName::Via)
            .filter_map(Via::parse)
            .collect()
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Option<Via> {
        Via::parse(self.headers.first_value(&HeaderName::Via)?)
    }

    /// The Request-URI when it is a `sip:`/`sips:` URI.
    pub fn request_uri(&self) -> Option<SipUri> {
        SipUri::parse(&self.request_line()?.uri)
    }

    /// Route values, one name-addr each (see [`uri_of_name_addr`]).
    ///
    /// [`uri_of_name_addr`]: super::uri_of_name_addr
    pub fn routes(&self) -> Vec<String> {
        self.all_values(&HeaderName::Route)
    }

    /// Record-Route values, one name-addr each.
    pub fn record_routes(&self) -> Vec<String> {
        self.all_values(&HeaderName::RecordRoute)
    }

    /// Contact values, one name-addr each (`*` stays as it is).
    pub fn contacts(&self) -> Vec<String> {
        self.all_values(&HeaderName::Contact)
    }

    fn all_values(&self, name: &HeaderName) -> Vec<String> {
        self.headers.values(name).map(str::to_string).collect()
    }
}

fn tag_of(value: &str) -> Option<&str> {
    NameAddr::parse(value).ok()?.tag()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@[2001:db8::10]:5070;transport=udp SIP/2.0\r\n\
        Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bK2;received=192.0.2.4;rport=5099\r\n\
        v: SIP/2.0/UDP 192.0.2.3;branch=z9hG4bK3\r\n\
        Max-Forwards: 69\r\n\
        Route: <sip:p2.example.com;lr>, \"Proxy, Three\" <sip:p3.example.com;lr>\r\n\
        Route: <sip:p4.example.com;lr>\r\n\
        Record-Route: <sip:p1.example.com;lr>\r\n\
        From: \"Alice\" <sip:alice@example.com> ; tag = a1\r\n\
        To: sip:bob@example.com\r\n\
        Call-ID: call-1@example.com\r\n\
        CSeq: 4711 INVITE\r\n\
        Contact: <sip:alice@192.0.2.4>\r\n\
        Content-Length: 0\r\n\r\n";

    fn invite() -> Message {
        Message::parse_datagram(INVITE.as_bytes()).unwrap()
    }

    #[test]
    fn scalar_fields() {
        let message = invite();
        assert_eq!(message.call_id(), Some("call-1@example.com"));
        assert_eq!(
            message.cseq(),
            Some(CSeq {
                seq: 4711,
                method: Method::Invite
            })
        );
        assert_eq!(message.from_tag(), Some("a1"));
        assert_eq!(message.to_tag(), None);
        assert_eq!(message.from_uri(), Some("sip:alice@example.com"));
        assert_eq!(message.to_uri(), Some("sip:bob@example.com"));
        assert_eq!(message.max_forwards(), Some(69));
    }

    #[test]
    fn vias_across_lines_and_commas() {
        let message = invite();
        let vias = message.vias();
        let branches: Vec<_> = vias.iter().filter_map(Via::branch).collect();
        assert_eq!(branches, vec!["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"]);
        assert_eq!(vias[1].host, "[2001:db8::9]");
        assert_eq!(vias[1].port, Some(5061));
        assert_eq!(vias[1].received(), Some("192.0.2.4"));
        assert_eq!(vias[1].rport(), Some(Some(5099)));
        assert_eq!(message.top_via().unwrap().branch(), Some("z9hG4bK1"));
    }

    #[test]
    fn request_uri_view() {
        let uri = invite().request_uri().unwrap();
        assert_eq!(uri.user(), Some("bob"));
        assert_eq!(uri.host(), "[2001:db8::10]");
        assert_eq!(uri.port(), Some(5070));
        assert_eq!(uri.param("transport"), Some(Some("udp")));
        assert!(!uri.has_lr());
    }

    #[test]
    fn routes_split_respecting_quotes() {
        let message = invite();
        assert_eq!(
            message.routes(),
            vec![
                "<sip:p2.example.com;lr>",
                "\"Proxy, Three\" <sip:p3.example.com;lr>",
                "<sip:p4.example.com;lr>"
            ]
        );
        assert_eq!(message.record_routes(), vec!["<sip:p1.example.com;lr>"]);
        let routes = message.routes();
        let first = super::super::uri_of_name_addr(&routes[1]).unwrap();
        assert!(SipUri::parse(first).unwrap().has_lr());
        assert_eq!(message.contacts(), vec!["<sip:alice@192.0.2.4>"]);
    }

    #[test]
    fn absent_fields_are_none() {
        let message = Message::parse_datagram(
            b"SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
        )
        .unwrap();
        assert_eq!(message.max_forwards(), None);
        assert_eq!(message.from_tag(), None);
        assert!(message.request_uri().is_none());
        assert!(message.routes().is_empty());
    }
}
