//! `[[subprocessors]]` and `[[providers]]`: who may receive data, and the
//! transcription services that send it to them.

use std::fmt;

use serde::Deserialize;

use super::country::CountryCode;
use super::date::Date;
use super::net::HttpEndpoint;
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
    let country = CountryCode::parse(&raw.country);
    match country {
        None => problems.push(
            file,
            origin.key("country"),
            format!(
                "`{}` is not an ISO 3166-1 alpha-2 code in upper case, such as `FR`",
                raw.country
            ),
        ),
        Some(country) if !country.is_eea() && raw.transfer_mechanism == TransferMechanism::None => {
            problems.push(
                file,
                origin.key("transfer_mechanism"),
                format!(
                    "{country} is outside the EEA: a transfer mechanism such as `scc` is required"
                ),
            );
        }
        Some(_) => {}
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProviderKind {
    Pocketsphinx,
    Http,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    name: String,
    kind: ProviderKind,
    subprocessor: Option<String>,
    endpoint: Option<String>,
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

/// A transcription provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub backend: ProviderBackend,
    /// The declared sub-processor that receives the audio; `None` only for a
    /// provider running on this node.
    pub subprocessor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderBackend {
    /// PocketSphinx on this node: no audio leaves it.
    Pocketsphinx,
    /// A remote service over HTTP(S).
    Http { endpoint: HttpEndpoint },
}

pub(crate) fn validate_provider(
    raw: RawProvider,
    origin: Origin<'_>,
    declared_subprocessors: &[String],
    problems: &mut Problems,
) -> Option<Provider> {
    let file = origin.file;
    let before = problems.len();
    if raw.name.trim().is_empty() {
        problems.push(file, origin.key("name"), "must not be empty");
    }
    if let Some(name) = &raw.subprocessor {
        if !declared_subprocessors.contains(name) {
            problems.push(
                file,
                origin.key("subprocessor"),
                format!("`{name}` is not a declared sub-processor"),
            );
        }
    }
    let backend = match raw.kind {
        ProviderKind::Pocketsphinx => {
            if raw.endpoint.is_some() {
                problems.push(
                    file,
                    origin.key("endpoint"),
                    "a local provider has no endpoint",
                );
            }
            Some(ProviderBackend::Pocketsphinx)
        }
        ProviderKind::Http => {
            if raw.subprocessor.is_none() {
                problems.push(
                    file,
                    origin.key("subprocessor"),
                    "a remote provider must name the sub-processor that receives the audio",
                );
            }
            http_backend(raw.endpoint.as_deref(), origin, problems)
        }
    };
    if problems.len() != before {
        return None;
    }
    Some(Provider {
        name: raw.name,
        backend: backend?,
        subprocessor: raw.subprocessor,
    })
}

fn http_backend(
    endpoint: Option<&str>,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> Option<ProviderBackend> {
    let key = origin.key("endpoint");
    let Some(text) = endpoint else {
        problems.push(origin.file, key, "required when kind = \"http\"");
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
        Ok(endpoint) => Some(ProviderBackend::Http { endpoint }),
        Err(reason) => {
            problems.push(origin.file, key, reason);
            None
        }
    }
}
