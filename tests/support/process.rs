//! Child processes of the harness that are told to stop and given a bounded
//! time to do so.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Waits up to `bound` for `child` to exit, then kills it.
pub(crate) fn wait_or_kill(mut child: Child, bound: Duration) {
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        }
    }
}

/// A log file as text (empty when it is not there yet).
pub(crate) fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// True when `program ARG` starts (whatever its exit status): the program
/// is installed.
pub(crate) fn can_run(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}
