//! The proxy ending a call itself (media timeout, operator action): a BYE to each
//! side, built from what the dialog remembers (RFC 3261 §15.1.1).

use std::time::Instant;

use bytes::Bytes;

use super::dialog::{Dialog, DialogId, Leg};
use super::locality::uri_destination;
use super::request::client_key;
use super::transactions::{ClientMachine, ClientTx, Transactions, TxKey};
use super::{EndReason, Proxy, ProxyEvent, ProxyPolicy};
use crate::message::{
    uri_of_name_addr, HeaderName, Headers, Message, Method, RequestLine, SipUri, StartLine,
};
use crate::transaction::NonInviteClientTransaction;
use crate::Peer;

impl Proxy {
    /// Ends a call the proxy carries: BYE to both sides, and `CallEnded` with
    /// `EndReason::Terminated`. Returns whether the dialog existed.
    pub fn hang_up(
        &mut self,
        now: Instant,
        dialog: DialogId,
        policy: &mut dyn ProxyPolicy,
    ) -> bool {
        let Some(state) = self.dialogs.remove(dialog) else {
            return false;
        };
        if state.confirmed {
            for leg in [Leg::Caller, Leg::Callee] {
                if let Some((peer, bye)) = self.bye_to(&state, leg) {
                    self.send_own_request(now, peer, bye);
                }
            }
        }
        self.events.push_back(ProxyEvent::CallEnded {
            dialog,
            reason: EndReason::Terminated,
        });
        self.report(policy);
        true
    }

    /// A BYE from the other side's identity to `leg`, and where it goes.
    pub(super) fn bye_to(&self, dialog: &Dialog, leg: Leg) -> Option<(Peer, Message)> {
        let ends = &dialog.ends;
        let cseq = match leg {
            Leg::Caller => ends.callee_cseq,
            Leg::Callee => ends.caller_cseq,
        };
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
        let (target, route, from, to) = match leg {
            Leg::Caller => (
                ends.caller_target.as_ref()?,
                &ends.route_to_caller,
                &ends.callee_uri,
                &ends.caller_uri,
            ),
            Leg::Callee => (
                ends.callee_target.as_ref()?,
                &ends.route_to_callee,
                &ends.caller_uri,
                &ends.callee_uri,
            ),
        };
        let leg_peer = dialog.peer(leg);
        let next_uri = match route.first() {
            Some(entry) => uri_of_name_addr(entry).and_then(SipUri::parse),
            None => SipUri::parse(target),
        };
        let peer = match next_uri.as_ref().and_then(uri_destination) {
            Some((addr, transport)) => Peer {
                transport: transport.unwrap_or(leg_peer.transport),
                addr,
                connection: (addr == leg_peer.addr)
                    .then_some(leg_peer.connection)
                    .flatten(),
            },
            None => leg_peer,
        };
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
