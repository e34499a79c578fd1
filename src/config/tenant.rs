//! One tenant file: the client's documented instructions (DPA 2.3).

use std::path::PathBuf;

use base64::Engine as _;
use ipnet::IpNet;
use serde::Deserialize;

use super::net::parse_cidr;
use super::node::{slug_problem, Limits};
use super::problems::{Origin, Problems};
use super::registry::{Provider, Subprocessor, TransferMechanism};
use super::sip_uri::SipUri;
use greffier_types::{TenantId, E164};

/// Call records are kept one year by law, whatever the tenant prefers.
pub const CDR_RETENTION_DAYS: u32 = 365;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenantHead {
    pub(crate) id: String,
    #[serde(default)]
    numbers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeer {
    sources: Vec<String>,
    uri: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecording {
    policy: RecordingPolicy,
    #[serde(default)]
    do_not_record: Vec<String>,
    #[serde(default)]
    format: AudioFormat,
    #[serde(default = "default_true")]
    mask_dtmf: bool,
    #[serde(default)]
    on_anchor_failure: AnchorFailurePolicy,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    recordings_days: u32,
    transcripts_days: u32,
    /// Accepted only to explain that it cannot change.
    cdr_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTranscription {
    #[serde(default)]
    enabled: bool,
    provider: Option<String>,
    #[serde(default)]
    objections: Vec<String>,
    #[serde(default)]
    accepted_transfer_mechanisms: Vec<TransferMechanism>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum KeyModeName {
    #[default]
    Managed,
    Client,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenantKeys {
    #[serde(default)]
    mode: KeyModeName,
    public_key: Option<String>,
}

/// `[media]`: how this tenant's call legs pick their media source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenantMedia {
    strict_source: Option<bool>,
}

/// The sections of a tenant file, each parsed on its own so that a mistake in
/// one does not hide the others: `None` is a section that did not parse (its
/// problem is recorded), and the others are still checked.
pub(crate) struct RawTenant {
    pub(crate) head: Option<RawTenantHead>,
    pub(crate) pbx: Option<RawPeer>,
    pub(crate) carrier: Option<RawPeer>,
    pub(crate) recording: Option<RawRecording>,
    pub(crate) retention: Option<RawRetention>,
    pub(crate) transcription: Option<RawTranscription>,
    pub(crate) keys: Option<RawTenantKeys>,
    pub(crate) media: Option<RawTenantMedia>,
}

/// What the tenant file is checked against: the operator's declarations.
pub(crate) struct TenantContext<'a> {
    pub(crate) limits: &'a Limits,
    /// Declared names, valid entries or not.
    pub(crate) subprocessor_names: &'a [String],
    pub(crate) provider_names: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Unique; used in object keys.
    pub id: TenantId,
    /// The file this tenant was read from.
    pub file: PathBuf,
    /// The tenant's numbers, unique across tenants.
    pub numbers: Vec<E164>,
    /// The tenant's PBX: calls from it go out; calls to its numbers go to it.
    pub pbx: Peer,
    /// The tenant's SIP trunk carrier.
    pub carrier: Peer,
    pub recording: Recording,
    pub retention: Retention,
    pub transcription: Transcription,
    pub keys: TenantKeys,
    pub media: TenantMedia,
}

impl Tenant {
    /// Whether this tenant's recorded calls are queued for transcription
    /// (the gate still decides, at send time, whether anything is sent).
    pub fn transcribes(&self) -> bool {
        self.transcription.enabled
            && self.transcription.provider.is_some()
            && self.retention.transcripts_days > 0
            && self.retention.recordings_days > 0
            && self.recording.format == AudioFormat::Wav
    }
}

/// The tenant's media settings; `None` leaves the node's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantMedia {
    /// Accept media from a leg's SDP address only (`node.strict_source`).
    pub strict_source: Option<bool>,
}

/// A SIP peer: the addresses it sends from and the URI calls are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub sources: Vec<IpNet>,
    pub uri: SipUri,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingPolicy {
    All,
    None,
    /// Calls to the tenant's numbers.
    Inbound,
    /// Calls from the tenant's PBX.
    Outbound,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    #[default]
    Wav,
    Opus,
}

/// What happens to a call that must be recorded when its media cannot be anchored
/// (an SDP the gateway cannot rewrite, no media ports left).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorFailurePolicy {
    /// Refuse the SDP (488, or 503 with Retry-After when out of ports): no call
    /// without its recording.
    #[default]
    Reject,
    /// Let the call through unanchored and unrecorded; its call record says so.
    PassUnrecorded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub policy: RecordingPolicy,
    /// Numbers whose calls are never recorded (data subjects' objections).
    pub do_not_record: Vec<E164>,
    pub format: AudioFormat,
    /// Replace DTMF tones in the recording with silence.
    pub mask_dtmf: bool,
    pub on_anchor_failure: AnchorFailurePolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// 0 = do not record.
    pub recordings_days: u32,
    /// 0 = do not transcribe.
    pub transcripts_days: u32,
    /// Always [`CDR_RETENTION_DAYS`].
    pub cdr_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcription {
    pub enabled: bool,
    pub provider: Option<String>,
    /// Sub-processors this tenant objected to: never sent anything.
    pub objections: Vec<String>,
    /// Transfer mechanisms the tenant accepts for sub-processors outside the EEA.
    pub accepted_transfer_mechanisms: Vec<TransferMechanism>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantKeys {
    /// Data keys wrapped by the tenant's key in the node's keyring.
    Managed,
    /// Data keys sealed to the tenant's X25519 public key: the operator can
    /// never read the content again.
    Client { public_key: [u8; 32] },
}

pub(crate) fn validate_tenant(
    raw: RawTenant,
    file: PathBuf,
    origin: Origin<'_>,
    context: &TenantContext<'_>,
    problems: &mut Problems,
) -> Option<Tenant> {
    let before = problems.len();
    let id = raw
        .head
        .as_ref()
        .and_then(|head| match TenantId::new(&head.id) {
            Ok(id) => Some(id),
            Err(invalid) => {
                problems.push(
                    origin.file,
                    origin.key("id"),
                    slug_problem(&head.id, invalid),
                );
                None
            }
        });
    let numbers = raw
        .head
        .as_ref()
        .map(|head| validate_numbers(&head.numbers, origin, "numbers", problems));
    let pbx = raw
        .pbx
        .and_then(|peer| validate_peer(peer, origin, "pbx", problems));
    let carrier = raw
        .carrier
        .and_then(|peer| validate_peer(peer, origin, "carrier", problems));
    let recording = raw.recording.map(|recording| {
        let do_not_record = validate_numbers(
            &recording.do_not_record,
            origin,
            "recording.do_not_record",
            problems,
        );
        Recording {
            policy: recording.policy,
            do_not_record,
            format: recording.format,
            mask_dtmf: recording.mask_dtmf,
            on_anchor_failure: recording.on_anchor_failure,
        }
    });
    let retention = raw
        .retention
        .map(|retention| validate_retention(&retention, origin, context.limits, problems));
    let transcription = raw.transcription.map(|transcription| {
        validate_transcription(
            transcription,
            retention.as_ref(),
            recording.as_ref(),
            origin,
            context,
            problems,
        )
    });
    let keys = raw
        .keys
        .and_then(|keys| validate_keys(keys, origin, problems));
    if problems.len() != before {
        return None;
    }
    Some(Tenant {
        id: id?,
        file,
        numbers: numbers?,
        pbx: pbx?,
        carrier: carrier?,
        recording: recording?,
        retention: retention?,
        transcription: transcription?,
        keys: keys?,
        media: TenantMedia {
            strict_source: raw.media?.strict_source,
        },
    })
}

fn validate_numbers(
    texts: &[String],
    origin: Origin<'_>,
    field: &str,
    problems: &mut Problems,
) -> Vec<E164> {
    let mut numbers: Vec<E164> = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        let key = origin.key(&format!("{field}[{index}]"));
        match E164::new(text) {
            Ok(number) if numbers.contains(&number) => {
                problems.push(origin.file, key, format!("{number} is listed twice"));
            }
            Ok(number) => numbers.push(number),
            Err(reason) => problems.push(origin.file, key, reason),
        }
    }
    numbers
}

fn validate_peer(
    raw: RawPeer,
    origin: Origin<'_>,
    field: &str,
    problems: &mut Problems,
) -> Option<Peer> {
    let before = problems.len();
    if raw.sources.is_empty() {
        problems.push(
            origin.file,
            origin.key(&format!("{field}.sources")),
            "at least one source CIDR is needed",
        );
    }
    let mut sources = Vec::new();
    for (index, text) in raw.sources.iter().enumerate() {
        match parse_cidr(text) {
            Ok(net) => sources.push(net),
            Err(reason) => problems.push(
                origin.file,
                origin.key(&format!("{field}.sources[{index}]")),
                reason,
            ),
        }
    }
    let uri_key = origin.key(&format!("{field}.uri"));
    let uri = SipUri::parse(&raw.uri).map_err(|error| {
        problems.push(origin.file, uri_key.clone(), error);
    });
    if let Ok(Err(error)) = uri.as_ref().map(SipUri::next_hop_transport) {
        problems.push(origin.file, uri_key, error);
    }
    if problems.len() != before {
        return None;
    }
    Some(Peer {
        sources,
        uri: uri.ok()?,
    })
}

fn validate_retention(
    raw: &RawRetention,
    origin: Origin<'_>,
    limits: &Limits,
    problems: &mut Problems,
) -> Retention {
    let bounds = [
        (
            "retention.recordings_days",
            raw.recordings_days,
            limits.max_recordings_days,
            "limits.max_recordings_days",
        ),
        (
            "retention.transcripts_days",
            raw.transcripts_days,
            limits.max_transcripts_days,
            "limits.max_transcripts_days",
        ),
    ];
    for (field, days, max, limit_key) in bounds {
        if days > max {
            problems.push(
                origin.file,
                origin.key(field),
                format!("{days} days is above the operator's maximum of {max} ({limit_key})"),
            );
        }
    }
    if raw
        .cdr_days
        .is_some_and(|days| days != i64::from(CDR_RETENTION_DAYS))
    {
        problems.push(
            origin.file,
            origin.key("retention.cdr_days"),
            format!(
                "call records are kept {CDR_RETENTION_DAYS} days by law; this cannot be changed"
            ),
        );
    }
    Retention {
        recordings_days: raw.recordings_days,
        transcripts_days: raw.transcripts_days,
        cdr_days: CDR_RETENTION_DAYS,
    }
}

fn validate_transcription(
    raw: RawTranscription,
    retention: Option<&Retention>,
    recording: Option<&Recording>,
    origin: Origin<'_>,
    context: &TenantContext<'_>,
    problems: &mut Problems,
) -> Transcription {
    let file = origin.file;
    for (index, name) in raw.objections.iter().enumerate() {
        if !context.subprocessor_names.contains(name) {
            problems.push(
                file,
                origin.key(&format!("transcription.objections[{index}]")),
                format!("`{name}` is not a declared sub-processor"),
            );
        }
    }
    if let Some(name) = raw.provider.as_deref() {
        if !context
            .provider_names
            .iter()
            .any(|declared| declared == name)
        {
            problems.push(
                file,
                origin.key("transcription.provider"),
                format!("`{name}` is not a declared provider"),
            );
        }
    }
    if raw.enabled {
        if raw.provider.is_none() {
            problems.push(
                file,
                origin.key("transcription.provider"),
                "required when enabled = true",
            );
        }
        if retention.is_some_and(|r| r.transcripts_days == 0) {
            problems.push(
                file,
                origin.key("transcription.enabled"),
                "retention.transcripts_days = 0 means do not transcribe",
            );
        }
        let records_nothing = retention.is_some_and(|r| r.recordings_days == 0)
            || recording.is_some_and(|r| r.policy == RecordingPolicy::None);
        if recording.is_some_and(|r| r.format == AudioFormat::Opus) {
            problems.push(
                file,
                origin.key("transcription.enabled"),
                "only WAV recordings are transcribed; set recording.format = \"wav\"",
            );
        }
        if records_nothing {
            problems.push(
                file,
                origin.key("transcription.enabled"),
                "nothing is recorded, so there is nothing to transcribe",
            );
        }
    }
    Transcription {
        enabled: raw.enabled,
        provider: raw.provider,
        objections: raw.objections,
        accepted_transfer_mechanisms: raw.accepted_transfer_mechanisms,
    }
}

/// The residency rule (DPA 8.2) and objections (DPA 4.4) as the files state
/// them: warnings, not errors. The gate checks them again before each send
/// (with the objections made through the admin API and the notice period),
/// and refuses; a reload that makes a provider unacceptable must take
/// effect, not be refused and leave the permissive configuration running.
pub(crate) fn transcription_warnings(
    tenant: &Tenant,
    providers: &[Provider],
    subprocessors: &[Subprocessor],
) -> Vec<String> {
    let transcription = &tenant.transcription;
    if !transcription.enabled {
        return Vec::new();
    }
    let Some(provider) = transcription
        .provider
        .as_deref()
        .and_then(|name| providers.iter().find(|p| p.name == name))
    else {
        return Vec::new();
    };
    let name = &provider.subprocessor;
    let Some(subprocessor) = subprocessors.iter().find(|s| &s.name == name) else {
        return Vec::new();
    };
    let tenant_id = &tenant.id;
    if transcription.objections.contains(name) {
        vec![format!(
            "tenant {tenant_id}: provider `{}` sends audio to `{name}`, to which the tenant \
             objected; nothing will be sent",
            provider.name
        )]
    } else if !subprocessor.country.is_eea()
        && (subprocessor.transfer_mechanism == TransferMechanism::None
            || !transcription
                .accepted_transfer_mechanisms
                .contains(&subprocessor.transfer_mechanism))
    {
        vec![format!(
            "tenant {tenant_id}: provider `{}` sends audio to `{name}` in {} (outside the \
             EEA) under `{}`, which its accepted_transfer_mechanisms does not include; \
             nothing will be sent",
            provider.name, subprocessor.country, subprocessor.transfer_mechanism
        )]
    } else {
        Vec::new()
    }
}

fn validate_keys(
    raw: RawTenantKeys,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> Option<TenantKeys> {
    match (raw.mode, raw.public_key) {
        (KeyModeName::Managed, None) => Some(TenantKeys::Managed),
        (KeyModeName::Managed, Some(_)) => {
            problems.push(
                origin.file,
                origin.key("keys.public_key"),
                "only used with mode = \"client\"",
            );
            None
        }
        (KeyModeName::Client, None) => {
            problems.push(
                origin.file,
                origin.key("keys.public_key"),
                "required with mode = \"client\"",
            );
            None
        }
        (KeyModeName::Client, Some(text)) => match decode_public_key(&text) {
            Some(public_key) => Some(TenantKeys::Client { public_key }),
            None => {
                problems.push(
                    origin.file,
                    origin.key("keys.public_key"),
                    "must be a 32-byte X25519 public key in standard base64",
                );
                None
            }
        },
    }
}

fn decode_public_key(text: &str) -> Option<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    let key: [u8; 32] = bytes.try_into().ok()?;
    // The all-zero point is not a usable public key.
    (key != [0u8; 32]).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_public_keys() {
        let encoded = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(decode_public_key(&encoded), Some([7u8; 32]));
        let zero = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        assert_eq!(decode_public_key(&zero), None);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        assert_eq!(decode_public_key(&short), None);
        assert_eq!(decode_public_key("not base64!"), None);
    }
}
