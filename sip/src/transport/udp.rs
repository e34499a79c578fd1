//! UDP: one receive task per socket.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::Inbound;
use crate::{Peer, Transport};

/// Largest datagram accepted (RFC 3261 §18.1.1 allows up to the IP limit).
const MAX_DATAGRAM: usize = 65_535;
/// Socket buffers large enough to absorb bursts of a load test.
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;

pub(super) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let std_socket = std::net::UdpSocket::bind(addr)?;
    std_socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(std_socket)?;
    set_buffers(&socket);
    icmp::report_errors(&socket, addr);
    Ok(socket)
}

fn set_buffers(socket: &UdpSocket) {
    let sock = socket2::SockRef::from(socket);
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
}

pub(super) async fn receive(socket: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((len, addr)) => {
                let Some(datagram) = buffer.get(..len) else {
                    continue;
                };
                let message = Inbound::Datagram {
                    peer: Peer::new(Transport::Udp, addr),
                    bytes: Bytes::copy_from_slice(datagram),
                };
                match inbound.try_send(message) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        metrics::counter!("greffier_sip_inbound_dropped_total").increment(1);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            // An ICMP error for an earlier send surfaces here (IP_RECVERR); the
            // socket itself is fine. The error queue says which destination failed.
            Err(error) => {
                tracing::debug!(%error, "udp receive error");
                for addr in icmp::unreachable_destinations(&socket) {
                    let peer = Peer::new(Transport::Udp, addr);
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        inbound.try_send(Inbound::Unreachable { peer })
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// Whether a send failed because the destination cannot be reached (an error the
/// kernel reports at once, or a pending ICMP error it hands to this send).
pub(super) fn is_unreachable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// ICMP errors for datagrams the gateway sent (RFC 3261 §18.4: an ICMP port or host
/// unreachable is a transport error). Linux queues them on the socket when
/// IP_RECVERR is set, with the destination of the datagram that failed, so one
/// unconnected socket serves every peer and still learns which one is unreachable.
#[cfg(target_os = "linux")]
mod icmp {
    use std::io::IoSliceMut;
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use nix::libc;
    use nix::sys::socket::{
        recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
    };
    use tokio::net::UdpSocket;

    /// Errors read per receive error: the queue is bounded by the socket's buffer,
    /// and whatever is left is read on the next one.
    const BATCH: usize = 64;

    pub(super) fn report_errors(socket: &UdpSocket, addr: SocketAddr) {
        let set = if addr.is_ipv4() {
            setsockopt(socket, sockopt::Ipv4RecvErr, &true)
        } else {
            setsockopt(socket, sockopt::Ipv6RecvErr, &true)
        };
        if let Err(error) = set {
            tracing::warn!(%addr, %error, "ICMP errors will not be reported on this socket");
        }
    }

    /// Reads the socket's error queue: the destinations an ICMP error said are
    /// unreachable (port, host or network).
    pub(super) fn unreachable_destinations(socket: &UdpSocket) -> Vec<SocketAddr> {
        let mut found = Vec::new();
        // The original datagram comes back as data; only its destination matters.
        let mut payload = [0u8; 64];
        let mut control = [0u8; 256];
        for _ in 0..BATCH {
            let mut iov = [IoSliceMut::new(&mut payload)];
            let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
            let Ok(message) =
                recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut control), flags)
            else {
                break;
            };
            let unreachable = message.cmsgs().into_iter().flatten().any(|cmsg| {
                let errno = match cmsg {
                    ControlMessageOwned::Ipv4RecvErr(error, _)
                    | ControlMessageOwned::Ipv6RecvErr(error, _) => error.ee_errno,
                    _ => return false,
                };
                [libc::ECONNREFUSED, libc::EHOSTUNREACH, libc::ENETUNREACH]
                    .iter()
                    .any(|code| u32::try_from(*code) == Ok(errno))
            });
            if let (true, Some(addr)) = (unreachable, message.address.and_then(socket_addr)) {
                found.push(addr);
            }
        }
        found
    }

    fn socket_addr(storage: SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = storage.as_sockaddr_in() {
            return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
        }
        let v6 = storage.as_sockaddr_in6()?;
        Some(SocketAddr::V6(SocketAddrV6::from(*v6)))
    }
}

/// Elsewhere ICMP errors are not read; the next hop's silence runs into Timer B.
#[cfg(not(target_os = "linux"))]
mod icmp {
    use std::net::SocketAddr;

    use tokio::net::UdpSocket;

    pub(super) fn report_errors(_: &UdpSocket, _: SocketAddr) {}

    pub(super) fn unreachable_destinations(_: &UdpSocket) -> Vec<SocketAddr> {
        Vec::new()
    }
}
