//! The retention sweeper and legal holds on a real history: calls recorded
//! through the real binary on day 0 for a tenant that keeps recordings 30
//! days, then `greffier retention sweep --now` at day 29, 31 and 366, with
//! a legal hold on one call, a dry run, and two sweeps started at once.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::{binary, Gateway};
use support::ports::free_port;
use support::recorded::{
    cli_ok, files_under, hold_record, output_text, wait_recordings, RecordedCall, CARRIER_IP,
    DIALLED, PBX_IP, TENANT,
};

const STORED_BOUND: Duration = Duration::from_secs(30);
const ACME_NUMBER: &str = "+33123456789";

/// `now + days`, as `--now` takes it.
fn day(days: i64) -> String {
    (Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The object lines and the summary of a sweep's output.
fn report(stdout: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let summary = lines.pop().expect("a summary line");
    assert!(summary.get("summary").is_some(), "{stdout}");
    (lines, summary["summary"].clone())
}

fn sweep(config: &Path, days: i64, extra: &[&str]) -> (Vec<serde_json::Value>, serde_json::Value) {
    let now = day(days);
    let mut args = vec!["retention", "sweep", "--now", now.as_str()];
    args.extend_from_slice(extra);
    report(&cli_ok(config, &args))
}

/// Store keys (relative, `/`-separated) under `tenants/acme`.
fn stored(store: &Path) -> BTreeSet<String> {
    files_under(&store.join("tenants").join(TENANT))
        .iter()
        .map(|path| {
            path.strip_prefix(store)
                .expect("under the store")
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

fn of_record<'a>(keys: &'a BTreeSet<String>, id: &str, part: &str) -> Vec<&'a String> {
    keys.iter()
        .filter(|key| key.contains(id) && key.contains(part))
        .collect()
}

/// Every subject index entry names a record whose recording is stored.
fn assert_no_dangling_index(keys: &BTreeSet<String>) {
    for key in keys.iter().filter(|key| key.contains("/subjects/")) {
        let id = key.rsplit('/').next().expect("a record id");
        assert!(
            keys.iter().any(
                |other| other.contains("/recordings/") && other.ends_with(&format!("{id}.grf"))
            ),
            "index entry {key} points to no recording: {keys:#?}"
        );
    }
}

struct History {
    _gateway: Gateway,
    config: PathBuf,
    store: PathBuf,
    ids: Vec<String>,
}

fn two_recorded_calls() -> History {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    // The tenant support writes keeps recordings 30 days.
    let mut acme = TenantSpec::new(TENANT, ACME_NUMBER, pbx, carrier);
    acme.recording_policy = "all".to_string();
    let mut gateway = Gateway::start(GatewayConfig::write(vec![acme]));
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    for _ in 0..2 {
        RecordedCall::start(&gateway, pbx, carrier, "1000").finish();
    }
    let config = gateway.config.path().to_path_buf();
    let store = gateway.config.data_dir().join("store");
    let ids = wait_recordings(&config, 2, STORED_BOUND);
    gateway.stop(STORED_BOUND);
    History {
        _gateway: gateway,
        config,
        store,
        ids,
    }
}

#[test]
fn the_sweeper_removes_exactly_what_expired_keeps_held_calls_and_call_records() {
    let history = two_recorded_calls();
    let (config, store) = (&history.config, &history.store);
    let (held, free) = (&history.ids[0], &history.ids[1]);
    let day0 = stored(store);
    for id in [held, free] {
        assert_eq!(of_record(&day0, id, "/recordings/").len(), 2, "{day0:#?}");
        assert_eq!(of_record(&day0, id, "/cdr/").len(), 1, "{day0:#?}");
        assert!(!of_record(&day0, id, "/subjects/").is_empty(), "{day0:#?}");
    }
    assert!(
        day0.iter().all(|key| !key.contains(&DIALLED[1..])),
        "a number in an object key"
    );

    let hold_id = hold_record(config, TENANT, held, "court order 2026-17");
    let holds_stored = stored(store);
    let hold_object = holds_stored
        .iter()
        .find(|key| key.contains("/holds/"))
        .expect("the hold in the store");
    let hold_bytes = std::fs::read_to_string(store.join(hold_object)).expect("the hold object");
    assert!(
        !hold_bytes.contains("court order"),
        "the reason in clear: {hold_bytes}"
    );
    let listed_holds = cli_ok(config, &["hold", "list", "--tenant", TENANT]);
    assert!(
        listed_holds.contains("court order 2026-17"),
        "{listed_holds}"
    );

    // Day 29: nothing has expired.
    let (objects, summary) = sweep(config, 29, &[]);
    assert!(objects.is_empty(), "{objects:?}");
    assert_eq!(summary["deleted"], 0);
    assert_eq!(stored(store), holds_stored);

    // Day 31, dry run: says what would go, deletes nothing.
    let (would, summary) = sweep(config, 31, &["--dry-run"]);
    assert!(!would.is_empty());
    assert!(
        would.iter().all(|object| object["deleted"] == false),
        "{would:?}"
    );
    assert!(
        would.iter().all(|object| object["record"] == free.as_str()),
        "{would:?}"
    );
    assert_eq!(summary["deleted"], 0);
    assert_eq!(stored(store), holds_stored);

    // Day 31, two sweeps at once: both succeed, each object is reported once.
    let now = day(31);
    let spawn = || {
        Command::new(binary())
            .args(["retention", "sweep", "--now", &now, "--config"])
            .arg(config)
            .output()
    };
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(spawn);
        let second = scope.spawn(spawn);
        (
            first.join().expect("a sweep").expect("run greffier"),
            second.join().expect("a sweep").expect("run greffier"),
        )
    });
    assert!(first.status.success(), "{}", output_text(&first));
    assert!(second.status.success(), "{}", output_text(&second));
    let (mut swept, _) = report(&String::from_utf8_lossy(&first.stdout));
    swept.extend(report(&String::from_utf8_lossy(&second.stdout)).0);
    let mut swept_keys: Vec<String> = swept
        .iter()
        .map(|object| object["key"].as_str().expect("a key").to_string())
        .collect();
    swept_keys.sort();
    let mut expected: Vec<String> = would
        .iter()
        .map(|object| object["key"].as_str().expect("a key").to_string())
        .collect();
    expected.sort();
    assert_eq!(swept_keys, expected, "each object reported once");
    let day31 = stored(store);
    assert!(
        of_record(&day31, free, "/recordings/").is_empty(),
        "{day31:#?}"
    );
    assert!(
        of_record(&day31, free, "/subjects/").is_empty(),
        "{day31:#?}"
    );
    assert_eq!(
        of_record(&day31, free, "/cdr/").len(),
        1,
        "call records stay"
    );
    assert_eq!(
        of_record(&day31, held, "/recordings/").len(),
        2,
        "the held call stays"
    );
    assert!(!of_record(&day31, held, "/subjects/").is_empty());
    assert_no_dangling_index(&day31);

    // Released, the held call goes at the next sweep.
    cli_ok(config, &["hold", "release", "--id", &hold_id]);
    let (objects, _) = sweep(config, 31, &[]);
    assert!(objects
        .iter()
        .all(|object| object["record"] == held.as_str()));
    let released = stored(store);
    assert!(
        of_record(&released, held, "/recordings/").is_empty(),
        "{released:#?}"
    );
    assert_eq!(of_record(&released, held, "/cdr/").len(), 1);
    assert_no_dangling_index(&released);

    // Day 366: the call records' legal year is over.
    let (objects, summary) = sweep(config, 366, &[]);
    assert_eq!(summary["deleted"], 2, "{objects:?}");
    assert!(objects
        .iter()
        .all(|object| object["category"] == "call_record"));
    assert!(stored(store).is_empty(), "{:#?}", stored(store));
    let (again, summary) = sweep(config, 366, &[]);
    assert!(again.is_empty() && summary["deleted"] == 0, "idempotent");

    // The trail: every sweep and the hold are audited, and the chain holds.
    let verified = cli_ok(config, &["audit", "verify"]);
    assert!(verified.trim_end().ends_with("intact"), "{verified}");
    let trail = cli_ok(config, &["audit", "export", "--tenant", TENANT]);
    let entries: Vec<serde_json::Value> = trail
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let with = |action: &str, outcome: &str, record: &str| {
        entries
            .iter()
            .filter(|entry| {
                entry["action"] == action
                    && entry["outcome"] == outcome
                    && entry["objects"].as_array().is_some_and(|objects| {
                        objects.iter().any(|o| o == &format!("record:{record}"))
                    })
            })
            .count()
    };
    assert_eq!(with("held", "ok", held), 1, "{trail}");
    assert!(
        with("swept", "held", held) >= 2,
        "the kept call is audited: {trail}"
    );
    // Recording at day 31 (one entry from each concurrent sweep that
    // deleted some of its objects), call record at day 366.
    assert!((2..=3).contains(&with("swept", "ok", free)), "{trail}");
    assert_eq!(with("swept", "ok", held), 2, "{trail}");
    assert_eq!(
        entries
            .iter()
            .filter(|entry| entry["action"] == "released")
            .count(),
        1
    );
}

#[test]
fn the_gateway_sweeps_on_its_own_with_the_retention_in_force_for_data_already_stored() {
    let mut history = two_recorded_calls();
    let store = history.store.clone();
    let before = stored(&store);
    let expiring = before
        .iter()
        .filter(|key| key.contains("/recordings/") || key.contains("/subjects/"))
        .count();
    assert!(expiring >= 4, "{before:#?}");
    // The tenant now keeps recordings 0 days: what is stored expires too.
    let tenant_file = history
        .config
        .parent()
        .expect("the configuration directory")
        .join("tenants")
        .join(format!("{TENANT}.toml"));
    let text = std::fs::read_to_string(&tenant_file).expect("the tenant file");
    assert!(text.contains("recordings_days = 30"), "{text}");
    std::fs::write(
        &tenant_file,
        text.replace("recordings_days = 30", "recordings_days = 0"),
    )
    .expect("rewrite the tenant file");
    let gateway = &mut history._gateway;
    gateway.restart();
    gateway.wait_for_log(
        &[&format!("retention sweep done: {expiring} objects deleted")],
        STORED_BOUND,
    );
    let after = stored(&store);
    assert!(
        after.iter().all(|key| key.contains("/cdr/")),
        "only call records stay: {after:#?}"
    );
    assert_eq!(after.len(), 2, "{after:#?}");
    gateway.stop(STORED_BOUND);
    let trail = cli_ok(&history.config, &["audit", "export", "--tenant", TENANT]);
    let swept_by_gateway = trail
        .lines()
        .filter(|line| {
            line.contains("\"action\":\"swept\"") && line.contains("\"actor\":\"gateway\"")
        })
        .count();
    assert_eq!(swept_by_gateway, 2, "{trail}");
}
