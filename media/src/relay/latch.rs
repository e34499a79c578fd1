//! Which source one socket of one leg accepts media from: strict source with
//! learning, as rtpengine calls it.
//!
//! A leg's relay port is reachable by anyone, so the first packet to arrive
//! proves nothing: latching on it let a single datagram sent ahead of the
//! real peer steal the other leg's audio and inject audio into the recording.
//! The rules:
//! - the address the leg's SDP announced is always accepted, and once
//!   anything has come from it, nothing else is until the SDP changes;
//! - while nothing has come from it (a peer behind NAT announces an address
//!   it does not send from), another source is learned after
//!   [`LatchRules::learning_packets`] consecutive packets of one SSRC; its
//!   earlier packets are dropped, and a later packet from the announced
//!   address takes the leg back;
//! - with [`LatchRules::strict_source`], only the announced address is ever
//!   accepted;
//! - an address outside the [`MediaDestinations`] is neither announced nor
//!   learned: the relay would have to send there;
//! - RTCP has its own latch under the same rules, and learns only a source on
//!   the host the leg's RTP comes from: RTCP goes with its RTP session
//!   (RFC 3550 §11), and a leg that sends no RTCP must not hand its RTCP port
//!   to whoever sends three reports first.

use super::destinations::MediaDestinations;
use std::net::{IpAddr, SocketAddr};

/// Consecutive same-SSRC packets that let a source other than the announced
/// one be learned.
pub const DEFAULT_LEARNING_PACKETS: u8 = 3;

/// How a leg's sockets pick the source they accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchRules {
    /// Accept media from the SDP address only; peers behind NAT then get no
    /// media through the relay.
    pub strict_source: bool,
    /// Consecutive packets with one SSRC from one source that learn it
    /// (at least 1).
    pub learning_packets: u8,
}

impl Default for LatchRules {
    fn default() -> Self {
        Self {
            strict_source: false,
            learning_packets: DEFAULT_LEARNING_PACKETS,
        }
    }
}

/// Which foreign sources a latch may learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Learnable {
    /// Any source (an RTP latch).
    Any,
    /// Sources on this host only (an RTCP latch whose RTP is latched).
    Host(IpAddr),
    /// None yet (an RTCP latch whose RTP is not latched).
    Nobody,
}

impl Learnable {
    fn permits(self, source: SocketAddr) -> bool {
        match self {
            Learnable::Any => true,
            Learnable::Host(ip) => source.ip() == ip,
            Learnable::Nobody => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    source: SocketAddr,
    ssrc: u32,
    packets: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing accepted yet; `candidate` counts a foreign source's packets.
    Open { candidate: Option<Candidate> },
    /// A foreign source was learned; the announced address may take over.
    Learned(SocketAddr),
    /// The announced address has sent: it alone is accepted (also while the
    /// leg is on hold and announces no address).
    Locked(SocketAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// From the accepted source.
    Accepted,
    /// This packet (re)latched the socket to its source.
    Latched,
    /// From another source after the socket latched: RTP bleed.
    Bleed,
    /// From a foreign source still being learned, or one this latch may not
    /// learn.
    Learning,
    /// Not from the announced address, under strict source.
    NotAnnounced,
    /// From an address the relay may not send to.
    Forbidden,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Latch {
    /// The SDP address, when the relay may send there.
    announced: Option<SocketAddr>,
    /// The SDP named an address the relay may not send to.
    refused: bool,
    state: State,
}

impl Latch {
    pub(super) fn new() -> Self {
        Self {
            announced: None,
            refused: false,
            state: State::Open { candidate: None },
        }
    }

    /// Records the address the SDP announced; a different one reopens the
    /// latch, so that the phone after a re-INVITE or a transfer is accepted.
    /// A refused address counts as no address at all. No address (hold with
    /// `c=0.0.0.0`, RFC 3264 §8.4) says "send me nothing", not "I moved": the
    /// latched source stays, so music on hold still flows.
    pub(super) fn announce(
        &mut self,
        address: Option<SocketAddr>,
        destinations: &MediaDestinations,
    ) {
        let refused = address.is_some_and(|address| !destinations.allows(address));
        let address = address.filter(|_| !refused);
        let on_hold = address.is_none() && !refused;
        if address != self.announced || refused != self.refused {
            self.announced = address;
            self.refused = refused;
            if !on_hold {
                self.state = State::Open { candidate: None };
            }
        }
    }

    pub(super) fn admit(
        &mut self,
        source: SocketAddr,
        ssrc: u32,
        rules: LatchRules,
        destinations: &MediaDestinations,
        learnable: Learnable,
    ) -> Admission {
        match self.state {
            State::Locked(latched) | State::Learned(latched) if latched == source => {
                return Admission::Accepted
            }
            _ if self.announced == Some(source) => {
                self.state = State::Locked(source);
                return Admission::Latched;
            }
            _ => {}
        }
        if rules.strict_source {
            return Admission::NotAnnounced;
        }
        match self.state {
            State::Learned(_) | State::Locked(_) => Admission::Bleed,
            State::Open { .. } if !destinations.allows(source) => Admission::Forbidden,
            State::Open { .. } if !learnable.permits(source) => Admission::Learning,
            State::Open { candidate } => {
                let packets = match candidate {
                    Some(c) if c.source == source && c.ssrc == ssrc => c.packets.saturating_add(1),
                    _ => 1,
                };
                if packets >= rules.learning_packets {
                    self.state = State::Learned(source);
                    Admission::Latched
                } else {
                    let candidate = Candidate {
                        source,
                        ssrc,
                        packets,
                    };
                    self.state = State::Open {
                        candidate: Some(candidate),
                    };
                    Admission::Learning
                }
            }
        }
    }

    /// Where to send to this leg: the accepted source (symmetric RTP, so NAT
    /// works), else the announced address. Nothing while the leg announces no
    /// address (on hold with `c=0.0.0.0`, or no SDP yet), and nothing but a
    /// learned source when its SDP address was refused.
    pub(super) fn destination(&self) -> Option<SocketAddr> {
        match (self.announced, self.refused) {
            (Some(announced), _) => Some(self.latched().unwrap_or(announced)),
            (None, true) => self.latched(),
            (None, false) => None,
        }
    }

    /// The SDP named an address the relay refused.
    pub(super) fn refused(&self) -> bool {
        self.refused
    }

    pub(super) fn latched(&self) -> Option<SocketAddr> {
        match self.state {
            State::Learned(latched) | State::Locked(latched) => Some(latched),
            State::Open { .. } => None,
        }
    }
}
