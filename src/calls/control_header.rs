//! `X-Greffier-Recording: pause|resume` in an INFO or re-INVITE: the tenant's PBX
//! pausing the recording while a caller reads out payment-card details.
//!
//! Only the PBX leg is obeyed (the caller leg of an outbound call, the callee leg of
//! an inbound one); the carrier, or anyone behind it, is never. The header never
//! travels past the gateway, and an INFO that carries nothing else (no body) stops
//! here with a 200.

use greffier_sip::message::{HeaderName, Message, Method};
use greffier_sip::proxy::{Direction, InDialogAction, Leg};

use super::directory::RecordingOrder;

pub(crate) const HEADER: &str = "X-Greffier-Recording";

pub(crate) fn header_name() -> HeaderName {
    HeaderName::Other(HEADER.to_string())
}

/// The leg the tenant's own PBX is on.
pub(crate) fn pbx_leg(direction: Direction) -> Leg {
    match direction {
        Direction::Outbound => Leg::Caller,
        Direction::Inbound => Leg::Callee,
    }
}

/// What a request asks of the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    /// No control header, or not on a method that may carry one.
    None,
    Order(RecordingOrder),
    /// The header with a value that is neither `pause` nor `resume`.
    Malformed,
}

pub(crate) fn control_of(request: &Message) -> Control {
    if !matches!(request.method(), Some(Method::Info | Method::Invite)) {
        return Control::None;
    }
    let Some(value) = request.headers.get(&header_name()) else {
        return Control::None;
    };
    match value.trim() {
        v if v.eq_ignore_ascii_case("pause") => Control::Order(RecordingOrder::Pause),
        v if v.eq_ignore_ascii_case("resume") => Control::Order(RecordingOrder::Resume),
        _ => Control::Malformed,
    }
}

/// What the proxy does with a request that carried the header: an INFO with
/// nothing else in it is answered here (`code`), anything else goes on without
/// the header.
pub(crate) fn disposal(request: &Message, code: u16) -> InDialogAction {
    let info_for_the_gateway = request.method() == Some(&Method::Info) && request.body.is_empty();
    if info_for_the_gateway {
        InDialogAction::Answer(code)
    } else {
        InDialogAction::ForwardWithout(header_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, header: Option<&str>, body: &str) -> Message {
        let header = header.map_or(String::new(), |value| format!("{HEADER}: {value}\r\n"));
        let text = format!(
            "{method} sip:pbx@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1\r\n\
             From: <sip:a@127.0.0.1>;tag=a\r\n\
             To: <sip:b@127.0.0.1>;tag=b\r\n\
             Call-ID: c\r\n\
             CSeq: 2 {method}\r\n\
             {header}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    #[test]
    fn info_and_invite_carry_orders_in_any_case() {
        assert_eq!(
            control_of(&request("INFO", Some("pause"), "")),
            Control::Order(RecordingOrder::Pause)
        );
        assert_eq!(
            control_of(&request("INVITE", Some(" Resume "), "")),
            Control::Order(RecordingOrder::Resume)
        );
        assert_eq!(
            control_of(&request("INFO", Some("stop"), "")),
            Control::Malformed
        );
        assert_eq!(control_of(&request("INFO", None, "")), Control::None);
        assert_eq!(
            control_of(&request("BYE", Some("pause"), "")),
            Control::None
        );
    }

    #[test]
    fn a_bare_info_stops_here_and_anything_else_goes_on_without_the_header() {
        assert_eq!(
            disposal(&request("INFO", Some("pause"), ""), 200),
            InDialogAction::Answer(200)
        );
        assert_eq!(
            disposal(&request("INFO", Some("pause"), "Signal=5\r\n"), 200),
            InDialogAction::ForwardWithout(header_name())
        );
        assert_eq!(
            disposal(&request("INVITE", Some("pause"), ""), 200),
            InDialogAction::ForwardWithout(header_name())
        );
    }

    #[test]
    fn the_pbx_is_the_caller_of_outbound_calls_and_the_callee_of_inbound_ones() {
        assert_eq!(pbx_leg(Direction::Outbound), Leg::Caller);
        assert_eq!(pbx_leg(Direction::Inbound), Leg::Callee);
    }
}
