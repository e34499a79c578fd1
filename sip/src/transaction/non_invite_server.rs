//! RFC 3261 §17.2.2 (Figure 8).

use std::time::Instant;

use bytes::Bytes;

use super::engine::{Ending, Engine};
use super::last_response::LastResponse;
use super::TransactionState::{Completed, Proceeding, Trying};
use super::{delegate_to_engine, status_class, Reliability, StatusClass, Timers, TransactionError};

/// The server side of any request but INVITE and ACK: answers a retransmitted
/// request with the last response and, after the final, keeps doing so for
/// Timer J.
#[derive(Debug)]
pub struct NonInviteServerTransaction {
    engine: Engine,
    last_response: LastResponse,
}

delegate_to_engine!(NonInviteServerTransaction);

impl NonInviteServerTransaction {
    /// A transaction for a request just received; it starts in `Trying`.
    pub fn new(reliability: Reliability, timers: Timers) -> NonInviteServerTransaction {
        NonInviteServerTransaction {
            engine: Engine::new(Trying, reliability, timers),
            last_response: LastResponse::default(),
        }
    }

    /// The peer sent the request again: it has not seen our last response, if any.
    pub fn handle_request_retransmission(&mut self, _now: Instant) {
        self.last_response.resend(&mut self.engine);
    }

    /// The owner answers the request with `bytes`, a response with status `code`.
    pub fn send_response(
        &mut self,
        now: Instant,
        code: u16,
        bytes: Bytes,
    ) -> Result<(), TransactionError> {
        let class = status_class(code)?;
        let state = self.engine.state();
        if !matches!(state, Trying | Proceeding) {
            return Err(TransactionError::InvalidState {
                action: "sending a response",
                state,
            });
        }
        self.last_response.send(&mut self.engine, bytes);
        if class == StatusClass::Provisional {
            self.engine.set_state(Proceeding);
        } else {
            self.engine.set_state(Completed);
            let timer_j = self.engine.timers().timer_j(self.engine.reliability());
            self.engine.end_after(now, timer_j, Ending::Quietly);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::TransactionState::Terminated;
    use super::super::{Transaction, TransactionEvent};
    use super::*;

    fn transaction(reliability: Reliability) -> (NonInviteServerTransaction, Instant) {
        (
            NonInviteServerTransaction::new(reliability, Timers::default()),
            start(),
        )
    }

    #[test]
    fn trying_absorbs_retransmissions_silently() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        assert_eq!(tx.state(), Trying);
        tx.handle_request_retransmission(at(t0, 500));
        assert!(drain_transmits(&mut tx).is_empty());
        assert_eq!(tx.poll_timeout(), None);
        assert_eq!(tx.state(), Trying);
    }

    #[test]
    fn proceeding_resends_the_last_provisional() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 100, bytes("100")).unwrap();
        assert_eq!(tx.state(), Proceeding);
        tx.send_response(t0, 183, bytes("183")).unwrap();
        assert_eq!(drain_transmits(&mut tx), [bytes("100"), bytes("183")]);
        tx.handle_request_retransmission(at(t0, 500));
        assert_eq!(drain_transmits(&mut tx), [bytes("183")]);
    }

    #[test]
    fn completed_resends_the_final_until_timer_j() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 100, bytes("100")).unwrap();
        tx.send_response(at(t0, 100), 200, bytes("200")).unwrap();
        assert_eq!(tx.state(), Completed);
        drain_transmits(&mut tx);
        tx.handle_request_retransmission(at(t0, 1_000));
        assert_eq!(drain_transmits(&mut tx), [bytes("200")]);
        assert!(
            run_until(&mut tx, at(t0, 32_099)).is_empty(),
            "the server never retransmits on its own"
        );
        assert_eq!(tx.state(), Completed);
        run_until(&mut tx, at(t0, 32_100));
        assert_eq!(tx.state(), Terminated);
        assert_eq!(drain_events(&mut tx), [TransactionEvent::Terminated]);
        tx.handle_request_retransmission(at(t0, 32_200));
        assert!(drain_transmits(&mut tx).is_empty());
    }

    #[test]
    fn final_from_trying_completes_directly() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 404, bytes("404")).unwrap();
        assert_eq!(tx.state(), Completed);
        assert_eq!(tx.poll_timeout(), Some(at(t0, 32_000)));
    }

    #[test]
    fn reliable_transport_terminates_on_the_final() {
        let (mut tx, t0) = transaction(Reliability::Reliable);
        tx.send_response(t0, 200, bytes("200")).unwrap();
        assert_eq!(drain_transmits(&mut tx), [bytes("200")]);
        assert_eq!(tx.state(), Terminated);
        assert_eq!(drain_events(&mut tx), [TransactionEvent::Terminated]);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn later_responses_are_refused_once_a_final_is_sent() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        tx.send_response(t0, 200, bytes("200")).unwrap();
        assert_eq!(
            tx.send_response(t0, 500, bytes("500")),
            Err(TransactionError::InvalidState {
                action: "sending a response",
                state: Completed
            })
        );
        assert!(tx.send_response(t0, 180, bytes("180")).is_err());
        tx.handle_request_retransmission(t0);
        assert_eq!(drain_transmits(&mut tx), [bytes("200"), bytes("200")]);
    }

    #[test]
    fn rejects_invalid_status_codes_without_changing_state() {
        let (mut tx, t0) = transaction(Reliability::Unreliable);
        assert_eq!(
            tx.send_response(t0, 42, bytes("x")),
            Err(TransactionError::InvalidStatusCode(42))
        );
        assert_eq!(tx.state(), Trying);
        assert!(drain_transmits(&mut tx).is_empty());
    }
}
