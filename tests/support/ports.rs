//! Free loopback ports for the gateway and its sipp peers.
//!
//! Single ports come from the kernel (bind port 0). Blocks of consecutive UDP
//! ports (RTP) are drawn at random below the kernel's ephemeral range, so that
//! a port-0 bind of another test never lands inside a block handed out here.

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::Mutex;

/// Ports already handed out by this process: two tests of one binary running
/// on two threads never get the same one.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

const BLOCK_AREA_FIRST: u16 = 10_000;
const BLOCK_AREA_END: u16 = 32_000;
const ATTEMPTS: u32 = 200;

/// A port that is free for both UDP and TCP on `ip`.
pub(crate) fn free_port(ip: Ipv4Addr) -> u16 {
    for _ in 0..ATTEMPTS {
        let listener = TcpListener::bind((ip, 0)).expect("bind a TCP socket on loopback");
        let port = listener.local_addr().expect("local address").port();
        if UdpSocket::bind((ip, port)).is_ok() && claim(port, 1) {
            return port;
        }
    }
    panic!("found no port free for both UDP and TCP on {ip}");
}

/// The first of `len` consecutive UDP ports free on `ip`, starting on an even
/// port (RTP/RTCP pairs).
pub(crate) fn free_udp_block(ip: Ipv4Addr, len: u16) -> u16 {
    assert!(len > 0 && len & 1 == 0, "blocks hold RTP/RTCP pairs");
    let slots = u64::from((BLOCK_AREA_END - BLOCK_AREA_FIRST - len) / 2);
    for attempt in 0..ATTEMPTS {
        let slot = random_u64(attempt) % slots;
        let first = BLOCK_AREA_FIRST + 2 * u16::try_from(slot).expect("slot fits a port");
        let all_free = (first..first + len).all(|port| UdpSocket::bind((ip, port)).is_ok());
        if all_free && claim(first, len) {
            return first;
        }
    }
    panic!("found no block of {len} free UDP ports on {ip}");
}

fn claim(first: u16, len: u16) -> bool {
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if (first..first + len).any(|port| handed_out.contains(&port)) {
        return false;
    }
    handed_out.extend(first..first + len);
    true
}

/// Randomly keyed hashing: a different sequence in every process.
fn random_u64(attempt: u32) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    hasher.write_u32(std::process::id());
    hasher.finish()
}
