//! baresip (Debian `baresip-core`) as a real user agent: one process per
//! phone, each with its own configuration directory, no sound card, driven
//! and watched through its `ctrl_tcp` interface (JSON commands and events).
//!
//! Audio: the `aufile` module plays a WAV as the microphone; when the file
//! ends, baresip hangs up (its audio source reports the end as an error),
//! which gives every call a length set by the caller's file. The `sndfile`
//! filter writes what baresip encoded and what it decoded to WAV files, so
//! that the audio each phone heard can be compared with what the other sent.
//!
//! baresip's SIP stack (libre) opens TCP connections without binding their
//! local address, so on loopback they all come from 127.0.0.1 whatever the
//! phone listens on: a phone that calls over TCP has to be 127.0.0.1 for the
//! gateway to recognise its source.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::ports::{free_port, free_udp_block};
use super::process::{can_run, wait_or_kill};
use super::sockets::{is_bound, Transport};

/// Where Debian installs baresip's modules.
const MODULE_PATH: &str = "/usr/lib/baresip/modules";
/// Upper bound for baresip to bind its sockets after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound for a command's response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for baresip to exit once told to.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// baresip's own bound (`-t`): it quits by itself after this long, so that
/// a test that lost track of it never leaves it running.
const LIFETIME_SECS: u64 = 180;
/// RTP/RTCP ports each phone may use.
const RTP_PORTS: u16 = 20;
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Fails the test with the fix when baresip is not installed.
pub(crate) fn require_baresip() {
    let installed = Path::new(MODULE_PATH).join("aufile.so").is_file() && can_run("baresip", "-h");
    assert!(
        installed,
        "baresip cannot be run; install it with scripts/setup.sh (Debian package baresip-core)"
    );
}

/// A G.711 codec, the only one each phone offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Pcma,
    Pcmu,
}

impl Codec {
    /// The encoding name, as in SDP and in baresip's log.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
        }
    }
}

/// One phone before it starts.
#[derive(Debug, Clone)]
pub(crate) struct PhoneSpec {
    /// Labels the phone in reports and names its directory.
    pub(crate) name: String,
    /// The user part of its address: the number it answers.
    pub(crate) user: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) transport: Transport,
    pub(crate) codec: Codec,
    /// The 8 kHz mono WAV it plays as its microphone.
    pub(crate) source: PathBuf,
}

/// A running baresip.
pub(crate) struct Phone {
    spec: PhoneSpec,
    dir: PathBuf,
    sip: SocketAddrV4,
    child: Option<Child>,
    control: TcpStream,
    messages: mpsc::Receiver<Value>,
    /// Events received while waiting for something else.
    pending: VecDeque<Value>,
    /// Every event so far, for reports.
    seen: Vec<String>,
    next_token: u32,
}

impl Phone {
    /// Writes the phone's configuration under `work_dir/baresip-NAME`,
    /// starts baresip and connects to its control port.
    pub(crate) fn start(spec: PhoneSpec, work_dir: &Path) -> Self {
        require_baresip();
        let dir = work_dir.join(format!("baresip-{}", spec.name));
        std::fs::create_dir_all(&dir).expect("create the baresip directory");
        let sip = SocketAddrV4::new(spec.ip, free_port(spec.ip));
        let control = SocketAddrV4::new(spec.ip, free_port(spec.ip));
        let rtp_first = free_udp_block(spec.ip, RTP_PORTS);
        write_config(&dir, &spec, sip, control, rtp_first);
        let log = std::fs::File::create(dir.join("baresip.log")).expect("create the baresip log");
        let mut child = Command::new("baresip")
            // IPv4 only, this directory, SIP trace on stdout, and a bound.
            .args(["-4", "-s", "-f"])
            .arg(&dir)
            .args(["-t", &LIFETIME_SECS.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("start baresip ({error}); install it with scripts/setup.sh")
            });
        let deadline = Instant::now() + READY_TIMEOUT;
        while !(is_bound(Transport::Tcp, control)
            && is_bound(Transport::Tcp, sip)
            && is_bound(Transport::Udp, sip))
        {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "baresip {} exited ({status}) before listening\n{}",
                    spec.name,
                    tail(&read_log(&dir), 40)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "baresip {} did not listen on {sip} and {control} within {READY_TIMEOUT:?}\n{}",
                    spec.name,
                    tail(&read_log(&dir), 40)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        let stream = TcpStream::connect(control).expect("connect to baresip's ctrl_tcp");
        let reader = stream
            .try_clone()
            .expect("a second handle on the control stream");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || read_netstrings(reader, &sender));
        Self {
            spec,
            dir,
            sip,
            child: Some(child),
            control: stream,
            messages,
            pending: VecDeque::new(),
            seen: Vec::new(),
            next_token: 0,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    /// Where it listens for SIP, over UDP and TCP alike.
    pub(crate) fn sip_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.sip)
    }

    /// The next-hop URI that reaches it over its transport.
    pub(crate) fn uri(&self) -> String {
        match self.spec.transport {
            Transport::Udp => format!("sip:{}", self.sip),
            Transport::Tcp => format!("sip:{};transport=tcp", self.sip),
        }
    }

    /// Calls `user` at `next_hop` over the phone's transport (its account's).
    pub(crate) fn dial(&mut self, user: &str, next_hop: SocketAddr) {
        // baresip adds the account's `transport` parameter itself.
        let target = format!("sip:{user}@{next_hop}");
        let response = self.command("dial", &target);
        assert_eq!(
            response["ok"], true,
            "baresip {} refused to dial: {response}",
            self.spec.name
        );
    }

    /// Runs one `ctrl_tcp` command and returns its response.
    fn command(&mut self, command: &str, params: &str) -> Value {
        self.next_token += 1;
        let token = self.next_token.to_string();
        let body = json!({"command": command, "params": params, "token": token}).to_string();
        let framed = format!("{}:{body},", body.len());
        self.control
            .write_all(framed.as_bytes())
            .unwrap_or_else(|error| panic!("send {command} to baresip: {error}"));
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        loop {
            let message = self.next_message(deadline).unwrap_or_else(|| {
                self.fail(&format!(
                    "no response to `{command}` within {RESPONSE_TIMEOUT:?}"
                ))
            });
            if message["response"] == true && message["token"] == token.as_str() {
                return message;
            }
            self.pending.push_back(message);
        }
    }

    fn next_message(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.checked_duration_since(Instant::now())?;
        let message = self.messages.recv_timeout(left).ok()?;
        if message["event"] == true {
            self.seen.push(describe_event(&message));
        }
        Some(message)
    }

    /// Waits up to `bound` for the call event `kind` (`CALL_ESTABLISHED`,
    /// `CALL_CLOSED`...). A call closing while another event is awaited fails
    /// the test at once, with why it closed and what baresip saw.
    pub(crate) fn await_event(&mut self, kind: &str, bound: Duration) -> Value {
        let deadline = Instant::now() + bound;
        loop {
            let message = match self.pending.pop_front() {
                Some(message) => message,
                None => self
                    .next_message(deadline)
                    .unwrap_or_else(|| self.fail(&format!("no {kind} event within {bound:?}"))),
            };
            if message["event"] != true {
                continue;
            }
            if message["type"] == kind {
                return message;
            }
            if message["type"] == "CALL_CLOSED" {
                self.fail(&format!(
                    "the call closed ({}) while waiting for {kind}",
                    message["param"]
                ));
            }
        }
    }

    /// Tells baresip to quit, waits for it to exit and returns what it
    /// wrote.
    pub(crate) fn finish(mut self) -> PhoneRun {
        let response = self.command("quit", "");
        assert_eq!(response["ok"], true, "quit: {response}");
        self.wait_exit();
        self.run()
    }

    fn wait_exit(&mut self) {
        if let Some(child) = self.child.take() {
            wait_or_kill(child, EXIT_TIMEOUT);
        }
    }

    /// Ends baresip the way a terminal does (SIGTERM: it hangs up and
    /// flushes its log), then the test, with the report.
    fn fail(&mut self, why: &str) -> ! {
        self.terminate();
        let run = self.run();
        panic!(
            "baresip {}: {why}\nevents: {:?}\n{}",
            self.spec.name,
            self.seen,
            run.report()
        );
    }

    /// SIGTERM, then SIGKILL if it is still there after [`EXIT_TIMEOUT`].
    fn terminate(&mut self) {
        if let Some(child) = &self.child {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: `kill` takes plain integers; the pid is our own
                // child, not yet reaped, so it cannot name another process.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        self.wait_exit();
    }

    fn run(&self) -> PhoneRun {
        PhoneRun {
            name: self.spec.name.clone(),
            log: read_log(&self.dir),
            dir: self.dir.clone(),
        }
    }
}

impl Drop for Phone {
    /// Terminated rather than killed, so that its log is complete when a
    /// failed test leaves it behind.
    fn drop(&mut self) {
        self.terminate();
    }
}

/// What a phone left once it exited: its log (with the SIP trace) and the
/// audio it encoded and decoded.
pub(crate) struct PhoneRun {
    pub(crate) name: String,
    pub(crate) log: String,
    dir: PathBuf,
}

impl PhoneRun {
    /// The SIP messages it sent and received, in order.
    pub(crate) fn sip(&self) -> Vec<TracedSip> {
        parse_trace(&self.log)
    }

    /// True when a `status` response to a `method` request is in the trace.
    pub(crate) fn saw_response(&self, status: u16, method: &str) -> bool {
        self.sip().iter().any(|message| {
            message.status() == Some(status) && message.cseq_method() == Some(method)
        })
    }

    /// The codec baresip chose to send with (`PCMA`...), from its log.
    pub(crate) fn encoder(&self) -> Option<&str> {
        self.log.lines().find_map(|line| {
            line.split("Set audio encoder: ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
        })
    }

    /// What it decoded from the network: the audio it heard.
    pub(crate) fn heard(&self) -> Vec<i16> {
        super::audio::read_wav_mono(&self.dump("dec"))
    }

    fn dump(&self, kind: &str) -> PathBuf {
        let suffix = format!("-{kind}.wav");
        std::fs::read_dir(&self.dir)
            .expect("the baresip directory")
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("dump-") && name.ends_with(&suffix))
            })
            .unwrap_or_else(|| {
                panic!(
                    "baresip {} wrote no {kind} audio (no call had media)\n{}",
                    self.name,
                    self.report()
                )
            })
    }

    /// The SIP flow and the end of the log: what is needed to see why a
    /// call failed.
    pub(crate) fn report(&self) -> String {
        let mut report = format!("--- baresip {}: SIP flow\n", self.name);
        for message in self.sip() {
            // A response without Via cannot be matched to its request
            // (RFC 3261 §17.1.3): baresip drops it.
            let note = if message.status().is_some() && message.via_count() == 0 {
                " [no Via: dropped]"
            } else {
                ""
            };
            let _ = writeln!(
                report,
                "  {} {} -> {}: {}{note}",
                message.transport,
                message.from,
                message.to,
                message.start_line()
            );
        }
        let plain: Vec<&str> = self
            .log
            .lines()
            .filter(|line| !line.contains("bit/s"))
            .collect();
        let _ = writeln!(
            report,
            "--- log (last lines)\n{}",
            plain[plain.len().saturating_sub(30)..].join("\n")
        );
        report
    }
}

/// One SIP message of baresip's trace (`-s`).
#[derive(Debug, Clone)]
pub(crate) struct TracedSip {
    /// `UDP` or `TCP`.
    pub(crate) transport: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) text: String,
}

impl TracedSip {
    pub(crate) fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    pub(crate) fn status(&self) -> Option<u16> {
        self.start_line()
            .strip_prefix("SIP/2.0 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
    }

    /// The method of a request.
    pub(crate) fn method(&self) -> Option<&str> {
        let line = self.start_line();
        (!line.starts_with("SIP/2.0")).then(|| line.split(' ').next().unwrap_or(""))
    }

    /// Via values, in one header line or several (`v` is its compact
    /// form).
    pub(crate) fn via_count(&self) -> usize {
        self.headers("Via", "v")
            .map(|value| value.split(',').count())
            .sum()
    }

    fn headers<'a>(&'a self, name: &'a str, compact: &'a str) -> impl Iterator<Item = &'a str> {
        self.text
            .lines()
            .skip(1)
            .take_while(|line| !line.is_empty())
            .filter_map(move |line| {
                let (header, value) = line.split_once(':')?;
                let header = header.trim();
                (header.eq_ignore_ascii_case(name) || header.eq_ignore_ascii_case(compact))
                    .then_some(value)
            })
    }

    pub(crate) fn cseq_method(&self) -> Option<&str> {
        self.headers("CSeq", "CSeq")
            .next()
            .and_then(|value| value.split_whitespace().nth(1))
    }
}

/// The trace is blocks of `ESC[36;1m#`, `TRANSPORT SRC -> DST`, the message,
/// `ESC[;m`.
fn parse_trace(log: &str) -> Vec<TracedSip> {
    log.split("\x1b[36;1m#\n")
        .skip(1)
        .filter_map(|block| {
            let block = block.split("\x1b[;m").next()?;
            let (header, text) = block.split_once('\n')?;
            let mut fields = header.split_whitespace();
            let transport = fields.next()?.to_string();
            let from = fields.next()?.to_string();
            let _arrow = fields.next()?;
            let to = fields.next()?.to_string();
            Some(TracedSip {
                transport,
                from,
                to,
                text: text.replace("\r\n", "\n"),
            })
        })
        .collect()
}

fn write_config(dir: &Path, spec: &PhoneSpec, sip: SocketAddrV4, control: SocketAddrV4, rtp: u16) {
    let config = format!(
        "# Written by the test harness: one phone, no sound card.
poll_method\t\tepoll
sip_listen\t\t{sip}
net_interface\t\t{ip}
rtp_ports\t\t{rtp_first}-{rtp_last}
audio_source\t\taufile,{source}
audio_player\t\tnone,none
audio_alert\t\tnone,none
call_max_calls\t\t1
module_path\t\t{MODULE_PATH}
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\tsndfile.so
module\t\t\tctrl_tcp.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
snd_path\t\t{dir}
ctrl_tcp_listen\t\t{control}
",
        ip = spec.ip,
        rtp_first = rtp,
        rtp_last = rtp + RTP_PORTS - 1,
        source = spec.source.display(),
        dir = dir.display(),
    );
    std::fs::write(dir.join("config"), config).expect("write baresip's config");
    // No registration (regint=0): the gateway routes by source address.
    let account = format!(
        "<sip:{user}@{sip};transport={transport}>;regint=0;answermode=auto;audio_codecs={codec}\n",
        user = spec.user,
        transport = spec.transport.name(),
        codec = spec.codec.name(),
    );
    std::fs::write(dir.join("accounts"), account).expect("write baresip's accounts");
}

fn read_log(dir: &Path) -> String {
    super::process::read_log(&dir.join("baresip.log"))
}

/// Reads `LENGTH:JSON,` frames until the stream closes.
fn read_netstrings(stream: TcpStream, sender: &mpsc::Sender<Value>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        loop {
            let mut byte = [0u8; 1];
            if reader.read_exact(&mut byte).is_err() {
                return;
            }
            match byte[0] {
                b':' => break,
                digit @ b'0'..=b'9' => length = length * 10 + usize::from(digit - b'0'),
                _ => return,
            }
        }
        let mut body = vec![0u8; length + 1];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        body.pop();
        let Ok(message) = serde_json::from_slice::<Value>(&body) else {
            continue;
        };
        if sender.send(message).is_err() {
            return;
        }
    }
}

fn describe_event(event: &Value) -> String {
    format!(
        "{} {}",
        event["type"].as_str().unwrap_or("?"),
        event["param"].as_str().unwrap_or("")
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
