//! RFC 3261 §17.1.2 (Figure 6).

use std::time::Instant;

use bytes::Bytes;

use super::engine::{Ending, Engine};
use super::TransactionState::{Completed, Proceeding, Trying};
use super::{
    delegate_to_engine, status_class, Reliability, StatusClass, Timers, TransactionError,
    TransactionEvent,
};

/// The client side of any request but INVITE and ACK: retransmits it (Timer E,
/// capped at T2) until a final or Timer F, then absorbs retransmitted finals
/// for Timer K.
#[derive(Debug)]
pub struct NonInviteClientTransaction {
    engine: Engine,
}

delegate_to_engine!(NonInviteClientTransaction);

impl NonInviteClientTransaction {
    /// Starts the transaction by sending `request`.
    pub fn new(
        now: Instant,
        reliability: Reliability,
        timers: Timers,
        request: Bytes,
    ) -> NonInviteClientTransaction {
        let mut engine = Engine::new(Trying, reliability, timers);
        engine.transmit(request.clone());
        engine.start_retransmission(now, request, timers.t2());
        engine.end_after(now, timers.transaction_timeout(), Ending::Timeout);
        NonInviteClientTransaction { engine }
    }

    /// The transport could not deliver the request (a refused connection, an ICMP
    /// error): before a final response the transaction ends at once with
    /// [`TransactionEvent::TransportError`] (RFC 3261 §17.1.2.2).
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
        if !matches!(self.engine.state(), Trying | Proceeding) {
            // Completed absorbs retransmitted finals; Terminated ignores strays.
            return Ok(());
        }
        self.engine.emit(TransactionEvent::Response { code, bytes });
        if class == StatusClass::Provisional {
            self.engine.set_state(Proceeding);
            // The server is alive but slow: keep probing, every T2, until Timer F.
            let t2 = self.engine.timers().t2();
            self.engine.fix_retransmission_interval(t2);
        } else {
            self.engine.set_state(Completed);
            self.engine.stop_retransmission();
            let timer_k = self
                .engine
                .timers()
                .wait_for_stray_messages(self.engine.reliability());
            self.engine.end_after(now, timer_k, Ending::Quietly);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Transaction;
    use super::super::TransactionState::Terminated;
    use super::*;

    fn transaction(reliability: Reliability) -> (NonInviteClientTransaction, Instant) {
        let t0 = start();
        let mut tx =
            NonInviteClientTransaction::new(t0, reliability, Timers::default(), bytes("BYE"));
        assert_eq!(drain_transmits(&mut tx), [bytes("BYE")]);
        (tx, t0)
    }

    #[test]
    fn timer_e_doubles_up_to_t2_and_timer_f_times_out_at_64_t1() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        let sent = times_out_exactly_at(&mut tx, at(t0, 32_000));
        assert_eq!(millis_since(t0, &sent), CAPPED_AT_T2_MILLIS);
    }

    #[test]
    fn reliable_transport_never_retransmits_and_times_out_at_64_t1() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        assert!(times_out_exactly_at(&mut tx, at(t0, 32_000)).is_empty());
    }

    #[test]
    fn provisional_moves_to_proceeding_and_retransmits_every_t2() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        run_until(&mut tx, at(t0, 600));
        tx.handle_response(at(t0, 700), 100, response_bytes())
            .unwrap();
        assert_eq!(tx.state(), Proceeding);
        assert_eq!(drain_events(&mut tx), [passed_up(100)]);
        let sent = run_until(&mut tx, at(t0, 12_000));
        assert_eq!(millis_since(t0, &sent), [1_500, 5_500, 9_500]);
    }

    #[test]
    fn timer_f_still_runs_in_proceeding() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_response(t0, 100, response_bytes()).unwrap();
        run_until(&mut tx, at(t0, 32_000));
        assert_eq!(
            drain_events(&mut tx),
            [
                passed_up(100),
                TransactionEvent::Timeout,
                TransactionEvent::Terminated
            ]
        );
    }

    #[test]
    fn final_is_passed_up_once_and_timer_k_ends_completed() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.handle_response(at(t0, 100), 100, response_bytes())
            .unwrap();
        tx.handle_response(at(t0, 200), 200, response_bytes())
            .unwrap();
        assert_eq!(tx.state(), Completed);
        tx.handle_response(at(t0, 300), 200, response_bytes())
            .unwrap();
        tx.handle_response(at(t0, 400), 180, response_bytes())
            .unwrap();
        assert_eq!(drain_events(&mut tx), [passed_up(100), passed_up(200)]);
        assert!(
            run_until(&mut tx, at(t0, 5_199)).is_empty(),
            "Timer E stopped"
        );
        assert_eq!(tx.state(), Completed);
        run_until(&mut tx, at(t0, 5_200));
        assert_eq!(drain_events(&mut tx), [TransactionEvent::Terminated]);
    }

    #[test]
    fn reliable_transport_terminates_on_the_final() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        tx.handle_response(t0, 404, response_bytes()).unwrap();
        assert_eq!(tx.state(), Terminated);
        assert_eq!(
            drain_events(&mut tx),
            [passed_up(404), TransactionEvent::Terminated]
        );
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn invalid_status_code_is_an_error_and_changes_nothing() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        assert_eq!(
            tx.handle_response(t0, 7, response_bytes()),
            Err(TransactionError::InvalidStatusCode(7))
        );
        assert_eq!(tx.state(), Trying);
        assert!(drain_events(&mut tx).is_empty());
    }
}
