//! Token buckets of new dialogs per source address, so that one flooding source
//! cannot take the capacity every other source needs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained new dialogs per second per source.
    pub per_second: f64,
    /// How many may arrive at once.
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
    last_prune: Option<Instant>,
}

/// How long a source must wait before it may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryAfter(pub u32);

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
            last_prune: None,
        }
    }

    pub(crate) fn set_limit(&mut self, limit: RateLimit) {
        self.limit = limit;
    }

    /// Takes one token for `source`, or says how long until one is there.
    pub(crate) fn admit(&mut self, now: Instant, source: IpAddr) -> Result<(), RetryAfter> {
        self.prune(now);
        let limit = self.limit;
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: limit.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            let wait = if limit.per_second > 0.0 {
                (missing / limit.per_second).ceil()
            } else {
                60.0
            };
            Err(RetryAfter(wait.clamp(1.0, 3600.0) as u32))
        }
    }

    /// Forgets full buckets now and then so the table does not grow with every source
    /// ever seen.
    fn prune(&mut self, now: Instant) {
        const EVERY: Duration = Duration::from_secs(10);
        if self
            .last_prune
            .is_some_and(|last| now.saturating_duration_since(last) < EVERY)
        {
            return;
        }
        self.last_prune = Some(now);
        let limit = self.limit;
        self.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens + elapsed * limit.per_second < limit.burst
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_then_refill() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(RateLimit {
            per_second: 10.0,
            burst: 3.0,
        });
        let source: IpAddr = [127, 0, 0, 9].into();
        for _ in 0..3 {
            assert_eq!(limiter.admit(start, source), Ok(()));
        }
        assert_eq!(limiter.admit(start, source), Err(RetryAfter(1)));
        assert_eq!(
            limiter.admit(start + Duration::from_millis(100), source),
            Ok(())
        );
    }

    #[test]
    fn sources_are_independent() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 1.0,
        });
        let flooder: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        assert!(limiter.admit(start, flooder).is_ok());
        assert!(limiter.admit(start, flooder).is_err());
        assert!(limiter.admit(start, other).is_ok());
    }
}
