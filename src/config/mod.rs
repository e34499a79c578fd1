//! Configuration by file: the node's main TOML file and one TOML file per
//! tenant, validated as a whole, plus live reloading of the parts that can
//! change without a restart. `docs/configuration.md` describes every key.

mod admin;
mod country;
mod date;
mod edge;
mod jobs;
mod keys;
mod load;
mod log;
mod net;
mod node;
mod paths;
mod problems;
mod registry;
mod reload;
mod schema;
mod sip_uri;
mod storage;
mod sweep;
mod tenant;
mod watcher;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use greffier_media::relay::LatchRules;
use ipnet::IpNet;

pub use admin::{admin_warnings, AdminConfig, AdminTls, Argon2Params};
pub use country::{CountryCode, EEA_COUNTRIES};
pub use date::Date;
pub use edge::EdgeConfig;
pub use greffier_types::{mask_number, mask_numbers_in_text, NumberError, E164};
pub use jobs::JobsConfig;
pub use log::{LogConfig, LogFormat};

/// The old path of [`E164::normalise`], as text: what a SIP user part or a
/// command line gives, as a canonical number when it can be one.
pub fn normalize_number(user_part: &str) -> Option<String> {
    E164::normalise(user_part).map(String::from)
}
pub use keys::{KeysConfig, MasterKeySource};
pub use net::{HttpEndpoint, PortRange, SipListen, Transport};
pub use node::{Limits, MediaPolicy, NodeConfig};
pub use problems::{ConfigErrors, ConfigProblem};
pub use registry::{Provider, ProviderKey, ProviderKind, Subprocessor, TransferMechanism};
pub use reload::{ReloadOutcome, ReloadSummary};
pub use sip_uri::{NextHopError, SipHost, SipScheme, SipUri, SipUriError, UriTransport};
pub use storage::{S3Config, S3Credentials, StorageBackend, StorageConfig};
pub use sweep::SweepConfig;
pub use tenant::{
    AnchorFailurePolicy, AudioFormat, Peer, Recording, RecordingPolicy, Retention, Tenant,
    TenantKeys, TenantMedia, Transcription, CDR_RETENTION_DAYS,
};
pub use watcher::{ConfigWatcher, Prepare, WatchOptions};

/// Which of a tenant's peers a source address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceRole {
    /// The tenant's PBX: its calls go out to the carrier.
    Pbx,
    /// The tenant's carrier: its calls come in to the PBX.
    Carrier,
}

impl SourceRole {
    /// The tenant file section describing this peer.
    pub fn section(&self) -> &'static str {
        match self {
            Self::Pbx => "pbx",
            Self::Carrier => "carrier",
        }
    }
}

impl Tenant {
    pub fn peer(&self, role: SourceRole) -> &Peer {
        match role {
            SourceRole::Pbx => &self.pbx,
            SourceRole::Carrier => &self.carrier,
        }
    }
}

/// A validated configuration: the main file and every tenant file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The main file, absolute.
    pub path: PathBuf,
    pub node: NodeConfig,
    /// `[admin]`: the admin listener's names, credentials and TLS.
    pub admin: AdminConfig,
    pub limits: Limits,
    /// `[retention]`: when the gateway sweeps expired data.
    pub sweep: SweepConfig,
    /// `[transcription]`: how this node works through transcription jobs.
    pub jobs: JobsConfig,
    /// `[log]`: the log's format and level.
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub keys: KeysConfig,
    pub subprocessors: Vec<Subprocessor>,
    pub providers: Vec<Provider>,
    tenants: Vec<Tenant>,
    sources: Vec<(IpNet, usize, SourceRole)>,
    numbers: HashMap<E164, usize>,
}

impl Config {
    /// Loads the main file and every `*.toml` file of its tenants directory,
    /// and validates them; the error lists every problem found.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        load::load(
            path,
            &load::LoadOptions {
                tenants_dir: None,
                lookup: &paths::process_env,
            },
        )
    }

    /// Validates configuration text without reading anything: the main file
    /// as if at `path` (absolute; relative paths in it are resolved from its
    /// directory), the tenant files as `(path, text)` in name order, and
    /// `lookup` for environment variables. What [`Config::load`] does once
    /// the files are read.
    pub fn parse(
        path: &Path,
        main_text: &str,
        tenant_texts: &[(PathBuf, String)],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        schema::parse(path, main_text, tenant_texts, lookup)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        path: PathBuf,
        node: NodeConfig,
        admin: AdminConfig,
        limits: Limits,
        sweep: SweepConfig,
        jobs: JobsConfig,
        log: LogConfig,
        storage: StorageConfig,
        keys: KeysConfig,
        subprocessors: Vec<Subprocessor>,
        providers: Vec<Provider>,
        tenants: Vec<Tenant>,
    ) -> Self {
        let mut sources = Vec::new();
        let mut numbers = HashMap::new();
        for (index, tenant) in tenants.iter().enumerate() {
            for role in [SourceRole::Pbx, SourceRole::Carrier] {
                for net in &tenant.peer(role).sources {
                    sources.push((*net, index, role));
                }
            }
            for number in &tenant.numbers {
                numbers.insert(number.clone(), index);
            }
        }
        Self {
            path,
            node,
            admin,
            limits,
            sweep,
            jobs,
            log,
            storage,
            keys,
            subprocessors,
            providers,
            tenants,
            sources,
            numbers,
        }
    }

    /// What is allowed but unwise (printed by `check-config`, logged at start).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = admin_warnings(self.node.admin_listen, &self.admin);
        for tenant in &self.tenants {
            warnings.extend(tenant::transcription_warnings(
                tenant,
                &self.providers,
                &self.subprocessors,
            ));
        }
        warnings
    }

    /// Tenants in the order of their file names.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|tenant| tenant.id == id)
    }

    /// The tenant, and the role, whose PBX or carrier sources contain `ip`.
    /// Sources never overlap, so there is at most one.
    pub fn tenant_for_source(&self, ip: IpAddr) -> Option<(&Tenant, SourceRole)> {
        let ip = net::canonical_ip(ip);
        self.sources
            .iter()
            .find(|(net, _, _)| net.contains(&ip))
            .and_then(|(_, index, role)| Some((self.tenants.get(*index)?, *role)))
    }

    /// The tenant owning a number: E.164, or the same digits without `+`
    /// (see [`E164::normalise`]).
    pub fn tenant_for_number(&self, e164: &str) -> Option<&Tenant> {
        let number = E164::normalise(e164)?;
        self.numbers
            .get(&number)
            .and_then(|index| self.tenants.get(*index))
    }

    /// How the call legs of `tenant_id` pick their media source: the tenant's
    /// `[media]` setting, else the node's.
    pub fn latch_rules(&self, tenant_id: &str) -> LatchRules {
        let policy = &self.node.media_policy;
        let strict_source = self
            .tenant(tenant_id)
            .and_then(|tenant| tenant.media.strict_source)
            .unwrap_or(policy.strict_source);
        LatchRules {
            strict_source,
            learning_packets: policy.learning_packets,
        }
    }

    pub fn subprocessor(&self, name: &str) -> Option<&Subprocessor> {
        self.subprocessors.iter().find(|s| s.name == name)
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }
}
