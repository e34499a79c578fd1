//! The tokio shell: one task per call owns its four sockets and its core.
//!
//! The task waits for any socket to become readable, drains it without
//! blocking, sends with `try_send_to`, and offers recorder copies with
//! `try_send`: nothing on the packet path ever waits, allocates or logs.

use super::arena::CopyArena;
use super::core::{Action, CallRelay, RelayConfig, RelayEvent};
use super::metrics::RelayMetrics;
use super::stats::RelayStats;
use super::{DropReason, Leg, PacketKind, RemoteMedia};
use crate::ports::{BoundPair, PortLease};
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tracing::Instrument;

/// Largest datagram relayed whole; audio RTP is far smaller.
const MAX_DATAGRAM: usize = 8 * 1024;
/// Datagrams read from one socket before the others get a turn.
const DRAIN_BATCH: usize = 64;
/// At most one "recorder is falling behind" warning per call this often.
const RECORDER_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// One RTP datagram for the recorder, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderCopy {
    pub leg: Leg,
    pub arrival: Instant,
    pub datagram: Bytes,
}

/// The gateway-side addresses of one leg, to write into that leg's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddresses {
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the call's media relay has stopped")]
pub struct RelayStopped;

#[derive(Debug)]
enum Control {
    SetRemote(Leg, RemoteMedia),
    Stop,
}

/// The running relay of one call. Dropping it stops the relay, which frees
/// its ports.
#[derive(Debug)]
pub struct RelayHandle {
    control: mpsc::UnboundedSender<Control>,
    events: mpsc::UnboundedReceiver<RelayEvent>,
    local: [LocalAddresses; 2],
    task: JoinHandle<()>,
}

impl RelayHandle {
    pub fn local(&self, leg: Leg) -> LocalAddresses {
        let [a, b] = self.local;
        match leg {
            Leg::Caller => a,
            Leg::Callee => b,
        }
    }

    /// Passes on a leg's new SDP (answer, re-INVITE, hold, resume).
    pub fn set_remote(&self, leg: Leg, remote: RemoteMedia) -> Result<(), RelayStopped> {
        self.control
            .send(Control::SetRemote(leg, remote))
            .map_err(|_| RelayStopped)
    }

    /// The next latch, media timeout or stop.
    pub async fn next_event(&mut self) -> Option<RelayEvent> {
        self.events.recv().await
    }

    /// Stops the relay; when this returns, the call's ports are back in their
    /// pools.
    pub async fn stop(mut self) -> Result<RelayStats, RelayStopped> {
        // A relay that already stopped still reports its statistics below.
        let _ = self.control.send(Control::Stop);
        while let Some(event) = self.events.recv().await {
            if let RelayEvent::Stopped { stats } = event {
                let _ = (&mut self.task).await;
                return Ok(*stats);
            }
        }
        Err(RelayStopped)
    }
}

/// Starts the relay of one call on two bound pairs (leg A = caller, leg B =
/// callee), from inside a tokio runtime. Legs send nothing until their
/// [`RemoteMedia`] is set, but accept and latch from the start.
pub fn spawn_relay(
    config: RelayConfig,
    leg_a: BoundPair,
    leg_b: BoundPair,
    recorder: Option<mpsc::Sender<RecorderCopy>>,
    metrics: RelayMetrics,
) -> io::Result<RelayHandle> {
    let local = [
        LocalAddresses {
            rtp: leg_a.rtp_address(),
            rtcp: leg_a.rtcp_address(),
        },
        LocalAddresses {
            rtp: leg_b.rtp_address(),
            rtcp: leg_b.rtcp_address(),
        },
    ];
    let sockets = [LegSockets::new(leg_a)?, LegSockets::new(leg_b)?];
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    metrics.call_started();
    let task = RelayTask {
        core: CallRelay::new(now(), config),
        buffer: vec![0; MAX_DATAGRAM].into_boxed_slice(),
        recorder: RecorderFeed::new(recorder),
        metrics,
    };
    let task = tokio::spawn(
        task.run(sockets, control_rx, events_tx)
            .instrument(tracing::Span::current()),
    );
    Ok(RelayHandle {
        control: control_tx,
        events: events_rx,
        local,
        task,
    })
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct LegSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    _lease: PortLease,
}

impl LegSockets {
    fn new(pair: BoundPair) -> io::Result<Self> {
        Ok(Self {
            rtp: UdpSocket::from_std(pair.rtp)?,
            rtcp: UdpSocket::from_std(pair.rtcp)?,
            _lease: pair.lease,
        })
    }

    fn socket(&self, kind: PacketKind) -> &UdpSocket {
        match kind {
            PacketKind::Rtp => &self.rtp,
            PacketKind::Rtcp => &self.rtcp,
        }
    }
}

fn sockets_of(legs: &[LegSockets; 2], leg: Leg) -> &LegSockets {
    let [a, b] = legs;
    match leg {
        Leg::Caller => a,
        Leg::Callee => b,
    }
}

enum Wake {
    Readable(Leg, PacketKind, io::Result<()>),
    Control(Option<Control>),
    Timer,
}

struct RelayTask {
    core: CallRelay,
    buffer: Box<[u8]>,
    recorder: RecorderFeed,
    metrics: RelayMetrics,
}

impl RelayTask {
    async fn run(
        mut self,
        legs: [LegSockets; 2],
        mut control: mpsc::UnboundedReceiver<Control>,
        events: mpsc::UnboundedSender<RelayEvent>,
    ) {
        let [a, b] = &legs;
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed = None;
        loop {
            self.rearm(timer.as_mut(), &mut armed);
            let wake = tokio::select! {
                ready = a.rtp.readable() => Wake::Readable(Leg::Caller, PacketKind::Rtp, ready),
                ready = a.rtcp.readable() => Wake::Readable(Leg::Caller, PacketKind::Rtcp, ready),
                ready = b.rtp.readable() => Wake::Readable(Leg::Callee, PacketKind::Rtp, ready),
                ready = b.rtcp.readable() => Wake::Readable(Leg::Callee, PacketKind::Rtcp, ready),
                message = control.recv() => Wake::Control(message),
                () = &mut timer, if armed.is_some() => Wake::Timer,
            };
            match wake {
                Wake::Readable(leg, kind, Ok(())) => {
                    if !self.apply_pending_controls(&mut control) {
                        break;
                    }
                    self.drain(&legs, leg, kind)
                }
                Wake::Readable(leg, kind, Err(error)) => {
                    tracing::warn!(?leg, ?kind, %error, "media socket failed; stopping the relay");
                    break;
                }
                Wake::Control(Some(Control::SetRemote(leg, remote))) => {
                    self.core.set_remote(now(), leg, remote)
                }
                Wake::Control(Some(Control::Stop) | None) => break,
                Wake::Timer => {
                    armed = None;
                    self.core.handle_timeout(now());
                }
            }
            self.publish_events(&events);
        }
        let stats = self.core.stats();
        drop(legs);
        self.metrics.call_ended();
        // Nobody may be listening any more; the ports are free either way.
        let _ = events.send(RelayEvent::Stopped {
            stats: Box::new(stats),
        });
    }

    /// Applies the SDP changes already queued, so that datagrams read next are
    /// judged by the latest SDP the SIP side passed on (a refused address, a
    /// moved leg), not by the one it replaced. `false`: stop the relay.
    fn apply_pending_controls(&mut self, control: &mut mpsc::UnboundedReceiver<Control>) -> bool {
        loop {
            match control.try_recv() {
                Ok(Control::SetRemote(leg, remote)) => self.core.set_remote(now(), leg, remote),
                Ok(Control::Stop) | Err(mpsc::error::TryRecvError::Disconnected) => return false,
                Err(mpsc::error::TryRecvError::Empty) => return true,
            }
        }
    }

    /// Packets only ever push the deadline later, so the timer is reset only
    /// when the deadline moves earlier or after it fired; an early wake-up
    /// just finds the call not quiet yet.
    fn rearm(&self, timer: Pin<&mut Sleep>, armed: &mut Option<Instant>) {
        match (self.core.poll_timeout(), *armed) {
            (Some(deadline), Some(current)) if deadline >= current => {}
            (Some(deadline), _) => {
                timer.reset(tokio::time::Instant::from_std(deadline));
                *armed = Some(deadline);
            }
            (None, _) => *armed = None,
        }
    }

    fn drain(&mut self, legs: &[LegSockets; 2], leg: Leg, kind: PacketKind) {
        let socket = sockets_of(legs, leg).socket(kind);
        for _ in 0..DRAIN_BATCH {
            let (len, source) = match socket.try_recv_from(&mut self.buffer) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                // Errors queued by earlier sends (ICMP unreachable) concern
                // one peer, not this socket.
                Err(_) => continue,
            };
            let Some(datagram) = self.buffer.get(..len) else {
                continue;
            };
            let arrival = now();
            let decision = self
                .core
                .handle_packet(arrival, leg, kind, source, datagram);
            if decision.record && !self.recorder.offer(leg, arrival, datagram) {
                self.core.note_dropped(DropReason::RecorderFull);
                self.metrics.dropped(DropReason::RecorderFull);
            }
            match decision.action {
                Action::Forward { to, via } => {
                    match sockets_of(legs, via).socket(kind).try_send_to(datagram, to) {
                        Ok(_) => self.metrics.relayed(leg, len),
                        Err(_) => {
                            self.core.note_dropped(DropReason::SendFailed);
                            self.metrics.dropped(DropReason::SendFailed);
                        }
                    }
                }
                Action::Drop(reason) => self.metrics.dropped(reason),
            }
        }
    }

    fn publish_events(&mut self, events: &mpsc::UnboundedSender<RelayEvent>) {
        while let Some(event) = self.core.poll_event() {
            match &event {
                RelayEvent::Latched { leg, kind, .. } => {
                    tracing::debug!(?leg, ?kind, "media source latched")
                }
                RelayEvent::MediaTimeout { silent_since } => {
                    let silent_for = now().saturating_duration_since(*silent_since);
                    tracing::info!(?silent_for, "no RTP on the call: media timeout");
                }
                RelayEvent::Stopped { .. } => {}
            }
            let _ = events.send(event);
        }
    }
}

/// The recorder's side of the relay: a bounded channel it never waits on.
struct RecorderFeed {
    sender: Option<mpsc::Sender<RecorderCopy>>,
    arena: CopyArena,
    dropped_since_warning: u64,
    next_warning: Option<Instant>,
}

impl RecorderFeed {
    fn new(sender: Option<mpsc::Sender<RecorderCopy>>) -> Self {
        Self {
            sender,
            arena: CopyArena::new(),
            dropped_since_warning: 0,
            next_warning: None,
        }
    }

    /// Offers a copy; `false` when the recorder's channel was full.
    fn offer(&mut self, leg: Leg, arrival: Instant, datagram: &[u8]) -> bool {
        let Some(sender) = &self.sender else {
            return true;
        };
        let copy = RecorderCopy {
            leg,
            arrival,
            datagram: self.arena.copy(datagram),
        };
        match sender.try_send(copy) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => {
                tracing::info!("the call's recorder has gone; relaying without it");
                self.sender = None;
                true
            }
            Err(TrySendError::Full(_)) => {
                self.warn_falling_behind(arrival);
                false
            }
        }
    }

    fn warn_falling_behind(&mut self, now: Instant) {
        self.dropped_since_warning += 1;
        if self.next_warning.is_some_and(|next| now < next) {
            return;
        }
        tracing::warn!(
            dropped = self.dropped_since_warning,
            "the recorder is falling behind; its copies are being dropped"
        );
        self.dropped_since_warning = 0;
        self.next_warning = Some(now + RECORDER_WARN_INTERVAL);
    }
}
