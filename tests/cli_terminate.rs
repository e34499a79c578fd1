//! Termination (DPA 8.3) on a real history: calls of two tenants recorded
//! through the real binary, then `greffier tenant terminate` of one of
//! them. With `--return DIR`, DIR holds all of that tenant's data in open
//! formats; a legal hold stops the run before the keys are shredded, and
//! the run is finished once the hold is released; afterwards the store
//! holds only the tenant's call records (which no longer decrypt) and its
//! termination record, the audit entries stay, the other tenant is
//! untouched, and the running gateway refuses the tenant's calls. With
//! `--delete`, a run that stopped at its first phase is finished.

mod support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use greffier_vault::{decrypt_all, Keyring, MasterKey, TenantId, VaultError};
use sha2::{Digest, Sha256};
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{
    caller_scenario, cli, cli_ok, files_under, hold_record, output_text, pbx_caller,
    wait_listed_for, wait_recordings, RecordedCall, CARRIER_IP, DIALLED, PBX_IP, TENANT,
};
use support::sipp::{peerbench_scenario, scenario, SippCommand};
use support::sockets::Transport;

const STORED_BOUND: Duration = Duration::from_secs(30);
const ACME_NUMBER: &str = "+33123456789";
const OTHER_TENANT: &str = "beta";
const OTHER_NUMBER: &str = "+33187654321";
const OTHER_PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const OTHER_CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

/// Store keys (relative, `/`-separated) under `tenants/{tenant}`.
fn stored(store: &Path, tenant: &str) -> BTreeSet<String> {
    files_under(&store.join("tenants").join(tenant))
        .iter()
        .map(|path| {
            path.strip_prefix(store)
                .expect("under the store")
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// `tenant terminate` of acme with `mode`; its output, whatever the exit.
fn terminate(config: &Path, mode: &[&str]) -> std::process::Output {
    let mut args = vec!["tenant", "terminate", "--tenant", TENANT];
    args.extend_from_slice(mode);
    cli(config, &args)
}

fn summary_of(output: &std::process::Output) -> serde_json::Value {
    let lines = json_lines(&String::from_utf8_lossy(&output.stdout));
    lines
        .last()
        .and_then(|line| line.get("summary"))
        .cloned()
        .unwrap_or_else(|| panic!("no summary line: {}", output_text(output)))
}

fn keys_status(config: &Path, tenant: &str) -> String {
    json_lines(&cli_ok(config, &["keys", "list"]))
        .into_iter()
        .find(|line| line["tenant"] == tenant)
        .and_then(|line| line["status"].as_str().map(str::to_owned))
        .expect("the tenant in the keyring listing")
}

fn keyring(tree: &Path) -> Keyring {
    let master = MasterKey::parse(GatewayConfig::master_key_hex().as_bytes(), "test")
        .expect("the test master key");
    Keyring::open(&tree.join("keyring.grk"), master).expect("the keyring")
}

/// One call of beta: its PBX calls its carrier through the gateway.
fn record_other_call(gateway: &Gateway, pbx: SocketAddr, carrier: SocketAddr) {
    let run_dir = gateway.config.run_dir();
    let answerer = SippCommand::new(
        "beta-carrier",
        &peerbench_scenario("uas.xml"),
        &run_dir,
        Transport::Udp,
        OTHER_CARRIER_IP,
    )
    .local_port(carrier.port())
    .args(["-rtp_echo"])
    .spawn();
    let caller = SippCommand::new(
        "beta-pbx",
        &caller_scenario(&run_dir),
        &run_dir,
        Transport::Udp,
        OTHER_PBX_IP,
    )
    .local_port(pbx.port())
    .remote(gateway.sip_addr())
    .service(DIALLED)
    .args(["-d", "1000"])
    .timeout(Duration::from_secs(60))
    .spawn();
    caller.wait().assert_calls_succeeded(1);
    answerer.stop();
}

struct History {
    gateway: Gateway,
    config: PathBuf,
    store: PathBuf,
    data: PathBuf,
    acme_pbx: SocketAddr,
    acme_ids: Vec<String>,
    beta_id: String,
}

/// Two calls of acme and one of beta recorded through the gateway, which
/// keeps running.
fn history(acme_calls: usize, with_other: bool) -> History {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let other_pbx = SocketAddr::from((OTHER_PBX_IP, free_port(OTHER_PBX_IP)));
    let other_carrier = SocketAddr::from((OTHER_CARRIER_IP, free_port(OTHER_CARRIER_IP)));
    let mut acme = TenantSpec::new(TENANT, ACME_NUMBER, pbx, carrier);
    acme.recording_policy = "all".to_string();
    let mut other = TenantSpec::new(OTHER_TENANT, OTHER_NUMBER, other_pbx, other_carrier);
    other.recording_policy = "all".to_string();
    let gateway = Gateway::start(GatewayConfig::write(vec![acme, other]));
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    for _ in 0..acme_calls {
        RecordedCall::start(&gateway, pbx, carrier, "1000").finish();
    }
    let config = gateway.config.path().to_path_buf();
    let data = gateway.config.data_dir();
    let acme_ids = wait_recordings(&config, acme_calls, STORED_BOUND);
    let beta_id = if with_other {
        record_other_call(&gateway, other_pbx, other_carrier);
        wait_listed_for(&config, OTHER_TENANT, STORED_BOUND)["id"]
            .as_str()
            .expect("an id")
            .to_string()
    } else {
        String::new()
    };
    History {
        store: data.join("store"),
        data,
        config,
        gateway,
        acme_pbx: pbx,
        acme_ids,
        beta_id,
    }
}

/// Every file the return's `manifest.json` lists is there with its SHA-256,
/// WAVs play and JSON parses; returns the listed files.
fn check_return(dir: &Path) -> Vec<serde_json::Value> {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("manifest.json in the return"),
    )
    .expect("manifest.json parses");
    assert_eq!(manifest["tenant"], TENANT);
    assert_eq!(manifest["purpose"], "termination");
    let files = manifest["files"].as_array().expect("files").clone();
    for file in &files {
        let name = file["file"].as_str().expect("a file name");
        let bytes = std::fs::read(dir.join(name)).expect("a listed file");
        assert_eq!(
            file["sha256"].as_str().expect("a hash"),
            hex::encode(Sha256::digest(&bytes)),
            "{name}"
        );
        if name.ends_with(".wav") {
            let mut wav = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("a WAV");
            assert_eq!(wav.spec().channels, 2);
            assert!(wav.duration() > 0, "{name}: no audio");
            assert!(wav
                .samples::<i16>()
                .any(|sample| sample.expect("a sample") != 0));
        } else if name.ends_with(".json") {
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("JSON parses");
        }
    }
    // Every file of the directory is listed.
    let on_disk = files_under(dir).len();
    assert_eq!(on_disk, files.len() + 1, "unlisted files in the return");
    files
}

#[test]
fn return_then_delete_everything_but_call_records_waiting_for_a_hold_and_finishing_after() {
    let history = history(2, true);
    let (config, store) = (&history.config, &history.store);
    let (held, free) = (&history.acme_ids[0], &history.acme_ids[1]);
    let beta_before = stored(store, OTHER_TENANT);
    assert!(!beta_before.is_empty());
    let acme_before = stored(store, TENANT);
    let call_records: BTreeSet<String> = acme_before
        .iter()
        .filter(|key| key.contains("/cdr/"))
        .cloned()
        .collect();
    assert_eq!(call_records.len(), 2, "{acme_before:#?}");

    let hold_id = hold_record(config, TENANT, held, "court order 2026-17");

    // First run: the return is written, what is not held is deleted, and
    // the run stops before the shred, which would destroy the held call.
    let dir = history.data.join("returned");
    let dir_arg = dir.to_str().expect("a UTF-8 path");
    let first = terminate(config, &["--return", dir_arg]);
    assert!(!first.status.success(), "{}", output_text(&first));
    assert!(
        output_text(&first).contains("legal hold"),
        "{}",
        output_text(&first)
    );
    let summary = summary_of(&first);
    assert_eq!(summary["finished"], false);
    assert_eq!(summary["held_records"], 1);
    assert_eq!(summary["holds"], serde_json::json!([hold_id]));
    let files = check_return(&dir);
    for id in [held, free] {
        for suffix in [".wav", ".json"] {
            assert!(
                files
                    .iter()
                    .any(|file| file["file"] == format!("recordings/{id}{suffix}")),
                "{id}{suffix} not returned: {files:#?}"
            );
        }
        assert!(
            files
                .iter()
                .any(|file| file["file"] == format!("call-records/{id}.json")),
            "call record of {id} not returned"
        );
    }
    assert!(
        files
            .iter()
            .all(|file| !file["record"].as_str().unwrap().contains(&history.beta_id)),
        "beta's data in acme's return"
    );
    let returned_manifest = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
    let waiting = stored(store, TENANT);
    assert!(waiting
        .iter()
        .any(|key| key.contains(held) && key.contains("/recordings/")));
    assert!(!waiting
        .iter()
        .any(|key| key.contains(free) && !key.contains("/cdr/")));
    assert_eq!(keys_status(config, TENANT), "terminating");
    let marker: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.join("tenants/acme/termination.json")).expect("the marker"),
    )
    .expect("the marker parses");
    assert_eq!(marker["phase"], "returned", "{marker}");

    // The running gateway learns it from the keyring: acme's calls are
    // refused, and nothing new is stored for it.
    history
        .gateway
        .wait_for_log(&["tenant terminated", TENANT], STORED_BOUND);
    let refused = pbx_caller(
        &history.gateway,
        history.acme_pbx,
        &scenario("uac_expect_403.xml"),
        "1000",
    )
    .run();
    assert!(refused.succeeded(), "not refused: {}", refused.report());

    // The hold is released: the run is finished, the return is not
    // written again.
    cli_ok(config, &["hold", "release", "--id", &hold_id]);
    let second = terminate(config, &["--return", dir_arg]);
    assert!(second.status.success(), "{}", output_text(&second));
    let summary = summary_of(&second);
    assert_eq!(summary["finished"], true, "{summary}");
    assert_eq!(summary["keys_shredded"], true, "{summary}");
    assert_eq!(summary["returned_files"], 0, "{summary}");
    assert_eq!(
        std::fs::read(dir.join("manifest.json")).expect("manifest.json"),
        returned_manifest
    );

    // Only the call records and the termination record are left, and no
    // call record decrypts.
    let after = stored(store, TENANT);
    let mut expected = call_records.clone();
    expected.insert("tenants/acme/termination.json".to_string());
    assert_eq!(after, expected);
    assert_eq!(keys_status(config, TENANT), "shredded");
    let keyring = keyring(&history.data);
    let acme = TenantId::new(TENANT).expect("a tenant id");
    for key in &call_records {
        let bytes = std::fs::read(store.join(key)).expect("a call record");
        assert!(matches!(
            decrypt_all(&keyring, acme.clone(), &bytes),
            Err(VaultError::KeyShredded { .. })
        ));
    }
    // The other tenant is untouched and still readable.
    assert_eq!(stored(store, OTHER_TENANT), beta_before);
    let out = history.data.join("beta.wav");
    cli_ok(
        config,
        &[
            "recordings",
            "get",
            "--tenant",
            OTHER_TENANT,
            "--id",
            &history.beta_id,
            "--out",
            out.to_str().expect("a UTF-8 path"),
        ],
    );
    hound::WavReader::open(&out).expect("beta's recording plays");

    // The audit trail stays and says what happened.
    cli_ok(config, &["audit", "verify"]);
    let trail = cli_ok(config, &["audit", "export", "--tenant", TENANT]);
    for action in ["exported", "terminated", "key_shredded"] {
        assert!(
            trail.contains(&format!("\"action\":\"{action}\"")),
            "no {action} entry: {trail}"
        );
    }
    assert!(
        trail
            .lines()
            .any(|line| line.contains("\"action\":\"terminated\"")
                && line.contains("\"outcome\":\"held\"")
                && line.contains(held.as_str())),
        "the held call's skip is not audited: {trail}"
    );

    // A third run has nothing left to do and says it is finished.
    let third = terminate(config, &["--return", dir_arg]);
    assert!(third.status.success(), "{}", output_text(&third));
    assert_eq!(summary_of(&third)["deleted"], 0);
    assert_eq!(stored(store, TENANT), expected);
}

#[test]
fn a_delete_that_stopped_after_its_first_phase_is_finished_by_running_it_again() {
    let history = history(1, false);
    let (config, store) = (&history.config, &history.store);
    let before = stored(store, TENANT);
    // As a run killed right after recording its start leaves it.
    std::fs::write(
        store.join("tenants/acme/termination.json"),
        r#"{"v":1,"tenant":"acme","mode":"delete","phase":"started",
            "started":"2026-12-05T07:00:00.000Z","updated":"2026-12-05T07:00:00.000Z"}"#,
    )
    .expect("the marker");

    // Started as a deletion: a return now would be incomplete, and is refused.
    let dir = history.data.join("returned");
    let refused = terminate(config, &["--return", dir.to_str().expect("a UTF-8 path")]);
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("--delete"),
        "{}",
        output_text(&refused)
    );
    assert!(!dir.exists());
    let mut unchanged = before.clone();
    unchanged.insert("tenants/acme/termination.json".to_string());
    assert_eq!(stored(store, TENANT), unchanged);

    let finished = terminate(config, &["--delete"]);
    assert!(finished.status.success(), "{}", output_text(&finished));
    let summary = summary_of(&finished);
    assert_eq!(summary["finished"], true, "{summary}");
    assert!(
        summary["deleted"].as_u64().expect("a count") >= 2,
        "{summary}"
    );
    let after = stored(store, TENANT);
    assert!(
        after
            .iter()
            .all(|key| key.contains("/cdr/") || key.ends_with("termination.json")),
        "{after:#?}"
    );
    assert_eq!(after.iter().filter(|key| key.contains("/cdr/")).count(), 1);
    assert_eq!(keys_status(config, TENANT), "shredded");
}

/// A tenant that keeps its own keys: the gateway cannot decrypt its
/// objects, so `--return` is refused before anything changes (the client
/// decrypts its objects itself); `--delete` terminates it.
#[test]
fn a_client_mode_tenant_is_not_returned_by_the_gateway_but_can_be_deleted() {
    use chrono::Utc;
    use std::ffi::OsStr;
    use support::vault::{greffier, record_blocking, streamed_wav, KeyMode, TestCall, VaultTree};

    let mut tree = VaultTree::new();
    let (_private_key, public_key) = tree.client_key_pair("client.key");
    tree.write_tenant("cust", &["+33199000003"], &KeyMode::Client(public_key));
    greffier(["keys", "init", "--config", &tree.config_arg()]).ok();
    let config = tree.load();
    record_blocking(
        &config,
        &TestCall::new("cust", "+33612345678", "+33199000003", Utc::now()),
        &streamed_wav(16_000),
    );
    let store = tree.store_dir();
    let before = stored(&store, "cust");
    assert!(before.iter().any(|key| key.contains("/recordings/")));

    let config_arg = tree.config_arg();
    let out = tree.scratch("returned");
    let refused = greffier([
        OsStr::new("tenant"),
        OsStr::new("terminate"),
        OsStr::new("--config"),
        OsStr::new(&config_arg),
        OsStr::new("--tenant"),
        OsStr::new("cust"),
        OsStr::new("--return"),
        out.as_os_str(),
    ])
    .failed();
    refused.says("client mode");
    assert!(!out.exists());
    assert_eq!(stored(&store, "cust"), before);

    greffier([
        "tenant",
        "terminate",
        "--config",
        &config_arg,
        "--tenant",
        "cust",
        "--delete",
    ])
    .ok();
    let after = stored(&store, "cust");
    assert!(
        after
            .iter()
            .all(|key| key.contains("/cdr/") || key.ends_with("termination.json")),
        "{after:#?}"
    );
}
