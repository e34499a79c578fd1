//! The audit trail of a real history: calls recorded through the real
//! binary, a recording read and another deleted through the CLI, a tenant
//! that was only touched by the CLI. `greffier audit verify` passes on it,
//! then fails naming the entry after each way of tampering with a stored
//! segment; `greffier audit export` gives each tenant only its own entries.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use greffier_vault::audit::{parse_line, AuditRecord, ChainHead, ChainWriter, Outcome};
use greffier_vault::store::{NodeId, RecordId};
use greffier_vault::TenantId;
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{
    cli, cli_ok, output_text, wait_recordings, RecordedCall, CARRIER_IP, DIALLED, PBX_IP, TENANT,
};

/// How long a stored recording or audit entry may take after its call.
const STORED_BOUND: Duration = Duration::from_secs(30);
const ACME_NUMBER: &str = "+33123456789";
const OTHER_TENANT: &str = "beta";
const OTHER_NUMBER: &str = "+33187654321";
/// The other tenant's PBX and carrier never send anything.
const OTHER_PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
const OTHER_CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);

/// Waits until the node's unsealed audit tail holds `count` `recorded`
/// entries (docs/audit.md: `{spool}/.audit/tail.jsonl`).
fn wait_recorded_entries(spool: &Path, count: usize) {
    let tail = spool.join(".audit/tail.jsonl");
    let deadline = Instant::now() + STORED_BOUND;
    loop {
        let text = std::fs::read_to_string(&tail).unwrap_or_default();
        let recorded = text
            .lines()
            .filter(|line| line.contains("\"action\":\"recorded\""))
            .count();
        if recorded >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} recorded entries not in the audit tail within {STORED_BOUND:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The stored audit segments, in chain order (their names sort so).
fn segments(store: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&store.join("audit"), &mut found);
    found.sort();
    found
}

fn key_of(store: &Path, segment: &Path) -> String {
    segment
        .strip_prefix(store)
        .expect("a segment in the store")
        .display()
        .to_string()
}

/// `audit verify` fails, and its output names `expected` (segment key, line
/// and kind of change).
fn assert_verify_names(config: &Path, expected: &str) {
    let output = cli(config, &["audit", "verify"]);
    let said = output_text(&output);
    assert!(
        !output.status.success(),
        "verify passed a tampered chain: {said}"
    );
    assert!(said.contains(expected), "expected {expected:?} in: {said}");
}

struct History {
    /// Owns the configuration tree (removed when the test ends).
    _gateway: Gateway,
    config: PathBuf,
    store: PathBuf,
}

/// Two calls of `acme` recorded through the gateway, which is then stopped
/// cleanly; one recording read and the other deleted through the CLI, and a
/// recording of `beta` deleted (it never existed: the attempt is audited).
fn history() -> History {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut acme = TenantSpec::new(TENANT, ACME_NUMBER, pbx, carrier);
    acme.recording_policy = "all".to_string();
    let other = TenantSpec::new(
        OTHER_TENANT,
        OTHER_NUMBER,
        SocketAddr::from((OTHER_PBX_IP, free_port(OTHER_PBX_IP))),
        SocketAddr::from((OTHER_CARRIER_IP, free_port(OTHER_CARRIER_IP))),
    );
    let mut gateway = Gateway::start(GatewayConfig::write(vec![acme, other]));
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    for _ in 0..2 {
        RecordedCall::start(&gateway, pbx, carrier, "1500").finish();
    }
    let config = gateway.config.path().to_path_buf();
    let store = gateway.config.data_dir().join("store");
    let ids = wait_recordings(&config, 2, STORED_BOUND);
    wait_recorded_entries(&gateway.config.data_dir().join("spool"), 2);
    gateway.stop(STORED_BOUND);

    let out = gateway.config.run_dir().join("read.wav");
    cli_ok(
        &config,
        &[
            "recordings",
            "get",
            "--tenant",
            TENANT,
            "--id",
            &ids[0],
            "--out",
            out.to_str().expect("a UTF-8 path"),
        ],
    );
    cli_ok(
        &config,
        &["recordings", "delete", "--tenant", TENANT, "--id", &ids[1]],
    );
    let never_recorded = RecordId::generate().to_string();
    cli_ok(
        &config,
        &[
            "recordings",
            "delete",
            "--tenant",
            OTHER_TENANT,
            "--id",
            &never_recorded,
        ],
    );
    History {
        _gateway: gateway,
        config,
        store,
    }
}

#[test]
fn the_audit_trail_of_a_real_history_verifies_exports_per_tenant_and_names_each_tampering() {
    let history = history();
    let (config, store) = (&history.config, &history.store);

    // The real history: every operation is in the store, the chain holds.
    let verified = cli_ok(config, &["audit", "verify"]);
    assert!(verified.contains("chain e2e: "), "{verified}");
    assert!(verified.contains("5 entries"), "{verified}");
    assert!(verified.trim_end().ends_with("intact"), "{verified}");
    let segment_files = segments(store);
    assert!(!segment_files.is_empty());
    for segment in &segment_files {
        let bytes = std::fs::read_to_string(segment).expect("a segment");
        for number in [ACME_NUMBER, OTHER_NUMBER, DIALLED] {
            assert!(
                !bytes.contains(&number[1..]),
                "{number} in clear in {segment:?}"
            );
        }
    }

    // Each tenant sees its own entries, and only those.
    let acme = cli_ok(config, &["audit", "export", "--tenant", TENANT]);
    let actions: Vec<String> = acme
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(entry["tenant"], TENANT, "{line}");
            entry["action"].as_str().expect("an action").to_string()
        })
        .collect();
    assert_eq!(
        actions,
        ["recorded", "recorded", "read", "deleted"],
        "{acme}"
    );
    let beta = cli_ok(config, &["audit", "export", "--tenant", OTHER_TENANT]);
    assert_eq!(beta.lines().count(), 1, "{beta}");
    assert!(beta.contains("\"tenant\":\"beta\"") && beta.contains("\"action\":\"deleted\""));
    assert!(!beta.contains("\"tenant\":\"acme\""), "{beta}");
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let later = cli_ok(
        config,
        &["audit", "export", "--tenant", TENANT, "--from", &tomorrow],
    );
    assert_eq!(later, "", "entries outside the range were exported");

    // The gateway's two `recorded` entries were sealed together at its stop.
    let first = segment_files[0].clone();
    let original = std::fs::read(&first).expect("the first segment");
    let lines: Vec<&[u8]> = original
        .strip_suffix(b"\n")
        .expect("a sealed segment ends with a newline")
        .split(|b| *b == b'\n')
        .collect();
    assert_eq!(lines.len(), 2, "{}", String::from_utf8_lossy(&original));
    let key = key_of(store, &first);
    let joined = |lines: &[&[u8]]| {
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        bytes
    };
    let tamper = |bytes: &[u8], expected: &str| {
        std::fs::write(&first, bytes).expect("tamper with the stored segment");
        assert_verify_names(config, expected);
        std::fs::write(&first, &original).expect("restore the stored segment");
        cli_ok(config, &["audit", "verify"]);
    };

    // Edited: the outcome of the first entry.
    let edited = String::from_utf8(lines[0].to_vec())
        .expect("UTF-8")
        .replacen("\"outcome\":\"ok\"", "\"outcome\":\"failed\"", 1);
    tamper(
        &joined(&[edited.as_bytes(), lines[1]]),
        &format!("{key} line 1: changed"),
    );
    // Deleted: the first entry.
    tamper(
        &joined(&[lines[1]]),
        &format!("{key} line 1: removed: the entry with seq 0"),
    );
    // Reordered: the two entries swapped.
    tamper(
        &joined(&[lines[1], lines[0]]),
        &format!("{key} line 1: reordered"),
    );
    // Inserted: a well-formed entry, chained to the first with the right
    // seq and hash, slipped in between.
    let first_entry = parse_line(lines[0]).expect("an audit entry");
    let node = NodeId::new("e2e").expect("a node id");
    let forged = ChainWriter::new(node, ChainHead::after(&first_entry)).append(
        chrono::Utc::now(),
        &AuditRecord::recorded(
            TenantId::new(TENANT).expect("a tenant"),
            RecordId::generate(),
            Outcome::Ok,
        ),
    );
    tamper(
        &joined(&[lines[0], &forged[..forged.len() - 1], lines[1]]),
        &format!("{key} line 2: inserted"),
    );
}

/// `keys rotate` and `keys shred` leave their entries, with the key versions
/// as objects, in the tenant's trail and nowhere else.
#[test]
fn key_rotation_and_shredding_are_in_the_tenants_trail() {
    use support::vault::{greffier, KeyMode, VaultTree};
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &["+33199000001"], &KeyMode::Managed);
    tree.write_tenant("globex", &["+33199000002"], &KeyMode::Managed);
    let config = tree.config_arg();
    let keys = |args: &[&str]| {
        let mut all = vec!["keys", args[0], "--config", config.as_str()];
        all.extend_from_slice(&args[1..]);
        greffier(all).ok();
    };
    keys(&["init"]);
    keys(&["rotate", "--tenant", "globex"]);
    keys(&["shred", "--tenant", "globex", "--yes"]);

    let exported = greffier(["audit", "export", "--config", &config, "--tenant", "globex"])
        .ok()
        .json_lines();
    let summary: Vec<(String, serde_json::Value)> = exported
        .iter()
        .map(|entry| {
            assert_eq!(entry["tenant"], "globex");
            assert_eq!(entry["actor"], "cli");
            (
                entry["action"].as_str().unwrap_or_default().to_string(),
                entry["objects"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("key_rotated".to_string(), serde_json::json!(["kek:2"])),
            (
                "key_shredded".to_string(),
                serde_json::json!(["kek:1", "kek:2"])
            ),
        ]
    );
    let acme = greffier(["audit", "export", "--config", &config, "--tenant", "acme"]).ok();
    assert!(acme.json_lines().is_empty());
    greffier(["audit", "verify", "--config", &config])
        .ok()
        .prints("2 entries");
}

/// Waits until a recording of `TENANT` is being written in the spool.
fn wait_recording_started(spool: &Path) {
    let dir = spool.join(TENANT);
    let deadline = Instant::now() + STORED_BOUND;
    loop {
        let started = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".grf.part"));
        if started {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no recording started within {STORED_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A gateway killed with SIGKILL loses no acknowledged entry: the unsealed
/// tail survives in the spool, the restarted gateway continues the same
/// chain from it, and the recording its recovery closes gets its entry too.
#[test]
fn a_crash_loses_no_audit_entry_and_the_chain_goes_on() {
    support::sipp::require_sipp();
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut acme = TenantSpec::new(TENANT, ACME_NUMBER, pbx, carrier);
    acme.recording_policy = "all".to_string();
    let mut gateway = Gateway::start(GatewayConfig::write(vec![acme]));
    std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
    let config = gateway.config.path().to_path_buf();
    let spool = gateway.config.data_dir().join("spool");
    let store = gateway.config.data_dir().join("store");

    RecordedCall::start(&gateway, pbx, carrier, "1500").finish();
    wait_recordings(&config, 1, STORED_BOUND);
    wait_recorded_entries(&spool, 1);
    let interrupted = RecordedCall::start(&gateway, pbx, carrier, "20000");
    wait_recording_started(&spool);
    gateway.kill_hard();
    drop(interrupted);
    assert!(
        segments(&store).is_empty(),
        "nothing was sealed before the kill"
    );

    gateway.restart();
    wait_recordings(&config, 2, STORED_BOUND);
    wait_recorded_entries(&spool, 2);
    gateway.stop(STORED_BOUND);

    let verified = cli_ok(&config, &["audit", "verify"]);
    assert!(verified.contains("2 entries"), "{verified}");
    assert!(verified.trim_end().ends_with("intact"), "{verified}");
    let exported = cli_ok(&config, &["audit", "export", "--tenant", TENANT]);
    let seqs: Vec<(u64, String)> = exported
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(entry["action"], "recorded", "{line}");
            (
                entry["seq"].as_u64().expect("a seq"),
                entry["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(seqs, [(0, "ok".to_string()), (1, "ok".to_string())]);
}
