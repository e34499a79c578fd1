//! File descriptors: a reserve for media ports and the spool that TCP peers
//! cannot take.
//!
//! Inbound TCP connections are the only descriptors a remote peer can make the
//! node open at will: media ports are bounded by the pool, spool and store files
//! by the calls being recorded, UDP sockets are fixed. So the reserve is kept by
//! an accounted bound on TCP connections, computed once at start from the soft
//! limit, the descriptors already open and the media pool, rather than by
//! counting `/proc/self/fd` on every accept, which costs a directory scan per
//! connection attempt exactly when a flood makes them many.

/// Descriptors kept beyond the media ports: spool and store files, uploads, the
/// admin API, outgoing TCP connections to next hops, logs.
const MARGIN: u64 = 256;
/// TCP keeps at least this many connections even under a tiny limit (media
/// would run out first there anyway, and the start-up log says so).
const TCP_FLOOR: u64 = 64;

/// The inbound TCP connections the node can hold while `media_ports` and a margin
/// stay free, at most `configured`. The soft descriptor limit is first raised to
/// the hard one, as a server that holds many sockets should.
pub(crate) fn tcp_connections_allowed(configured: usize, media_ports: u32) -> usize {
    let Some(limit) = raise_soft_limit() else {
        return configured;
    };
    let open = open_descriptors().unwrap_or(0);
    let reserve = u64::from(media_ports) + MARGIN;
    let room = limit.saturating_sub(open).saturating_sub(reserve);
    let configured_u64 = configured as u64;
    if room >= configured_u64 {
        return configured;
    }
    let allowed = room.max(TCP_FLOOR.min(configured_u64));
    tracing::warn!(
        descriptor_limit = limit,
        open,
        media_ports,
        tcp_max_connections = configured,
        allowed,
        "the descriptor limit leaves little room for TCP after the media ports; raise it (LimitNOFILE)"
    );
    usize::try_from(allowed).unwrap_or(configured)
}

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit; returns the soft limit
/// in force afterwards.
fn raise_soft_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` we own and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` we own; raising the soft limit up
        // to the hard one needs no privilege and affects this process only.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

fn open_descriptors() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(entries.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ports_are_kept_out_of_the_tcp_budget() {
        let limit = raise_soft_limit().expect("a descriptor limit");
        let open = open_descriptors().expect("/proc/self/fd");
        // A pool as large as what is left: TCP is down to its floor.
        let media = u32::try_from(limit.saturating_sub(open)).unwrap_or(u32::MAX);
        assert_eq!(tcp_connections_allowed(10_000, media), TCP_FLOOR as usize);
        // A small pool leaves the configured bound alone.
        assert_eq!(tcp_connections_allowed(10, 2), 10);
    }
}
