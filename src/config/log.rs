//! `[log]` of the main file: how the process writes its log (read before
//! anything else, so the rest of the start-up is logged the same way).

use std::path::Path;

use serde::Deserialize;

use super::problems::{Origin, Problems};

/// Log lines for people, or one JSON object a line for machines (journald,
/// Loki, an ELK pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

/// `[log]` as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, or `info,greffier::transcription=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

pub(crate) fn validate_log(raw: RawLog, origin: Origin<'_>, problems: &mut Problems) -> LogConfig {
    let defaults = LogConfig::default();
    let level = raw.level.unwrap_or(defaults.level.clone());
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        problems.push(
            origin.file,
            origin.key("level"),
            format!("{level:?}: expected a level (error, warn, info, debug, trace) or filter directives"),
        );
        return defaults;
    }
    LogConfig {
        format: raw.format.unwrap_or_default(),
        level,
    }
}

impl LogConfig {
    /// The `[log]` section of the main file at `path`, read on its own before
    /// logging starts; anything wrong gives the defaults here, and the whole
    /// load reports it right after.
    pub fn peek(path: &Path) -> LogConfig {
        #[derive(Deserialize)]
        struct OnlyLog {
            log: Option<RawLog>,
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return LogConfig::default();
        };
        let Ok(only) = toml::from_str::<OnlyLog>(&text) else {
            return LogConfig::default();
        };
        let mut ignored = Problems::default();
        only.log.map_or_else(LogConfig::default, |raw| {
            validate_log(raw, Origin::new(path, "log"), &mut ignored)
        })
    }
}
