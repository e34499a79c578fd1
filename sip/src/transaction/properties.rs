//! Random inputs at random times: no panic, no busy loop, no duplicate final
//! passed up, and every machine ends once left idle for 64·T1 + T4.

use std::time::Instant;

use bytes::Bytes;
use proptest::prelude::*;

use super::test_support::{at, bytes, drain_transmits, run_until, start};
use super::{
    InviteClientTransaction, InviteServerTransaction, NonInviteClientTransaction,
    NonInviteServerTransaction, Reliability, Timers, Transaction, TransactionEvent,
    TransactionState,
};

#[derive(Debug, Clone)]
enum Input {
    Advance(u64),
    Response(u16),
    RequestRetransmission,
    Ack,
    SendAck,
    CancelSent,
}

fn status_code() -> impl Strategy<Value = u16> {
    prop_oneof![4 => 100u16..700, 1 => any::<u16>()]
}

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    let input = prop_oneof![
        3 => (0u64..8_000).prop_map(Input::Advance),
        3 => status_code().prop_map(Input::Response),
        1 => Just(Input::RequestRetransmission),
        1 => Just(Input::Ack),
        1 => Just(Input::SendAck),
        1 => Just(Input::CancelSent),
    ];
    prop::collection::vec(input, 0..40)
}

fn reliability() -> impl Strategy<Value = Reliability> {
    prop_oneof![Just(Reliability::Reliable), Just(Reliability::Unreliable)]
}

/// Drives one machine and checks the invariants after every step.
struct Harness<T> {
    tx: T,
    now: Instant,
    non_2xx_finals_passed_up: usize,
    terminated_events: usize,
}

impl<T: Transaction> Harness<T> {
    fn new(tx: T, now: Instant) -> Harness<T> {
        let mut harness = Harness {
            tx,
            now,
            non_2xx_finals_passed_up: 0,
            terminated_events: 0,
        };
        harness.settle();
        harness
    }

    fn advance(&mut self, millis: u64) {
        self.now = at(self.now, millis);
        self.settle();
    }

    /// Fires what is due, drains every output and checks the invariants.
    fn settle(&mut self) {
        run_until(&mut self.tx, self.now);
        drain_transmits(&mut self.tx);
        while let Some(event) = self.tx.poll_event() {
            match event {
                TransactionEvent::Response { code: 300.., .. } => {
                    self.non_2xx_finals_passed_up += 1
                }
                TransactionEvent::Terminated => self.terminated_events += 1,
                _ => {}
            }
        }
        assert!(
            self.non_2xx_finals_passed_up <= 1,
            "a non-2xx final was passed up twice"
        );
        assert!(self.terminated_events <= 1, "Terminated reported twice");
        assert_eq!(self.terminated_events == 1, self.tx.is_terminated());
        if let Some(deadline) = self.tx.poll_timeout() {
            assert!(deadline > self.now, "a due timer survived handle_timeout");
        }
    }

    fn idle_until_terminated(&mut self) {
        let timers = Timers::default();
        let idle = timers.transaction_timeout() + timers.t4();
        self.advance(idle.as_millis() as u64);
        assert!(
            self.tx.is_terminated(),
            "still {:?} after idling",
            self.tx.state()
        );
        assert_eq!(self.tx.poll_timeout(), None);
    }
}

fn message(code: u16) -> Bytes {
    Bytes::from(code.to_string())
}

/// Applies `inputs` in order; `apply` gives each non-time input to the machine.
fn drive<T: Transaction>(
    tx: T,
    inputs: Vec<Input>,
    mut apply: impl FnMut(&mut T, Instant, Input),
) -> Harness<T> {
    let mut harness = Harness::new(tx, start());
    for input in inputs {
        match input {
            Input::Advance(millis) => harness.advance(millis),
            other => apply(&mut harness.tx, harness.now, other),
        }
        harness.settle();
    }
    harness
}

proptest! {
    #[test]
    fn invite_client_always_ends(reliability in reliability(), inputs in inputs()) {
        let tx = InviteClientTransaction::new(start(), reliability, Timers::default(), bytes("INVITE"));
        let mut harness = drive(tx, inputs, |tx, now, input| match input {
            Input::Response(code) => { let _ = tx.handle_response(now, code, message(code)); }
            Input::SendAck => { let _ = tx.send_ack(bytes("ACK")); }
            Input::CancelSent => tx.handle_cancel_sent(now),
            _ => {}
        });
        if harness.tx.state() == TransactionState::Proceeding {
            // Only Timer C, in the proxy, ends Proceeding: it sends a CANCEL.
            harness.tx.handle_cancel_sent(harness.now);
        }
        harness.idle_until_terminated();
    }

    #[test]
    fn non_invite_client_always_ends(reliability in reliability(), inputs in inputs()) {
        let tx = NonInviteClientTransaction::new(start(), reliability, Timers::default(), bytes("BYE"));
        let mut harness = drive(tx, inputs, |tx, now, input| {
            if let Input::Response(code) = input {
                let _ = tx.handle_response(now, code, message(code));
            }
        });
        harness.idle_until_terminated();
    }

    #[test]
    fn invite_server_ends_once_answered(
        reliability in reliability(),
        inputs in inputs(),
        last_code in 200u16..700,
    ) {
        let tx = InviteServerTransaction::new(reliability, Timers::default());
        let mut harness = drive(tx, inputs, |tx, now, input| match input {
            Input::Response(code) => { let _ = tx.send_response(now, code, message(code)); }
            Input::RequestRetransmission => tx.handle_request_retransmission(now),
            Input::Ack => { let _ = tx.handle_ack(now); }
            _ => {}
        });
        if harness.tx.state() == TransactionState::Proceeding {
            harness.tx.send_response(harness.now, last_code, message(last_code)).unwrap();
        }
        harness.idle_until_terminated();
    }

    #[test]
    fn non_invite_server_ends_once_answered(
        reliability in reliability(),
        inputs in inputs(),
        last_code in 200u16..700,
    ) {
        let tx = NonInviteServerTransaction::new(reliability, Timers::default());
        let mut harness = drive(tx, inputs, |tx, now, input| match input {
            Input::Response(code) => { let _ = tx.send_response(now, code, message(code)); }
            Input::RequestRetransmission => tx.handle_request_retransmission(now),
            _ => {}
        });
        if !harness.tx.is_terminated() && harness.tx.state() != TransactionState::Completed {
            harness.tx.send_response(harness.now, last_code, message(last_code)).unwrap();
        }
        harness.idle_until_terminated();
    }
}
