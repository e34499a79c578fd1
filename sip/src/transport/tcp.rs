//! TCP: an accept task per listener, and per connection a reader that frames
//! messages by Content-Length and a writer fed by the proxy task. Inbound
//! connections are bounded in all and per source; any connection idle for too
//! long is closed; `CRLFCRLF` pings are answered with a `CRLF` pong (RFC 5626
//! §3.5.1).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::connections::{self, ConnectionTable, Slot};
use super::{Inbound, CONNECTION_QUEUE};
use crate::message::StreamFramer;
use crate::{ConnectionId, Peer, Transport};

/// The pong to a keep-alive ping.
const PONG: &[u8] = b"\r\n";

pub(super) async fn accept(
    listener: TcpListener,
    ids: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    table: Arc<ConnectionTable>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let slot = match table.admit(addr.ip()) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        metrics::counter!(connections::REFUSED, "reason" => refused.label())
                            .increment(1);
                        tracing::debug!(%addr, reason = refused.label(), "tcp connection refused");
                        // Closed at once: nothing read, nothing kept.
                        drop(stream);
                        continue;
                    }
                };
                let id = ConnectionId(ids.fetch_add(1, Ordering::Relaxed));
                let idle = table.idle_timeout();
                tokio::spawn(serve(stream, addr, id, inbound.clone(), idle, Some(slot)));
            }
            Err(error) => {
                tracing::warn!(%error, "tcp accept failed");
                // Out of descriptors: give the process a moment instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

pub(super) async fn connect(
    addr: SocketAddr,
    id: ConnectionId,
    inbound: mpsc::Sender<Inbound>,
    idle: Duration,
) {
    match TcpStream::connect(addr).await {
        Ok(stream) => serve(stream, addr, id, inbound, idle, None).await,
        Err(error) => {
            tracing::debug!(%addr, %error, "tcp connect failed");
            let _ = inbound.send(Inbound::ConnectFailed { id, addr }).await;
        }
    }
}

/// When the connection last carried bytes either way, in milliseconds since it
/// opened (the writer task and the reader both move it).
struct Activity {
    opened: tokio::time::Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let elapsed = self.opened.elapsed().as_millis();
        self.last_ms.fetch_max(
            u64::try_from(elapsed).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn idle_deadline(&self, idle: Duration) -> tokio::time::Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }
}

/// Serves one connection until either side closes it, it stays idle past `idle`,
/// or its framing fails. `_slot` holds the connection's place in the table.
async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    id: ConnectionId,
    inbound: mpsc::Sender<Inbound>,
    idle: Duration,
    _slot: Option<Slot>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (writes, mut queue) = mpsc::channel::<Bytes>(CONNECTION_QUEUE);
    if inbound
        .send(Inbound::Connected {
            id,
            addr,
            writer: writes.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let activity = Arc::new(Activity {
        opened: tokio::time::Instant::now(),
        last_ms: AtomicU64::new(0),
    });
    let written = activity.clone();
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
            written.touch();
        }
        let _ = writer.shutdown().await;
    });
    let peer = Peer {
        transport: Transport::Tcp,
        addr,
        connection: Some(id),
    };
    let mut framer = StreamFramer::new();
    let mut buffer = vec![0u8; 16 * 1024];
    'read: loop {
        let deadline = activity.idle_deadline(idle);
        let len = match tokio::time::timeout_at(deadline, reader.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(len)) => len,
            // Reads are cancel-safe: nothing was consumed. A write may have moved
            // the deadline meanwhile.
            Err(_) if activity.idle_deadline(idle) > tokio::time::Instant::now() => continue,
            Err(_) => {
                metrics::counter!(connections::IDLE_CLOSED).increment(1);
                tracing::debug!(%addr, ?idle, "closing an idle stream");
                break;
            }
        };
        activity.touch();
        framer.push(buffer.get(..len).unwrap_or_default());
        while let Some(parsed) = framer.next_message() {
            if let Err(error) = &parsed {
                if error.is_connection_error() {
                    // The stream cannot be re-synchronised: answer if we can, then close
                    // this connection (and only this one).
                    tracing::debug!(%addr, %error, "closing stream after framing error");
                    if let Some(reply) = error.reply() {
                        let _ = writes.send(Bytes::from(reply)).await;
                    }
                    break 'read;
                }
            }
            let message = Inbound::Framed {
                peer,
                parsed: Box::new(parsed),
            };
            if inbound.send(message).await.is_err() {
                break 'read;
            }
        }
        if framer.take_ping() && writes.send(Bytes::from_static(PONG)).await.is_err() {
            break;
        }
    }
    drop(writes);
    let _ = inbound.send(Inbound::Closed { id }).await;
    let _ = write_task.await;
}
