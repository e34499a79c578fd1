//! A configuration tree for the vault side of the CLI, the `greffier` binary
//! run to completion, and recordings written through the vault crate as the
//! gateway writes them. Nothing listens: the tree's ports are never bound.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use greffier::config::Config;
use greffier::vault_setup;
use greffier_vault::catalog::{call_id_hash, CallEnd, CallInfo, Direction, E164};
use greffier_vault::recording::{FinishOutcome, RecordingWriter, WriterOptions};
use greffier_vault::store::RecordId;
use greffier_vault::{TenantKeys, Uuid};

use super::config::GatewayConfig;

/// How a tenant's objects are keyed.
#[derive(Debug, Clone)]
pub(crate) enum KeyMode {
    Managed,
    /// The client's X25519 public key, standard base64.
    Client(String),
}

/// The gateway harness's tree (`config/` with the main file and master key,
/// `data/` with the store, spool and keyring), with tenant files written
/// here so that any key mode can be configured.
pub(crate) struct VaultTree {
    gateway: GatewayConfig,
    tenants: usize,
}

impl VaultTree {
    pub(crate) fn new() -> Self {
        Self {
            gateway: GatewayConfig::write(Vec::new()),
            tenants: 0,
        }
    }

    /// Adds whole sections to the main file.
    pub(crate) fn with_sections(mut self, text: &str) -> Self {
        self.gateway = self.gateway.with_sections(text);
        self
    }

    /// The tree as a gateway's configuration, to run the gateway on it.
    pub(crate) fn into_gateway(self) -> GatewayConfig {
        self.gateway
    }

    fn root(&self) -> &Path {
        self.gateway
            .path()
            .parent()
            .and_then(Path::parent)
            .expect("config/greffier.toml in the tree")
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.gateway.path().to_path_buf()
    }

    pub(crate) fn config_arg(&self) -> String {
        self.config().display().to_string()
    }

    pub(crate) fn store_dir(&self) -> PathBuf {
        self.root().join("data/store")
    }

    pub(crate) fn keyring(&self) -> PathBuf {
        self.root().join("data/keyring.grk")
    }

    /// A scratch path outside the configuration and data directories.
    /// A client key pair made by `keys generate-client`: the private key
    /// file (in the scratch directory) and the public key as printed.
    pub(crate) fn client_key_pair(&self, name: &str) -> (PathBuf, String) {
        let key_file = self.scratch(name);
        let generated = greffier([
            std::ffi::OsStr::new("keys"),
            std::ffi::OsStr::new("generate-client"),
            std::ffi::OsStr::new("--out"),
            key_file.as_os_str(),
        ])
        .ok();
        let public_key = generated
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("public_key = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .expect("a public key")
            .to_string();
        (key_file, public_key)
    }

    pub(crate) fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.root().join("scratch");
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir.join(name)
    }

    /// Writes (or rewrites) a tenant file. Each tenant gets its own loopback
    /// sources, so tenants never overlap.
    pub(crate) fn write_tenant(&mut self, id: &str, numbers: &[&str], keys: &KeyMode) {
        self.tenants += 1;
        let pbx = 2 * self.tenants;
        let carrier = pbx + 1;
        let numbers = numbers
            .iter()
            .map(|number| format!("{number:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let keys = match keys {
            KeyMode::Managed => "mode = \"managed\"".to_string(),
            KeyMode::Client(public_key) => {
                format!("mode = \"client\"\npublic_key = \"{public_key}\"")
            }
        };
        let text = format!(
            r#"id = "{id}"
numbers = [{numbers}]

[pbx]
sources = ["127.0.1.{pbx}/32"]
uri = "sip:127.0.1.{pbx}:5080"

[carrier]
sources = ["127.0.1.{carrier}/32"]
uri = "sip:127.0.1.{carrier}:5070"

[recording]
policy = "all"

[retention]
recordings_days = 30
transcripts_days = 30

[keys]
{keys}
"#
        );
        let file = self.root().join(format!("config/tenants/{id}.toml"));
        std::fs::write(file, text).expect("write a tenant file");
    }

    pub(crate) fn load(&self) -> Config {
        Config::load(&self.config()).unwrap_or_else(|problems| panic!("{problems}"))
    }

    /// The stored file of an object whose name starts with the record id
    /// and ends with `suffix` (`.grf`, `.manifest.grf`).
    pub(crate) fn object_file(&self, id: &RecordId, suffix: &str) -> PathBuf {
        let name = format!("{id}{suffix}");
        find_file(&self.store_dir(), &name)
            .unwrap_or_else(|| panic!("no stored object named {name}"))
    }
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if entry.file_name() == name {
            return Some(path);
        }
    }
    None
}

/// A finished run of the binary.
#[derive(Debug)]
pub(crate) struct CliRun {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl CliRun {
    /// Panics with both streams unless the run succeeded.
    pub(crate) fn ok(self) -> Self {
        assert!(self.success, "greffier failed:\n{}", self.stderr);
        self
    }

    /// Panics unless the run failed; returns it for its message.
    pub(crate) fn failed(self) -> Self {
        assert!(!self.success, "greffier succeeded:\n{}", self.stdout);
        assert!(
            !self.stderr.contains("panicked"),
            "greffier panicked:\n{}",
            self.stderr
        );
        self
    }

    /// Panics unless stderr holds `text`.
    pub(crate) fn says(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "no {text:?} in:\n{}",
            self.stderr
        );
        self
    }

    /// Panics unless stdout holds `text`.
    pub(crate) fn prints(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "no {text:?} in:\n{}",
            self.stdout
        );
        self
    }

    /// Panics unless stderr is one line.
    pub(crate) fn in_one_line(&self) -> &Self {
        assert_eq!(self.stderr.trim().lines().count(), 1, "{}", self.stderr);
        self
    }

    /// stdout as JSON values, one per line.
    pub(crate) fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect()
    }
}

pub(crate) fn greffier<I, S>(args: I) -> CliRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_greffier"))
        .args(args)
        .env("GREFFIER_LOG", "warn")
        .output()
        .expect("run greffier");
    CliRun {
        success: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// One call to record.
#[derive(Debug, Clone)]
pub(crate) struct TestCall {
    pub(crate) tenant: String,
    pub(crate) caller: String,
    pub(crate) callee: String,
    pub(crate) direction: Direction,
    pub(crate) start: DateTime<Utc>,
    pub(crate) duration: Duration,
}

impl TestCall {
    pub(crate) fn new(tenant: &str, caller: &str, callee: &str, start: DateTime<Utc>) -> Self {
        Self {
            tenant: tenant.to_string(),
            caller: caller.to_string(),
            callee: callee.to_string(),
            direction: Direction::Inbound,
            start,
            duration: Duration::seconds(42),
        }
    }
}

/// Records `audio` for `call` the way the gateway does: through the vault
/// opened from the configuration, the spool and a `RecordingWriter`. The
/// record id carries the call's start, as one drawn at that instant would.
pub(crate) async fn record(config: &Config, call: &TestCall, audio: &[u8]) -> RecordId {
    let vault = vault_setup::open(config).await.expect("open the vault");
    vault_setup::ensure_tenants(&vault, config).expect("tenant keys");
    let tenant = vault_setup::tenant_id(&call.tenant).expect("tenant id");
    let record_id = record_id_at(call.start);
    let keys = vault.keys();
    let index_key = keys.index_key(&tenant).expect("index key");
    let info = CallInfo {
        tenant,
        record_id,
        start: call.start,
        caller: Some(E164::new(&call.caller).expect("caller")),
        callee: Some(E164::new(&call.callee).expect("callee")),
        direction: call.direction,
        codecs: vec!["PCMA/8000".to_string()],
        media_type: "audio/wav".to_string(),
        call_id_hash: call_id_hash(&index_key, &format!("{record_id}@test")).expect("hash"),
    };
    let now = Instant::now();
    let mut writer = RecordingWriter::create(
        vault.spool.clone(),
        vault.store.clone(),
        keys,
        info,
        WriterOptions::default(),
        now,
    )
    .await
    .expect("start the recording");
    for piece in audio.chunks(7_000) {
        writer.write(piece, now).await.expect("write audio");
    }
    let end = CallEnd {
        end: Some(call.start + call.duration),
        sip_status: Some(200),
        ..CallEnd::default()
    };
    match writer.finish(end).await.expect("finish the recording") {
        FinishOutcome::Stored => record_id,
        FinishOutcome::Pending(error) => panic!("the local store refused the recording: {error}"),
    }
}

/// A fresh record id whose UUIDv7 timestamp is `start`: the random bits of
/// a new id under the 48-bit millisecond timestamp of `start`.
pub(crate) fn record_id_at(start: DateTime<Utc>) -> RecordId {
    let millis = u64::try_from(start.timestamp_millis()).expect("a start after 1970");
    let mut bytes = *Uuid::now_v7().as_bytes();
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    RecordId::from_uuid(Uuid::from_bytes(bytes)).expect("a UUIDv7")
}

/// A streamed WAV (sizes unknown, as the recorder writes them) of a
/// recognisable 8 kHz mono ramp of `samples` samples.
pub(crate) fn streamed_wav(samples: usize) -> Vec<u8> {
    let mut bytes = greffier_media::wav::wav_stream_header(8000, 1).to_vec();
    let ramp: Vec<i16> = (0..samples)
        .map(|i| i16::try_from(i % 2000).unwrap_or(0) - 1000)
        .collect();
    greffier_media::wav::write_pcm(&ramp, &mut bytes);
    bytes
}

/// Flips one byte in the middle of a file.
pub(crate) fn flip_middle_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read the object");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, bytes).expect("write the altered object");
}

/// [`record`] from a test without a runtime of its own.
pub(crate) fn record_blocking(config: &Config, call: &TestCall, audio: &[u8]) -> RecordId {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(record(config, call, audio))
}

/// What `recordings get` should produce from [`streamed_wav`] bytes: the
/// same audio with the real sizes in the header.
pub(crate) fn with_real_sizes(wav: &[u8]) -> Vec<u8> {
    let mut fixed = wav.to_vec();
    greffier_media::wav_fix_sizes(&mut fixed).expect("a canonical WAV");
    fixed
}

/// A transcript as the transcription worker stores it: one line for each
/// speaker, `words` in the caller's.
pub(crate) fn sample_transcript(words: &str) -> serde_json::Value {
    serde_json::json!({
        "language": "fr",
        "provider": "local",
        "model": "whisper-base",
        "segments": [
            {"speaker": "caller", "start": 0.5, "end": 2.25, "text": words},
            {"speaker": "callee", "start": 2.5, "end": 3.75, "text": "je vous écoute"},
        ],
    })
}

/// A transcription job in `state` (`{"state": "done"}`, `{"state":
/// "refused", "code": …, "reason": …}`), as the worker stores it. Its next
/// attempt is far ahead, so a gateway's worker leaves it as it is.
pub(crate) fn job_json(state: serde_json::Value, attempts: u32) -> serde_json::Value {
    let mut job = serde_json::json!({
        "queued_at": "2026-12-01T10:00:00Z",
        "attempts": attempts,
        "next_attempt": "2099-01-01T00:00:00Z",
        "refused_seconds": 0,
    });
    if let (Some(job), Some(state)) = (job.as_object_mut(), state.as_object()) {
        job.extend(state.clone());
    }
    job
}

/// Stores what a transcription leaves for record `id` of `tenant`: the
/// transcript sealed with the tenant's key through the vault, as the
/// worker writes it, and the job: a finished one filed under `finished/`,
/// one in progress with a lease.
pub(crate) fn store_transcription(
    config: &Config,
    tenant: &str,
    id: &RecordId,
    transcript: Option<&serde_json::Value>,
    job: Option<&serde_json::Value>,
) {
    use greffier_vault::store::ObjectKey;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let keyring = vault_setup::open_existing_keyring(&config.keys).expect("the keyring");
            let store = vault_setup::open_store(&config.storage).expect("the store");
            let tenant = vault_setup::tenant_id(tenant).expect("tenant id");
            if let Some(transcript) = transcript {
                store
                    .write_transcript(&keyring, &tenant, id, transcript)
                    .await
                    .expect("store the transcript");
            }
            if let Some(job) = job {
                let bytes = serde_json::to_vec(job).expect("job JSON");
                if matches!(job["state"].as_str(), Some("done" | "failed")) {
                    store
                        .put(&ObjectKey::finished_job(&tenant, id), bytes.into())
                        .await
                        .expect("store the finished job");
                } else {
                    store
                        .put(&ObjectKey::transcription_job(&tenant, id), bytes.into())
                        .await
                        .expect("store the job");
                    store
                        .put(&ObjectKey::job_lease(&tenant, id, 1), Vec::new().into())
                        .await
                        .expect("store the lease");
                }
            }
        });
}
