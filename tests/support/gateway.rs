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

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_greffier"))
}

pub struct Gateway {
    /// In a cell so that a failed request can ask whether the process died.
    child: RefCell<Child>,
    pub config: GatewayConfig,
    /// The `greffier ready ...` line.
    pub ready_line: String,
    pub admin: SocketAddr,
    stderr_log: PathBuf,
}

impl Gateway {
    /// Runs `greffier run --config ...` and returns once it printed its
    /// ready line.
    pub fn start(config: GatewayConfig) -> Self {
        let stderr_log = config.run_dir().join("greffier.stderr.log");
        let stderr = std::fs::File::create(&stderr_log).expect("create the gateway's stderr log");
        let mut child = Command::new(binary())
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
        let mut gateway = Self {
            child: RefCell::new(child),
            config,
            ready_line: String::new(),
            admin: "0.0.0.0:0".parse().expect("placeholder address"),
            stderr_log,
        };
        gateway.ready_line = gateway.wait_ready(&lines_rx);
        gateway.admin = admin_address(&gateway.ready_line).unwrap_or_else(|| {
            panic!(
                "no admin=ADDRESS in the ready line {:?}",
                gateway.ready_line
            )
        });
        gateway
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

    pub fn sip_addr(&self) -> SocketAddr {
        self.config.sip_addr()
    }

    pub fn metrics(&self) -> Metrics {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200, "GET /metrics: {}", response.body);
        Metrics::parse(&response.body)
    }

    /// A GET on the admin endpoint; a failure says whether the gateway is
    /// still running.
    pub fn get(&self, path: &str) -> http::HttpResponse {
        http::get(self.admin, path).unwrap_or_else(|error| {
            let state = match self.child.borrow_mut().try_wait() {
                Ok(Some(status)) => format!("greffier has exited ({status})"),
                Ok(None) => "greffier is still running".to_string(),
                Err(wait_error) => format!("greffier's state is unknown ({wait_error})"),
            };
            panic!("{error}; {state}")
        })
    }

    pub fn stderr_tail(&self, lines: usize) -> String {
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
