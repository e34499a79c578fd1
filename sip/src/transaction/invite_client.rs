//! RFC 3261 §17.1.1 (Figure 5) as amended by RFC 6026 §7.2.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::engine::{later, Ending, Engine};
use super::TransactionState::{Accepted, Calling, Completed, Proceeding};
use super::{
    delegate_to_engine, status_class, Reliability, StatusClass, Timers, TransactionError,
    TransactionEvent,
};

/// The client side of an INVITE: retransmits it until a response (Timer A),
/// gives up at Timer B, acknowledges a non-2xx final with the ACK its owner
/// builds (Timer D), and after a 2xx keeps passing 2xx up for Timer M.
#[derive(Debug)]
pub struct InviteClientTransaction {
    engine: Engine,
    ack: Option<Bytes>,
    /// RFC 3261 §9.1: 64·T1 after a CANCEL without a final, give up.
    cancel_deadline: Option<Instant>,
}

delegate_to_engine!(InviteClientTransaction);

impl InviteClientTransaction {
    /// Starts the transaction by sending `request`, the INVITE's bytes.
    pub fn new(
        now: Instant,
        reliability: Reliability,
        timers: Timers,
        request: Bytes,
    ) -> InviteClientTransaction {
        let mut engine = Engine::new(Calling, reliability, timers);
        engine.transmit(request.clone());
        // Timer A doubles without a cap; Timer B ends it first.
        engine.start_retransmission(now, request, Duration::MAX);
        engine.end_after(now, timers.transaction_timeout(), Ending::Timeout);
        InviteClientTransaction {
            engine,
            ack: None,
            cancel_deadline: None,
        }
    }

    /// The transport could not deliver the request (a refused connection, an ICMP
    /// error): before a final response the transaction ends at once with
    /// [`TransactionEvent::TransportError`] (RFC 3261 §17.1.1.2).
    pub fn handle_transport_error(&mut self) {
        self.engine.fail_transport();
    }

    /// A response matched this transaction.
    pub fn handle_response(
        &mut self,
        now: Instant,
        code: u16,
        bytes: Bytes,
    ) -> Result<(), TransactionError> {
        let class = status_class(code)?;
        let state = self.engine.state();
        match (state, class) {
            (Calling | Proceeding, StatusClass::Provisional) => {
                self.engine.stop_retransmission();
                if state == Calling {
                    // Timer B only guards Calling; after a provisional, Timer C
                    // in the proxy decides how long to wait.
                    self.engine.stop_ending();
                    if let Some(deadline) = self.cancel_deadline {
                        self.engine.end_at(deadline, Ending::Timeout);
                    }
                }
                self.engine.set_state(Proceeding);
                self.pass_up(code, bytes);
            }
            (Calling | Proceeding, StatusClass::Success) => {
                self.leave_for(Accepted);
                let timer_m = self.engine.timers().transaction_timeout();
                self.engine.end_after(now, timer_m, Ending::Quietly);
                self.pass_up(code, bytes);
            }
            (Calling | Proceeding, StatusClass::Failure) => {
                self.leave_for(Completed);
                self.pass_up(code, bytes);
                self.engine.emit(TransactionEvent::AckNeeded);
                let timers = self.engine.timers();
                let wait = match self.engine.reliability() {
                    Reliability::Unreliable => timers.timer_d(),
                    // Timer D is zero, but the ACK must go out first (`send_ack`
                    // terminates); this only bounds an owner that never sends it.
                    Reliability::Reliable => timers.transaction_timeout(),
                };
                self.engine.end_after(now, wait, Ending::Quietly);
            }
            (Completed, StatusClass::Failure) => {
                if let Some(ack) = &self.ack {
                    self.engine.transmit(ack.clone());
                }
            }
            (Accepted, StatusClass::Success) => self.pass_up(code, bytes),
            // Late provisionals, a 2xx after a non-2xx, a non-2xx after a 2xx,
            // anything after Terminated: absorbed.
            _ => {}
        }
        Ok(())
    }

    /// The ACK for the non-2xx final announced by [`TransactionEvent::AckNeeded`].
    /// It is sent now and again for every retransmission of that final.
    pub fn send_ack(&mut self, ack: Bytes) -> Result<(), TransactionError> {
        let state = self.engine.state();
        if state != Completed || self.ack.is_some() {
            return Err(TransactionError::InvalidState {
                action: "sending the ACK",
                state,
            });
        }
        self.engine.transmit(ack.clone());
        self.ack = Some(ack);
        if self.engine.reliability() == Reliability::Reliable {
            self.engine.terminate();
        }
        Ok(())
    }

    /// The owner sent a CANCEL for this INVITE. If no final response arrives
    /// within 64·T1, the transaction ends with [`TransactionEvent::Timeout`].
    pub fn handle_cancel_sent(&mut self, now: Instant) {
        let deadline = later(now, self.engine.timers().transaction_timeout());
        match self.engine.state() {
            Calling => self.cancel_deadline = Some(deadline),
            Proceeding if !self.engine.has_ending() => {
                self.engine.end_at(deadline, Ending::Timeout)
            }
            _ => {}
        }
    }

    fn leave_for(&mut self, state: super::TransactionState) {
        self.engine.stop_retransmission();
        self.engine.stop_ending();
        self.engine.set_state(state);
    }

    fn pass_up(&mut self, code: u16, bytes: Bytes) {
        self.engine.emit(TransactionEvent::Response { code, bytes });
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Transaction;
    use super::super::TransactionState::Terminated;
    use super::*;

    fn transaction(reliability: Reliability) -> (InviteClientTransaction, Instant) {
        let t0 = start();
        let mut tx =
            InviteClientTransaction::new(t0, reliability, Timers::default(), bytes("INVITE"));
        assert_eq!(drain_transmits(&mut tx), [bytes("INVITE")]);
        (tx, t0)
    }

    #[test]
    fn timer_a_doubles_from_t1_and_timer_b_times_out_at_64_t1() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        assert_eq!(tx.state(), Calling);
        let sent = times_out_exactly_at(&mut tx, at(t0, 32_000));
        assert_eq!(
            millis_since(t0, &sent),
            [500, 1_500, 3_500, 7_500, 15_500, 31_500]
        );
    }

    #[test]
    fn reliable_transport_never_retransmits_but_still_times_out() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        assert!(times_out_exactly_at(&mut tx, at(t0, 32_000)).is_empty());
    }

    #[test]
    fn a_provisional_stops_retransmissions_and_timer_b() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        run_until(&mut tx, at(t0, 600));
        tx.handle_response(at(t0, 700), 100, response_bytes())
            .unwrap();
        assert_eq!(tx.state(), Proceeding);
        assert_eq!(drain_events(&mut tx), [passed_up(100)]);
        assert_eq!(tx.poll_timeout(), None);
        assert!(run_until(&mut tx, at(t0, 100_000)).is_empty());
        assert_eq!(tx.state(), Proceeding, "Timer C belongs to the proxy");
    }

    #[test]
    fn every_provisional_is_passed_up() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        for code in [100, 180, 180, 183] {
            tx.handle_response(t0, code, response_bytes()).unwrap();
        }
        assert_eq!(
            drain_events(&mut tx),
            [
                passed_up(100),
                passed_up(180),
                passed_up(180),
                passed_up(183)
            ]
        );
    }

    #[test]
    fn non_2xx_final_asks_for_the_ack_and_resends_it_on_retransmissions() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_response(at(t0, 100), 180, response_bytes())
            .unwrap();
        tx.handle_response(at(t0, 200), 486, response_bytes())
            .unwrap();
        assert_eq!(tx.state(), Completed);
        assert_eq!(
            drain_events(&mut tx),
            [passed_up(180), passed_up(486), TransactionEvent::AckNeeded]
        );
        tx.send_ack(bytes("ACK")).unwrap();
        assert_eq!(drain_transmits(&mut tx), [bytes("ACK")]);
        tx.handle_response(at(t0, 700), 486, response_bytes())
            .unwrap();
        assert_eq!(drain_transmits(&mut tx), [bytes("ACK")]);
        assert!(
            drain_events(&mut tx).is_empty(),
            "a retransmitted final is not passed up twice"
        );
    }

    #[test]
    fn retransmitted_final_before_the_ack_is_known_is_absorbed() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_response(t0, 503, response_bytes()).unwrap();
        drain_events(&mut tx);
        tx.handle_response(at(t0, 500), 503, response_bytes())
            .unwrap();
        assert!(drain_transmits(&mut tx).is_empty());
        assert!(drain_events(&mut tx).is_empty());
    }

    #[test]
    fn timer_d_ends_completed_after_32_seconds() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        run_until(&mut tx, at(t0, 1_600));
        tx.handle_response(at(t0, 2_000), 404, response_bytes())
            .unwrap();
        tx.send_ack(bytes("ACK")).unwrap();
        drain_transmits(&mut tx);
        assert!(
            run_until(&mut tx, at(t0, 33_999)).is_empty(),
            "Timer A stopped"
        );
        assert_eq!(tx.state(), Completed);
        run_until(&mut tx, at(t0, 34_000));
        assert_eq!(tx.state(), Terminated);
        let events = drain_events(&mut tx);
        assert_eq!(events.last(), Some(&TransactionEvent::Terminated));
        assert!(!events.contains(&TransactionEvent::Timeout));
    }

    #[test]
    fn reliable_transport_terminates_once_the_ack_is_sent() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        tx.handle_response(t0, 486, response_bytes()).unwrap();
        assert_eq!(tx.state(), Completed, "waits for the ACK bytes");
        tx.send_ack(bytes("ACK")).unwrap();
        assert_eq!(drain_transmits(&mut tx), [bytes("ACK")]);
        assert_eq!(tx.state(), Terminated);
        assert_eq!(
            drain_events(&mut tx),
            [
                passed_up(486),
                TransactionEvent::AckNeeded,
                TransactionEvent::Terminated
            ]
        );
    }

    #[test]
    fn reliable_transport_does_not_wait_forever_for_an_ack() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        tx.handle_response(t0, 486, response_bytes()).unwrap();
        run_until(&mut tx, at(t0, 32_000));
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn accepted_passes_every_2xx_up_until_timer_m() {
        for reliability in [Reliability::Unreliable, Reliability::Reliable] {
            let (mut tx, t0) = transaction(reliability);
            tx.handle_response(at(t0, 100), 200, response_bytes())
                .unwrap();
            assert_eq!(tx.state(), Accepted);
            tx.handle_response(at(t0, 600), 200, response_bytes())
                .unwrap();
            tx.handle_response(at(t0, 700), 486, response_bytes())
                .unwrap();
            tx.handle_response(at(t0, 800), 180, response_bytes())
                .unwrap();
            assert_eq!(drain_events(&mut tx), [passed_up(200), passed_up(200)]);
            assert!(
                drain_transmits(&mut tx).is_empty(),
                "the ACK for a 2xx is end-to-end"
            );
            assert_eq!(tx.poll_timeout(), Some(at(t0, 32_100)));
            run_until(&mut tx, at(t0, 32_100));
            assert_eq!(drain_events(&mut tx), [TransactionEvent::Terminated]);
        }
    }

    #[test]
    fn cancel_without_final_times_out_after_64_t1() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_response(t0, 180, response_bytes()).unwrap();
        tx.handle_cancel_sent(at(t0, 10_000));
        run_until(&mut tx, at(t0, 41_999));
        assert_eq!(tx.state(), Proceeding);
        run_until(&mut tx, at(t0, 42_000));
        assert_eq!(
            drain_events(&mut tx),
            [
                passed_up(180),
                TransactionEvent::Timeout,
                TransactionEvent::Terminated
            ]
        );
    }

    #[test]
    fn cancel_noted_in_calling_applies_after_the_provisional() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_cancel_sent(at(t0, 1_000));
        tx.handle_response(at(t0, 2_000), 180, response_bytes())
            .unwrap();
        assert_eq!(tx.poll_timeout(), Some(at(t0, 33_000)));
    }

    #[test]
    fn final_after_cancel_ends_normally() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_response(t0, 180, response_bytes()).unwrap();
        tx.handle_cancel_sent(at(t0, 1_000));
        tx.handle_response(at(t0, 1_100), 487, response_bytes())
            .unwrap();
        tx.send_ack(bytes("ACK")).unwrap();
        run_until(&mut tx, at(t0, 60_000));
        assert!(!drain_events(&mut tx).contains(&TransactionEvent::Timeout));
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn ack_is_refused_outside_completed_or_twice() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        assert_eq!(
            tx.send_ack(bytes("ACK")),
            Err(TransactionError::InvalidState {
                action: "sending the ACK",
                state: Calling
            })
        );
        tx.handle_response(t0, 486, response_bytes()).unwrap();
        tx.send_ack(bytes("ACK")).unwrap();
        assert!(tx.send_ack(bytes("ACK")).is_err());
        assert_eq!(drain_transmits(&mut tx), [bytes("ACK")]);
    }

    #[test]
    fn invalid_status_code_is_an_error_and_changes_nothing() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        assert_eq!(
            tx.handle_response(t0, 1_000, response_bytes()),
            Err(TransactionError::InvalidStatusCode(1_000))
        );
        assert_eq!(tx.state(), Calling);
        assert!(drain_events(&mut tx).is_empty());
    }
}
