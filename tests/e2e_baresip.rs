//! Real user agents through the real binary: baresip as the tenant's PBX and
//! as its carrier, calling out (PBX → carrier) and in (carrier → the tenant's
//! number), with PCMA and PCMU, over UDP, over TCP and with one leg on each.
//! Each phone plays its own test signal; the audio each one decoded, and
//! both channels of the stored recording, must correlate with what the
//! other end sent (G.711 is lossy, so a correlation threshold, not sample
//! equality, and the delay is found by cross-correlation). baresip and sipp
//! call each other through the gateway too, linphone (another SIP stack and
//! media engine) answers baresip's calls, and baresip calls baresip and sipp
//! without the gateway, so that a broken harness is told apart from a
//! gateway fault.
//!
//! libre opens TCP connections from 127.0.0.1 whatever address baresip
//! listens on (see `support::baresip`), so the caller is always 127.0.0.1
//! and the answerer 127.0.0.2, and the tenant's PBX and carrier take those
//! roles by the call's direction.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use support::audio::{align, noise, write_wav, Alignment, RATE};
use support::baresip::{Codec, Phone, PhoneRun, PhoneSpec};
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::linphone::Linphone;
use support::ports::free_port;
use support::recorded::{caller_scenario, capture_audio, fetch, wait_listed, TENANT};
use support::sipp::{peerbench_scenario, SippCommand};
use support::sockets::Transport;

/// The calling phone: libre's TCP connections come from here.
const CALLER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const ANSWERER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The tenant's own number: calls to it come in from the carrier.
const TENANT_NUMBER: &str = "+33123456789";
/// A number the tenant's PBX dials out to.
const DIALLED_NUMBER: &str = "+33198765432";

/// The phone that hangs up plays this long (baresip ends a call when its
/// audio file ends).
const SHORT_SECONDS: f64 = 3.0;
/// The other phone's signal outlasts the call.
const LONG_SECONDS: f64 = 12.0;
/// The part of each signal that is compared: after the first half second
/// (the first packets may precede the answer) and well before the end.
const COMPARED_FROM: f64 = 0.5;
const COMPARED_TO: f64 = 2.5;
/// G.711 keeps a signal's shape (about 38 dB SNR): a copy correlates above
/// 0.99, unrelated audio near 0. The margin allows for a lost packet.
const MIN_CORRELATION: f64 = 0.9;

/// Upper bound for a call to be answered.
const ANSWER_BOUND: Duration = Duration::from_secs(20);
/// Upper bound for the call to end once answered.
const HANGUP_BOUND: Duration = Duration::from_secs(20);
/// Upper bound for the recording to be stored after the call.
const STORED_BOUND: Duration = Duration::from_secs(20);
/// sipp's calls last this long (the capture lasts 7.05 s).
const SIPP_CALL_MS: &str = "5000";

/// Which phone ends the call (sends the BYE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HangsUp {
    Caller,
    Answerer,
}

/// Who calls whom through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The tenant's PBX calls a number out through its carrier.
    Outbound,
    /// The carrier delivers a call to the tenant's number, at its PBX.
    Inbound,
}

impl Direction {
    /// The number the caller dials, which the answerer answers.
    fn number(self) -> &'static str {
        match self {
            Direction::Outbound => DIALLED_NUMBER,
            Direction::Inbound => TENANT_NUMBER,
        }
    }

    /// As `recordings list` writes it.
    fn listed(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }

    fn roles(self) -> (&'static str, &'static str) {
        match self {
            Direction::Outbound => ("pbx", "carrier"),
            Direction::Inbound => ("carrier", "pbx"),
        }
    }
}

/// The phones' configurations, logs, SIP traces and audio; kept when the
/// test fails, so that it can be looked into.
struct RunDir(tempfile::TempDir);

impl RunDir {
    fn new() -> Self {
        Self(
            tempfile::Builder::new()
                .prefix("greffier-baresip-")
                .tempdir()
                .expect("a directory for the phones"),
        )
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!("--- phones' files kept in {}", self.0.path().display());
        }
    }
}

/// The signal a phone plays, written beside its configuration.
fn signal(dir: &Path, name: &str, seed: u64, seconds: f64) -> (std::path::PathBuf, Vec<i16>) {
    let samples = noise(seed, seconds);
    let path = dir.join(format!("{name}.wav"));
    write_wav(&path, &samples);
    (path, samples)
}

/// The compared part of a signal.
fn compared(samples: &[i16]) -> &[i16] {
    let second = |at: f64| (at * RATE as f64) as usize;
    &samples[second(COMPARED_FROM)..second(COMPARED_TO)]
}

/// Fails unless `received` holds `sent` (its compared part), and returns the
/// alignment for the report.
fn assert_holds(received: &[i16], sent: &[i16], what: &str) -> Alignment {
    let alignment = align(compared(sent), received).unwrap_or_else(|| {
        panic!(
            "{what}: {} samples received, too short to hold the signal",
            received.len()
        )
    });
    eprintln!(
        "{what}: correlation {:.4} at {:.3} s",
        alignment.correlation,
        alignment.offset as f64 / RATE as f64
    );
    assert!(
        alignment.correlation >= MIN_CORRELATION,
        "{what}: best correlation {:.3} (at sample {}), below {MIN_CORRELATION}",
        alignment.correlation,
        alignment.offset
    );
    alignment
}

/// As [`assert_holds`], piece by piece: linphone's adaptive jitter buffer
/// stretches and shrinks what it plays (and so records) by a few samples at
/// a time, so one delay does not fit two seconds of it. Each half-second
/// piece is aligned on its own; most must correlate.
fn assert_holds_in_pieces(received: &[i16], sent: &[i16], what: &str) {
    let piece = RATE / 2;
    let mut correlations: Vec<f64> = compared(sent)
        .chunks_exact(piece)
        .map(|part| align(part, received).map_or(0.0, |alignment| alignment.correlation))
        .collect();
    correlations.sort_by(f64::total_cmp);
    let median = correlations[correlations.len() / 2];
    eprintln!("{what}: correlations of half-second pieces {correlations:.4?}");
    assert!(
        median >= MIN_CORRELATION,
        "{what}: median correlation {median:.3} of the pieces {correlations:.3?}, below {MIN_CORRELATION}"
    );
}

/// Two phones set up for one call, with their signals.
struct Pair {
    caller: Phone,
    answerer: Phone,
    caller_sent: Vec<i16>,
    answerer_sent: Vec<i16>,
}

impl Pair {
    fn start(
        dir: &Path,
        roles: (&str, &str),
        transports: (Transport, Transport),
        codec: Codec,
        number: &str,
        hangs_up: HangsUp,
    ) -> Self {
        std::fs::create_dir_all(dir).expect("create the run directory");
        let (caller_seconds, answerer_seconds) = match hangs_up {
            HangsUp::Caller => (SHORT_SECONDS, LONG_SECONDS),
            HangsUp::Answerer => (LONG_SECONDS, SHORT_SECONDS),
        };
        let (caller_source, caller_sent) = signal(dir, roles.0, 1, caller_seconds);
        let (answerer_source, answerer_sent) = signal(dir, roles.1, 2, answerer_seconds);
        let answerer = Phone::start(
            PhoneSpec {
                name: roles.1.to_string(),
                user: number.to_string(),
                ip: ANSWERER_IP,
                transport: transports.1,
                codec,
                source: answerer_source,
            },
            dir,
        );
        let caller = Phone::start(
            PhoneSpec {
                name: roles.0.to_string(),
                user: "caller".to_string(),
                ip: CALLER_IP,
                transport: transports.0,
                codec,
                source: caller_source,
            },
            dir,
        );
        Self {
            caller,
            answerer,
            caller_sent,
            answerer_sent,
        }
    }

    /// The caller dials `number` at `next_hop`; both ends see the call
    /// answered, then closed when the shorter signal ends.
    fn call(mut self, number: &str, next_hop: SocketAddr) -> Heard {
        self.caller.dial(number, next_hop);
        self.caller.await_event("CALL_ESTABLISHED", ANSWER_BOUND);
        self.answerer.await_event("CALL_ESTABLISHED", ANSWER_BOUND);
        self.caller.await_event("CALL_CLOSED", HANGUP_BOUND);
        self.answerer.await_event("CALL_CLOSED", HANGUP_BOUND);
        Heard {
            caller: self.caller.finish(),
            answerer: self.answerer.finish(),
            caller_sent: self.caller_sent,
            answerer_sent: self.answerer_sent,
        }
    }
}

/// Both phones once the call is over.
struct Heard {
    caller: PhoneRun,
    answerer: PhoneRun,
    caller_sent: Vec<i16>,
    answerer_sent: Vec<i16>,
}

impl Heard {
    /// Each phone sent with `codec` and decoded what the other sent.
    fn assert_media_both_ways(&self, codec: Codec) {
        for run in [&self.caller, &self.answerer] {
            assert_eq!(
                run.encoder(),
                Some(codec.name()),
                "baresip {} sent with another codec\n{}",
                run.name,
                run.report()
            );
        }
        assert_holds(
            &self.answerer.heard(),
            &self.caller_sent,
            "what the answerer heard of the caller",
        );
        assert_holds(
            &self.caller.heard(),
            &self.answerer_sent,
            "what the caller heard of the answerer",
        );
    }

    /// The phone that hung up got the final answer to its BYE.
    fn assert_bye_answered(&self, hangs_up: HangsUp) {
        let run = match hangs_up {
            HangsUp::Caller => &self.caller,
            HangsUp::Answerer => &self.answerer,
        };
        assert!(
            run.saw_response(200, "BYE"),
            "baresip {} hung up and got no 200 to its BYE\n{}",
            run.name,
            run.report()
        );
    }

    /// The answerer received the INVITE over `transport`.
    fn assert_answerer_reached_over(&self, transport: Transport) {
        let wanted = transport.name().to_ascii_uppercase();
        let invite = self
            .answerer
            .sip()
            .into_iter()
            .find(|message| message.method() == Some("INVITE"))
            .unwrap_or_else(|| {
                panic!("no INVITE reached the answerer\n{}", self.answerer.report())
            });
        assert_eq!(
            invite.transport,
            wanted,
            "the INVITE reached the answerer over {}\n{}",
            invite.transport,
            self.answerer.report()
        );
    }
}

/// Where a peer sends from and the next-hop URI that reaches it.
type Peer = (SocketAddr, String);

/// A gateway for the tenant whose side that calls is `caller` and whose
/// side that answers is `answerer`; every call is recorded.
fn gateway_for(direction: Direction, caller: Peer, answerer: Peer) -> Gateway {
    let (pbx, carrier) = match direction {
        Direction::Outbound => (caller, answerer),
        Direction::Inbound => (answerer, caller),
    };
    let mut tenant = TenantSpec::new(TENANT, TENANT_NUMBER, pbx.0, carrier.0);
    tenant.pbx_uri = pbx.1;
    tenant.carrier_uri = carrier.1;
    tenant.recording_policy = "all".to_string();
    Gateway::start(GatewayConfig::write(vec![tenant]))
}

fn peer(phone: &Phone) -> Peer {
    (phone.sip_addr(), phone.uri())
}

/// The stored recording of the tenant's only call, its listing checked:
/// left = caller, right = callee.
fn recording(gateway: &Gateway, direction: Direction) -> support::recorded::Stereo {
    let config = gateway.config.path().to_path_buf();
    let entry = wait_listed(&config, STORED_BOUND);
    assert_eq!(entry["incomplete"], false, "{entry}");
    assert_eq!(entry["direction"], direction.listed(), "{entry}");
    let id = entry["id"].as_str().expect("an id");
    fetch(&config, id, &gateway.config.run_dir().join("call.wav"))
}

/// baresip calls baresip through the gateway, and everything each sent is
/// heard at the other end and recorded on its own channel.
fn through_gateway(direction: Direction, transports: (Transport, Transport), codec: Codec) {
    call_through_gateway(direction, transports, codec, HangsUp::Caller);
}

fn call_through_gateway(
    direction: Direction,
    transports: (Transport, Transport),
    codec: Codec,
    hangs_up: HangsUp,
) {
    support::baresip::require_baresip();
    let run_dir = RunDir::new();
    let pair = Pair::start(
        run_dir.path(),
        direction.roles(),
        transports,
        codec,
        direction.number(),
        hangs_up,
    );
    let gateway = gateway_for(direction, peer(&pair.caller), peer(&pair.answerer));
    let heard = pair.call(direction.number(), gateway.sip_addr());
    heard.assert_bye_answered(hangs_up);
    heard.assert_answerer_reached_over(transports.1);
    heard.assert_media_both_ways(codec);
    let recorded = recording(&gateway, direction);
    assert_holds(
        &recorded.left,
        &heard.caller_sent,
        "the recording's caller channel",
    );
    assert_holds(
        &recorded.right,
        &heard.answerer_sent,
        "the recording's callee channel",
    );
}

/// baresip calls baresip without the gateway: the harness alone.
fn directly(transport: Transport, codec: Codec) {
    support::baresip::require_baresip();
    let run_dir = RunDir::new();
    let pair = Pair::start(
        run_dir.path(),
        ("caller", "answerer"),
        (transport, transport),
        codec,
        DIALLED_NUMBER,
        HangsUp::Caller,
    );
    let answerer = pair.answerer.sip_addr();
    let heard = pair.call(DIALLED_NUMBER, answerer);
    heard.assert_bye_answered(HangsUp::Caller);
    heard.assert_answerer_reached_over(transport);
    heard.assert_media_both_ways(codec);
}

/// The two ends' signals are told apart: the threshold that accepts a
/// G.711 copy refuses the other end's audio.
#[test]
fn the_two_signals_do_not_correlate() {
    let caller = noise(1, SHORT_SECONDS);
    let answerer = noise(2, LONG_SECONDS);
    let alignment = align(compared(&caller), &answerer).expect("long enough");
    eprintln!(
        "unrelated signals: correlation {:.4}",
        alignment.correlation
    );
    assert!(
        alignment.correlation < 0.2,
        "unrelated signals correlate at {:.3}",
        alignment.correlation
    );
    let itself = align(compared(&caller), &caller).expect("long enough");
    assert_eq!(itself.offset, (COMPARED_FROM * RATE as f64) as usize);
    assert!(itself.correlation > 0.999_9);
}

mod without_gateway {
    use super::*;

    #[test]
    fn udp_pcma() {
        directly(Transport::Udp, Codec::Pcma);
    }

    #[test]
    fn tcp_pcmu() {
        directly(Transport::Tcp, Codec::Pcmu);
    }

    #[test]
    fn baresip_calls_sipp_over_udp() {
        baresip_calls_sipp(Transport::Udp, false);
    }

    #[test]
    fn baresip_calls_sipp_over_tcp() {
        baresip_calls_sipp(Transport::Tcp, false);
    }
}

mod pbx_calls_out {
    use super::*;

    #[test]
    fn udp_pcma() {
        through_gateway(
            Direction::Outbound,
            (Transport::Udp, Transport::Udp),
            Codec::Pcma,
        );
    }

    #[test]
    fn udp_pcmu() {
        through_gateway(
            Direction::Outbound,
            (Transport::Udp, Transport::Udp),
            Codec::Pcmu,
        );
    }

    #[test]
    fn tcp_pcma() {
        through_gateway(
            Direction::Outbound,
            (Transport::Tcp, Transport::Tcp),
            Codec::Pcma,
        );
    }

    #[test]
    fn tcp_pcmu() {
        through_gateway(
            Direction::Outbound,
            (Transport::Tcp, Transport::Tcp),
            Codec::Pcmu,
        );
    }

    /// The carrier ends the call: its BYE follows the route set back.
    #[test]
    fn udp_carrier_hangs_up() {
        call_through_gateway(
            Direction::Outbound,
            (Transport::Udp, Transport::Udp),
            Codec::Pcma,
            HangsUp::Answerer,
        );
    }

    /// The usual trunk: the PBX on TCP, the carrier on UDP.
    #[test]
    fn pbx_on_tcp_carrier_on_udp() {
        through_gateway(
            Direction::Outbound,
            (Transport::Tcp, Transport::Udp),
            Codec::Pcma,
        );
    }

    #[test]
    fn pbx_on_udp_carrier_on_tcp() {
        through_gateway(
            Direction::Outbound,
            (Transport::Udp, Transport::Tcp),
            Codec::Pcmu,
        );
    }
}

mod carrier_calls_in {
    use super::*;

    #[test]
    fn udp_pcma() {
        through_gateway(
            Direction::Inbound,
            (Transport::Udp, Transport::Udp),
            Codec::Pcma,
        );
    }

    #[test]
    fn udp_pcmu() {
        through_gateway(
            Direction::Inbound,
            (Transport::Udp, Transport::Udp),
            Codec::Pcmu,
        );
    }

    #[test]
    fn tcp_pcma() {
        through_gateway(
            Direction::Inbound,
            (Transport::Tcp, Transport::Tcp),
            Codec::Pcma,
        );
    }

    #[test]
    fn tcp_pcmu() {
        through_gateway(
            Direction::Inbound,
            (Transport::Tcp, Transport::Tcp),
            Codec::Pcmu,
        );
    }

    /// The PBX ends the call.
    #[test]
    fn udp_pbx_hangs_up() {
        call_through_gateway(
            Direction::Inbound,
            (Transport::Udp, Transport::Udp),
            Codec::Pcmu,
            HangsUp::Answerer,
        );
    }

    /// The usual trunk: the carrier on UDP, the PBX on TCP.
    #[test]
    fn carrier_on_udp_pbx_on_tcp() {
        through_gateway(
            Direction::Inbound,
            (Transport::Udp, Transport::Tcp),
            Codec::Pcmu,
        );
    }

    #[test]
    fn carrier_on_tcp_pbx_on_udp() {
        through_gateway(
            Direction::Inbound,
            (Transport::Tcp, Transport::Udp),
            Codec::Pcma,
        );
    }
}

/// baresip as the PBX calls out to a sipp carrier that answers with PCMA and
/// echoes every packet: baresip hears its own signal back, and both channels
/// of the recording hold it. Without the gateway, baresip calls sipp
/// directly (the harness alone).
fn baresip_calls_sipp(transport: Transport, via_gateway: bool) {
    support::baresip::require_baresip();
    support::sipp::require_sipp();
    let run_dir = RunDir::new();
    let dir = run_dir.path();
    let (source, sent) = signal(dir, "pbx", 1, SHORT_SECONDS);
    let mut pbx = Phone::start(
        PhoneSpec {
            name: "pbx".to_string(),
            user: "caller".to_string(),
            ip: CALLER_IP,
            transport,
            codec: Codec::Pcma,
            source,
        },
        dir,
    );
    let carrier_port = free_port(ANSWERER_IP);
    let carrier = SocketAddr::from((ANSWERER_IP, carrier_port));
    let gateway = via_gateway.then(|| {
        let mut tenant = TenantSpec::new(TENANT, TENANT_NUMBER, pbx.sip_addr(), carrier);
        tenant.pbx_uri = pbx.uri();
        if transport == Transport::Tcp {
            tenant.carrier_uri = format!("sip:{carrier};transport=tcp");
        }
        tenant.recording_policy = "all".to_string();
        Gateway::start(GatewayConfig::write(vec![tenant]))
    });
    let answerer = SippCommand::new(
        "carrier",
        &peerbench_scenario("uas.xml"),
        dir,
        transport,
        ANSWERER_IP,
    )
    .local_port(carrier_port)
    .args(["-rtp_echo"])
    .spawn();

    let next_hop = gateway.as_ref().map_or(carrier, Gateway::sip_addr);
    pbx.dial(DIALLED_NUMBER, next_hop);
    pbx.await_event("CALL_ESTABLISHED", ANSWER_BOUND);
    pbx.await_event("CALL_CLOSED", HANGUP_BOUND);
    // sipp's answerer lingers after the BYE (timewait), and counts a TCP
    // connection closed meanwhile as a failure: baresip quits after it.
    answerer.wait().assert_calls_succeeded(1);
    let pbx = pbx.finish();

    assert_eq!(pbx.encoder(), Some("PCMA"), "{}", pbx.report());
    assert_holds(&pbx.heard(), &sent, "what baresip heard of sipp's echo");
    if let Some(gateway) = &gateway {
        let recorded = recording(gateway, Direction::Outbound);
        assert_holds(&recorded.left, &sent, "the recording's caller channel");
        assert_holds(
            &recorded.right,
            &sent,
            "the recording's callee channel (the echo)",
        );
    }
}

/// A sipp carrier plays a real PCMA capture to the tenant's number; baresip
/// answers as the PBX and plays its own signal.
fn sipp_calls_baresip(transport: Transport) {
    support::baresip::require_baresip();
    support::sipp::require_sipp();
    let run_dir = RunDir::new();
    let dir = run_dir.path();
    let (source, sent) = signal(dir, "pbx", 2, LONG_SECONDS);
    let mut pbx = Phone::start(
        PhoneSpec {
            name: "pbx".to_string(),
            user: TENANT_NUMBER.to_string(),
            ip: ANSWERER_IP,
            transport,
            codec: Codec::Pcma,
            source,
        },
        dir,
    );
    let carrier = SocketAddr::from((CALLER_IP, free_port(CALLER_IP)));
    let mut tenant = TenantSpec::new(TENANT, TENANT_NUMBER, pbx.sip_addr(), carrier);
    tenant.pbx_uri = pbx.uri();
    tenant.recording_policy = "all".to_string();
    let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
    let caller = SippCommand::new("carrier", &caller_scenario(dir), dir, transport, CALLER_IP)
        .local_port(carrier.port())
        .remote(gateway.sip_addr())
        .service(TENANT_NUMBER)
        .args(["-d", SIPP_CALL_MS])
        .timeout(Duration::from_secs(60))
        .spawn();

    pbx.await_event("CALL_ESTABLISHED", ANSWER_BOUND);
    pbx.await_event("CALL_CLOSED", HANGUP_BOUND);
    let pbx = pbx.finish();
    caller.wait().assert_calls_succeeded(1);

    assert_eq!(pbx.encoder(), Some("PCMA"), "{}", pbx.report());
    let capture = capture_audio();
    assert_holds(&pbx.heard(), &capture, "what baresip heard of the capture");
    let recorded = recording(&gateway, Direction::Inbound);
    assert_holds(&recorded.left, &capture, "the recording's caller channel");
    assert_holds(&recorded.right, &sent, "the recording's callee channel");
}

mod with_sipp {
    use super::*;

    #[test]
    fn baresip_calls_sipp_over_udp() {
        baresip_calls_sipp(Transport::Udp, true);
    }

    #[test]
    fn baresip_calls_sipp_over_tcp() {
        baresip_calls_sipp(Transport::Tcp, true);
    }

    #[test]
    fn sipp_calls_baresip_over_udp() {
        sipp_calls_baresip(Transport::Udp);
    }

    #[test]
    fn sipp_calls_baresip_over_tcp() {
        sipp_calls_baresip(Transport::Tcp);
    }
}

/// baresip calls through the gateway and linphone answers: another SIP
/// stack (belle-sip) and media engine (mediastreamer) at the far end.
fn baresip_calls_linphone(direction: Direction, transport: Transport) {
    support::baresip::require_baresip();
    support::linphone::require_linphone();
    let run_dir = RunDir::new();
    let dir = run_dir.path();
    let roles = direction.roles();
    let (caller_source, caller_sent) = signal(dir, roles.0, 1, SHORT_SECONDS);
    let (answerer_source, answerer_sent) = signal(dir, roles.1, 2, LONG_SECONDS);
    let linphone = Linphone::answerer(roles.1, ANSWERER_IP, &answerer_source, dir);
    let mut caller = Phone::start(
        PhoneSpec {
            name: roles.0.to_string(),
            user: "caller".to_string(),
            ip: CALLER_IP,
            transport,
            codec: Codec::Pcmu,
            source: caller_source,
        },
        dir,
    );
    let gateway = gateway_for(
        direction,
        peer(&caller),
        (linphone.sip_addr(), linphone.uri(transport)),
    );

    caller.dial(direction.number(), gateway.sip_addr());
    caller.await_event("CALL_ESTABLISHED", ANSWER_BOUND);
    caller.await_event("CALL_CLOSED", HANGUP_BOUND);
    let caller = caller.finish();
    let (linphone_log, linphone_heard) = linphone.finish();

    assert!(
        caller.saw_response(200, "BYE"),
        "baresip's BYE got no 200\n{}",
        caller.report()
    );
    assert!(
        linphone_log.contains("connected"),
        "linphone never had the call connected:\n{linphone_log}"
    );
    assert_eq!(caller.encoder(), Some("PCMU"), "{}", caller.report());
    assert_holds_in_pieces(
        &linphone_heard,
        &caller_sent,
        "what linphone heard of baresip",
    );
    assert_holds(
        &caller.heard(),
        &answerer_sent,
        "what baresip heard of linphone",
    );
    let recorded = recording(&gateway, direction);
    assert_holds(
        &recorded.left,
        &caller_sent,
        "the recording's caller channel",
    );
    assert_holds(
        &recorded.right,
        &answerer_sent,
        "the recording's callee channel",
    );
}

mod with_linphone {
    use super::*;

    #[test]
    fn pbx_calls_out_over_udp() {
        baresip_calls_linphone(Direction::Outbound, Transport::Udp);
    }

    #[test]
    fn carrier_calls_in_over_udp() {
        baresip_calls_linphone(Direction::Inbound, Transport::Udp);
    }

    #[test]
    fn pbx_calls_out_over_tcp() {
        baresip_calls_linphone(Direction::Outbound, Transport::Tcp);
    }
}
