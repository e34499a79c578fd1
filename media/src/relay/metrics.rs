//! Relay metrics, registered once so the packet path only bumps atomics.
//!
//! Handles resolve against the recorder installed when [`RelayMetrics::register`]
//! runs: register after installing the exporter.

use super::{leg_index, DropReason, Leg};
use metrics::{Counter, Gauge};

#[derive(Debug, Clone)]
pub struct RelayMetrics {
    active_calls: Gauge,
    packets: [Counter; 2],
    bytes: [Counter; 2],
    dropped: [Counter; DropReason::ALL.len()],
}

impl RelayMetrics {
    pub fn register() -> Self {
        let direction = ["a_to_b", "b_to_a"];
        Self {
            active_calls: metrics::gauge!("greffier_media_active_calls"),
            packets: direction.map(|direction| {
                metrics::counter!("greffier_media_relayed_packets_total", "direction" => direction)
            }),
            bytes: direction.map(|direction| {
                metrics::counter!("greffier_media_relayed_bytes_total", "direction" => direction)
            }),
            dropped: DropReason::ALL.map(|reason| {
                metrics::counter!("greffier_media_dropped_total", "reason" => reason.label())
            }),
        }
    }

    pub(super) fn call_started(&self) {
        self.active_calls.increment(1.0);
    }

    pub(super) fn call_ended(&self) {
        self.active_calls.decrement(1.0);
    }

    /// A datagram that arrived on `from` was sent to the other leg.
    pub(super) fn relayed(&self, from: Leg, bytes: usize) {
        let index = leg_index(from);
        if let (Some(packets), Some(total)) = (self.packets.get(index), self.bytes.get(index)) {
            packets.increment(1);
            total.increment(bytes as u64);
        }
    }

    pub(super) fn dropped(&self, reason: DropReason) {
        if let Some(counter) = self.dropped.get(reason.index()) {
            counter.increment(1);
        }
    }
}
