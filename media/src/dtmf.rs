//! RFC 4733 telephone-events: payload parsing and one digit per event.
//!
//! A sender repeats every event packet while the key is down and sends the
//! end packet three times; all of them share the event's RTP timestamp, which
//! is what identifies one key press here.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TelephoneEventError {
    #[error("telephone-event payload of {0} bytes is shorter than 4")]
    TooShort(usize),
}

/// One RFC 4733 event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    /// In RTP timestamp units since the event's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    pub fn parse(payload: &[u8]) -> Result<Self, TelephoneEventError> {
        let &[event, flags, high, low, ..] = payload else {
            return Err(TelephoneEventError::TooShort(payload.len()));
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([high, low]),
        })
    }

    /// The DTMF key of this event, if it is one (RFC 4733 §3.2).
    pub fn digit(&self) -> Option<char> {
        match self.event {
            0..=9 => char::from_digit(u32::from(self.event), 10),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

/// A key press, on the recording's time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    pub digit: char,
    pub start_ms: u64,
    pub duration_ms: u64,
}

/// A key press in recording samples, before it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPress {
    pub digit: char,
    pub start: u64,
    pub length: u64,
}

/// What one telephone-event packet changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfUpdate {
    /// A new key press began at this recording position.
    Started { start: u64 },
    /// A key press is complete and must be reported once.
    Finished(KeyPress),
}

struct Current {
    ssrc: u32,
    timestamp: u32,
    digit: Option<char>,
    start: u64,
    duration: u16,
    clock_rate: u32,
    reported: bool,
}

impl Current {
    fn key_press(&self, rate: u32) -> Option<KeyPress> {
        Some(KeyPress {
            digit: self.digit?,
            start: self.start,
            length: u64::from(self.duration) * u64::from(rate) / u64::from(self.clock_rate.max(1)),
        })
    }
}

/// Turns a leg's telephone-event packets into key presses.
pub struct DtmfTracker {
    rate: u32,
    current: Option<Current>,
}

impl DtmfTracker {
    /// `rate` is the recording's sample rate, the unit of positions.
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            current: None,
        }
    }

    /// Handles one event packet; `start` is where its RTP timestamp falls in
    /// the recording. Returns up to two updates (a finished press, then a start).
    pub fn handle(
        &mut self,
        ssrc: u32,
        timestamp: u32,
        clock_rate: u32,
        start: u64,
        event: TelephoneEvent,
    ) -> Vec<DtmfUpdate> {
        let mut updates = Vec::new();
        let same_press = self
            .current
            .as_ref()
            .is_some_and(|c| c.ssrc == ssrc && c.timestamp == timestamp);
        if !same_press {
            updates.extend(self.finish());
            self.current = Some(Current {
                ssrc,
                timestamp,
                digit: event.digit(),
                start,
                duration: 0,
                clock_rate,
                reported: false,
            });
            updates.push(DtmfUpdate::Started { start });
        }
        if let Some(current) = self.current.as_mut() {
            current.duration = current.duration.max(event.duration);
            if event.end && !current.reported {
                current.reported = true;
                updates.extend(current.key_press(self.rate).map(DtmfUpdate::Finished));
            }
        }
        updates
    }

    /// Reports a press whose end packets were all lost (end of call or a new press).
    pub fn finish(&mut self) -> Option<DtmfUpdate> {
        let current = self.current.as_mut()?;
        if current.reported {
            return None;
        }
        current.reported = true;
        current.key_press(self.rate).map(DtmfUpdate::Finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(digit: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent::parse(&[
            digit,
            if end { 0x8a } else { 0x0a },
            (duration >> 8) as u8,
            duration as u8,
        ])
        .unwrap()
    }

    #[test]
    fn parses_payload_and_digits() {
        let parsed = TelephoneEvent::parse(&[11, 0x8a, 0x03, 0x20]).unwrap();
        assert_eq!(parsed.digit(), Some('#'));
        assert!(parsed.end);
        assert_eq!(parsed.volume, 10);
        assert_eq!(parsed.duration, 800);
        assert_eq!(event(10, false, 0).digit(), Some('*'));
        assert_eq!(event(15, false, 0).digit(), Some('D'));
        assert_eq!(event(16, false, 0).digit(), None);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2]),
            Err(TelephoneEventError::TooShort(2))
        );
    }

    #[test]
    fn repeated_end_packets_report_one_press() {
        let mut tracker = DtmfTracker::new(8000);
        let mut finished = Vec::new();
        for (end, duration) in [
            (false, 160),
            (false, 320),
            (true, 800),
            (true, 800),
            (true, 800),
        ] {
            for update in tracker.handle(7, 1000, 8000, 400, event(5, end, duration)) {
                if let DtmfUpdate::Finished(press) = update {
                    finished.push(press);
                }
            }
        }
        assert_eq!(tracker.finish(), None);
        assert_eq!(
            finished,
            vec![KeyPress {
                digit: '5',
                start: 400,
                length: 800
            }]
        );
    }

    #[test]
    fn a_press_without_end_is_reported_when_the_next_starts() {
        let mut tracker = DtmfTracker::new(16_000);
        tracker.handle(7, 1000, 8000, 0, event(1, false, 400));
        let updates = tracker.handle(7, 5000, 8000, 8000, event(2, false, 0));
        assert_eq!(
            updates,
            vec![
                DtmfUpdate::Finished(KeyPress {
                    digit: '1',
                    start: 0,
                    length: 800
                }),
                DtmfUpdate::Started { start: 8000 }
            ]
        );
        assert_eq!(
            tracker.finish(),
            Some(DtmfUpdate::Finished(KeyPress {
                digit: '2',
                start: 8000,
                length: 0
            }))
        );
    }
}
