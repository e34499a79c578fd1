//! Exponential backoff for store requests: a bounded number of attempts per
//! try, after which the caller keeps its data in the spool and tries again
//! later.

use std::future::Future;
use std::time::Duration;

use crate::store::error::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Attempts per try, the first included (at least one is made).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            attempts: 5,
        }
    }
}

impl Backoff {
    /// The wait before attempt `n + 1` (after `n` failures), doubling from
    /// `initial` up to `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Runs `operation` until it succeeds, fails with an error that retrying
    /// cannot fix, or has used its attempts.
    pub async fn retry<T, F, Fut>(&self, mut operation: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut failures = 0;
        loop {
            match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    failures += 1;
                    if !error.is_transient() || failures >= self.attempts.max(1) {
                        return Err(error);
                    }
                    tracing::debug!(%error, failures, "object store request failed; retrying");
                    tokio::time::sleep(self.delay(failures)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(700),
            attempts: 9,
        };
        let delays: Vec<_> = (1..=5).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700]);
        assert_eq!(backoff.delay(200), Duration::from_millis(700));
    }
}
