//! The chain without I/O: histories written by [`ChainWriter`], cut into
//! segments, tampered with the way someone with write access to the store
//! could, and walked by [`verify_chain`].

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::store::{NodeId, RecordId};
use crate::tenant::TenantId;

fn node() -> NodeId {
    NodeId::new("gw1").unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

fn record(i: usize) -> AuditRecord {
    let tenant = TenantId::new(if i.is_multiple_of(3) { "beta" } else { "acme" }).unwrap();
    let id: RecordId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
    match i % 4 {
        0 => AuditRecord::recorded(tenant, id, Outcome::Ok),
        1 => AuditRecord::new(
            Actor::cli(),
            Role::Operator,
            Origin::Cli,
            tenant,
            Action::Read,
        )
        .object(ObjectRef::Record(id)),
        2 => AuditRecord::new(
            Actor::cli(),
            Role::Operator,
            Origin::Cli,
            tenant,
            Action::Deleted,
        )
        .object(ObjectRef::Record(id))
        .outcome(Outcome::Failed),
        _ => AuditRecord::new(
            Actor::gateway(),
            Role::System,
            Origin::Gateway,
            tenant,
            Action::Swept,
        )
        .object(ObjectRef::Record(id))
        .outcome(Outcome::Held),
    }
}

/// A history of `sizes.iter().sum()` entries, as segments of those sizes:
/// each segment is a list of lines (without newlines).
fn history(sizes: &[usize]) -> Vec<Vec<Vec<u8>>> {
    let mut writer = ChainWriter::new(node(), ChainHead::GENESIS);
    let mut i = 0;
    sizes
        .iter()
        .map(|size| {
            (0..*size)
                .map(|_| {
                    let mut line = writer.append(t0() + Duration::seconds(i as i64), &record(i));
                    i += 1;
                    line.pop();
                    line
                })
                .collect()
        })
        .collect()
}

/// Segments named after the first seq they were written with.
fn segments(lines: &[Vec<Vec<u8>>], sizes: &[usize]) -> Vec<Segment> {
    let mut first = 0;
    lines
        .iter()
        .zip(sizes)
        .map(|(lines, size)| {
            let mut bytes = Vec::new();
            for line in lines {
                bytes.extend_from_slice(line);
                bytes.push(b'\n');
            }
            let name = format!("audit/gw1/2026/12/04/{first:012}.jsonl");
            first += size;
            Segment { name, bytes }
        })
        .collect()
}

fn name(sizes: &[usize], segment: usize) -> String {
    let first: usize = sizes[..segment].iter().sum();
    format!("audit/gw1/2026/12/04/{first:012}.jsonl")
}

/// The line with `body` (a line without its hash field) rehashed, as
/// someone who knows the format would write it.
fn rehashed(line: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(line).unwrap();
    let body = format!("{}}}", &text[..text.find(",\"hash\":").unwrap()]);
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]).into_bytes()
}

fn replace(line: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8(line.to_vec())
        .unwrap()
        .replacen(from, to, 1)
        .into_bytes()
}

fn verify(lines: &[Vec<Vec<u8>>], sizes: &[usize]) -> ChainReport {
    verify_chain(&segments(lines, sizes), None)
}

fn finding(lines: &[Vec<Vec<u8>>], sizes: &[usize]) -> Finding {
    verify(lines, sizes).finding.expect("a finding")
}

const SIZES: [usize; 3] = [4, 3, 5];

/// What verify found, after checking it is at `line` (1-based) of segment
/// `segment` of a [`SIZES`] history.
fn named_at(lines: &[Vec<Vec<u8>>], segment: usize, line: usize) -> Problem {
    let found = finding(lines, &SIZES);
    let expected = Position {
        segment: name(&SIZES, segment),
        line,
    };
    assert_eq!(found.at, expected, "{found}");
    found.problem
}

#[test]
fn an_intact_chain_verifies_and_reports_its_head() {
    let lines = history(&SIZES);
    let report = verify(&lines, &SIZES);
    assert_eq!(report.finding, None);
    assert_eq!((report.segments, report.entries), (3, 12));
    assert_eq!(report.head.next_seq, 12);
    let last = parse_line(lines[2].last().unwrap()).unwrap();
    assert_eq!(report.head.last_hash, last.hash);
    assert!(last.hash_matches);
}

#[test]
fn entries_link_to_the_hash_of_the_one_before() {
    let lines = history(&[3]);
    let first = parse_line(&lines[0][0]).unwrap();
    let second = parse_line(&lines[0][1]).unwrap();
    assert_eq!(first.prev, chain::GENESIS_HASH);
    assert_eq!(first.seq, 0);
    assert_eq!(second.prev, first.hash);
    assert_eq!(second.seq, 1);
    let hashed = Sha256::digest(
        format!(
            "{}}}",
            std::str::from_utf8(&lines[0][0])
                .unwrap()
                .split(",\"hash\":")
                .next()
                .unwrap()
        )
        .as_bytes(),
    );
    assert_eq!(first.hash[..], hashed[..]);
}

#[test]
fn a_line_carries_no_number_and_only_the_documented_fields() {
    let mut writer = ChainWriter::new(node(), ChainHead::GENESIS);
    let number = crate::catalog::E164::new("+33612345678").unwrap();
    let record = record(1).object(ObjectRef::Number(MaskedNumber::of(&number)));
    let line = writer.append(t0(), &record);
    let text = String::from_utf8(line).unwrap();
    assert!(!text.contains("612345678"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    let mut expected = vec![
        "action", "actor", "hash", "node", "objects", "origin", "outcome", "prev", "role", "seq",
        "tenant", "time", "v",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    assert!(text.starts_with("{\"v\":1,\"seq\":0,\"time\":\"2026-12-04T10:00:00.000Z\""));
}

#[test]
fn an_edited_line_is_named() {
    let mut lines = history(&SIZES);
    lines[1][1] = replace(
        &lines[1][1],
        "\"outcome\":\"ok\"",
        "\"outcome\":\"refused\"",
    );
    let problem = named_at(&lines, 1, 2);
    assert!(matches!(problem, Problem::Changed(_)), "{problem:?}");
}

#[test]
fn an_edited_and_rehashed_line_is_named_by_the_next_one() {
    let mut lines = history(&SIZES);
    lines[0][3] = rehashed(&replace(
        &lines[0][3],
        "\"tenant\":\"beta\"",
        "\"tenant\":\"acme\"",
    ));
    // The last line of segment 0: the first line of segment 1 carries its hash.
    let problem = named_at(&lines, 0, 4);
    assert!(matches!(problem, Problem::Changed(_)), "{problem:?}");
}

#[test]
fn a_rehashed_prev_is_named_at_its_own_line() {
    let mut lines = history(&SIZES);
    let forged_prev = format!("\"prev\":\"{}\"", "ab".repeat(32));
    let text = String::from_utf8(lines[1][0].clone()).unwrap();
    let start = text.find("\"prev\":\"").unwrap();
    let edited = format!("{}{forged_prev}{}", &text[..start], &text[start + 73..]);
    lines[1][0] = rehashed(edited.as_bytes());
    let problem = named_at(&lines, 1, 1);
    assert!(matches!(problem, Problem::Changed(_)), "{problem:?}");
}

#[test]
fn a_deleted_line_is_named_with_its_seq() {
    let mut lines = history(&SIZES);
    lines[2].remove(2); // seq 9
    let problem = named_at(&lines, 2, 3);
    assert_eq!(problem, Problem::Removed { from: 9, to: 9 });
}

#[test]
fn a_deleted_last_line_of_a_segment_is_named_across_the_boundary() {
    let mut lines = history(&SIZES);
    lines[0].pop(); // seq 3
    let problem = named_at(&lines, 1, 1);
    assert_eq!(problem, Problem::Removed { from: 3, to: 3 });
}

#[test]
fn a_deleted_segment_is_named_by_the_next_one() {
    let lines = history(&SIZES);
    let kept = vec![lines[0].clone(), lines[2].clone()];
    let segs = vec![
        segments(&lines, &SIZES)[0].clone(),
        segments(&lines, &SIZES)[2].clone(),
    ];
    drop(kept);
    let found = verify_chain(&segs, None).finding.unwrap();
    assert_eq!(
        found.at,
        Position {
            segment: name(&SIZES, 2),
            line: 1
        }
    );
    assert_eq!(found.problem, Problem::Removed { from: 4, to: 6 });
}

#[test]
fn reordered_lines_are_named_within_and_across_segments() {
    let mut lines = history(&SIZES);
    lines[2].swap(1, 2);
    let problem = named_at(&lines, 2, 2);
    assert!(
        matches!(problem, Problem::Reordered { seq: 9, belongs_after: Some(ref after) } if after.line == 3),
        "{problem:?}"
    );

    let mut lines = history(&SIZES);
    let last_of_first = lines[0].pop().unwrap();
    let first_of_second = lines[1].remove(0);
    lines[0].push(first_of_second);
    lines[1].insert(0, last_of_first);
    let problem = named_at(&lines, 0, 4);
    assert!(
        matches!(problem, Problem::Reordered { seq: 4, .. }),
        "{problem:?}"
    );
}

#[test]
fn inserted_lines_are_named_whether_forged_well_or_badly() {
    // Forged with the right seq and prev: the next line bypasses it.
    let mut lines = history(&SIZES);
    let before = parse_line(&lines[1][0]).unwrap();
    let mut forger = ChainWriter::new(node(), ChainHead::after(&before));
    let mut forged = forger.append(t0(), &record(1));
    forged.pop();
    lines[1].insert(1, forged);
    let problem = named_at(&lines, 1, 2);
    assert_eq!(problem, Problem::Inserted);

    // A line of another chain.
    let mut lines = history(&SIZES);
    let stranger = history(&[7]).remove(0).remove(6);
    lines[2].insert(0, stranger);
    let problem = named_at(&lines, 2, 1);
    assert_eq!(problem, Problem::Inserted);
}

#[test]
fn a_cut_or_empty_segment_is_named() {
    let lines = history(&SIZES);
    let mut segs = segments(&lines, &SIZES);
    segs[1].bytes.pop();
    let found = verify_chain(&segs, None).finding.unwrap();
    assert_eq!(
        found.at,
        Position {
            segment: name(&SIZES, 1),
            line: 3
        }
    );

    let mut segs = segments(&lines, &SIZES);
    segs[1].bytes.clear();
    let found = verify_chain(&segs, None).finding.unwrap();
    assert_eq!(
        found.at,
        Position {
            segment: name(&SIZES, 1),
            line: 1
        }
    );
}

#[test]
fn the_anchor_protects_the_end_of_the_chain() {
    let lines = history(&SIZES);
    let segs = segments(&lines, &SIZES);
    let anchor = verify_chain(&segs, None).head;
    assert_eq!(verify_chain(&segs, Some(anchor)).finding, None);

    // The last line removed: only the anchor can tell.
    let mut cut = lines.clone();
    cut[2].pop();
    assert_eq!(verify(&cut, &SIZES).finding, None);
    let found = verify_chain(&segments(&cut, &SIZES), Some(anchor))
        .finding
        .unwrap();
    assert_eq!(
        found.at,
        Position {
            segment: name(&SIZES, 2),
            line: 5
        }
    );
    assert_eq!(found.problem, Problem::Removed { from: 11, to: 11 });

    // The last line rewritten with its hash recomputed.
    let mut rewritten = lines;
    let last = rewritten[2].pop().unwrap();
    rewritten[2].push(rehashed(&replace(
        &last,
        "\"outcome\":\"held\"",
        "\"outcome\":\"ok\"",
    )));
    assert_eq!(verify(&rewritten, &SIZES).finding, None);
    let found = verify_chain(&segments(&rewritten, &SIZES), Some(anchor))
        .finding
        .unwrap();
    assert_eq!(
        found.at,
        Position {
            segment: name(&SIZES, 2),
            line: 5
        }
    );
}

#[test]
fn tenant_lines_hold_only_that_tenants_visible_entries() {
    let lines = history(&SIZES);
    let segs = segments(&lines, &SIZES);
    let all = tenant_lines(
        &segs,
        "beta",
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
    );
    assert_eq!(all.len(), 4); // seq 0, 3, 6, 9
    assert!(all
        .iter()
        .all(|(_, line)| parse_line(line).unwrap().tenant == "beta"));
    let late = tenant_lines(
        &segs,
        "beta",
        t0() + Duration::seconds(5),
        t0() + Duration::seconds(9),
    );
    assert_eq!(late.len(), 1); // seq 6
}

#[test]
fn the_segment_policy_seals_on_size_or_age() {
    let policy = SegmentPolicy {
        max_bytes: 100,
        max_age: std::time::Duration::from_secs(60),
    };
    assert!(!policy.due(0, None, t0()));
    assert!(!policy.due(99, Some(t0()), t0() + Duration::seconds(59)));
    assert!(policy.due(100, Some(t0()), t0()));
    assert!(policy.due(1, Some(t0()), t0() + Duration::seconds(60)));
}

/// One way to tamper with a history, at a position in the whole chain.
#[derive(Debug, Clone)]
enum Tamper {
    /// A byte of a line changed to another printable character.
    Flip {
        at: usize,
        offset: usize,
        to: u8,
    },
    /// A field changed and the line's hash recomputed.
    Rehash {
        at: usize,
    },
    Delete {
        at: usize,
    },
    /// The line swapped with the next one.
    Swap {
        at: usize,
    },
    /// A well-forged line put before this one.
    Insert {
        at: usize,
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 0x21u8..0x7f).prop_map(|(at, offset, to)| Tamper::Flip {
            at,
            offset,
            to
        }),
        any::<usize>().prop_map(|at| Tamper::Rehash { at }),
        any::<usize>().prop_map(|at| Tamper::Delete { at }),
        any::<usize>().prop_map(|at| Tamper::Swap { at }),
        any::<usize>().prop_map(|at| Tamper::Insert { at }),
    ]
}

/// Which segment and line a position of the whole chain is.
fn locate(lines: &[Vec<Vec<u8>>], at: usize) -> (usize, usize) {
    let mut left = at;
    for (segment, seg_lines) in lines.iter().enumerate() {
        if left < seg_lines.len() {
            return (segment, left);
        }
        left -= seg_lines.len();
    }
    unreachable!("position inside the chain")
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Changed,
    Removed,
    Reordered,
    Inserted,
    Empty,
}

fn kind(problem: &Problem) -> Kind {
    match problem {
        Problem::NotAnEntry(_) | Problem::Changed(_) => Kind::Changed,
        Problem::Removed { .. } => Kind::Removed,
        Problem::Reordered { .. } => Kind::Reordered,
        Problem::Inserted => Kind::Inserted,
        Problem::EmptySegment => Kind::Empty,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Any one tampering of any history is found, at the right line, as the
    /// right kind. Changes at the very end of the chain that recompute
    /// hashes are left to the anchor (tested above).
    #[test]
    fn one_tampering_is_named(sizes in prop::collection::vec(1usize..6, 1..5), tamper in tamper()) {
        let mut lines = history(&sizes);
        let total: usize = sizes.iter().sum();
        prop_assume!(total >= 2);
        let (expected_segment, expected_line, expected_kind) = match tamper {
            Tamper::Flip { at, offset, to } => {
                let (s, l) = locate(&lines, at % total);
                let line = &mut lines[s][l];
                let offset = offset % line.len();
                prop_assume!(line[offset] != to);
                line[offset] = to;
                (s, l, Kind::Changed)
            }
            Tamper::Rehash { at } => {
                let at = at % (total - 1);
                let (s, l) = locate(&lines, at);
                let edited = replace(&lines[s][l], "\"v\":1,", "\"v\":1,\"note\":\"x\",");
                lines[s][l] = rehashed(&edited);
                (s, l, Kind::Changed)
            }
            Tamper::Delete { at } => {
                let at = at % (total - 1);
                let (s, l) = locate(&lines, at);
                lines[s].remove(l);
                if lines[s].is_empty() {
                    (s, 0, Kind::Empty)
                } else {
                    let (s, l) = locate(&lines, at);
                    (s, l, Kind::Removed)
                }
            }
            Tamper::Swap { at } => {
                let at = at % (total - 1);
                let (s, l) = locate(&lines, at);
                let (s2, l2) = locate(&lines, at + 1);
                let first = lines[s][l].clone();
                lines[s][l] = lines[s2][l2].clone();
                lines[s2][l2] = first;
                (s, l, Kind::Reordered)
            }
            Tamper::Insert { at } => {
                let at = at % total;
                let head = if at == 0 {
                    ChainHead::GENESIS
                } else {
                    let (s, l) = locate(&lines, at - 1);
                    ChainHead::after(&parse_line(&lines[s][l]).unwrap())
                };
                let mut forged = ChainWriter::new(node(), head).append(t0(), &record(at + 1));
                forged.pop();
                let (s, l) = locate(&lines, at);
                lines[s].insert(l, forged);
                (s, l, Kind::Inserted)
            }
        };
        let found = verify(&lines, &sizes).finding;
        let found = found.ok_or_else(|| TestCaseError::fail(format!("{tamper:?} not found")))?;
        prop_assert_eq!(
            &found.at,
            &Position { segment: name(&sizes, expected_segment), line: expected_line + 1 },
            "{:?}: {}", tamper, found
        );
        prop_assert_eq!(kind(&found.problem), expected_kind, "{:?}: {}", tamper, found);
    }
}
