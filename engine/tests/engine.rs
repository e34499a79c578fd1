//! The real engine binary on the real Whisper base model: speech synthesised
//! with festival goes in through the OpenAI dialect client the gateway uses,
//! and the words come back; keys are checked and revocable; nothing heard
//! and no key reaches the log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use greffier_transcribe::{ApiKey, Dialect, Failure, ProviderClient, ProviderSettings};

fn engine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_greffier-engine"))
}

/// The model directory, fetched by `scripts/models.sh` if it is not there.
fn model_dir() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/models.sh");
    let output = Command::new("bash")
        .arg(script)
        .output()
        .expect("scripts/models.sh runs");
    assert!(
        output.status.success(),
        "scripts/models.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("the model directory").trim())
}

/// Speech for `text` from festival's `us_slt` HTS voice, as a WAV file.
fn speak(dir: &Path, name: &str, text: &str) -> Vec<u8> {
    let text_file = dir.join(format!("{name}.txt"));
    let wav_file = dir.join(format!("{name}.wav"));
    std::fs::write(&text_file, text).unwrap();
    let status = Command::new("text2wave")
        .arg(&text_file)
        .args(["-eval", "(voice_cmu_us_slt_arctic_hts)", "-o"])
        .arg(&wav_file)
        .status()
        .expect("festival's text2wave (scripts/setup.sh installs it)");
    assert!(status.success());
    std::fs::read(wav_file).unwrap()
}

fn seconds_of(wav: &[u8]) -> f64 {
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    f64::from(reader.duration()) / f64::from(reader.spec().sample_rate)
}

fn create_key(keys: &Path, name: &str) -> String {
    let output = engine()
        .args(["keys", "create", "--file"])
        .arg(keys)
        .args(["--name", name])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

struct Running {
    child: Child,
    address: String,
    log: mpsc::Receiver<String>,
}

impl Running {
    /// Starts the engine and waits for its "engine ready" line (bounded).
    fn start(config: &Path) -> Self {
        let mut child = engine()
            .args(["serve", "--config"])
            .arg(config)
            .env("GREFFIER_ENGINE_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let address = loop {
            let line = log
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("the engine never became ready: {seen:?}"));
            if line.contains("engine ready") {
                let address = line
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("address="))
                    .expect("the ready line names the address")
                    .to_owned();
                break address;
            }
            seen.push(line);
        };
        Running {
            child,
            address,
            log,
        }
    }

    fn client(&self, key: Option<&str>) -> ProviderClient {
        ProviderClient::new(ProviderSettings {
            dialect: Dialect::OpenAi,
            base: format!("http://{}", self.address),
            model: "whisper-base".into(),
            language: Some("en".into()),
            key: key.map(|key| ApiKey::new(key.to_owned())),
            request_timeout: Duration::from_secs(300),
            poll_every: Duration::from_secs(1),
            poll_for: Duration::from_secs(1),
        })
        .unwrap()
    }

    /// Stops the engine and returns everything it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(5)) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_transcribes_speech_for_a_valid_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let key = create_key(&keys, "gateway");
    let other = create_key(&keys, "spare");
    let config = dir.path().join("engine.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nmodel_dir = \"{}\"\nkeys_file = \"keys.json\"\nthreads = 1\n",
            model_dir().display()
        ),
    )
    .unwrap();
    let running = Running::start(&config);

    let wav = speak(
        dir.path(),
        "invoice",
        "Please send the invoice to the accounting department before Friday.",
    );
    let channel = running
        .client(Some(&key))
        .transcribe(wav.clone(), seconds_of(&wav))
        .await
        .expect("a transcription");
    let text = channel
        .segments
        .iter()
        .map(|segment| segment.text.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    for word in ["invoice", "accounting", "friday"] {
        assert!(text.contains(word), "`{word}` missing from {text:?}");
    }
    let last_end = channel.segments.last().unwrap().end;
    assert!(last_end <= seconds_of(&wav) + 1e-9);

    // No key, a wrong key, then a revoked one.
    for client in [running.client(None), running.client(Some("gek_0_0"))] {
        assert_eq!(
            client.transcribe(wav.clone(), 1.0).await,
            Err(Failure::Permanent {
                reason: "the provider answered 401 Unauthorized".into()
            })
        );
    }
    let id = other.split('_').nth(1).unwrap().to_owned();
    let status = engine()
        .args(["keys", "revoke", "--file"])
        .arg(&keys)
        .args(["--id", &id])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(matches!(
        running
            .client(Some(&other))
            .transcribe(wav.clone(), 1.0)
            .await,
        Err(Failure::Permanent { .. })
    ));

    let log = running.stop();
    assert!(log.contains("transcribed"), "{log}");
    for secret in [key.as_str(), other.as_str(), "invoice", "accounting"] {
        assert!(
            !log.to_lowercase().contains(&secret.to_lowercase()),
            "`{secret}` in the log:\n{log}"
        );
    }
}
