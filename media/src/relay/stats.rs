//! Per-call counters, read at any time and reported when the call stops.

use std::net::SocketAddr;

use greffier_types::PerLeg;

use super::DropReason;

/// Datagrams forwarded in one direction (RTP and RTCP together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub bleed: u64,
    pub learning: u64,
    pub strict_source: u64,
    pub forbidden_address: u64,
    pub malformed: u64,
    pub no_destination: u64,
    pub recorder_full: u64,
    pub send_failed: u64,
}

impl DropCounts {
    pub fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Bleed => self.bleed,
            DropReason::Learning => self.learning,
            DropReason::StrictSource => self.strict_source,
            DropReason::ForbiddenAddress => self.forbidden_address,
            DropReason::Malformed => self.malformed,
            DropReason::NoDestination => self.no_destination,
            DropReason::RecorderFull => self.recorder_full,
            DropReason::SendFailed => self.send_failed,
        }
    }

    pub(super) fn count(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Bleed => &mut self.bleed,
            DropReason::Learning => &mut self.learning,
            DropReason::StrictSource => &mut self.strict_source,
            DropReason::ForbiddenAddress => &mut self.forbidden_address,
            DropReason::Malformed => &mut self.malformed,
            DropReason::NoDestination => &mut self.no_destination,
            DropReason::RecorderFull => &mut self.recorder_full,
            DropReason::SendFailed => &mut self.send_failed,
        };
        *counter += 1;
    }
}

/// What one leg looked like from the relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegSummary {
    /// The sources the leg's sockets are latched to.
    pub rtp_source: Option<SocketAddr>,
    pub rtcp_source: Option<SocketAddr>,
    /// New SSRCs seen (re-INVITE, transfer, a media server taking over).
    pub ssrc_changes: u64,
    /// Sequence number discontinuities within one SSRC.
    pub sequence_jumps: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub a_to_b: DirectionStats,
    pub b_to_a: DirectionStats,
    pub dropped: DropCounts,
    pub legs: PerLeg<LegSummary>,
}
