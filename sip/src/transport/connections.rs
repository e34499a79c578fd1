//! Bounds on inbound stream connections: in all and per source address, so that
//! one peer (or many) cannot take every descriptor the process has. Media ports
//! and the spool need descriptors too; the application sizes `max_connections`
//! so that a reserve is left for them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Metric names of the stream transport.
pub(crate) const CONNECTIONS: &str = "greffier_sip_tcp_connections";
pub(crate) const REFUSED: &str = "greffier_sip_tcp_connections_refused_total";
pub(crate) const IDLE_CLOSED: &str = "greffier_sip_tcp_idle_closed_total";

/// Limits of the TCP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Inbound connections open at once, from all sources.
    pub max_connections: usize,
    /// Inbound connections open at once from one source address.
    pub max_connections_per_source: usize,
    /// A connection on which nothing was read or written for this long is closed.
    /// RFC 5626 keep-alives (`CRLFCRLF`) count as traffic.
    pub idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> TcpLimits {
        TcpLimits {
            max_connections: 4_096,
            max_connections_per_source: 64,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Why an inbound connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `max_connections` are open.
    Total,
    /// `max_connections_per_source` are open from the same address.
    PerSource,
}

impl Refused {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refused::Total => "total",
            Refused::PerSource => "per_source",
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The inbound connections open right now, shared by the accept tasks and the
/// connection tasks.
pub(crate) struct ConnectionTable {
    limits: TcpLimits,
    counts: Mutex<Counts>,
}

/// One admitted connection; dropping it gives its place back.
pub(crate) struct Slot {
    table: Arc<ConnectionTable>,
    source: IpAddr,
}

impl ConnectionTable {
    pub(crate) fn new(limits: TcpLimits) -> Arc<ConnectionTable> {
        Arc::new(ConnectionTable {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        self.limits.idle_timeout
    }

    /// Takes a place for a connection from `source`, or says why there is none.
    pub(crate) fn admit(self: &Arc<Self>, source: IpAddr) -> Result<Slot, Refused> {
        let mut counts = self.lock();
        if counts.total >= self.limits.max_connections {
            return Err(Refused::Total);
        }
        let from_source = counts.by_source.entry(source).or_insert(0);
        if *from_source >= self.limits.max_connections_per_source {
            return Err(Refused::PerSource);
        }
        *from_source += 1;
        counts.total += 1;
        metrics::gauge!(CONNECTIONS).set(counts.total as f64);
        Ok(Slot {
            table: self.clone(),
            source,
        })
    }

    fn release(&self, source: IpAddr) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.by_source.get_mut(&source) {
            *count -= 1;
            if *count == 0 {
                counts.by_source.remove(&source);
            }
        }
        metrics::gauge!(CONNECTIONS).set(counts.total as f64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every update is
        // a whole increment or decrement.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn open(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.total, counts.by_source.len())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.release(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(total: usize, per_source: usize) -> Arc<ConnectionTable> {
        ConnectionTable::new(TcpLimits {
            max_connections: total,
            max_connections_per_source: per_source,
            idle_timeout: Duration::from_secs(1),
        })
    }

    #[test]
    fn one_source_cannot_take_more_than_its_share() {
        let table = table(10, 2);
        let attacker: IpAddr = [127, 0, 0, 9].into();
        let tenant: IpAddr = [127, 0, 0, 1].into();
        let held: Vec<_> = (0..2).map(|_| table.admit(attacker).unwrap()).collect();
        assert_eq!(table.admit(attacker).err(), Some(Refused::PerSource));
        assert!(table.admit(tenant).is_ok());
        drop(held);
        assert!(table.admit(attacker).is_ok(), "places come back on close");
    }

    #[test]
    fn all_sources_together_stop_at_the_total() {
        let table = table(3, 2);
        let held: Vec<_> = (1..=3u8)
            .map(|n| table.admit([127, 0, 0, n].into()).unwrap())
            .collect();
        assert_eq!(
            table.admit([127, 0, 0, 4].into()).err(),
            Some(Refused::Total)
        );
        assert_eq!(table.open(), (3, 3));
        drop(held);
        assert_eq!(table.open(), (0, 0), "no entry outlives its connections");
    }
}
