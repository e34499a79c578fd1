//! `[node]` and `[limits]`: this node's identity, sockets and operator bounds.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::edge::{validate_edge, EdgeConfig, RawEdge};
use super::net::{parse_cidr, PortRange, SipListen};
use super::paths::PathContext;
use super::problems::{Origin, Problems};
use greffier_media::relay::MediaDestinations;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    id: String,
    sip_listen: Vec<String>,
    media_address: String,
    media_ports: String,
    admin_listen: String,
    /// Listening on every address (0.0.0.0 or ::) is refused without it.
    #[serde(default)]
    admin_public: bool,
    #[serde(default = "default_rtp_timeout_secs")]
    rtp_timeout_secs: u64,
    #[serde(default = "default_dialog_rate")]
    new_dialogs_per_source_per_sec: u32,
    #[serde(default = "default_dialog_burst")]
    new_dialogs_burst: u32,
    #[serde(default = "default_tenants_dir")]
    tenants_dir: String,

    // Who may take a leg's media, and where media may go (docs/security.md).
    #[serde(default)]
    strict_source: bool,
    #[serde(default = "default_learning_packets")]
    rtp_learning_packets: u8,
    #[serde(default)]
    media_destinations: Option<Vec<String>>,
    // --- What peers may make the node hold (src/config/edge.rs).
    unknown_source: Option<String>,
    max_transactions: Option<u64>,
    max_dialogs: Option<u64>,
    tcp_max_connections: Option<u64>,
    tcp_max_connections_per_source: Option<u64>,
    tcp_idle_timeout_secs: Option<u64>,
    // --- end of the edge keys.
}

fn default_rtp_timeout_secs() -> u64 {
    30
}
fn default_dialog_rate() -> u32 {
    10
}
fn default_dialog_burst() -> u32 {
    20
}
fn default_tenants_dir() -> String {
    "tenants".to_string()
}
fn default_learning_packets() -> u8 {
    greffier_media::relay::DEFAULT_LEARNING_PACKETS
}

/// More packets than this before a NAT'd peer is heard would cut the start of
/// every such call (packets are 20 ms apart).
const MAX_LEARNING_PACKETS: u8 = 10;

/// The wildcard is a bind address, not one peers can reach: the gateway writes
/// its SIP address into Via and Record-Route, and its media address into SDP.
const UNSPECIFIED_SIP: &str = "a wildcard address (0.0.0.0 or ::) would be advertised in Via and \
     Record-Route, where peers cannot reach it; listen on the address peers send to";
const UNSPECIFIED_MEDIA: &str = "a wildcard address (0.0.0.0 or ::) would be written into SDP, \
     where peers cannot send media to it; give the address peers reach this node at";

/// Longest accepted RTP silence before a call's media is ended.
const MAX_RTP_TIMEOUT_SECS: u64 = 3600;

/// This node: identity, sockets, media ports, rate limits. Changing any of it
/// needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Node name, used in object keys (`audit/{node}/...`): a lowercase slug.
    pub id: String,
    pub sip_listen: Vec<SipListen>,
    /// Address written into rewritten SDP and bound by the RTP relay.
    pub media_address: IpAddr,
    pub media_ports: PortRange,
    pub admin_listen: SocketAddr,
    /// The operator means the admin listener to face every network.
    pub admin_public: bool,
    pub rtp_timeout: Duration,
    /// New dialogs (INVITEs outside a dialog) accepted per source address per
    /// second, with `new_dialogs_burst` tokens of slack.
    pub new_dialogs_per_source_per_sec: u32,
    pub new_dialogs_burst: u32,
    /// Absolute directory holding one `*.toml` file per tenant.
    pub tenants_dir: PathBuf,
    pub media_policy: MediaPolicy,
    /// What peers may make the node hold: unknown sources, table caps, TCP.
    pub edge: EdgeConfig,
}

/// Which sources a call leg accepts media from, and where media may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPolicy {
    /// Accept media from a leg's SDP address only; a tenant may say otherwise.
    pub strict_source: bool,
    /// Consecutive same-SSRC packets that let another source be learned.
    pub learning_packets: u8,
    /// The operator's list of networks media may go to; `None`: anywhere.
    /// Either way never to the relay's own ports, nor to loopback unless
    /// `media_address` is loopback.
    pub destinations: Option<Vec<IpNet>>,
}

impl NodeConfig {
    /// The destinations every relay of this node checks: the operator's list,
    /// minus the relay's own ports and the SIP listeners.
    pub fn media_destinations(&self) -> MediaDestinations {
        let relay_ports = self.media_ports.first..=self.media_ports.last;
        let mut destinations = MediaDestinations::for_node(self.media_address, relay_ports);
        if let Some(networks) = &self.media_policy.destinations {
            destinations = destinations.only(networks.clone());
        }
        self.sip_listen
            .iter()
            .fold(destinations, |destinations, listen| {
                destinations.refusing(listen.addr)
            })
    }
}

/// Validates `[node]`. The tenants directory also comes back on its own, so
/// that tenant files are still checked when another node key is wrong.
pub(crate) fn validate_node(
    raw: RawNode,
    origin: Origin<'_>,
    paths: &PathContext<'_>,
    problems: &mut Problems,
) -> (Option<NodeConfig>, Option<PathBuf>) {
    let before = problems.len();
    let file = origin.file;
    if let Err(reason) = check_slug(&raw.id) {
        problems.push(file, origin.key("id"), reason);
    }
    if raw.sip_listen.is_empty() {
        problems.push(
            file,
            origin.key("sip_listen"),
            "at least one listener is needed",
        );
    }
    let mut sip_listen = Vec::new();
    for (index, text) in raw.sip_listen.iter().enumerate() {
        let key = origin.key(&format!("sip_listen[{index}]"));
        match SipListen::parse(text) {
            Ok(listen) if listen.addr.ip().is_unspecified() => {
                problems.push(file, key, UNSPECIFIED_SIP);
            }
            Ok(listen) if sip_listen.contains(&listen) => {
                problems.push(file, key, format!("`{listen}` is listed twice"));
            }
            Ok(listen) => sip_listen.push(listen),
            Err(reason) => problems.push(file, key, reason),
        }
    }
    let media_address = raw.media_address.parse::<IpAddr>().map_err(|_| {
        problems.push(file, origin.key("media_address"), "not an IP address");
    });
    // --- Advertised addresses: never the wildcard.
    if media_address.is_ok_and(|ip| ip.is_unspecified()) {
        problems.push(file, origin.key("media_address"), UNSPECIFIED_MEDIA);
    }
    // --- end of the advertised addresses.
    let edge = validate_edge(
        RawEdge {
            unknown_source: raw.unknown_source.clone(),
            max_transactions: raw.max_transactions,
            max_dialogs: raw.max_dialogs,
            tcp_max_connections: raw.tcp_max_connections,
            tcp_max_connections_per_source: raw.tcp_max_connections_per_source,
            tcp_idle_timeout_secs: raw.tcp_idle_timeout_secs,
        },
        origin,
        problems,
    );
    let media_ports = PortRange::parse(&raw.media_ports)
        .map_err(|reason| problems.push(file, origin.key("media_ports"), reason));
    let admin_listen = raw.admin_listen.parse::<SocketAddr>().map_err(|_| {
        problems.push(
            file,
            origin.key("admin_listen"),
            "the address must be IP:PORT, with IPv6 in brackets",
        );
    });
    if let Ok(addr) = &admin_listen {
        if addr.ip().is_unspecified() && !raw.admin_public {
            problems.push(
                file,
                origin.key("admin_listen"),
                "the admin API would answer on every network (0.0.0.0 or ::); listen on a \
                 management address, or set admin_public = true with [admin] TLS",
            );
        }
    }
    if let Ok(range) = &media_ports {
        let mut taken: Vec<u16> = sip_listen.iter().map(|l| l.addr.port()).collect();
        taken.extend(admin_listen.iter().map(SocketAddr::port));
        if let Some(port) = taken.into_iter().find(|port| range.contains(*port)) {
            problems.push(
                file,
                origin.key("media_ports"),
                format!("the range {range} includes port {port}, used by a SIP or admin listener"),
            );
        }
    }
    if raw.rtp_timeout_secs == 0 || raw.rtp_timeout_secs > MAX_RTP_TIMEOUT_SECS {
        problems.push(
            file,
            origin.key("rtp_timeout_secs"),
            format!("must be from 1 to {MAX_RTP_TIMEOUT_SECS} seconds"),
        );
    }
    if raw.new_dialogs_per_source_per_sec == 0 {
        problems.push(
            file,
            origin.key("new_dialogs_per_source_per_sec"),
            "must be at least 1, or no call could ever start",
        );
    }
    if raw.new_dialogs_burst < raw.new_dialogs_per_source_per_sec {
        problems.push(
            file,
            origin.key("new_dialogs_burst"),
            "must be at least new_dialogs_per_source_per_sec",
        );
    }
    let tenants_dir = paths
        .resolve(&raw.tenants_dir)
        .map_err(|reason| problems.push(file, origin.key("tenants_dir"), reason));
    let tenants_dir = tenants_dir.ok();
    let media_policy = validate_media_policy(&raw, media_address.ok(), origin, problems);
    if problems.len() != before {
        return (None, tenants_dir);
    }
    let node = (|| {
        Some(NodeConfig {
            id: raw.id,
            sip_listen,
            media_address: media_address.ok()?,
            media_ports: media_ports.ok()?,
            admin_listen: admin_listen.ok()?,
            admin_public: raw.admin_public,
            rtp_timeout: Duration::from_secs(raw.rtp_timeout_secs),
            new_dialogs_per_source_per_sec: raw.new_dialogs_per_source_per_sec,
            new_dialogs_burst: raw.new_dialogs_burst,
            tenants_dir: tenants_dir.clone()?,
            media_policy: media_policy?,
            edge,
        })
    })();
    (node, tenants_dir)
}

fn validate_media_policy(
    raw: &RawNode,
    media_address: Option<IpAddr>,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> Option<MediaPolicy> {
    let before = problems.len();
    let file = origin.file;
    if !(1..=MAX_LEARNING_PACKETS).contains(&raw.rtp_learning_packets) {
        problems.push(
            file,
            origin.key("rtp_learning_packets"),
            format!("must be from 1 to {MAX_LEARNING_PACKETS} packets"),
        );
    }
    let destinations = raw.media_destinations.as_ref().map(|texts| {
        if texts.is_empty() {
            problems.push(
                file,
                origin.key("media_destinations"),
                "an empty list lets no media out; leave the key out to allow every address",
            );
        }
        let on_loopback = media_address.is_some_and(|ip| ip.to_canonical().is_loopback());
        let mut networks = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            let key = origin.key(&format!("media_destinations[{index}]"));
            match parse_cidr(text) {
                Ok(network) if !on_loopback && is_loopback_only(&network) => problems.push(
                    file,
                    key,
                    format!(
                        "{network} is loopback, which is never a media destination unless media_address is loopback"
                    ),
                ),
                Ok(network) => networks.push(network),
                Err(reason) => problems.push(file, key, reason),
            }
        }
        networks
    });
    (problems.len() == before).then_some(MediaPolicy {
        strict_source: raw.strict_source,
        learning_packets: raw.rtp_learning_packets,
        destinations,
    })
}

/// A network that holds only loopback addresses.
fn is_loopback_only(network: &IpNet) -> bool {
    network.network().is_loopback() && network.broadcast().is_loopback()
}

/// The one slug rule of `greffier-types` (node ids follow it as tenant ids do),
/// with the offending value quoted for the file's author.
pub(crate) fn check_slug(id: &str) -> Result<(), String> {
    greffier_types::check_slug(id).map_err(|invalid| slug_problem(id, invalid))
}

pub(crate) fn slug_problem(id: &str, invalid: greffier_types::InvalidSlug) -> String {
    format!("`{id}` {invalid}")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    #[serde(default = "default_max_days")]
    max_recordings_days: u32,
    #[serde(default = "default_max_days")]
    max_transcripts_days: u32,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_recordings_days: default_max_days(),
            max_transcripts_days: default_max_days(),
        }
    }
}

fn default_max_days() -> u32 {
    730
}

/// The operator's upper bounds on what tenants may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_recordings_days: u32,
    pub max_transcripts_days: u32,
}

pub(crate) fn validate_limits(
    raw: RawLimits,
    origin: Origin<'_>,
    problems: &mut Problems,
) -> Limits {
    // Ten years is far past any legal basis for keeping call content.
    const CEILING_DAYS: u32 = 3650;
    for (field, value) in [
        ("max_recordings_days", raw.max_recordings_days),
        ("max_transcripts_days", raw.max_transcripts_days),
    ] {
        if value > CEILING_DAYS {
            problems.push(
                origin.file,
                origin.key(field),
                format!("must be at most {CEILING_DAYS} days"),
            );
        }
    }
    Limits {
        max_recordings_days: raw.max_recordings_days,
        max_transcripts_days: raw.max_transcripts_days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(check_slug("demo").is_ok());
        assert!(check_slug("node-1").is_ok());
        for bad in ["", "Demo", "-a", "a-", "a_b", "a.b", "é", &"a".repeat(64)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
