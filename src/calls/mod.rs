//! Calls in progress, seen from the media side: the recording decision, the media
//! anchoring of every SDP, the relay of each call and its recording.
//!
//! It lives inside the proxy task (the proxy calls it synchronously through
//! [`ProxyPolicy`](greffier_sip::proxy::ProxyPolicy)), so it never awaits: relays
//! and recordings run in their own tasks and are reached over channels.

mod anchor;
mod control_header;
pub mod decision;
pub mod directory;
pub mod metrics_names;
mod recording;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use greffier_media::ports::PortPool;
use greffier_media::relay::{
    spawn_relay, RecorderCopy, RelayConfig, RelayEvent, RelayMetrics, RemoteMedia,
};
use greffier_media::{CodecMap, OutputFormat, PayloadNames, Recorder, RecorderConfig};
use greffier_sip::message::Message;
use greffier_sip::proxy::{DialogId, Direction, EndReason, InDialogAction, Leg, SdpKind};
use greffier_sip::sdp::SessionDescription;
use greffier_sip::transport::ProxyCommand;
use greffier_vault::catalog::{
    call_id_hash, CallEnd, CallInfo, CdrRecord, Direction as VaultDirection, E164,
};
use greffier_vault::recording::{RecordingWriter, WriterOptions};
use greffier_vault::store::RecordId;
use greffier_vault::TenantId;
use tokio::sync::mpsc;

use crate::config::{normalize_number, AudioFormat, Config};
use crate::vault_setup::Vault;
use control_header::Control;
use directory::RecordingControl;
pub use directory::{CallDirectory, CallSummary, ControlError, OrderSource, RecordingOrder};

/// RTP copies waiting for a recorder: about two seconds of a two-way call.
const RECORDER_QUEUE: usize = 256;

/// Index of a leg in per-leg arrays (A = caller, B = callee).
fn leg_index(leg: Leg) -> usize {
    match leg {
        Leg::Caller => 0,
        Leg::Callee => 1,
    }
}

fn media_leg(leg: Leg) -> greffier_media::Leg {
    match leg {
        Leg::Caller => greffier_media::Leg::A,
        Leg::Callee => greffier_media::Leg::B,
    }
}

/// What the relay task of one call is told.
enum RelayControl {
    SetRemote(greffier_media::Leg, RemoteMedia),
}

struct Relay {
    control: mpsc::UnboundedSender<RelayControl>,
    /// The gateway's RTP port on each leg (A, B).
    ports: [u16; 2],
}

/// Everything known about a recorded call before its recorder starts.
struct PendingRecording {
    /// The recorder's end of the relay's copies, once the relay runs.
    copies: Option<mpsc::Receiver<RecorderCopy>>,
    /// Pause and resume orders; those given before the recorder starts wait here.
    control: mpsc::UnboundedReceiver<RecordingControl>,
    info: CallInfo,
}

struct Call {
    tenant: String,
    direction: Direction,
    record: Option<PendingRecording>,
    /// What the call record of a call that is not recorded says.
    unrecorded: Option<CallInfo>,
    relay: Option<Relay>,
    codecs: [Option<String>; 2],
    recording_started: bool,
}

/// The media side of every call of this node.
pub struct Calls {
    config: tokio::sync::watch::Receiver<Arc<Config>>,
    media_address: IpAddr,
    pool: Arc<PortPool>,
    rtp_timeout: Duration,
    metrics: RelayMetrics,
    vault: Arc<Vault>,
    commands: mpsc::Sender<ProxyCommand>,
    calls: HashMap<DialogId, Call>,
    directory: CallDirectory,
}

impl Calls {
    pub fn new(
        config: tokio::sync::watch::Receiver<Arc<Config>>,
        pool: Arc<PortPool>,
        vault: Arc<Vault>,
        commands: mpsc::Sender<ProxyCommand>,
        directory: CallDirectory,
    ) -> Calls {
        let node = config.borrow().node.clone();
        Calls {
            config,
            media_address: node.media_address,
            pool,
            rtp_timeout: node.rtp_timeout,
            metrics: RelayMetrics::register(),
            vault,
            commands,
            calls: HashMap::new(),
            directory,
        }
    }

    /// A call was forwarded: decide whether it is recorded.
    pub fn started(
        &mut self,
        dialog: DialogId,
        tenant_id: &str,
        direction: Direction,
        caller: Option<&str>,
        callee: Option<&str>,
        sip_call_id: &str,
    ) {
        let config = self.config.borrow().clone();
        let Some(tenant) = config.tenant(tenant_id) else {
            return;
        };
        let record = decision::should_record(tenant, direction, caller, callee);
        // Every call gets a call record; only recorded ones get a recording.
        let info = self.call_info(tenant_id, direction, caller, callee, sip_call_id);
        let (info, unrecorded) = if record { (info, None) } else { (None, info) };
        let (sender, pending) = match info {
            Some(info) => {
                let (sender, control) = mpsc::unbounded_channel();
                let pending = PendingRecording {
                    copies: None,
                    control,
                    info,
                };
                (Some(sender), Some(pending))
            }
            None => (None, None),
        };
        self.directory.insert(
            CallSummary::new(dialog, tenant_id, direction, sender.is_some()),
            sender,
        );
        self.calls.insert(
            dialog,
            Call {
                tenant: tenant_id.to_string(),
                direction,
                record: pending,
                unrecorded,
                relay: None,
                codecs: [None, None],
                recording_started: false,
            },
        );
    }

    fn call_info(
        &self,
        tenant_id: &str,
        direction: Direction,
        caller: Option<&str>,
        callee: Option<&str>,
        sip_call_id: &str,
    ) -> Option<CallInfo> {
        let tenant = TenantId::new(tenant_id).ok()?;
        let index_key = match self.vault.keys().index_key(&tenant) {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(%tenant, %error, "no keys for this tenant: no recording, no call record");
                return None;
            }
        };
        let number = |party: Option<&str>| {
            party
                .and_then(normalize_number)
                .and_then(|number| E164::new(&number).ok())
        };
        let info = CallInfo {
            tenant,
            record_id: RecordId::generate(),
            start: chrono::Utc::now(),
            caller: number(caller),
            callee: number(callee),
            direction: match direction {
                Direction::Inbound => VaultDirection::Inbound,
                Direction::Outbound => VaultDirection::Outbound,
            },
            codecs: Vec::new(),
            media_type: String::new(),
            call_id_hash: call_id_hash(&index_key, sip_call_id).ok()?,
        };
        Some(info)
    }

    /// An in-dialog request is about to be relayed: a recording order in it is
    /// obeyed when it comes from the tenant's PBX, and never travels further.
    pub fn in_dialog_request(
        &mut self,
        dialog: DialogId,
        from: Leg,
        request: &Message,
    ) -> InDialogAction {
        let control = control_header::control_of(request);
        if control == Control::None {
            return InDialogAction::Forward;
        }
        let from_pbx = self
            .calls
            .get(&dialog)
            .is_some_and(|call| control_header::pbx_leg(call.direction) == from);
        if !from_pbx {
            metrics::counter!(metrics_names::RECORDING_CONTROL_REFUSED).increment(1);
            tracing::warn!(
                call = dialog.0,
                ?from,
                "recording order from a leg that may not give one: ignored"
            );
            // Relayed as if the header were not there.
            return InDialogAction::ForwardWithout(control_header::header_name());
        }
        let Control::Order(order) = control else {
            tracing::warn!(
                call = dialog.0,
                "unknown value of {}: ignored",
                control_header::HEADER
            );
            return control_header::disposal(request, 400);
        };
        if let Err(error) = self.directory.control(dialog.0, order, OrderSource::Sip) {
            tracing::debug!(call = dialog.0, %error, "recording order without effect");
        }
        control_header::disposal(request, 200)
    }

    /// Anchors one SDP: the relay learns where `from` wants its media, and the SDP
    /// goes on with the gateway's port on the other side.
    pub fn rewrite_sdp(
        &mut self,
        dialog: DialogId,
        from: Leg,
        kind: SdpKind,
        body: &Bytes,
    ) -> Option<Bytes> {
        let sdp = match SessionDescription::parse(body) {
            Ok(sdp) => sdp,
            Err(error) => {
                tracing::warn!(call = dialog.0, %error, "SDP not anchored");
                return None;
            }
        };
        let plan = sdp.media_plan();
        let anchored = anchor::anchored_stream(&plan)?;
        let stream = plan.streams.get(anchored)?;
        let media_address = self.media_address;
        if self.calls.get(&dialog)?.relay.is_none() {
            let relay = self.start_relay(dialog)?;
            self.calls.get_mut(&dialog)?.relay = Some(relay);
        }
        let call = self.calls.get_mut(&dialog)?;
        let relay = call.relay.as_ref()?;
        let leg = media_leg(from);
        let _ = relay
            .control
            .send(RelayControl::SetRemote(leg, anchor::remote_media(stream)));
        // The other leg sends to the gateway's port on its own side.
        let to_port = relay.ports[leg_index(from.other())];
        call.codecs[leg_index(from)] = Some(String::from_utf8_lossy(body).into_owned());
        if kind == SdpKind::Answer {
            self.start_recording(dialog);
        }
        Some(anchor::rewrite(&sdp, anchored, media_address, to_port))
    }

    /// Binds both legs' ports and starts the relay, with a copy of every RTP packet
    /// for the recorder when the call is recorded.
    fn start_relay(&mut self, dialog: DialogId) -> Option<Relay> {
        let (leg_a, leg_b) = match (self.pool.bind_pair(), self.pool.bind_pair()) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(call = dialog.0, %error, "no media ports: the call is not anchored");
                return None;
            }
        };
        let call = self.calls.get_mut(&dialog)?;
        let copies = call.record.as_mut().map(|pending| {
            let (sender, receiver) = mpsc::channel(RECORDER_QUEUE);
            pending.copies = Some(receiver);
            sender
        });
        let config = RelayConfig {
            rtp_timeout: self.rtp_timeout,
        };
        let mut handle = match spawn_relay(config, leg_a, leg_b, copies, self.metrics.clone()) {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(call = dialog.0, %error, "relay not started");
                return None;
            }
        };
        let ports = [
            handle.local(greffier_media::Leg::A).rtp.port(),
            handle.local(greffier_media::Leg::B).rtp.port(),
        ];
        let (control, mut orders) = mpsc::unbounded_channel();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    order = orders.recv() => match order {
                        Some(RelayControl::SetRemote(leg, remote)) => {
                            if handle.set_remote(leg, remote).is_err() {
                                break;
                            }
                        }
                        // The call ended: stopping gives the ports back.
                        None => break,
                    },
                    event = handle.next_event() => match event {
                        Some(RelayEvent::MediaTimeout { .. }) => {
                            tracing::info!(call = dialog.0, "no media: ending the call");
                            let _ = commands.send(ProxyCommand::HangUp(dialog)).await;
                        }
                        Some(_) => {}
                        None => break,
                    },
                }
            }
            let _ = handle.stop().await;
        });
        Some(Relay { control, ports })
    }

    /// Once both legs' codecs are known, the recorder starts on the copies queued
    /// so far.
    fn start_recording(&mut self, dialog: DialogId) {
        let Some(call) = self.calls.get_mut(&dialog) else {
            return;
        };
        if call.recording_started {
            return;
        }
        let (Some(offer_a), Some(offer_b)) = (&call.codecs[0], &call.codecs[1]) else {
            return;
        };
        let Some(PendingRecording {
            copies: Some(copies),
            control,
            info,
        }) = call.record.take()
        else {
            return;
        };
        call.recording_started = true;
        let config = self.config.borrow().clone();
        let format = match config.tenant(&call.tenant).map(|t| t.recording.format) {
            Some(AudioFormat::Opus) => OutputFormat::Opus,
            _ => OutputFormat::Wav,
        };
        let mask_dtmf = config
            .tenant(&call.tenant)
            .is_some_and(|tenant| tenant.recording.mask_dtmf);
        let (map_a, map_b) = (CodecMap::from_sdp(offer_a), CodecMap::from_sdp(offer_b));
        let mut info = info;
        info.codecs = map_a
            .negotiated_codecs()
            .chain(map_b.negotiated_codecs())
            .map(|codec| codec.name().to_string())
            .collect();
        info.codecs.dedup();
        info.media_type = match format {
            OutputFormat::Wav => "audio/wav",
            OutputFormat::Opus => "audio/ogg; codecs=opus",
        }
        .to_string();
        let mut recorder_config = RecorderConfig::new(format, map_a, map_b, Instant::now());
        recorder_config.mask_dtmf = mask_dtmf;
        recorder_config.payload_names = [offer_a, offer_b].map(|sdp| PayloadNames::from_sdp(sdp));
        let recorder = match Recorder::new(recorder_config) {
            Ok(recorder) => recorder,
            Err(error) => {
                tracing::error!(call = dialog.0, %error, "recorder not started");
                return;
            }
        };
        let vault = self.vault.clone();
        tokio::spawn(async move {
            let writer = RecordingWriter::create(
                vault.spool.clone(),
                vault.store.clone(),
                vault.keys(),
                info,
                WriterOptions::default(),
                Instant::now(),
            )
            .await;
            match writer {
                Ok(writer) => {
                    let options = recording::RecordOptions {
                        sip_status: 200,
                        mask_dtmf,
                    };
                    let audit = vault.audit.clone();
                    recording::record(copies, control, recorder, writer, options, audit).await
                }
                Err(error) => tracing::error!(call = dialog.0, %error, "recording not opened"),
            }
        });
    }

    /// The call is over: its relay stops (ports back to the pool) and its recording,
    /// when there is one, is closed once the last copies are in.
    pub fn ended(&mut self, dialog: DialogId, reason: EndReason) {
        self.directory.remove(dialog);
        let Some(call) = self.calls.remove(&dialog) else {
            return;
        };
        tracing::debug!(call = dialog.0, tenant = %call.tenant, ?reason, "media released");
        // A recording closes with its own call record; any other call gets one here.
        let info = match call.record {
            Some(pending) if !call.recording_started => Some(pending.info),
            _ => call.unrecorded,
        };
        if let Some(info) = info {
            self.submit_call_record(info, reason);
        }
    }

    /// Spools the encrypted call record of a call without recording; the upload
    /// queue stores it.
    fn submit_call_record(&self, info: CallInfo, reason: EndReason) {
        let sip_status = match reason {
            EndReason::Hangup(_) | EndReason::Terminated => 200,
            EndReason::Cancelled => 487,
            EndReason::Rejected(code) => code,
            EndReason::Timeout => 408,
        };
        let end = CallEnd {
            end: Some(chrono::Utc::now()),
            sip_status: Some(sip_status),
            ..CallEnd::default()
        };
        let vault = self.vault.clone();
        tokio::spawn(async move {
            let record = CdrRecord::new(info, vault.spool.node(), &end, false);
            if let Err(error) = vault.spool.submit_cdr(vault.keys().as_ref(), &record).await {
                tracing::error!(%error, "call record not spooled");
            }
        });
    }
}
