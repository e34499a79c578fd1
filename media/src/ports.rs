//! The pool of relay ports: RTP on an even port, RTCP on the next odd one.
//!
//! Calls share one pool per address family, so the free list sits behind a
//! mutex; it is touched twice per call (allocate, release), never per packet.
//! A [`PortLease`] gives its pair back when dropped, so ports return to the
//! pool however a call ends.
//!
//! Pairs are drawn at random (RFC 3550 §8.2 and RFC 6056 make the same case
//! for random source identifiers and ports): with pairs handed out from the
//! bottom of the range, an attacker knew the next call's ports before the
//! call existed and could be the first to send to them.
//!
//! The pool's gauges resolve against the metrics recorder installed when the
//! pool is created: create it after installing the exporter.

use metrics::{Counter, Gauge};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use thiserror::Error;

const PORTS_IN_USE_METRIC: &str = "greffier_media_ports_in_use";
const PORTS_FREE_METRIC: &str = "greffier_media_ports_free";
const ALLOCATION_FAILURES_METRIC: &str = "greffier_media_port_allocation_failures_total";

/// An RTP port (even) and its RTCP port (`rtp + 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    pub rtp: u16,
    pub rtcp: u16,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PortRangeError {
    #[error("port range {start}..={end} holds no even/odd pair above port 0")]
    NoPair { start: u16, end: u16 },
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("all {capacity} port pairs of the relay range are in use")]
pub struct PoolExhausted {
    pub capacity: usize,
}

#[derive(Debug, Error)]
pub enum BindError {
    #[error(transparent)]
    Exhausted(#[from] PoolExhausted),
    #[error("none of the {tried} free port pairs could be bound (last error: {last})")]
    NoBindablePair { tried: usize, last: io::Error },
    /// The process (or the system) is out of file descriptors: no other
    /// pair would bind either, so the search stops at once.
    #[error("out of file descriptors: {0}")]
    NoDescriptors(io::Error),
}

/// Hands out port pairs from a configured range on one local address.
#[derive(Debug, Clone)]
pub struct PortPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ip: IpAddr,
    range: RangeInclusive<u16>,
    capacity: usize,
    free: Mutex<FreeList>,
    in_use: Gauge,
    free_ports: Gauge,
    failures: Counter,
}

/// The RTP ports of the free pairs, oldest release first.
#[derive(Debug)]
struct FreeList {
    pairs: VecDeque<u16>,
    rng: StdRng,
}

impl FreeList {
    /// Every pair of the range, in random order.
    fn new(mut pairs: Vec<u16>, mut rng: StdRng) -> Self {
        pairs.shuffle(&mut rng);
        Self {
            pairs: pairs.into(),
            rng,
        }
    }

    /// A random pair from the older half of the list: released pairs go to
    /// the back, so a pair is reused only after at least half of the free
    /// pairs, and stray packets of a finished call rarely reach the next one.
    /// Removing swaps the front element into the hole: O(1).
    fn take(&mut self) -> Option<u16> {
        let older_half = self.pairs.len().div_ceil(2);
        if older_half == 0 {
            return None;
        }
        let index = self.rng.random_range(0..older_half);
        self.pairs.swap_remove_front(index)
    }

    fn give_back(&mut self, rtp: u16) {
        self.pairs.push_back(rtp);
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }
}

impl PortPool {
    /// A pool over every (even, odd) pair inside `range` on `ip`, handed out
    /// in an order seeded by the operating system.
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> Result<Self, PortRangeError> {
        Self::with_rng(ip, range, StdRng::from_os_rng(), usize::MAX)
    }

    /// As [`PortPool::new`], keeping at most `max_pairs` of the range's
    /// pairs: what the node's descriptor limit allows.
    pub fn with_max_pairs(
        ip: IpAddr,
        range: RangeInclusive<u16>,
        max_pairs: usize,
    ) -> Result<Self, PortRangeError> {
        Self::with_rng(ip, range, StdRng::from_os_rng(), max_pairs)
    }

    /// As [`PortPool::new`], with a fixed order: for tests only, since a
    /// known seed makes every port predictable.
    pub fn with_seed(
        ip: IpAddr,
        range: RangeInclusive<u16>,
        seed: u64,
    ) -> Result<Self, PortRangeError> {
        Self::with_rng(ip, range, StdRng::seed_from_u64(seed), usize::MAX)
    }

    fn with_rng(
        ip: IpAddr,
        range: RangeInclusive<u16>,
        rng: StdRng,
        max_pairs: usize,
    ) -> Result<Self, PortRangeError> {
        let (start, end) = (*range.start(), *range.end());
        let lowest = start.max(2);
        let first_even = lowest.saturating_add(lowest % 2);
        // `first_even` is odd only when it saturated at 65535, past any `end`.
        let pairs: Vec<u16> = (first_even..end).step_by(2).take(max_pairs).collect();
        if pairs.is_empty() {
            return Err(PortRangeError::NoPair { start, end });
        }
        let family = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
        let capacity = pairs.len();
        let free_ports = metrics::gauge!(PORTS_FREE_METRIC, "family" => family);
        free_ports.increment(2.0 * capacity as f64);
        // Registered now, at zero, so that /metrics shows them before any
        // call or failure.
        let in_use = metrics::gauge!(PORTS_IN_USE_METRIC, "family" => family);
        in_use.increment(0.0);
        let failures = metrics::counter!(ALLOCATION_FAILURES_METRIC, "family" => family);
        failures.increment(0);
        Ok(Self {
            shared: Arc::new(Shared {
                ip,
                range,
                capacity,
                free: Mutex::new(FreeList::new(pairs, rng)),
                in_use,
                free_ports,
                failures,
            }),
        })
    }

    pub fn ip(&self) -> IpAddr {
        self.shared.ip
    }

    /// The configured range (its pairs are the ones inside it).
    pub fn range(&self) -> RangeInclusive<u16> {
        self.shared.range.clone()
    }

    /// Number of pairs in the range.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Number of pairs currently leased.
    pub fn in_use(&self) -> usize {
        self.shared.capacity - self.shared.free_list().len()
    }

    /// Leases a random free pair, without binding it.
    pub fn allocate(&self) -> Result<PortLease, PoolExhausted> {
        self.lease()
            .inspect_err(|_| self.shared.failures.increment(1))
    }

    fn lease(&self) -> Result<PortLease, PoolExhausted> {
        let rtp = self.shared.free_list().take().ok_or(PoolExhausted {
            capacity: self.shared.capacity,
        })?;
        self.shared.in_use.increment(2.0);
        self.shared.free_ports.decrement(2.0);
        Ok(PortLease {
            shared: Arc::clone(&self.shared),
            pair: PortPair { rtp, rtcp: rtp + 1 },
        })
    }

    /// Leases a pair and binds both of its ports, skipping pairs another
    /// process holds. The sockets are non-blocking, ready for an async runtime.
    pub fn bind_pair(&self) -> Result<BoundPair, BindError> {
        self.bind_any()
            .inspect_err(|_| self.shared.failures.increment(1))
    }

    fn bind_any(&self) -> Result<BoundPair, BindError> {
        let mut unbindable = Vec::new();
        let mut last_error = None;
        loop {
            let lease = match self.lease() {
                Ok(lease) => lease,
                Err(exhausted) => {
                    return Err(match last_error {
                        Some(last) => BindError::NoBindablePair {
                            tried: unbindable.len(),
                            last,
                        },
                        None => BindError::Exhausted(exhausted),
                    })
                }
            };
            match bind_both(self.shared.ip, lease.pair()) {
                Ok((rtp, rtcp)) => return Ok(BoundPair { lease, rtp, rtcp }),
                Err(error) if is_out_of_descriptors(&error) => {
                    return Err(BindError::NoDescriptors(error));
                }
                Err(error) => {
                    last_error = Some(error);
                    // Held until the search ends so the same pair is not retried.
                    unbindable.push(lease);
                }
            }
        }
    }
}

impl Shared {
    fn free_list(&self) -> MutexGuard<'_, FreeList> {
        // The list stays consistent whatever panicked while holding the lock:
        // every operation on it is a single push, or a draw and a removal that
        // cannot panic.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `ENFILE` and `EMFILE` on Linux (asm-generic/errno-base.h): the system's
/// and the process's descriptor tables are full.
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;

fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(ENFILE | EMFILE))
}

fn bind_both(ip: IpAddr, pair: PortPair) -> io::Result<(UdpSocket, UdpSocket)> {
    let rtp = UdpSocket::bind(SocketAddr::new(ip, pair.rtp))?;
    let rtcp = UdpSocket::bind(SocketAddr::new(ip, pair.rtcp))?;
    rtp.set_nonblocking(true)?;
    rtcp.set_nonblocking(true)?;
    Ok((rtp, rtcp))
}

/// A leased pair; dropping it returns the pair to its pool.
#[derive(Debug)]
pub struct PortLease {
    shared: Arc<Shared>,
    pair: PortPair,
}

impl PortLease {
    pub fn pair(&self) -> PortPair {
        self.pair
    }

    pub fn ip(&self) -> IpAddr {
        self.shared.ip
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.shared.free_list().give_back(self.pair.rtp);
        self.shared.in_use.decrement(2.0);
        self.shared.free_ports.increment(2.0);
    }
}

/// A lease with both of its ports bound.
#[derive(Debug)]
pub struct BoundPair {
    pub lease: PortLease,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl BoundPair {
    pub fn rtp_address(&self) -> SocketAddr {
        SocketAddr::new(self.lease.ip(), self.lease.pair().rtp)
    }

    pub fn rtcp_address(&self) -> SocketAddr {
        SocketAddr::new(self.lease.ip(), self.lease.pair().rtcp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn pairs_are_even_rtp_and_odd_rtcp_inside_the_range() {
        let pool = PortPool::new(LOOPBACK, 41001..=41008).unwrap();
        assert_eq!(pool.capacity(), 3);
        let leases: Vec<_> = (0..3).map(|_| pool.allocate().unwrap()).collect();
        let mut pairs: Vec<_> = leases.iter().map(PortLease::pair).collect();
        pairs.sort_by_key(|pair| pair.rtp);
        let expected: Vec<_> = [41002, 41004, 41006]
            .into_iter()
            .map(|rtp| PortPair { rtp, rtcp: rtp + 1 })
            .collect();
        assert_eq!(pairs, expected);
        assert_eq!(pool.allocate().err(), Some(PoolExhausted { capacity: 3 }));
    }

    /// A large pool drained by `draws` allocations, with the seeds 0..SEEDS:
    /// fixed seeds, so the test is deterministic, and many of them, so it
    /// does not rest on one lucky seed.
    const SEEDS: u64 = 32;

    fn drawn(seed: u64, draws: usize) -> Vec<u16> {
        let pool = PortPool::with_seed(LOOPBACK, 20000..=29999, seed).unwrap();
        let leases: Vec<_> = (0..draws).map(|_| pool.allocate().unwrap()).collect();
        leases.iter().map(|lease| lease.pair().rtp).collect()
    }

    #[test]
    fn consecutive_allocations_are_not_sequential() {
        for seed in 0..SEEDS {
            let ports = drawn(seed, 64);
            let neighbours = ports
                .windows(2)
                .filter(|pair| pair[0].abs_diff(pair[1]) == 2)
                .count();
            // Sequential allocation gives 63; a random draw over 5,000 pairs
            // gives a neighbour with a probability of about 1/2,500 per step.
            assert!(neighbours <= 2, "seed {seed}: {ports:?}");
            assert!(
                ports
                    .iter()
                    .all(|port| port % 2 == 0 && (20000..29999).contains(port)),
                "seed {seed}: {ports:?}"
            );
        }
    }

    #[test]
    fn the_first_allocations_spread_over_the_whole_range() {
        for seed in 0..SEEDS {
            let ports = drawn(seed, 64);
            // Ten bands of 1,000 ports: 64 uniform draws leave a band empty
            // with a probability of about 10 * 0.9^64 = 0.1 %; three empty
            // bands would mean the draw is far from uniform.
            let mut bands = [0u32; 10];
            for port in &ports {
                bands[usize::from((port - 20000) / 1000)] += 1;
            }
            let empty = bands.iter().filter(|count| **count == 0).count();
            assert!(empty <= 2, "seed {seed}: {bands:?}");
        }
    }

    #[test]
    fn allocate_and_release_cycles_use_every_pair_about_as_often() {
        let pool = PortPool::with_seed(LOOPBACK, 42000..=42199, 7).unwrap();
        let mut uses = std::collections::HashMap::<u16, u32>::new();
        for _ in 0..10_000 {
            let lease = pool.allocate().unwrap();
            *uses.entry(lease.pair().rtp).or_default() += 1;
        }
        // 100 pairs, 10,000 draws: 100 each on average.
        assert_eq!(uses.len(), 100, "every pair is used");
        assert!(
            uses.values().all(|count| (40..=200).contains(count)),
            "{uses:?}"
        );
    }

    #[test]
    fn two_pools_do_not_hand_out_the_same_sequence() {
        let first = drawn(1, 16);
        let second = drawn(2, 16);
        assert_ne!(first, second);
        assert_eq!(first, drawn(1, 16), "a seed fixes the order");
    }

    #[test]
    fn a_range_without_a_pair_is_refused() {
        assert!(PortPool::new(LOOPBACK, 41001..=41001).is_err());
        assert!(PortPool::new(LOOPBACK, 41001..=41002).is_err());
        assert!(PortPool::new(LOOPBACK, 0..=0).is_err());
        assert!(PortPool::new(LOOPBACK, 65534..=65535).is_ok());
        assert!(PortPool::new(LOOPBACK, 0..=1).is_err());
    }

    #[test]
    fn a_dropped_lease_goes_back_to_the_pool_last() {
        let pool = PortPool::new(LOOPBACK, 41010..=41013).unwrap();
        let first = pool.allocate().unwrap();
        let first_pair = first.pair();
        assert_eq!(pool.in_use(), 1);
        drop(first);
        assert_eq!(pool.in_use(), 0);
        assert_ne!(pool.allocate().unwrap().pair(), first_pair);
        let again: Vec<_> = (0..2).map(|_| pool.allocate().unwrap().pair()).collect();
        assert!(again.contains(&first_pair));
    }

    #[test]
    fn binding_skips_pairs_held_by_someone_else() {
        let pool = PortPool::new(LOOPBACK, 41020..=41025).unwrap();
        let squatter = UdpSocket::bind((LOOPBACK, 41021));
        let bound = pool.bind_pair().unwrap();
        if squatter.is_ok() {
            assert_ne!(bound.lease.pair().rtp, 41020);
        }
        assert_eq!(bound.rtp.local_addr().unwrap(), bound.rtp_address());
        assert_eq!(bound.rtcp.local_addr().unwrap(), bound.rtcp_address());
        assert_eq!(pool.in_use(), 1, "the skipped pair is back in the pool");
    }

    #[test]
    fn binding_reports_when_no_pair_can_be_bound() {
        let pool = PortPool::new(LOOPBACK, 41030..=41031).unwrap();
        let squatter = UdpSocket::bind((LOOPBACK, 41031)).unwrap();
        assert!(matches!(
            pool.bind_pair(),
            Err(BindError::NoBindablePair { tried: 1, .. })
        ));
        assert_eq!(pool.in_use(), 0);
        drop(squatter);
        let _held = pool.allocate().unwrap();
        assert!(matches!(pool.bind_pair(), Err(BindError::Exhausted(_))));
    }
}
