//! `[[subprocessors]]` and `[[providers]]`: who may receive data, and the
//! transcription services that send it to them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::country::CountryCode;
use super::date::Date;
use super::net::HttpEndpoint;
use super::paths::{is_env_name, PathContext};
use super::problems::{Origin, Problems};
use super::schema::Named;

/// Legal basis for a transfer of personal data (GDPR chapter V).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMechanism {
    /// Inside the EEA: no transfer mechanism is needed.
    None,
    /// Standard contractual clauses.
    Scc,
    /// A European Commission adequacy decision for the country.
    Adequacy,
}

impl fmt::Display for TransferMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Scc => "scc",
            Self::Adequacy => "adequacy",
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSubprocessor {
    name: String,
    purpose: String,
    country: String,
    transfer_mechanism: TransferMechanism,
    /// A string `"2025-01-15"` or a TOML date `2025-01-15`.
    announced: toml::Value,
}

impl Named for RawSubprocessor {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Subprocessor {
    fn name(&self) -> &str {
        &self.name
    }
}

/// A declared sub-processor (DPA article 4, appendix B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subprocessor {
    pub name: String,
    pub purpose: String,
    pub country: CountryCode,
    pub transfer_mechanism: TransferMechanism,
    /// When the clients were told; sending starts ten working days later.
    pub announced: Date,
}

pub(crate) fn validate_subprocessor(
    raw: RawSubprocessor,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> Option<Subprocessor> {
    let file = origin.file;
    let before = problems.len();
    if raw.name.trim().is_empty() {
        problems.push(file, origin.key("name"), "must not be empty");
    }
    if raw.purpose.trim().is_empty() {
        problems.push(file, origin.key("purpose"), "must not be empty");
    }
    // Outside the EEA without a transfer mechanism is declared, not refused:
    // the gate refuses to send there, and a reload that reclassifies a
    // sub-processor must take effect rather than leave the old, permissive
    // configuration running (`Config::warnings` names it).
    let country = CountryCode::parse(&raw.country);
    if country.is_none() {
        problems.push(
            file,
            origin.key("country"),
            format!(
                "`{}` is not an ISO 3166-1 alpha-2 code in upper case, such as `FR`",
                raw.country
            ),
        );
    }
    let announced = parse_announced(&raw.announced);
    if announced.is_none() {
        problems.push(
            file,
            origin.key("announced"),
            "must be a date written YYYY-MM-DD",
        );
    }
    if problems.len() != before {
        return None;
    }
    Some(Subprocessor {
        name: raw.name,
        purpose: raw.purpose,
        country: country?,
        transfer_mechanism: raw.transfer_mechanism,
        announced: announced?,
    })
}

fn parse_announced(value: &toml::Value) -> Option<Date> {
    match value {
        toml::Value::String(text) => Date::parse(text),
        toml::Value::Datetime(datetime) if datetime.time.is_none() && datetime.offset.is_none() => {
            let date = datetime.date?;
            Date::new(date.year, date.month, date.day)
        }
        _ => None,
    }
}

/// The API dialect a provider speaks (docs/transcription.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible `/v1/audio/transcriptions`: OpenAI, Scaleway,
    /// greffier's own engine and other self-hosted servers.
    OpenAi,
    /// Mistral AI (Voxtral).
    Mistral,
    /// Gladia: upload, start a job, poll it.
    Gladia,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Mistral => "mistral",
            ProviderKind::Gladia => "gladia",
        }
    }
}

/// A request longer than this is given up (and retried later).
const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_PROVIDER_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    name: String,
    kind: ProviderKind,
    subprocessor: Option<String>,
    endpoint: Option<String>,
    model: Option<String>,
    language: Option<String>,
    key_env: Option<String>,
    key_file: Option<String>,
    timeout_secs: Option<u64>,
}

impl Named for RawProvider {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Provider {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Where a provider's API key is read, each time a job sends (so a rotated
/// key takes effect without a reload). Never in the configuration itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKey {
    /// The service needs no key (a self-hosted engine on loopback).
    None,
    /// An environment variable of the gateway's process.
    Env(String),
    /// A file holding the key (an owner-only file).
    File(PathBuf),
}

/// A transcription provider: a remote service that receives the audio and
/// the sub-processor it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    /// The base address; the dialect adds its path.
    pub endpoint: HttpEndpoint,
    /// The model asked for (`whisper-large-v3`, `voxtral-mini-2507`); empty
    /// for Gladia, which chooses its own.
    pub model: String,
    /// The language spoken, when known (`fr`); else the provider detects it.
    pub language: Option<String>,
    pub key: ProviderKey,
    /// Each HTTP request's limit.
    pub timeout: Duration,
    /// The declared sub-processor that receives the audio.
    pub subprocessor: String,
}

pub(crate) fn validate_provider(
    raw: RawProvider,
    origin: Origin<'_>,
    declared_subprocessors: &[String],
    paths: &PathContext<'_>,
    problems: &mut Problems,
) -> Option<Provider> {
    let file = origin.file;
    let before = problems.len();
    if raw.name.trim().is_empty() {
        problems.push(file, origin.key("name"), "must not be empty");
    }
    match &raw.subprocessor {
        Some(name) if !declared_subprocessors.contains(name) => problems.push(
            file,
            origin.key("subprocessor"),
            format!("`{name}` is not a declared sub-processor"),
        ),
        Some(_) => {}
        None => problems.push(
            file,
            origin.key("subprocessor"),
            "required: the sub-processor that receives the audio (one in France for an \
             engine the operator hosts)",
        ),
    }
    let endpoint = http_endpoint(raw.endpoint.as_deref(), origin, problems);
    let model = raw.model.unwrap_or_default();
    if model.trim().is_empty() && raw.kind != ProviderKind::Gladia {
        problems.push(
            file,
            origin.key("model"),
            format!("required when kind = \"{}\"", raw.kind.as_str()),
        );
    }
    if let Some(language) = &raw.language {
        let plain =
            (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_lowercase());
        if !plain {
            problems.push(
                file,
                origin.key("language"),
                "an ISO 639-1 code in lower case, such as `fr`",
            );
        }
    }
    let key = match (raw.key_env, raw.key_file) {
        (Some(_), Some(_)) => {
            problems.push(
                file,
                origin.key("key_file"),
                "give `key_env` or `key_file`, not both",
            );
            None
        }
        (Some(name), None) if !is_env_name(&name) => {
            problems.push(
                file,
                origin.key("key_env"),
                "an environment variable name, such as `SCALEWAY_API_KEY`",
            );
            None
        }
        (Some(name), None) => Some(ProviderKey::Env(name)),
        (None, Some(text)) => match paths.resolve(&text) {
            Ok(path) => Some(ProviderKey::File(path)),
            Err(reason) => {
                problems.push(file, origin.key("key_file"), reason);
                None
            }
        },
        (None, None) => Some(ProviderKey::None),
    };
    let timeout = raw
        .timeout_secs
        .map_or(DEFAULT_PROVIDER_TIMEOUT, Duration::from_secs);
    if timeout.is_zero() || timeout > MAX_PROVIDER_TIMEOUT {
        problems.push(
            file,
            origin.key("timeout_secs"),
            "must be between 1 and 3600",
        );
    }
    if problems.len() != before {
        return None;
    }
    Some(Provider {
        name: raw.name,
        kind: raw.kind,
        endpoint: endpoint?,
        model,
        language: raw.language,
        key: key?,
        timeout,
        subprocessor: raw.subprocessor?,
    })
}

fn http_endpoint(
    endpoint: Option<&str>,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> Option<HttpEndpoint> {
    let key = origin.key("endpoint");
    let Some(text) = endpoint else {
        problems.push(origin.file, key, "required: the provider's base address");
        return None;
    };
    match HttpEndpoint::parse(text) {
        Ok(endpoint) if !endpoint.secure && !endpoint.is_loopback() => {
            problems.push(
                origin.file,
                key,
                "audio may only travel over plain http to this machine; use https",
            );
            None
        }
        Ok(endpoint) => Some(endpoint),
        Err(reason) => {
            problems.push(origin.file, key, reason);
            None
        }
    }
}
