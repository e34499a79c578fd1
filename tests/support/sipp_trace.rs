//! What sipp writes down: its `-trace_msg` message log and its `-trace_stat`
//! statistics CSV.

use std::collections::HashMap;

/// Separator sipp writes before each logged message: dashes, then the time.
const SEPARATOR: &str = "----------------------------------------------- ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Sent,
    Received,
    /// Dropped on purpose by the scenario's `lost` attribute.
    Lost,
}

#[derive(Debug, Clone)]
pub(crate) struct TracedMessage {
    pub(crate) direction: Direction,
    /// The SIP message; empty for a lost one (sipp does not log its bytes).
    pub(crate) text: String,
}

impl TracedMessage {
    pub(crate) fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default().trim()
    }

    /// The method of a request.
    pub(crate) fn method(&self) -> Option<&str> {
        let start = self.start_line();
        (!start.starts_with("SIP/2.0"))
            .then(|| start.split(' ').next())
            .flatten()
    }

    /// The status code of a response.
    pub(crate) fn status(&self) -> Option<u16> {
        let rest = self.start_line().strip_prefix("SIP/2.0 ")?;
        rest.split(' ').next()?.parse().ok()
    }

    /// The value of the first header named `name` (case-insensitive, long form).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.text
            .lines()
            .skip(1)
            .take_while(|line| !line.trim().is_empty())
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
            })
    }

    /// The method named in CSeq (for a response, the request it answers).
    pub(crate) fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }
}

/// Splits a `-trace_msg` log into messages. sipp notes a message dropped by
/// a `lost` attribute on a line of its own, glued to the next separator and
/// not preceded by one: such a line becomes a `Lost` entry.
pub(crate) fn parse_message_log(text: &str) -> Vec<TracedMessage> {
    let mut messages = Vec::new();
    for chunk in text.split(SEPARATOR).skip(1) {
        // The first line of a chunk is the rest of the separator (the time).
        let Some((_, entry)) = chunk.split_once('\n') else {
            continue;
        };
        let (header, body) = entry.split_once('\n').unwrap_or((entry, ""));
        let (body, lost_lines) = split_lost_lines(body);
        if is_lost_line(header) {
            messages.push(lost());
        } else if let Some(direction) = direction_of(header) {
            let text = body.trim_start_matches(['\r', '\n']).to_string();
            messages.push(TracedMessage { direction, text });
        }
        messages.extend((0..lost_lines).map(|_| lost()));
    }
    messages
}

fn lost() -> TracedMessage {
    TracedMessage {
        direction: Direction::Lost,
        text: String::new(),
    }
}

fn direction_of(header: &str) -> Option<Direction> {
    if header.contains(" received ") {
        Some(Direction::Received)
    } else if header.contains(" sent ") {
        Some(Direction::Sent)
    } else {
        None
    }
}

/// `UDP message voluntary lost (while sending).`, `UDP message lost (recv).`
fn is_lost_line(line: &str) -> bool {
    line.contains(" message ") && line.contains("lost")
}

/// The body without its trailing lost-notes, and how many there were.
fn split_lost_lines(body: &str) -> (String, usize) {
    let mut lost_lines = 0;
    let kept: Vec<&str> = body
        .lines()
        .filter(|line| {
            let lost = is_lost_line(line) && !line.contains(':');
            lost_lines += usize::from(lost);
            !lost
        })
        .collect();
    (kept.join("\n"), lost_lines)
}

/// The last row of a `-trace_stat` CSV: cumulative counters at exit.
#[derive(Debug, Clone, Default)]
pub(crate) struct SippStats {
    pub(crate) columns: HashMap<String, String>,
}

impl SippStats {
    pub(crate) fn parse(csv: &str) -> Option<Self> {
        let rows: Vec<&str> = csv.lines().filter(|line| !line.trim().is_empty()).collect();
        let header: Vec<&str> = rows.first()?.split(';').collect();
        let last: Vec<&str> = rows.get(1..)?.last()?.split(';').collect();
        let columns = header
            .iter()
            .zip(last.iter())
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Some(Self { columns })
    }

    /// A counter such as `SuccessfulCall(C)`; 0 when absent or not a number.
    pub(crate) fn counter(&self, column: &str) -> u64 {
        self.columns
            .get(column)
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    }

    pub(crate) fn successful_calls(&self) -> u64 {
        self.counter("SuccessfulCall(C)")
    }

    pub(crate) fn failed_calls(&self) -> u64 {
        self.counter("FailedCall(C)")
    }

    pub(crate) fn created_calls(&self) -> u64 {
        self.counter("TotalCallCreated")
    }

    pub(crate) fn retransmissions(&self) -> u64 {
        self.counter("Retransmissions(C)")
    }

    /// The non-zero failure counters, for a readable report.
    pub(crate) fn failures(&self) -> Vec<(String, String)> {
        let mut failures: Vec<(String, String)> = self
            .columns
            .iter()
            .filter(|(name, value)| {
                name.starts_with("Failed") && name.ends_with("(C)") && value.as_str() != "0"
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        failures.sort();
        failures
    }
}
