//! Calls in progress, seen from the media side: the recording decision, the media
//! anchoring of every SDP, the relay of each call and its recording.
//!
//! Each call's media side is a sans-IO state machine ([`machine::CallMedia`]); this
//! module is its shell. It lives inside the proxy task (the proxy calls it
//! synchronously through [`ProxyPolicy`](greffier_sip::proxy::ProxyPolicy)), so it
//! never awaits: it carries out the machine's outputs (binding ports, spawning the
//! relay and recorder tasks, spooling call records) and reaches those tasks over
//! channels.

mod anchor;
mod control_header;
pub mod decision;
pub mod directory;
pub mod machine;
pub mod metrics_names;
mod recording;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use greffier_media::ports::{BoundPair, PortPool};
use greffier_media::relay::{
    spawn_relay, MediaDestinations, RecorderCopy, RelayConfig, RelayEvent, RelayMetrics,
    RemoteMedia,
};
use greffier_media::{CodecMap, OutputFormat, PayloadNames, Recorder, RecorderConfig, RtpFormat};
use greffier_sip::message::Message;
use greffier_sip::proxy::{
    DialogId, Direction, EndReason, InDialogAction, Leg, SdpDecision, SdpKind, SdpRefusal,
};
use greffier_sip::transport::ProxyCommand;
use greffier_vault::catalog::{
    call_id_hash, CallEnd, CallInfo, CdrRecord, Direction as VaultDirection, UnrecordedReason, E164,
};
use greffier_vault::recording::{RecordingWriter, WriterOptions};
use greffier_vault::store::RecordId;
use greffier_vault::TenantId;
use tokio::sync::mpsc;

use crate::config::{AudioFormat, Config};
use crate::vault_setup::Vault;
use control_header::Control;
use directory::RecordingControl;
pub use directory::{CallDirectory, CallSummary, ControlError, OrderSource, RecordingOrder};
use machine::{AnchorFailure, CallMedia, Input, MediaSettings, Output};

/// RTP copies waiting for a recorder: about two seconds of a two-way call.
const RECORDER_QUEUE: usize = 256;

/// What the relay task of one call is told.
enum RelayControl {
    SetRemote(Leg, RemoteMedia),
}

/// The tasks a call's media runs in, as far as they have started.
enum MediaTasks {
    Idle,
    /// The relay runs; `copies` is the recorder's end of its RTP copies until the
    /// recorder starts.
    Relaying {
        control: mpsc::UnboundedSender<RelayControl>,
        copies: Option<mpsc::Receiver<RecorderCopy>>,
    },
}

/// One call: its state machine and what the shell holds for it.
struct Call {
    media: CallMedia,
    tenant: TenantId,
    direction: Direction,
    /// What its call record (or recording manifest) says; `None` when the vault
    /// has no keys for the tenant.
    info: Option<CallInfo>,
    /// Pause and resume orders, for a recorded call; those given before the
    /// recorder starts wait here.
    orders: Option<mpsc::UnboundedReceiver<RecordingControl>>,
    tasks: MediaTasks,
}

/// The media side of every call of this node.
pub struct Calls {
    config: tokio::sync::watch::Receiver<Arc<Config>>,
    media_address: IpAddr,
    pool: Arc<PortPool>,
    rtp_timeout: Duration,
    /// Where any relay of this node may send media.
    destinations: Arc<MediaDestinations>,
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
            destinations: Arc::new(node.media_destinations()),
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
        tenant_id: &TenantId,
        direction: Direction,
        caller: Option<&str>,
        callee: Option<&str>,
        sip_call_id: &str,
    ) {
        let config = self.config.borrow().clone();
        let Some(tenant) = config.tenant(tenant_id.as_str()) else {
            return;
        };
        let record = decision::should_record(tenant, direction, caller, callee);
        // Every call gets a call record; only recorded ones get a recording.
        let info = self.call_info(tenant_id, direction, caller, callee, sip_call_id);
        let recorded = record && info.is_some();
        let (sender, orders) = if recorded {
            let (sender, orders) = mpsc::unbounded_channel();
            (Some(sender), Some(orders))
        } else {
            (None, None)
        };
        self.directory.insert(
            CallSummary::new(dialog, tenant_id, direction, recorded).with_parties(
                [caller, callee]
                    .into_iter()
                    .flatten()
                    .filter_map(crate::config::normalize_number),
            ),
            info.as_ref().map(|info| info.record_id),
            sender,
        );
        let settings = MediaSettings {
            recorded,
            on_anchor_failure: tenant.recording.on_anchor_failure,
            media_address: self.media_address,
        };
        self.calls.insert(
            dialog,
            Call {
                media: CallMedia::new(settings),
                tenant: tenant_id.clone(),
                direction,
                info,
                orders,
                tasks: MediaTasks::Idle,
            },
        );
    }

    fn call_info(
        &self,
        tenant: &TenantId,
        direction: Direction,
        caller: Option<&str>,
        callee: Option<&str>,
        sip_call_id: &str,
    ) -> Option<CallInfo> {
        let tenant = tenant.clone();
        let index_key = match self.vault.keys().index_key(&tenant) {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(%tenant, %error, "no keys for this tenant: no recording, no call record");
                return None;
            }
        };
        let number = |party: Option<&str>| party.and_then(E164::normalise);
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

    /// Anchors one SDP: the call's machine decides whether it goes on rewritten, as
    /// it is, or not at all, and says what to start on the way.
    pub fn rewrite_sdp(
        &mut self,
        dialog: DialogId,
        from: Leg,
        kind: SdpKind,
        body: &Bytes,
    ) -> SdpDecision {
        let Some(call) = self.calls.get_mut(&dialog) else {
            return SdpDecision::Unchanged;
        };
        call.media.handle(Input::SdpSeen {
            from,
            kind,
            sdp: body,
        });
        let recorded = call.media.settings().recorded;
        // The machine decides on every SDP; should it not, a recorded call still
        // fails closed.
        self.carry_out(dialog).unwrap_or(if recorded {
            SdpDecision::Refuse(SdpRefusal {
                status: 488,
                retry_after: None,
            })
        } else {
            SdpDecision::Unchanged
        })
    }

    /// The call is over: its relay stops (ports back to the pool) and its call
    /// record is submitted, unless its recording writes it.
    pub fn ended(&mut self, dialog: DialogId, reason: EndReason) {
        self.directory.remove(dialog);
        let Some(call) = self.calls.get_mut(&dialog) else {
            return;
        };
        tracing::debug!(call = dialog.0, tenant = %call.tenant, ?reason, "media released");
        call.media.handle(Input::Ended(reason));
        self.carry_out(dialog);
        self.calls.remove(&dialog);
    }

    /// Carries out the outputs of a call's machine; returns its SDP decision, if
    /// it made one.
    fn carry_out(&mut self, dialog: DialogId) -> Option<SdpDecision> {
        let mut decision = None;
        loop {
            let call = self.calls.get_mut(&dialog)?;
            let Some(output) = call.media.poll_output() else {
                return decision;
            };
            match output {
                Output::Sdp(made) => decision = Some(made),
                Output::StartRelay { recorded } => {
                    let ports = self.start_relay(dialog, recorded);
                    self.calls
                        .get_mut(&dialog)?
                        .media
                        .handle(Input::RelayStarted(ports));
                }
                Output::SetRemote { leg, remote } => {
                    if let MediaTasks::Relaying { control, .. } = &call.tasks {
                        let _ = control.send(RelayControl::SetRemote(leg, remote));
                    }
                }
                Output::StartRecorder { caller, callee } => {
                    self.start_recording(dialog, &caller, &callee)
                }
                Output::AnchorFailed { reason, refused } => {
                    anchor_failed(dialog, &call.tenant, reason, refused);
                    if !refused {
                        // Nothing will be recorded: pause orders now fail, and the
                        // admin API learns the call is not recorded.
                        call.orders = None;
                    }
                }
                Output::StopRelay => call.tasks = MediaTasks::Idle,
                Output::SubmitCallRecord {
                    sip_status,
                    unrecorded,
                } => {
                    if let Some(info) = call.info.take() {
                        self.submit_call_record(info, sip_status, unrecorded);
                    }
                }
            }
        }
    }

    /// The one place the relay's settings are built from the node's configuration
    /// and the call's tenant.
    fn relay_config(&self, tenant: &TenantId) -> RelayConfig {
        RelayConfig {
            rtp_timeout: self.rtp_timeout,
            latching: self.config.borrow().latch_rules(tenant.as_str()),
            destinations: Arc::clone(&self.destinations),
        }
    }

    /// Binds both legs' ports and starts the relay, with a copy of every RTP packet
    /// for the recorder when the call is recorded. Returns the gateway's RTP port
    /// on each side, or `None` when no ports could be had.
    fn start_relay(&mut self, dialog: DialogId, recorded: bool) -> Option<[u16; 2]> {
        let relay_config = self.relay_config(&self.calls.get(&dialog)?.tenant);
        let (caller_side, callee_side): (BoundPair, BoundPair) =
            match (self.pool.bind_pair(), self.pool.bind_pair()) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(call = dialog.0, %error, "no media ports for this call");
                    return None;
                }
            };
        let (copies_sender, copies) = if recorded {
            let (sender, receiver) = mpsc::channel(RECORDER_QUEUE);
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        let mut handle = match spawn_relay(
            relay_config,
            caller_side,
            callee_side,
            copies_sender,
            self.metrics.clone(),
        ) {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(call = dialog.0, %error, "relay not started");
                return None;
            }
        };
        let ports = [
            handle.local(Leg::Caller).rtp.port(),
            handle.local(Leg::Callee).rtp.port(),
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
        if let Some(call) = self.calls.get_mut(&dialog) {
            call.tasks = MediaTasks::Relaying { control, copies };
        }
        Some(ports)
    }

    /// Starts the recorder on the copies the relay queued so far, each side decoded
    /// with the formats it announced.
    fn start_recording(&mut self, dialog: DialogId, caller: &[RtpFormat], callee: &[RtpFormat]) {
        let Some(call) = self.calls.get_mut(&dialog) else {
            return;
        };
        let copies = match &mut call.tasks {
            MediaTasks::Relaying { copies, .. } => copies.take(),
            MediaTasks::Idle => None,
        };
        let (Some(copies), Some(orders), Some(mut info)) =
            (copies, call.orders.take(), call.info.take())
        else {
            return;
        };
        let config = self.config.borrow().clone();
        let tenant = config.tenant(call.tenant.as_str());
        let format = match tenant.map(|t| t.recording.format) {
            Some(AudioFormat::Opus) => OutputFormat::Opus,
            _ => OutputFormat::Wav,
        };
        let mask_dtmf = tenant.is_some_and(|tenant| tenant.recording.mask_dtmf);
        // Queued now, kept in the spool with the recording, written to the
        // store once the record is: the gate decides at send time.
        let transcribe = tenant.is_some_and(|tenant| tenant.transcribes()).then(|| {
            (
                config.admin.tenant_settings_file.clone(),
                config.clone(),
                call.tenant.as_str().to_owned(),
            )
        });
        let (map_a, map_b) = (
            CodecMap::from_formats(caller),
            CodecMap::from_formats(callee),
        );
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
        recorder_config.payload_names = [caller, callee].map(PayloadNames::from_formats);
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
                Ok(mut writer) => {
                    // `transcripts_days = 0` set through the API means
                    // never: no job.
                    let transcribe = transcribe.filter(|(settings, config, tenant)| {
                        crate::ops::settings::SettingsFile::load(settings)
                            .ok()
                            .and_then(|file| {
                                crate::ops::settings::effective_retention(config, &file, tenant)
                            })
                            .is_some_and(|retention| retention.transcripts_days > 0)
                    });
                    if transcribe.is_some() {
                        let job = greffier_transcribe::Job::new(chrono::Utc::now());
                        let json = serde_json::to_vec(&job).unwrap_or_default();
                        if let Err(error) = writer.queue_job(&json).await {
                            tracing::error!(call = dialog.0, %error, "the transcription job could not be queued in the spool; this call will not be transcribed");
                        }
                    }
                    let options = recording::RecordOptions {
                        sip_status: 200,
                        mask_dtmf,
                    };
                    let audit = vault.audit.clone();
                    recording::record(copies, orders, recorder, writer, options, audit).await
                }
                Err(error) => tracing::error!(call = dialog.0, %error, "recording not opened"),
            }
        });
    }

    /// Spools the encrypted call record of a call without recording; the upload
    /// queue stores it.
    fn submit_call_record(
        &self,
        info: CallInfo,
        sip_status: u16,
        unrecorded: Option<AnchorFailure>,
    ) {
        let end = CallEnd {
            end: Some(chrono::Utc::now()),
            sip_status: Some(sip_status),
            ..CallEnd::default()
        };
        let vault = self.vault.clone();
        tokio::spawn(async move {
            let mut record = CdrRecord::new(info, vault.spool.node(), &end, false);
            record.unrecorded_reason = unrecorded.map(|failure| match failure {
                AnchorFailure::UnusableSdp => UnrecordedReason::UnusableSdp,
                AnchorFailure::NoMediaPorts => UnrecordedReason::NoMediaPorts,
            });
            if let Err(error) = vault.spool.submit_cdr(vault.keys().as_ref(), &record).await {
                tracing::error!(%error, "call record not spooled");
            }
        });
    }
}

/// Counts and logs a call whose media could not be anchored: the tenant and the
/// reason, never a party or an address.
fn anchor_failed(dialog: DialogId, tenant: &TenantId, reason: AnchorFailure, refused: bool) {
    let outcome = if refused {
        "rejected"
    } else {
        "passed_unrecorded"
    };
    metrics::counter!(
        metrics_names::ANCHOR_FAILURES,
        "reason" => reason.label(),
        "outcome" => outcome
    )
    .increment(1);
    if refused {
        tracing::warn!(call = dialog.0, %tenant, reason = reason.label(), "media cannot be anchored: SDP refused");
    } else {
        tracing::warn!(call = dialog.0, %tenant, reason = reason.label(), "media cannot be anchored: call passed unrecorded, as the tenant chose");
    }
}
