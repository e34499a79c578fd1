//! One call's media side as a sans-IO state machine:
//! `Routed → Anchored → Recording → Ended`, or `Routed → Unanchored → Ended` when a
//! call the tenant records could not be anchored and the tenant lets such calls
//! through.
//!
//! Inputs are what the proxy and the shell report (an SDP seen on a leg, the relay
//! started on bound ports or not, the end of the call); outputs are what the shell
//! must do (bind ports and start the relay, tell it where a leg wants media, start
//! the recorder, stop the relay, submit the call record) and the decision on each
//! SDP. Nothing here touches a socket, a task or the clock: tests drive it by hand.

use std::collections::VecDeque;
use std::net::IpAddr;

use bytes::Bytes;
use greffier_media::relay::RemoteMedia;
use greffier_media::RtpFormat;
use greffier_sip::proxy::{EndReason, Leg, SdpDecision, SdpKind, SdpRefusal};
use greffier_sip::sdp::{MediaStream, SessionDescription};

use super::anchor;
use crate::config::AnchorFailurePolicy;

/// `Retry-After` of a 503 for want of media ports: calls end all the time, so ports
/// come back within seconds.
pub const NO_PORTS_RETRY_AFTER_SECS: u32 = 5;

/// Why a call's media could not be anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorFailure {
    /// No usable SDP: unparsable, or no plain-RTP audio stream to relay and record.
    UnusableSdp,
    /// The port pool is exhausted (or its ports cannot be bound).
    NoMediaPorts,
}

impl AnchorFailure {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            AnchorFailure::UnusableSdp => "unusable_sdp",
            AnchorFailure::NoMediaPorts => "no_media_ports",
        }
    }

    /// RFC 3261 §21.4.26: 488 for a session description that cannot be accepted;
    /// §21.5.4: 503 for a temporary lack of resources, with a Retry-After.
    fn refusal(self) -> SdpRefusal {
        match self {
            AnchorFailure::UnusableSdp => SdpRefusal {
                status: 488,
                retry_after: None,
            },
            AnchorFailure::NoMediaPorts => SdpRefusal {
                status: 503,
                retry_after: Some(NO_PORTS_RETRY_AFTER_SECS),
            },
        }
    }
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Routed by the proxy; nothing anchored yet.
    Routed,
    /// The relay runs on these gateway RTP ports (caller's side, callee's side).
    Anchored {
        ports: [u16; 2],
    },
    /// As anchored, and the recorder runs.
    Recording {
        ports: [u16; 2],
    },
    /// Not anchored, let through unrecorded by the tenant's choice.
    Unanchored(AnchorFailure),
    Ended,
}

/// What the machine knows of the call from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSettings {
    /// The tenant's policy records this call.
    pub recorded: bool,
    pub on_anchor_failure: AnchorFailurePolicy,
    /// The gateway's media address, written into every anchored SDP.
    pub media_address: IpAddr,
}

/// What happens to one call's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// An SDP crossed the call, sent by `from`.
    SdpSeen {
        from: Leg,
        kind: SdpKind,
        sdp: &'a Bytes,
    },
    /// The shell did what [`Output::StartRelay`] asked: the relay runs with these
    /// RTP ports on each side (caller's, callee's), or no ports could be had.
    RelayStarted(Option<[u16; 2]>),
    Ended(EndReason),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bind a port pair per side and start the relay on them, copying RTP for a
    /// recorder if `recorded`; answer with [`Input::RelayStarted`] at once.
    StartRelay { recorded: bool },
    /// Media for `leg` goes to `remote`.
    SetRemote { leg: Leg, remote: RemoteMedia },
    /// Start recording, each side decoded with the formats it announced.
    StartRecorder {
        caller: Vec<RtpFormat>,
        callee: Vec<RtpFormat>,
    },
    /// The decision on the SDP of the last [`Input::SdpSeen`].
    Sdp(SdpDecision),
    /// Count and log an anchoring failure; `refused` says whether the SDP was.
    AnchorFailed {
        reason: AnchorFailure,
        refused: bool,
    },
    /// Stop the relay (its ports go back to the pool).
    StopRelay,
    /// Submit the call record of a call whose recording (if any) never started.
    SubmitCallRecord {
        sip_status: u16,
        unrecorded: Option<AnchorFailure>,
    },
}

/// An SDP waiting for the ports it is to be anchored on.
#[derive(Debug)]
struct Pending {
    from: Leg,
    kind: SdpKind,
    sdp: SessionDescription,
    stream: usize,
}

/// The media side of one call.
#[derive(Debug)]
pub struct CallMedia {
    settings: MediaSettings,
    phase: Phase,
    /// The formats each side announced for the anchored stream (caller, callee).
    formats: [Option<Vec<RtpFormat>>; 2],
    pending: Option<Pending>,
    outputs: VecDeque<Output>,
}

/// Index of a leg in per-leg arrays.
fn side(leg: Leg) -> usize {
    match leg {
        Leg::Caller => 0,
        Leg::Callee => 1,
    }
}

impl CallMedia {
    /// A call the proxy just routed.
    pub fn new(settings: MediaSettings) -> Self {
        Self {
            settings,
            phase: Phase::Routed,
            formats: [None, None],
            pending: None,
            outputs: VecDeque::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn settings(&self) -> &MediaSettings {
        &self.settings
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn handle(&mut self, input: Input<'_>) {
        match input {
            Input::SdpSeen { from, kind, sdp } => self.sdp_seen(from, kind, sdp),
            Input::RelayStarted(ports) => self.relay_started(ports),
            Input::Ended(reason) => self.ended(reason),
        }
    }

    fn sdp_seen(&mut self, from: Leg, kind: SdpKind, body: &Bytes) {
        match self.phase {
            // Media already flows around the gateway, by the tenant's choice; or the
            // call is over.
            Phase::Unanchored(_) | Phase::Ended => {
                return self.outputs.push_back(Output::Sdp(SdpDecision::Unchanged));
            }
            Phase::Routed | Phase::Anchored { .. } | Phase::Recording { .. } => {}
        }
        let usable = SessionDescription::parse(body).ok().and_then(|sdp| {
            let stream = anchor::anchored_stream(&sdp.media_plan())?;
            Some(Pending {
                from,
                kind,
                sdp,
                stream,
            })
        });
        let Some(pending) = usable else {
            return self.fail(AnchorFailure::UnusableSdp);
        };
        match self.phase {
            Phase::Anchored { ports } | Phase::Recording { ports } => self.anchor(pending, ports),
            _ => {
                self.pending = Some(pending);
                self.outputs.push_back(Output::StartRelay {
                    recorded: self.settings.recorded,
                });
            }
        }
    }

    fn relay_started(&mut self, ports: Option<[u16; 2]>) {
        match (ports, self.pending.take()) {
            (Some(ports), pending) => {
                self.phase = Phase::Anchored { ports };
                if let Some(pending) = pending {
                    self.anchor(pending, ports);
                }
            }
            (None, Some(_)) => self.fail(AnchorFailure::NoMediaPorts),
            (None, None) => {}
        }
    }

    /// The relay learns where `from` wants media; the SDP goes on pointing at the
    /// gateway's port on the other side.
    fn anchor(&mut self, pending: Pending, ports: [u16; 2]) {
        let Pending {
            from,
            kind,
            sdp,
            stream,
        } = pending;
        let plan = sdp.media_plan();
        let Some(anchored) = plan.streams.get(stream) else {
            return self.fail(AnchorFailure::UnusableSdp);
        };
        self.outputs.push_back(Output::SetRemote {
            leg: from,
            remote: anchor::remote_media(anchored),
        });
        self.formats[side(from)] = Some(formats_of(anchored));
        let to_port = ports[side(from.other())];
        let rewritten = anchor::rewrite(&sdp, stream, self.settings.media_address, to_port);
        self.outputs
            .push_back(Output::Sdp(SdpDecision::Rewritten(rewritten)));
        if kind == SdpKind::Answer {
            self.start_recording(ports);
        }
    }

    /// Once both sides' formats are known, a recorded call starts its recorder.
    fn start_recording(&mut self, ports: [u16; 2]) {
        if !self.settings.recorded || !matches!(self.phase, Phase::Anchored { .. }) {
            return;
        }
        let [Some(caller), Some(callee)] = &self.formats else {
            return;
        };
        self.outputs.push_back(Output::StartRecorder {
            caller: caller.clone(),
            callee: callee.clone(),
        });
        self.phase = Phase::Recording { ports };
    }

    /// An SDP that cannot be anchored. A call that is not recorded goes on as it
    /// would without the gateway. A recorded one is refused, unless the tenant lets
    /// such calls through and the call has no anchored media yet: a call already
    /// anchored keeps its media at the gateway (the refused re-offer leaves the
    /// session as it was, RFC 3264 §8).
    fn fail(&mut self, reason: AnchorFailure) {
        self.pending = None;
        if !self.settings.recorded {
            return self.outputs.push_back(Output::Sdp(SdpDecision::Unchanged));
        }
        let pass = self.settings.on_anchor_failure == AnchorFailurePolicy::PassUnrecorded
            && self.phase == Phase::Routed;
        self.outputs.push_back(Output::AnchorFailed {
            reason,
            refused: !pass,
        });
        if pass {
            self.phase = Phase::Unanchored(reason);
            self.outputs.push_back(Output::Sdp(SdpDecision::Unchanged));
        } else {
            self.outputs
                .push_back(Output::Sdp(SdpDecision::Refuse(reason.refusal())));
        }
    }

    fn ended(&mut self, reason: EndReason) {
        let previous = std::mem::replace(&mut self.phase, Phase::Ended);
        self.pending = None;
        let sip_status = match reason {
            EndReason::Hangup(_) | EndReason::Terminated => 200,
            EndReason::Cancelled => 487,
            EndReason::Rejected(code) => code,
            EndReason::Timeout => 408,
        };
        match previous {
            Phase::Ended => {}
            // A recording closes with its own call record.
            Phase::Recording { .. } => self.outputs.push_back(Output::StopRelay),
            Phase::Anchored { .. } => {
                self.outputs.push_back(Output::StopRelay);
                self.outputs.push_back(Output::SubmitCallRecord {
                    sip_status,
                    unrecorded: None,
                });
            }
            Phase::Routed => self.outputs.push_back(Output::SubmitCallRecord {
                sip_status,
                unrecorded: None,
            }),
            Phase::Unanchored(failure) => self.outputs.push_back(Output::SubmitCallRecord {
                sip_status,
                unrecorded: Some(failure),
            }),
        }
    }
}

/// The typed formats media needs, from the plan sip parsed: the one parse of the SDP.
fn formats_of(stream: &MediaStream) -> Vec<RtpFormat> {
    stream
        .codecs
        .iter()
        .map(|codec| RtpFormat::new(codec.payload_type, &codec.encoding, codec.clock_rate))
        .collect()
}
