//! sipp as a peer: a caller that runs to completion, or an answerer that
//! runs in the background while a caller goes through the gateway.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::ports::{free_port, free_udp_block};
use super::sipp_trace::{parse_message_log, Direction, SippStats, TracedMessage};
use super::sockets::{is_bound, Transport};

/// Upper bound for a sipp run, passed to sipp itself (`-timeout`): a stuck
/// scenario fails the test instead of hanging it.
const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for an answerer to bind its socket.
const BIND_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// sipp binds the media port and the one two above it (audio and video echo).
const SIPP_MEDIA_PORTS: u16 = 4;

/// A scenario of this repository's `tests/scenarios/`.
pub(crate) fn scenario(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(file)
}

/// A scenario of the shared benchmark harness (`../shared/peerbench/scenarios/`).
pub(crate) fn peerbench_scenario(file: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/peerbench/scenarios"
    ))
    .join(file)
}

/// Fails the test with the fix when sipp is not installed.
pub(crate) fn require_sipp() {
    match Command::new("sipp").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => {}
        Err(error) => panic!(
            "sipp cannot be run ({error}); install it with scripts/setup.sh (Debian package sip-tester)"
        ),
    }
}

/// One sipp invocation, built up before it runs.
#[derive(Debug, Clone)]
pub(crate) struct SippCommand {
    name: String,
    scenario: PathBuf,
    dir: PathBuf,
    transport: Transport,
    local: SocketAddrV4,
    media_port: u16,
    remote: Option<SocketAddr>,
    calls: u32,
    extra: Vec<String>,
    timeout: Duration,
}

impl SippCommand {
    /// `name` labels the run in reports and names its files under `work_dir`.
    pub(crate) fn new(
        name: &str,
        scenario: &Path,
        work_dir: &Path,
        transport: Transport,
        ip: Ipv4Addr,
    ) -> Self {
        require_sipp();
        assert!(
            scenario.is_file(),
            "no scenario file {}",
            scenario.display()
        );
        let dir = work_dir.join(format!("sipp-{name}"));
        std::fs::create_dir_all(&dir).expect("create the sipp run directory");
        Self {
            name: name.to_string(),
            scenario: scenario.to_path_buf(),
            dir,
            transport,
            local: SocketAddrV4::new(ip, free_port(ip)),
            media_port: free_udp_block(ip, SIPP_MEDIA_PORTS),
            remote: None,
            calls: 1,
            extra: Vec::new(),
            timeout: DEFAULT_RUN_TIMEOUT,
        }
    }

    /// Listen (and, over TCP, connect from) this exact port.
    pub(crate) fn local_port(mut self, port: u16) -> Self {
        self.local.set_port(port);
        self
    }

    /// Where every request goes (the gateway, for a caller).
    pub(crate) fn remote(mut self, addr: SocketAddr) -> Self {
        self.remote = Some(addr);
        self
    }

    /// Stop after this many calls (`-m`).
    pub(crate) fn calls(mut self, calls: u32) -> Self {
        self.calls = calls;
        self
    }

    /// The user part of the Request-URI (`-s`).
    pub(crate) fn service(self, user: &str) -> Self {
        self.args(["-s", user])
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.local)
    }

    fn message_log(&self) -> PathBuf {
        self.dir.join("messages.log")
    }

    fn stats_csv(&self) -> PathBuf {
        self.dir.join("stats.csv")
    }

    fn error_log(&self) -> PathBuf {
        self.dir.join("errors.log")
    }

    fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = Vec::new();
        if let Some(remote) = self.remote {
            argv.push(remote.to_string());
        }
        let timeout_secs = self.timeout.as_secs().max(1);
        let fixed = [
            "-sf".to_string(),
            self.scenario.display().to_string(),
            "-t".to_string(),
            self.transport.sipp_mode().to_string(),
            "-i".to_string(),
            self.local.ip().to_string(),
            "-p".to_string(),
            self.local.port().to_string(),
            "-mi".to_string(),
            self.local.ip().to_string(),
            "-mp".to_string(),
            self.media_port.to_string(),
            "-m".to_string(),
            self.calls.to_string(),
            "-nostdin".to_string(),
            "-timeout".to_string(),
            format!("{timeout_secs}s"),
            "-timeout_error".to_string(),
            "-trace_msg".to_string(),
            "-message_file".to_string(),
            self.message_log().display().to_string(),
            "-trace_stat".to_string(),
            "-stf".to_string(),
            self.stats_csv().display().to_string(),
            "-fd".to_string(),
            "1".to_string(),
            "-trace_err".to_string(),
            "-error_file".to_string(),
            self.error_log().display().to_string(),
        ];
        argv.extend(fixed);
        argv.extend(self.extra.iter().cloned());
        argv
    }

    fn start(&self) -> Child {
        Command::new("sipp")
            .args(self.argv())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(
                std::fs::File::create(self.dir.join("stdout.log")).expect("create sipp stdout log"),
            )
            .stderr(
                std::fs::File::create(self.dir.join("stderr.log")).expect("create sipp stderr log"),
            )
            .spawn()
            .unwrap_or_else(|error| {
                panic!("start sipp ({error}); install it with scripts/setup.sh")
            })
    }

    /// Runs to the end of the scenario (or of sipp's own timeout).
    pub(crate) fn run(self) -> SippRun {
        let mut child = self.start();
        let status = child.wait().expect("wait for sipp");
        self.collect(status)
    }

    /// Starts in the background and returns once sipp listens on its port, so
    /// that a caller started next finds it there.
    pub(crate) fn spawn(self) -> RunningSipp {
        let mut child = self.start();
        let deadline = Instant::now() + BIND_TIMEOUT;
        while !is_bound(self.transport, self.local) {
            if let Ok(Some(status)) = child.try_wait() {
                let run = self.collect(status);
                panic!(
                    "sipp {} exited before listening on {}\n{}",
                    self.name,
                    self.local,
                    run.report()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let status = child.wait().expect("wait for sipp");
                let run = self.collect(status);
                panic!(
                    "sipp {} did not listen on {} within {BIND_TIMEOUT:?}\n{}",
                    self.name,
                    self.local,
                    run.report()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        RunningSipp {
            command: self,
            child: Some(child),
        }
    }

    fn collect(&self, status: ExitStatus) -> SippRun {
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        SippRun {
            name: self.name.clone(),
            command_line: format!("sipp {}", self.argv().join(" ")),
            status,
            stdout: read(self.dir.join("stdout.log")),
            stderr: read(self.dir.join("stderr.log")),
            errors: read(self.error_log()),
            stats: SippStats::parse(&read(self.stats_csv())).unwrap_or_default(),
            messages: parse_message_log(&read(self.message_log())),
        }
    }
}

/// A sipp in the background (an answerer).
pub(crate) struct RunningSipp {
    command: SippCommand,
    child: Option<Child>,
}

impl RunningSipp {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.command.local_addr()
    }

    /// Whether it is still running its scenario.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Waits for the end of its scenario (`-m` calls, or its timeout).
    pub(crate) fn wait(mut self) -> SippRun {
        let mut child = self.child.take().expect("running sipp");
        let status = child.wait().expect("wait for sipp");
        self.command.collect(status)
    }

    /// Ends it now, the way sipp ends cleanly (SIGUSR1: stop, write the
    /// statistics, exit), and returns what it saw.
    pub(crate) fn stop(mut self) -> SippRun {
        let mut child = self.child.take().expect("running sipp");
        if let Ok(None) = child.try_wait() {
            let signalled = Command::new("kill")
                .args(["-USR1", &child.id().to_string()])
                .status()
                .is_ok_and(|status| status.success());
            if !signalled {
                let _ = child.kill();
            }
        }
        let status = child.wait().expect("wait for sipp");
        self.command.collect(status)
    }
}

impl Drop for RunningSipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one sipp run did.
#[derive(Debug)]
pub(crate) struct SippRun {
    pub(crate) name: String,
    pub(crate) command_line: String,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) errors: String,
    pub(crate) stats: SippStats,
    pub(crate) messages: Vec<TracedMessage>,
}

impl SippRun {
    /// sipp exits 0 only when every call it handled succeeded.
    pub(crate) fn succeeded(&self) -> bool {
        self.status.code() == Some(0)
    }

    /// Fails the test unless sipp exited 0 with exactly `calls` successful
    /// calls and no failed one.
    pub(crate) fn assert_calls_succeeded(&self, calls: u64) {
        assert!(
            self.succeeded()
                && self.stats.successful_calls() == calls
                && self.stats.failed_calls() == 0,
            "sipp {} was to complete {calls} call(s)\n{}",
            self.name,
            self.report()
        );
    }

    pub(crate) fn received(&self) -> impl Iterator<Item = &TracedMessage> {
        self.messages
            .iter()
            .filter(|m| m.direction == Direction::Received)
    }

    pub(crate) fn sent(&self) -> impl Iterator<Item = &TracedMessage> {
        self.messages
            .iter()
            .filter(|m| m.direction == Direction::Sent)
    }

    pub(crate) fn lost(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| m.direction == Direction::Lost)
            .count()
    }

    /// Requests of `method` received.
    pub(crate) fn received_requests(&self, method: &str) -> usize {
        self.received()
            .filter(|m| m.method() == Some(method))
            .count()
    }

    /// Responses with `status` to a `cseq_method` request received.
    pub(crate) fn received_responses(&self, status: u16, cseq_method: &str) -> usize {
        self.received()
            .filter(|m| m.status() == Some(status) && m.cseq_method() == Some(cseq_method))
            .count()
    }

    /// Exit status, statistics, errors, the end of the screen and the message
    /// flow: what is needed to see why a run failed.
    pub(crate) fn report(&self) -> String {
        let mut report = String::new();
        let _ = writeln!(report, "--- sipp {} ({})", self.name, self.status);
        let _ = writeln!(report, "command: {}", self.command_line);
        let _ = writeln!(
            report,
            "calls: created {} successful {} failed {} retransmissions {}; failures {:?}",
            self.stats.created_calls(),
            self.stats.successful_calls(),
            self.stats.failed_calls(),
            self.stats.retransmissions(),
            self.stats.failures()
        );
        if !self.errors.trim().is_empty() {
            let _ = writeln!(report, "error log:\n{}", tail(&self.errors, 40));
        }
        if !self.stderr.trim().is_empty() {
            let _ = writeln!(report, "stderr:\n{}", tail(&self.stderr, 20));
        }
        let _ = writeln!(report, "screen:\n{}", tail(&squeeze(&self.stdout), 40));
        let _ = writeln!(report, "message flow:");
        for message in &self.messages {
            let arrow = match message.direction {
                Direction::Sent => "-->",
                Direction::Received => "<--",
                Direction::Lost => "-x-",
            };
            let _ = writeln!(report, "  {arrow} {}", message.start_line());
        }
        report
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// sipp repaints its screen: keep the text, drop blank lines.
fn squeeze(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
