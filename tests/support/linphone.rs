//! linphone's console phone (Debian `linphone-cli`, `linphonec`) as a second
//! real user agent, answering calls: its own configuration file and home
//! directory, auto-answer, a WAV file as microphone and another to record
//! what it hears. It is driven through its standard input; the calling side
//! (baresip) gives the events to wait for.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::ports::{free_port, free_udp_block};
use super::process::{can_run, read_log, wait_or_kill};
use super::sockets::{is_bound, Transport};

/// Upper bound for linphonec to bind its SIP sockets.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for linphonec to exit once told to.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
const RTP_PORTS: u16 = 20;
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Fails the test with the fix when linphonec is not installed.
pub(crate) fn require_linphone() {
    assert!(
        can_run("linphonec", "-v"),
        "linphonec cannot be run; install it with scripts/setup.sh (Debian package linphone-cli)"
    );
}

/// A running linphonec that answers every call.
pub(crate) struct Linphone {
    name: String,
    dir: PathBuf,
    sip: SocketAddrV4,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl Linphone {
    /// Starts an answering phone on `ip` that plays `source` (8 kHz mono
    /// WAV) into every call and records what it hears.
    pub(crate) fn answerer(name: &str, ip: Ipv4Addr, source: &Path, work_dir: &Path) -> Self {
        require_linphone();
        let dir = work_dir.join(format!("linphone-{name}"));
        // Its database goes under $HOME, which must exist.
        std::fs::create_dir_all(dir.join(".local/share/linphone"))
            .expect("create the linphone directory");
        let sip = SocketAddrV4::new(ip, free_port(ip));
        let rtp_first = free_udp_block(ip, RTP_PORTS);
        let config = dir.join("linphonerc");
        std::fs::write(
            &config,
            format!(
                "[sip]
bind_address={ip}
sip_port={port}
sip_tcp_port={port}
sip_tls_port=-1
default_proxy=-1
[rtp]
audio_rtp_port={rtp_first}-{rtp_last}
[sound]
echocancellation=0
[video]
capture=0
display=0
",
                port = sip.port(),
                rtp_last = rtp_first + RTP_PORTS - 1,
            ),
        )
        .expect("write linphonerc");
        let log = std::fs::File::create(dir.join("linphonec.log")).expect("create the log");
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&config)
            // Auto-answer; level 0: only its console lines.
            .args(["-a", "-d", "0"])
            .env("HOME", &dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("share the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("start linphonec ({error}); install it with scripts/setup.sh")
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let mut phone = Self {
            name: name.to_string(),
            dir,
            sip,
            child: Some(child),
            stdin: Some(stdin),
        };
        phone.await_listening();
        let recording = phone.recording();
        phone.send("soundcard use files");
        phone.send(&format!("play {}", source.display()));
        phone.send(&format!("record {}", recording.display()));
        phone
    }

    fn await_listening(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !(is_bound(Transport::Udp, self.sip) && is_bound(Transport::Tcp, self.sip)) {
            let child = self.child.as_mut().expect("a running linphonec");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "linphonec {} exited ({status}) before listening\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "linphonec {} did not listen on {} within {READY_TIMEOUT:?}\n{}",
                self.name,
                self.sip,
                self.log()
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("linphonec's input");
        writeln!(stdin, "{line}")
            .unwrap_or_else(|error| panic!("tell linphonec `{line}`: {error}"));
    }

    pub(crate) fn sip_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.sip)
    }

    /// The next-hop URI that reaches it over `transport`.
    pub(crate) fn uri(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("sip:{}", self.sip),
            Transport::Tcp => format!("sip:{};transport=tcp", self.sip),
        }
    }

    fn recording(&self) -> PathBuf {
        self.dir.join("heard.wav")
    }

    fn log(&self) -> String {
        read_log(&self.dir.join("linphonec.log"))
    }

    /// Tells it to quit and waits for it to exit (killed past
    /// [`EXIT_TIMEOUT`]); returns its console log and what it heard.
    pub(crate) fn finish(mut self) -> (String, Vec<i16>) {
        self.send("quit");
        self.wait_exit();
        let log = self.log();
        let recording = self.recording();
        assert!(
            recording.is_file(),
            "linphonec {} recorded nothing\n{log}",
            self.name
        );
        (log, read_streamed_wav(&recording))
    }

    fn wait_exit(&mut self) {
        drop(self.stdin.take());
        if let Some(child) = self.child.take() {
            wait_or_kill(child, EXIT_TIMEOUT);
        }
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// linphone's recording keeps the sizes it wrote when the file was opened
/// (a stream), so the samples are everything after the `data` chunk header;
/// the `fmt` chunk must say 8 kHz mono 16-bit.
fn read_streamed_wav(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let find = |tag: &[u8]| bytes.windows(4).position(|window| window == tag);
    let fmt = find(b"fmt ").unwrap_or_else(|| panic!("{}: no fmt chunk", path.display()));
    let field = |at: usize, len: usize| {
        bytes
            .get(fmt + 8 + at..fmt + 8 + at + len)
            .unwrap_or_else(|| panic!("{}: fmt chunk cut short", path.display()))
    };
    let channels = u16::from_le_bytes(field(2, 2).try_into().expect("two bytes"));
    let rate = u32::from_le_bytes(field(4, 4).try_into().expect("four bytes"));
    let bits = u16::from_le_bytes(field(14, 2).try_into().expect("two bytes"));
    assert_eq!(
        (channels, rate, bits),
        (1, 8000, 16),
        "{}: not 8 kHz mono 16-bit",
        path.display()
    );
    let data = find(b"data").unwrap_or_else(|| panic!("{}: no data chunk", path.display()));
    bytes[data + 8..]
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}
