//! File descriptors: what the configuration needs, what the limit allows,
//! and how the node fits the one into the other.
//!
//! Every concurrent call holds four sockets (an RTP and an RTCP port on each
//! leg) and, when recorded, its spool file and an upload to the store. A
//! node that runs out of descriptors half-way through a call could answer
//! it and then fail to open its recording: it must refuse calls before
//! that. So the node raises its soft limit to the hard one, and when the
//! limit is still below what the configuration needs, it shrinks the media
//! pool to the calls that fit: the call beyond gets the pool's clean
//! refusal (`503` with `Retry-After`), never an unanchored or unrecorded
//! call. Inbound TCP connections, the only descriptors a remote peer can make
//! the node open at will, get what is left, with a floor.

/// Sockets a call holds: an RTP/RTCP pair on each leg.
pub(crate) const SOCKETS_PER_CALL: u64 = 4;
/// Files and connections a recorded call holds besides its sockets: its
/// spool file and its upload.
pub(crate) const FILES_PER_RECORDED_CALL: u64 = 2;
/// Descriptors kept for everything else: listeners, the admin API, the
/// audit log, the keyring, outgoing TCP to next hops, the store's
/// connection pool, logs.
const MARGIN: u64 = 256;
/// TCP keeps at least this many connections even under a tiny limit.
const TCP_FLOOR: u64 = 64;
/// Calls the node keeps room for whatever the limit (below, nothing works).
const CALLS_FLOOR: u64 = 1;

/// What a configuration needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DescriptorNeeds {
    /// Concurrent calls the media port range allows (two pairs each).
    pub(crate) calls: u64,
    pub(crate) media_sockets: u64,
    pub(crate) recording_files: u64,
    pub(crate) tcp: u64,
    pub(crate) margin: u64,
}

impl DescriptorNeeds {
    /// For a media range of `media_ports` ports and `tcp_max_connections`.
    pub(crate) fn of(media_ports: u32, tcp_max_connections: usize) -> Self {
        let pairs = u64::from(media_ports) / 2;
        let calls = pairs / 2;
        DescriptorNeeds {
            calls,
            media_sockets: calls * SOCKETS_PER_CALL,
            recording_files: calls * FILES_PER_RECORDED_CALL,
            tcp: tcp_max_connections as u64,
            margin: MARGIN,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.media_sockets + self.recording_files + self.tcp + self.margin
    }
}

/// How the node fits its needs into its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DescriptorPlan {
    pub(crate) limit: u64,
    /// Descriptors already open when the plan was made.
    pub(crate) open: u64,
    pub(crate) needs: DescriptorNeeds,
    /// Concurrent calls the media pool keeps (fewer than `needs.calls` when
    /// the limit is short).
    pub(crate) calls: u64,
    pub(crate) tcp: u64,
}

impl DescriptorPlan {
    /// Pure arithmetic: calls first (they are the service), then TCP with
    /// what is left, at least its floor.
    pub(crate) fn fit(limit: u64, open: u64, needs: DescriptorNeeds) -> Self {
        let room = limit.saturating_sub(open).saturating_sub(needs.margin);
        let per_call = SOCKETS_PER_CALL + FILES_PER_RECORDED_CALL;
        let tcp_floor = TCP_FLOOR.min(needs.tcp);
        let calls = if room >= per_call * needs.calls + tcp_floor {
            needs.calls
        } else {
            (room.saturating_sub(tcp_floor) / per_call)
                .max(CALLS_FLOOR)
                .min(needs.calls)
        };
        let tcp = room
            .saturating_sub(calls * per_call)
            .clamp(tcp_floor, needs.tcp.max(tcp_floor));
        DescriptorPlan {
            limit,
            open,
            needs,
            calls,
            tcp: tcp.min(needs.tcp),
        }
    }

    /// Whether the limit holds everything the configuration asks for.
    pub(crate) fn is_short(&self) -> bool {
        self.limit.saturating_sub(self.open) < self.needs.total()
    }

    /// The media port pairs the pool keeps.
    pub(crate) fn media_pairs(&self) -> usize {
        usize::try_from(self.calls * 2).unwrap_or(usize::MAX)
    }

    /// One line with every figure, for the log and `check-config`.
    pub(crate) fn describe(&self) -> String {
        let needs = &self.needs;
        format!(
            "the configuration needs {} file descriptors ({} concurrent calls × {} sockets = {}, \
             {} for their recordings, {} TCP connections, {} for the rest); the limit is {} \
             with {} already open",
            needs.total(),
            needs.calls,
            SOCKETS_PER_CALL,
            needs.media_sockets,
            needs.recording_files,
            needs.tcp,
            needs.margin,
            self.limit,
            self.open
        )
    }
}

/// The plan of this process: the soft limit raised to the hard one first.
pub(crate) fn plan_for(media_ports: u32, tcp_max_connections: usize) -> DescriptorPlan {
    let needs = DescriptorNeeds::of(media_ports, tcp_max_connections);
    let limit = raise_soft_limit().unwrap_or(u64::MAX);
    let open = open_descriptors().unwrap_or(0);
    DescriptorPlan::fit(limit, open, needs)
}

/// Logs the plan (a warning with the numbers when the limit is short) and
/// publishes it in `/metrics`.
pub(crate) fn report(plan: &DescriptorPlan) {
    metrics::gauge!("greffier_descriptors_limit").set(plan.limit as f64);
    metrics::gauge!("greffier_descriptors_needed").set(plan.needs.total() as f64);
    metrics::gauge!("greffier_media_calls_capacity").set(plan.calls as f64);
    metrics::gauge!("greffier_tcp_connections_capacity").set(plan.tcp as f64);
    if plan.is_short() {
        tracing::warn!(
            descriptor_limit = plan.limit,
            open = plan.open,
            needed = plan.needs.total(),
            calls_configured = plan.needs.calls,
            calls_kept = plan.calls,
            tcp_configured = plan.needs.tcp,
            tcp_kept = plan.tcp,
            "{}: only {} concurrent calls and {} TCP connections are kept; calls beyond get 503. \
             Raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) to at least {}",
            plan.describe(),
            plan.calls,
            plan.tcp,
            plan.needs.total() + plan.open
        );
    } else {
        tracing::info!(
            descriptor_limit = plan.limit,
            needed = plan.needs.total(),
            "file descriptors: enough for the configuration"
        );
    }
}

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit; returns the soft limit
/// in force afterwards.
pub(crate) fn raise_soft_limit() -> Option<u64> {
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
    fn a_generous_limit_keeps_everything() {
        // 30000-59999: 15000 pairs, 7500 calls.
        let needs = DescriptorNeeds::of(30_000, 1024);
        assert_eq!(needs.calls, 7500);
        assert_eq!(needs.total(), 7500 * 6 + 1024 + 256);
        let plan = DescriptorPlan::fit(1_048_576, 20, needs);
        assert!(!plan.is_short());
        assert_eq!((plan.calls, plan.tcp), (7500, 1024));
        assert_eq!(plan.media_pairs(), 15_000);
    }

    #[test]
    fn a_short_limit_shrinks_the_calls_and_tcp_to_what_fits() {
        let needs = DescriptorNeeds::of(30_000, 1024);
        // The usual default soft limit of a shell.
        let plan = DescriptorPlan::fit(1024, 20, needs);
        assert!(plan.is_short());
        // 1024 − 20 − 256 = 748; TCP keeps its floor of 64; (748 − 64) / 6.
        assert_eq!(plan.calls, 114);
        assert_eq!(plan.tcp, 64);
        let used = plan.calls * 6 + plan.tcp + 256 + 20;
        assert!(used <= 1024, "{used}");
        assert!(
            plan.describe().contains("needs 46280 file descriptors"),
            "{}",
            plan.describe()
        );
    }

    #[test]
    fn tcp_takes_what_the_calls_leave() {
        let needs = DescriptorNeeds::of(400, 1024);
        // 100 calls × 6 = 600; 4096 − 10 − 256 − 600 = 3230 ≥ 1024.
        let plan = DescriptorPlan::fit(4096, 10, needs);
        assert_eq!((plan.calls, plan.tcp), (100, 1024));
        let tight = DescriptorPlan::fit(1200, 10, needs);
        assert_eq!((tight.calls, tight.tcp), (100, 1200 - 10 - 256 - 600));
    }

    #[test]
    fn a_tiny_limit_keeps_one_call_and_the_tcp_floor() {
        let needs = DescriptorNeeds::of(30_000, 1024);
        let plan = DescriptorPlan::fit(100, 20, needs);
        assert_eq!((plan.calls, plan.tcp), (1, 64));
    }

    #[test]
    fn this_process_can_raise_its_soft_limit() {
        let raised = raise_soft_limit().expect("a descriptor limit");
        let plan = plan_for(4, 10);
        assert_eq!(plan.limit, raised);
        assert_eq!(plan.needs.calls, 1);
    }
}
