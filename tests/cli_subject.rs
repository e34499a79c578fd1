//! Data-subject requests (`greffier subject export|erase`), run as the real
//! binary on calls written into a local store as the gateway writes them: a
//! number that is a party in several calls of two tenants, a legal hold,
//! and a tenant that keeps its own keys.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use greffier_vault::catalog::Direction;
use greffier_vault::store::RecordId;
use sha2::{Digest, Sha256};
use support::vault::{
    greffier, record_blocking, streamed_wav, CliRun, KeyMode, TestCall, VaultTree,
};

/// The data subject.
const SUBJECT: &str = "+33612345678";
/// Someone else, who calls the same lines.
const OTHER: &str = "+33698765432";
const ACME_LINE: &str = "+33199000001";
const GLOBEX_LINE: &str = "+33199000002";
const CUST_LINE: &str = "+33199000003";

fn subject(
    tree: &VaultTree,
    command: &str,
    tenant: &str,
    number: &str,
    extra: &[&OsStr],
) -> CliRun {
    let config = tree.config_arg();
    let mut args: Vec<&OsStr> = [
        "subject",
        command,
        "--config",
        config.as_str(),
        "--tenant",
        tenant,
        "--number",
        number,
    ]
    .into_iter()
    .map(OsStr::new)
    .collect();
    args.extend_from_slice(extra);
    greffier(args)
}

fn export(tree: &VaultTree, tenant: &str, number: &str, out: &Path, extra: &[&OsStr]) -> CliRun {
    let mut args = vec![OsStr::new("--out"), out.as_os_str()];
    args.extend_from_slice(extra);
    subject(tree, "export", tenant, number, &args)
}

/// Every stored file of `tenant`: its key (relative, `/`-separated) and the
/// SHA-256 of its bytes.
fn stored(tree: &VaultTree, tenant: &str) -> BTreeMap<String, String> {
    let store = tree.store_dir();
    support::recorded::files_under(&store.join("tenants").join(tenant))
        .into_iter()
        .map(|path| {
            let key = path
                .strip_prefix(&store)
                .expect("under the store")
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = std::fs::read(&path).expect("a stored object");
            (key, hex::encode(Sha256::digest(&bytes)))
        })
        .collect()
}

fn keys_of<'a>(stored: &'a BTreeMap<String, String>, id: &RecordId) -> Vec<&'a str> {
    let id = id.to_string();
    stored
        .keys()
        .filter(|key| key.contains(&id))
        .map(String::as_str)
        .collect()
}

/// What an export directory holds, checked against its `manifest.json`:
/// every file listed is there with its hash, parses (WAV with sound, JSON),
/// and nothing else is there. Returns the listed files.
fn checked_export(dir: &Path) -> Vec<serde_json::Value> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest.json"))
            .expect("manifest.json is JSON");
    let files = manifest["files"].as_array().expect("a file list").clone();
    let mut on_disk: BTreeSet<PathBuf> = support::recorded::files_under(dir).into_iter().collect();
    assert!(on_disk.remove(&dir.join("manifest.json")));
    for file in &files {
        let path = dir.join(file["file"].as_str().expect("a file name"));
        assert!(
            on_disk.remove(&path),
            "{} listed but not there",
            path.display()
        );
        let bytes = std::fs::read(&path).expect("an exported file");
        assert_eq!(
            file["sha256"],
            hex::encode(Sha256::digest(&bytes)),
            "{file}"
        );
        assert_eq!(file["bytes"], bytes.len(), "{file}");
        match file["kind"].as_str().expect("a kind") {
            "recording" => {
                let mut wav = hound::WavReader::open(&path).expect("a WAV file hound reads");
                assert!(wav.duration() > 0, "{file}");
                assert!(
                    wav.samples::<i16>()
                        .any(|sample| sample.expect("a sample") != 0),
                    "silence in {file}"
                );
            }
            _ => {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
            }
        }
    }
    assert!(on_disk.is_empty(), "files not listed: {on_disk:?}");
    files
}

fn records_and_kinds(files: &[serde_json::Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_record: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        by_record
            .entry(file["record"].as_str().expect("a record").to_string())
            .or_default()
            .insert(file["kind"].as_str().expect("a kind").to_string());
    }
    by_record
}

fn full_call() -> BTreeSet<String> {
    ["recording", "manifest", "call_record"]
        .map(String::from)
        .into()
}

fn call_record_only() -> BTreeSet<String> {
    ["call_record".to_string()].into()
}

#[test]
fn export_then_erase_a_number_in_one_tenant_keeps_call_records_holds_and_the_other_tenant() {
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &[ACME_LINE], &KeyMode::Managed);
    tree.write_tenant("globex", &[GLOBEX_LINE], &KeyMode::Managed);
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.load();
    let audio = streamed_wav(24_000);
    let start = Utc::now() - Duration::hours(6);
    let call = |tenant: &str, caller: &str, callee: &str, hours: i64| {
        let mut call = TestCall::new(tenant, caller, callee, start + Duration::hours(hours));
        if caller != SUBJECT && caller != OTHER {
            call.direction = Direction::Outbound;
        }
        record_blocking(&config, &call, &audio)
    };
    let called_in = call("acme", SUBJECT, ACME_LINE, 0);
    let someone_else = call("acme", OTHER, ACME_LINE, 1);
    let called_back = call("acme", ACME_LINE, SUBJECT, 2);
    let held = call("acme", SUBJECT, ACME_LINE, 3);
    let at_globex = call("globex", SUBJECT, GLOBEX_LINE, 1);
    call("globex", OTHER, GLOBEX_LINE, 2);
    // One call's index entries were never written (its node died before
    // uploading them): its call record still names the number.
    let unindexed = called_back.to_string();
    for key in stored(&tree, "acme").keys() {
        if key.contains("/subjects/") && key.ends_with(&unindexed) {
            std::fs::remove_file(tree.store_dir().join(key)).expect("remove an index entry");
        }
    }
    let acme_before = stored(&tree, "acme");
    assert!(!acme_before
        .keys()
        .any(|key| key.contains("/subjects/") && key.ends_with(&unindexed)));
    let globex_before = stored(&tree, "globex");
    assert!(
        acme_before.keys().all(|key| !key.contains("612345678")),
        "a number in an object key"
    );

    // Export: every acme call of the number, and nothing else, in open
    // formats; the number given as the configuration writes it (no `+`).
    let out = tree.scratch("export-acme");
    let exported = export(&tree, "acme", &SUBJECT[1..], &out, &[]).ok();
    let summary = &exported.json_lines()[0]["summary"];
    assert_eq!(summary["records"], 3, "{}", exported.stdout);
    let files = checked_export(&out);
    let by_record = records_and_kinds(&files);
    assert_eq!(
        by_record,
        [called_in, called_back, held]
            .iter()
            .map(|id| (id.to_string(), full_call()))
            .collect(),
        "{files:#?}"
    );
    for file in files.iter().filter(|file| file["kind"] == "manifest") {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(file["file"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        assert!(
            manifest["caller"] == SUBJECT || manifest["callee"] == SUBJECT,
            "{manifest}"
        );
    }
    assert_eq!(
        stored(&tree, "acme"),
        acme_before,
        "an export changed the store"
    );

    // An earlier export is never written over.
    export(&tree, "acme", SUBJECT, &out, &[])
        .failed()
        .says("not empty");

    // A hold on one call; then the erasure.
    let hold_id = {
        let config = tree.config_arg();
        let id = held.to_string();
        let set = greffier([
            "hold",
            "set",
            "--config",
            &config,
            "--tenant",
            "acme",
            "--record",
            &id,
            "--reason",
            "court order 2026-17",
        ])
        .ok();
        let hold: serde_json::Value = serde_json::from_str(set.stdout.trim()).expect("JSON");
        hold["id"].as_str().expect("a hold id").to_string()
    };
    let acme_held = stored(&tree, "acme");
    let erased = subject(&tree, "erase", "acme", SUBJECT, &[]).ok();
    let mut lines = erased.json_lines();
    let summary = lines.pop().expect("a summary line")["summary"].clone();
    assert_eq!(summary["records"], 3, "{}", erased.stdout);
    assert_eq!(summary["held_records"], 1, "{}", erased.stdout);
    assert_eq!(summary["call_records_kept"], 3, "{}", erased.stdout);
    let deleted: BTreeSet<String> = lines
        .iter()
        .filter(|line| line["outcome"] == "deleted")
        .map(|line| line["key"].as_str().expect("a key").to_string())
        .collect();
    assert_eq!(summary["deleted"], deleted.len());
    for line in lines.iter().filter(|line| line["outcome"] == "kept") {
        match line["reason"].as_str().expect("a reason") {
            "legal_hold" => {
                assert_eq!(line["record"], held.to_string(), "{line}");
                assert_eq!(line["holds"][0], hold_id.as_str(), "{line}");
            }
            "call_record_retention" => {
                assert_eq!(line["category"], "call_record", "{line}");
                assert!(line["until"].is_string(), "{line}");
            }
            other => panic!("kept for {other}: {line}"),
        }
    }
    assert!(erased
        .stdout
        .lines()
        .all(|line| !line.contains("612345678")));

    // Afterwards: of the number's erased calls only their call records
    // remain, the held call is whole, the other caller's call and the other
    // tenant are untouched.
    let acme_after = stored(&tree, "acme");
    for id in [called_in, called_back] {
        let left = keys_of(&acme_after, &id);
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].contains("/cdr/"), "{left:?}");
        assert!(keys_of(&acme_held, &id)
            .iter()
            .filter(|key| !key.contains("/cdr/"))
            .all(|key| deleted.contains(*key)));
    }
    for id in [held, someone_else] {
        assert_eq!(keys_of(&acme_after, &id), keys_of(&acme_held, &id));
    }
    assert_eq!(stored(&tree, "globex"), globex_before);
    assert!(stored(&tree, "globex")
        .keys()
        .any(|key| key.contains(&at_globex.to_string())));

    // What an export finds now: the call records, and the held call whole.
    let again = tree.scratch("export-acme-after");
    export(&tree, "acme", SUBJECT, &again, &[]).ok();
    let by_record = records_and_kinds(&checked_export(&again));
    assert_eq!(
        by_record,
        [
            (called_in.to_string(), call_record_only()),
            (called_back.to_string(), call_record_only()),
            (held.to_string(), full_call()),
        ]
        .into(),
    );
    // Erasing again deletes nothing more.
    let rerun = subject(&tree, "erase", "acme", SUBJECT, &[]).ok();
    assert_eq!(rerun.json_lines().last().unwrap()["summary"]["deleted"], 0);

    // The requests are audited by blind index, never the number.
    let audit = greffier([
        "audit",
        "export",
        "--config",
        &tree.config_arg(),
        "--tenant",
        "acme",
    ])
    .ok();
    assert!(audit.stdout.contains("subject_export"), "{}", audit.stdout);
    assert!(audit.stdout.contains("subject_erase"), "{}", audit.stdout);
    assert!(audit.stdout.contains("subject:"), "{}", audit.stdout);
    assert!(!audit.stdout.contains("612345678"), "{}", audit.stdout);
}

#[test]
fn a_client_mode_tenant_is_searched_only_with_its_private_key() {
    let mut tree = VaultTree::new();
    let (key_file, public_key) = tree.client_key_pair("client.key");
    tree.write_tenant("cust", &[CUST_LINE], &KeyMode::Client(public_key));
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.load();
    let audio = streamed_wav(16_000);
    let start = Utc::now() - Duration::hours(3);
    let mine = record_blocking(
        &config,
        &TestCall::new("cust", SUBJECT, CUST_LINE, start),
        &audio,
    );
    let other = record_blocking(
        &config,
        &TestCall::new("cust", OTHER, CUST_LINE, start + Duration::hours(1)),
        &audio,
    );
    let before = stored(&tree, "cust");
    // No index the gateway could search.
    assert!(
        before.keys().all(|key| !key.contains("/subjects/")),
        "{before:#?}"
    );

    // Without the client's key, both commands fail and change nothing.
    let out = tree.scratch("export-cust");
    export(&tree, "cust", SUBJECT, &out, &[])
        .failed()
        .says("--private-key");
    assert!(!out.join("manifest.json").exists());
    subject(&tree, "erase", "cust", SUBJECT, &[])
        .failed()
        .says("--private-key");
    assert_eq!(stored(&tree, "cust"), before);
    let config_arg = tree.config_arg();
    let audit = greffier([
        "audit",
        "export",
        "--config",
        &config_arg,
        "--tenant",
        "cust",
    ])
    .ok();
    let failed: Vec<serde_json::Value> = audit
        .json_lines()
        .into_iter()
        .filter(|entry| entry["outcome"] == "failed")
        .collect();
    assert_eq!(
        failed
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["subject_export", "subject_erase"],
        "{}",
        audit.stdout
    );
    // Nor does the gateway hold such a number's calls by number.
    greffier([
        "hold",
        "set",
        "--config",
        &config_arg,
        "--tenant",
        "cust",
        "--number",
        SUBJECT,
        "--reason",
        "inquiry",
    ])
    .failed()
    .says("client mode");

    // With it: the number's call, and nothing else.
    let with_key = [OsStr::new("--private-key"), key_file.as_os_str()];
    export(&tree, "cust", SUBJECT, &out, &with_key).ok();
    assert_eq!(
        records_and_kinds(&checked_export(&out)),
        [(mine.to_string(), full_call())].into()
    );
    let erased = subject(&tree, "erase", "cust", SUBJECT, &with_key).ok();
    let audit = greffier([
        "audit",
        "export",
        "--config",
        &config_arg,
        "--tenant",
        "cust",
    ])
    .ok();
    assert!(audit.stdout.contains("\"subject:"), "{}", audit.stdout);
    assert!(!audit.stdout.contains("612345678"), "{}", audit.stdout);
    let summary = erased.json_lines().last().unwrap()["summary"].clone();
    assert_eq!(summary["records"], 1, "{}", erased.stdout);
    let after = stored(&tree, "cust");
    let left = keys_of(&after, &mine);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("/cdr/"), "{left:?}");
    assert_eq!(keys_of(&after, &other), keys_of(&before, &other));
}

/// The same through the gateway: calls placed by two tenants' PBXs with sipp
/// and recorded by the real binary, then exported and erased by number.
#[test]
fn calls_recorded_by_the_gateway_are_exported_and_erased_by_number() {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration as Bound;
    use support::config::{GatewayConfig, TenantSpec};
    use support::gateway::Gateway;
    use support::ports::free_port;
    use support::recorded::{cli_ok, wait_recordings_of, RecordedCall};

    support::sipp::require_sipp();
    let address = |last: u8| {
        let ip = Ipv4Addr::new(127, 0, 0, last);
        SocketAddr::from((ip, free_port(ip)))
    };
    let (acme_pbx, acme_carrier) = (address(1), address(2));
    let (globex_pbx, globex_carrier) = (address(3), address(4));
    let mut acme = TenantSpec::new("acme", ACME_LINE, acme_pbx, acme_carrier);
    acme.recording_policy = "all".to_string();
    let mut globex = TenantSpec::new("globex", GLOBEX_LINE, globex_pbx, globex_carrier);
    globex.recording_policy = "all".to_string();
    let mut gateway = Gateway::start(GatewayConfig::write(vec![acme, globex]));
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    for dialled in [SUBJECT, OTHER, SUBJECT] {
        RecordedCall::start_dialling(&gateway, acme_pbx, acme_carrier, dialled, "1000").finish();
    }
    for dialled in [SUBJECT, OTHER] {
        RecordedCall::start_dialling(&gateway, globex_pbx, globex_carrier, dialled, "1000")
            .finish();
    }
    let config = gateway.config.path().to_path_buf();
    let bound = Bound::from_secs(30);
    let acme_ids = wait_recordings_of(&config, "acme", 3, bound);
    wait_recordings_of(&config, "globex", 2, bound);
    gateway.stop(bound);
    let listed_ids = |tenant: &str, number: &str| -> BTreeSet<String> {
        cli_ok(
            &config,
            &["recordings", "list", "--tenant", tenant, "--number", number],
        )
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            entry["id"].as_str().expect("an id").to_string()
        })
        .collect()
    };
    let subjects_calls = listed_ids("acme", SUBJECT);
    assert_eq!(subjects_calls.len(), 2, "{subjects_calls:?}");
    let others_call = acme_ids
        .iter()
        .find(|id| !subjects_calls.contains(*id))
        .expect("the other number's call")
        .clone();
    let store = gateway.config.data_dir().join("store");
    let tenant_files = |tenant: &str| -> BTreeMap<String, String> {
        support::recorded::files_under(&store.join("tenants").join(tenant))
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).expect("a stored object");
                (
                    path.strip_prefix(&store)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    hex::encode(Sha256::digest(&bytes)),
                )
            })
            .collect()
    };
    let globex_before = tenant_files("globex");
    let acme_before = tenant_files("acme");

    let scratch = gateway.config.data_dir().join("exports");
    let out = scratch.join("acme");
    let out_arg = out.display().to_string();
    cli_ok(
        &config,
        &[
            "subject", "export", "--tenant", "acme", "--number", SUBJECT, "--out", &out_arg,
        ],
    );
    let files = checked_export(&out);
    assert_eq!(
        records_and_kinds(&files),
        subjects_calls
            .iter()
            .map(|id| (id.clone(), full_call()))
            .collect(),
        "{files:#?}"
    );
    for file in files.iter().filter(|file| file["kind"] == "recording") {
        let wav = hound::WavReader::open(out.join(file["file"].as_str().unwrap())).unwrap();
        assert_eq!(wav.spec().channels, 2, "caller and callee: {file}");
    }

    let erased = cli_ok(
        &config,
        &["subject", "erase", "--tenant", "acme", "--number", SUBJECT],
    );
    assert!(!erased.contains("612345678"), "{erased}");
    let acme_after = tenant_files("acme");
    for id in &subjects_calls {
        let left: Vec<&String> = acme_after
            .keys()
            .filter(|key| key.contains(id.as_str()))
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].contains("/cdr/"), "{left:?}");
    }
    let of = |files: &BTreeMap<String, String>, id: &str| -> Vec<(String, String)> {
        files
            .iter()
            .filter(|(key, _)| key.contains(id))
            .map(|(key, hash)| (key.clone(), hash.clone()))
            .collect()
    };
    assert_eq!(
        of(&acme_after, &others_call),
        of(&acme_before, &others_call)
    );
    assert!(!of(&acme_after, &others_call).is_empty());
    assert_eq!(tenant_files("globex"), globex_before);
    assert!(listed_ids("acme", SUBJECT).is_empty());
    assert_eq!(listed_ids("globex", SUBJECT).len(), 1);
}
