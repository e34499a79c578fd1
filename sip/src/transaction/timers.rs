use std::time::Duration;

use super::TransactionError;

/// Whether the transport retransmits for us (TCP, TLS, SCTP) or not (UDP). It
/// decides which §17 timers run: reliable transports need no retransmission
/// timers (A, E, G) and no time to absorb retransmissions (D, I, J, K are zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    Reliable,
    Unreliable,
}

/// RFC 3261 §17 base timers; every other timer derives from them (Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    t1: Duration,
    t2: Duration,
    t4: Duration,
}

/// Bounds that keep every derived deadline representable and every
/// retransmission loop finite, whatever a configuration file says.
const SHORTEST_T1: Duration = Duration::from_millis(1);
const LONGEST_BASE_TIMER: Duration = Duration::from_secs(3600);
/// RFC 3261 §17.1.1.2: Timer D is at least 32 s on unreliable transports.
const MINIMUM_TIMER_D: Duration = Duration::from_secs(32);

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// T1 is the RTT estimate, T2 the retransmission cap, T4 how long the network
    /// may hold a message. Requires `1 ms <= t1 <= t2 <= 1 h` and `0 < t4 <= 1 h`.
    pub fn new(t1: Duration, t2: Duration, t4: Duration) -> Result<Timers, TransactionError> {
        if t1 < SHORTEST_T1 {
            return Err(TransactionError::InvalidTimers("T1 must be at least 1 ms"));
        }
        if t2 < t1 {
            return Err(TransactionError::InvalidTimers(
                "T2 must not be shorter than T1",
            ));
        }
        if t4.is_zero() {
            return Err(TransactionError::InvalidTimers("T4 must not be zero"));
        }
        if t2 > LONGEST_BASE_TIMER || t4 > LONGEST_BASE_TIMER {
            return Err(TransactionError::InvalidTimers(
                "T2 and T4 must not exceed one hour",
            ));
        }
        Ok(Timers { t1, t2, t4 })
    }

    pub fn t1(&self) -> Duration {
        self.t1
    }

    pub fn t2(&self) -> Duration {
        self.t2
    }

    pub fn t4(&self) -> Duration {
        self.t4
    }

    /// 64·T1: Timers B, F, H, J (unreliable), L and M.
    pub fn transaction_timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// First interval of Timers A, E and G; `None` when the transport retransmits.
    pub(crate) fn first_retransmission(&self, reliability: Reliability) -> Option<Duration> {
        match reliability {
            Reliability::Reliable => None,
            Reliability::Unreliable => Some(self.t1),
        }
    }

    /// Timer D on unreliable transports: long enough to see every final the
    /// server retransmits until its Timer H, hence never shorter than 64·T1.
    /// (On reliable transports it is zero once the ACK is sent.)
    pub(crate) fn timer_d(&self) -> Duration {
        self.transaction_timeout().max(MINIMUM_TIMER_D)
    }

    /// Timers I and K.
    pub(crate) fn wait_for_stray_messages(&self, reliability: Reliability) -> Duration {
        self.on_unreliable(reliability, self.t4)
    }

    /// Timer J.
    pub(crate) fn timer_j(&self, reliability: Reliability) -> Duration {
        self.on_unreliable(reliability, self.transaction_timeout())
    }

    fn on_unreliable(&self, reliability: Reliability, duration: Duration) -> Duration {
        match reliability {
            Reliability::Reliable => Duration::ZERO,
            Reliability::Unreliable => duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_rfc_values() {
        let timers = Timers::default();
        assert_eq!(timers.t1(), Duration::from_millis(500));
        assert_eq!(timers.t2(), Duration::from_secs(4));
        assert_eq!(timers.t4(), Duration::from_secs(5));
        assert_eq!(timers.transaction_timeout(), Duration::from_secs(32));
    }

    #[test]
    fn reliable_transports_have_no_retransmission_and_zero_wait_timers() {
        let timers = Timers::default();
        let reliable = Reliability::Reliable;
        assert_eq!(timers.first_retransmission(reliable), None);
        assert_eq!(timers.wait_for_stray_messages(reliable), Duration::ZERO);
        assert_eq!(timers.timer_j(reliable), Duration::ZERO);
    }

    #[test]
    fn unreliable_transports_use_table_4_values() {
        let timers = Timers::default();
        let unreliable = Reliability::Unreliable;
        assert_eq!(
            timers.first_retransmission(unreliable),
            Some(Duration::from_millis(500))
        );
        assert_eq!(timers.timer_d(), Duration::from_secs(32));
        assert_eq!(
            timers.wait_for_stray_messages(unreliable),
            Duration::from_secs(5)
        );
        assert_eq!(timers.timer_j(unreliable), Duration::from_secs(32));
    }

    #[test]
    fn timer_d_follows_a_long_t1() {
        let t1 = Duration::from_secs(1);
        let timers = Timers::new(t1, Duration::from_secs(4), Duration::from_secs(5)).unwrap();
        assert_eq!(timers.timer_d(), Duration::from_secs(64));
    }

    #[test]
    fn rejects_timers_that_would_loop_or_overflow() {
        let second = Duration::from_secs(1);
        assert!(Timers::new(Duration::ZERO, second, second).is_err());
        assert!(Timers::new(second, Duration::from_millis(10), second).is_err());
        assert!(Timers::new(second, second, Duration::ZERO).is_err());
        assert!(Timers::new(second, Duration::from_secs(7200), second).is_err());
        assert!(Timers::new(second, second, Duration::from_secs(7200)).is_err());
        assert!(Timers::new(second, second, second).is_ok());
    }
}
