//! What the proxy asks of the application: where a new request goes, and what to do
//! with session descriptions on their way through. The proxy core knows SIP; the
//! application (tenants, media anchoring) knows everything else.

use std::net::SocketAddr;

use crate::Peer;

use bytes::Bytes;

use greffier_types::{Personal, TenantId};

use super::{DialogId, Leg};
use crate::message::{HeaderName, Message};

/// Why a new dialog-initiating request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The source is no tenant's PBX or carrier, or the number is no tenant's: 403.
    UnknownSource,
    /// A carrier sent a call to a number that belongs to no tenant: 404.
    UnknownNumber,
    /// The application cannot take the call now (no media ports left, …): 503.
    Unavailable,
    /// The source belongs to a tenant the gateway no longer serves (its
    /// contract was terminated): 403.
    NotServed,
}

/// Where a new dialog-initiating request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    Forward(ForwardTarget),
    Refuse(Refusal),
}

/// The next hop of a new request and the Request-URI it carries there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    /// Tenant the dialog belongs to (an identifier, never personal data).
    pub tenant: TenantId,
    /// The Request-URI to put in the forwarded request: it names the callee.
    pub request_uri: Personal<String>,
    /// Where to send it.
    pub destination: SocketAddr,
    pub transport: crate::Transport,
    pub direction: Direction,
}

/// Which way a call goes, seen from the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the tenant's PBX to its carrier.
    Outbound,
    /// From a carrier to one of the tenant's numbers.
    Inbound,
}

/// One side of an SDP exchange on a dialog the proxy carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpKind {
    Offer,
    Answer,
}

/// What the proxy does with a session description on its way through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SdpDecision {
    /// Forward it as it came (the call's media is not anchored).
    #[default]
    Unchanged,
    /// Forward this session description instead (media anchoring). In a multipart
    /// body only the SDP part is replaced.
    Rewritten(Bytes),
    /// The session description must not travel on (it cannot be anchored for a call
    /// that must be recorded).
    Refuse(SdpRefusal),
}

/// How a refused session description is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpRefusal {
    /// `488 Not Acceptable Here` for a description the gateway cannot use, `503` when
    /// it has no media ports left.
    pub status: u16,
    /// Seconds for a `Retry-After` header (RFC 3261 §20.33), with a 503.
    pub retry_after: Option<u32>,
}

/// What the proxy does with an in-dialog request (other than ACK) it would relay.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InDialogAction {
    /// Relay it unchanged.
    #[default]
    Forward,
    /// Relay it without any header of this name: a header meant for the gateway
    /// itself (a control order) does not travel further.
    ForwardWithout(HeaderName),
    /// Answer it here with this final status, on a server transaction of its own,
    /// and relay nothing.
    Answer(u16),
}

/// The application side of the proxy.
pub trait ProxyPolicy {
    /// Whether `source` is a peer the application serves (a tenant's PBX or carrier).
    /// Requests from anyone else get one stateless `403`, or nothing with
    /// [`UnknownSource::Drop`](super::UnknownSource::Drop), and leave no state.
    fn is_known_source(&mut self, _source: Peer) -> bool {
        true
    }

    /// Decides where a new dialog-initiating (or out-of-dialog) request goes.
    fn route(&mut self, source: Peer, request: &Message) -> RouteDecision;

    /// Called with every session description that crosses a dialog the proxy carries
    /// (the SDP part only, for a multipart body); decides whether it goes on as it
    /// is, rewritten (media anchoring), or not at all. `from` is the leg that sent it,
    /// known by its source address: an SDP in a request from anyone but the dialog's
    /// legs never gets here. A multipart body whose SDP cannot be isolated is passed
    /// whole, so that the policy sees something it cannot parse rather than nothing.
    fn rewrite_sdp(
        &mut self,
        _dialog: DialogId,
        _from: Leg,
        _kind: SdpKind,
        _sdp: &Bytes,
    ) -> SdpDecision {
        SdpDecision::Unchanged
    }

    /// Called with every in-dialog request but ACK, before it is relayed; `from`
    /// is the leg that sent it, known by its source address (the request's tags
    /// name the same leg). Requests from anyone else are refused before this.
    fn on_in_dialog_request(
        &mut self,
        _dialog: DialogId,
        _from: Leg,
        _request: &Message,
    ) -> InDialogAction {
        InDialogAction::Forward
    }

    /// Something happened to a call: started, answered, ended.
    fn on_event(&mut self, _event: super::ProxyEvent) {}
}
