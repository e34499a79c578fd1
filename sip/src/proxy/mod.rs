//! The stateful proxy core (RFC 3261 §16), sans-IO.
//!
//! Fed with messages (`handle_*`) and the time; it answers with datagrams and stream
//! writes to perform (`poll_transmit`), when to wake it (`poll_timeout`) and what
//! happened to calls (`ProxyPolicy::on_event`). One owner drives it; nothing inside
//! locks.
//!
//! Every request except ACK is handled statefully: a server transaction towards the
//! sender and, when forwarded, one client transaction towards the next hop (the
//! proxy never forks). Dialog-creating INVITEs are record-routed so the rest of the
//! dialog comes back through the gateway, and in-dialog requests are relayed only
//! for dialogs it knows, so it is never an open relay.

mod anchoring;
mod branch;
mod build;
mod dialog;
mod hangup;
mod hooks;
mod locality;
mod metrics_names;
mod rate_limit;
mod request;
mod response;
mod transactions;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use greffier_types::{Personal, TenantId};

pub use dialog::{DialogId, Leg};
pub use hooks::{
    Direction, ForwardTarget, InDialogAction, ProxyPolicy, Refusal, RouteDecision, SdpDecision,
    SdpKind, SdpRefusal,
};
pub use rate_limit::RateLimit;

use crate::message::{Message, ParseError};
use crate::transaction::Timers;
use crate::{Peer, Transport};
use branch::BranchMaker;
use dialog::Dialogs;
use locality::Locality;
use rate_limit::RateLimiter;
use transactions::Transactions;

/// Settings of the proxy core.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The addresses the gateway listens on; used in Via and Record-Route and to
    /// recognise its own URIs.
    pub listeners: Vec<(Transport, SocketAddr)>,
    pub rate_limit: RateLimit,
    pub timers: Timers,
    pub admission: Admission,
}

/// What the proxy does with requests from sources it does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownSource {
    /// One stateless `403 Forbidden` per request.
    #[default]
    Reject,
    /// No answer at all: the gateway stays silent to scanners.
    Drop,
}

/// Who may make the proxy keep state, and how much of it (docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub unknown_source: UnknownSource,
    /// Server and client transactions held at once. New requests stop at 90 % of
    /// it, so that BYE and the other requests of calls in progress still find room.
    pub max_transactions: usize,
    /// Dialogs (calls, early or confirmed) held at once.
    pub max_dialogs: usize,
}

impl Default for Admission {
    /// Room for the load harness: 3,000 calls per second, each holding about four
    /// transactions for 32 s (RFC 6026 Timer L/M, Timer J on UDP), and a few
    /// minutes of concurrent calls.
    fn default() -> Admission {
        Admission {
            unknown_source: UnknownSource::Reject,
            max_transactions: 500_000,
            max_dialogs: 100_000,
        }
    }
}

/// Bytes to send to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub peer: Peer,
    pub bytes: Bytes,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// A BYE from one side.
    Hangup(Leg),
    /// The caller cancelled before an answer.
    Cancelled,
    /// The callee side refused with this final status.
    Rejected(u16),
    /// No final response came from the next hop.
    Timeout,
    /// The gateway ended the call itself ([`Proxy::hang_up`]).
    Terminated,
}

/// What happened to calls the proxy carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyEvent {
    /// An INVITE opened a call and was forwarded.
    CallStarted {
        dialog: DialogId,
        tenant: TenantId,
        direction: Direction,
        /// Request-URI user of the incoming INVITE and From user, for the
        /// encrypted call record only.
        callee: Option<Personal<String>>,
        caller: Option<Personal<String>>,
        /// The SIP Call-ID, to be hashed before it is stored (it can carry addresses).
        call_id: Personal<String>,
    },
    /// The callee answered (2xx).
    CallAnswered {
        dialog: DialogId,
    },
    CallEnded {
        dialog: DialogId,
        reason: EndReason,
    },
}

/// The proxy core.
pub struct Proxy {
    config: ProxyConfig,
    locality: Locality,
    branches: BranchMaker,
    limiter: RateLimiter,
    dialogs: Dialogs,
    transactions: Transactions,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ProxyEvent>,
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> Proxy {
        Proxy {
            locality: Locality::new(config.listeners.clone()),
            branches: BranchMaker::new(),
            limiter: RateLimiter::new(config.rate_limit),
            dialogs: Dialogs::default(),
            transactions: Transactions::new(config.timers),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            config,
        }
    }

    /// Applies a new rate limit (configuration reload).
    pub fn set_rate_limit(&mut self, limit: RateLimit) {
        self.config.rate_limit = limit;
        self.limiter.set_limit(limit);
    }

    /// A datagram arrived (UDP): parse it and handle the message.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        peer: Peer,
        bytes: &[u8],
        policy: &mut dyn ProxyPolicy,
    ) {
        let parsed = Message::parse_datagram(bytes);
        self.handle_parsed(now, peer, parsed, policy);
    }

    /// A message was framed (or failed to be) on a stream or datagram.
    pub fn handle_parsed(
        &mut self,
        now: Instant,
        peer: Peer,
        parsed: Result<Message, ParseError>,
        policy: &mut dyn ProxyPolicy,
    ) {
        match parsed {
            Ok(message) => self.handle_message(now, peer, message, policy),
            Err(error) => self.reject_unparsable(peer, &error),
        }
    }

    pub fn handle_message(
        &mut self,
        now: Instant,
        peer: Peer,
        message: Message,
        policy: &mut dyn ProxyPolicy,
    ) {
        if message.is_request() {
            self.on_request(now, peer, message, policy);
        } else {
            self.on_response(now, peer, message, policy);
        }
        self.report(policy);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, policy: &mut dyn ProxyPolicy) {
        while let Some(key) = self.transactions.pop_due(now) {
            self.drive_transaction(now, key);
        }
        self.report(policy);
    }

    /// The shell could not deliver to `peer`: a stream connection was refused or
    /// failed, or an ICMP error came back for a datagram. Every client transaction
    /// towards that peer still waiting for its final response ends now (RFC 3261
    /// §17.1.1.2, §17.1.2.2), and the request's sender gets a 503 at once instead of
    /// waiting for Timer B or C (§16.7 step 6, §8.1.3.1).
    pub fn handle_transport_error(
        &mut self,
        now: Instant,
        peer: Peer,
        policy: &mut dyn ProxyPolicy,
    ) {
        metrics::counter!(
            metrics_names::TRANSPORT_ERRORS,
            "transport" => peer.transport.label()
        )
        .increment(1);
        for key in self.transactions.clients_towards(&peer) {
            self.fail_client(now, key);
        }
        self.report(policy);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transactions.next_deadline()
    }

    /// Calls the proxy carries right now (early or confirmed).
    pub fn dialog_count(&self) -> usize {
        self.dialogs.len()
    }

    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    fn reject_unparsable(&mut self, peer: Peer, error: &ParseError) {
        use crate::message::ParseErrorKind;
        if error.kind() == ParseErrorKind::KeepAlive {
            return;
        }
        metrics::counter!(metrics_names::REJECTS, "reason" => "parse_error").increment(1);
        tracing::debug!(peer = %peer.addr, %error, "unparsable SIP message");
        if let Some(reply) = error.reply() {
            self.transmit(peer, Bytes::from(reply));
        }
    }

    fn transmit(&mut self, peer: Peer, bytes: Bytes) {
        self.transmits.push_back(Transmit { peer, bytes });
    }

    /// Hands what happened to calls to the policy, and updates the gauges.
    fn report(&mut self, policy: &mut dyn ProxyPolicy) {
        while let Some(event) = self.events.pop_front() {
            policy.on_event(event);
        }
        self.publish_gauges();
    }

    fn publish_gauges(&self) {
        metrics::gauge!(metrics_names::TRANSACTIONS).set(self.transactions.len() as f64);
        metrics::gauge!(metrics_names::DIALOGS).set(self.dialogs.len() as f64);
    }
}
