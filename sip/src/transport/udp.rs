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
            // ICMP port unreachable from an earlier send surfaces here on Linux; the
            // socket itself is fine.
            Err(error) => tracing::debug!(%error, "udp receive error"),
        }
    }
}
