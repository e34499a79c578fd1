//! The part every machine shares: state, the outbox, and the two timer slots.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Reliability, Timers, TransactionEvent, TransactionState};

/// What happens when the ending timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Timers B, F, H and the CANCEL guard: the owner must act on a failure.
    Timeout,
    /// Timers D, I, J, K, L, M: the transaction simply ends.
    Quietly,
}

/// Timer A, E or G: resends `bytes` with a doubling interval up to `cap`.
#[derive(Debug)]
struct Retransmission {
    at: Instant,
    interval: Duration,
    cap: Duration,
    bytes: Bytes,
}

#[derive(Debug)]
pub(crate) struct Engine {
    state: TransactionState,
    reliability: Reliability,
    timers: Timers,
    transmits: VecDeque<Bytes>,
    events: VecDeque<TransactionEvent>,
    retransmission: Option<Retransmission>,
    ending: Option<(Instant, Ending)>,
}

impl Engine {
    pub(crate) fn new(state: TransactionState, reliability: Reliability, timers: Timers) -> Engine {
        Engine {
            state,
            reliability,
            timers,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            retransmission: None,
            ending: None,
        }
    }

    pub(crate) fn state(&self) -> TransactionState {
        self.state
    }

    pub(crate) fn set_state(&mut self, state: TransactionState) {
        self.state = state;
    }

    pub(crate) fn reliability(&self) -> Reliability {
        self.reliability
    }

    pub(crate) fn timers(&self) -> Timers {
        self.timers
    }

    pub(crate) fn transmit(&mut self, bytes: Bytes) {
        self.transmits.push_back(bytes);
    }

    pub(crate) fn emit(&mut self, event: TransactionEvent) {
        self.events.push_back(event);
    }

    /// Starts Timer A, E or G for `bytes`, when the transport needs it.
    pub(crate) fn start_retransmission(&mut self, now: Instant, bytes: Bytes, cap: Duration) {
        if self.state == TransactionState::Terminated {
            return;
        }
        self.retransmission = self
            .timers
            .first_retransmission(self.reliability)
            .map(|interval| Retransmission {
                at: later(now, interval),
                interval,
                cap,
                bytes,
            });
    }

    /// Keeps the next retransmission where it is but spaces the following ones
    /// by exactly `interval` (Timer E in Proceeding uses T2).
    pub(crate) fn fix_retransmission_interval(&mut self, interval: Duration) {
        if let Some(retransmission) = &mut self.retransmission {
            retransmission.interval = interval;
            retransmission.cap = interval;
        }
    }

    pub(crate) fn stop_retransmission(&mut self) {
        self.retransmission = None;
    }

    /// Arms the ending timer; a zero duration ends the transaction now.
    pub(crate) fn end_after(&mut self, now: Instant, duration: Duration, ending: Ending) {
        if duration.is_zero() {
            self.finish(ending);
        } else {
            self.end_at(later(now, duration), ending);
        }
    }

    pub(crate) fn end_at(&mut self, at: Instant, ending: Ending) {
        if self.state != TransactionState::Terminated {
            self.ending = Some((at, ending));
        }
    }

    pub(crate) fn has_ending(&self) -> bool {
        self.ending.is_some()
    }

    pub(crate) fn stop_ending(&mut self) {
        self.ending = None;
    }

    /// A transport failure of a client transaction (RFC 3261 §17.1.1.2, §17.1.2.2):
    /// one still waiting for its final response ends at once and says so; one that
    /// has its final response has nothing left to learn from the peer and is left to
    /// its timers.
    pub(crate) fn fail_transport(&mut self) {
        use TransactionState::{Calling, Proceeding, Trying};
        if matches!(self.state, Calling | Trying | Proceeding) {
            self.events.push_back(TransactionEvent::TransportError);
            self.finish(Ending::Quietly);
        }
    }

    pub(crate) fn terminate(&mut self) {
        self.finish(Ending::Quietly);
    }

    fn finish(&mut self, ending: Ending) {
        if self.state == TransactionState::Terminated {
            return;
        }
        if ending == Ending::Timeout {
            self.events.push_back(TransactionEvent::Timeout);
        }
        self.state = TransactionState::Terminated;
        self.retransmission = None;
        self.ending = None;
        self.events.push_back(TransactionEvent::Terminated);
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some((at, ending)) = self.ending {
            if at <= now {
                self.finish(ending);
                return;
            }
        }
        if let Some(retransmission) = &mut self.retransmission {
            if retransmission.at <= now {
                self.transmits.push_back(retransmission.bytes.clone());
                retransmission.interval = retransmission
                    .interval
                    .saturating_mul(2)
                    .min(retransmission.cap);
                // From `now`, not from the missed deadline: a late wake-up must
                // not turn into a burst of retransmissions.
                retransmission.at = later(now, retransmission.interval);
            }
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmits.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let retransmission = self.retransmission.as_ref().map(|r| r.at);
        let ending = self.ending.map(|(at, _)| at);
        match (retransmission, ending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `now + duration`; an unrepresentable instant fires at once rather than panic
/// or never fire (validated [`Timers`] keep this out of reach).
pub(crate) fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, bytes, start};
    use super::*;

    fn engine(reliability: Reliability) -> Engine {
        Engine::new(TransactionState::Trying, reliability, Timers::default())
    }

    /// An unreliable engine retransmitting from `t0` with Timer A's doubling.
    fn retransmitting(t0: Instant) -> Engine {
        let mut engine = engine(Reliability::Unreliable);
        engine.start_retransmission(t0, bytes("request"), Duration::MAX);
        engine
    }

    #[test]
    fn a_late_wake_up_retransmits_once_and_reschedules_from_now() {
        let t0 = start();
        let mut engine = retransmitting(t0);
        engine.handle_timeout(at(t0, 10_000));
        assert_eq!(engine.poll_transmit(), Some(bytes("request")));
        assert_eq!(engine.poll_transmit(), None);
        assert_eq!(engine.poll_timeout(), Some(at(t0, 11_000)));
    }

    #[test]
    fn an_early_wake_up_does_nothing() {
        let t0 = start();
        let mut engine = retransmitting(t0);
        engine.end_after(t0, Duration::from_secs(1), Ending::Timeout);
        engine.handle_timeout(at(t0, 499));
        assert_eq!(engine.poll_transmit(), None);
        assert_eq!(engine.poll_event(), None);
        assert_eq!(engine.poll_timeout(), Some(at(t0, 500)));
    }

    #[test]
    fn the_ending_wins_over_a_retransmission_due_at_the_same_time() {
        let t0 = start();
        let mut engine = retransmitting(t0);
        engine.end_after(t0, Duration::from_millis(500), Ending::Timeout);
        engine.handle_timeout(at(t0, 500));
        assert_eq!(engine.poll_transmit(), None);
        assert_eq!(engine.poll_event(), Some(TransactionEvent::Timeout));
        assert_eq!(engine.poll_event(), Some(TransactionEvent::Terminated));
        assert_eq!(engine.poll_timeout(), None);
    }

    #[test]
    fn a_zero_ending_terminates_at_once_and_only_once() {
        let t0 = start();
        let mut engine = engine(Reliability::Reliable);
        engine.end_after(t0, Duration::ZERO, Ending::Quietly);
        assert_eq!(engine.state(), TransactionState::Terminated);
        engine.terminate();
        engine.end_after(t0, Duration::ZERO, Ending::Timeout);
        engine.end_after(t0, Duration::from_secs(1), Ending::Timeout);
        engine.start_retransmission(t0, bytes("request"), Duration::MAX);
        assert_eq!(engine.poll_timeout(), None, "no timer after Terminated");
        assert_eq!(engine.poll_event(), Some(TransactionEvent::Terminated));
        assert_eq!(engine.poll_event(), None);
    }

    #[test]
    fn reliable_transports_never_arm_retransmissions() {
        let t0 = start();
        let mut engine = engine(Reliability::Reliable);
        engine.start_retransmission(t0, bytes("request"), Duration::MAX);
        assert_eq!(engine.poll_timeout(), None);
    }
}
