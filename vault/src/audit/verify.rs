//! Walking one node's chain, sans-IO: its segments in order, every line
//! checked against its own hash and linked to the one before by `prev` and
//! `seq`. The first break is named: which segment, which line, and whether
//! an entry there was changed, removed, reordered or inserted.
//!
//! What a bare SHA-256 chain can tell (docs/audit.md, "What verify proves"):
//! an edit that does not recompute the line's hash is named at that line; an
//! edit that does is named by the next line, which recorded the old hash; a
//! removed line leaves a gap in `seq`; a moved line is found later in the
//! chain; an inserted line is bypassed by the line after it. The end of the
//! chain is only protected by an anchor (the head the writing node keeps).

use std::fmt;

use crate::audit::chain::{parse_line, split_lines, ChainHead, LineError, ParsedEntry};

/// One stored segment: its object key and bytes.
#[derive(Clone, Debug)]
pub struct Segment {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Where a finding is: a segment and a line in it (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub segment: String,
    pub line: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.segment, self.line)
    }
}

/// What is wrong at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The line is not an audit entry at all (it was changed beyond reading).
    NotAnEntry(LineError),
    /// The entry at the position was changed.
    Changed(&'static str),
    /// Entries `from..=to` (by `seq`) are missing before the position.
    Removed { from: u64, to: u64 },
    /// The entry at the position is not where it was written: it belongs
    /// after the entry at `belongs_after`.
    Reordered {
        seq: u64,
        belongs_after: Option<Position>,
    },
    /// The entry at the position was not written by the chain.
    Inserted,
    /// A segment without a single entry (sealed segments never are).
    EmptySegment,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotAnEntry(why) => write!(f, "changed: not an audit entry: {why}"),
            Problem::Changed(why) => write!(f, "changed: {why}"),
            Problem::Removed { from, to } if from == to => {
                write!(f, "removed: the entry with seq {from} is missing before this line")
            }
            Problem::Removed { from, to } => {
                write!(f, "removed: the entries with seq {from} to {to} are missing before this line")
            }
            Problem::Reordered {
                seq,
                belongs_after: Some(after),
            } => write!(f, "reordered: the entry with seq {seq} belongs after {after}"),
            Problem::Reordered {
                seq,
                belongs_after: None,
            } => write!(f, "reordered: the entry with seq {seq} belongs at the start of the chain"),
            Problem::Inserted => f.write_str(
                "inserted: this entry was not written by the chain (the next entry follows the one before it)",
            ),
            Problem::EmptySegment => f.write_str("changed: the segment holds no entry"),
        }
    }
}

/// The first break of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub at: Position,
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

/// What walking one chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub segments: usize,
    pub entries: usize,
    /// The head of the chain as stored (after its last line).
    pub head: ChainHead,
    pub finding: Option<Finding>,
}

struct Line {
    segment: usize,
    number: usize,
    terminated: bool,
    parsed: Result<ParsedEntry, LineError>,
}

/// Checks one node's chain. `segments` are in chain order; `anchor`, when
/// known, is a head the chain reached at some point (the writing node's
/// record of its last sealed entry), which protects the end of the chain
/// from truncation and rewriting.
pub fn verify_chain(segments: &[Segment], anchor: Option<ChainHead>) -> ChainReport {
    let mut lines = Vec::new();
    let mut empty_segment = None;
    for (index, segment) in segments.iter().enumerate() {
        let (split, terminated) = split_lines(&segment.bytes);
        if split.is_empty() && empty_segment.is_none() {
            empty_segment = Some(index);
        }
        let count = split.len();
        for (number, line) in split.into_iter().enumerate() {
            lines.push(Line {
                segment: index,
                number: number + 1,
                terminated: terminated || number + 1 < count,
                parsed: parse_line(line),
            });
        }
    }
    let walk = Walk {
        segments,
        lines: &lines,
    };
    let mut finding = walk.first_break();
    if let Some(empty) = empty_segment {
        let earlier = finding
            .as_ref()
            .is_none_or(|f| walk.segment_index(&f.at) > empty);
        if earlier {
            finding = Some(Finding {
                at: Position {
                    segment: segments[empty].name.clone(),
                    line: 1,
                },
                problem: Problem::EmptySegment,
            });
        }
    }
    let head = lines
        .last()
        .and_then(|line| line.parsed.as_ref().ok())
        .map_or(ChainHead::GENESIS, ChainHead::after);
    if finding.is_none() {
        finding = anchor.and_then(|anchor| walk.check_anchor(anchor));
    }
    ChainReport {
        segments: segments.len(),
        entries: lines.len(),
        head,
        finding,
    }
}

struct Walk<'a> {
    segments: &'a [Segment],
    lines: &'a [Line],
}

impl Walk<'_> {
    fn position(&self, index: usize) -> Position {
        let line = &self.lines[index];
        Position {
            segment: self.segments[line.segment].name.clone(),
            line: line.number,
        }
    }

    fn segment_index(&self, at: &Position) -> usize {
        self.segments
            .iter()
            .position(|segment| segment.name == at.segment)
            .unwrap_or(usize::MAX)
    }

    fn entry(&self, index: usize) -> Option<&ParsedEntry> {
        self.lines.get(index)?.parsed.as_ref().ok()
    }

    /// The head before line `index` if every line up to it were intact: the
    /// genesis for the first line.
    fn head_before(&self, index: Option<usize>) -> Option<ChainHead> {
        match index {
            None => Some(ChainHead::GENESIS),
            Some(before) => self.entry(before).map(ChainHead::after),
        }
    }

    /// Whether line `index` was written right after line `before` (`None`:
    /// the start of the chain).
    fn links(&self, index: usize, before: Option<usize>) -> bool {
        let (Some(entry), Some(head)) = (self.entry(index), self.head_before(before)) else {
            return false;
        };
        entry.prev == head.last_hash && entry.seq == head.next_seq
    }

    fn intact(&self, index: usize) -> bool {
        self.lines[index].terminated && self.entry(index).is_some_and(|entry| entry.hash_matches)
    }

    fn first_break(&self) -> Option<Finding> {
        (0..self.lines.len()).find_map(|index| {
            let before = index.checked_sub(1);
            if self.intact(index) && self.links(index, before) {
                None
            } else {
                Some(self.diagnose(index))
            }
        })
    }

    /// Names what happened at the first line that does not follow its
    /// predecessor.
    fn diagnose(&self, index: usize) -> Finding {
        let before = index.checked_sub(1);
        let at = |line: usize, problem| Finding {
            at: self.position(line),
            problem,
        };
        // A line written after one that comes later in the file was moved.
        if self.intact(index) {
            if let Some(entry) = self.entry(index) {
                let moved = (index + 1..self.lines.len()).find(|later| {
                    self.entry(*later).is_some_and(|earlier| {
                        earlier.hash == entry.prev && earlier.seq + 1 == entry.seq
                    })
                });
                if let Some(later) = moved {
                    return at(
                        index,
                        Problem::Reordered {
                            seq: entry.seq,
                            belongs_after: Some(self.position(later)),
                        },
                    );
                }
            }
        }
        // The next line follows the one before: this line was slipped in.
        if index + 1 < self.lines.len() && self.links(index + 1, before) {
            return at(index, Problem::Inserted);
        }
        // This line follows the one two back: the line before was slipped
        // in, with a correct `prev` and `seq` of its own.
        if let Some(before) = before {
            if self.links(index, before.checked_sub(1)) {
                return at(before, Problem::Inserted);
            }
        }
        let entry = match &self.lines[index].parsed {
            Err(error) => return at(index, Problem::NotAnEntry(error.clone())),
            Ok(entry) => entry,
        };
        if !self.lines[index].terminated {
            return at(
                index,
                Problem::Changed("the segment does not end with a newline"),
            );
        }
        if !entry.hash_matches {
            return at(
                index,
                Problem::Changed("its content does not match its hash"),
            );
        }
        let Some(expected) = self.head_before(before) else {
            // The line before is not an entry; it was named already unless
            // this is unreachable.
            return at(
                index,
                Problem::Changed("it follows a line that is not an entry"),
            );
        };
        if entry.prev == expected.last_hash {
            return at(
                index,
                Problem::Changed("its seq does not follow the entry before"),
            );
        }
        if entry.seq > expected.next_seq {
            return at(
                index,
                Problem::Removed {
                    from: expected.next_seq,
                    to: entry.seq - 1,
                },
            );
        }
        if entry.seq < expected.next_seq {
            return at(index, Problem::Inserted);
        }
        // Right seq, wrong prev: either the line before was changed (its
        // hash recomputed), or this line's prev was. A changed prev changes
        // this line's hash too, so the next line no longer follows it.
        let next_follows = index + 1 >= self.lines.len() || self.links(index + 1, Some(index));
        match before {
            Some(before) if next_follows => at(
                before,
                Problem::Changed("the next entry recorded another hash for it"),
            ),
            _ => at(
                index,
                Problem::Changed("its prev is not the hash of the entry before"),
            ),
        }
    }

    /// The chain must reach the anchor with the same hash.
    fn check_anchor(&self, anchor: ChainHead) -> Option<Finding> {
        if anchor.next_seq == 0 {
            return None;
        }
        let anchored = self.lines.iter().enumerate().find_map(|(index, line)| {
            let entry = line.parsed.as_ref().ok()?;
            (entry.seq + 1 == anchor.next_seq).then_some((index, entry))
        });
        match anchored {
            Some((_, entry)) if entry.hash == anchor.last_hash => None,
            Some((index, _)) => Some(Finding {
                at: self.position(index),
                problem: Problem::Changed("the node's record of this entry has another hash"),
            }),
            None => {
                let next = self.lines.len().checked_sub(1).and_then(|last| {
                    let entry = self.entry(last)?;
                    Some((self.position(last), entry.seq + 1))
                });
                let (mut at, from) = next.unwrap_or((
                    Position {
                        segment: self
                            .segments
                            .last()
                            .map_or_else(String::new, |s| s.name.clone()),
                        line: 0,
                    },
                    0,
                ));
                at.line += 1;
                Some(Finding {
                    at,
                    problem: Problem::Removed {
                        from,
                        to: anchor.next_seq - 1,
                    },
                })
            }
        }
    }
}
