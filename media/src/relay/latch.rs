//! Symmetric latching of one socket of one leg.

use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nobody has sent yet: the first valid packet latches.
    Open,
    /// Latched to a source other than the announced address (NAT). The
    /// announced address may still take the latch over, once.
    Provisional(SocketAddr),
    /// Latched for good.
    Locked(SocketAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// From the latched source.
    Accepted,
    /// This packet (re)latched the socket to its source.
    Latched,
    /// From anyone else: RTP bleed.
    Bleed,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Latch {
    announced: Option<SocketAddr>,
    state: State,
}

impl Latch {
    pub(super) fn new() -> Self {
        Self {
            announced: None,
            state: State::Open,
        }
    }

    /// Records the address the SDP announced; a different one reopens the
    /// latch, so the next sender (the phone after a re-INVITE or a transfer)
    /// can latch again.
    pub(super) fn announce(&mut self, address: Option<SocketAddr>) {
        if address != self.announced {
            self.announced = address;
            self.state = State::Open;
        }
    }

    pub(super) fn admit(&mut self, source: SocketAddr) -> Admission {
        let from_announced = self.announced == Some(source);
        match self.state {
            State::Locked(latched) | State::Provisional(latched) if latched == source => {
                Admission::Accepted
            }
            State::Open | State::Provisional(_) if from_announced => {
                self.state = State::Locked(source);
                Admission::Latched
            }
            State::Open => {
                self.state = State::Provisional(source);
                Admission::Latched
            }
            State::Provisional(_) | State::Locked(_) => Admission::Bleed,
        }
    }

    /// Where to send to this leg: the latched source (symmetric RTP, so NAT
    /// works), else the announced address; nothing while the leg announces
    /// no address (on hold with `c=0.0.0.0`, or no SDP yet).
    pub(super) fn destination(&self) -> Option<SocketAddr> {
        let announced = self.announced?;
        Some(self.latched().unwrap_or(announced))
    }

    pub(super) fn latched(&self) -> Option<SocketAddr> {
        match self.state {
            State::Provisional(latched) | State::Locked(latched) => Some(latched),
            State::Open => None,
        }
    }
}
