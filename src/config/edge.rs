//! `[node]` keys that bound what peers can make the node hold: answers to
//! sources no tenant owns, the proxy's transaction and dialog tables, and TCP
//! connections (docs/security.md).

use std::time::Duration;

use greffier_sip::proxy::{Admission, UnknownSource};
use greffier_sip::transport::TcpLimits;

use super::problems::{Origin, Problems};

/// The raw keys, as `[node]` holds them (every one optional).
#[derive(Debug, Default)]
pub(crate) struct RawEdge {
    pub unknown_source: Option<String>,
    pub max_transactions: Option<u64>,
    pub max_dialogs: Option<u64>,
    pub tcp_max_connections: Option<u64>,
    pub tcp_max_connections_per_source: Option<u64>,
    pub tcp_idle_timeout_secs: Option<u64>,
}

/// What peers may make the node hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Requests from sources no tenant owns: one stateless `403`, or nothing.
    pub unknown_source: UnknownSource,
    pub max_transactions: usize,
    pub max_dialogs: usize,
    /// Inbound TCP connections at once, before the descriptor reserve (the node
    /// may allow fewer when its descriptor limit is low).
    pub tcp_max_connections: usize,
    pub tcp_max_connections_per_source: usize,
    pub tcp_idle_timeout: Duration,
}

impl EdgeConfig {
    /// The proxy core's share.
    pub fn admission(&self) -> Admission {
        Admission {
            unknown_source: self.unknown_source,
            max_transactions: self.max_transactions,
            max_dialogs: self.max_dialogs,
        }
    }

    /// The TCP transport's share.
    pub fn tcp_limits(&self) -> TcpLimits {
        TcpLimits {
            max_connections: self.tcp_max_connections,
            max_connections_per_source: self.tcp_max_connections_per_source,
            idle_timeout: self.tcp_idle_timeout,
        }
    }
}

impl Default for EdgeConfig {
    fn default() -> EdgeConfig {
        let admission = Admission::default();
        let tcp = TcpLimits::default();
        EdgeConfig {
            unknown_source: admission.unknown_source,
            max_transactions: admission.max_transactions,
            max_dialogs: admission.max_dialogs,
            tcp_max_connections: tcp.max_connections,
            tcp_max_connections_per_source: tcp.max_connections_per_source,
            tcp_idle_timeout: tcp.idle_timeout,
        }
    }
}

/// The smallest transaction cap: new requests stop at 90 % of it, and a call
/// needs a few at once.
const MIN_TRANSACTIONS: u64 = 100;
/// Longest accepted TCP idle timeout: a day.
const MAX_IDLE_SECS: u64 = 86_400;

pub(crate) fn validate_edge(
    raw: RawEdge,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> EdgeConfig {
    let file = origin.file;
    let defaults = EdgeConfig::default();
    let unknown_source = match raw.unknown_source.as_deref() {
        None | Some("reject") => UnknownSource::Reject,
        Some("drop") => UnknownSource::Drop,
        Some(other) => {
            problems.push(
                file,
                origin.key("unknown_source"),
                format!("`{other}` is not \"reject\" (one 403) or \"drop\" (no answer)"),
            );
            defaults.unknown_source
        }
    };
    let mut bounded = |key: &str, value: Option<u64>, min: u64, max: u64, default: usize| {
        let Some(value) = value else {
            return default;
        };
        if !(min..=max).contains(&value) {
            problems.push(
                file,
                origin.key(key),
                format!("must be from {min} to {max}"),
            );
            return default;
        }
        usize::try_from(value).unwrap_or(default)
    };
    let max_transactions = bounded(
        "max_transactions",
        raw.max_transactions,
        MIN_TRANSACTIONS,
        100_000_000,
        defaults.max_transactions,
    );
    let max_dialogs = bounded(
        "max_dialogs",
        raw.max_dialogs,
        1,
        10_000_000,
        defaults.max_dialogs,
    );
    let tcp_max_connections = bounded(
        "tcp_max_connections",
        raw.tcp_max_connections,
        1,
        1_000_000,
        defaults.tcp_max_connections,
    );
    let tcp_max_connections_per_source = bounded(
        "tcp_max_connections_per_source",
        raw.tcp_max_connections_per_source,
        1,
        tcp_max_connections as u64,
        defaults
            .tcp_max_connections_per_source
            .min(tcp_max_connections),
    );
    let idle_secs = bounded(
        "tcp_idle_timeout_secs",
        raw.tcp_idle_timeout_secs,
        1,
        MAX_IDLE_SECS,
        defaults.tcp_idle_timeout.as_secs() as usize,
    );
    EdgeConfig {
        unknown_source,
        max_transactions,
        max_dialogs,
        tcp_max_connections,
        tcp_max_connections_per_source,
        tcp_idle_timeout: Duration::from_secs(idle_secs as u64),
    }
}
