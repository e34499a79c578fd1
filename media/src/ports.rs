//! The pool of relay ports: RTP on an even port, RTCP on the next odd one.
//!
//! Calls share one pool per address family, so the free list sits behind a
//! mutex; it is touched twice per call (allocate, release), never per packet.
//! A [`PortLease`] gives its pair back when dropped, so ports return to the
//! pool however a call ends.

use metrics::Gauge;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use thiserror::Error;

const PORTS_IN_USE_METRIC: &str = "greffier_media_ports_in_use";

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
}

/// Hands out port pairs from a configured range on one local address.
#[derive(Debug, Clone)]
pub struct PortPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ip: IpAddr,
    capacity: usize,
    /// Released pairs go to the back, so a port is reused as late as possible
    /// and stray packets of a finished call rarely reach the next one.
    free: Mutex<VecDeque<u16>>,
    in_use: Gauge,
}

impl PortPool {
    /// A pool over every (even, odd) pair inside `range` on `ip`.
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> Result<Self, PortRangeError> {
        let (start, end) = (*range.start(), *range.end());
        let lowest = start.max(2);
        let first_even = lowest.saturating_add(lowest % 2);
        // `first_even` is odd only when it saturated at 65535, past any `end`.
        let free: VecDeque<u16> = (first_even..end).step_by(2).collect();
        if free.is_empty() {
            return Err(PortRangeError::NoPair { start, end });
        }
        let family = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
        Ok(Self {
            shared: Arc::new(Shared {
                ip,
                capacity: free.len(),
                free: Mutex::new(free),
                in_use: metrics::gauge!(PORTS_IN_USE_METRIC, "family" => family),
            }),
        })
    }

    pub fn ip(&self) -> IpAddr {
        self.shared.ip
    }

    /// Number of pairs in the range.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Number of pairs currently leased.
    pub fn in_use(&self) -> usize {
        self.shared.capacity - self.shared.free_list().len()
    }

    /// Leases the least recently used free pair, without binding it.
    pub fn allocate(&self) -> Result<PortLease, PoolExhausted> {
        let rtp = self.shared.free_list().pop_front().ok_or(PoolExhausted {
            capacity: self.shared.capacity,
        })?;
        self.shared.in_use.increment(2.0);
        Ok(PortLease {
            shared: Arc::clone(&self.shared),
            pair: PortPair { rtp, rtcp: rtp + 1 },
        })
    }

    /// Leases a pair and binds both of its ports, skipping pairs another
    /// process holds. The sockets are non-blocking, ready for an async runtime.
    pub fn bind_pair(&self) -> Result<BoundPair, BindError> {
        let mut unbindable = Vec::new();
        let mut last_error = None;
        loop {
            let lease = match self.allocate() {
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
    fn free_list(&self) -> MutexGuard<'_, VecDeque<u16>> {
        // The list stays consistent whatever panicked while holding the lock:
        // every operation on it is a single push or pop.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
        self.shared.free_list().push_back(self.pair.rtp);
        self.shared.in_use.decrement(2.0);
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
        let pairs: Vec<_> = leases.iter().map(PortLease::pair).collect();
        assert_eq!(
            pairs,
            vec![
                PortPair {
                    rtp: 41002,
                    rtcp: 41003
                },
                PortPair {
                    rtp: 41004,
                    rtcp: 41005
                },
                PortPair {
                    rtp: 41006,
                    rtcp: 41007
                },
            ]
        );
        assert_eq!(pool.allocate().err(), Some(PoolExhausted { capacity: 3 }));
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
            assert_eq!(bound.lease.pair().rtp, 41022);
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
