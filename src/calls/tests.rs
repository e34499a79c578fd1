//! The media side of a call driven without sockets or tasks: SDPs and port
//! outcomes in, what the shell must do out.

use bytes::Bytes;
use greffier_media::RtpFormat;
use greffier_sip::proxy::{EndReason, Leg, SdpDecision, SdpKind, SdpRefusal};

use super::machine::{
    AnchorFailure, CallMedia, Input, MediaSettings, Output, Phase, NO_PORTS_RETRY_AFTER_SECS,
};
use crate::config::AnchorFailurePolicy;

const GATEWAY: &str = "203.0.113.1";
const CALLER_PORTS: u16 = 30000;
const CALLEE_PORTS: u16 = 30002;

fn offer() -> Bytes {
    Bytes::from_static(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
          m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    )
}

fn answer() -> Bytes {
    Bytes::from_static(
        b"v=0\r\no=- 2 2 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\n\
          m=audio 6000 RTP/AVP 8\r\nc=IN IP4 198.51.100.7\r\n",
    )
}

fn unusable() -> Bytes {
    Bytes::from_static(b"v=0\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n")
}

/// One call's machine and every output it gave, drained as the shell would.
struct Harness {
    media: CallMedia,
    /// What the shell answers to [`Output::StartRelay`].
    ports: Option<[u16; 2]>,
    done: Vec<Output>,
}

impl Harness {
    fn new(recorded: bool, on_anchor_failure: AnchorFailurePolicy) -> Harness {
        Harness {
            media: CallMedia::new(MediaSettings {
                recorded,
                on_anchor_failure,
                media_address: GATEWAY.parse().unwrap(),
            }),
            ports: Some([CALLER_PORTS, CALLEE_PORTS]),
            done: Vec::new(),
        }
    }

    fn recorded() -> Harness {
        Harness::new(true, AnchorFailurePolicy::Reject)
    }

    /// Feeds one input and drains the outputs; returns the SDP decision made.
    fn feed(&mut self, input: Input<'_>) -> Option<SdpDecision> {
        self.media.handle(input);
        let mut decision = None;
        while let Some(output) = self.media.poll_output() {
            match &output {
                Output::StartRelay { .. } => {
                    self.done.push(output.clone());
                    self.media.handle(Input::RelayStarted(self.ports));
                    continue;
                }
                Output::Sdp(made) => decision = Some(made.clone()),
                _ => {}
            }
            self.done.push(output);
        }
        decision
    }

    fn sdp(&mut self, from: Leg, kind: SdpKind, sdp: &Bytes) -> SdpDecision {
        self.feed(Input::SdpSeen { from, kind, sdp })
            .expect("every SDP gets a decision")
    }

    fn count(&self, wanted: impl Fn(&Output) -> bool) -> usize {
        self.done.iter().filter(|output| wanted(output)).count()
    }
}

fn rewritten(decision: SdpDecision) -> String {
    match decision {
        SdpDecision::Rewritten(body) => String::from_utf8(body.to_vec()).unwrap(),
        other => panic!("not rewritten: {other:?}"),
    }
}

#[test]
fn a_recorded_call_is_anchored_then_recorded_then_ended() {
    let mut h = Harness::recorded();
    assert_eq!(h.media.phase(), Phase::Routed);
    let offer = rewritten(h.sdp(Leg::Caller, SdpKind::Offer, &offer()));
    assert!(offer.contains(&format!("c=IN IP4 {GATEWAY}")), "{offer}");
    assert!(
        offer.contains(&format!("m=audio {CALLEE_PORTS} ")),
        "the callee sends to the gateway's port on its side: {offer}"
    );
    assert!(!offer.contains("192.0.2.10"));
    assert_eq!(
        h.media.phase(),
        Phase::Anchored {
            ports: [CALLER_PORTS, CALLEE_PORTS]
        }
    );
    assert_eq!(
        h.done[0],
        Output::StartRelay { recorded: true },
        "ports are bound and the relay started before the SDP is rewritten"
    );

    let answer = rewritten(h.sdp(Leg::Callee, SdpKind::Answer, &answer()));
    assert!(
        answer.contains(&format!("m=audio {CALLER_PORTS} ")),
        "{answer}"
    );
    assert!(!answer.contains("198.51.100.7"), "{answer}");
    assert_eq!(
        h.count(|output| matches!(output, Output::SetRemote { .. })),
        2
    );
    let recorder = h
        .done
        .iter()
        .find_map(|output| match output {
            Output::StartRecorder { caller, callee } => Some((caller.clone(), callee.clone())),
            _ => None,
        })
        .expect("the recorder starts with the answer");
    assert_eq!(
        recorder.0,
        [
            RtpFormat::new(8, "PCMA", 8000),
            RtpFormat::new(101, "telephone-event", 8000)
        ],
        "typed formats from the one SDP parse"
    );
    assert_eq!(recorder.1, [RtpFormat::new(8, "PCMA", 8000)]);
    assert!(matches!(h.media.phase(), Phase::Recording { .. }));

    h.feed(Input::Ended(EndReason::Hangup(Leg::Caller)));
    assert_eq!(h.media.phase(), Phase::Ended);
    assert_eq!(h.done.last(), Some(&Output::StopRelay));
    assert_eq!(
        h.count(|output| matches!(output, Output::SubmitCallRecord { .. })),
        0,
        "a recording writes its own call record"
    );
}

#[test]
fn no_ports_refuses_the_offer_with_503_and_retry_after() {
    let mut h = Harness::recorded();
    h.ports = None;
    let decision = h.sdp(Leg::Caller, SdpKind::Offer, &offer());
    assert_eq!(
        decision,
        SdpDecision::Refuse(SdpRefusal {
            status: 503,
            retry_after: Some(NO_PORTS_RETRY_AFTER_SECS)
        })
    );
    assert!(h.done.contains(&Output::AnchorFailed {
        reason: AnchorFailure::NoMediaPorts,
        refused: true
    }));
    assert_eq!(h.media.phase(), Phase::Routed);
    h.feed(Input::Ended(EndReason::Rejected(503)));
    assert_eq!(
        h.done.last(),
        Some(&Output::SubmitCallRecord {
            sip_status: 503,
            unrecorded: None
        })
    );
}

#[test]
fn an_unusable_sdp_is_refused_with_488() {
    for body in [
        unusable(),
        Bytes::from_static(b"not an sdp"),
        Bytes::from_static(b"v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/SAVP 8\r\n"),
    ] {
        let mut h = Harness::recorded();
        let decision = h.sdp(Leg::Caller, SdpKind::Offer, &body);
        assert_eq!(
            decision,
            SdpDecision::Refuse(SdpRefusal {
                status: 488,
                retry_after: None
            }),
            "{body:?}"
        );
        assert_eq!(
            h.count(|output| matches!(output, Output::StartRelay { .. })),
            0,
            "no ports are taken for an SDP that cannot be anchored"
        );
    }
}

#[test]
fn pass_unrecorded_forwards_unchanged_and_marks_the_call_record() {
    let mut h = Harness::new(true, AnchorFailurePolicy::PassUnrecorded);
    assert_eq!(
        h.sdp(Leg::Caller, SdpKind::Offer, &unusable()),
        SdpDecision::Unchanged
    );
    assert_eq!(
        h.media.phase(),
        Phase::Unanchored(AnchorFailure::UnusableSdp)
    );
    assert!(h.done.contains(&Output::AnchorFailed {
        reason: AnchorFailure::UnusableSdp,
        refused: false
    }));
    // The answer, anchorable or not, follows the offer around the gateway.
    assert_eq!(
        h.sdp(Leg::Callee, SdpKind::Answer, &answer()),
        SdpDecision::Unchanged
    );
    h.feed(Input::Ended(EndReason::Hangup(Leg::Callee)));
    assert_eq!(
        h.done.last(),
        Some(&Output::SubmitCallRecord {
            sip_status: 200,
            unrecorded: Some(AnchorFailure::UnusableSdp)
        })
    );
}

#[test]
fn pass_unrecorded_without_ports_marks_the_call_record_too() {
    let mut h = Harness::new(true, AnchorFailurePolicy::PassUnrecorded);
    h.ports = None;
    assert_eq!(
        h.sdp(Leg::Caller, SdpKind::Offer, &offer()),
        SdpDecision::Unchanged
    );
    h.feed(Input::Ended(EndReason::Hangup(Leg::Caller)));
    assert_eq!(
        h.done.last(),
        Some(&Output::SubmitCallRecord {
            sip_status: 200,
            unrecorded: Some(AnchorFailure::NoMediaPorts)
        })
    );
}

#[test]
fn an_anchored_call_refuses_an_unusable_re_offer_even_with_pass_unrecorded() {
    let mut h = Harness::new(true, AnchorFailurePolicy::PassUnrecorded);
    rewritten(h.sdp(Leg::Caller, SdpKind::Offer, &offer()));
    let decision = h.sdp(Leg::Callee, SdpKind::Offer, &unusable());
    assert!(
        matches!(
            decision,
            SdpDecision::Refuse(SdpRefusal { status: 488, .. })
        ),
        "{decision:?}"
    );
    assert!(matches!(h.media.phase(), Phase::Anchored { .. }));
}

#[test]
fn a_call_that_is_not_recorded_goes_on_unanchored_when_anchoring_fails() {
    let mut h = Harness::new(false, AnchorFailurePolicy::Reject);
    assert_eq!(
        h.sdp(Leg::Caller, SdpKind::Offer, &unusable()),
        SdpDecision::Unchanged
    );
    assert_eq!(
        h.count(|output| matches!(output, Output::AnchorFailed { .. })),
        0
    );
    // Anchorable SDPs are still relayed, without a recorder.
    let mut h = Harness::new(false, AnchorFailurePolicy::Reject);
    rewritten(h.sdp(Leg::Caller, SdpKind::Offer, &offer()));
    rewritten(h.sdp(Leg::Callee, SdpKind::Answer, &answer()));
    assert_eq!(h.done[0], Output::StartRelay { recorded: false });
    assert_eq!(
        h.count(|output| matches!(output, Output::StartRecorder { .. })),
        0
    );
    h.feed(Input::Ended(EndReason::Hangup(Leg::Caller)));
    assert_eq!(
        h.done[h.done.len() - 2..],
        [
            Output::StopRelay,
            Output::SubmitCallRecord {
                sip_status: 200,
                unrecorded: None
            }
        ]
    );
}

#[test]
fn upper_case_media_unreadable_rtcp_and_media_level_connection_are_anchored() {
    let mut h = Harness::recorded();
    let sdp = Bytes::from_static(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n\
          m=AUDIO 4000 RTP/AVP 8\r\nc=IN IP4 192.0.2.10\r\na=rtcp:abc\r\n",
    );
    let out = rewritten(h.sdp(Leg::Caller, SdpKind::Offer, &sdp));
    assert!(!out.contains("192.0.2.10"), "{out}");
    assert!(!out.contains("rtcp"), "{out}");
}
