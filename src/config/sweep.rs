//! `[retention]` of the main file: how often the gateway sweeps expired
//! data (the tenants' retention itself is in their files).

use std::time::Duration;

use serde::Deserialize;

use super::problems::{Origin, Problems};

/// Sweeping more often than this only loads the store.
const MIN_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Data may outlive its retention by at most this.
const MAX_SWEEP_EVERY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSweep {
    sweep_every: Option<String>,
}

/// When the node's retention sweeper runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepConfig {
    pub sweep_every: Duration,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            sweep_every: Duration::from_secs(3600),
        }
    }
}

pub(crate) fn validate_sweep(
    raw: RawSweep,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> SweepConfig {
    let Some(text) = raw.sweep_every else {
        return SweepConfig::default();
    };
    match parse_duration(&text) {
        Some(every) if (MIN_SWEEP_EVERY..=MAX_SWEEP_EVERY).contains(&every) => {
            SweepConfig { sweep_every: every }
        }
        Some(_) => {
            problems.push(
                origin.file,
                origin.key("sweep_every"),
                "must be between 1m and 24h",
            );
            SweepConfig::default()
        }
        None => {
            problems.push(
                origin.file,
                origin.key("sweep_every"),
                format!("{text:?}: expected a number and a unit, such as \"15m\" or \"1h\""),
            );
            SweepConfig::default()
        }
    }
}

/// `"90s"`, `"15m"`, `"1h"`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(unit_at);
    let count: u64 = digits.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    count.checked_mul(seconds).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "h", "1", "1d", "-1h", "1.5h", "1 h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
