//! TCP: an accept task per listener, and per connection a reader that frames
//! messages by Content-Length and a writer fed by the proxy task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{Inbound, CONNECTION_QUEUE};
use crate::message::StreamFramer;
use crate::{ConnectionId, Peer, Transport};

pub(super) async fn accept(
    listener: TcpListener,
    ids: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let id = ConnectionId(ids.fetch_add(1, Ordering::Relaxed));
                tokio::spawn(serve(stream, addr, id, inbound.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "tcp accept failed");
                // Out of descriptors: give the process a moment instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

pub(super) async fn connect(addr: SocketAddr, id: ConnectionId, inbound: mpsc::Sender<Inbound>) {
    match TcpStream::connect(addr).await {
        Ok(stream) => serve(stream, addr, id, inbound).await,
        Err(error) => {
            tracing::debug!(%addr, %error, "tcp connect failed");
            let _ = inbound.send(Inbound::ConnectFailed { id, addr }).await;
        }
    }
}

async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    id: ConnectionId,
    inbound: mpsc::Sender<Inbound>,
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
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
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
        let len = match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(len) => len,
        };
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
    }
    drop(writes);
    let _ = inbound.send(Inbound::Closed { id }).await;
    let _ = write_task.await;
}
