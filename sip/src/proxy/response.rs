//! Responses from next hops (§16.7) and what transactions report: timeouts,
//! ACKs to build, terminations.

use std::time::Instant;

use bytes::Bytes;

use super::anchoring::{self, anchor_body, BodyAction};
use super::build;
use super::dialog::Leg;
use super::hooks::{ProxyPolicy, SdpKind, SdpRefusal};
use super::metrics_names;
use super::request::{client_key, is_sdp};
use super::transactions::{ClientMachine, ClientSummary, Drained, TxKey};
use super::{EndReason, Proxy, ProxyEvent};
use crate::message::{HeaderName, Message, Method};
use crate::transaction::TransactionEvent;
use crate::Peer;

impl Proxy {
    pub(super) fn on_response(
        &mut self,
        now: Instant,
        peer: Peer,
        response: Message,
        policy: &mut dyn ProxyPolicy,
    ) {
        let Some(code) = response.status_code() else {
            return;
        };
        metrics::counter!(metrics_names::RESPONSES_RECEIVED, "code" => code.to_string())
            .increment(1);
        let (Some(via), Some(cseq)) = (response.top_via(), response.cseq()) else {
            return;
        };
        let Some(branch) = via.branch() else {
            return;
        };
        if !self.locality.is_local_sent_by(&via.host, via.port) {
            metrics::counter!(metrics_names::REJECTS, "reason" => "stray_response").increment(1);
            return;
        }
        let key = client_key(branch, &cseq.method);
        let Some(client) = self.transactions.clients.get_mut(&key) else {
            metrics::counter!(metrics_names::REJECTS, "reason" => "stray_response").increment(1);
            return;
        };
        let handled = match &mut client.machine {
            ClientMachine::Invite(tx) => tx.handle_response(now, code, Bytes::new()),
            ClientMachine::NonInvite(tx) => tx.handle_response(now, code, Bytes::new()),
        };
        if let Err(error) = handled {
            tracing::debug!(%error, code, "response not taken by its transaction");
            return;
        }
        let key = TxKey::Client(key);
        let Some(drained) = self.transactions.drain(&key) else {
            return;
        };
        let received = Received {
            source: peer,
            response: &response,
            policy,
        };
        self.handle_transaction_events(now, &key, drained, Some(received));
    }

    /// A due timer of one transaction.
    pub(super) fn drive_transaction(&mut self, now: Instant, key: TxKey) {
        match &key {
            TxKey::TimerC(invite_client) => return self.on_timer_c(now, invite_client),
            TxKey::AckWait(dialog) => return self.on_ack_timeout(now, *dialog),
            TxKey::Server(_) | TxKey::Client(_) => {}
        }
        let Some(drained) = self.transactions.fire(now, &key) else {
            return;
        };
        self.handle_transaction_events(now, &key, drained, None);
    }

    /// A client transaction the transport failed.
    pub(super) fn fail_client(&mut self, now: Instant, key: TxKey) {
        if let Some(drained) = self.transactions.fail_transport(&key) {
            self.handle_transaction_events(now, &key, drained, None);
        }
    }

    /// Sends what a transaction produced and acts on what it reported.
    pub(super) fn handle_transaction_events(
        &mut self,
        now: Instant,
        key: &TxKey,
        drained: Drained,
        mut response: Option<Received<'_>>,
    ) {
        for bytes in drained.transmits {
            self.transmit(drained.peer, bytes);
        }
        let (TxKey::Client(client_key), Some(summary)) = (key, drained.client) else {
            return;
        };
        for event in drained.events {
            match event {
                TransactionEvent::Response { .. } => {
                    if let Some(received) = response.as_mut() {
                        self.pass_upstream(now, &summary, received);
                    }
                }
                TransactionEvent::AckNeeded => {
                    if let Some(received) = response.as_ref() {
                        self.acknowledge(now, client_key, received.response);
                    }
                }
                TransactionEvent::Timeout => {
                    self.on_client_failure(now, client_key, &summary, Failure::Timeout)
                }
                TransactionEvent::TransportError => {
                    self.on_client_failure(now, client_key, &summary, Failure::Transport)
                }
                TransactionEvent::Terminated => {}
            }
        }
    }

    /// Sends a downstream response on to the sender of the request (§16.7), anchoring
    /// its SDP and following the dialog it changes.
    fn pass_upstream(&mut self, now: Instant, client: &ClientSummary, received: &mut Received<'_>) {
        let (response, policy) = (received.response, &mut *received.policy);
        let Some(code) = response.status_code() else {
            return;
        };
        // A CANCEL of the proxy's own has no server transaction: its answer stops here.
        let Some(server_key) = client.server.clone() else {
            return;
        };
        let (method, cancelled) = (client.method.clone(), client.cancel_sent);
        let Some(server) = self.transactions.servers.get(&server_key) else {
            return;
        };
        let (dialog, from_leg, offer_in_request, opens_dialog) = (
            server.dialog,
            server.from_leg,
            server.offer_in_request,
            server.opens_dialog,
        );
        let mut upstream = response.clone();
        // §16.7 step 3: the topmost Via *value*, which may share its line with others.
        upstream.headers.remove_first_value(&HeaderName::Via);
        if let (Some(dialog), Some(leg)) = (dialog, from_leg) {
            let carries_sdp = matches!(method, Method::Invite | Method::Update | Method::Prack)
                && is_sdp(&upstream);
            if carries_sdp && code < 300 {
                let kind = if offer_in_request {
                    SdpKind::Answer
                } else {
                    SdpKind::Offer
                };
                match anchor_body(policy, dialog, leg.other(), kind, &upstream) {
                    BodyAction::Keep => {}
                    BodyAction::Replace(body) => upstream.body = body,
                    // A provisional response may go on without its SDP: it only
                    // announces early media, and the session is set up by the final
                    // response (RFC 3261 §13.2.1, RFC 3264 §4); its SDP must not reach
                    // the caller, who would send media around the gateway.
                    BodyAction::Refuse(_) if code < 200 => {
                        upstream.body = Bytes::new();
                        upstream.headers.remove_all(&HeaderName::ContentType);
                        metrics::counter!(metrics_names::REJECTS, "reason" => "sdp_not_anchorable")
                            .increment(1);
                    }
                    BodyAction::Refuse(refusal) => {
                        return self.refuse_answer(
                            now,
                            &server_key,
                            dialog,
                            leg,
                            response,
                            refusal,
                        );
                    }
                }
            }
            if opens_dialog && (101..300).contains(&code) {
                // A 2xx's tag becomes the callee's own in `follow_dialog`; a
                // provisional's is one of the early dialogs.
                let early_tag = if code < 200 { response.to_tag() } else { None };
                if let Some(state) = self.dialogs.get_mut(dialog) {
                    state.learn_callee(received.source, early_tag);
                }
            }
            let change = DialogChange {
                method: &method,
                opens_dialog,
                code,
                cancelled,
            };
            self.follow_dialog(now, dialog, leg, &change, response);
        }
        self.send_on_server(now, &server_key, &upstream);
    }

    /// A 2xx whose session description cannot be anchored. The 2xx must not reach the
    /// caller: its SDP would have media flow around the gateway. So the caller's
    /// INVITE gets the refusal as its final response instead (a proxy may answer a
    /// request it forwarded as long as no final response went upstream, RFC 3261
    /// §16.7 step 10 is about choosing which final response goes up). The callee,
    /// which considers the dialog established, gets the ACK every 2xx needs (RFC 3261
    /// §13.2.2.4, else it retransmits the 2xx for 64·T1) followed at once by a BYE
    /// (§15), so that it does not stay in a call nobody is on. A re-INVITE answered
    /// this way ends the whole call: the two sides would no longer agree on the
    /// session.
    fn refuse_answer(
        &mut self,
        now: Instant,
        server_key: &str,
        dialog: super::DialogId,
        from_leg: Leg,
        response: &Message,
        refusal: SdpRefusal,
    ) {
        metrics::counter!(metrics_names::REJECTS, "reason" => anchoring::refusal_label(&refusal))
            .increment(1);
        let upstream = self
            .transactions
            .servers
            .get(server_key)
            .filter(|server| !server.final_sent)
            .map(|server| {
                let mut reply = build::response(
                    &server.request,
                    refusal.status,
                    Some(&super::request::new_tag()),
                );
                if let Some((name, value)) = anchoring::refusal_headers(&refusal) {
                    reply.headers.push(name, value);
                }
                reply
            });
        if let Some(reply) = upstream {
            self.send_on_server(now, server_key, &reply);
        }
        let responder = from_leg.other();
        let Some(state) = self.dialogs.get_mut(dialog) else {
            // A retransmitted 2xx after the call was ended: nothing more to do.
            return;
        };
        let was_confirmed = state.confirmed;
        if !was_confirmed {
            state.callee_tag = response.to_tag().map(str::to_string);
            learn_dialog_ends(&mut state.ends, response, &self.locality);
        }
        let state = state.clone();
        let cseq = response.cseq().map_or(0, |cseq| cseq.seq);
        if let Some((peer, ack)) = self.request_to(&state, responder, Method::Ack, cseq) {
            self.transmit(peer, Bytes::from(ack.to_bytes()));
        }
        let legs: &[Leg] = if was_confirmed {
            &[Leg::Caller, Leg::Callee]
        } else {
            &[responder]
        };
        for leg in legs {
            if let Some((peer, bye)) = self.bye_to(&state, *leg) {
                self.send_own_request(now, peer, bye);
            }
        }
        self.dialogs.remove(dialog);
        let reason = if was_confirmed {
            EndReason::Terminated
        } else {
            EndReason::Rejected(refusal.status)
        };
        self.events
            .push_back(ProxyEvent::CallEnded { dialog, reason });
    }

    /// Dialog state from a final response: answered, refused, or hung up.
    fn follow_dialog(
        &mut self,
        now: Instant,
        dialog: super::DialogId,
        from_leg: Leg,
        change: &DialogChange<'_>,
        response: &Message,
    ) {
        if change.code < 200 {
            return;
        }
        let ack_wait = self.transactions.timers().transaction_timeout();
        let Some(state) = self.dialogs.get_mut(dialog) else {
            return;
        };
        match change.method {
            Method::Invite if change.opens_dialog && !state.confirmed => {
                if change.code < 300 {
                    state.confirmed = true;
                    state.awaiting_ack = true;
                    state.callee_tag = response.to_tag().map(str::to_string);
                    state.early_tags = Vec::new();
                    learn_dialog_ends(&mut state.ends, response, &self.locality);
                    // RFC 3261 §13.3.1.4: a 2xx unacknowledged after 64·T1 ends the
                    // dialog; the proxy then ends the call on both sides.
                    self.transactions
                        .schedule_ack_wait(dialog, Some(now + ack_wait));
                    self.events.push_back(ProxyEvent::CallAnswered { dialog });
                } else {
                    let reason = if change.cancelled && change.code == 487 {
                        EndReason::Cancelled
                    } else {
                        EndReason::Rejected(change.code)
                    };
                    self.end_call(dialog, reason);
                }
            }
            Method::Bye => {
                self.end_call(dialog, EndReason::Hangup(from_leg));
            }
            _ => {}
        }
    }

    /// The hop-by-hop ACK for a non-2xx final response to a forwarded INVITE.
    fn acknowledge(&mut self, now: Instant, client_key: &str, response: &Message) {
        let Some(client) = self.transactions.clients.get_mut(client_key) else {
            return;
        };
        let Some(ack) = build::ack_for(&client.forwarded, response) else {
            return;
        };
        if let ClientMachine::Invite(tx) = &mut client.machine {
            if let Err(error) = tx.send_ack(Bytes::from(ack.to_bytes())) {
                tracing::debug!(%error, "hop-by-hop ACK not sent");
            }
        }
        self.flush(now, &TxKey::Client(client_key.to_string()));
    }

    /// No final response from the next hop: after Timer B/F answer 408 upstream, after
    /// a transport error 503 (RFC 3261 §16.7 step 6 and §8.1.3.1: the error counts as
    /// a 503 from the next hop), unless a final went up already; a CANCEL that
    /// failed ends its INVITE with 487.
    fn on_client_failure(
        &mut self,
        now: Instant,
        client_key: &str,
        client: &ClientSummary,
        failure: Failure,
    ) {
        let (method, dialog) = (client.method.clone(), client.dialog);
        let server_key = match (&method, &client.server) {
            (Method::Cancel, _) => {
                let invite = client_key
                    .strip_suffix("|CANCEL")
                    .map(|stem| format!("{stem}|INVITE"));
                invite
                    .and_then(|k| self.transactions.clients.get(&k))
                    .and_then(|invite| invite.server.clone())
            }
            (_, server) => server.clone(),
        };
        // An INVITE the proxy cancelled was terminated, whichever of it and its
        // CANCEL runs out of time first.
        let code = match failure {
            _ if method == Method::Cancel || client.cancel_sent => 487,
            Failure::Timeout => 408,
            Failure::Transport => 503,
        };
        if let Some(server_key) = server_key {
            let pending = self
                .transactions
                .servers
                .get(&server_key)
                .filter(|server| !server.final_sent)
                .map(|server| {
                    (
                        build::response(&server.request, code, Some(&super::request::new_tag())),
                        server.dialog,
                        server.from_leg,
                        server.opens_dialog,
                    )
                });
            if let Some((reply, server_dialog, from_leg, opens_dialog)) = pending {
                if failure == Failure::Transport {
                    metrics::counter!(metrics_names::REJECTS, "reason" => "transport_error")
                        .increment(1);
                }
                self.send_on_server(now, &server_key, &reply);
                if let Some(dialog) = server_dialog.or(dialog) {
                    let failure = (failure, client.cancel_sent);
                    self.end_on_failure(dialog, &method, from_leg, opens_dialog, failure);
                }
            }
        }
    }

    /// Timer C: the INVITE has rung too long without a final response; cancel it.
    /// The INVITE transaction then ends with the 487 from downstream, or times out
    /// into a 408.
    fn on_timer_c(&mut self, now: Instant, invite_client: &str) {
        let unanswered = self
            .transactions
            .clients
            .get(invite_client)
            .and_then(|client| client.server.as_ref())
            .and_then(|server| self.transactions.servers.get(server))
            .is_some_and(|server| !server.final_sent);
        if unanswered {
            self.cancel_downstream(now, invite_client);
        }
    }

    /// A request of the dialog got no final response: the call ends when that was
    /// its BYE, or its opening INVITE (Timer B, a CANCEL unanswered, or a next hop
    /// the transport could not reach, which counts as its 503).
    fn end_on_failure(
        &mut self,
        dialog: super::DialogId,
        method: &Method,
        from_leg: Option<Leg>,
        opens_dialog: bool,
        (failure, cancelled): (Failure, bool),
    ) {
        let reason = match (method, failure) {
            (Method::Bye, _) => EndReason::Hangup(from_leg.unwrap_or(Leg::Caller)),
            (Method::Invite | Method::Cancel, Failure::Timeout) if opens_dialog => {
                EndReason::Timeout
            }
            (Method::Invite, Failure::Transport) if opens_dialog && !cancelled => {
                EndReason::Rejected(503)
            }
            (Method::Invite | Method::Cancel, Failure::Transport) if opens_dialog => {
                EndReason::Cancelled
            }
            _ => return,
        };
        let answered = self
            .dialogs
            .get(dialog)
            .is_some_and(|state| state.confirmed);
        if *method != Method::Bye && answered {
            return;
        }
        self.end_call(dialog, reason);
    }
}

/// Why a client transaction ended without a final response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Timer B or F, or no answer to a CANCEL.
    Timeout,
    /// The transport could not deliver the request.
    Transport,
}

/// A response from a next hop, with where it came from.
pub(super) struct Received<'a> {
    pub source: Peer,
    pub response: &'a Message,
    pub policy: &'a mut dyn ProxyPolicy,
}

/// What a final response to a dialog's request may change.
struct DialogChange<'a> {
    method: &'a Method,
    /// The request was the INVITE that opened the dialog.
    opens_dialog: bool,
    code: u16,
    /// The proxy had cancelled that INVITE.
    cancelled: bool,
}

/// What a 2xx to the initial INVITE tells about the dialog: the callee's URI and
/// target, and the route sets on each side of this proxy (RFC 3261 §12.1.2: the
/// Record-Route list is ordered from the callee's side to the caller's).
fn learn_dialog_ends(
    ends: &mut super::dialog::DialogEnds,
    response: &Message,
    locality: &super::locality::Locality,
) {
    let callee = &mut ends.sides.callee;
    callee.uri = response
        .headers
        .get(&HeaderName::To)
        .unwrap_or_default()
        .to_string();
    callee.target = response
        .contacts()
        .first()
        .and_then(|contact| crate::message::uri_of_name_addr(contact))
        .map(str::to_string);
    let record_route = response.record_routes();
    let own = record_route.iter().position(|entry| {
        crate::message::uri_of_name_addr(entry)
            .and_then(crate::message::SipUri::parse)
            .is_some_and(|uri| locality.is_local_uri(&uri))
    });
    if let Some(own) = own {
        // Two adjacent entries are ours when the legs use different transports.
        let after_own = record_route
            .iter()
            .enumerate()
            .skip(own)
            .take_while(|(_, entry)| {
                crate::message::uri_of_name_addr(entry)
                    .and_then(crate::message::SipUri::parse)
                    .is_some_and(|uri| locality.is_local_uri(&uri))
            })
            .last()
            .map_or(own + 1, |(at, _)| at + 1);
        ends.sides.callee.route = record_route[..own].iter().rev().cloned().collect();
        ends.sides.caller.route = record_route[after_own..].to_vec();
    }
}
