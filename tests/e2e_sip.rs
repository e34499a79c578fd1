//! End-to-end SIP through the real `greffier` binary, with sipp as the
//! tenant's PBX and carrier, over UDP and over TCP.
//!
//! Scenarios are in `tests/scenarios/` (each names what it was adapted from in
//! `../shared/corpora/sipp/` or `../shared/peerbench/scenarios/`); the small
//! load test runs the benchmark harness's own scenarios unchanged.

mod support;

use support::scene::{Scene, CARRIER_IP, DIALLED_NUMBER, PBX_IP, TENANT_NUMBER};
use support::sipp::{peerbench_scenario, scenario, RunningSipp, SippCommand, SippRun};
use support::sockets::Transport;

const CALLS: &str = "greffier_sip_calls_total";
const REJECTS: &str = "greffier_sip_rejects_total";
const REQUESTS: &str = "greffier_sip_requests_received_total";

/// Waits for the answerer when the caller completed; otherwise stops it at
/// once, so that a failure is reported without waiting for sipp's timeout.
fn finish(answerer: RunningSipp, caller: &SippRun) -> SippRun {
    if caller.succeeded() {
        answerer.wait()
    } else {
        answerer.stop()
    }
}

/// A call placed by the tenant's PBX with `pbx_scenario` and answered by its
/// carrier with `carrier_scenario`, both checked to have completed it.
fn outbound_call(scene: &Scene, carrier_scenario: &str, pbx_scenario: &str) -> (SippRun, SippRun) {
    let carrier = scene
        .carrier_answerer("carrier", &scenario(carrier_scenario))
        .spawn();
    let pbx = scene.pbx_caller("pbx", &scenario(pbx_scenario)).run();
    let carrier = finish(carrier, &pbx);
    assert_completed(&[&pbx, &carrier], 1);
    (pbx, carrier)
}

/// Every run completed `calls` calls; otherwise all their reports.
fn assert_completed(runs: &[&SippRun], calls: u64) {
    let completed = runs.iter().all(|run| {
        run.succeeded() && run.stats.successful_calls() == calls && run.stats.failed_calls() == 0
    });
    assert!(
        completed,
        "each sipp was to complete {calls} call(s)\n{}",
        reports(runs)
    );
}

/// A far end that must have seen nothing at all.
fn assert_received_nothing(run: &SippRun, why: &str) {
    assert_eq!(run.received().count(), 0, "{why}\n{}", run.report());
    assert_eq!(run.stats.created_calls(), 0, "{why}\n{}", run.report());
}

fn reports(runs: &[&SippRun]) -> String {
    runs.iter()
        .map(|run| run.report())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first request of `method` a sipp received.
fn first_request<'a>(run: &'a SippRun, method: &str) -> &'a support::sipp_trace::TracedMessage {
    run.received()
        .find(|message| message.method() == Some(method))
        .unwrap_or_else(|| panic!("sipp {} received no {method}\n{}", run.name, run.report()))
}

fn basic_call(transport: Transport) {
    let scene = Scene::start(transport);
    let (pbx, carrier) = outbound_call(&scene, "uas_answer.xml", "uac_call.xml");
    let invite = first_request(&carrier, "INVITE");
    let gateway = scene.gateway.sip_addr().to_string();
    assert!(
        invite
            .header("Via")
            .is_some_and(|via| via.contains(&gateway)),
        "the carrier got the INVITE from the gateway ({gateway}), which put its own Via on top\n{}",
        invite.text
    );
    assert!(
        invite
            .header("Record-Route")
            .is_some_and(|route| route.contains(&gateway)),
        "the gateway record-routes, so that ACK and BYE come back through it\n{}",
        invite.text
    );
    assert!(
        invite
            .header("To")
            .is_some_and(|to| to.contains(DIALLED_NUMBER)),
        "the dialled number reaches the carrier\n{}",
        invite.text
    );
    assert_eq!(
        carrier.received_requests("ACK"),
        1,
        "{}",
        reports(&[&pbx, &carrier])
    );
    assert_eq!(
        carrier.received_requests("BYE"),
        1,
        "{}",
        reports(&[&pbx, &carrier])
    );
    let metrics = scene.gateway.metrics();
    assert_eq!(
        metrics.count(CALLS, &[]),
        1.0,
        "one call counted\n{}",
        metrics.text
    );
    let health = scene.gateway.get("/healthz");
    assert_eq!(health.status, 200, "/healthz: {}", health.body);
}

fn inbound_call(transport: Transport) {
    let scene = Scene::start(transport);
    let pbx = scene
        .pbx_answerer("pbx", &scenario("uas_answer.xml"))
        .spawn();
    let carrier = scene
        .carrier_caller("carrier", &scenario("uac_call.xml"))
        .run();
    let pbx = finish(pbx, &carrier);

    assert_completed(&[&carrier, &pbx], 1);
    let invite = first_request(&pbx, "INVITE");
    assert!(
        invite
            .header("To")
            .is_some_and(|to| to.contains(TENANT_NUMBER)),
        "the call to the tenant's number reaches its PBX\n{}",
        invite.text
    );
    assert_eq!(
        pbx.received_requests("BYE"),
        1,
        "{}",
        reports(&[&carrier, &pbx])
    );
}

fn cancel_before_answer(transport: Transport) {
    let scene = Scene::start(transport);
    let (pbx, carrier) = outbound_call(&scene, "uas_ring_cancel.xml", "uac_cancel.xml");
    let all = reports(&[&pbx, &carrier]);
    assert_eq!(
        pbx.received_responses(200, "CANCEL"),
        1,
        "200 for the CANCEL\n{all}"
    );
    assert!(
        pbx.received_responses(487, "INVITE") >= 1,
        "487 for the INVITE\n{all}"
    );
    assert_eq!(
        carrier.received_requests("CANCEL"),
        1,
        "the CANCEL went on\n{all}"
    );
    assert_eq!(
        carrier.received_requests("ACK"),
        1,
        "the gateway acknowledged the 487\n{all}"
    );
}

fn busy_passed_back(transport: Transport) {
    let scene = Scene::start(transport);
    let (pbx, carrier) = outbound_call(&scene, "uas_busy.xml", "uac_expect_486.xml");
    let all = reports(&[&pbx, &carrier]);
    assert!(
        pbx.received_responses(486, "INVITE") >= 1,
        "486 passed back\n{all}"
    );
    assert_eq!(
        pbx.received().filter(|m| m.status() == Some(200)).count(),
        0,
        "no 200 after a 486\n{all}"
    );
    assert_eq!(
        carrier.received_requests("ACK"),
        1,
        "the gateway acknowledged the 486\n{all}"
    );
}

/// A re-INVITE's body as the other side received it must keep its direction.
fn assert_reinvites_carry(run: &SippRun, directions: &[&str]) {
    let reinvites: Vec<&str> = run
        .received()
        .filter(|m| m.method() == Some("INVITE"))
        .skip(usize::from(
            run.received_requests("INVITE") > directions.len(),
        ))
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        reinvites.len(),
        directions.len(),
        "re-INVITEs received\n{}",
        run.report()
    );
    for (reinvite, direction) in reinvites.iter().zip(directions) {
        assert!(
            reinvite.contains(&format!("a={direction}")),
            "the re-INVITE keeps a={direction}\n{reinvite}"
        );
    }
}

fn hold_and_resume_by_caller(transport: Transport) {
    let scene = Scene::start(transport);
    let (pbx, carrier) = outbound_call(&scene, "uas_answer_hold.xml", "uac_hold.xml");
    assert_eq!(
        carrier.received_requests("INVITE"),
        3,
        "{}",
        reports(&[&pbx, &carrier])
    );
    assert_reinvites_carry(&carrier, &["sendonly", "sendrecv"]);
}

fn hold_and_resume_by_callee(transport: Transport) {
    let scene = Scene::start(transport);
    let (pbx, carrier) = outbound_call(&scene, "uas_hold.xml", "uac_held.xml");
    assert_eq!(
        pbx.received_requests("INVITE"),
        2,
        "{}",
        reports(&[&pbx, &carrier])
    );
    assert_reinvites_carry(&pbx, &["sendonly", "sendrecv"]);
    assert_eq!(
        carrier.received_requests("BYE"),
        1,
        "{}",
        reports(&[&pbx, &carrier])
    );
}

fn options_answered_by_gateway(transport: Transport) {
    let scene = Scene::start(transport);
    let carrier = scene
        .carrier_answerer("carrier", &scenario("uas_options.xml"))
        .spawn();
    let pbx = scene.pbx_caller("pbx", &scenario("uac_options.xml")).run();
    let carrier = carrier.stop();

    pbx.assert_calls_succeeded(1);
    assert_eq!(
        pbx.received_responses(200, "OPTIONS"),
        1,
        "{}",
        pbx.report()
    );
    assert_received_nothing(
        &carrier,
        "an OPTIONS to the gateway itself never reaches the far end",
    );
    let metrics = scene.gateway.metrics();
    assert_eq!(
        metrics.count(REQUESTS, &[("method", "OPTIONS")]),
        1.0,
        "{}",
        metrics.text
    );
    assert_eq!(
        metrics.count(CALLS, &[]),
        0.0,
        "an OPTIONS is no call\n{}",
        metrics.text
    );
}

fn unknown_source_forbidden(transport: Transport) {
    let scene = Scene::start(transport);
    let carrier = scene
        .carrier_answerer("carrier", &scenario("uas_answer.xml"))
        .spawn();
    let stranger = scene
        .stranger_caller("stranger", &scenario("uac_expect_403.xml"))
        .run();
    let carrier = carrier.stop();

    stranger.assert_calls_succeeded(1);
    assert!(
        stranger.received_responses(403, "INVITE") >= 1,
        "{}",
        stranger.report()
    );
    assert_received_nothing(
        &carrier,
        "a request from no tenant's address is never forwarded",
    );
    let metrics = scene.gateway.metrics();
    assert_eq!(
        metrics.count(REJECTS, &[("reason", "unknown_source")]),
        1.0,
        "the gateway counts the rejection once\n{}",
        metrics.text
    );
    assert_eq!(
        metrics.count(CALLS, &[]),
        0.0,
        "no call started\n{}",
        metrics.text
    );
}

fn lost_200_is_retransmitted(transport: Transport) {
    let scene = Scene::start(transport);
    let (pbx, carrier) = outbound_call(
        &scene,
        "uas_late_answer_lost_200.xml",
        "uac_call_without_trying.xml",
    );
    let all = reports(&[&pbx, &carrier]);
    assert_eq!(carrier.lost(), 1, "the first 200 OK was dropped\n{all}");
    assert!(
        pbx.received_responses(200, "INVITE") >= 1,
        "the retransmitted 200 OK got through\n{all}"
    );
    assert_eq!(
        carrier.received_requests("INVITE"),
        1,
        "the gateway absorbed the caller's INVITE retransmissions\n{all}"
    );
    if transport == Transport::Udp {
        assert!(
            pbx.stats.retransmissions() >= 1,
            "the caller did retransmit its INVITE, or nothing was absorbed\n{all}"
        );
    }
}

/// The benchmark's load shape, small: 10 calls at 10 calls per second with
/// the peerbench scenarios unchanged. The caller addresses the carrier in its
/// Request-URI and sends everything to the gateway (`-rsa`).
fn peerbench_load_small(transport: Transport) {
    const LOAD_CALLS: u32 = 10;
    let scene = Scene::start(transport);
    // The answerer ends after the last call and its scenario's 4 s timewait.
    let carrier = scene
        .carrier_answerer("carrier", &peerbench_scenario("uas.xml"))
        .calls(LOAD_CALLS)
        .spawn();
    let pbx = scene
        .pbx_caller("pbx", &peerbench_scenario("uac_sig.xml"))
        .remote(scene.carrier)
        .calls(LOAD_CALLS)
        .args(["-rsa".to_string(), scene.gateway.sip_addr().to_string()])
        .args(["-r", "10", "-l", "10", "-d", "500"])
        .run();
    let carrier = finish(carrier, &pbx);

    assert_completed(&[&pbx, &carrier], u64::from(LOAD_CALLS));
    assert_eq!(
        carrier.received_requests("INVITE"),
        LOAD_CALLS as usize,
        "{}",
        reports(&[&pbx, &carrier])
    );
    let metrics = scene.gateway.metrics();
    assert_eq!(
        metrics.count(CALLS, &[]),
        f64::from(LOAD_CALLS),
        "{}",
        metrics.text
    );
}

/// Each pair of scenarios run sipp to sipp, without the gateway: a failure
/// here is the scenarios' or the harness's, not the gateway's.
fn scenarios_pair_up_without_gateway(transport: Transport) {
    const PAIRS: [(&str, &str); 7] = [
        ("uas_answer.xml", "uac_call.xml"),
        ("uas_ring_cancel.xml", "uac_cancel.xml"),
        ("uas_busy.xml", "uac_expect_486.xml"),
        ("uas_options.xml", "uac_options.xml"),
        ("uas_answer_hold.xml", "uac_hold.xml"),
        ("uas_hold.xml", "uac_held.xml"),
        (
            "uas_late_answer_lost_200.xml",
            "uac_call_without_trying.xml",
        ),
    ];
    let work = tempfile::tempdir().expect("temporary directory");
    for (answerer_scenario, caller_scenario) in PAIRS {
        let name = caller_scenario.trim_end_matches(".xml");
        let answerer = SippCommand::new(
            &format!("{name}-answerer"),
            &scenario(answerer_scenario),
            work.path(),
            transport,
            CARRIER_IP,
        )
        .spawn();
        let caller = SippCommand::new(
            &format!("{name}-caller"),
            &scenario(caller_scenario),
            work.path(),
            transport,
            PBX_IP,
        )
        .remote(answerer.local_addr())
        .service(DIALLED_NUMBER)
        .run();
        let answerer = finish(answerer, &caller);
        assert_completed(&[&caller, &answerer], 1);
    }
}

macro_rules! over_udp_and_tcp {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::Transport;

                #[test]
                fn udp() {
                    super::$scenario(Transport::Udp);
                }

                #[test]
                fn tcp() {
                    super::$scenario(Transport::Tcp);
                }
            }
        )*
    };
}

over_udp_and_tcp!(
    basic_call,
    inbound_call,
    cancel_before_answer,
    busy_passed_back,
    hold_and_resume_by_caller,
    hold_and_resume_by_callee,
    options_answered_by_gateway,
    unknown_source_forbidden,
    lost_200_is_retransmitted,
    peerbench_load_small,
    scenarios_pair_up_without_gateway,
);
