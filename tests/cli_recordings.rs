//! `greffier recordings list|get|delete`, run as the real binary on
//! recordings written through the vault crate into a local store.

mod support;

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use greffier_vault::catalog::Direction;
use greffier_vault::store::RecordId;
use serde_json::json;
use support::vault::{
    flip_middle_byte, greffier, record_blocking, streamed_wav, with_real_sizes, CliRun, KeyMode,
    TestCall, VaultTree,
};

const DEMO: &str = "+33199000001";
const ALICE: &str = "+33612345678";
const BOB: &str = "+33698765432";

fn recordings(tree: &VaultTree, command: &str, extra: &[&str]) -> CliRun {
    let config = tree.config_arg();
    let mut args = vec![
        "recordings",
        command,
        "--config",
        config.as_str(),
        "--tenant",
        "demo",
    ];
    args.extend_from_slice(extra);
    greffier(args)
}

fn get(tree: &VaultTree, id: &RecordId, out: &Path) -> CliRun {
    let (id, out) = (id.to_string(), out.display().to_string());
    recordings(tree, "get", &["--id", &id, "--out", &out])
}

fn listed_ids(run: &CliRun) -> Vec<String> {
    run.json_lines()
        .iter()
        .map(|line| line["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, day, hour, 0, 0).unwrap()
}

/// Three calls in March 2024: Alice calls in on the 1st and the 5th, the
/// PBX calls Bob on the 3rd.
struct Recorded {
    tree: VaultTree,
    first: RecordId,
    second: RecordId,
    third: RecordId,
    audio: Vec<u8>,
}

fn three_calls() -> Recorded {
    let mut tree = VaultTree::new();
    tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.load();
    let audio = streamed_wav(100_000);
    let first = record_blocking(
        &config,
        &TestCall::new("demo", ALICE, DEMO, at(1, 10)),
        &audio,
    );
    let mut outbound = TestCall::new("demo", DEMO, BOB, at(3, 16));
    outbound.direction = Direction::Outbound;
    outbound.duration = Duration::milliseconds(61_250);
    let second = record_blocking(&config, &outbound, &audio);
    let third = record_blocking(
        &config,
        &TestCall::new("demo", ALICE, DEMO, at(5, 8)),
        &audio,
    );
    Recorded {
        tree,
        first,
        second,
        third,
        audio,
    }
}

#[test]
fn lists_by_day_range_and_by_number_without_numbers_in_the_output() {
    let recorded = three_calls();
    let tree = &recorded.tree;

    let all = recordings(
        tree,
        "list",
        &["--from", "2024-03-01", "--to", "2024-03-05"],
    )
    .ok();
    assert_eq!(
        all.json_lines(),
        vec![
            json!({"id": recorded.first.to_string(), "start": "2024-03-01T10:00:00.000Z",
                   "duration_secs": 42.0, "direction": "inbound", "incomplete": false,
                   "undecodable": []}),
            json!({"id": recorded.second.to_string(), "start": "2024-03-03T16:00:00.000Z",
                   "duration_secs": 61.25, "direction": "outbound", "incomplete": false,
                   "undecodable": []}),
            json!({"id": recorded.third.to_string(), "start": "2024-03-05T08:00:00.000Z",
                   "duration_secs": 42.0, "direction": "inbound", "incomplete": false,
                   "undecodable": []}),
        ]
    );

    let middle = recordings(
        tree,
        "list",
        &["--from", "2024-03-02", "--to", "2024-03-04"],
    )
    .ok();
    assert_eq!(listed_ids(&middle), vec![recorded.second.to_string()]);
    let last_day = recordings(
        tree,
        "list",
        &["--from", "2024-03-05", "--to", "2024-03-05"],
    )
    .ok();
    assert_eq!(listed_ids(&last_day), vec![recorded.third.to_string()]);

    let alice = recordings(tree, "list", &["--number", ALICE]).ok();
    assert_eq!(
        listed_ids(&alice),
        vec![recorded.first.to_string(), recorded.third.to_string()]
    );
    let alice_early = recordings(tree, "list", &["--number", ALICE, "--to", "2024-03-02"]).ok();
    assert_eq!(listed_ids(&alice_early), vec![recorded.first.to_string()]);
    let bob_without_plus = recordings(tree, "list", &["--number", &BOB[1..]]).ok();
    assert_eq!(
        listed_ids(&bob_without_plus),
        vec![recorded.second.to_string()]
    );
    let nobody = recordings(tree, "list", &["--number", "+33611111111"]).ok();
    assert!(nobody.stdout.is_empty(), "{}", nobody.stdout);

    for run in [&all, &alice, &bob_without_plus] {
        for digits in ["612345678", "698765432", "199000001"] {
            assert!(!run.stdout.contains(digits), "{}", run.stdout);
        }
    }
}

#[test]
fn lists_todays_calls_without_a_range() {
    let mut tree = VaultTree::new();
    tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.load();
    let start = Utc::now() - Duration::minutes(1);
    let id = record_blocking(
        &config,
        &TestCall::new("demo", ALICE, DEMO, start),
        &streamed_wav(800),
    );
    let listed = recordings(&tree, "list", &[]).ok();
    assert_eq!(listed_ids(&listed), vec![id.to_string()]);
}

#[test]
fn get_writes_a_playable_file_only_when_everything_authenticates() {
    let recorded = three_calls();
    let tree = &recorded.tree;

    let out = tree.scratch("first.wav");
    let fetched = get(tree, &recorded.first, &out).ok();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes, with_real_sizes(&recorded.audio));
    assert_eq!(&bytes[4..8], &(bytes.len() as u32 - 8).to_le_bytes());
    assert_eq!(&bytes[40..44], &(bytes.len() as u32 - 44).to_le_bytes());
    fetched.prints(&format!("{} bytes", bytes.len()));

    let again = get(tree, &recorded.third, &out).failed();
    again.says("already exists");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        bytes,
        "an existing file was replaced"
    );

    flip_middle_byte(&tree.object_file(&recorded.second, ".grf"));
    let tampered_out = tree.scratch("second.wav");
    let tampered = get(tree, &recorded.second, &tampered_out).failed();
    tampered.says("failed authentication");
    tampered.says("nothing was written");
    tampered.in_one_line();
    assert!(
        !tampered_out.exists(),
        "a tampered recording produced a file"
    );
    let leftovers: Vec<_> = std::fs::read_dir(tampered_out.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("first.wav")]);
}

/// An attacker with write access to the store copies one call's objects
/// over another's: `get` refuses, naming both records, and writes nothing.
#[test]
fn objects_copied_over_another_record_are_refused_by_get_and_list() {
    let recorded = three_calls();
    let tree = &recorded.tree;
    let (first, second, third) = (
        recorded.first.to_string(),
        recorded.second.to_string(),
        recorded.third.to_string(),
    );
    std::fs::copy(
        tree.object_file(&recorded.first, ".grf"),
        tree.object_file(&recorded.second, ".grf"),
    )
    .unwrap();
    let out = tree.scratch("second.wav");
    let swapped = get(tree, &recorded.second, &out).failed();
    swapped.says("wrong object");
    swapped.says(&format!("asked for the recording of record {second}"));
    swapped.says(&format!("the recording of record {first}"));
    swapped.in_one_line();
    assert!(!out.exists(), "a swapped recording produced a file");

    std::fs::copy(
        tree.object_file(&recorded.first, ".manifest.grf"),
        tree.object_file(&recorded.third, ".manifest.grf"),
    )
    .unwrap();
    // The recording itself is intact and checked on its own; the swapped
    // manifest is reported, not used.
    let out = tree.scratch("third.wav");
    let swapped = get(tree, &recorded.third, &out).ok();
    swapped.says("warning: the manifest");
    swapped.says(&format!("asked for the manifest of record {third}"));
    swapped.says(&format!("the manifest of record {first}"));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        with_real_sizes(&recorded.audio)
    );
    let listed = recordings(
        tree,
        "list",
        &["--from", "2024-03-01", "--to", "2024-03-05"],
    )
    .failed();
    listed.says("wrong object");
    assert!(
        !listed.stdout.contains(&first),
        "a swapped manifest was listed"
    );
    for number in [ALICE, BOB, DEMO] {
        assert!(!swapped.stderr.contains(number) && !listed.stderr.contains(number));
    }

    let out = tree.scratch("first.wav");
    get(tree, &recorded.first, &out).ok();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        with_real_sizes(&recorded.audio)
    );
}

#[test]
fn delete_removes_the_recording_from_every_listing() {
    let recorded = three_calls();
    let tree = &recorded.tree;
    let third = recorded.third.to_string();

    let deleted = recordings(tree, "delete", &["--id", &third]).ok();
    deleted.prints(&third);
    let alice = recordings(tree, "list", &["--number", ALICE]).ok();
    assert_eq!(listed_ids(&alice), vec![recorded.first.to_string()]);
    let all = recordings(
        tree,
        "list",
        &["--from", "2024-03-01", "--to", "2024-03-31"],
    )
    .ok();
    assert_eq!(
        listed_ids(&all),
        vec![recorded.first.to_string(), recorded.second.to_string()]
    );
    let out = tree.scratch("third.wav");
    let gone = get(tree, &recorded.third, &out).failed();
    gone.says("not found");
    assert!(!out.exists());
    recordings(tree, "delete", &["--id", &third]).ok();
}

fn hold(tree: &VaultTree, target: &[&str]) -> String {
    let config = tree.config_arg();
    let mut args = vec![
        "hold",
        "set",
        "--config",
        config.as_str(),
        "--tenant",
        "demo",
        "--reason",
        "court order 2026-17",
    ];
    args.extend_from_slice(target);
    let set = greffier(args).ok().json_lines();
    set[0]["id"].as_str().expect("a hold id").to_string()
}

/// The tenant's audit entries whose action is `action`.
fn audit_entries(tree: &VaultTree, action: &str) -> Vec<serde_json::Value> {
    let config = tree.config_arg();
    greffier(["audit", "export", "--config", &config, "--tenant", "demo"])
        .ok()
        .json_lines()
        .into_iter()
        .filter(|entry| entry["action"] == action)
        .collect()
}

#[test]
fn a_held_recording_is_not_deleted_and_the_refusal_is_audited() {
    let recorded = three_calls();
    let tree = &recorded.tree;
    let (first, second, third) = (
        recorded.first.to_string(),
        recorded.second.to_string(),
        recorded.third.to_string(),
    );
    let on_record = hold(tree, &["--record", &second]);
    let on_alice = hold(tree, &["--number", ALICE]);

    for (id, hold) in [(&second, &on_record), (&third, &on_alice)] {
        let refused = recordings(tree, "delete", &["--id", id]).failed();
        refused.says("under legal hold");
        refused.says(hold);
        refused.in_one_line();
        assert!(!refused.stderr.contains(&ALICE[1..]), "{}", refused.stderr);
    }
    let all = recordings(
        tree,
        "list",
        &["--from", "2024-03-01", "--to", "2024-03-31"],
    )
    .ok();
    assert_eq!(
        listed_ids(&all),
        vec![first.clone(), second.clone(), third.clone()],
        "nothing held was deleted"
    );
    let out = tree.scratch("second.wav");
    get(tree, &recorded.second, &out).ok();

    let refusals: Vec<_> = audit_entries(tree, "deleted");
    assert_eq!(refusals.len(), 2, "{refusals:#?}");
    assert_eq!(refusals[0]["outcome"], "held");
    assert_eq!(
        refusals[0]["objects"],
        json!([format!("record:{second}"), format!("hold:{on_record}")])
    );
    assert_eq!(
        refusals[1]["objects"],
        json!([format!("record:{third}"), format!("hold:{on_alice}")])
    );

    let config = tree.config_arg();
    greffier(["hold", "release", "--config", &config, "--id", &on_record]).ok();
    recordings(tree, "delete", &["--id", &second]).ok();
    let deleted = audit_entries(tree, "deleted");
    assert_eq!(deleted.len(), 3, "{deleted:#?}");
    assert_eq!(deleted[2]["outcome"], "ok");
    // The hold on Alice's number still keeps her calls.
    recordings(tree, "delete", &["--id", &third])
        .failed()
        .says("under legal hold");
}

#[test]
fn bad_arguments_get_one_clear_line_without_the_number() {
    let recorded = three_calls();
    let tree = &recorded.tree;

    let number = recordings(tree, "list", &["--number", "+3361234567899999"]).failed();
    number.says("--number +336…99");
    assert!(!number.stderr.contains("12345678"), "{}", number.stderr);
    number.in_one_line();

    let out = tree.scratch("x.wav").display().to_string();
    let id = recordings(tree, "get", &["--id", "not-an-id", "--out", &out]).failed();
    id.says("expected a recording id");
    let v4 = recordings(
        tree,
        "get",
        &[
            "--id",
            "0b5e4cbe-9a3c-4d4e-8f33-4a5b7c2e9d10",
            "--out",
            &out,
        ],
    )
    .failed();
    v4.says("UUIDv7");

    let config = tree.config_arg();
    let unknown = greffier([
        "recordings",
        "list",
        "--config",
        &config,
        "--tenant",
        "initech",
        "--from",
        "2024-03-01",
    ])
    .failed();
    unknown.says("initech has no keys");
}
