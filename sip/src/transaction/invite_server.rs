//! RFC 3261 §17.2.1 (Figure 7) as amended by RFC 6026 §7.1.

use std::time::Instant;

use bytes::Bytes;

use super::engine::{Ending, Engine};
use super::last_response::LastResponse;
use super::TransactionState::{Accepted, Completed, Confirmed, Proceeding, Terminated};
use super::{
    delegate_to_engine, status_class, AckDisposition, Reliability, StatusClass, Timers,
    TransactionError,
};

/// The server side of an INVITE: answers retransmitted INVITEs with the last
/// response, retransmits a non-2xx final until the ACK (Timers G, H, I), and
/// after a 2xx absorbs INVITE retransmissions for 64·T1 (Timer L).
#[derive(Debug)]
pub struct InviteServerTransaction {
    engine: Engine,
    last_response: LastResponse,
}

delegate_to_engine!(InviteServerTransaction);

impl InviteServerTransaction {
    /// A transaction for an INVITE just received. It starts in `Proceeding`; the
    /// owner sends `100 Trying` (or any response) through `send_response`.
    pub fn new(reliability: Reliability, timers: Timers) -> InviteServerTransaction {
        InviteServerTransaction {
            engine: Engine::new(Proceeding, reliability, timers),
            last_response: LastResponse::default(),
        }
    }

    /// The peer sent the INVITE again: it has not seen our last response.
    pub fn handle_request_retransmission(&mut self, _now: Instant) {
        self.last_response.resend(&mut self.engine);
    }

    /// An ACK matched this transaction.
    pub fn handle_ack(&mut self, now: Instant) -> AckDisposition {
        match self.engine.state() {
            Completed => {
                self.engine.set_state(Confirmed);
                self.engine.stop_retransmission();
                self.engine.stop_ending();
                let timer_i = self
                    .engine
                    .timers()
                    .wait_for_stray_messages(self.engine.reliability());
                self.engine.end_after(now, timer_i, Ending::Quietly);
                AckDisposition::Absorbed
            }
            Accepted | Terminated => AckDisposition::ForTransactionUser,
            _ => AckDisposition::Absorbed,
        }
    }

    /// The owner answers the INVITE with `bytes`, a response with status `code`.
    pub fn send_response(
        &mut self,
        now: Instant,
        code: u16,
        bytes: Bytes,
    ) -> Result<(), TransactionError> {
        let class = status_class(code)?;
        match (self.engine.state(), class) {
            (Proceeding, StatusClass::Provisional) => {}
            (Proceeding | Accepted, StatusClass::Success) => {
                if !self.engine.has_ending() {
                    let timer_l = self.engine.timers().transaction_timeout();
                    self.engine.end_after(now, timer_l, Ending::Quietly);
                }
                self.engine.set_state(Accepted);
            }
            (Proceeding, StatusClass::Failure) => {
                self.engine.set_state(Completed);
                self.engine
                    .start_retransmission(now, bytes.clone(), self.engine.timers().t2());
                let timer_h = self.engine.timers().transaction_timeout();
                self.engine.end_after(now, timer_h, Ending::Timeout);
            }
            (state, _) => {
                return Err(TransactionError::InvalidState {
                    action: "sending this response",
                    state,
                })
            }
        }
        self.last_response.send(&mut self.engine, bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Transaction, TransactionEvent};
    use super::*;

    fn transaction(reliability: Reliability) -> (InviteServerTransaction, Instant) {
        (
            InviteServerTransaction::new(reliability, Timers::default()),
            start(),
        )
    }

    #[test]
    fn starts_in_proceeding_without_sending_or_waking() {
        let (mut tx, _) = transaction(Reliability::Unreliable);
        assert_eq!(tx.state(), Proceeding);
        assert_eq!(tx.poll_transmit(), None);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn retransmitted_invite_resends_the_last_provisional() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_request_retransmission(t0);
        assert!(drain_transmits(&mut tx).is_empty(), "nothing to resend yet");
        tx.send_response(t0, 100, bytes("100")).unwrap();
        tx.send_response(t0, 180, bytes("180")).unwrap();
        assert_eq!(drain_transmits(&mut tx), [bytes("100"), bytes("180")]);
        tx.handle_request_retransmission(at(t0, 300));
        assert_eq!(drain_transmits(&mut tx), [bytes("180")]);
        assert_eq!(tx.state(), Proceeding);
    }

    #[test]
    fn timer_g_retransmits_the_final_doubling_up_to_t2_until_timer_h() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 486, bytes("486")).unwrap();
        assert_eq!(tx.state(), Completed);
        assert_eq!(drain_transmits(&mut tx), [bytes("486")]);
        let sent = times_out_exactly_at(&mut tx, at(t0, 32_000));
        assert_eq!(millis_since(t0, &sent), CAPPED_AT_T2_MILLIS);
    }

    #[test]
    fn retransmitted_invite_in_completed_resends_the_final() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 180, bytes("180")).unwrap();
        tx.send_response(t0, 404, bytes("404")).unwrap();
        drain_transmits(&mut tx);
        tx.handle_request_retransmission(at(t0, 100));
        assert_eq!(drain_transmits(&mut tx), [bytes("404")]);
    }

    #[test]
    fn ack_stops_timer_g_and_timer_i_terminates_after_t4() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 486, bytes("486")).unwrap();
        drain_transmits(&mut tx);
        assert_eq!(tx.handle_ack(at(t0, 200)), AckDisposition::Absorbed);
        assert_eq!(tx.state(), Confirmed);
        assert_eq!(tx.poll_timeout(), Some(at(t0, 5_200)));
        tx.handle_request_retransmission(at(t0, 300));
        assert_eq!(tx.handle_ack(at(t0, 400)), AckDisposition::Absorbed);
        let sent = run_until(&mut tx, at(t0, 5_199));
        assert!(sent.is_empty(), "Timer G must stop once the ACK arrives");
        assert_eq!(tx.state(), Confirmed);
        run_until(&mut tx, at(t0, 5_200));
        assert_eq!(drain_events(&mut tx), [TransactionEvent::Terminated]);
    }

    #[test]
    fn reliable_transport_sends_the_final_once_and_ack_terminates_at_once() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        tx.send_response(t0, 486, bytes("486")).unwrap();
        assert_eq!(drain_transmits(&mut tx), [bytes("486")]);
        assert_eq!(tx.poll_timeout(), Some(at(t0, 32_000)), "only Timer H runs");
        assert_eq!(tx.handle_ack(at(t0, 10)), AckDisposition::Absorbed);
        assert_eq!(tx.state(), Terminated);
        assert_eq!(drain_events(&mut tx), [TransactionEvent::Terminated]);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn reliable_transport_still_times_out_without_ack() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        tx.send_response(t0, 486, bytes("486")).unwrap();
        drain_transmits(&mut tx);
        assert!(times_out_exactly_at(&mut tx, at(t0, 32_000)).is_empty());
    }

    #[test]
    fn accepted_absorbs_invite_retransmissions_and_passes_more_2xx() {
        for reliability in [Reliability::Unreliable, Reliability::Reliable] {
            let (mut tx, t0) = transaction(reliability);
            tx.send_response(t0, 180, bytes("180")).unwrap();
            tx.send_response(t0, 200, bytes("200")).unwrap();
            assert_eq!(tx.state(), Accepted);
            assert_eq!(drain_transmits(&mut tx), [bytes("180"), bytes("200")]);
            tx.handle_request_retransmission(at(t0, 500));
            assert!(
                drain_transmits(&mut tx).is_empty(),
                "retransmitted INVITE is absorbed"
            );
            tx.send_response(at(t0, 1_000), 200, bytes("200 again"))
                .unwrap();
            assert_eq!(drain_transmits(&mut tx), [bytes("200 again")]);
            assert_eq!(
                tx.handle_ack(at(t0, 1_100)),
                AckDisposition::ForTransactionUser
            );
            assert_eq!(
                tx.poll_timeout(),
                Some(at(t0, 32_000)),
                "Timer L runs from the first 2xx"
            );
            assert!(
                run_until(&mut tx, at(t0, 32_000)).is_empty(),
                "2xx are not retransmitted"
            );
            assert_eq!(drain_events(&mut tx), [TransactionEvent::Terminated]);
        }
    }

    #[test]
    fn rejects_responses_the_state_does_not_allow() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 200, bytes("200")).unwrap();
        let error = tx.send_response(t0, 180, bytes("180")).unwrap_err();
        assert_eq!(
            error,
            TransactionError::InvalidState {
                action: "sending this response",
                state: Accepted
            }
        );
        assert!(tx.send_response(t0, 486, bytes("486")).is_err());

        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 486, bytes("486")).unwrap();
        assert!(tx.send_response(t0, 200, bytes("200")).is_err());
        assert!(tx.send_response(t0, 500, bytes("500")).is_err());
        assert_eq!(drain_transmits(&mut tx), [bytes("486")]);
    }

    #[test]
    fn rejects_status_codes_outside_the_rfc_range() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        for code in [0, 99, 700, u16::MAX] {
            assert_eq!(
                tx.send_response(t0, code, bytes("x")),
                Err(TransactionError::InvalidStatusCode(code))
            );
        }
        assert!(drain_transmits(&mut tx).is_empty());
        assert_eq!(tx.state(), Proceeding);
    }
}
