//! The real transcription engine, `greffier-engine`, as a child process on a
//! free loopback port with a fresh API key, on the Whisper base model
//! `scripts/models.sh` fetched. It can be stopped and started again on the
//! same port and key (a provider that goes down and comes back), and it
//! says how many transcription requests it answered, read from its own log.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::gateway;
use super::ports::free_port;
use super::process::read_log;

/// Loading Whisper base takes a few seconds; a debug build on a busy
/// machine, more.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const READY_LINE: &str = "engine ready";
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// `engine/src/server.rs` logs one line per request that reached the
/// model: `transcribed` with its sizes, or `transcription failed`.
const ANSWERED_LINES: [&str; 2] = ["transcribed", "transcription failed"];

/// The engine binary, built beside `greffier` by `cargo build -p
/// greffier-engine` (and by `cargo nextest run --workspace`).
pub(crate) fn binary() -> PathBuf {
    let greffier = gateway::binary();
    let dir = greffier
        .parent()
        .expect("the greffier binary is in a directory");
    let engine = dir.join("greffier-engine");
    assert!(
        engine.is_file(),
        "{} is missing: build it first with `cargo build -p greffier-engine` \
         (scripts/test.sh builds it with the workspace)",
        engine.display()
    );
    engine
}

/// The Whisper base model's directory, fetched once by `scripts/models.sh`
/// (which prints it last).
pub(crate) fn model_dir() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/models.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", script.display()));
    assert!(
        output.status.success(),
        "scripts/models.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("scripts/models.sh prints the model directory")
            .trim(),
    )
}

pub(crate) struct Engine {
    dir: TempDir,
    config: PathBuf,
    address: SocketAddr,
    /// The gateway's key for this engine, alone in a file (a provider's
    /// `key_file`).
    key_file: PathBuf,
    /// Every run's stderr, one after the other.
    log: PathBuf,
    child: Option<Child>,
}

impl Engine {
    /// Writes the engine's configuration on a free port with a fresh key,
    /// without starting it: a gateway can be told where it will be.
    pub(crate) fn prepare() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("greffier-engine-")
            .tempdir()
            .expect("create a temporary directory");
        let keys = dir.path().join("keys.json");
        let output = Command::new(binary())
            .args(["keys", "create", "--file"])
            .arg(&keys)
            .args(["--name", "gateway"])
            .output()
            .expect("run greffier-engine keys create");
        assert!(
            output.status.success(),
            "greffier-engine keys create: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let key = String::from_utf8_lossy(&output.stdout).trim().to_string();
        assert!(key.starts_with("gek_"), "not a key: {key:?}");
        let key_file = dir.path().join("gateway.key");
        std::fs::write(&key_file, format!("{key}\n")).expect("write the key file");
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port(Ipv4Addr::LOCALHOST)));
        let config = dir.path().join("engine.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"{address}\"\nmodel_dir = \"{}\"\nkeys_file = \"keys.json\"\nthreads = 1\n",
                model_dir().display()
            ),
        )
        .expect("write the engine's configuration");
        let log = dir.path().join("engine.log");
        std::fs::write(&log, "").expect("create the engine's log");
        Self {
            dir,
            config,
            address,
            key_file,
            log,
            child: None,
        }
    }

    /// [`Self::prepare`], then [`Self::run`].
    pub(crate) fn start() -> Self {
        let mut engine = Self::prepare();
        engine.run();
        engine
    }

    /// Starts the engine and returns once it logged that it is ready (on the
    /// address prepared).
    pub(crate) fn run(&mut self) {
        assert!(self.child.is_none(), "the engine already runs");
        let readies_before = self.ready_lines();
        let stderr = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open the engine's log");
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("GREFFIER_ENGINE_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", binary().display()));
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while self.ready_lines() == readies_before {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().expect("the engine's state"))
            {
                self.child = None;
                panic!(
                    "greffier-engine exited ({status}) before it was ready:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "greffier-engine logged no `{READY_LINE}` within {READY_TIMEOUT:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(POLL_INTERVAL);
        }
        let ready = self
            .log_text()
            .lines()
            .rfind(|line| line.contains(READY_LINE))
            .map(str::to_string)
            .unwrap_or_default();
        assert!(
            ready.contains(&format!("address={}", self.address)),
            "the engine is not on {}: {ready}",
            self.address
        );
    }

    /// Kills the engine (as a crash or a host going down would) and returns
    /// once it is gone; a request in flight fails.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the engine, then runs it again on the same port and key.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// The base address a provider of `kind = "openai"` is given.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The file holding the gateway's key (a provider's `key_file`).
    pub(crate) fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The requests that reached the model, in every run so far.
    pub(crate) fn requests(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|line| ANSWERED_LINES.iter().any(|needle| line.contains(needle)))
            .count()
    }

    /// Waits up to `bound` until the engine answered `count` requests;
    /// returns how many it answered.
    pub(crate) fn wait_requests(&self, count: usize, bound: Duration) -> usize {
        let deadline = Instant::now() + bound;
        loop {
            let answered = self.requests();
            if answered >= count {
                return answered;
            }
            assert!(
                Instant::now() < deadline,
                "the engine answered {answered} requests, not {count}, within {bound:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    pub(crate) fn log_text(&self) -> String {
        read_log(&self.log)
    }

    fn ready_lines(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|line| line.contains(READY_LINE))
            .count()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- greffier-engine log\n{}", self.log_text());
            self.dir.disable_cleanup(true);
            eprintln!(
                "--- engine configuration and log kept in {}",
                self.dir.path().display()
            );
        }
    }
}
