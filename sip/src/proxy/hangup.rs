//! How calls end: the one place a dialog is forgotten and `CallEnded` emitted, so
//! each call ends exactly once whatever ends it (BYE, CANCEL, a final refusal,
//! timeouts, no ACK, the gateway itself). When the proxy ends a call itself (media
//! timeout, operator action, missing ACK), it sends a BYE to each side, built from
//! what the dialog remembers (RFC 3261 §15.1.1), or cancels a call still ringing.

use std::time::Instant;

use bytes::Bytes;

use super::build;
use super::dialog::{Dialog, DialogId, Leg};
use super::request::{client_key, new_tag};
use super::transactions::{ClientMachine, ClientTx, Transactions, TxKey};
use super::{EndReason, Proxy, ProxyEvent, ProxyPolicy};
use crate::message::{HeaderName, Headers, Message, Method, RequestLine, StartLine};
use crate::transaction::NonInviteClientTransaction;
use crate::Peer;

impl Proxy {
    /// Ends a call the proxy carries: BYE to both sides (or, before the answer, 487
    /// to the caller and CANCEL to the callee), and `CallEnded` with
    /// `EndReason::Terminated`. Returns whether the dialog existed.
    pub fn hang_up(
        &mut self,
        now: Instant,
        dialog: DialogId,
        policy: &mut dyn ProxyPolicy,
    ) -> bool {
        let ended = self.terminate(now, dialog);
        self.report(policy);
        ended
    }

    /// Forgets a dialog and reports its end, once: later calls for the same dialog
    /// do nothing. Returns the dialog when this call ended it.
    pub(super) fn end_call(&mut self, dialog: DialogId, reason: EndReason) -> Option<Dialog> {
        let state = self.dialogs.remove(dialog)?;
        self.transactions.schedule_ack_wait(dialog, None);
        self.events
            .push_back(ProxyEvent::CallEnded { dialog, reason });
        Some(state)
    }

    /// The caller acknowledged the 2xx: the call goes on.
    pub(super) fn acknowledged(&mut self, dialog: DialogId) {
        if let Some(state) = self.dialogs.get_mut(dialog) {
            if state.awaiting_ack {
                state.awaiting_ack = false;
                self.transactions.schedule_ack_wait(dialog, None);
            }
        }
    }

    /// 64·T1 after the 2xx and no ACK (RFC 3261 §13.3.1.4): the callee has given
    /// up on it; the proxy ends the call on both sides so nothing stays allocated.
    pub(super) fn on_ack_timeout(&mut self, now: Instant, dialog: DialogId) {
        let unacknowledged = self
            .dialogs
            .get(dialog)
            .is_some_and(|state| state.awaiting_ack);
        if unacknowledged {
            tracing::debug!(call = dialog.0, "no ACK for the 2xx: ending the call");
            self.terminate(now, dialog);
        }
    }

    fn terminate(&mut self, now: Instant, dialog: DialogId) -> bool {
        let Some(state) = self.end_call(dialog, EndReason::Terminated) else {
            return false;
        };
        if state.confirmed {
            for leg in [Leg::Caller, Leg::Callee] {
                if let Some((peer, bye)) = self.bye_to(&state, leg) {
                    self.send_own_request(now, peer, bye);
                }
            }
        } else {
            self.abandon_invite(now, dialog);
        }
        true
    }

    /// A call still ringing when the gateway ends it: 487 to the caller, CANCEL to
    /// the callee (RFC 3261 §16.10), so neither side is left waiting.
    fn abandon_invite(&mut self, now: Instant, dialog: DialogId) {
        let pending = self.transactions.servers.iter().find_map(|(key, server)| {
            (server.dialog == Some(dialog) && server.opens_dialog && !server.final_sent).then(
                || {
                    (
                        key.clone(),
                        build::response(&server.request, 487, Some(&new_tag())),
                        server.client.clone(),
                    )
                },
            )
        });
        let Some((server_key, terminated, client)) = pending else {
            return;
        };
        self.send_on_server(now, &server_key, &terminated);
        if let Some(client) = client {
            self.cancel_downstream(now, &client);
        }
    }

    /// A BYE from the other side's identity to `leg`, and where it goes: the leg's
    /// learned address ([`Dialog::peer`]), never one its Contact or Route names:
    /// those only fill the Request-URI and Route headers, for the leg to read.
    pub(super) fn bye_to(&self, dialog: &Dialog, leg: Leg) -> Option<(Peer, Message)> {
        // The BYE comes from the other side's identity, and continues its CSeq.
        let cseq = dialog.ends.sides[leg.other()].cseq;
        self.request_to(dialog, leg, Method::Bye, cseq.saturating_add(1))
    }

    /// A request of the proxy's own inside `dialog`, from the other side's identity to
    /// `leg` (RFC 3261 §12.2.1.1: remote target, route set, tags), and where it goes.
    pub(super) fn request_to(
        &self,
        dialog: &Dialog,
        leg: Leg,
        method: Method,
        cseq: u32,
    ) -> Option<(Peer, Message)> {
        let ends = &dialog.ends;
        let (end, other) = (&ends.sides[leg], &ends.sides[leg.other()]);
        let (target, route, from, to) = (end.target.as_ref()?, &end.route, &other.uri, &end.uri);
        let peer = dialog.peer(leg);
        let branch = self.branches.make(&super::branch::BranchInputs {
            upstream_branch: "",
            request_uri: target,
            call_id: &ends.call_id,
            from_tag: "",
            to_tag: "",
            cseq,
        });
        let via_addr = self.locality.advertised(peer.transport, peer.addr);
        let mut headers = Headers::new();
        headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {via_addr};branch={branch}",
                peer.transport.via_token()
            ),
        );
        for entry in route {
            headers.push(HeaderName::Route, entry.as_str());
        }
        headers.push(HeaderName::From, from.as_str());
        headers.push(HeaderName::To, to.as_str());
        headers.push(HeaderName::CallId, ends.call_id.as_str());
        headers.push(HeaderName::CSeq, format!("{cseq} {}", method.as_str()));
        headers.push(HeaderName::MaxForwards, "70");
        let bye = Message {
            start: StartLine::Request(RequestLine {
                method,
                uri: target.clone(),
            }),
            headers,
            body: Bytes::new(),
        };
        Some((peer, bye))
    }

    /// Sends a request on the proxy's own behalf: its responses stop here.
    pub(super) fn send_own_request(&mut self, now: Instant, peer: Peer, request: Message) {
        let (Some(method), Some(branch)) = (
            request.method().cloned(),
            request
                .top_via()
                .and_then(|via| via.branch().map(str::to_string)),
        ) else {
            return;
        };
        let key = client_key(&branch, &method);
        let machine = ClientMachine::NonInvite(NonInviteClientTransaction::new(
            now,
            Transactions::reliability(&peer),
            self.transactions.timers(),
            Bytes::from(request.to_bytes()),
        ));
        self.transactions.clients.insert(
            key.clone(),
            ClientTx {
                machine,
                peer,
                forwarded: request,
                method,
                server: None,
                dialog: None,
                cancel_sent: false,
            },
        );
        self.flush(now, &TxKey::Client(key));
    }
}
