//! Per-direction jitter buffer (sans-IO): packets go in with their arrival
//! time and come out in sequence order, with the number of packets lost
//! before each one and a flag where the stream restarted.
//!
//! A packet that directly follows the last released one leaves at once; any
//! other waits at most `window` for the packets before it. Gaps and timestamps
//! are turned into audio by the leg that owns the buffer.

use crate::rtp_header::RtpPacket;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    /// How long an out-of-order packet waits for the ones before it.
    pub window: Duration,
    /// Packets held at most; beyond this the oldest leaves even if early.
    pub max_packets: usize,
    /// A sequence jump larger than this is a restart, not a loss.
    pub max_sequence_jump: u16,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(100),
            max_packets: 64,
            max_sequence_jump: 1000,
        }
    }
}

/// An owned copy of the parts of an RTP packet the recorder uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedPacket {
    pub arrival: Instant,
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    pub payload_type: u8,
    pub marker: bool,
    pub payload: Vec<u8>,
}

impl BufferedPacket {
    pub fn new(arrival: Instant, packet: &RtpPacket<'_>) -> Self {
        Self {
            arrival,
            ssrc: packet.ssrc,
            sequence: packet.sequence,
            timestamp: packet.timestamp,
            payload_type: packet.payload_type,
            marker: packet.marker,
            payload: packet.payload().to_vec(),
        }
    }
}

/// A packet leaving the buffer, in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub packet: BufferedPacket,
    /// Sequence numbers skipped just before this packet.
    pub lost_before: u64,
    /// First packet of a new stream (new SSRC or a sequence jump).
    pub restart: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Accepted,
    /// Same sequence number as a packet still held.
    Duplicate,
    /// Older than a packet already released: a late or repeated packet.
    TooLate,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub duplicates: u64,
    pub too_late: u64,
    pub lost: u64,
    pub restarts: u64,
}

/// Sequence state of the current stream (one SSRC without jumps).
struct Stream {
    ssrc: u32,
    /// Extended (wrap-counting) sequence number of the newest packet seen.
    highest: u64,
    /// Extended sequence number the next release should carry.
    next_release: Option<u64>,
    held: BTreeMap<u64, BufferedPacket>,
    restart_pending: bool,
}

pub struct JitterBuffer {
    config: JitterConfig,
    stream: Option<Stream>,
    /// Packets of a stream that was replaced, released before the new one.
    retiring: VecDeque<Released>,
    stats: JitterStats,
}

/// Extended sequence numbers start from here plus the first sequence number,
/// so that packets just before the first one received still get a valid number.
const EXTENDED_ORIGIN: u64 = 1 << 32;

impl JitterBuffer {
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            stream: None,
            retiring: VecDeque::new(),
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    pub fn push(&mut self, now: Instant, packet: &RtpPacket<'_>) -> PushOutcome {
        self.stats.received += 1;
        let extended = match &self.stream {
            Some(stream) if stream.ssrc == packet.ssrc => {
                let delta = packet.sequence.wrapping_sub(stream.highest as u16) as i16;
                if delta.unsigned_abs() > self.config.max_sequence_jump {
                    None
                } else {
                    Some(stream.highest.wrapping_add_signed(i64::from(delta)))
                }
            }
            _ => None,
        };
        let Some(extended) = extended else {
            self.start_stream(packet);
            return self.hold(now, EXTENDED_ORIGIN + u64::from(packet.sequence), packet);
        };
        self.hold(now, extended, packet)
    }

    fn start_stream(&mut self, packet: &RtpPacket<'_>) {
        if let Some(old) = self.stream.take() {
            self.stats.restarts += 1;
            let mut next = old.next_release;
            let mut restart = old.restart_pending;
            for (extended, packet) in old.held {
                let lost_before = next.map_or(0, |n| extended.saturating_sub(n));
                self.stats.lost += lost_before;
                self.retiring.push_back(Released {
                    packet,
                    lost_before,
                    restart,
                });
                restart = false;
                next = Some(extended + 1);
            }
        }
        self.stream = Some(Stream {
            ssrc: packet.ssrc,
            highest: EXTENDED_ORIGIN + u64::from(packet.sequence),
            next_release: None,
            held: BTreeMap::new(),
            restart_pending: true,
        });
    }

    fn hold(&mut self, now: Instant, extended: u64, packet: &RtpPacket<'_>) -> PushOutcome {
        let Some(stream) = self.stream.as_mut() else {
            return PushOutcome::TooLate;
        };
        if stream.next_release.is_some_and(|next| extended < next) {
            self.stats.too_late += 1;
            return PushOutcome::TooLate;
        }
        if stream.held.contains_key(&extended) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        stream.highest = stream.highest.max(extended);
        stream
            .held
            .insert(extended, BufferedPacket::new(now, packet));
        PushOutcome::Accepted
    }

    /// The next packet whose turn has come at `now`, if any.
    pub fn pop_ready(&mut self, now: Instant) -> Option<Released> {
        if let Some(released) = self.retiring.pop_front() {
            return Some(released);
        }
        let window = self.config.window;
        let max_packets = self.config.max_packets;
        let stream = self.stream.as_mut()?;
        let (&extended, first) = stream.held.first_key_value()?;
        let in_turn = stream.next_release == Some(extended);
        let waited_enough = first.arrival + window <= now;
        if !(in_turn || waited_enough || stream.held.len() > max_packets) {
            return None;
        }
        let (_, packet) = stream.held.pop_first()?;
        let lost_before = stream
            .next_release
            .map_or(0, |next| extended.saturating_sub(next));
        stream.next_release = Some(extended + 1);
        self.stats.lost += lost_before;
        Some(Released {
            packet,
            lost_before,
            restart: std::mem::take(&mut stream.restart_pending),
        })
    }

    /// Releases everything still held, in order (end of call).
    pub fn drain(&mut self) -> Vec<Released> {
        let mut out = Vec::new();
        let far_future = self
            .stream
            .as_ref()
            .and_then(|s| s.held.values().map(|p| p.arrival).max());
        while let Some(released) = match far_future {
            Some(latest) => self.pop_ready(latest + self.config.window),
            None => self.retiring.pop_front(),
        } {
            out.push(released);
        }
        out
    }

    /// When the oldest held packet stops waiting for its predecessors.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.retiring.is_empty() {
            return self
                .retiring
                .front()
                .map(|released| released.packet.arrival);
        }
        let stream = self.stream.as_ref()?;
        stream
            .held
            .values()
            .next()
            .map(|packet| packet.arrival + self.config.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(ssrc: u32, sequence: u16) -> Vec<u8> {
        let mut bytes = vec![0x80, 8];
        bytes.extend_from_slice(&sequence.to_be_bytes());
        bytes.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
        bytes.extend_from_slice(&ssrc.to_be_bytes());
        bytes.push(sequence as u8);
        bytes
    }

    fn push(buffer: &mut JitterBuffer, now: Instant, ssrc: u32, sequence: u16) -> PushOutcome {
        let bytes = datagram(ssrc, sequence);
        buffer.push(now, &RtpPacket::parse(&bytes).unwrap())
    }

    fn released_sequences(buffer: &mut JitterBuffer, now: Instant) -> Vec<(u16, u64, bool)> {
        std::iter::from_fn(|| buffer.pop_ready(now))
            .map(|r| (r.packet.sequence, r.lost_before, r.restart))
            .collect()
    }

    #[test]
    fn reorders_across_the_sequence_wrap_and_drops_duplicates() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(JitterConfig::default());
        push(&mut buffer, start, 1, 65534);
        assert_eq!(released_sequences(&mut buffer, start), vec![]);
        let later = start + Duration::from_millis(100);
        assert_eq!(
            released_sequences(&mut buffer, later),
            vec![(65534, 0, true)]
        );
        assert_eq!(push(&mut buffer, later, 1, 0), PushOutcome::Accepted);
        assert_eq!(push(&mut buffer, later, 1, 0), PushOutcome::Duplicate);
        assert_eq!(released_sequences(&mut buffer, later), vec![]);
        assert_eq!(push(&mut buffer, later, 1, 65535), PushOutcome::Accepted);
        assert_eq!(
            released_sequences(&mut buffer, later),
            vec![(65535, 0, false), (0, 0, false)]
        );
        assert_eq!(push(&mut buffer, later, 1, 65533), PushOutcome::TooLate);
        assert_eq!(buffer.stats().duplicates, 1);
        assert_eq!(buffer.stats().too_late, 1);
    }

    #[test]
    fn reports_losses_after_the_window() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(JitterConfig::default());
        push(&mut buffer, start, 1, 10);
        released_sequences(&mut buffer, start + Duration::from_millis(100));
        let t = start + Duration::from_millis(120);
        push(&mut buffer, t, 1, 13);
        assert_eq!(released_sequences(&mut buffer, t), vec![]);
        assert_eq!(buffer.poll_timeout(), Some(t + Duration::from_millis(100)));
        assert_eq!(
            released_sequences(&mut buffer, t + Duration::from_millis(100)),
            vec![(13, 2, false)]
        );
        assert_eq!(buffer.stats().lost, 2);
    }

    #[test]
    fn ssrc_change_and_sequence_jump_restart_the_stream() {
        let start = Instant::now();
        let mut buffer = JitterBuffer::new(JitterConfig::default());
        let late = start + Duration::from_secs(1);
        push(&mut buffer, start, 1, 10);
        push(&mut buffer, start, 1, 12);
        push(&mut buffer, start, 2, 500);
        push(&mut buffer, start, 2, 501);
        assert_eq!(
            released_sequences(&mut buffer, late),
            vec![
                (10, 0, true),
                (12, 1, false),
                (500, 0, true),
                (501, 0, false)
            ]
        );
        push(&mut buffer, late, 2, 30_000);
        assert_eq!(
            released_sequences(&mut buffer, late + Duration::from_secs(1)),
            vec![(30_000, 0, true)]
        );
        assert_eq!(buffer.stats().restarts, 2);
        assert_eq!(buffer.stats().lost, 1);
    }
}
