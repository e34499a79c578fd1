//! Messages the proxy writes itself: responses to requests it answers, and the
//! CANCEL and hop-by-hop ACK it sends downstream (RFC 3261 §9.1, §17.1.1.3).

use bytes::Bytes;

use crate::message::{HeaderName, Message, Method, RequestLine, StartLine, StatusLine};

/// The headers a response copies from its request (RFC 3261 §8.2.6.2).
const COPIED: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// The standard reason phrase of a status code the proxy sends itself.
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Keeps only what is needed to answer a request later, so a transaction that lives
/// for seconds does not hold the whole message.
pub(crate) fn response_skeleton(request: &Message) -> Message {
    Message {
        start: request.start.clone(),
        headers: request
            .headers
            .iter()
            .filter(|h| COPIED.iter().any(|name| h.name.matches(name)))
            .cloned()
            .collect(),
        body: Bytes::new(),
    }
}

/// What is needed to cancel or acknowledge a forwarded request later: its start
/// line and the headers a CANCEL or ACK copies.
pub(crate) fn forwarded_skeleton(request: &Message) -> Message {
    Message {
        start: request.start.clone(),
        headers: request
            .headers
            .iter()
            .filter(|h| {
                COPIED.iter().any(|name| h.name.matches(name)) || h.name == HeaderName::Route
            })
            .cloned()
            .collect(),
        body: Bytes::new(),
    }
}

/// A response to `request`. `to_tag` is added to To when it has none (every response
/// but 100 Trying establishes the proxy's side of the would-be dialog).
pub(crate) fn response(request: &Message, code: u16, to_tag: Option<&str>) -> Message {
    let mut headers = response_skeleton(request).headers;
    if let Some(tag) = to_tag {
        if let Some(to) = headers.first_mut(&HeaderName::To) {
            if !has_tag_param(&to.value) {
                to.value = format!("{};tag={tag}", to.value);
            }
        }
    }
    Message {
        start: StartLine::Response(StatusLine {
            code,
            reason: reason_phrase(code).to_string(),
        }),
        headers,
        body: Bytes::new(),
    }
}

/// A CANCEL for a request this proxy forwarded (§9.1): same Request-URI, top Via,
/// Call-ID, From, To, Route and CSeq number.
pub(crate) fn cancel_for(forwarded: &Message) -> Option<Message> {
    let to = forwarded.headers.get(&HeaderName::To)?;
    follow_up(forwarded, Method::Cancel, to)
}

/// The ACK for a non-2xx final response to a forwarded INVITE (§17.1.1.3): To comes
/// from the response (it carries the downstream tag).
pub(crate) fn ack_for(forwarded: &Message, response: &Message) -> Option<Message> {
    let to = response.headers.get(&HeaderName::To)?;
    follow_up(forwarded, Method::Ack, to)
}

/// A request that belongs to a forwarded request's transaction: its Request-URI,
/// top Via, Route set, From, Call-ID and CSeq number, with `method`.
fn follow_up(forwarded: &Message, method: Method, to: &str) -> Option<Message> {
    let uri = forwarded.request_line()?.uri.clone();
    let cseq = forwarded.cseq()?;
    let mut headers = crate::message::Headers::new();
    headers.push(
        HeaderName::Via,
        forwarded.headers.first_value(&HeaderName::Via)?,
    );
    copy_routing_headers(forwarded, &mut headers);
    headers.push(HeaderName::To, to);
    headers.push(
        HeaderName::CSeq,
        format!("{} {}", cseq.seq, method.as_str()),
    );
    headers.push(HeaderName::MaxForwards, "70");
    Some(Message {
        start: StartLine::Request(RequestLine { method, uri }),
        headers,
        body: Bytes::new(),
    })
}

fn copy_routing_headers(forwarded: &Message, headers: &mut crate::message::Headers) {
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(value) = forwarded.headers.get(&name) {
            headers.push(name, value);
        }
    }
    for route in forwarded.headers.get_all(&HeaderName::Route) {
        headers.push(HeaderName::Route, route);
    }
}

fn has_tag_param(value: &str) -> bool {
    // Parameters after the closing `>` (or after the addr-spec) belong to the header.
    let params = value.rfind('>').map_or(value, |at| &value[at..]);
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Message {
        let text = "INVITE sip:+33100000000@127.0.0.1:5070 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKgrf1\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-up\r\n\
            Route: <sip:127.0.0.1:5070;lr>\r\n\
            From: <sip:a@127.0.0.1>;tag=abc\r\n\
            To: <sip:b@127.0.0.1>\r\n\
            Call-ID: c1\r\n\
            CSeq: 7 INVITE\r\n\
            Max-Forwards: 69\r\n\
            Content-Length: 0\r\n\r\n";
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    #[test]
    fn response_copies_headers_and_tags_to() {
        let reply = response(&invite(), 403, Some("t1"));
        assert_eq!(reply.status_code(), Some(403));
        assert_eq!(reply.headers.count(&HeaderName::Via), 2);
        assert_eq!(
            reply.headers.get(&HeaderName::To),
            Some("<sip:b@127.0.0.1>;tag=t1")
        );
        assert!(reply.headers.get(&HeaderName::Route).is_none());
    }

    #[test]
    fn cancel_keeps_branch_and_routes() {
        let cancel = cancel_for(&invite()).unwrap();
        let bytes = cancel.to_bytes();
        let parsed = Message::parse_datagram(&bytes).unwrap();
        assert_eq!(parsed.method(), Some(&Method::Cancel));
        assert_eq!(parsed.headers.count(&HeaderName::Via), 1);
        assert_eq!(parsed.top_via().unwrap().branch(), Some("z9hG4bKgrf1"));
        assert_eq!(parsed.cseq().unwrap().seq, 7);
        assert_eq!(parsed.headers.count(&HeaderName::Route), 1);
    }

    #[test]
    fn cancel_carries_only_the_top_via_value_of_a_combined_line() {
        let mut combined = invite();
        let vias: Vec<String> = combined
            .headers
            .values(&HeaderName::Via)
            .map(str::to_string)
            .collect();
        combined.headers.remove_all(&HeaderName::Via);
        combined.headers.prepend(HeaderName::Via, vias.join(", "));
        let cancel = cancel_for(&combined).unwrap();
        assert_eq!(
            cancel.headers.get_all(&HeaderName::Via).collect::<Vec<_>>(),
            ["SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKgrf1"]
        );
    }

    #[test]
    fn ack_takes_to_from_response() {
        let reply = response(&invite(), 486, Some("down"));
        let ack = ack_for(&invite(), &reply).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert!(ack
            .headers
            .get(&HeaderName::To)
            .unwrap()
            .ends_with("tag=down"));
    }
}
