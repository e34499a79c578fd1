//! `greffier transcripts list|get|delete`, run as the real binary on
//! recordings written through the vault as the gateway writes them, with
//! transcripts and jobs stored as the transcription worker stores them; and
//! every deletion of a record's data (the recording's deletion, the sweep,
//! a subject's erasure, a termination) taking its transcript and job where
//! it should and leaving them where it should not.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Duration, SecondsFormat, Utc};
use greffier_vault::store::RecordId;
use serde_json::json;
use support::vault::{
    greffier, job_json, record_blocking, sample_transcript, store_transcription, streamed_wav,
    CliRun, KeyMode, TestCall, VaultTree,
};

const DEMO: &str = "+33199000001";
const ALICE: &str = "+33612345678";
const BOB: &str = "+33698765432";

fn transcripts(tree: &VaultTree, tenant: &str, command: &str, extra: &[&str]) -> CliRun {
    let config = tree.config_arg();
    let mut args = vec![
        "transcripts",
        command,
        "--config",
        config.as_str(),
        "--tenant",
        tenant,
    ];
    args.extend_from_slice(extra);
    greffier(args)
}

fn record_call(
    tree: &VaultTree,
    tenant: &str,
    caller: &str,
    start: chrono::DateTime<Utc>,
) -> RecordId {
    let call = TestCall::new(tenant, caller, DEMO, start);
    record_blocking(&tree.load(), &call, &streamed_wav(8_000))
}

/// A call of `caller` to `tenant` an hour ago, transcribed (`words` in the
/// caller's segment) and its job done.
fn transcribed_call(tree: &VaultTree, tenant: &str, caller: &str, words: &str) -> RecordId {
    let id = record_call(tree, tenant, caller, Utc::now() - Duration::hours(1));
    store_transcription(
        &tree.load(),
        tenant,
        &id,
        Some(&sample_transcript(words)),
        Some(&job_json(json!({"state": "done"}), 1)),
    );
    id
}

/// The stored files of `tenant` that belong to record `id`, by the part of
/// the layout they are in (`recordings`, `transcripts`, `jobs`, `subjects`,
/// `cdr`).
fn parts_of(tree: &VaultTree, tenant: &str, id: &RecordId) -> BTreeSet<String> {
    let root = tree.store_dir().join("tenants").join(tenant);
    let mut parts = BTreeSet::new();
    collect(&root, &root, &id.to_string(), &mut parts);
    parts
}

fn collect(root: &Path, dir: &Path, id: &str, parts: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, id, parts);
        } else if entry.file_name().to_string_lossy().contains(id) {
            let relative = path.strip_prefix(root).expect("under the tenant");
            let part = relative
                .components()
                .next()
                .expect("a part")
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            parts.insert(part);
        }
    }
}

fn set(parts: &[&str]) -> BTreeSet<String> {
    parts.iter().map(|part| part.to_string()).collect()
}

/// The tenant's audit entries whose action is `action`.
fn audit_entries(tree: &VaultTree, tenant: &str, action: &str) -> Vec<serde_json::Value> {
    let config = tree.config_arg();
    greffier(["audit", "export", "--config", &config, "--tenant", tenant])
        .ok()
        .json_lines()
        .into_iter()
        .filter(|entry| entry["action"] == action)
        .collect()
}

/// Sets one tenant's retention in its file.
fn set_retention(tree: &VaultTree, tenant: &str, recordings: u32, transcripts: u32) {
    let file = tree
        .config()
        .parent()
        .expect("the configuration directory")
        .join(format!("tenants/{tenant}.toml"));
    let text = std::fs::read_to_string(&file).expect("the tenant file");
    let text = text
        .replace(
            "recordings_days = 30",
            &format!("recordings_days = {recordings}"),
        )
        .replace(
            "transcripts_days = 30",
            &format!("transcripts_days = {transcripts}"),
        );
    std::fs::write(&file, text).expect("write the tenant file");
}

#[test]
fn list_get_and_delete_with_their_audit_entries_and_holds() {
    let mut tree = VaultTree::new();
    tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
    let first = transcribed_call(&tree, "demo", ALICE, "bonjour madame");
    let second = record_call(&tree, "demo", BOB, Utc::now() - Duration::minutes(30));
    let refused = json!({"state": "refused", "code": "notice_running",
        "reason": "sub-processor speechco: notice period until 2026-12-15"});
    store_transcription(
        &tree.load(),
        "demo",
        &second,
        None,
        Some(&job_json(refused, 0)),
    );
    // A recording never transcribed is not listed.
    record_call(&tree, "demo", BOB, Utc::now() - Duration::minutes(10));

    let listed = transcripts(&tree, "demo", "list", &[]).ok();
    assert!(!listed.stdout.contains(&ALICE[1..]), "{}", listed.stdout);
    assert!(!listed.stdout.contains(&BOB[1..]), "{}", listed.stdout);
    let lines = listed.json_lines();
    assert_eq!(lines.len(), 2, "{}", listed.stdout);
    assert_eq!(lines[0]["id"], first.to_string());
    assert_eq!(
        lines[0]["start"],
        first
            .timestamp()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    );
    assert_eq!(lines[0]["state"], "done");
    assert_eq!(lines[0]["attempts"], 1);
    assert_eq!(lines[0]["transcript"], true);
    assert!(lines[0].get("code").is_none(), "{}", lines[0]);
    assert_eq!(lines[1]["id"], second.to_string());
    assert_eq!(lines[1]["state"], "refused");
    assert_eq!(lines[1]["code"], "notice_running");
    assert_eq!(lines[1]["transcript"], false);

    // Printed, then written to a file; the file is never replaced.
    let printed = transcripts(&tree, "demo", "get", &["--id", &first.to_string()]).ok();
    let printed: serde_json::Value = serde_json::from_str(&printed.stdout).expect("JSON");
    assert_eq!(printed, sample_transcript("bonjour madame"));
    let out = tree.scratch("first.json");
    let out_arg = out.display().to_string();
    transcripts(
        &tree,
        "demo",
        "get",
        &["--id", &first.to_string(), "--out", &out_arg],
    )
    .ok();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("the output file")).expect("JSON");
    assert_eq!(written, printed);
    transcripts(
        &tree,
        "demo",
        "get",
        &["--id", &first.to_string(), "--out", &out_arg],
    )
    .failed()
    .says("already exists");

    // No transcript, or no such id: a clear error on one line.
    let missing = transcripts(&tree, "demo", "get", &["--id", &second.to_string()]).failed();
    missing.says("has no transcript").in_one_line();
    transcripts(&tree, "demo", "get", &["--id", "not-an-id"])
        .failed()
        .says("expected a recording id");
    transcripts(&tree, "nobody", "list", &[]).failed();

    // Every read is audited before the text is given, naming the record
    // and its transcript; nothing read, nothing audited.
    let reads = audit_entries(&tree, "demo", "read");
    assert_eq!(reads.len(), 3, "{reads:#?}");
    for read in &reads {
        assert_eq!(
            read["objects"],
            json!([format!("record:{first}"), format!("transcript:{first}")])
        );
        assert_eq!(read["outcome"], "ok");
    }

    // A hold keeps the transcript, and its refusal is audited.
    let config = tree.config_arg();
    let hold = greffier([
        "hold",
        "set",
        "--config",
        &config,
        "--tenant",
        "demo",
        "--record",
        &first.to_string(),
        "--reason",
        "case 7",
    ])
    .ok()
    .json_lines()[0]["id"]
        .as_str()
        .expect("a hold id")
        .to_string();
    let refused = transcripts(&tree, "demo", "delete", &["--id", &first.to_string()]).failed();
    refused.says("under legal hold").says(&hold).in_one_line();
    assert!(parts_of(&tree, "demo", &first).contains("transcripts"));
    greffier(["hold", "release", "--config", &config, "--id", &hold]).ok();
    transcripts(&tree, "demo", "delete", &["--id", &first.to_string()])
        .ok()
        .prints(&first.to_string());
    let deletions = audit_entries(&tree, "demo", "deleted");
    assert_eq!(deletions.len(), 2, "{deletions:#?}");
    assert_eq!(deletions[0]["outcome"], "held");
    assert_eq!(
        deletions[0]["objects"],
        json!([
            format!("record:{first}"),
            format!("transcript:{first}"),
            format!("hold:{hold}")
        ])
    );
    assert_eq!(deletions[1]["outcome"], "ok");
    assert_eq!(
        deletions[1]["objects"],
        json!([format!("record:{first}"), format!("transcript:{first}")])
    );

    // The transcript alone went: the recording and the job stay.
    assert_eq!(
        parts_of(&tree, "demo", &first),
        set(&["cdr", "jobs", "recordings", "subjects"])
    );
    let lines = transcripts(&tree, "demo", "list", &[]).ok().json_lines();
    assert_eq!(lines[0]["state"], "done");
    assert_eq!(lines[0]["transcript"], false);
    transcripts(&tree, "demo", "get", &["--id", &first.to_string()])
        .failed()
        .says("has no transcript");
    transcripts(&tree, "demo", "delete", &["--id", &first.to_string()])
        .failed()
        .says("has no transcript");

    // Deleting a recording takes its job (and leases): no job is left to
    // retry for a record that is gone.
    assert!(parts_of(&tree, "demo", &second).contains("jobs"));
    greffier([
        "recordings",
        "delete",
        "--config",
        &config,
        "--tenant",
        "demo",
        "--id",
        &second.to_string(),
    ])
    .ok();
    assert_eq!(parts_of(&tree, "demo", &second), set(&["cdr"]));
    let lines = transcripts(&tree, "demo", "list", &[]).ok().json_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["id"], first.to_string());
}

#[test]
fn deleting_a_recording_takes_its_transcript_and_job() {
    let mut tree = VaultTree::new();
    tree.write_tenant("demo", &[DEMO], &KeyMode::Managed);
    let id = transcribed_call(&tree, "demo", ALICE, "au revoir");
    assert_eq!(
        parts_of(&tree, "demo", &id),
        set(&["cdr", "jobs", "recordings", "subjects", "transcripts"])
    );
    let config = tree.config_arg();
    greffier([
        "recordings",
        "delete",
        "--config",
        &config,
        "--tenant",
        "demo",
        "--id",
        &id.to_string(),
    ])
    .ok();
    assert_eq!(parts_of(&tree, "demo", &id), set(&["cdr"]));
    let deleted = audit_entries(&tree, "demo", "deleted");
    assert_eq!(deleted.len(), 1, "{deleted:#?}");
    assert_eq!(deleted[0]["objects"], json!([format!("record:{id}")]));
    assert!(transcripts(&tree, "demo", "list", &[])
        .ok()
        .stdout
        .is_empty());
}

fn sweep(tree: &VaultTree, days: i64) -> Vec<serde_json::Value> {
    let now = (Utc::now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let config = tree.config_arg();
    greffier(["retention", "sweep", "--config", &config, "--now", &now])
        .ok()
        .json_lines()
}

#[test]
fn transcripts_are_swept_on_their_own_retention_and_jobs_with_their_recording() {
    let mut tree = VaultTree::new();
    // `short` keeps transcripts 7 days and recordings 30; `long` the reverse.
    tree.write_tenant("short", &[DEMO], &KeyMode::Managed);
    tree.write_tenant("long", &["+33199000002"], &KeyMode::Managed);
    set_retention(&tree, "short", 30, 7);
    set_retention(&tree, "long", 7, 30);
    let short = transcribed_call(&tree, "short", ALICE, "premier appel");
    let long = transcribed_call(&tree, "long", ALICE, "second appel");
    let everything = set(&["cdr", "jobs", "recordings", "subjects", "transcripts"]);

    sweep(&tree, 6);
    assert_eq!(parts_of(&tree, "short", &short), everything);
    assert_eq!(parts_of(&tree, "long", &long), everything);

    let report = sweep(&tree, 8);
    assert_eq!(
        parts_of(&tree, "short", &short),
        set(&["cdr", "jobs", "recordings", "subjects"]),
        "{report:#?}"
    );
    assert_eq!(
        parts_of(&tree, "long", &long),
        set(&["cdr", "transcripts"]),
        "{report:#?}"
    );
    let categories: BTreeSet<String> = report
        .iter()
        .filter_map(|line| line["category"].as_str())
        .map(str::to_owned)
        .collect();
    assert!(categories.contains("transcription_job"), "{report:#?}");
    // The transcript outlives its recording and its job, and is still read.
    let listed = transcripts(&tree, "long", "list", &[]).ok().json_lines();
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["state"].is_null(), "{listed:#?}");
    assert_eq!(listed[0]["transcript"], true);
    transcripts(&tree, "long", "get", &["--id", &long.to_string()])
        .ok()
        .prints("second appel");
    let listed = transcripts(&tree, "short", "list", &[]).ok().json_lines();
    assert_eq!(listed[0]["state"], "done");
    assert_eq!(listed[0]["transcript"], false);

    sweep(&tree, 31);
    assert_eq!(parts_of(&tree, "short", &short), set(&["cdr"]));
    assert_eq!(parts_of(&tree, "long", &long), set(&["cdr"]));
}

#[test]
fn erasure_and_termination_remove_transcripts_and_jobs_and_a_return_holds_them() {
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &[DEMO], &KeyMode::Managed);
    tree.write_tenant("gone", &["+33199000002"], &KeyMode::Managed);
    let alice = transcribed_call(&tree, "acme", ALICE, "parole d'alice");
    let bob = transcribed_call(&tree, "acme", BOB, "parole de bob");
    let other = transcribed_call(&tree, "gone", ALICE, "autre locataire");
    let config = tree.config_arg();

    // Alice's erasure takes her call's transcript and job, not Bob's.
    let erased = greffier([
        "subject", "erase", "--config", &config, "--tenant", "acme", "--number", ALICE,
    ])
    .ok();
    let categories: BTreeSet<String> = erased
        .json_lines()
        .iter()
        .filter(|line| line["outcome"] == "deleted")
        .filter_map(|line| line["category"].as_str())
        .map(str::to_owned)
        .collect();
    assert!(categories.contains("transcript"), "{}", erased.stdout);
    assert!(
        categories.contains("transcription_job"),
        "{}",
        erased.stdout
    );
    assert_eq!(parts_of(&tree, "acme", &alice), set(&["cdr"]));
    assert_eq!(
        parts_of(&tree, "acme", &bob),
        set(&["cdr", "jobs", "recordings", "subjects", "transcripts"])
    );

    // A return holds Bob's transcript as JSON; then nothing of it is left.
    let dir = tree.scratch("returned");
    let dir_arg = dir.display().to_string();
    greffier([
        "tenant",
        "terminate",
        "--config",
        &config,
        "--tenant",
        "acme",
        "--return",
        &dir_arg,
    ])
    .ok();
    let returned: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("transcripts/{bob}.json")))
            .expect("the returned transcript"),
    )
    .expect("JSON");
    assert_eq!(returned, sample_transcript("parole de bob"));
    assert!(!dir.join("jobs").exists());
    assert_eq!(parts_of(&tree, "acme", &bob), set(&["cdr"]));

    // A deletion without return takes them too.
    greffier([
        "tenant",
        "terminate",
        "--config",
        &config,
        "--tenant",
        "gone",
        "--delete",
    ])
    .ok();
    assert_eq!(parts_of(&tree, "gone", &other), set(&["cdr"]));
}
