//! The tokio shell around the proxy core: sockets in, sockets out, timers.
//!
//! One task owns the [`Proxy`] and the application's [`ProxyPolicy`]; socket tasks
//! only move bytes and talk to it over channels, so the core needs no locks.

mod connections;
mod tcp;
mod udp;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::message::{Message, ParseError};
use crate::proxy::{DialogId, Proxy, ProxyPolicy, Transmit};
use crate::{ConnectionId, Peer, Transport};
use connections::ConnectionTable;
pub use connections::TcpLimits;

/// How many inbound messages may wait for the proxy task before datagrams are
/// dropped (UDP peers retransmit; an unbounded queue would only hide overload).
const INBOUND_QUEUE: usize = 16_384;
/// Bytes queued towards one stream connection before it is considered stuck.
const CONNECTION_QUEUE: usize = 1_024;

/// What the application asks of the proxy task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyCommand {
    /// End a call: BYE to both sides.
    HangUp(DialogId),
}

/// Something a socket task hands to the proxy task.
pub(crate) enum Inbound {
    Datagram {
        peer: Peer,
        bytes: Bytes,
    },
    Framed {
        peer: Peer,
        parsed: Box<Result<Message, ParseError>>,
    },
    Connected {
        id: ConnectionId,
        addr: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
    Closed {
        id: ConnectionId,
    },
    /// An outgoing stream connection could not be established.
    ConnectFailed {
        id: ConnectionId,
        addr: SocketAddr,
    },
    /// An ICMP error said a datagram's destination is unreachable.
    Unreachable {
        peer: Peer,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot listen on {transport}:{addr}: {source}")]
    Bind {
        transport: Transport,
        addr: SocketAddr,
        source: io::Error,
    },
}

/// Sockets bound and ready; [`SipServer::run`] starts serving them.
pub struct SipServer {
    udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
    tcp: Vec<(TcpListener, SocketAddr)>,
    tcp_limits: TcpLimits,
}

impl SipServer {
    /// Binds every listener, so a configuration error shows before anything runs.
    pub async fn bind(listeners: &[(Transport, SocketAddr)]) -> Result<SipServer, TransportError> {
        let mut server = SipServer {
            udp: Vec::new(),
            tcp: Vec::new(),
            tcp_limits: TcpLimits::default(),
        };
        for &(transport, addr) in listeners {
            let bind_error = |source| TransportError::Bind {
                transport,
                addr,
                source,
            };
            match transport {
                Transport::Udp => {
                    let socket = udp::bind(addr).map_err(bind_error)?;
                    let local = socket.local_addr().map_err(bind_error)?;
                    server.udp.push((Arc::new(socket), local));
                }
                Transport::Tcp => {
                    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
                    let local = listener.local_addr().map_err(bind_error)?;
                    server.tcp.push((listener, local));
                }
            }
        }
        Ok(server)
    }

    /// Bounds TCP connections (the defaults of [`TcpLimits`] otherwise).
    pub fn limit_tcp(&mut self, limits: TcpLimits) {
        self.tcp_limits = limits;
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        self.udp
            .iter()
            .map(|(_, addr)| (Transport::Udp, *addr))
            .chain(self.tcp.iter().map(|(_, addr)| (Transport::Tcp, *addr)))
            .collect()
    }

    /// Serves until the process ends. `commands` lets the application act on calls
    /// (hang up on media timeout) from its own tasks.
    pub async fn run<P: ProxyPolicy + Send>(
        self,
        mut proxy: Proxy,
        mut policy: P,
        mut commands: mpsc::Receiver<ProxyCommand>,
    ) {
        let (inbound_tx, mut inbound) = mpsc::channel(INBOUND_QUEUE);
        let ids = Arc::new(AtomicU64::new(1));
        for (socket, _) in &self.udp {
            tokio::spawn(udp::receive(socket.clone(), inbound_tx.clone()));
        }
        let table = ConnectionTable::new(self.tcp_limits);
        for (listener, _) in self.tcp {
            tokio::spawn(tcp::accept(
                listener,
                ids.clone(),
                inbound_tx.clone(),
                table.clone(),
            ));
        }
        let mut out = Outbound {
            udp: self.udp.iter().map(|(s, a)| (s.clone(), *a)).collect(),
            connections: HashMap::new(),
            by_addr: HashMap::new(),
            pending: HashMap::new(),
            ids,
            inbound: inbound_tx,
            idle_timeout: self.tcp_limits.idle_timeout,
        };
        loop {
            let deadline = proxy.poll_timeout();
            tokio::select! {
                message = inbound.recv() => {
                    let Some(message) = message else { return };
                    out.handle(Instant::now(), message, &mut proxy, &mut policy);
                    // Drain what is already queued before looking at timers again.
                    while let Ok(message) = inbound.try_recv() {
                        out.handle(Instant::now(), message, &mut proxy, &mut policy);
                    }
                }
                _ = sleep_until(deadline) => {
                    proxy.handle_timeout(Instant::now(), &mut policy);
                }
                Some(command) = commands.recv() => match command {
                    ProxyCommand::HangUp(dialog) => {
                        proxy.hang_up(Instant::now(), dialog, &mut policy);
                    }
                },
            }
            out.send_all(&mut proxy, &mut policy).await;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The proxy task's view of the sockets it writes to.
struct Outbound {
    udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
    connections: HashMap<ConnectionId, (SocketAddr, mpsc::Sender<Bytes>)>,
    by_addr: HashMap<SocketAddr, ConnectionId>,
    /// Writes waiting for an outgoing connection to be established.
    pending: HashMap<ConnectionId, Vec<Bytes>>,
    ids: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    idle_timeout: std::time::Duration,
}

impl Outbound {
    fn handle<P: ProxyPolicy>(
        &mut self,
        now: Instant,
        message: Inbound,
        proxy: &mut Proxy,
        policy: &mut P,
    ) {
        match message {
            Inbound::Datagram { peer, bytes } => proxy.handle_datagram(now, peer, &bytes, policy),
            Inbound::Framed { peer, parsed } => proxy.handle_parsed(now, peer, *parsed, policy),
            Inbound::Connected { id, addr, writer } => {
                for bytes in self.pending.remove(&id).unwrap_or_default() {
                    if writer.try_send(bytes).is_err() {
                        tracing::debug!(%addr, "stream connection queue full");
                    }
                }
                self.by_addr.insert(addr, id);
                self.connections.insert(id, (addr, writer));
            }
            Inbound::Closed { id } => self.forget(id),
            Inbound::ConnectFailed { id, addr } => {
                self.forget(id);
                if self.by_addr.get(&addr) == Some(&id) {
                    self.by_addr.remove(&addr);
                }
                proxy.handle_transport_error(now, Peer::new(Transport::Tcp, addr), policy);
            }
            Inbound::Unreachable { peer } => proxy.handle_transport_error(now, peer, policy),
        }
    }

    fn forget(&mut self, id: ConnectionId) {
        self.pending.remove(&id);
        if let Some((addr, _)) = self.connections.remove(&id) {
            if self.by_addr.get(&addr) == Some(&id) {
                self.by_addr.remove(&addr);
            }
        }
    }

    /// Sends everything the proxy has to send. A destination the kernel refuses at
    /// once is a transport error for the proxy, whose answers are sent in turn.
    async fn send_all<P: ProxyPolicy>(&mut self, proxy: &mut Proxy, policy: &mut P) {
        let mut failed: Vec<Peer> = Vec::new();
        loop {
            while let Some(transmit) = proxy.poll_transmit() {
                if let Err(peer) = self.send(transmit).await {
                    if !failed.contains(&peer) {
                        failed.push(peer);
                    }
                }
            }
            if failed.is_empty() {
                return;
            }
            for peer in failed.drain(..) {
                proxy.handle_transport_error(Instant::now(), peer, policy);
            }
        }
    }

    /// Sends one message; the peer comes back when the kernel says at once that it
    /// cannot be reached.
    async fn send(&mut self, transmit: Transmit) -> Result<(), Peer> {
        let Transmit { peer, bytes } = transmit;
        match peer.transport {
            Transport::Udp => {
                let socket = self
                    .udp
                    .iter()
                    .find(|(_, local)| local.is_ipv4() == peer.addr.is_ipv4())
                    .or_else(|| self.udp.first());
                if let Some((socket, _)) = socket {
                    if let Err(error) = socket.send_to(&bytes, peer.addr).await {
                        tracing::debug!(peer = %peer.addr, %error, "datagram not sent");
                        if udp::is_unreachable(&error) {
                            return Err(Peer::new(Transport::Udp, peer.addr));
                        }
                    }
                }
            }
            Transport::Tcp => self.send_stream(peer, bytes),
        }
        Ok(())
    }

    /// Writes on the message's connection, an open one to the same address, or a
    /// new one.
    fn send_stream(&mut self, peer: Peer, bytes: Bytes) {
        let id = peer
            .connection
            .filter(|id| self.connections.contains_key(id) || self.pending.contains_key(id))
            .or_else(|| self.by_addr.get(&peer.addr).copied());
        if let Some(id) = id {
            if let Some((_, writer)) = self.connections.get(&id) {
                if writer.try_send(bytes).is_err() {
                    tracing::debug!(peer = %peer.addr, "stream connection queue full");
                }
                return;
            }
            if let Some(queue) = self.pending.get_mut(&id) {
                queue.push(bytes);
                return;
            }
        }
        let id = ConnectionId(self.ids.fetch_add(1, Ordering::Relaxed));
        self.by_addr.insert(peer.addr, id);
        self.pending.insert(id, vec![bytes]);
        tokio::spawn(tcp::connect(
            peer.addr,
            id,
            self.inbound.clone(),
            self.idle_timeout,
        ));
    }
}
