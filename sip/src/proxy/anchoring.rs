//! The session description of a message on its way through a dialog, handed to the
//! policy: found in the body (whole, or one part of a multipart body), and put back
//! rewritten, or refused.

use bytes::Bytes;

use super::dialog::{DialogId, Leg};
use super::hooks::{ProxyPolicy, SdpDecision, SdpKind, SdpRefusal};
use crate::message::{HeaderName, Message, Method};
use crate::sdp::{splice, SdpLocation};

/// What becomes of a message's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BodyAction {
    Keep,
    Replace(Bytes),
    Refuse(SdpRefusal),
}

/// Where the session description of `message` is, if it has one.
pub(super) fn sdp_location(message: &Message) -> SdpLocation {
    SdpLocation::find(message.headers.get(&HeaderName::ContentType), &message.body)
}

/// Asks the policy about the session description of `message`, sent by `from`.
pub(super) fn anchor_body(
    policy: &mut dyn ProxyPolicy,
    dialog: DialogId,
    from: Leg,
    kind: SdpKind,
    message: &Message,
) -> BodyAction {
    let (sdp, range) = match sdp_location(message) {
        SdpLocation::Absent => return BodyAction::Keep,
        SdpLocation::At(range) => (message.body.slice(range.clone()), Some(range)),
        SdpLocation::Unreadable => (message.body.clone(), None),
    };
    match (policy.rewrite_sdp(dialog, from, kind, &sdp), range) {
        (SdpDecision::Unchanged, _) => BodyAction::Keep,
        (SdpDecision::Rewritten(rewritten), Some(range)) => {
            BodyAction::Replace(splice(&message.body, &range, &rewritten))
        }
        // A rewrite of a body whose SDP could not be isolated has nowhere to go; the
        // original must not travel either.
        (SdpDecision::Rewritten(_), None) => BodyAction::Refuse(SdpRefusal {
            status: 488,
            retry_after: None,
        }),
        (SdpDecision::Refuse(refusal), _) => BodyAction::Refuse(refusal),
    }
}

/// Anchors the session description of a request the proxy is about to forward
/// within a dialog: its body is replaced by the rewritten one, or the refusal says
/// how to answer it instead. Requests outside a dialog are left alone.
pub(super) fn anchor_request(
    policy: &mut dyn ProxyPolicy,
    request: &mut Message,
    dialog: Option<DialogId>,
    from: Option<Leg>,
) -> Result<(), SdpRefusal> {
    let (Some(dialog), Some(from)) = (dialog, from) else {
        return Ok(());
    };
    // RFC 3264 §4 / RFC 3262: an ACK or PRACK carries the answer to an offer made in
    // a reliable response; any other request carries an offer.
    let kind = match request.method() {
        Some(Method::Ack | Method::Prack) => SdpKind::Answer,
        _ => SdpKind::Offer,
    };
    match anchor_body(policy, dialog, from, kind, request) {
        BodyAction::Keep => Ok(()),
        BodyAction::Replace(body) => {
            request.body = body;
            Ok(())
        }
        BodyAction::Refuse(refusal) => Err(refusal),
    }
}

/// The `Retry-After` header of a refusal, when it has one.
pub(super) fn refusal_headers(refusal: &SdpRefusal) -> Option<(HeaderName, String)> {
    refusal
        .retry_after
        .map(|seconds| (HeaderName::RetryAfter, seconds.to_string()))
}

/// The label a refusal is counted under in the proxy's reject metric.
pub(super) fn refusal_label(refusal: &SdpRefusal) -> &'static str {
    match refusal.status {
        503 => "sdp_no_media_ports",
        _ => "sdp_not_anchorable",
    }
}
