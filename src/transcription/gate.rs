//! The sub-processor gate (DPA 4.3, 4.4, 8.2, appendix B): may this tenant's
//! audio be sent to its provider today?
//!
//! Checked against the configuration in force when a job is about to send.
//! The load-time checks of the tenant file catch most mistakes early, but the
//! gate is what protects the data: objections also arrive through the admin
//! API, and the notice period depends on the day.

use std::fmt;

use chrono::NaiveDate;

use super::notice;
use crate::config::{Config, Provider, Subprocessor, TransferMechanism};

/// What the gate lets through: the provider and the sub-processor that will
/// receive the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed<'a> {
    pub provider: &'a Provider,
    pub subprocessor: &'a Subprocessor,
}

/// Why nothing is sent. Names only configuration entries, never personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The tenant is not (or no longer) configured.
    UnknownTenant,
    /// The tenant does not transcribe (`enabled = false` or
    /// `transcripts_days = 0`).
    NotEnabled,
    /// The tenant names a provider the configuration no longer declares.
    UnknownProvider { provider: String },
    /// The provider names a sub-processor the registry no longer declares.
    UnknownSubprocessor { subprocessor: String },
    /// Outside the EEA under a transfer mechanism the tenant does not accept.
    TransferNotAccepted {
        subprocessor: String,
        country: String,
        mechanism: TransferMechanism,
    },
    /// The tenant objected to this sub-processor.
    Objected { subprocessor: String },
    /// The settings the tenant made through the admin API (its objections
    /// among them) cannot be read: nothing is sent until they can.
    SettingsUnreadable,
    /// Announced too recently: sending may start on `from`.
    NoticeRunning {
        subprocessor: String,
        from: NaiveDate,
    },
}

impl Refusal {
    /// When the same question may get another answer without anyone changing
    /// the configuration: the end of a notice period. Other refusals go away
    /// only by a configuration change, which the caller learns by reload.
    pub fn retry_on(&self) -> Option<NaiveDate> {
        match self {
            Refusal::NoticeRunning { from, .. } => Some(*from),
            _ => None,
        }
    }

    /// A short stable code for audit entries and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownTenant => "unknown_tenant",
            Refusal::NotEnabled => "not_enabled",
            Refusal::UnknownProvider { .. } => "unknown_provider",
            Refusal::UnknownSubprocessor { .. } => "unknown_subprocessor",
            Refusal::TransferNotAccepted { .. } => "transfer_not_accepted",
            Refusal::Objected { .. } => "objected",
            Refusal::NoticeRunning { .. } => "notice_running",
            Refusal::SettingsUnreadable => "settings_unreadable",
        }
    }

    /// The sub-processor the refusal is about, when it is about one.
    pub fn subprocessor(&self) -> Option<&str> {
        match self {
            Refusal::UnknownSubprocessor { subprocessor }
            | Refusal::TransferNotAccepted { subprocessor, .. }
            | Refusal::Objected { subprocessor }
            | Refusal::NoticeRunning { subprocessor, .. } => Some(subprocessor),
            Refusal::UnknownTenant
            | Refusal::NotEnabled
            | Refusal::UnknownProvider { .. }
            | Refusal::SettingsUnreadable => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnknownTenant => f.write_str("the tenant is not configured"),
            Refusal::NotEnabled => f.write_str("the tenant does not transcribe"),
            Refusal::UnknownProvider { provider } => {
                write!(f, "provider `{provider}` is not declared")
            }
            Refusal::UnknownSubprocessor { subprocessor } => {
                write!(f, "sub-processor `{subprocessor}` is not in the registry")
            }
            Refusal::TransferNotAccepted {
                subprocessor,
                country,
                mechanism,
            } => write!(
                f,
                "sub-processor `{subprocessor}` is in {country}, outside the EEA, under \
                 `{mechanism}`, which the tenant does not accept"
            ),
            Refusal::Objected { subprocessor } => {
                write!(f, "the tenant objected to sub-processor `{subprocessor}`")
            }
            Refusal::SettingsUnreadable => f.write_str(
                "the tenant's settings (objections made through the API) cannot be read",
            ),
            Refusal::NoticeRunning { subprocessor, from } => write!(
                f,
                "sub-processor `{subprocessor}` is in its notice period of ten working \
                 days; sending may start on {from}"
            ),
        }
    }
}

/// Decides whether `tenant`'s audio may go to its provider on `today`.
/// `stored_objections` are the objections the tenant made through the admin
/// API, in addition to those of its file.
pub fn check<'a>(
    config: &'a Config,
    tenant: &str,
    stored_objections: &[String],
    today: NaiveDate,
) -> Result<Allowed<'a>, Refusal> {
    let tenant = config.tenant(tenant).ok_or(Refusal::UnknownTenant)?;
    let transcription = &tenant.transcription;
    if !transcription.enabled || tenant.retention.transcripts_days == 0 {
        return Err(Refusal::NotEnabled);
    }
    let provider_name = transcription
        .provider
        .as_deref()
        .ok_or(Refusal::NotEnabled)?;
    let provider = config
        .provider(provider_name)
        .ok_or_else(|| Refusal::UnknownProvider {
            provider: provider_name.to_owned(),
        })?;
    let subprocessor_name = provider.subprocessor.as_str();
    let subprocessor =
        config
            .subprocessor(subprocessor_name)
            .ok_or_else(|| Refusal::UnknownSubprocessor {
                subprocessor: subprocessor_name.to_owned(),
            })?;
    let objected = transcription
        .objections
        .iter()
        .chain(stored_objections)
        .any(|name| name == subprocessor_name);
    if objected {
        return Err(Refusal::Objected {
            subprocessor: subprocessor_name.to_owned(),
        });
    }
    let transfer_accepted = subprocessor.country.is_eea()
        || (subprocessor.transfer_mechanism != TransferMechanism::None
            && transcription
                .accepted_transfer_mechanisms
                .contains(&subprocessor.transfer_mechanism));
    if !transfer_accepted {
        return Err(Refusal::TransferNotAccepted {
            subprocessor: subprocessor_name.to_owned(),
            country: subprocessor.country.to_string(),
            mechanism: subprocessor.transfer_mechanism,
        });
    }
    let announced = NaiveDate::from_ymd_opt(
        i32::from(subprocessor.announced.year()),
        u32::from(subprocessor.announced.month()),
        u32::from(subprocessor.announced.day()),
    );
    // A date the configuration accepted is always a valid chrono date; if it
    // were not, refusing is the safe answer.
    let from = announced
        .and_then(notice::notice_ends)
        .unwrap_or(NaiveDate::MAX);
    if today < from {
        return Err(Refusal::NoticeRunning {
            subprocessor: subprocessor_name.to_owned(),
            from,
        });
    }
    Ok(Allowed {
        provider,
        subprocessor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = r#"
[node]
id = "gate-test"
sip_listen = ["udp:127.0.0.1:5060"]
media_address = "127.0.0.1"
media_ports = "30000-30099"
admin_listen = "127.0.0.1:8080"
tenants_dir = "tenants"

[storage]
kind = "local"
path = "data"
spool_dir = "spool"

[keys]
keyring = "keyring.grk"
master_key_file = "master.key"

[[subprocessors]]
name = "ParisScribe"
purpose = "transcription"
country = "FR"
transfer_mechanism = "none"
announced = "2026-11-16"

[[subprocessors]]
name = "FarScribe"
purpose = "transcription"
country = "US"
transfer_mechanism = "scc"
announced = "2024-02-01"

[[subprocessors]]
name = "NoClauses"
purpose = "transcription"
country = "US"
transfer_mechanism = "none"
announced = "2024-02-01"

[[providers]]
name = "paris"
kind = "openai"
subprocessor = "ParisScribe"
endpoint = "https://paris.example.net"
model = "whisper-large-v3"

[[providers]]
name = "far"
kind = "mistral"
subprocessor = "FarScribe"
endpoint = "https://far.example.com"
model = "voxtral-mini-2507"

[[providers]]
name = "lawless"
kind = "gladia"
subprocessor = "NoClauses"
endpoint = "https://lawless.example.com"
"#;

    fn tenant(provider: &str, transcripts_days: u32, accepted: &str) -> String {
        format!(
            r#"
id = "acme"
numbers = ["+33199000001"]

[pbx]
sources = ["127.0.0.1/32"]
uri = "sip:127.0.0.1:5080"

[carrier]
sources = ["127.0.0.2/32"]
uri = "sip:127.0.0.1:5070"

[recording]
policy = "all"

[retention]
recordings_days = 30
transcripts_days = {transcripts_days}

[transcription]
enabled = {enabled}
provider = "{provider}"
accepted_transfer_mechanisms = [{accepted}]
"#,
            enabled = transcripts_days > 0,
        )
    }

    /// The configuration of MAIN and one tenant file, through the pure
    /// schema: no file is written.
    fn load(tenant_file: &str) -> Config {
        let root = std::path::Path::new("/etc/greffier");
        Config::parse(
            &root.join("greffier.toml"),
            MAIN,
            &[(root.join("tenants/acme.toml"), tenant_file.to_owned())],
            &|_| None,
        )
        .unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_new_subprocessor_waits_for_its_notice_period() {
        let config = load(&tenant("paris", 30, ""));
        // Announced Monday 2026-11-16: ten working days end on Monday the 30th.
        let refusal = check(&config, "acme", &[], day("2026-11-30")).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::NoticeRunning {
                subprocessor: "ParisScribe".into(),
                from: day("2026-12-01"),
            }
        );
        assert_eq!(refusal.retry_on(), Some(day("2026-12-01")));
        let allowed = check(&config, "acme", &[], day("2026-12-01")).unwrap();
        assert_eq!(allowed.provider.name, "paris");
        assert_eq!(allowed.subprocessor.name, "ParisScribe");
    }

    #[test]
    fn an_objection_made_through_the_api_stops_the_next_send() {
        let config = load(&tenant("far", 30, "\"scc\""));
        assert!(check(&config, "acme", &[], day("2026-12-04")).is_ok());
        let refusal = check(
            &config,
            "acme",
            &["FarScribe".to_owned()],
            day("2026-12-04"),
        )
        .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::Objected {
                subprocessor: "FarScribe".into()
            }
        );
        assert_eq!(refusal.retry_on(), None);
        // An objection to someone else changes nothing.
        assert!(check(
            &config,
            "acme",
            &["ParisScribe".to_owned()],
            day("2026-12-04")
        )
        .is_ok());
    }

    #[test]
    fn outside_the_eea_needs_a_mechanism_the_tenant_accepts() {
        // Loadable (a reload that reclassifies a sub-processor must take
        // effect), warned about, and refused at send time.
        for (provider, accepted) in [("lawless", "\"scc\", \"adequacy\""), ("far", "")] {
            let config = load(&tenant(provider, 30, accepted));
            assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
            let refusal = check(&config, "acme", &[], day("2026-12-04")).unwrap_err();
            assert_eq!(refusal.code(), "transfer_not_accepted", "{provider}");
            assert_eq!(refusal.retry_on(), None);
        }
        let config = load(&tenant("far", 30, "\"scc\""));
        assert!(config.warnings().is_empty());
        assert!(check(&config, "acme", &[], day("2026-12-04")).is_ok());
    }

    #[test]
    fn a_tenant_that_does_not_transcribe_sends_nothing() {
        let config = load(&tenant("paris", 0, ""));
        assert_eq!(
            check(&config, "acme", &[], day("2027-01-01")),
            Err(Refusal::NotEnabled)
        );
        assert_eq!(
            check(&config, "other", &[], day("2027-01-01")),
            Err(Refusal::UnknownTenant)
        );
    }

    #[test]
    fn refusals_name_configuration_entries_only() {
        let refusal = Refusal::TransferNotAccepted {
            subprocessor: "FarScribe".into(),
            country: "US".into(),
            mechanism: TransferMechanism::Scc,
        };
        assert_eq!(refusal.code(), "transfer_not_accepted");
        assert_eq!(
            refusal.to_string(),
            "sub-processor `FarScribe` is in US, outside the EEA, under `scc`, which the \
             tenant does not accept"
        );
    }
}
