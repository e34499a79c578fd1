//! Anchoring fails closed: for a tenant that records its calls, an SDP the gateway
//! cannot rewrite is never forwarded as it came (media would flow around the
//! gateway, unrecorded). Each test is an attack that worked against the gateway
//! before: the tenant's PBX (sipp, at 127.0.0.5) sends an SDP the old rewrite let
//! through, and the carrier (sipp, at 127.0.0.6) reports what it received.
//!
//! Caller scenarios are `tests/scenarios/uac_call.xml` and `uac_expect_403.xml`
//! with the body (and the expected status) replaced, written into the test's run
//! directory.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use greffier::config::Config;
use greffier_vault::TenantId;
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::ports::free_port;
use support::recorded::{files_under, wait_listed, TENANT};
use support::sipp::{scenario, SippCommand, SippRun};
use support::sipp_trace::TracedMessage;
use support::sockets::Transport;

/// The PBX's own address, so that its media address in an SDP cannot be mistaken
/// for the gateway's (127.0.0.1).
const PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);
const GATEWAY_MEDIA: &str = "127.0.0.1";
const DIALLED: &str = "+33198765432";
/// How long a recording or call record may take to be stored after the call.
const STORED_BOUND: Duration = Duration::from_secs(20);
/// How long the gateway may take to list a call it is carrying.
const LISTED_BOUND: Duration = Duration::from_secs(10);

/// A pseudo ISUP IAM part as SIP-I carriers send it (RFC 3204), kept printable so
/// that sipp can send it; its exact bytes must reach the carrier.
const ISUP_PART: &str = "Content-Type: application/ISUP;version=itu-t92+;base=itu-t92+\n\
Content-Disposition: signal;handling=optional\n\
\n\
IAM 01 00 49 00 00 03 02 00 07 04 10 00 33 63 21 43 00 0a";

struct Edge {
    gateway: Gateway,
    pbx: SocketAddr,
    carrier: SocketAddr,
    run_dir: PathBuf,
}

impl Edge {
    /// A gateway for one tenant that records every call.
    fn start(on_anchor_failure: Option<&str>, media_ports: Option<u16>) -> Edge {
        support::sipp::require_sipp();
        let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
        let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
        let mut tenant = TenantSpec::new(TENANT, "+33123456789", pbx, carrier);
        tenant.recording_policy = "all".to_string();
        tenant.on_anchor_failure = on_anchor_failure.map(str::to_string);
        let mut config = GatewayConfig::write(vec![tenant]);
        if let Some(count) = media_ports {
            config.limit_media_ports(count);
        }
        let run_dir = config.run_dir();
        std::fs::create_dir_all(&run_dir).unwrap();
        Edge {
            gateway: Gateway::start(config),
            pbx,
            carrier,
            run_dir,
        }
    }

    fn caller(&self, name: &str, scenario: &Path) -> SippCommand {
        SippCommand::new(name, scenario, &self.run_dir, Transport::Udp, PBX_IP)
            .remote(self.gateway.sip_addr())
            .service(DIALLED)
    }

    fn answerer(&self, calls: u32) -> support::sipp::RunningSipp {
        SippCommand::new(
            "carrier",
            &scenario("uas_answer.xml"),
            &self.run_dir,
            Transport::Udp,
            CARRIER_IP,
        )
        .local_port(self.carrier.port())
        .calls(calls)
        .spawn()
    }

    /// `uac_call.xml` with `content_type` and `body` in its INVITE.
    fn call_scenario(&self, name: &str, content_type: &str, body: &str) -> PathBuf {
        let template = std::fs::read_to_string(scenario("uac_call.xml")).unwrap();
        self.write_scenario(name, &with_body(&template, content_type, body))
    }

    /// `uac_expect_403.xml` with `body` in its INVITE, expecting `status`.
    fn refused_scenario(&self, name: &str, body: &str, status: u16) -> PathBuf {
        let template = std::fs::read_to_string(scenario("uac_expect_403.xml")).unwrap();
        let expecting = template.replace(
            r#"<recv response="403"/>"#,
            &format!(r#"<recv response="{status}"/>"#),
        );
        assert_ne!(expecting, template, "the template expects a 403");
        self.write_scenario(name, &with_body(&expecting, "application/sdp", body))
    }

    fn write_scenario(&self, name: &str, text: &str) -> PathBuf {
        let path = self.run_dir.join(format!("{name}.xml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// One call from the PBX with this body, answered by the carrier; returns what
    /// the carrier and the PBX saw.
    fn call(&self, name: &str, content_type: &str, body: &str) -> (SippRun, SippRun) {
        let carrier = self.answerer(1);
        let pbx = self
            .caller("pbx", &self.call_scenario(name, content_type, body))
            .local_port(self.pbx.port())
            .run();
        let carrier = if pbx.succeeded() {
            carrier.wait()
        } else {
            carrier.stop()
        };
        assert!(
            pbx.succeeded() && carrier.succeeded(),
            "the call did not complete\n{}\n{}",
            pbx.report(),
            carrier.report()
        );
        (carrier, pbx)
    }

    fn config_path(&self) -> PathBuf {
        self.gateway.config.path().to_path_buf()
    }
}

/// The template's INVITE with its Content-Type and its SDP (from `v=0` to the end
/// of the message) replaced.
fn with_body(template: &str, content_type: &str, body: &str) -> String {
    let template = template.replacen(
        "Content-Type: application/sdp",
        &format!("Content-Type: {content_type}"),
        1,
    );
    let start = template.find("      v=0").expect("an SDP in the template");
    let end = template[start..]
        .find("    ]]>")
        .expect("the message's end")
        + start;
    let indented: String = body.lines().map(|line| format!("      {line}\n")).collect();
    format!("{}{}{}", &template[..start], indented, &template[end..])
}

/// The body of a traced message.
fn body_of(message: &TracedMessage) -> &str {
    message
        .text
        .split_once("\r\n\r\n")
        .or_else(|| message.text.split_once("\n\n"))
        .map_or("", |(_, body)| body)
}

fn first_request<'a>(run: &'a SippRun, method: &str) -> &'a TracedMessage {
    run.received()
        .find(|message| message.method() == Some(method))
        .unwrap_or_else(|| panic!("{} received no {method}\n{}", run.name, run.report()))
}

/// The SDP the carrier received names only the gateway's media address, on a port
/// of the gateway's media range, and nothing of the PBX's.
fn assert_anchored(edge: &Edge, body: &str) {
    let first = edge.gateway.config.media_first_port;
    let last = first + edge.gateway.config.media_port_count;
    let mut audio = 0;
    for line in body.lines().map(str::trim) {
        if let Some(connection) = line.strip_prefix("c=") {
            assert_eq!(
                connection,
                format!("IN IP4 {GATEWAY_MEDIA}"),
                "a connection that is not the gateway's:\n{body}"
            );
        }
        let media = line.to_ascii_lowercase();
        if let Some(rest) = media.strip_prefix("m=audio ") {
            let port: u16 = rest.split(' ').next().unwrap().parse().unwrap();
            assert!(
                (first..last).contains(&port),
                "audio port {port} is not the gateway's:\n{body}"
            );
            audio += 1;
        }
    }
    assert_eq!(audio, 1, "one anchored audio stream:\n{body}");
    assert!(
        !body.contains(&PBX_IP.to_string()),
        "the PBX's media address reached the carrier:\n{body}"
    );
}

/// The call was recorded: the tenant's recording is listed.
fn assert_recorded(edge: &Edge) {
    let entry = wait_listed(&edge.config_path(), STORED_BOUND);
    assert!(entry["id"].is_string(), "{entry}");
}

fn sdp(media_line: &str, extra: &str) -> String {
    format!(
        "v=0\n\
         o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]\n\
         s=-\n\
         c=IN IP[media_ip_type] [media_ip]\n\
         t=0 0\n\
         {media_line}\n\
         a=rtpmap:8 PCMA/8000\n\
         {extra}a=ptime:20"
    )
}

#[test]
fn the_sdp_part_of_a_multipart_mixed_invite_is_anchored_and_its_isup_part_kept() {
    let edge = Edge::start(None, None);
    let body = format!(
        "--unique-boundary-1\n\
         Content-Type: application/sdp\n\
         \n\
         {}\n\
         --unique-boundary-1\n\
         {ISUP_PART}\n\
         --unique-boundary-1--",
        sdp("m=audio [media_port] RTP/AVP 8", "")
    );
    let (carrier, _) = edge.call(
        "uac_multipart",
        "multipart/mixed;boundary=unique-boundary-1",
        &body,
    );
    let invite = first_request(&carrier, "INVITE");
    assert_eq!(
        invite.header("Content-Type"),
        Some("multipart/mixed;boundary=unique-boundary-1")
    );
    let forwarded = body_of(invite);
    let sdp_part = forwarded
        .split("--unique-boundary-1")
        .nth(1)
        .expect("an SDP part");
    assert_anchored(&edge, sdp_part);
    // The trace gives lines without their CR; the unit tests check the bytes.
    let forwarded_lines = forwarded.replace("\r\n", "\n");
    assert!(
        forwarded_lines.contains(&format!(
            "\n--unique-boundary-1\n{ISUP_PART}\n--unique-boundary-1--"
        )),
        "the ISUP part travels byte for byte:\n{forwarded}"
    );
    assert_recorded(&edge);
}

#[test]
fn an_upper_case_media_type_is_anchored() {
    let edge = Edge::start(None, None);
    let (carrier, _) = edge.call(
        "uac_upper_case",
        "application/sdp",
        // sipp fills in `[media_port]` only after a lower-case `m=audio`.
        &sdp("m=AUDIO 40000 RTP/AVP 8", ""),
    );
    assert_anchored(&edge, body_of(first_request(&carrier, "INVITE")));
    assert_recorded(&edge);
}

#[test]
fn an_unreadable_rtcp_attribute_is_skipped_and_the_sdp_anchored() {
    let edge = Edge::start(None, None);
    let (carrier, _) = edge.call(
        "uac_bad_rtcp",
        "application/sdp",
        &sdp("m=audio [media_port] RTP/AVP 8", "a=rtcp:abc\n"),
    );
    let forwarded = body_of(first_request(&carrier, "INVITE"));
    assert_anchored(&edge, forwarded);
    assert!(!forwarded.contains("rtcp:abc"), "{forwarded}");
    assert_recorded(&edge);
}

/// Media-level `c=` only, with a second section that has no connection at all
/// (RFC 8866 §5.7 broken): the gateway once refused to read the whole SDP and
/// forwarded it as it came.
#[test]
fn a_media_level_connection_without_a_session_one_is_anchored() {
    let edge = Edge::start(None, None);
    let body = "v=0\n\
                o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]\n\
                s=-\n\
                t=0 0\n\
                m=audio [media_port] RTP/AVP 8\n\
                c=IN IP[media_ip_type] [media_ip]\n\
                a=rtpmap:8 PCMA/8000\n\
                a=ptime:20\n\
                m=image 40002 udptl t38";
    let (carrier, _) = edge.call("uac_media_connection", "application/sdp", body);
    let forwarded = body_of(first_request(&carrier, "INVITE"));
    assert_anchored(&edge, forwarded);
    assert!(forwarded.contains("m=image 0 udptl t38"), "{forwarded}");
    assert_recorded(&edge);
}

#[test]
fn an_unusable_sdp_is_refused_with_488_and_not_forwarded() {
    let edge = Edge::start(None, None);
    let carrier = edge.answerer(1);
    let body = sdp("m=audio [media_port] RTP/SAVP 8", "");
    let pbx = edge
        .caller("pbx", &edge.refused_scenario("uac_expect_488", &body, 488))
        .local_port(edge.pbx.port())
        .run();
    let carrier = carrier.stop();
    assert!(pbx.succeeded(), "no 488\n{}", pbx.report());
    assert_eq!(
        carrier.received().count(),
        0,
        "the carrier got something\n{}",
        carrier.report()
    );
    let metrics = edge.gateway.metrics();
    assert_eq!(
        metrics.count(
            "greffier_anchor_failures_total",
            &[("reason", "unusable_sdp"), ("outcome", "rejected")]
        ),
        1.0
    );
}

/// A call that holds for eight seconds, then a second call while it does:
/// the second gets 503 with a `Retry-After` and is never forwarded.
fn one_call_held_and_the_next_refused_with_503(edge: &Edge) {
    let carrier = edge.answerer(1);
    let held = edge.call_scenario(
        "uac_held_call",
        "application/sdp",
        &sdp("m=audio [media_port] RTP/AVP 8", ""),
    );
    let held = std::fs::read_to_string(&held).unwrap().replace(
        r#"<pause milliseconds="200"/>"#,
        r#"<pause milliseconds="8000"/>"#,
    );
    let held = edge.write_scenario("uac_held_call", &held);
    let first = edge
        .caller("first", &held)
        .local_port(edge.pbx.port())
        .spawn();
    wait_for_one_call(&edge.gateway);

    let second = edge
        .caller(
            "second",
            &edge.refused_scenario(
                "uac_expect_503",
                &sdp("m=audio [media_port] RTP/AVP 8", ""),
                503,
            ),
        )
        .run();
    assert!(second.succeeded(), "no 503\n{}", second.report());
    let refusal = second
        .received()
        .find(|message| message.status() == Some(503))
        .expect("a 503");
    let retry_after: u32 = refusal
        .header("Retry-After")
        .expect("a Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0);

    let first = first.wait();
    let carrier = carrier.wait();
    assert!(first.succeeded(), "{}", first.report());
    assert_eq!(
        carrier.received_requests("INVITE"),
        1,
        "the refused call was forwarded\n{}",
        carrier.report()
    );
}

#[test]
fn with_the_port_pool_exhausted_the_next_call_gets_503_with_retry_after() {
    // Two pairs: exactly one call's worth (a pair on each side).
    let edge = Edge::start(None, Some(4));
    one_call_held_and_the_next_refused_with_503(&edge);
    assert_eq!(
        edge.gateway.metrics().count(
            "greffier_anchor_failures_total",
            &[("reason", "no_media_ports"), ("outcome", "rejected")]
        ),
        1.0
    );
}

/// A limit far below what 30 000 media ports need: the node says so with
/// the numbers, keeps the calls that fit (here one) and refuses the next
/// cleanly, before any port or file is opened, rather than answer a call
/// it could not record.
#[test]
fn under_a_low_descriptor_limit_calls_beyond_what_fits_get_503() {
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let mut tenant = TenantSpec::new(TENANT, "+33123456789", pbx, carrier);
    tenant.recording_policy = "all".to_string();
    let config = GatewayConfig::write(vec![tenant]);
    let run_dir = config.run_dir();
    std::fs::create_dir_all(&run_dir).unwrap();
    let edge = Edge {
        gateway: Gateway::start_with_descriptor_limit(config, 300),
        pbx,
        carrier,
        run_dir,
    };
    let warning = edge.gateway.wait_for_log(
        &["only 1 concurrent calls and 64 TCP connections are kept"],
        Duration::from_secs(10),
    );
    assert!(warning.contains("the limit is 300"), "{warning}");
    assert_eq!(
        edge.gateway
            .metrics()
            .count("greffier_media_calls_capacity", &[]),
        1.0
    );
    one_call_held_and_the_next_refused_with_503(&edge);
}

#[test]
fn pass_unrecorded_lets_the_call_through_and_its_call_record_says_unrecorded() {
    let edge = Edge::start(Some("pass_unrecorded"), None);
    let body = sdp("m=audio [media_port] RTP/SAVP 8", "");
    let (carrier, _) = edge.call("uac_pass", "application/sdp", &body);
    let forwarded = body_of(first_request(&carrier, "INVITE"));
    assert!(
        forwarded.contains(&format!("c=IN IP4 {PBX_IP}")),
        "forwarded unanchored, as the tenant chose:\n{forwarded}"
    );
    let record = wait_call_record(&edge);
    assert_eq!(record["recorded"], false, "{record}");
    assert_eq!(record["unrecorded_reason"], "unusable_sdp", "{record}");
    assert_eq!(
        edge.gateway.metrics().count(
            "greffier_anchor_failures_total",
            &[("reason", "unusable_sdp"), ("outcome", "passed_unrecorded")]
        ),
        1.0
    );
}

/// Waits until the admin API lists one call in progress.
fn wait_for_one_call(gateway: &Gateway) {
    let deadline = Instant::now() + LISTED_BOUND;
    loop {
        let listed = gateway.get("/calls");
        let calls: serde_json::Value = serde_json::from_str(&listed.body).unwrap_or_default();
        if calls.as_array().is_some_and(|calls| calls.len() == 1) {
            return;
        }
        assert!(Instant::now() < deadline, "no call listed: {}", listed.body);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tenant's one call record, decrypted with the node's keyring.
fn wait_call_record(edge: &Edge) -> serde_json::Value {
    let config = Config::load(&edge.config_path()).expect("the test configuration loads");
    let tenant_dir = edge
        .gateway
        .config
        .data_dir()
        .join("store/tenants")
        .join(TENANT)
        .join("cdr");
    let deadline = Instant::now() + STORED_BOUND;
    let file = loop {
        if let Some(file) = files_under(&tenant_dir).into_iter().next() {
            break file;
        }
        assert!(Instant::now() < deadline, "no call record stored");
        std::thread::sleep(Duration::from_millis(100));
    };
    let keyring = greffier::vault_setup::open_existing_keyring(&config.keys).expect("the keyring");
    let object = std::fs::read(&file).unwrap();
    let json = greffier_vault::decrypt_all(keyring, TenantId::new(TENANT).unwrap(), &object)
        .expect("the call record decrypts");
    serde_json::from_slice(&json).expect("a JSON call record")
}

/// `check-config` tells the operator the same numbers before a start.
#[test]
fn check_config_reports_what_the_descriptor_limit_would_keep() {
    use std::os::unix::process::CommandExt;
    let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
    let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
    let config = GatewayConfig::write(vec![TenantSpec::new(TENANT, "+33123456789", pbx, carrier)]);
    let check = |nofile: Option<u64>| {
        let mut command = std::process::Command::new(support::gateway::binary());
        command
            .args(["check-config", "--config"])
            .arg(config.path());
        // SAFETY: only setrlimit runs between fork and exec.
        if let Some(nofile) = nofile {
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: nofile,
                        rlim_max: nofile,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let output = command.output().unwrap();
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    };
    let short = check(Some(300));
    assert!(
        short.contains("warning: the configuration needs"),
        "{short}"
    );
    assert!(short.contains("the limit is 300"), "{short}");
    assert!(short.contains("only 1 concurrent calls"), "{short}");
    // The test configuration's few media ports fit this process's limit.
    let ample = check(None);
    assert!(
        ample.contains("descriptors: the configuration needs"),
        "{ample}"
    );
    assert!(!ample.contains("warning"), "{ample}");
}
