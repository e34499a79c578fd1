//! `greffier keys …` and `greffier decrypt`, run as the real binary against
//! a keyring and a local store in a temporary tree.

mod support;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use chrono::{TimeZone, Utc};
use greffier::vault_setup;
use greffier_vault::{ObjectEncryptor, ObjectKind, ObjectParams, SenderKey, TenantId, TenantKey};
use serde_json::json;
use support::vault::{
    greffier, record_blocking, streamed_wav, with_real_sizes, CliRun, KeyMode, TestCall, VaultTree,
};

const ACME: &str = "+33199000001";
const GLOBEX: &str = "+33199000002";
const CALLER: &str = "+33612345678";

fn keys(tree: &VaultTree, command: &str, extra: &[&str]) -> CliRun {
    let config = tree.config_arg();
    let mut args = vec!["keys", command, "--config", config.as_str()];
    args.extend_from_slice(extra);
    greffier(args)
}

fn get(tree: &VaultTree, tenant: &str, id: &str, out: &Path) -> CliRun {
    let config = tree.config_arg();
    let out = out.display().to_string();
    greffier([
        "recordings",
        "get",
        "--config",
        &config,
        "--tenant",
        tenant,
        "--id",
        id,
        "--out",
        &out,
    ])
}

fn generate_client(out: &Path) -> CliRun {
    greffier([
        OsStr::new("keys"),
        OsStr::new("generate-client"),
        OsStr::new("--out"),
        out.as_os_str(),
    ])
}

fn decrypt(private_key: &Path, sender_key: &Path, object: &Path, out: &Path) -> CliRun {
    decrypt_with(private_key, sender_key, object, out, &[])
}

fn decrypt_with(
    private_key: &Path,
    sender_key: &Path,
    object: &Path,
    out: &Path,
    extra: &[&str],
) -> CliRun {
    let mut args = vec![
        OsStr::new("decrypt"),
        OsStr::new("--private-key"),
        private_key.as_os_str(),
        OsStr::new("--sender-key"),
        sender_key.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    args.extend([object.as_os_str(), out.as_os_str()]);
    greffier(args)
}

/// The gateway's sender public key as `keys show-sender` prints it, saved
/// where the client keeps it.
fn published_sender_key(tree: &VaultTree) -> std::path::PathBuf {
    let shown = keys(tree, "show-sender", &[]).ok();
    let path = tree.scratch("gateway-sender.pub");
    std::fs::write(&path, &shown.stdout).unwrap();
    path
}

/// The `public_key = "…"` value `generate-client` prints.
fn printed_public_key(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("public_key = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no public key in:\n{stdout}"))
        .to_string()
}

#[test]
fn init_rotate_shred_and_list_round_trip() {
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &[ACME], &KeyMode::Managed);
    tree.write_tenant("globex", &[GLOBEX], &KeyMode::Managed);

    let missing = keys(&tree, "list", &[]).failed();
    missing.says("does not exist");
    missing.says("keys init");

    let init = keys(&tree, "init", &[]).ok();
    init.prints("acme: managed keys created");
    init.prints("globex: managed keys created");
    let sealed = std::fs::read(tree.keyring()).unwrap();
    let again = keys(&tree, "init", &[]).failed();
    again.says("already exists");
    assert_eq!(
        std::fs::read(tree.keyring()).unwrap(),
        sealed,
        "init replaced the keyring"
    );

    let rotated = keys(&tree, "rotate", &["--tenant", "globex"]).ok();
    rotated.prints("KEK version 2");
    let listed = keys(&tree, "list", &[]).ok().json_lines();
    assert_eq!(
        listed,
        vec![
            json!({"tenant": "acme", "status": "active", "mode": "managed",
                   "current_version": 1, "kek_versions": [1], "configured": true}),
            json!({"tenant": "globex", "status": "active", "mode": "managed",
                   "current_version": 2, "kek_versions": [1, 2], "configured": true}),
        ]
    );

    let config = tree.load();
    let start = Utc.with_ymd_and_hms(2024, 5, 6, 9, 30, 0).unwrap();
    let acme_audio = streamed_wav(40_000);
    let globex_audio = streamed_wav(30_000);
    let acme_id = record_blocking(
        &config,
        &TestCall::new("acme", CALLER, ACME, start),
        &acme_audio,
    );
    let globex_id = record_blocking(
        &config,
        &TestCall::new("globex", CALLER, GLOBEX, start),
        &globex_audio,
    );

    let before = tree.scratch("acme-before.wav");
    get(&tree, "acme", &acme_id.to_string(), &before).ok();
    assert_eq!(
        std::fs::read(&before).unwrap(),
        with_real_sizes(&acme_audio)
    );

    let unconfirmed = keys(&tree, "shred", &["--tenant", "acme"]).failed();
    unconfirmed.says("--yes");
    let still = tree.scratch("acme-still.wav");
    get(&tree, "acme", &acme_id.to_string(), &still).ok();

    let shred = keys(&tree, "shred", &["--tenant", "acme", "--yes"]).ok();
    shred.prints("acme: shredded KEK versions [1]");
    shred.says("still configured");

    let after = tree.scratch("acme-after.wav");
    let refused = get(&tree, "acme", &acme_id.to_string(), &after).failed();
    refused.says("shredded");
    refused.in_one_line();
    assert!(!after.exists(), "a shredded recording produced a file");

    let globex_out = tree.scratch("globex.wav");
    get(&tree, "globex", &globex_id.to_string(), &globex_out).ok();
    assert_eq!(
        std::fs::read(&globex_out).unwrap(),
        with_real_sizes(&globex_audio)
    );

    let listed = keys(&tree, "list", &[]).ok().json_lines();
    assert_eq!(
        listed[0],
        json!({"tenant": "acme", "status": "shredded", "configured": true})
    );
    let rotate_shredded = keys(&tree, "rotate", &["--tenant", "acme"]).failed();
    rotate_shredded.says("shredded");
    // Shredded objects can still be deleted, for the store to be cleaned up.
    let acme_object = tree.object_file(&acme_id, ".grf");
    let config_arg = tree.config_arg();
    let acme_arg = acme_id.to_string();
    greffier([
        "recordings",
        "delete",
        "--config",
        &config_arg,
        "--tenant",
        "acme",
        "--id",
        &acme_arg,
    ])
    .ok();
    assert!(
        !acme_object.exists(),
        "the shredded recording is still stored"
    );
    let unknown = keys(&tree, "shred", &["--tenant", "initech", "--yes"]).failed();
    unknown.says("initech has no keys");
}

/// The tenant's audit entries, as `audit export` gives them.
fn audit_export(tree: &VaultTree, tenant: &str) -> Vec<serde_json::Value> {
    let config = tree.config_arg();
    greffier(["audit", "export", "--config", &config, "--tenant", tenant])
        .ok()
        .json_lines()
}

#[test]
fn a_key_rotation_is_audited_as_the_operator_and_so_is_one_that_fails() {
    let mut tree = VaultTree::new();
    let public_key = printed_public_key(&generate_client(&tree.scratch("client.key")).ok().stdout);
    tree.write_tenant("acme", &[ACME], &KeyMode::Managed);
    tree.write_tenant("cust", &[GLOBEX], &KeyMode::Client(public_key));
    keys(&tree, "init", &[]).ok();

    keys(&tree, "rotate", &["--tenant", "acme"])
        .ok()
        .prints("KEK version 2");
    keys(&tree, "rotate", &["--tenant", "acme"])
        .ok()
        .prints("KEK version 3");
    let rotated = audit_export(&tree, "acme");
    assert_eq!(rotated.len(), 2, "{rotated:#?}");
    for (entry, version) in rotated.iter().zip(["kek:2", "kek:3"]) {
        assert_eq!(entry["action"], "key_rotated");
        assert_eq!(entry["actor"], "cli");
        assert_eq!(entry["role"], "operator");
        assert_eq!(entry["origin"], "cli");
        assert_eq!(entry["outcome"], "ok");
        assert_eq!(entry["objects"], json!([version]));
    }

    // A client-keyed tenant has no key-encryption key of the gateway's to rotate.
    let before = keys(&tree, "list", &[]).ok().json_lines();
    keys(&tree, "rotate", &["--tenant", "cust"]).failed();
    let failed = audit_export(&tree, "cust");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["action"], "key_rotated");
    assert_eq!(failed[0]["outcome"], "failed");
    assert_eq!(failed[0]["objects"], json!([]));
    assert_eq!(keys(&tree, "list", &[]).ok().json_lines(), before);

    keys(&tree, "rotate", &["--tenant", "initech"])
        .failed()
        .says("initech has no keys");
    greffier(["audit", "verify", "--config", &tree.config_arg()])
        .ok()
        .prints("3 entries");
}

#[test]
fn a_configured_tenant_without_keys_is_listed_as_missing() {
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &[ACME], &KeyMode::Managed);
    keys(&tree, "init", &[]).ok();
    tree.write_tenant("globex", &[GLOBEX], &KeyMode::Managed);
    let listed = keys(&tree, "list", &[]).ok().json_lines();
    assert_eq!(
        listed[1],
        json!({"tenant": "globex", "status": "missing", "configured": true})
    );
}

#[test]
fn client_keys_decrypt_what_the_gateway_cannot() {
    let mut tree = VaultTree::new();
    let key_file = tree.scratch("client.key");
    let generated = generate_client(&key_file).ok();
    let public_key = printed_public_key(&generated.stdout);
    generated.prints("mode = \"client\"");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let private_text = std::fs::read(&key_file).unwrap();
    assert!(!generated
        .stdout
        .contains(String::from_utf8_lossy(&private_text).trim()));
    let overwrite = generate_client(&key_file).failed();
    overwrite.says("already exists");
    assert_eq!(std::fs::read(&key_file).unwrap(), private_text);

    tree.write_tenant("cust", &[ACME], &KeyMode::Client(public_key.clone()));
    tree.write_tenant("globex", &[GLOBEX], &KeyMode::Managed);
    let init = keys(&tree, "init", &[]).ok();
    init.prints("cust: client public key registered");
    let listed = keys(&tree, "list", &[]).ok().json_lines();
    assert_eq!(listed[0]["mode"], "client");
    assert_eq!(listed[0]["public_key"], public_key.as_str());
    let rotate = keys(&tree, "rotate", &["--tenant", "cust"]).failed();
    rotate.says("client-held keys");

    let config = tree.load();
    let start = Utc.with_ymd_and_hms(2024, 7, 1, 14, 0, 0).unwrap();
    let audio = streamed_wav(50_000);
    let id = record_blocking(&config, &TestCall::new("cust", CALLER, ACME, start), &audio);
    let managed_id = record_blocking(
        &config,
        &TestCall::new("globex", CALLER, GLOBEX, start),
        &audio,
    );

    let by_gateway = tree.scratch("gateway.wav");
    let refused = get(&tree, "cust", &id.to_string(), &by_gateway).failed();
    refused.says("client-held keys");
    assert!(!by_gateway.exists());

    let object = tree.object_file(&id, ".grf");
    let out = tree.scratch("client.wav");
    let sender = published_sender_key(&tree);
    decrypt(&key_file, &sender, &object, &out).ok();
    assert_eq!(std::fs::read(&out).unwrap(), with_real_sizes(&audio));

    let other_key = tree.scratch("other.key");
    generate_client(&other_key).ok();
    let refused_out = tree.scratch("refused.wav");
    decrypt(&other_key, &sender, &object, &refused_out)
        .failed()
        .says("different client public key");
    assert!(!refused_out.exists());

    let managed_object = tree.object_file(&managed_id, ".grf");
    decrypt(&key_file, &sender, &managed_object, &refused_out)
        .failed()
        .says("gateway-managed key");
    assert!(!refused_out.exists());

    let not_a_key = tree.scratch("not-a.key");
    std::fs::write(&not_a_key, "hello\n").unwrap();
    decrypt(&not_a_key, &sender, &object, &refused_out)
        .failed()
        .says("expected 32 raw bytes");
    decrypt(&key_file, &not_a_key, &object, &refused_out)
        .failed()
        .says("sender key");
}

/// Someone with write access to the store and the tenant's public key
/// (which is public) plants a recording: sealed in HPKE base mode as the
/// gateway once did, or in auth mode with a sender key of its own. The
/// client's tool refuses both, names why, and writes nothing.
#[test]
fn a_forged_client_object_is_refused_by_decrypt() {
    let mut tree = VaultTree::new();
    let key_file = tree.scratch("client.key");
    let public_key = printed_public_key(&generate_client(&key_file).ok().stdout);
    tree.write_tenant("cust", &[ACME], &KeyMode::Client(public_key.clone()));
    keys(&tree, "init", &[]).ok();
    let config = tree.load();
    let start = Utc.with_ymd_and_hms(2024, 7, 1, 14, 0, 0).unwrap();
    let audio = streamed_wav(50_000);
    let id = record_blocking(&config, &TestCall::new("cust", CALLER, ACME, start), &audio);
    let object = tree.object_file(&id, ".grf");
    let sender = published_sender_key(&tree);
    let genuine = std::fs::read(&object).unwrap();

    let public_key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&public_key)
        .unwrap()
        .try_into()
        .unwrap();
    let planted = streamed_wav(8_000);
    let out = tree.scratch("planted.wav");

    // Auth mode, but from the forger's own sender key.
    let forged = ObjectEncryptor::encrypt_all(
        ObjectParams::new(
            TenantId::new("cust").unwrap(),
            id.uuid(),
            ObjectKind::Recording,
        ),
        &TenantKey::Client {
            public_key,
            sender: SenderKey::generate().unwrap(),
        },
        &planted,
    )
    .unwrap();
    std::fs::write(&object, &forged).unwrap();
    let refused = decrypt(&key_file, &sender, &object, &out).failed();
    refused.says("not a trusted gateway key");
    refused.in_one_line();
    assert!(!out.exists(), "a forged object produced a file");

    // Base mode, as written before sender keys: refused unless the client
    // asks for such objects, and then with a warning.
    let forged =
        greffier_test_support::forge::forge_base_mode(&public_key, "cust", id.uuid(), &planted);
    std::fs::write(&object, &forged).unwrap();
    let refused = decrypt(&key_file, &sender, &object, &out).failed();
    refused.says("without sender authentication");
    assert!(!out.exists(), "a forged object produced a file");
    let legacy = decrypt_with(
        &key_file,
        &sender,
        &object,
        &out,
        &["--accept-unauthenticated"],
    )
    .ok();
    legacy.says("warning");
    legacy.says("cannot be verified");

    // The gateway's own object still opens.
    std::fs::write(&object, &genuine).unwrap();
    let genuine_out = tree.scratch("genuine.wav");
    decrypt(&key_file, &sender, &object, &genuine_out).ok();
    assert_eq!(
        std::fs::read(&genuine_out).unwrap(),
        with_real_sizes(&audio)
    );
}

/// Objects of one client call copied over another's files: the client's
/// tool checks the record and kind the stored name gives.
#[test]
fn a_client_object_copied_over_another_is_refused_by_decrypt() {
    let mut tree = VaultTree::new();
    let key_file = tree.scratch("client.key");
    let public_key = printed_public_key(&generate_client(&key_file).ok().stdout);
    tree.write_tenant("cust", &[ACME], &KeyMode::Client(public_key));
    keys(&tree, "init", &[]).ok();
    let config = tree.load();
    let start = Utc.with_ymd_and_hms(2024, 7, 1, 14, 0, 0).unwrap();
    let audio = streamed_wav(20_000);
    let first = record_blocking(&config, &TestCall::new("cust", CALLER, ACME, start), &audio);
    let second = record_blocking(&config, &TestCall::new("cust", CALLER, ACME, start), &audio);
    let sender = published_sender_key(&tree);
    let out = tree.scratch("second.wav");

    for suffix in [".grf", ".manifest.grf"] {
        std::fs::copy(
            tree.object_file(&first, suffix),
            tree.object_file(&second, suffix),
        )
        .unwrap();
        let refused =
            decrypt(&key_file, &sender, &tree.object_file(&second, suffix), &out).failed();
        refused.says("wrong object");
        refused.says(&format!("record {second}"));
        refused.says(&format!("record {first}"));
        refused.in_one_line();
        assert!(!out.exists(), "a swapped object produced a file");
    }
    // The manifest put in place of the recording of the same record.
    std::fs::copy(
        tree.object_file(&first, ".manifest.grf"),
        tree.object_file(&first, ".grf"),
    )
    .unwrap();
    decrypt(&key_file, &sender, &tree.object_file(&first, ".grf"), &out)
        .failed()
        .says(&format!("the manifest of record {first}"));
    assert!(!out.exists());
}

#[test]
fn a_client_tenant_is_never_moved_back_to_managed_keys() {
    let mut tree = VaultTree::new();
    let public_key = printed_public_key(&generate_client(&tree.scratch("client.key")).ok().stdout);
    tree.write_tenant("cust", &[ACME], &KeyMode::Client(public_key.clone()));
    tree.write_tenant("acme", &[GLOBEX], &KeyMode::Managed);
    keys(&tree, "init", &[]).ok();

    // The file now says managed: the keyring keeps sealing to the client.
    tree.write_tenant("cust", &[ACME], &KeyMode::Managed);
    let config = tree.load();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let vault = runtime.block_on(vault_setup::open(&config)).unwrap();
    let error = vault_setup::ensure_tenants(&vault, &config).unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("cust.toml"), "{message}");
    assert!(
        message.contains("never moved from client back to managed"),
        "{message}"
    );
    assert!(!message.contains("acme"), "{message}");
    let listed = keys(&tree, "list", &[]).ok().json_lines();
    assert_eq!(listed[1]["tenant"], "cust");
    assert_eq!(listed[1]["mode"], "client");
    assert_eq!(listed[1]["public_key"], public_key.as_str());

    // The other way is allowed: a managed tenant moving to its own key.
    tree.write_tenant("cust", &[ACME], &KeyMode::Client(public_key.clone()));
    tree.write_tenant("acme", &[GLOBEX], &KeyMode::Client(public_key));
    let config = tree.load();
    vault_setup::ensure_tenants(&vault, &config).unwrap();
    let listed = keys(&tree, "list", &[]).ok().json_lines();
    assert_eq!(listed[0]["tenant"], "acme");
    assert_eq!(listed[0]["mode"], "client");
    assert_eq!(listed[0]["kek_versions"], json!([1]));
}

#[test]
fn a_missing_keyring_is_created_only_when_the_configuration_says_so() {
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &[ACME], &KeyMode::Managed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = tree.load();
    config.keys.create_if_missing = false;
    let error = runtime.block_on(vault_setup::open(&config)).err().unwrap();
    assert!(format!("{error:#}").contains("does not exist"), "{error:#}");
    assert!(!tree.keyring().exists());

    let mut config = tree.load();
    config.keys.create_if_missing = true;
    let vault = runtime.block_on(vault_setup::open(&config)).unwrap();
    vault_setup::ensure_tenants(&vault, &config).unwrap();
    let listed = keys(&tree, "list", &[]).ok().json_lines();
    assert_eq!(listed[0]["kek_versions"], json!([1]));
}

#[test]
fn the_master_key_must_open_the_keyring() {
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &[ACME], &KeyMode::Managed);
    keys(&tree, "init", &[]).ok();
    let master_key = tree.config().with_file_name("master.key");
    std::fs::write(&master_key, format!("{}\n", "d4".repeat(32))).unwrap();
    let refused = keys(&tree, "list", &[]).failed();
    refused.says("wrong master key");
    assert!(!refused.stderr.contains("d4d4"), "{}", refused.stderr);
}

/// The master key is replaced without touching a tenant key or an object:
/// the keyring opens with the new key only, and what it sealed before still
/// decrypts.
#[test]
fn the_master_key_rotates_and_every_recording_stays_readable() {
    let mut tree = VaultTree::new();
    tree.write_tenant("acme", &[ACME], &KeyMode::Managed);
    keys(&tree, "init", &[]).ok();
    let config = tree.load();
    let audio = streamed_wav(20_000);
    let start = Utc.with_ymd_and_hms(2024, 5, 6, 9, 30, 0).unwrap();
    let id = record_blocking(&config, &TestCall::new("acme", CALLER, ACME, start), &audio);
    let listed_before = keys(&tree, "list", &[]).ok().json_lines();

    let new_key = tree.scratch("new-master.key");
    let new_key_arg = new_key.display().to_string();
    greffier(["keys", "generate-master", "--out", &new_key_arg]).ok();
    let mode = std::fs::metadata(&new_key).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the new key is owner-only: {mode:o}");
    greffier(["keys", "generate-master", "--out", &new_key_arg])
        .failed()
        .says("exists");

    keys(&tree, "rotate-master", &["--new-key-file", &new_key_arg])
        .ok()
        .prints("now sealed by the key in");
    // The old key no longer opens the keyring.
    keys(&tree, "list", &[]).failed();
    let master = tree.config().with_file_name("master.key");
    std::fs::copy(&new_key, &master).unwrap();
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(keys(&tree, "list", &[]).ok().json_lines(), listed_before);
    let out = tree.scratch("after-rotation.wav");
    get(&tree, "acme", &id.to_string(), &out).ok();
    assert_eq!(std::fs::read(&out).unwrap(), with_real_sizes(&audio));
}
