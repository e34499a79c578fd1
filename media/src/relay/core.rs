//! The sans-IO relay of one call: two legs, two sockets each.

use super::destinations::MediaDestinations;
use super::latch::{Admission, Latch, LatchRules, Learnable};
use super::packet::{classify, Classified};
use super::silence::SilenceWatch;
use super::stats::{DirectionStats, LegSummary, RelayStats};
use super::{leg_index, DropReason, Leg, PacketKind, RemoteMedia};
use greffier_types::PerLeg;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A jump of more than this many sequence numbers within one SSRC is counted
/// as a discontinuity (reordering stays well below it).
const SEQUENCE_JUMP: u16 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Silence on every active leg for this long ends the call's media.
    pub rtp_timeout: Duration,
    /// Which sources a leg accepts.
    pub latching: LatchRules,
    /// Where media may be sent; shared by every call of the node.
    pub destinations: Arc<MediaDestinations>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the datagram unchanged to `to`, from `via`'s socket of the kind it
    /// arrived on.
    Forward {
        to: SocketAddr,
        via: Leg,
    },
    Drop(DropReason),
}

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// Hand a copy to the recorder, as audio of the leg it arrived on. Set for
    /// every RTP packet accepted from a leg's latched source, forwarded or not.
    pub record: bool,
}

impl Decision {
    fn drop(reason: DropReason) -> Self {
        Self {
            action: Action::Drop(reason),
            record: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// A leg's socket latched to a source address.
    Latched {
        leg: Leg,
        kind: PacketKind,
        source: SocketAddr,
    },
    /// No active leg has sent RTP since `silent_since`, for the configured
    /// timeout. The relay keeps running; ending the call is the SIP side's job.
    MediaTimeout { silent_since: Instant },
    /// The relay task ended and released its ports (reported by the shell).
    Stopped { stats: Box<RelayStats> },
}

#[derive(Debug, Clone, Copy)]
struct LegState {
    remote: RemoteMedia,
    rtp: Latch,
    rtcp: Latch,
    last_rtp: Option<(u32, u16)>,
    summary: LegSummary,
}

impl LegState {
    fn new() -> Self {
        Self {
            remote: RemoteMedia::default(),
            rtp: Latch::new(),
            rtcp: Latch::new(),
            last_rtp: None,
            summary: LegSummary::default(),
        }
    }

    fn latch_mut(&mut self, kind: PacketKind) -> &mut Latch {
        match kind {
            PacketKind::Rtp => &mut self.rtp,
            PacketKind::Rtcp => &mut self.rtcp,
        }
    }

    fn latch(&self, kind: PacketKind) -> &Latch {
        match kind {
            PacketKind::Rtp => &self.rtp,
            PacketKind::Rtcp => &self.rtcp,
        }
    }

    fn follow_stream(&mut self, ssrc: u32, sequence: u16) {
        match self.last_rtp {
            Some((last_ssrc, _)) if last_ssrc != ssrc => self.summary.ssrc_changes += 1,
            Some((_, last_sequence)) => {
                let forward = sequence.wrapping_sub(last_sequence);
                let backward = last_sequence.wrapping_sub(sequence);
                if forward.min(backward) > SEQUENCE_JUMP {
                    self.summary.sequence_jumps += 1;
                }
            }
            None => {}
        }
        self.last_rtp = Some((ssrc, sequence));
    }
}

/// The relay state of one call. Leg A is the caller, leg B the callee; a
/// datagram arriving on one leg's socket leaves through the other leg's socket
/// of the same kind.
#[derive(Debug)]
pub struct CallRelay {
    legs: [LegState; 2],
    silence: SilenceWatch,
    forwarded: [DirectionStats; 2],
    dropped: super::DropCounts,
    events: VecDeque<RelayEvent>,
    latching: LatchRules,
    destinations: Arc<MediaDestinations>,
}

impl CallRelay {
    pub fn new(now: Instant, config: RelayConfig) -> Self {
        Self {
            latching: config.latching,
            destinations: config.destinations,
            legs: [LegState::new(), LegState::new()],
            silence: SilenceWatch::new(now, config.rtp_timeout),
            forwarded: [DirectionStats::default(); 2],
            dropped: super::DropCounts::default(),
            events: VecDeque::new(),
        }
    }

    /// Applies a leg's latest SDP (offer, answer, re-offer, hold, resume).
    pub fn set_remote(&mut self, now: Instant, leg: Leg, remote: RemoteMedia) {
        let (state, destinations) = self.leg_and_destinations(leg);
        state.remote = remote;
        state.rtp.announce(remote.rtp, destinations);
        state.rtcp.announce(remote.rtcp, destinations);
        let [a, b] = self.legs.each_ref().map(|state| state.remote);
        // A leg's silence counts only once both legs have somewhere to send
        // (the call is answered and not on hold with `c=0.0.0.0`).
        let answered = a.rtp.is_some() && b.rtp.is_some();
        let active = [answered && a.is_active(), answered && b.is_active()];
        self.silence.media_changed(now, active);
    }

    pub fn remote(&self, leg: Leg) -> RemoteMedia {
        self.leg(leg).remote
    }

    /// Decides the fate of a datagram that arrived from `source` on `leg`'s
    /// socket of `kind`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        leg: Leg,
        kind: PacketKind,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Decision {
        let Some(classified) = classify(kind, datagram) else {
            return self.dropped(DropReason::Malformed);
        };
        let rules = self.latching;
        let (state, destinations) = self.leg_and_destinations(leg);
        let learnable = match (kind, state.rtp.latched()) {
            (PacketKind::Rtp, _) => Learnable::Any,
            (PacketKind::Rtcp, Some(rtp_source)) => Learnable::Host(rtp_source.ip()),
            (PacketKind::Rtcp, None) => Learnable::Nobody,
        };
        let ssrc = classified.ssrc();
        match state
            .latch_mut(kind)
            .admit(source, ssrc, rules, destinations, learnable)
        {
            Admission::Accepted => {}
            Admission::Latched => self
                .events
                .push_back(RelayEvent::Latched { leg, kind, source }),
            Admission::Bleed => return self.dropped(DropReason::Bleed),
            Admission::Learning => return self.dropped(DropReason::Learning),
            Admission::NotAnnounced => return self.dropped(DropReason::StrictSource),
            Admission::Forbidden => return self.dropped(DropReason::ForbiddenAddress),
        }
        let record = match classified {
            Classified::Rtp { ssrc, sequence } => {
                self.leg_mut(leg).follow_stream(ssrc, sequence);
                self.silence.heard(now, leg_index(leg));
                true
            }
            Classified::Rtcp { .. } => false,
        };
        let via = leg.other();
        let other = self.leg(via).latch(kind);
        let Some(to) = other.destination() else {
            let reason = if other.refused() {
                DropReason::ForbiddenAddress
            } else {
                DropReason::NoDestination
            };
            self.dropped.count(reason);
            return Decision {
                action: Action::Drop(reason),
                record,
            };
        };
        if let Some(direction) = self.forwarded.get_mut(leg_index(leg)) {
            direction.packets += 1;
            direction.bytes += datagram.len() as u64;
        }
        Decision {
            action: Action::Forward { to, via },
            record,
        }
    }

    /// Counts a drop the shell made after the decision (recorder full, send
    /// refused).
    pub fn note_dropped(&mut self, reason: DropReason) {
        self.dropped.count(reason);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.silence.deadline()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(silent_since) = self.silence.check(now) {
            self.events
                .push_back(RelayEvent::MediaTimeout { silent_since });
        }
    }

    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    pub fn stats(&self) -> RelayStats {
        let summary = |state: &LegState| LegSummary {
            rtp_source: state.rtp.latched(),
            rtcp_source: state.rtcp.latched(),
            ..state.summary
        };
        RelayStats {
            a_to_b: self.forwarded[0],
            b_to_a: self.forwarded[1],
            dropped: self.dropped,
            legs: PerLeg::new(
                summary(self.leg(Leg::Caller)),
                summary(self.leg(Leg::Callee)),
            ),
        }
    }

    fn dropped(&mut self, reason: DropReason) -> Decision {
        self.dropped.count(reason);
        Decision::drop(reason)
    }

    fn leg(&self, leg: Leg) -> &LegState {
        let [a, b] = &self.legs;
        match leg {
            Leg::Caller => a,
            Leg::Callee => b,
        }
    }

    /// A leg's state beside the destination policy (disjoint borrows, so the
    /// packet path needs no reference count).
    fn leg_and_destinations(&mut self, leg: Leg) -> (&mut LegState, &MediaDestinations) {
        let [a, b] = &mut self.legs;
        let state = match leg {
            Leg::Caller => a,
            Leg::Callee => b,
        };
        (state, &self.destinations)
    }

    fn leg_mut(&mut self, leg: Leg) -> &mut LegState {
        let [a, b] = &mut self.legs;
        match leg {
            Leg::Caller => a,
            Leg::Callee => b,
        }
    }
}
