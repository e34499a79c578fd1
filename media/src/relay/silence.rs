//! The media timeout: when has a call gone quiet?
//!
//! Only *active* legs count: while both legs have announced an address, a
//! leg whose direction is `sendrecv`. A leg on hold (`sendonly`, `recvonly`,
//! `inactive`), a call on hold with `c=0.0.0.0`, or a call not answered yet
//! may legitimately send nothing for as long as it likes. The call
//! times out when at least one leg is active and every active leg has been
//! silent for the timeout. A media change (re-INVITE, resume from hold)
//! restarts every leg's silence clock, so a long hold does not time out the
//! moment the call resumes.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub(super) struct SilenceWatch {
    timeout: Duration,
    quiet_since: [Instant; 2],
    active: [bool; 2],
    /// Set once the timeout has been reported, until media or SDP come back.
    reported: bool,
}

impl SilenceWatch {
    pub(super) fn new(now: Instant, timeout: Duration) -> Self {
        Self {
            timeout,
            quiet_since: [now; 2],
            active: [false; 2],
            reported: false,
        }
    }

    pub(super) fn heard(&mut self, now: Instant, leg: usize) {
        if let Some(since) = self.quiet_since.get_mut(leg) {
            *since = now;
        }
        if self.active.get(leg).copied().unwrap_or(false) {
            self.reported = false;
        }
    }

    pub(super) fn media_changed(&mut self, now: Instant, active: [bool; 2]) {
        self.active = active;
        self.quiet_since = [now; 2];
        self.reported = false;
    }

    /// When the call will have been quiet for the timeout, if nothing is heard.
    pub(super) fn deadline(&self) -> Option<Instant> {
        if self.reported {
            return None;
        }
        self.quiet_since
            .iter()
            .zip(self.active)
            .filter(|(_, active)| *active)
            .map(|(since, _)| *since + self.timeout)
            .max()
    }

    /// The moment the silence started, once it has lasted the timeout.
    pub(super) fn check(&mut self, now: Instant) -> Option<Instant> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        self.reported = true;
        Some(deadline - self.timeout)
    }
}
