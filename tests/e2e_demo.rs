//! The first ten minutes, as a newcomer types them: `scripts/run-local.sh`
//! starts the gateway on its example configuration, `scripts/demo-call.sh`
//! places a call with speech on both legs and writes the recording as a WAV
//! file. The recording's caller channel must be the caller's speech.
//!
//! The gateway runs from a debug build and without the transcription engine
//! (`GREFFIER_BUILD=debug`, `GREFFIER_ENGINE=off`), with its data in a
//! temporary directory; it listens on the example's fixed addresses
//! (127.0.0.1:5060 and :8080), as the newcomer's does.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use greffier_media::codec::ulaw_to_linear;
use greffier_test_support::audio::{correlation_near_first_sound, wav_channels};

/// The first start may compile the binary.
const READY_BOUND: Duration = Duration::from_secs(600);

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/run-local.sh` in its own process group, killed whole on drop.
struct RunLocal {
    child: Child,
}

impl RunLocal {
    fn start(data: &Path) -> Self {
        let mut command = Command::new(repository().join("scripts/run-local.sh"));
        command
            .env("GREFFIER_DATA_DIR", data)
            .env("GREFFIER_BUILD", "debug")
            .env("GREFFIER_ENGINE", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data.join("run-local.log")).unwrap());
        // SAFETY: only setpgid runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setpgid(0, 0) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut child = command.spawn().expect("run scripts/run-local.sh");
        let stdout = child.stdout.take().unwrap();
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("greffier ready") {
                    let _ = lines.send(line);
                }
            }
        });
        let run = RunLocal { child };
        ready.recv_timeout(READY_BOUND).unwrap_or_else(|_| {
            panic!(
                "run-local.sh printed no ready line:\n{}",
                std::fs::read_to_string(data.join("run-local.log")).unwrap_or_default()
            )
        });
        run
    }
}

impl Drop for RunLocal {
    fn drop(&mut self) {
        let group = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signals the process group this test created.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn the_demo_call_gives_a_playable_recording_of_what_was_said() {
    let data = tempfile::tempdir().unwrap();
    let demo = data.path().join("demo");
    let _gateway = RunLocal::start(data.path());
    let output = Command::new(repository().join("scripts/demo-call.sh"))
        .env("GREFFIER_DATA_DIR", data.path())
        .env("GREFFIER_BUILD", "debug")
        .env("GREFFIER_DEMO_DIR", &demo)
        .output()
        .expect("run scripts/demo-call.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = stdout
        .lines()
        .find_map(|line| line.strip_prefix("recording: "))
        .unwrap_or_else(|| panic!("no recording id in {stdout}"));
    let wav = std::fs::read(demo.join(format!("{id}.wav"))).expect("the WAV file");
    let (spec, caller, callee) = wav_channels(&wav);
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let said: Vec<i16> = std::fs::read(demo.join("caller.ulaw"))
        .unwrap()
        .into_iter()
        .map(ulaw_to_linear)
        .collect();
    // A second of the sentence, from where its sound starts.
    let start = said.iter().position(|s| s.unsigned_abs() > 500).unwrap();
    let reference = &said[start..start + 8000];
    let correlation = correlation_near_first_sound(reference, &caller[first_loud(&caller)..]);
    assert!(
        correlation > 0.9,
        "caller channel correlation {correlation}"
    );
    assert!(
        greffier_test_support::audio::rms(&callee) > 100.0,
        "the callee spoke too"
    );
}

/// Where a channel's sound starts loud enough to be speech.
fn first_loud(channel: &[i16]) -> usize {
    channel
        .iter()
        .position(|s| s.unsigned_abs() > 500)
        .expect("speech in the channel")
        .saturating_sub(100)
}
