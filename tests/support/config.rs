//! A temporary tree for one gateway, all on free loopback ports:
//! - `config/`: the main file, one file per tenant and the master key, laid
//!   out as `examples/local.toml` is, with test ports;
//! - `data/`: the object store, the spool and the keyring the node writes;
//! - `run/`: the gateway's log and the sipp traces.
//!
//! The gateway watches its configuration directory, so nothing else is
//! written there while it runs.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::ports::{free_port, free_udp_block};

const GATEWAY_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// RTP/RTCP ports for 50 two-leg calls.
const MEDIA_PORTS: u16 = 200;

/// One tenant: who its PBX and carrier are, and where calls to each go.
#[derive(Debug, Clone)]
pub(crate) struct TenantSpec {
    pub(crate) id: String,
    pub(crate) numbers: Vec<String>,
    pub(crate) pbx_sources: Vec<String>,
    pub(crate) pbx_uri: String,
    pub(crate) carrier_sources: Vec<String>,
    pub(crate) carrier_uri: String,
    pub(crate) recording_policy: String,
    /// `recording.on_anchor_failure`; the default when `None`.
    pub(crate) on_anchor_failure: Option<String>,
    /// More TOML at the end of the tenant file (extra sections such as
    /// `[media]`).
    pub(crate) extra_toml: String,
    /// The tenant's `[transcription]`; `None`: it does not transcribe.
    pub(crate) transcription: Option<TenantTranscription>,
}

/// A tenant's `[transcription]`: the provider it chose, the sub-processors
/// it objected to, and the transfer mechanisms it accepts.
#[derive(Debug, Clone)]
pub(crate) struct TenantTranscription {
    pub(crate) provider: String,
    pub(crate) objections: Vec<String>,
    /// `"scc"`, `"adequacy"`.
    pub(crate) accepted_transfer_mechanisms: Vec<String>,
}

impl TenantTranscription {
    /// Transcribes through `provider`, with no objection and no transfer
    /// mechanism accepted.
    pub(crate) fn through(provider: &str) -> Self {
        Self {
            provider: provider.to_string(),
            objections: Vec::new(),
            accepted_transfer_mechanisms: Vec::new(),
        }
    }

    fn to_toml(&self) -> String {
        format!(
            "enabled = true\nprovider = {provider:?}\nobjections = [{objections}]\naccepted_transfer_mechanisms = [{mechanisms}]\n",
            provider = self.provider,
            objections = toml_list(&self.objections),
            mechanisms = toml_list(&self.accepted_transfer_mechanisms),
        )
    }
}

/// `["a", "b"]` without its brackets.
fn toml_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("{item:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TenantSpec {
    /// A tenant whose PBX sends from `pbx_ip` and answers at `pbx`, and whose
    /// carrier sends from `carrier_ip` and answers at `carrier`; nothing is
    /// recorded.
    pub(crate) fn new(id: &str, number: &str, pbx: SocketAddr, carrier: SocketAddr) -> Self {
        Self {
            id: id.to_string(),
            numbers: vec![number.to_string()],
            pbx_sources: vec![format!("{}/32", pbx.ip())],
            pbx_uri: format!("sip:{pbx}"),
            carrier_sources: vec![format!("{}/32", carrier.ip())],
            carrier_uri: format!("sip:{carrier}"),
            recording_policy: "none".to_string(),
            on_anchor_failure: None,
            extra_toml: String::new(),
            transcription: None,
        }
    }

    fn to_toml(&self) -> String {
        let list = |items: &[String]| toml_list(items);
        format!(
            r#"id = "{id}"
numbers = [{numbers}]

[pbx]
sources = [{pbx_sources}]
uri = "{pbx_uri}"

[carrier]
sources = [{carrier_sources}]
uri = "{carrier_uri}"

[recording]
policy = "{policy}"
{on_anchor_failure}
[retention]
recordings_days = 30
transcripts_days = 30

[transcription]
{transcription}
[keys]
mode = "managed"
{extra}"#,
            extra = self.extra_toml,
            transcription = self.transcription.as_ref().map_or_else(
                || "enabled = false\n".to_string(),
                TenantTranscription::to_toml
            ),
            id = self.id,
            numbers = list(&self.numbers),
            pbx_sources = list(&self.pbx_sources),
            pbx_uri = self.pbx_uri,
            carrier_sources = list(&self.carrier_sources),
            carrier_uri = self.carrier_uri,
            policy = self.recording_policy,
            on_anchor_failure = self
                .on_anchor_failure
                .as_ref()
                .map(|value| format!("on_anchor_failure = \"{value}\"\n"))
                .unwrap_or_default(),
        )
    }
}

/// An S3-compatible store for `[storage]`, reached over plain HTTP with
/// path-style requests.
#[derive(Debug, Clone)]
pub(crate) struct S3StorageSpec {
    pub(crate) endpoint: String,
    pub(crate) region: String,
    pub(crate) bucket: String,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
}

/// The written configuration; the directory goes away with it.
#[derive(Debug)]
pub(crate) struct GatewayConfig {
    dir: TempDir,
    path: PathBuf,
    pub(crate) sip_port: u16,
    pub(crate) admin_port: u16,
    pub(crate) media_first_port: u16,
    /// How many media ports the node has, from `media_first_port` on (even: RTP
    /// and RTCP pairs; each call takes two pairs).
    pub(crate) media_port_count: u16,
    pub(crate) tenants: Vec<TenantSpec>,
    /// `None`: a local store in `data/store`.
    pub(crate) s3: Option<S3StorageSpec>,
    /// Extra `key = value` lines of `[node]`.
    node_settings: String,
    /// Extra sections of the main file (`[admin]`, `[[subprocessors]]`).
    extra_sections: String,
    /// `Some(NAME)`: the master key comes from environment variable NAME
    /// (`keys.master_key_env`) instead of `config/master.key`.
    master_key_env: Option<String>,
    /// `node.id`.
    node_id: String,
    /// `Some(DIR)`: the local store and the keyring are another node's, in
    /// its data directory DIR (two nodes of one cluster).
    shared_data: Option<PathBuf>,
}

impl GatewayConfig {
    /// Writes the tree for a gateway on free ports of 127.0.0.1 serving
    /// `tenants`, over UDP and TCP.
    pub(crate) fn write(tenants: Vec<TenantSpec>) -> Self {
        Self::write_with_store(tenants, None)
    }

    /// As [`Self::write`], with more `[node]` keys (one per line).
    pub(crate) fn write_with_node(tenants: Vec<TenantSpec>, node_settings: &str) -> Self {
        Self::write_with_store(tenants, None).with_node_settings(node_settings)
    }

    /// As [`Self::write`], with recordings stored in `s3`; its credentials
    /// go to `data/s3.credentials`.
    pub(crate) fn write_s3(tenants: Vec<TenantSpec>, s3: S3StorageSpec) -> Self {
        Self::write_with_store(tenants, Some(s3))
    }

    fn write_with_store(tenants: Vec<TenantSpec>, s3: Option<S3StorageSpec>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("greffier-e2e-")
            .tempdir()
            .expect("create a temporary directory");
        let sip_port = free_port(GATEWAY_IP);
        let admin_port = free_port(GATEWAY_IP);
        let media_first_port = free_udp_block(GATEWAY_IP, MEDIA_PORTS);
        let config = Self {
            path: dir.path().join("config/greffier.toml"),
            dir,
            sip_port,
            admin_port,
            media_first_port,
            media_port_count: MEDIA_PORTS,
            tenants,
            s3,
            node_settings: String::new(),
            extra_sections: String::new(),
            master_key_env: None,
            node_id: "e2e".to_string(),
            shared_data: None,
        };
        config.write_files();
        config
    }

    /// Another node of the same cluster: its own tree, ports, spool and log,
    /// with `node_id`, the same tenants, `[node]` keys and sections, and this
    /// node's local store and keyring (as docs/configuration.md asks of a
    /// cluster: one store, one keyring).
    pub(crate) fn another_node(&self, node_id: &str) -> Self {
        assert!(self.s3.is_none(), "nodes sharing a local store");
        let mut other = Self::write_with_store(self.tenants.clone(), None);
        other.node_id = node_id.to_string();
        other.node_settings.clone_from(&self.node_settings);
        other.extra_sections.clone_from(&self.extra_sections);
        other.shared_data = Some(self.shared_data.clone().unwrap_or_else(|| self.data_dir()));
        other.write_files();
        other
    }

    /// Adds `key = value` lines to `[node]` (before the gateway starts).
    pub(crate) fn with_node_settings(mut self, lines: &str) -> Self {
        self.node_settings.push_str(lines);
        self.node_settings.push('\n');
        self.write_files();
        self
    }

    /// Adds whole sections to the main file (before the gateway starts).
    pub(crate) fn with_sections(mut self, text: &str) -> Self {
        self.extra_sections.push_str(text);
        self.extra_sections.push('\n');
        self.write_files();
        self
    }

    /// Takes the master key from environment variable `name` (before the
    /// gateway starts); the test sets the variable for the process.
    pub(crate) fn with_master_key_env(mut self, name: &str) -> Self {
        self.master_key_env = Some(name.to_string());
        self.write_files();
        self
    }

    /// The master key the tree's keyring is sealed with (64 hex digits).
    pub(crate) fn master_key_hex() -> String {
        "5a".repeat(32)
    }

    fn write_files(&self) {
        let root = self.dir.path();
        for sub in ["config/tenants", "data/store", "data/spool", "run"] {
            std::fs::create_dir_all(root.join(sub)).expect("create a test directory");
        }
        let master_key = root.join("config/master.key");
        std::fs::write(&master_key, format!("{}\n", Self::master_key_hex()))
            .expect("write the master key");
        std::fs::set_permissions(&master_key, std::fs::Permissions::from_mode(0o600))
            .expect("restrict the master key");
        if let Some(s3) = &self.s3 {
            let credentials = self.data_dir().join("s3.credentials");
            std::fs::write(
                &credentials,
                format!(
                    "aws_access_key_id = {}\naws_secret_access_key = {}\n",
                    s3.access_key, s3.secret_key
                ),
            )
            .expect("write the S3 credentials");
            std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600))
                .expect("restrict the S3 credentials");
        }
        std::fs::write(&self.path, self.main_toml()).expect("write the main configuration");
        for tenant in &self.tenants {
            let file = root
                .join("config/tenants")
                .join(format!("{}.toml", tenant.id));
            std::fs::write(file, tenant.to_toml()).expect("write a tenant file");
        }
    }

    /// Adds a tenant file to the tree, as an operator would while the gateway
    /// runs: written aside, then renamed into place, so that the gateway's
    /// watcher sees one whole file.
    pub(crate) fn add_tenant(&mut self, tenant: TenantSpec) {
        let dir = self.dir.path().join("config/tenants");
        let hidden = dir.join(format!(".{}.toml.new", tenant.id));
        std::fs::write(&hidden, tenant.to_toml()).expect("write a tenant file");
        std::fs::rename(&hidden, dir.join(format!("{}.toml", tenant.id)))
            .expect("move the tenant file into place");
        self.tenants.push(tenant);
    }

    fn main_toml(&self) -> String {
        let media_last = self.media_first_port + self.media_port_count - 1;
        format!(
            r#"[node]
id = "{node_id}"
sip_listen = ["udp:{ip}:{sip}", "tcp:{ip}:{sip}"]
media_address = "{ip}"
media_ports = "{media_first}-{media_last}"
admin_listen = "{ip}:{admin}"
tenants_dir = "tenants"
new_dialogs_per_source_per_sec = 200
new_dialogs_burst = 400
{node_settings}
{storage}
[keys]
keyring = "{keyring}"
{master_key}
# A fresh node for every test: its first start creates the keyring.
create_if_missing = true
{extra_sections}
"#,
            extra_sections = self.extra_sections,
            node_id = self.node_id,
            keyring = match &self.shared_data {
                Some(dir) => dir.join("keyring.grk").display().to_string(),
                None => "../data/keyring.grk".to_string(),
            },
            ip = GATEWAY_IP,
            sip = self.sip_port,
            admin = self.admin_port,
            media_first = self.media_first_port,
            storage = self.storage_toml(),
            node_settings = self.node_settings,
            master_key = match &self.master_key_env {
                Some(name) => format!("master_key_env = \"{name}\""),
                None => "master_key_file = \"master.key\"".to_string(),
            },
        )
    }

    fn storage_toml(&self) -> String {
        match &self.s3 {
            None => format!(
                r#"[storage]
kind = "local"
path = "{store}"
spool_dir = "../data/spool"
"#,
                store = match &self.shared_data {
                    Some(dir) => dir.join("store").display().to_string(),
                    None => "../data/store".to_string(),
                }
            ),
            Some(s3) => format!(
                r#"[storage]
kind = "s3"
endpoint = "{endpoint}"
region = "{region}"
bucket = "{bucket}"
path_style = true
allow_http = true
credentials_file = "../data/s3.credentials"
spool_dir = "../data/spool"
"#,
                endpoint = s3.endpoint,
                region = s3.region,
                bucket = s3.bucket,
            ),
        }
    }

    /// Shrinks the node's media port range to its first `count` ports (a whole
    /// number of pairs), rewriting the main file; before the gateway starts.
    pub(crate) fn limit_media_ports(&mut self, count: u16) {
        assert!(
            count > 0 && count.is_multiple_of(2) && count <= MEDIA_PORTS,
            "whole RTP/RTCP pairs within the reserved block"
        );
        self.media_port_count = count;
        std::fs::write(&self.path, self.main_toml()).expect("write the main configuration");
    }

    /// Leaves the tree (and the logs and traces written into it) on disk,
    /// for a failed test to be looked into.
    pub(crate) fn keep(&mut self) -> &Path {
        self.dir.disable_cleanup(true);
        self.dir.path()
    }

    /// The node's data: `store/` (a local store), `spool/`, the keyring.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Where the gateway's log and the sipp runs go.
    pub(crate) fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The SIP address (the same port for UDP and TCP).
    pub(crate) fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from((GATEWAY_IP, self.sip_port))
    }

    /// The relay's port range (`node.media_ports`).
    pub(crate) fn media_ports(&self) -> std::ops::RangeInclusive<u16> {
        self.media_first_port..=self.media_first_port + MEDIA_PORTS - 1
    }

    pub(crate) fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from((GATEWAY_IP, self.admin_port))
    }

    /// Every file of the tree, for a failure report.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("# {}\n{}", self.path.display(), self.main_toml());
        for tenant in &self.tenants {
            let _ = write!(text, "\n# tenants/{}.toml\n{}", tenant.id, tenant.to_toml());
        }
        text
    }
}
