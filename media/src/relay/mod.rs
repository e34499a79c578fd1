//! The RTP/RTCP relay: both legs of a call send their media to the gateway,
//! which forwards it to the other leg and hands a copy of each RTP datagram to
//! the call's recorder.
//!
//! [`CallRelay`] is the sans-IO core (latching, forwarding decisions, the
//! silence timeout, statistics); [`spawn_relay`] runs it on the four sockets of
//! a call in one tokio task and returns a [`RelayHandle`].
//!
//! Rules, in short (the crate README has the long form):
//! - a leg accepts media from the address its SDP announced; another source
//!   is learned only while nothing came from that address, after a few
//!   consecutive packets of one SSRC, and never under strict source (see
//!   `latch.rs`). Any other source is dropped and counted. A changed SDP
//!   address reopens the latch.
//! - media goes only to addresses the node allows ([`MediaDestinations`]),
//!   never to the relay's own ports; a refused SDP address is unknown.
//! - the call's media times out when every *active* leg has sent no RTP for
//!   the configured time. A leg is active when both legs announced an address
//!   and its own direction is `sendrecv`: an unanswered call or a leg on hold
//!   never counts, and any SDP change restarts the silence clocks.

mod arena;
mod core;
mod destinations;
mod latch;
mod metrics;
mod packet;
mod shell;
mod silence;
mod stats;

pub use self::core::{Action, CallRelay, Decision, RelayConfig, RelayEvent};
pub use self::destinations::MediaDestinations;
pub use self::latch::{LatchRules, DEFAULT_LEARNING_PACKETS};
pub use self::metrics::RelayMetrics;
pub use self::shell::{spawn_relay, LocalAddresses, RecorderCopy, RelayHandle, RelayStopped};
pub use self::stats::{DirectionStats, DropCounts, LegSummary, RelayStats};
pub use crate::recorder::Leg;

use std::net::SocketAddr;

/// Which of a leg's two sockets a datagram arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    Rtp,
    Rtcp,
}

/// Why the relay did not forward a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// From a source other than the one the leg latched to.
    Bleed,
    /// From a source other than the SDP address, not (yet) learned: fewer
    /// consecutive same-SSRC packets than learning needs.
    Learning,
    /// From a source other than the SDP address, under strict source.
    StrictSource,
    /// To or from an address media may not be sent to (outside the node's
    /// media destinations, or one of the gateway's own ports).
    ForbiddenAddress,
    /// Not an RTP (or RTCP) packet.
    Malformed,
    /// The other leg has no address to send to yet, or is on hold (`c=0.0.0.0`).
    NoDestination,
    /// The recorder's channel was full; only the recorder's copy is lost.
    RecorderFull,
    /// The socket refused the datagram.
    SendFailed,
}

impl DropReason {
    pub const ALL: [DropReason; 8] = [
        DropReason::Bleed,
        DropReason::Learning,
        DropReason::StrictSource,
        DropReason::ForbiddenAddress,
        DropReason::Malformed,
        DropReason::NoDestination,
        DropReason::RecorderFull,
        DropReason::SendFailed,
    ];

    /// The `reason` label of `greffier_media_dropped_total`.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Bleed => "bleed",
            DropReason::Learning => "learning",
            DropReason::StrictSource => "strict_source",
            DropReason::ForbiddenAddress => "forbidden_address",
            DropReason::Malformed => "malformed",
            DropReason::NoDestination => "no_destination",
            DropReason::RecorderFull => "recorder_full",
            DropReason::SendFailed => "send_failed",
        }
    }

    fn index(self) -> usize {
        match self {
            DropReason::Bleed => 0,
            DropReason::Learning => 1,
            DropReason::StrictSource => 2,
            DropReason::ForbiddenAddress => 3,
            DropReason::Malformed => 4,
            DropReason::NoDestination => 5,
            DropReason::RecorderFull => 6,
            DropReason::SendFailed => 7,
        }
    }
}

/// The SDP direction attribute a leg announced for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaDirection {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// Where a leg wants its media, as its latest SDP (offer, answer or re-offer)
/// announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteMedia {
    /// `None` for `c=0.0.0.0` (RFC 2543 hold), port 0 or no SDP yet: send nothing.
    pub rtp: Option<SocketAddr>,
    pub rtcp: Option<SocketAddr>,
    pub direction: MediaDirection,
}

impl RemoteMedia {
    /// From an SDP `c=`/`m=` pair, with RTCP on the next port (RFC 3550 §11).
    /// An unspecified address or port 0 means "do not send".
    pub fn from_sdp(rtp: SocketAddr, direction: MediaDirection) -> Self {
        let rtp = Some(rtp).filter(|address| !address.ip().is_unspecified() && address.port() != 0);
        let rtcp = rtp.and_then(|address| {
            let port = address.port().checked_add(1)?;
            Some(SocketAddr::new(address.ip(), port))
        });
        Self {
            rtp,
            rtcp,
            direction,
        }
    }

    /// Replaces the RTCP address with an `a=rtcp` attribute's.
    pub fn with_rtcp(mut self, rtcp: SocketAddr) -> Self {
        self.rtcp =
            Some(rtcp).filter(|address| !address.ip().is_unspecified() && address.port() != 0);
        self
    }

    /// Active legs are the ones whose silence can end the call.
    fn is_active(&self) -> bool {
        self.rtp.is_some() && self.direction == MediaDirection::SendRecv
    }
}

fn leg_index(leg: Leg) -> usize {
    match leg {
        Leg::Caller => 0,
        Leg::Callee => 1,
    }
}

#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod latch_tests;
