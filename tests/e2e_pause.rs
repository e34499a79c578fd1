//! Pause and resume of a recording end to end: sipp plays a real G.711 A-law
//! capture through the real binary while the recording is paused and resumed,
//! by an INFO from the tenant's PBX or through the admin API; an INFO from the
//! carrier pauses nothing. The recording is read back through `greffier
//! recordings get`, its manifest through the vault; the admin API's orders
//! through `greffier audit export`.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use greffier::config::Config;
use greffier::vault_setup;
use greffier_vault::catalog::Manifest;
use greffier_vault::store::RecordId;
use support::config::{GatewayConfig, TenantSpec};
use support::gateway::Gateway;
use support::http;
use support::ports::free_port;
use support::recorded::{self, Stereo, TENANT};
use support::sipp::{scenario, SippCommand};
use support::sockets::Transport;

const PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const TENANT_NUMBER: &str = "+33123456789";
const DIALLED_NUMBER: &str = "+33198765432";
/// How long the stored recording may take to appear after the call ends.
const STORED_BOUND: Duration = Duration::from_secs(20);
/// How long a call may take to show up on the admin API once sipp dials.
const LISTED_BOUND: Duration = Duration::from_secs(10);
/// RTP copies the recorder takes (both legs) before the admin test pauses, and
/// again before it resumes: about a second of the call each.
const COPIES_PER_STEP: f64 = 60.0;
/// Samples per millisecond at the recording's rate.
const SAMPLES_PER_MS: usize = recorded::SAMPLE_RATE / 1000;

/// One gateway with one tenant that records every call, and its peers' ports.
struct Setup {
    gateway: Gateway,
    pbx: SocketAddr,
    carrier: SocketAddr,
}

impl Setup {
    fn start() -> Self {
        support::sipp::require_sipp();
        let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
        let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
        let mut tenant = TenantSpec::new(TENANT, TENANT_NUMBER, pbx, carrier);
        tenant.recording_policy = "all".to_string();
        let gateway = Gateway::start(GatewayConfig::write(vec![tenant]));
        std::fs::create_dir_all(gateway.config.run_dir()).expect("the run directory");
        Setup {
            gateway,
            pbx,
            carrier,
        }
    }

    fn run_dir(&self) -> std::path::PathBuf {
        self.gateway.config.run_dir()
    }

    /// The caller scenario that pauses and resumes by INFO, with the capture in it.
    fn info_caller_scenario(&self) -> std::path::PathBuf {
        let path = self.run_dir().join("uac_media_pause_info.xml");
        let template = std::fs::read_to_string(scenario("uac_media_pause_info.xml"))
            .expect("the caller scenario");
        std::fs::write(
            &path,
            template.replace("@PCAP@", &recorded::capture().display().to_string()),
        )
        .expect("write the caller scenario");
        path
    }

    fn sipp(&self, name: &str, scenario: &Path, ip: Ipv4Addr, port: u16) -> SippCommand {
        SippCommand::new(name, scenario, &self.run_dir(), Transport::Udp, ip).local_port(port)
    }

    /// The carrier answering the PBX's call and echoing its audio.
    fn echoing_carrier(&self) -> SippCommand {
        let answerer = support::sipp::peerbench_scenario("uas.xml");
        self.sipp("carrier", &answerer, CARRIER_IP, self.carrier.port())
            .args(["-rtp_echo"])
    }

    /// The tenant's PBX calling out through the gateway.
    fn pbx_caller(&self, scenario: &Path) -> SippCommand {
        self.sipp("pbx", scenario, PBX_IP, self.pbx.port())
            .remote(self.gateway.sip_addr())
            .service(DIALLED_NUMBER)
    }

    /// An answerer that echoes the caller's audio and answers two INFOs.
    fn echoing_answerer(&self, name: &str, ip: Ipv4Addr, port: u16) -> SippCommand {
        self.sipp(name, &scenario("uas_answer_info.xml"), ip, port)
            .args(["-rtp_echo"])
    }

    /// The call's recording and its manifest, once stored.
    fn stored(&self) -> (Stereo, Manifest) {
        let config = self.gateway.config.path().to_path_buf();
        let entry = recorded::wait_listed(&config, STORED_BOUND);
        assert_eq!(entry["incomplete"], false);
        let id = entry["id"].as_str().expect("an id").to_string();
        let audio = recorded::fetch(&config, &id, &self.run_dir().join("call.wav"));
        (audio, read_manifest(&config, &id))
    }
}

fn read_manifest(config: &Path, id: &str) -> Manifest {
    let config = Config::load(config).unwrap_or_else(|problems| panic!("{problems}"));
    let id: RecordId = id.parse().expect("a record id");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let vault = vault_setup::open(&config).await.expect("open the vault");
            let tenant = vault_setup::tenant_id(TENANT).expect("the tenant id");
            vault
                .store
                .read_manifest(vault.keys().as_ref(), &tenant, &id)
                .await
                .expect("the manifest")
        })
}

/// Where the caller's first packet is in the channel: A-law never decodes to 0.
fn first_sound(channel: &[i16]) -> usize {
    channel
        .iter()
        .position(|sample| *sample != 0)
        .expect("audio in the channel")
}

/// The caller's channel holds the capture before `from_ms` and after `to_ms`,
/// and silence in between (to the sample the pause's milliseconds round to).
fn assert_paused_between(channel: &[i16], from_ms: u64, to_ms: u64) {
    let capture = recorded::capture_audio();
    let start = first_sound(channel);
    let from = usize::try_from(from_ms).unwrap() * SAMPLES_PER_MS;
    let to = usize::try_from(to_ms).unwrap() * SAMPLES_PER_MS;
    assert!(
        start < from && from < to && to < start + capture.len(),
        "the pause ({from_ms}..{to_ms} ms) lies inside the capture (from sample {start} on)"
    );
    assert!(
        channel[start..from] == capture[..from - start],
        "the audio before the pause is the capture's"
    );
    // The pause starts and ends within the millisecond its bounds are rounded down to.
    let silent = &channel[from + SAMPLES_PER_MS..to];
    assert!(
        silent.iter().all(|sample| *sample == 0),
        "the paused span is silence ({} of {} samples are not)",
        silent.iter().filter(|sample| **sample != 0).count(),
        silent.len()
    );
    let after = to + SAMPLES_PER_MS;
    let end = (start + capture.len()).min(channel.len());
    assert!(end > after, "the capture goes on after the pause");
    assert!(
        channel[after..end] == capture[after - start..end - start],
        "the audio after the pause is the capture's"
    );
}

#[test]
fn an_info_from_the_pbx_pauses_and_resumes_the_recording() {
    let setup = Setup::start();
    let carrier = setup.echoing_carrier().spawn();
    let caller = setup
        .pbx_caller(&setup.info_caller_scenario())
        .timeout(Duration::from_secs(40))
        .run();
    caller.assert_calls_succeeded(1);
    assert_eq!(
        caller.received_responses(200, "INFO"),
        2,
        "the gateway answers both INFOs"
    );
    let carrier = carrier.stop();
    assert_eq!(
        carrier.received_requests("INFO"),
        0,
        "the INFOs stop at the gateway"
    );
    let metrics = setup.gateway.metrics();
    for order in ["pause", "resume"] {
        assert_eq!(
            metrics.count(
                "greffier_recording_control_total",
                &[("order", order), ("source", "sip")]
            ),
            1.0,
            "{order} obeyed once"
        );
    }

    let (audio, manifest) = setup.stored();
    assert_eq!(manifest.pauses.len(), 1, "one pause: {:?}", manifest.pauses);
    let pause = &manifest.pauses[0];
    assert_paused_between(&audio.left, pause.from_ms, pause.to_ms);
}

#[test]
fn an_info_from_the_carrier_pauses_nothing() {
    let setup = Setup::start();
    let pbx = setup
        .echoing_answerer("pbx", PBX_IP, setup.pbx.port())
        .spawn();
    let carrier = setup
        .sipp(
            "carrier",
            &setup.info_caller_scenario(),
            CARRIER_IP,
            setup.carrier.port(),
        )
        .remote(setup.gateway.sip_addr())
        .service(TENANT_NUMBER)
        .timeout(Duration::from_secs(40))
        .run();
    carrier.assert_calls_succeeded(1);
    let pbx = pbx.wait();
    assert_eq!(
        pbx.received_requests("INFO"),
        2,
        "the carrier's INFOs go on to the PBX"
    );
    assert!(
        pbx.received()
            .all(|message| !message.text.contains("X-Greffier-Recording")),
        "the order header does not travel past the gateway"
    );
    let metrics = setup.gateway.metrics();
    assert_eq!(
        metrics.count("greffier_recording_control_refused_total", &[]),
        2.0
    );
    assert_eq!(metrics.count("greffier_recording_control_total", &[]), 0.0);

    let (audio, manifest) = setup.stored();
    assert!(manifest.pauses.is_empty(), "{:?}", manifest.pauses);
    let capture = recorded::capture_audio();
    let start = first_sound(&audio.left);
    assert!(
        audio.left.len() >= start + capture.len()
            && audio.left[start..start + capture.len()] == capture[..],
        "the caller channel holds the whole capture"
    );
}

/// Polls `GET /calls` until a call is listed, and returns the listing.
fn wait_for_call(gateway: &Gateway) -> serde_json::Value {
    let deadline = Instant::now() + LISTED_BOUND;
    loop {
        let response = gateway.get("/calls");
        assert_eq!(response.status, 200, "GET /calls: {}", response.body);
        let calls: serde_json::Value =
            serde_json::from_str(&response.body).expect("a JSON listing");
        if calls.as_array().is_some_and(|calls| !calls.is_empty()) {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "no call listed within {LISTED_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post(gateway: &Gateway, path: &str) -> http::HttpResponse {
    http::post(gateway.admin, path).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn the_admin_api_lists_the_call_and_pauses_its_recording() {
    let mut setup = Setup::start();
    let carrier = setup.echoing_carrier().spawn();
    let caller = setup
        .pbx_caller(&recorded::caller_scenario(&setup.run_dir()))
        // The capture lasts 7.05 s; the call outlives it.
        .args(["-d", "8000"])
        .timeout(Duration::from_secs(40))
        .spawn();

    let gateway = &setup.gateway;
    let calls = wait_for_call(gateway);
    let listing = calls.to_string();
    assert!(
        !listing.contains(&DIALLED_NUMBER[1..]) && !listing.contains("127.0.0."),
        "no numbers or addresses in {listing}"
    );
    let call = &calls[0];
    assert_eq!(call["tenant"], TENANT);
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["recorded"], true);
    assert_eq!(call["paused"], false);
    assert!(call["start"].is_string());
    let id = call["id"].as_u64().expect("a numeric id");

    assert_eq!(post(gateway, "/calls/999999/recording/pause").status, 404);
    // Some of the capture before the pause and in it, so there is audio on both
    // sides of the silence.
    let taken = wait_for_copies(gateway, COPIES_PER_STEP);
    let paused = post(gateway, &format!("/calls/{id}/recording/pause"));
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(wait_for_call(gateway)[0]["paused"], true);
    wait_for_copies(gateway, taken + COPIES_PER_STEP);
    let resumed = post(gateway, &format!("/calls/{id}/recording/resume"));
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(wait_for_call(gateway)[0]["paused"], false);

    caller.wait().assert_calls_succeeded(1);
    carrier.stop();
    let metrics = gateway.metrics();
    assert_eq!(
        metrics.count(
            "greffier_recording_control_total",
            &[("order", "pause"), ("source", "admin")]
        ),
        1.0
    );
    assert_eq!(wait_until_no_call(gateway), 0);

    let (audio, manifest) = setup.stored();
    assert_eq!(manifest.pauses.len(), 1, "one pause: {:?}", manifest.pauses);
    let pause = &manifest.pauses[0];
    assert_paused_between(&audio.left, pause.from_ms, pause.to_ms);

    // Both orders are in the tenant's audit trail, naming the recording.
    let record = format!("record:{}", manifest.call.record_id);
    setup.gateway.stop(STORED_BOUND);
    let config = setup.gateway.config.path().to_path_buf();
    let orders: Vec<serde_json::Value> =
        recorded::cli_ok(&config, &["audit", "export", "--tenant", TENANT])
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
            .filter(|entry| entry["action"] == "paused" || entry["action"] == "resumed")
            .collect();
    let summary: Vec<_> = orders
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default(),
                entry["actor"].as_str().unwrap_or_default(),
                entry["role"].as_str().unwrap_or_default(),
                entry["origin"].as_str().unwrap_or_default(),
                entry["outcome"].as_str().unwrap_or_default(),
                entry["objects"].clone(),
            )
        })
        .collect();
    let named = serde_json::json!([record]);
    assert_eq!(
        summary,
        [
            (
                "paused",
                "admin-endpoint",
                "operator",
                "api",
                "ok",
                named.clone()
            ),
            ("resumed", "admin-endpoint", "operator", "api", "ok", named),
        ]
    );
    let verified = recorded::cli_ok(&config, &["audit", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}

/// Waits until the recorder has taken `at_least` RTP copies in all (the count of
/// its lag histogram), and returns how many it has.
fn wait_for_copies(gateway: &Gateway, at_least: f64) -> f64 {
    let deadline = Instant::now() + LISTED_BOUND;
    loop {
        let taken = gateway
            .metrics()
            .count("greffier_recorder_lag_seconds_count", &[]);
        if taken >= at_least {
            return taken;
        }
        assert!(
            Instant::now() < deadline,
            "the recorder took {taken} copies, not {at_least}, within {LISTED_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `GET /calls` until the ended call has left it.
fn wait_until_no_call(gateway: &Gateway) -> usize {
    let deadline = Instant::now() + LISTED_BOUND;
    loop {
        let calls: serde_json::Value =
            serde_json::from_str(&gateway.get("/calls").body).expect("a JSON listing");
        let count = calls.as_array().map_or(usize::MAX, Vec::len);
        if count == 0 || Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `greffier` run to completion on the gateway's configuration; its stdout.
fn greffier_cli(gateway: &Gateway, args: &[&str], env: &[(&str, &str)]) -> String {
    let config = gateway.config.path().display().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_greffier"))
        .args(args)
        .args(["--config", &config])
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run greffier");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A bearer request to the `/v1/` API.
fn v1(gateway: &Gateway, method: &str, path: &str, token: &str) -> http::HttpResponse {
    http::request(
        gateway.admin,
        method,
        path,
        &[format!("Authorization: Bearer {token}")],
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn the_v1_api_pauses_by_call_id_and_shows_a_user_only_its_calls() {
    let setup = Setup::start();
    let gateway = &setup.gateway;
    let admin = greffier_cli(
        gateway,
        &[
            "token", "create", "--tenant", TENANT, "--role", "admin", "--name", "desk",
        ],
        &[],
    );
    const PASSWORD: &str = "the passphrase of a user";
    for (username, number) in [("callee", DIALLED_NUMBER), ("stranger", "+33100000099")] {
        greffier_cli(
            gateway,
            &[
                "user",
                "add",
                "--tenant",
                TENANT,
                "--role",
                "user",
                "--username",
                username,
                "--number",
                number,
                "--password-env",
                "PW",
            ],
            &[("PW", PASSWORD)],
        );
    }
    let carrier = setup.echoing_carrier().spawn();
    let caller = setup
        .pbx_caller(&recorded::caller_scenario(&setup.run_dir()))
        .args(["-d", "8000"])
        .timeout(Duration::from_secs(40))
        .spawn();
    let legacy = wait_for_call(gateway);
    let calls_path = format!("/v1/tenants/{TENANT}/calls");
    let listed: serde_json::Value =
        serde_json::from_str(&v1(gateway, "GET", &calls_path, &admin).body).expect("JSON");
    let call_id = listed[0]["call_id"]
        .as_str()
        .expect("a call id")
        .to_string();
    assert!(uuid::Uuid::parse_str(&call_id).is_ok(), "{call_id}");
    assert_ne!(call_id, legacy[0]["id"].to_string());

    // Each user logs in; only the callee's session lists the call.
    for (username, expected) in [("callee", 1), ("stranger", 0)] {
        let login = std::process::Command::new("curl")
            .args([
                "-sS",
                "-i",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
            ])
            .arg(serde_json::json!({"username": username, "password": PASSWORD}).to_string())
            .arg(format!("http://{}/v1/session", gateway.admin))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&login.stdout).to_string();
        let cookie = text
            .lines()
            .find_map(|line| line.strip_prefix("set-cookie: "))
            .and_then(|value| value.split(';').next())
            .unwrap_or_else(|| panic!("no cookie: {text}"))
            .to_string();
        let seen = http::request(
            gateway.admin,
            "GET",
            &calls_path,
            &[format!("Cookie: {cookie}")],
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let seen: serde_json::Value = serde_json::from_str(&seen.body).expect("JSON");
        assert_eq!(
            seen.as_array().map(Vec::len),
            Some(expected),
            "{username}: {seen}"
        );
    }

    let pause = format!("{calls_path}/{call_id}/pause");
    assert_eq!(v1(gateway, "POST", &pause, &admin).status, 204);
    let listed: serde_json::Value =
        serde_json::from_str(&v1(gateway, "GET", &calls_path, &admin).body).expect("JSON");
    assert_eq!(listed[0]["paused"], true);
    let resume = format!("{calls_path}/{call_id}/resume");
    assert_eq!(v1(gateway, "POST", &resume, &admin).status, 204);
    // The dialog number is not an id the API takes.
    let by_number = format!("{calls_path}/{}/pause", legacy[0]["id"]);
    assert_eq!(v1(gateway, "POST", &by_number, &admin).status, 404);

    caller.wait().assert_calls_succeeded(1);
    carrier.stop();
}
