//! Transcription seen from outside: the sections of the main file that
//! declare sub-processors, providers and the node's job timers; the
//! `greffier transcripts` commands; and the audit entries of a tenant,
//! wherever they are at the moment (the node's unsealed tail, a segment
//! waiting in the spool, or the store).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::Value;

use super::config::GatewayConfig;
use super::engine::Engine;
use super::recorded::{cli, cli_ok, output_text};

const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// A `[[subprocessors]]` entry.
pub(crate) fn subprocessor_toml(
    name: &str,
    country: &str,
    transfer_mechanism: &str,
    announced: NaiveDate,
) -> String {
    format!(
        "[[subprocessors]]\nname = {name:?}\npurpose = \"speech to text\"\ncountry = {country:?}\n\
         transfer_mechanism = {transfer_mechanism:?}\nannounced = \"{announced}\"\n"
    )
}

/// A `[[providers]]` entry of kind `openai` sending to `engine` (its
/// address and its key) on behalf of `subprocessor`.
pub(crate) fn engine_provider_toml(name: &str, engine: &Engine, subprocessor: &str) -> String {
    format!(
        "[[providers]]\nname = {name:?}\nkind = \"openai\"\nendpoint = {endpoint:?}\n\
         model = \"whisper-base\"\nlanguage = \"en\"\nkey_file = {key_file:?}\n\
         subprocessor = {subprocessor:?}\ntimeout_secs = 60\n",
        endpoint = engine.endpoint(),
        key_file = engine.key_file().display().to_string(),
    )
}

/// The node's `[transcription]` with timers short enough for a test: the
/// node looks for jobs every second and retries a failed attempt within
/// two. The lease outlasts the longest request (two channels of a short
/// call through Whisper base).
pub(crate) const FAST_JOBS_TOML: &str = "[transcription]\nworkers = 1\npoll_every = \"1s\"\n\
    lease = \"60s\"\nfirst_retry = \"1s\"\nmax_retry = \"2s\"\ngive_up_after = \"1h\"\n\
    recheck_refused = \"1s\"\n";

/// A date `working_days` French working days before `day`.
pub(crate) fn working_days_before(day: NaiveDate, working_days: u32) -> NaiveDate {
    let mut date = day;
    let mut counted = 0;
    while counted < working_days {
        date = date.pred_opt().expect("a date after the calendar's start");
        if greffier::transcription::notice::is_working_day(date) {
            counted += 1;
        }
    }
    date
}

/// `greffier transcripts list --tenant TENANT`: one JSON object per job.
pub(crate) fn list(config: &Path, tenant: &str) -> Vec<Value> {
    cli_ok(config, &["transcripts", "list", "--tenant", tenant])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// Waits up to `bound` until `count` jobs of `tenant` are listed and every
/// one is in `state` (`pending`, `refused`, `done`, `failed`); a job that
/// ends in another final state fails the test at once. Returns the jobs.
pub(crate) fn wait_jobs(
    config: &Path,
    tenant: &str,
    count: usize,
    state: &str,
    bound: Duration,
) -> Vec<Value> {
    wait_jobs_where(
        config,
        tenant,
        count,
        bound,
        &format!("state {state}"),
        |job| job["state"] == state,
    )
}

/// As [`wait_jobs`], until every job satisfies `wanted` (`what` says what
/// it is, for the failure message).
pub(crate) fn wait_jobs_where(
    config: &Path,
    tenant: &str,
    count: usize,
    bound: Duration,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + bound;
    loop {
        let jobs = list(config, tenant);
        if jobs.len() == count && jobs.iter().all(&wanted) {
            return jobs;
        }
        for job in &jobs {
            let state = job["state"].as_str().unwrap_or_default();
            assert!(
                wanted(job) || !matches!(state, "done" | "failed"),
                "a job of {tenant} ended otherwise than {what}: {job}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "not {count} jobs of {tenant} with {what} within {bound:?}: {jobs:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// `greffier transcripts get --tenant TENANT --id ID`: the transcript.
pub(crate) fn get(config: &Path, tenant: &str, id: &str) -> Value {
    let printed = cli_ok(
        config,
        &["transcripts", "get", "--tenant", tenant, "--id", id],
    );
    serde_json::from_str(printed.trim()).unwrap_or_else(|error| panic!("{error}: {printed}"))
}

/// `greffier transcripts run --once --now NOW`: the jobs due at `now`
/// processed once, by the CLI, with that clock.
pub(crate) fn run_once(config: &Path, now: &str) -> String {
    let output = cli(config, &["transcripts", "run", "--once", "--now", now]);
    let text = output_text(&output);
    assert!(output.status.success(), "transcripts run --once: {text}");
    text
}

/// The segments of a transcript said by `speaker`, their text in lower
/// case, in the transcript's order.
pub(crate) fn said_by(transcript: &Value, speaker: &str) -> Vec<(f64, String)> {
    transcript["segments"]
        .as_array()
        .unwrap_or_else(|| panic!("no segments in {transcript}"))
        .iter()
        .filter(|segment| segment["speaker"] == speaker)
        .map(|segment| {
            (
                segment["start"].as_f64().expect("a segment start"),
                segment["text"]
                    .as_str()
                    .expect("a segment text")
                    .to_lowercase(),
            )
        })
        .collect()
}

/// The position of each of `words` in `text`, which must hold them in this
/// order.
pub(crate) fn assert_in_order(text: &str, words: &[&str], whose: &str) {
    let mut from = 0;
    for word in words {
        let found = text[from..].find(word).unwrap_or_else(|| {
            panic!("`{word}` missing from {whose}'s words after the ones before it: {text:?}")
        });
        from += found + word.len();
    }
}

/// Every audit entry of `tenant` known so far, by (node, seq): the stored
/// segments (`greffier audit export`), and the node's spool (the unsealed
/// tail and sealed segments not yet uploaded). Oldest first per node.
pub(crate) fn audit_entries(config: &GatewayConfig, tenant: &str) -> Vec<Value> {
    let mut entries: BTreeMap<(String, u64), Value> = BTreeMap::new();
    let mut add = |line: &str| {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            return;
        };
        if entry["tenant"] != tenant {
            return;
        }
        let key = (
            entry["node"].as_str().unwrap_or_default().to_string(),
            entry["seq"].as_u64().unwrap_or_default(),
        );
        entries.insert(key, entry);
    };
    let spool = config.data_dir().join("spool/.audit");
    if let Ok(files) = std::fs::read_dir(&spool) {
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with(".jsonl") {
                for line in std::fs::read_to_string(file.path())
                    .unwrap_or_default()
                    .lines()
                {
                    add(line);
                }
            }
        }
    }
    for line in cli_ok(config.path(), &["audit", "export", "--tenant", tenant]).lines() {
        add(line);
    }
    entries.into_values().collect()
}

/// The entries of `tenant` in the store, as `greffier audit export` gives
/// them (sealed entries only).
pub(crate) fn exported_entries(config: &Path, tenant: &str) -> Vec<Value> {
    cli_ok(config, &["audit", "export", "--tenant", tenant])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// The `sent_to_subprocessor` entries of `tenant` about `record`.
pub(crate) fn sent_entries(config: &GatewayConfig, tenant: &str, record: &str) -> Vec<Value> {
    entries_about(config, tenant, "sent_to_subprocessor", record)
}

/// The entries of `tenant` with `action` naming `record:{record}`.
pub(crate) fn entries_about(
    config: &GatewayConfig,
    tenant: &str,
    action: &str,
    record: &str,
) -> Vec<Value> {
    let object = format!("record:{record}");
    audit_entries(config, tenant)
        .into_iter()
        .filter(|entry| {
            entry["action"] == action
                && entry["objects"]
                    .as_array()
                    .is_some_and(|objects| objects.iter().any(|o| *o == object.as_str()))
        })
        .collect()
}

/// Waits up to `bound` for an audit entry of `tenant` with `action` about
/// `record` for which `wanted` holds; returns it.
pub(crate) fn wait_audit(
    config: &GatewayConfig,
    tenant: &str,
    action: &str,
    record: &str,
    bound: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + bound;
    loop {
        let entries = entries_about(config, tenant, action, record);
        if let Some(entry) = entries.iter().find(|entry| wanted(entry)) {
            return entry.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no fitting `{action}` entry about record {record} of {tenant} within {bound:?}: {entries:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}
