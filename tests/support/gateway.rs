//! The real `greffier` binary, started on a test configuration and killed when
//! the test ends.

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::config::GatewayConfig;
use super::http;
use super::metrics::Metrics;

/// Upper bound for `greffier run` to bind its listeners (the binary is built
/// before the tests run).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_PREFIX: &str = "greffier ready";
/// The gateway's log filter; debug by default, so that a failing test shows
/// what the gateway did.
const LOG_ENV: &str = "GREFFIER_LOG";

pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_greffier"))
}

pub(crate) struct Gateway {
    /// In a cell so that a failed request can ask whether the process died.
    child: RefCell<Child>,
    pub(crate) config: GatewayConfig,
    /// The `greffier ready ...` line.
    pub(crate) ready_line: String,
    pub(crate) admin: SocketAddr,
    stderr_log: PathBuf,
    /// Environment variables set for the process, beyond the log filter.
    env: Vec<(String, String)>,
    /// Options given before `run` (`--log-format json`).
    global_args: Vec<String>,
    /// `RLIMIT_NOFILE` (soft and hard) of the process, when lowered.
    nofile: Option<u64>,
}

impl Gateway {
    /// Runs `greffier run --config ...` and returns once it printed its
    /// ready line.
    pub(crate) fn start(config: GatewayConfig) -> Self {
        Self::start_with_env(config, &[])
    }

    /// As [`Self::start`], with `env` set in the process's environment.
    pub(crate) fn start_with_env(config: GatewayConfig, env: &[(&str, &str)]) -> Self {
        Self::start_with_options(config, env, &[])
    }

    /// As [`Self::start`], with `env` in the environment and `global_args`
    /// before `run` on the command line.
    pub(crate) fn start_with_options(
        config: GatewayConfig,
        env: &[(&str, &str)],
        global_args: &[&str],
    ) -> Self {
        Self::launch(config, env, global_args, None)
    }

    /// As [`Self::start`], with the process's descriptor limit (soft and
    /// hard) lowered to `nofile`, as a small `LimitNOFILE=` would.
    pub(crate) fn start_with_descriptor_limit(config: GatewayConfig, nofile: u64) -> Self {
        Self::launch(config, &[], &[], Some(nofile))
    }

    fn launch(
        config: GatewayConfig,
        env: &[(&str, &str)],
        global_args: &[&str],
        nofile: Option<u64>,
    ) -> Self {
        let global_args: Vec<String> = global_args.iter().map(|arg| arg.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let stderr_log = config.run_dir().join("greffier.stderr.log");
        let stderr = std::fs::File::create(&stderr_log).expect("create the gateway's stderr log");
        let (child, lines_rx) = spawn(&config, stderr, &env, &global_args, nofile);
        let mut gateway = Self {
            child: RefCell::new(child),
            config,
            ready_line: String::new(),
            admin: "0.0.0.0:0".parse().expect("placeholder address"),
            stderr_log,
            env,
            global_args,
            nofile,
        };
        gateway.await_ready(&lines_rx);
        gateway
    }

    /// Kills the process with SIGKILL, so that nothing of its shutdown runs
    /// (as in a crash), and returns once it is gone.
    pub(crate) fn kill_hard(&mut self) {
        let child = self.child.get_mut();
        let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
        // SAFETY: `kill` takes plain integers; the pid is our own child,
        // not yet reaped, so it cannot name another process.
        let sent = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(
            sent,
            0,
            "kill -9 {pid}: {}",
            std::io::Error::last_os_error()
        );
        let status = child.wait().expect("wait for the killed greffier");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "greffier ended otherwise: {status}"
        );
    }

    /// Stops the process with SIGTERM, as a supervisor does, and returns once
    /// it has exited; a clean stop must end with success within `bound`.
    pub(crate) fn stop(&mut self, bound: Duration) {
        let child = self.child.get_mut();
        let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
        // SAFETY: as in `kill_hard`: our own child, not yet reaped.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill {pid}: {}", std::io::Error::last_os_error());
        let deadline = std::time::Instant::now() + bound;
        let status = loop {
            if let Some(status) = child.try_wait().expect("greffier's state") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "greffier did not stop within {bound:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "greffier stopped with {status}:\n{}",
            self.stderr_tail(40)
        );
    }

    /// Starts the binary again on the same configuration tree, once the
    /// previous process has ended; the new run's stderr follows the old one's
    /// in the same log.
    pub(crate) fn restart(&mut self) {
        let previous = self.child.get_mut().try_wait().expect("greffier's state");
        assert!(previous.is_some(), "restart while greffier still runs");
        let stderr = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.stderr_log)
            .expect("reopen the gateway's stderr log");
        let (child, lines_rx) = spawn(
            &self.config,
            stderr,
            &self.env,
            &self.global_args,
            self.nofile,
        );
        *self.child.get_mut() = child;
        self.await_ready(&lines_rx);
    }

    fn await_ready(&mut self, lines: &mpsc::Receiver<String>) {
        self.ready_line = self.wait_ready(lines);
        self.admin = admin_address(&self.ready_line)
            .unwrap_or_else(|| panic!("no admin=ADDRESS in the ready line {:?}", self.ready_line));
    }

    fn wait_ready(&mut self, lines: &mpsc::Receiver<String>) -> String {
        let mut seen = Vec::new();
        loop {
            match lines.recv_timeout(READY_TIMEOUT) {
                Ok(line) if line.starts_with(READY_PREFIX) => return line,
                Ok(line) => seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "greffier printed no `{READY_PREFIX}` line within {READY_TIMEOUT:?}; stdout so far: {seen:?}\nstderr:\n{}",
                    self.stderr_tail(60)
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.get_mut().wait().expect("wait for greffier");
                    panic!(
                        "greffier exited ({status}) before it was ready; stdout: {seen:?}\nstderr:\n{}\nconfig:\n{}",
                        self.stderr_tail(60),
                        self.config.describe()
                    );
                }
            }
        }
    }

    pub(crate) fn sip_addr(&self) -> SocketAddr {
        self.config.sip_addr()
    }

    /// The process id of the running gateway.
    pub(crate) fn pid(&self) -> u32 {
        self.child.borrow().id()
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200, "GET /metrics: {}", response.body);
        Metrics::parse(&response.body)
    }

    /// A GET on the admin endpoint; a failure says whether the gateway is
    /// still running.
    pub(crate) fn get(&self, path: &str) -> http::HttpResponse {
        http::get(self.admin, path).unwrap_or_else(|error| {
            let state = match self.child.borrow_mut().try_wait() {
                Ok(Some(status)) => format!("greffier has exited ({status})"),
                Ok(None) => "greffier is still running".to_string(),
                Err(wait_error) => format!("greffier's state is unknown ({wait_error})"),
            };
            panic!("{error}; {state}")
        })
    }

    /// Waits up to `bound` for a line of the gateway's log holding every one
    /// of `needles`, and returns it.
    pub(crate) fn wait_for_log(&self, needles: &[&str], bound: Duration) -> String {
        let deadline = std::time::Instant::now() + bound;
        loop {
            let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
            if let Some(line) = text
                .lines()
                .find(|line| needles.iter().all(|needle| line.contains(needle)))
            {
                return line.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {needles:?} within {bound:?}:\n{}",
                self.stderr_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the gateway logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub(crate) fn stderr_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let child = self.child.get_mut();
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- greffier stderr (last lines)\n{}",
                self.stderr_tail(150)
            );
            let kept = self.config.keep();
            eprintln!(
                "--- configuration, gateway log and sipp traces kept in {}",
                kept.display()
            );
        }
    }
}

/// `greffier ready sip=udp:...,tcp:... admin=127.0.0.1:8080` → the admin address.
fn admin_address(line: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("admin="))
        .and_then(|addr| addr.parse().ok())
}

/// `greffier run --config ...` with its stderr to `stderr`, and its stdout as
/// a channel of lines.
fn spawn(
    config: &GatewayConfig,
    stderr: std::fs::File,
    env: &[(String, String)],
    global_args: &[String],
    nofile: Option<u64>,
) -> (Child, mpsc::Receiver<String>) {
    let mut command = Command::new(binary());
    if let Some(limit) = nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec only setrlimit runs, which is
        // async-signal-safe and touches nothing of the parent's.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = command
        .envs(env.iter().map(|(name, value)| (name, value)))
        .args(global_args)
        .arg("run")
        .arg("--config")
        .arg(config.path())
        .env(
            LOG_ENV,
            std::env::var(LOG_ENV).unwrap_or_else(|_| "debug".to_string()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|error| panic!("start {}: {error}", binary().display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    // Keeps reading after the ready line so that the child never blocks
    // on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                // Nobody listens any more: drain quietly.
            }
        }
    });
    (child, lines_rx)
}
