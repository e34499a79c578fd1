//! Requests arriving at the proxy: retransmissions, ACK, CANCEL, checks (§16.3),
//! route processing (§16.4), routing decision and forwarding (§16.6).

use std::time::Instant;

use bytes::Bytes;
use greffier_types::{PerLeg, Personal};

use super::anchoring::{self, anchor_request};
use super::branch::{is_rfc3261, BranchInputs};
use super::build;
use super::dialog::{same_endpoint, Dialog, DialogEnd, DialogEnds, DialogId, Leg};
use super::hooks::{InDialogAction, ProxyPolicy, Refusal, RouteDecision, SdpRefusal};
use super::metrics_names::{self, method_label};
use super::transactions::{ClientMachine, ClientTx, ServerMachine, ServerTx, Transactions, TxKey};
use super::{EndReason, Proxy, ProxyEvent, UnknownSource};
use crate::message::{uri_of_name_addr, HeaderName, Message, Method, SipUri};
use crate::transaction::{
    AckDisposition, InviteClientTransaction, InviteServerTransaction, NonInviteClientTransaction,
    NonInviteServerTransaction,
};
use crate::Peer;

const DEFAULT_MAX_FORWARDS: u32 = 70;
/// Seconds a client is asked to wait when the transaction or dialog table is full.
const OVERLOAD_RETRY_AFTER: &str = "5";
/// What the gateway says it supports, in answers to `OPTIONS`.
const ALLOW: &str =
    "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY, MESSAGE";
/// How long a forwarded INVITE may ring without a final response before the proxy
/// cancels it (§16.6 step 11: more than three minutes).
const TIMER_C: std::time::Duration = std::time::Duration::from_secs(181);

/// Where a request goes next and on whose behalf.
pub(super) struct Hop {
    pub peer: Peer,
    /// A new Request-URI (routing by tenant), or `None` to keep it.
    pub request_uri: Option<String>,
    pub dialog: Option<DialogId>,
    pub from_leg: Option<Leg>,
    /// The request opens `dialog` (the initial INVITE): it is record-routed.
    pub record_route: bool,
}

/// An in-dialog request from one of its dialog's legs, as its tags say: it goes
/// to the other leg.
struct Relay {
    dialog: DialogId,
    from_leg: Leg,
    next: Peer,
}

/// Why an in-dialog request is not relayed.
enum NotRelayed {
    /// No dialog the proxy carries has these tags (or the request was not routed
    /// through the proxy).
    NoDialog,
    /// A dialog's tags, from a source that is not the leg they name.
    ForeignSource,
}

/// The server transaction key of a request (§17.2.3); ACK matches its INVITE.
pub(super) fn server_key(request: &Message, method: &Method) -> Option<String> {
    let via = request.top_via()?;
    let method = match method {
        Method::Ack => "INVITE",
        other => other.as_str(),
    };
    match via.branch() {
        Some(branch) if is_rfc3261(branch) => Some(format!("{branch}|{}|{method}", via.sent_by())),
        // RFC 2543 peers (RFC 4475 inv2543): match on the request's identity instead.
        _ => {
            let cseq = request.cseq()?;
            Some(format!(
                "2543|{}|{}|{}|{}|{method}",
                request.call_id()?,
                request.from_tag().unwrap_or_default(),
                cseq.seq,
                via.sent_by()
            ))
        }
    }
}

/// The key a refused CANCEL is kept under: its own, so that the INVITE's sender
/// cancelling later (same branch and sent-by, which a copied CANCEL shares) is not
/// taken for a retransmission of the refused one.
fn foreign_key(key: &str, source: &Peer) -> String {
    format!("{key}|from {}/{}", source.transport, source.addr)
}

pub(super) fn client_key(branch: &str, method: &Method) -> String {
    format!("{branch}|{}", method.as_str())
}

/// Whether the body carries a session description, alone or in a multipart body.
pub(super) fn is_sdp(message: &Message) -> bool {
    anchoring::sdp_location(message) != crate::sdp::SdpLocation::Absent
}

pub(super) fn new_tag() -> String {
    format!("grf{:016x}", rand::random::<u64>())
}

impl Proxy {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        peer: Peer,
        request: Message,
        policy: &mut dyn ProxyPolicy,
    ) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        metrics::counter!(metrics_names::REQUESTS, "method" => method_label(&method)).increment(1);
        let Some(key) = server_key(&request, &method) else {
            return;
        };
        // Before anything else: a stranger never makes the proxy keep state.
        if !policy.is_known_source(peer) {
            return self.refuse_unknown_source(now, peer, &request, key, &method);
        }
        if method == Method::Ack {
            return self.on_ack(now, peer, request, &key, policy);
        }
        if let Some(server) = self.transactions.servers.get_mut(&key) {
            match &mut server.machine {
                ServerMachine::Invite(tx) => tx.handle_request_retransmission(now),
                ServerMachine::NonInvite(tx) => tx.handle_request_retransmission(now),
            }
            self.flush(now, &TxKey::Server(key));
            return;
        }
        if method == Method::Cancel {
            return self.on_cancel(now, peer, request, key);
        }
        if request.max_forwards() == Some(0) {
            if method == Method::Options && self.addresses_proxy(&request) {
                return self.answer_keep_alive(now, peer, &request, key);
            }
            self.reject(now, peer, &request, key, 483, "too_many_hops", &[]);
            return;
        }
        if self.is_looping(&request) {
            self.reject(now, peer, &request, key, 482, "loop", &[]);
            return;
        }
        let (request, routed_here) = self.pop_own_routes(request);
        if request.to_tag().is_some() {
            self.forward_in_dialog(now, peer, request, key, routed_here, policy);
        } else {
            self.route_new(now, peer, request, key, policy);
        }
    }

    /// Out-of-dialog requests: keep-alives to the gateway, rate limit, tenant routing.
    fn route_new(
        &mut self,
        now: Instant,
        peer: Peer,
        request: Message,
        key: String,
        policy: &mut dyn ProxyPolicy,
    ) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        if method == Method::Options && self.addresses_proxy(&request) {
            return self.answer_keep_alive(now, peer, &request, key);
        }
        if !self.admit_rate(now, peer, &request, &key) {
            return;
        }
        let target = match policy.route(peer, &request) {
            RouteDecision::Forward(target) => target,
            RouteDecision::Refuse(refusal) => {
                let (code, reason) = match refusal {
                    Refusal::UnknownSource => {
                        return self.refuse_unknown_source(now, peer, &request, key, &method);
                    }
                    Refusal::UnknownNumber => (404, "unknown_number"),
                    Refusal::Unavailable => (503, "unavailable"),
                    Refusal::NotServed => (403, "not_served"),
                };
                self.reject(now, peer, &request, key, code, reason, &[]);
                return;
            }
        };
        if self.refuse_past_capacity(now, peer, &request, &key, true) {
            return;
        }
        let callee_peer = Peer::new(target.transport, target.destination);
        let mut hop = Hop {
            peer: callee_peer,
            request_uri: Some(target.request_uri.expose().clone()),
            dialog: None,
            from_leg: None,
            record_route: false,
        };
        if method == Method::Invite {
            let Some(call_id) = request.call_id() else {
                return;
            };
            // An RFC 2543 caller (RFC 4475 inv2543) sends no From tag: its dialog is
            // known by the Call-ID alone, as its later requests are.
            let caller_tag = request.from_tag().unwrap_or_default();
            if self.dialogs.opened_by(call_id, caller_tag).is_some() {
                // Another INVITE of a dialog in progress, not a retransmission (its
                // transaction would have matched): a merged request (RFC 3261
                // §8.2.2.2). It must not replace the dialog, which would then never end.
                self.reject(now, peer, &request, key, 482, "merged_request", &[]);
                return;
            }
            let id = self.dialogs.next_id();
            self.dialogs.insert(Dialog {
                id,
                caller_tag: caller_tag.to_string(),
                callee_tag: None,
                early_tags: Vec::new(),
                caller: peer,
                callee: callee_peer,
                callee_sources: Vec::new(),
                confirmed: false,
                awaiting_ack: false,
                ends: DialogEnds {
                    call_id: call_id.to_string(),
                    sides: PerLeg {
                        caller: DialogEnd {
                            uri: request
                                .headers
                                .get(&HeaderName::From)
                                .unwrap_or_default()
                                .to_string(),
                            target: request
                                .contacts()
                                .first()
                                .and_then(|contact| uri_of_name_addr(contact))
                                .map(str::to_string),
                            route: Vec::new(),
                            cseq: request.cseq().map_or(0, |cseq| cseq.seq),
                        },
                        callee: DialogEnd::default(),
                    },
                },
            });
            metrics::counter!(metrics_names::CALLS).increment(1);
            // Delivered at once: the policy must know the call before its first SDP.
            policy.on_event(ProxyEvent::CallStarted {
                call_id: Personal::new(call_id.to_string()),
                dialog: id,
                tenant: target.tenant,
                direction: target.direction,
                callee: request
                    .request_uri()
                    .and_then(|uri| uri.user().map(str::to_string))
                    .map(Personal::new),
                caller: request
                    .headers
                    .get(&HeaderName::From)
                    .and_then(uri_of_name_addr)
                    .and_then(SipUri::parse)
                    .and_then(|uri| uri.user().map(str::to_string))
                    .map(Personal::new),
            });
            hop.dialog = Some(id);
            hop.from_leg = Some(Leg::Caller);
            hop.record_route = true;
        }
        self.forward(now, peer, request, key, hop, policy);
    }

    /// In-dialog requests go only where a dialog the proxy record-routed says.
    fn forward_in_dialog(
        &mut self,
        now: Instant,
        peer: Peer,
        mut request: Message,
        key: String,
        routed_here: bool,
        policy: &mut dyn ProxyPolicy,
    ) {
        let Relay {
            dialog: dialog_id,
            from_leg,
            next,
        } = match self.in_dialog_hop(&peer, &request, routed_here) {
            Ok(relay) => relay,
            Err(NotRelayed::NoDialog) => {
                self.reject(now, peer, &request, key, 481, "no_dialog", &[]);
                return;
            }
            Err(NotRelayed::ForeignSource) => {
                self.reject(now, peer, &request, key, 403, "foreign_source", &[]);
                return;
            }
        };
        if let (Some(dialog), Some(cseq)) = (self.dialogs.get_mut(dialog_id), request.cseq()) {
            dialog.saw_cseq(from_leg, cseq.seq);
        }
        match policy.on_in_dialog_request(dialog_id, from_leg, &request) {
            InDialogAction::Forward => {}
            InDialogAction::ForwardWithout(name) => request.headers.remove_all(&name),
            InDialogAction::Answer(code) => {
                return self.respond(now, peer, &request, key, code, &[]);
            }
        }
        let hop = Hop {
            peer: next,
            request_uri: None,
            dialog: Some(dialog_id),
            from_leg: Some(from_leg),
            record_route: false,
        };
        self.forward(now, peer, request, key, hop, policy);
    }

    /// The dialog an in-dialog request belongs to, the leg that sent it, and where it
    /// goes next: the other leg's address as the proxy learned it, whatever Route or
    /// Request-URI the request carries (those go on unchanged, to be read by the
    /// leg, never by the proxy). The sending leg is the source; the tags must name
    /// that same leg, and an early dialog's callee tag must be one the proxy relayed.
    fn in_dialog_hop(
        &mut self,
        source: &Peer,
        request: &Message,
        routed_here: bool,
    ) -> Result<Relay, NotRelayed> {
        let (Some(call_id), Some(to_tag)) = (request.call_id(), request.to_tag()) else {
            return Err(NotRelayed::NoDialog);
        };
        if !routed_here {
            return Err(NotRelayed::NoDialog);
        }
        let from_tag = request.from_tag().unwrap_or_default();
        let Some(tagged) = self.dialogs.find_tagged(call_id, from_tag, to_tag, source) else {
            return Err(NotRelayed::NoDialog);
        };
        if !tagged.from_that_leg {
            return Err(NotRelayed::ForeignSource);
        }
        let (dialog, from_leg) = (tagged.dialog.id, tagged.leg);
        let next = tagged.dialog.peer(from_leg.other());
        if tagged.dialog.moved_connection(from_leg, source) {
            if let Some(state) = self.dialogs.get_mut(dialog) {
                state.caller = *source;
            }
        }
        Ok(Relay {
            dialog,
            from_leg,
            next,
        })
    }

    /// Forwards a request statefully along `hop` (§16.6).
    pub(super) fn forward(
        &mut self,
        now: Instant,
        peer: Peer,
        mut request: Message,
        key: String,
        hop: Hop,
        policy: &mut dyn ProxyPolicy,
    ) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        if self.refuse_past_capacity(now, peer, &request, &key, false) {
            return;
        }
        let skeleton = build::response_skeleton(&request);
        let offer_in_request = is_sdp(&request);
        if let Err(refusal) = anchor_request(policy, &mut request, hop.dialog, hop.from_leg) {
            return self.refuse_sdp(now, peer, &skeleton, key, &hop, refusal);
        }
        let Some((branch, outgoing)) = self.prepare_forward(request, &peer, &hop) else {
            self.reject(now, peer, &skeleton, key, 400, "bad_request", &[]);
            self.end_unforwarded_call(&hop, 400);
            return;
        };
        let is_invite = method == Method::Invite;
        let server_machine = if is_invite {
            ServerMachine::Invite(InviteServerTransaction::new(
                Transactions::reliability(&peer),
                self.transactions.timers(),
            ))
        } else {
            ServerMachine::NonInvite(NonInviteServerTransaction::new(
                Transactions::reliability(&peer),
                self.transactions.timers(),
            ))
        };
        let ckey = client_key(&branch, &method);
        self.transactions.servers.insert(
            key.clone(),
            ServerTx {
                machine: server_machine,
                peer,
                request: skeleton,
                client: Some(ckey.clone()),
                dialog: hop.dialog,
                from_leg: hop.from_leg,
                opens_dialog: hop.record_route,
                final_sent: false,
                offer_in_request,
            },
        );
        if is_invite {
            let trying = build::response(&self.transactions.servers[&key].request, 100, None);
            self.send_on_server(now, &key, &trying);
        }
        let bytes = Bytes::from(outgoing.to_bytes());
        let reliability = Transactions::reliability(&hop.peer);
        let timers = self.transactions.timers();
        let machine = if is_invite {
            ClientMachine::Invite(InviteClientTransaction::new(
                now,
                reliability,
                timers,
                bytes,
            ))
        } else {
            ClientMachine::NonInvite(NonInviteClientTransaction::new(
                now,
                reliability,
                timers,
                bytes,
            ))
        };
        self.transactions.clients.insert(
            ckey.clone(),
            ClientTx {
                machine,
                peer: hop.peer,
                forwarded: build::forwarded_skeleton(&outgoing),
                method,
                server: Some(key),
                dialog: hop.dialog,
                cancel_sent: false,
            },
        );
        if is_invite {
            let timer_c = now + TIMER_C;
            self.transactions.schedule_timer_c(ckey.clone(), timer_c);
        }
        self.flush(now, &TxKey::Client(ckey));
    }

    /// Builds the request to send: new Request-URI, Max-Forwards, Record-Route, Via,
    /// anchored SDP. Returns the branch and the message.
    fn prepare_forward(
        &self,
        mut request: Message,
        from: &Peer,
        hop: &Hop,
    ) -> Option<(String, Message)> {
        let branch = {
            let upstream = request.top_via()?;
            let cseq = request.cseq()?;
            self.branches.make(&BranchInputs {
                upstream_branch: upstream.branch().unwrap_or_default(),
                request_uri: &request.request_line()?.uri,
                call_id: request.call_id()?,
                from_tag: request.from_tag().unwrap_or_default(),
                to_tag: request.to_tag().unwrap_or_default(),
                cseq: cseq.seq,
            })
        };
        if let (Some(uri), crate::message::StartLine::Request(line)) =
            (&hop.request_uri, &mut request.start)
        {
            line.uri = uri.clone();
        }
        let max_forwards = request
            .max_forwards()
            .map_or(DEFAULT_MAX_FORWARDS, |mf| mf.saturating_sub(1));
        request
            .headers
            .set(HeaderName::MaxForwards, max_forwards.to_string());
        if hop.record_route {
            let inbound = self.locality.record_route(from.transport, from.addr);
            request
                .headers
                .prepend(HeaderName::RecordRoute, inbound.clone());
            let outbound = self
                .locality
                .record_route(hop.peer.transport, hop.peer.addr);
            if outbound != inbound {
                request.headers.prepend(HeaderName::RecordRoute, outbound);
            }
        }
        let via_addr = self.locality.advertised(hop.peer.transport, hop.peer.addr);
        request.headers.prepend(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {via_addr};branch={branch}",
                hop.peer.transport.via_token()
            ),
        );
        Some((branch, request))
    }

    /// A request whose session description cannot be anchored is answered here and
    /// never forwarded (the original SDP would let media bypass the gateway). A new
    /// call refused this way ends at once; a refused re-offer leaves the dialog and
    /// its current media as they were (RFC 3261 §14.2, RFC 3264 §8: a failed
    /// re-INVITE changes nothing).
    fn refuse_sdp(
        &mut self,
        now: Instant,
        peer: Peer,
        request: &Message,
        key: String,
        hop: &Hop,
        refusal: SdpRefusal,
    ) {
        let retry_after = anchoring::refusal_headers(&refusal);
        let extra: Vec<(HeaderName, &str)> = retry_after
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str()))
            .collect();
        let label = anchoring::refusal_label(&refusal);
        self.reject(now, peer, request, key, refusal.status, label, &extra);
        self.end_unforwarded_call(hop, refusal.status);
    }

    /// A new call answered here instead of forwarded ends at once (its media side,
    /// told of it when it started, releases what it took); an in-dialog request
    /// answered here leaves its dialog alone.
    fn end_unforwarded_call(&mut self, hop: &Hop, status: u16) {
        if let (true, Some(dialog)) = (hop.record_route, hop.dialog) {
            self.end_call(dialog, EndReason::Rejected(status));
        }
    }

    /// ACK: absorbed by the INVITE transaction it acknowledges (non-2xx), otherwise
    /// an end-to-end ACK for a 2xx, forwarded statelessly inside its dialog.
    fn on_ack(
        &mut self,
        now: Instant,
        sender: Peer,
        ack: Message,
        invite_key: &str,
        policy: &mut dyn ProxyPolicy,
    ) {
        if let Some(server) = self.transactions.servers.get_mut(invite_key) {
            if let ServerMachine::Invite(tx) = &mut server.machine {
                if tx.handle_ack(now) == AckDisposition::Absorbed {
                    self.flush(now, &TxKey::Server(invite_key.to_string()));
                    return;
                }
            }
        }
        let (ack, routed_here) = self.pop_own_routes(ack);
        let Relay {
            dialog,
            from_leg,
            next,
        } = match self.in_dialog_hop(&sender, &ack, routed_here) {
            Ok(relay) => relay,
            Err(refused) => {
                let reason = match refused {
                    NotRelayed::NoDialog => "stray_ack",
                    NotRelayed::ForeignSource => "foreign_source",
                };
                metrics::counter!(metrics_names::REJECTS, "reason" => reason).increment(1);
                return;
            }
        };
        if from_leg == Leg::Caller {
            self.acknowledged(dialog);
        }
        let hop = Hop {
            peer: next,
            request_uri: None,
            dialog: Some(dialog),
            from_leg: Some(from_leg),
            record_route: false,
        };
        let mut ack = ack;
        // An ACK cannot be refused: its transaction is the INVITE's, answered already.
        // An answer in it that cannot be anchored must still not reach the other side,
        // so the ACK goes on without it (completing the callee's INVITE transaction,
        // RFC 3261 §13.3.1.4) and the call is ended: a session whose answer never
        // arrived must not go on (RFC 3264 §4 leaves it without media).
        let refused = anchor_request(policy, &mut ack, hop.dialog, hop.from_leg).is_err();
        if refused {
            ack.body = Bytes::new();
            ack.headers.remove_all(&HeaderName::ContentType);
        }
        if let Some((_, outgoing)) = self.prepare_forward(ack, &sender, &hop) {
            self.transmit(hop.peer, Bytes::from(outgoing.to_bytes()));
        }
        if refused {
            metrics::counter!(metrics_names::REJECTS, "reason" => "sdp_not_anchorable")
                .increment(1);
            self.hang_up(now, dialog, policy);
        }
    }

    /// CANCEL (§16.10): answered here, and sent on to the pending INVITE's next hop.
    fn on_cancel(&mut self, now: Instant, peer: Peer, cancel: Message, key: String) {
        let Some(invite_key) = key
            .strip_suffix("|CANCEL")
            .map(|stem| format!("{stem}|INVITE"))
        else {
            return;
        };
        let pending = self
            .transactions
            .servers
            .get(&invite_key)
            .filter(|server| matches!(server.machine, ServerMachine::Invite(_)))
            .map(|server| (server.final_sent, server.client.clone(), server.peer));
        let Some((final_sent, client, invite_source)) = pending else {
            self.reject(now, peer, &cancel, key, 481, "no_transaction", &[]);
            return;
        };
        // Only the sender of the INVITE may cancel it (§9.1: the CANCEL goes where
        // the INVITE went, from the same client).
        if !same_endpoint(&invite_source, &peer) {
            let key = foreign_key(&key, &peer);
            self.reject(now, peer, &cancel, key, 403, "foreign_source", &[]);
            return;
        }
        self.respond(now, peer, &cancel, key, 200, &[]);
        if let (false, Some(client)) = (final_sent, client) {
            self.cancel_downstream(now, &client);
        }
    }

    /// Sends a CANCEL for a forwarded INVITE that has no final response yet.
    pub(super) fn cancel_downstream(&mut self, now: Instant, invite_client: &str) {
        let Some(invite) = self.transactions.clients.get_mut(invite_client) else {
            return;
        };
        if invite.cancel_sent {
            return;
        }
        invite.cancel_sent = true;
        if let ClientMachine::Invite(tx) = &mut invite.machine {
            tx.handle_cancel_sent(now);
        }
        let next = invite.peer;
        let cancel = build::cancel_for(&invite.forwarded);
        // The INVITE now ends at 64·T1 without a final response (§9.1): index that
        // deadline, or a callee that never answers keeps the call forever.
        self.flush(now, &TxKey::Client(invite_client.to_string()));
        if let Some(cancel) = cancel {
            self.send_own_request(now, next, cancel);
        }
    }

    /// `OPTIONS` to the gateway itself (a trunk keep-alive): `200` with what the
    /// gateway supports, without a transaction, once the source passed the rate limit.
    fn answer_keep_alive(&mut self, now: Instant, peer: Peer, request: &Message, key: String) {
        if !self.admit_rate(now, peer, request, &key) {
            return;
        }
        self.respond_statelessly(
            peer,
            request,
            &key,
            200,
            &[
                (HeaderName::Allow, ALLOW),
                (HeaderName::Other("Accept".into()), "application/sdp"),
            ],
        );
    }

    /// The per-source rate limit, before anything is answered or kept: past it, one
    /// stateless `503` with `Retry-After`.
    fn admit_rate(&mut self, now: Instant, peer: Peer, request: &Message, key: &str) -> bool {
        let Err(retry) = self.limiter.admit(now, peer.addr.ip()) else {
            return true;
        };
        self.refuse_for_now(
            now,
            peer,
            request,
            key,
            "rate_limited",
            &retry.0.to_string(),
        );
        false
    }

    /// `503 Service Unavailable` with `Retry-After` (seconds), statelessly.
    fn refuse_for_now(
        &mut self,
        now: Instant,
        peer: Peer,
        request: &Message,
        key: &str,
        reason: &'static str,
        retry_after: &str,
    ) {
        self.reject(
            now,
            peer,
            request,
            key.to_string(),
            503,
            reason,
            &[(HeaderName::RetryAfter, retry_after)],
        );
    }

    /// A request from a source no tenant owns: one stateless `403`, or nothing with
    /// `UnknownSource::Drop`; an ACK never gets an answer.
    fn refuse_unknown_source(
        &mut self,
        now: Instant,
        peer: Peer,
        request: &Message,
        key: String,
        method: &Method,
    ) {
        if *method == Method::Ack {
            // Most likely the ACK to an earlier stateless 403.
            metrics::counter!(metrics_names::REJECTS, "reason" => "stray_ack").increment(1);
            return;
        }
        if self.config.admission.unknown_source == UnknownSource::Drop {
            metrics::counter!(metrics_names::REJECTS, "reason" => "unknown_source").increment(1);
            return;
        }
        self.reject(now, peer, request, key, 403, "unknown_source", &[]);
    }

    /// Answers `503` with `Retry-After` when taking the request would go past the
    /// configured caps; returns whether it did.
    fn refuse_past_capacity(
        &mut self,
        now: Instant,
        peer: Peer,
        request: &Message,
        key: &str,
        new_request: bool,
    ) -> bool {
        let Some(method) = request.method() else {
            return false;
        };
        let Some(reason) = self.over_capacity(method, new_request) else {
            return false;
        };
        self.refuse_for_now(now, peer, request, key, reason, OVERLOAD_RETRY_AFTER);
        true
    }

    /// Whether taking a request would go past the configured caps, and which one.
    /// New requests stop short of the transaction cap so that the requests of calls
    /// in progress (BYE above all, which frees everything a call holds) still fit.
    fn over_capacity(&self, method: &Method, new_request: bool) -> Option<&'static str> {
        let admission = &self.config.admission;
        let ceiling = if new_request {
            admission.max_transactions - admission.max_transactions / 10
        } else {
            admission.max_transactions
        };
        // A forwarded request holds two: towards the sender and towards the next hop.
        if self.transactions.len() + 2 > ceiling {
            return Some("transaction_limit");
        }
        if new_request && *method == Method::Invite && self.dialogs.len() >= admission.max_dialogs {
            return Some("dialog_limit");
        }
        None
    }

    /// Refuses a request with a final status, statelessly (RFC 3261 §16.11), and
    /// counts why. No transaction is created: a retransmitted request gets one more
    /// response (with the same To tag), so a spoofed source gets exactly one response
    /// per request it sends, and the ACK to the refusal is a stray ACK, dropped.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reject(
        &mut self,
        _now: Instant,
        peer: Peer,
        request: &Message,
        key: String,
        code: u16,
        reason: &'static str,
        extra: &[(HeaderName, &str)],
    ) {
        metrics::counter!(metrics_names::REJECTS, "reason" => reason).increment(1);
        self.respond_statelessly(peer, request, &key, code, extra);
    }

    /// Sends one final response to `request` and keeps nothing.
    fn respond_statelessly(
        &mut self,
        peer: Peer,
        request: &Message,
        key: &str,
        code: u16,
        extra: &[(HeaderName, &str)],
    ) {
        let tag = self.branches.stateless_tag(key);
        let mut response = build::response(request, code, Some(&tag));
        for (name, value) in extra {
            response.headers.push(name.clone(), *value);
        }
        metrics::counter!(metrics_names::RESPONSES_SENT, "code" => code.to_string()).increment(1);
        self.transmit(peer, Bytes::from(response.to_bytes()));
    }

    /// Answers a request here with a final response, on a new server transaction so
    /// retransmissions get the same answer.
    pub(super) fn respond(
        &mut self,
        now: Instant,
        peer: Peer,
        request: &Message,
        key: String,
        code: u16,
        extra: &[(HeaderName, &str)],
    ) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        let reliability = Transactions::reliability(&peer);
        let timers = self.transactions.timers();
        let machine = if method == Method::Invite {
            ServerMachine::Invite(InviteServerTransaction::new(reliability, timers))
        } else {
            ServerMachine::NonInvite(NonInviteServerTransaction::new(reliability, timers))
        };
        let mut response = build::response(request, code, Some(&new_tag()));
        for (name, value) in extra {
            response.headers.push(name.clone(), *value);
        }
        self.transactions.servers.insert(
            key.clone(),
            ServerTx {
                machine,
                peer,
                request: build::response_skeleton(request),
                client: None,
                dialog: None,
                from_leg: None,
                opens_dialog: false,
                final_sent: false,
                offer_in_request: false,
            },
        );
        self.send_on_server(now, &key, &response);
    }

    /// Whether the request is addressed to the gateway itself (no Route left and a
    /// Request-URI naming one of its listeners).
    fn addresses_proxy(&self, request: &Message) -> bool {
        request.routes().is_empty()
            && request
                .request_uri()
                .is_some_and(|uri| self.locality.is_local_uri(&uri))
    }

    /// Loop detection (§16.3 step 4): one of our own Vias carries the branch we would
    /// compute for this very request again.
    fn is_looping(&self, request: &Message) -> bool {
        let vias = request.vias();
        let (Some(line), Some(call_id), Some(cseq)) =
            (request.request_line(), request.call_id(), request.cseq())
        else {
            return false;
        };
        vias.iter().enumerate().any(|(at, via)| {
            let (Some(branch), Some(upstream)) = (via.branch(), vias.get(at + 1)) else {
                return false;
            };
            self.locality.is_local_sent_by(&via.host, via.port)
                && self.branches.is_ours_for(
                    branch,
                    &BranchInputs {
                        upstream_branch: upstream.branch().unwrap_or_default(),
                        request_uri: &line.uri,
                        call_id,
                        from_tag: request.from_tag().unwrap_or_default(),
                        to_tag: request.to_tag().unwrap_or_default(),
                        cseq: cseq.seq,
                    },
                )
        })
    }

    /// Route processing (§16.4): drops the Route values that name this proxy from the
    /// top, and a Request-URI that names it when the previous hop was a strict router.
    /// Returns whether the request was routed here.
    fn pop_own_routes(&self, mut request: Message) -> (Message, bool) {
        let routes = request.routes();
        let own = routes
            .iter()
            .take_while(|route| {
                uri_of_name_addr(route)
                    .and_then(SipUri::parse)
                    .is_some_and(|uri| self.locality.is_local_uri(&uri))
            })
            .count();
        let mut routed_here = own > 0;
        for _ in 0..own {
            request.headers.remove_first_value(&HeaderName::Route);
        }
        let strict_previous_hop = request
            .request_uri()
            .is_some_and(|uri| self.locality.is_local_uri(&uri) && !uri.has_lr());
        if strict_previous_hop {
            let remaining = request.routes();
            if let Some(last) = remaining.last() {
                if let Some(uri) = uri_of_name_addr(last).map(str::to_string) {
                    if let crate::message::StartLine::Request(line) = &mut request.start {
                        line.uri = uri;
                    }
                    request.headers.remove_all(&HeaderName::Route);
                    for route in remaining.iter().take(remaining.len() - 1) {
                        request.headers.push(HeaderName::Route, route.as_str());
                    }
                    routed_here = true;
                }
            }
        }
        (request, routed_here)
    }

    pub(super) fn send_on_server(&mut self, now: Instant, key: &str, response: &Message) {
        let Some(code) = response.status_code() else {
            return;
        };
        let Some(server) = self.transactions.servers.get_mut(key) else {
            return;
        };
        let bytes = Bytes::from(response.to_bytes());
        let sent = match &mut server.machine {
            ServerMachine::Invite(tx) => tx.send_response(now, code, bytes),
            ServerMachine::NonInvite(tx) => tx.send_response(now, code, bytes),
        };
        match sent {
            Ok(()) => {
                if code >= 200 {
                    server.final_sent = true;
                }
                metrics::counter!(metrics_names::RESPONSES_SENT, "code" => code.to_string())
                    .increment(1);
            }
            Err(error) => tracing::debug!(%error, code, "response not sent"),
        }
        self.flush(now, &TxKey::Server(key.to_string()));
    }

    /// Sends what a transaction produced.
    pub(super) fn flush(&mut self, now: Instant, key: &TxKey) {
        let Some(drained) = self.transactions.drain(key) else {
            return;
        };
        self.handle_transaction_events(now, key, drained, None);
    }
}
