//! `greffier requisition export`: the call records of one number over a
//! period, for an authority. Calls are recorded through the real binary
//! (sipp on both ends, E.164 numbers dialled) and, for exact dates, through
//! the vault as the gateway writes them; the export, the audit entry the
//! tenant sees, and the confidential entry it does not see are checked
//! through the binary.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Days, TimeZone, Utc};
use greffier_vault::catalog::Direction;
use sha2::{Digest, Sha256};
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{
    cli, cli_ok, files_under, output_text, wait_recordings, RecordedCall, CARRIER_IP, DIALLED,
    PBX_IP, TENANT,
};
use support::vault::{greffier, record_blocking, streamed_wav, KeyMode, TestCall, VaultTree};

const STORED_BOUND: Duration = Duration::from_secs(30);
const ACME_NUMBER: &str = "+33123456789";
/// A number the PBX also dials, which no requisition asks about.
const OTHER: &str = "+33187654321";

/// What an export directory holds.
struct Export {
    records: Vec<serde_json::Value>,
    manifest: serde_json::Value,
}

/// Reads an export, checking each file against the manifest's SHA-256 and
/// that the manifest lists every file there is.
fn read_export(dir: &Path) -> Export {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("the manifest"))
            .expect("the manifest is JSON");
    assert_eq!(manifest["purpose"], "requisition");
    let listed = manifest["files"].as_array().expect("a file list");
    let mut records = Vec::new();
    for file in listed {
        assert_eq!(file["kind"], "call_record");
        let name = file["file"].as_str().expect("a file name");
        let bytes = std::fs::read(dir.join(name)).expect("a listed file");
        assert_eq!(file["bytes"], bytes.len());
        assert_eq!(file["sha256"], hex::encode(Sha256::digest(&bytes)));
        let record: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(file["record"], record["record_id"]);
        records.push(record);
    }
    let on_disk: BTreeSet<String> = files_under(dir)
        .iter()
        .map(|path| {
            path.strip_prefix(dir)
                .expect("under the export")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut expected: BTreeSet<String> = listed
        .iter()
        .map(|file| file["file"].as_str().expect("a name").to_string())
        .collect();
    expected.insert("manifest.json".to_string());
    assert_eq!(on_disk, expected, "nothing but the listed files");
    Export { records, manifest }
}

fn record_ids(export: &Export) -> BTreeSet<String> {
    export
        .records
        .iter()
        .map(|record| {
            record["record_id"]
                .as_str()
                .expect("a record id")
                .to_string()
        })
        .collect()
}

/// Every audit line stored under `audit/` in the store, parsed.
fn stored_audit_lines(store: &Path) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    for segment in files_under(&store.join("audit")) {
        let text = std::fs::read_to_string(&segment).expect("a segment");
        lines.extend(
            text.lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON")),
        );
    }
    lines
}

fn of_action<'a>(entries: &'a [serde_json::Value], action: &str) -> Vec<&'a serde_json::Value> {
    entries
        .iter()
        .filter(|entry| entry["action"] == action)
        .collect()
}

fn day(offset: i64) -> String {
    let today = Utc::now().date_naive();
    let day = if offset < 0 {
        today - Days::new(offset.unsigned_abs())
    } else {
        today + Days::new(offset.unsigned_abs())
    };
    day.to_string()
}

struct History {
    _gateway: Gateway,
    config: PathBuf,
    store: PathBuf,
    /// The calls to [`DIALLED`], then the call to [`OTHER`].
    dialled: BTreeSet<String>,
    other: String,
    scratch: PathBuf,
}

/// Two calls to DIALLED and one to OTHER, through the real gateway.
fn three_recorded_calls() -> History {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut acme = TenantSpec::new(TENANT, ACME_NUMBER, pbx, carrier);
    acme.recording_policy = "all".to_string();
    let mut gateway = Gateway::start(GatewayConfig::write(vec![acme]));
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    for number in [DIALLED, OTHER, DIALLED] {
        RecordedCall::start_dialling(&gateway, pbx, carrier, number, "500").finish();
    }
    let config = gateway.config.path().to_path_buf();
    let store = gateway.config.data_dir().join("store");
    wait_recordings(&config, 3, STORED_BOUND);
    gateway.stop(STORED_BOUND);
    let listed = |number: &str| -> BTreeSet<String> {
        cli_ok(
            &config,
            &["recordings", "list", "--tenant", TENANT, "--number", number],
        )
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            entry["id"].as_str().expect("an id").to_string()
        })
        .collect()
    };
    let dialled = listed(DIALLED);
    let other = listed(OTHER);
    assert_eq!(
        (dialled.len(), other.len()),
        (2, 1),
        "{dialled:?} {other:?}"
    );
    let scratch = gateway.config.run_dir();
    History {
        _gateway: gateway,
        config,
        store,
        dialled,
        other: other.into_iter().next().expect("the other call"),
        scratch,
    }
}

fn requisition(
    config: &Path,
    out: &Path,
    number: &str,
    period: (&str, &str),
    extra: &[&str],
) -> String {
    let out = out.to_str().expect("a UTF-8 path");
    let mut args = vec![
        "requisition",
        "export",
        "--tenant",
        TENANT,
        "--number",
        number,
        "--from",
        period.0,
        "--to",
        period.1,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    cli_ok(config, &args)
}

#[test]
fn a_requisition_exports_that_numbers_call_records_and_the_tenant_sees_it_unless_confidential() {
    let history = three_recorded_calls();
    let config = &history.config;
    let (yesterday, today) = (day(-1), day(0));

    let out = history.scratch.join("requisition-1");
    let printed = requisition(
        config,
        &out,
        DIALLED,
        (&yesterday, &today),
        &["--reference", "PV 2026/117"],
    );
    let summary: serde_json::Value = serde_json::from_str(printed.trim()).expect("a JSON line");
    assert_eq!(summary["call_records"], 2);
    let export = read_export(&out);
    assert_eq!(
        record_ids(&export),
        history.dialled,
        "exactly the calls of that number"
    );
    assert!(!record_ids(&export).contains(&history.other));
    for record in &export.records {
        assert_eq!(record["callee"], DIALLED);
        assert_eq!(record["tenant"], TENANT);
        assert_eq!(record["sip_status"], 200);
    }
    let asked = &export.manifest["request"];
    assert_eq!(asked["number"], DIALLED);
    assert_eq!(asked["reference"], "PV 2026/117");
    assert_eq!(asked["confidential"], false);
    assert_eq!(
        (&asked["from"], &asked["to"]),
        (&serde_json::json!(yesterday), &serde_json::json!(today))
    );

    // A period before the calls holds none of them.
    let before = history.scratch.join("requisition-before");
    requisition(config, &before, DIALLED, (&day(-9), &day(-2)), &[]);
    assert!(read_export(&before).records.is_empty());

    let tenant_view = || -> Vec<serde_json::Value> {
        cli_ok(config, &["audit", "export", "--tenant", TENANT])
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    };
    let seen = tenant_view();
    let requisitions = of_action(&seen, "requisition");
    assert_eq!(requisitions.len(), 2, "{requisitions:#?}");
    let entry = requisitions[0];
    assert_eq!(entry["actor"], "cli");
    assert_eq!(entry["role"], "operator");
    assert_eq!(entry["outcome"], "ok");
    let objects: Vec<String> = entry["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|object| object.as_str().expect("a string").to_string())
        .collect();
    assert!(objects[0].starts_with("subject:"), "{objects:?}");
    let named: BTreeSet<String> = objects[1..]
        .iter()
        .map(|object| {
            object
                .strip_prefix("record:")
                .expect("a record")
                .to_string()
        })
        .collect();
    assert_eq!(named, history.dialled);
    let text = serde_json::to_string(&seen).expect("JSON");
    assert!(
        !text.contains(&DIALLED[1..]),
        "a number in clear in the audit log"
    );
    assert!(
        !text.contains("PV 2026"),
        "the reference stays out of the audit log"
    );

    // The law forbids telling the tenant: the entry is in the chain only.
    let secret = history.scratch.join("requisition-confidential");
    requisition(
        config,
        &secret,
        OTHER,
        (&yesterday, &today),
        &["--confidential", "--reference", "secret order"],
    );
    let export = read_export(&secret);
    assert_eq!(record_ids(&export), BTreeSet::from([history.other.clone()]));
    assert_eq!(export.manifest["request"]["confidential"], true);
    assert_eq!(
        of_action(&tenant_view(), "requisition").len(),
        2,
        "the confidential requisition is not in the tenant's export"
    );
    let chain = stored_audit_lines(&history.store);
    let confidential: Vec<_> = of_action(&chain, "requisition")
        .into_iter()
        .filter(|entry| entry["confidential"] == true)
        .collect();
    assert_eq!(confidential.len(), 1, "{chain:#?}");
    assert_eq!(
        confidential[0]["objects"][1],
        format!("record:{}", history.other)
    );
    let verified = cli_ok(config, &["audit", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}

#[test]
fn a_requisition_refuses_bad_requests_with_one_clear_line() {
    let mut tree = VaultTree::new();
    tree.write_tenant("demo", &[ACME_NUMBER], &KeyMode::Managed);
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.config();
    let out = tree.scratch("out");
    let run = |number: &str, from: &str, to: &str| {
        let out = out.to_str().expect("a UTF-8 path");
        cli(
            &config,
            &[
                "requisition",
                "export",
                "--tenant",
                "demo",
                "--number",
                number,
                "--from",
                from,
                "--to",
                to,
                "--out",
                out,
            ],
        )
    };
    let bad_number = run("+3361234567899999", "2024-03-01", "2024-03-02");
    assert!(!bad_number.status.success());
    let text = output_text(&bad_number);
    assert!(text.contains("--number +336…99"), "{text}");
    assert!(!text.contains("12345678"), "{text}");

    let reversed = run("+33612345678", "2024-03-05", "2024-03-01");
    assert!(!reversed.status.success());
    assert!(
        output_text(&reversed).contains("after --to"),
        "{}",
        output_text(&reversed)
    );

    std::fs::create_dir_all(&out).expect("the out directory");
    std::fs::write(out.join("left-over"), b"x").expect("a file in the out directory");
    let not_empty = run("+33612345678", "2024-03-01", "2024-03-02");
    assert!(!not_empty.status.success());
    assert!(
        output_text(&not_empty).contains("not empty"),
        "{}",
        output_text(&not_empty)
    );
}

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, day, hour, minute, 0).unwrap()
}

#[test]
fn the_period_is_whole_days_and_the_number_is_caller_or_callee() {
    const ALICE: &str = "+33612345678";
    const BOB: &str = "+33698765432";
    let mut tree = VaultTree::new();
    tree.write_tenant("demo", &[ACME_NUMBER], &KeyMode::Managed);
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.load();
    let audio = streamed_wav(8_000);
    let call = |caller: &str, callee: &str, start: DateTime<Utc>| {
        let mut call = TestCall::new("demo", caller, callee, start);
        if caller == ACME_NUMBER {
            call.direction = Direction::Outbound;
        }
        record_blocking(&config, &call, &audio).to_string()
    };
    let _day_before = call(ALICE, ACME_NUMBER, at(2, 23, 59));
    let first_minute = call(ALICE, ACME_NUMBER, at(3, 0, 0));
    let _bob = call(BOB, ACME_NUMBER, at(4, 12, 0));
    let alice_called = call(ACME_NUMBER, ALICE, at(4, 15, 0));
    let last_minute = call(ALICE, ACME_NUMBER, at(5, 23, 59));
    let _day_after = call(ALICE, ACME_NUMBER, at(6, 0, 0));

    let out = tree.scratch("export");
    let out_arg = out.to_str().expect("a UTF-8 path");
    let printed = greffier([
        "requisition",
        "export",
        "--config",
        &tree.config_arg(),
        "--tenant",
        "demo",
        "--number",
        ALICE,
        "--from",
        "2024-03-03",
        "--to",
        "2024-03-05",
        "--out",
        out_arg,
    ])
    .ok();
    let export = read_export(&out);
    let ids: Vec<String> = export
        .records
        .iter()
        .map(|record| record["record_id"].as_str().expect("an id").to_string())
        .collect();
    assert_eq!(
        ids,
        vec![first_minute, alice_called, last_minute],
        "{}",
        printed.stdout
    );
    assert_eq!(export.records[1]["callee"], ALICE);
    assert_eq!(export.records[0]["caller"], ALICE);
    let mode = std::fs::metadata(out.join(format!("call-records/{}.json", ids[0])))
        .expect("a call record")
        .permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.mode() & 0o077,
        0,
        "the export is readable by its owner only"
    );
}

#[test]
fn a_client_role_cannot_requisition_and_a_confidential_refusal_is_not_told() {
    use greffier::ops::requisition::RequisitionRequest;
    use greffier::ops::{Actor, Ops, SystemClock};
    use greffier_vault::audit::{Actor as AuditActor, Origin, Role};

    let mut tree = VaultTree::new();
    tree.write_tenant("demo", &[ACME_NUMBER], &KeyMode::Managed);
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.load();
    let out = tree.scratch("refused");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcomes = runtime.block_on(async {
        let ops = Ops::open(config, Box::new(SystemClock))
            .await
            .expect("open");
        let tenant = ops.known_tenant("demo").expect("the tenant");
        let mut outcomes = Vec::new();
        for (role, confidential) in [(Role::SuperAdmin, false), (Role::Admin, true)] {
            let actor = Actor {
                name: AuditActor::new("demo-admin").expect("a name"),
                role,
                origin: Origin::Api,
            };
            let request = RequisitionRequest {
                tenant: tenant.clone(),
                number: greffier_vault::catalog::E164::new("+33612345678").expect("E.164"),
                from: at(1, 0, 0).date_naive(),
                to: at(9, 0, 0).date_naive(),
                reference: None,
                confidential,
            };
            outcomes.push(
                ops.requisition(&actor, &request, &out)
                    .await
                    .err()
                    .map(|e| e.to_string()),
            );
        }
        ops.close().await;
        outcomes
    });
    for outcome in &outcomes {
        let error = outcome.as_deref().expect("refused");
        assert!(error.contains("may not export call records"), "{error}");
    }
    assert!(!out.exists(), "a refused requisition writes nothing");

    let seen = greffier([
        "audit",
        "export",
        "--config",
        &tree.config_arg(),
        "--tenant",
        "demo",
    ])
    .ok()
    .json_lines();
    let told = of_action(&seen, "requisition");
    assert_eq!(
        told.len(),
        1,
        "only the refusal that was not confidential: {seen:#?}"
    );
    assert_eq!(told[0]["outcome"], "refused");
    assert_eq!(told[0]["role"], "super_admin");
    let chain = stored_audit_lines(&tree.store_dir());
    let hidden: Vec<_> = of_action(&chain, "requisition")
        .into_iter()
        .filter(|entry| entry["confidential"] == true)
        .collect();
    assert_eq!(hidden.len(), 1, "{chain:#?}");
    assert_eq!(hidden[0]["outcome"], "refused");
    greffier(["audit", "verify", "--config", &tree.config_arg()])
        .ok()
        .prints("intact");
}
