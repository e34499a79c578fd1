//! The application side of the proxy: tenant routing and the media of each call.

use bytes::Bytes;
use greffier_sip::message::Message;
use greffier_sip::proxy::{
    DialogId, InDialogAction, Leg, ProxyEvent, ProxyPolicy, RouteDecision, SdpDecision, SdpKind,
};
use greffier_sip::Peer;

use super::TenantRouter;
use crate::calls::Calls;
use greffier_types::Personal;

pub struct GatewayPolicy {
    pub router: TenantRouter,
    pub calls: Calls,
}

impl ProxyPolicy for GatewayPolicy {
    fn is_known_source(&mut self, source: Peer) -> bool {
        self.router.knows_source(source.addr.ip())
    }

    fn route(&mut self, source: Peer, request: &Message) -> RouteDecision {
        self.router.route(source, request)
    }

    fn rewrite_sdp(
        &mut self,
        dialog: DialogId,
        from: Leg,
        kind: SdpKind,
        sdp: &Bytes,
    ) -> SdpDecision {
        self.calls.rewrite_sdp(dialog, from, kind, sdp)
    }

    fn on_in_dialog_request(
        &mut self,
        dialog: DialogId,
        from: Leg,
        request: &Message,
    ) -> InDialogAction {
        self.calls.in_dialog_request(dialog, from, request)
    }

    fn on_event(&mut self, event: ProxyEvent) {
        match event {
            ProxyEvent::CallStarted {
                dialog,
                tenant,
                direction,
                callee,
                caller,
                call_id,
            } => {
                tracing::info!(
                    call = dialog.0,
                    %tenant,
                    ?direction,
                    caller = %Personal::new(caller.as_ref().map(Personal::expose)),
                    callee = %Personal::new(callee.as_ref().map(Personal::expose)),
                    "call started"
                );
                self.calls.started(
                    dialog,
                    &tenant,
                    direction,
                    caller.as_ref().map(|caller| caller.expose().as_str()),
                    callee.as_ref().map(|callee| callee.expose().as_str()),
                    call_id.expose(),
                );
            }
            ProxyEvent::CallAnswered { dialog } => {
                tracing::debug!(call = dialog.0, "call answered")
            }
            ProxyEvent::CallEnded { dialog, reason } => {
                tracing::info!(call = dialog.0, ?reason, "call ended");
                self.calls.ended(dialog, reason);
            }
        }
    }
}
