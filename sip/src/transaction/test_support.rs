//! Drives machines through time without sleeping.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Transaction, TransactionEvent};

/// Tests only need some base instant; every later one is derived from it.
pub(crate) fn start() -> Instant {
    Instant::now()
}

pub(crate) fn at(base: Instant, millis: u64) -> Instant {
    base + Duration::from_millis(millis)
}

pub(crate) fn bytes(text: &'static str) -> Bytes {
    Bytes::from_static(text.as_bytes())
}

pub(crate) fn drain_transmits(tx: &mut impl Transaction) -> Vec<Bytes> {
    std::iter::from_fn(|| tx.poll_transmit()).collect()
}

pub(crate) fn drain_events(tx: &mut impl Transaction) -> Vec<TransactionEvent> {
    std::iter::from_fn(|| tx.poll_event()).collect()
}

/// Fires every timer due up to `until`, exactly at its deadline, and returns
/// when each transmission happened. Events stay queued for the caller.
pub(crate) fn run_until(tx: &mut impl Transaction, until: Instant) -> Vec<Instant> {
    let mut sent = Vec::new();
    let mut wake_ups = 0;
    while let Some(deadline) = tx.poll_timeout().filter(|deadline| *deadline <= until) {
        wake_ups += 1;
        assert!(wake_ups < 10_000, "timers keep firing: a wake-up loop");
        tx.handle_timeout(deadline);
        sent.extend(std::iter::from_fn(|| tx.poll_transmit()).map(|_| deadline));
    }
    sent
}

pub(crate) fn millis_since(base: Instant, instants: &[Instant]) -> Vec<u64> {
    instants
        .iter()
        .map(|instant| instant.duration_since(base).as_millis() as u64)
        .collect()
}

/// Timers E and G on UDP with default timers: T1, doubling, capped at T2,
/// until 64·T1.
pub(crate) const CAPPED_AT_T2_MILLIS: [u64; 10] = [
    500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
];

/// A client transaction's event for a response built by [`response_bytes`].
pub(crate) fn passed_up(code: u16) -> TransactionEvent {
    TransactionEvent::Response {
        code,
        bytes: response_bytes(),
    }
}

pub(crate) fn response_bytes() -> Bytes {
    bytes("response")
}

/// Timer B, F or H ended the transaction.
pub(crate) fn assert_timed_out(tx: &mut impl Transaction) {
    assert_eq!(
        drain_events(tx),
        [TransactionEvent::Timeout, TransactionEvent::Terminated]
    );
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}

/// Runs the timers to just before `deadline`, checks nothing ended, then to
/// `deadline`, checks Timer B, F or H fired there; returns the transmissions.
pub(crate) fn times_out_exactly_at(tx: &mut impl Transaction, deadline: Instant) -> Vec<Instant> {
    let mut sent = run_until(tx, deadline - Duration::from_millis(1));
    assert!(drain_events(tx).is_empty(), "ended before {deadline:?}");
    assert!(!tx.is_terminated());
    sent.extend(run_until(tx, deadline));
    assert_timed_out(tx);
    sent
}
