//! Metric names of the proxy core (Prometheus). Labels never carry personal data:
//! methods are bounded to the known ones, codes are numbers, reasons a fixed list.

pub(crate) const REQUESTS: &str = "greffier_sip_requests_received_total";
pub(crate) const RESPONSES_RECEIVED: &str = "greffier_sip_responses_received_total";
pub(crate) const RESPONSES_SENT: &str = "greffier_sip_responses_sent_total";
pub(crate) const REJECTS: &str = "greffier_sip_rejects_total";
pub(crate) const TRANSACTIONS: &str = "greffier_sip_transactions";
pub(crate) const DIALOGS: &str = "greffier_sip_dialogs";
pub(crate) const CALLS: &str = "greffier_sip_calls_total";
/// Deliveries the transport reported as failed (refused connection, ICMP error).
pub(crate) const TRANSPORT_ERRORS: &str = "greffier_sip_transport_errors_total";

/// A bounded label for a method: extension methods are not distinguished.
pub(crate) fn method_label(method: &crate::message::Method) -> &'static str {
    use crate::message::Method::*;
    match method {
        Invite => "INVITE",
        Ack => "ACK",
        Bye => "BYE",
        Cancel => "CANCEL",
        Options => "OPTIONS",
        Register => "REGISTER",
        Prack => "PRACK",
        Update => "UPDATE",
        Info => "INFO",
        Subscribe => "SUBSCRIBE",
        Notify => "NOTIFY",
        Refer => "REFER",
        Message => "MESSAGE",
        Publish => "PUBLISH",
        Extension(_) => "other",
    }
}
