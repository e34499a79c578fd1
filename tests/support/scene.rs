//! The usual topology: one gateway on 127.0.0.1 serving one tenant whose PBX
//! is at 127.0.0.1 and whose carrier is at 127.0.0.2; 127.0.0.3 is nobody's.
//! Any 127.x address works on Linux loopback, so each role has its own
//! source address, as it would on a real network.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::config::{GatewayConfig, TenantSpec};
use super::gateway::Gateway;
use super::ports::free_port;
use super::sipp::SippCommand;
use super::sockets::Transport;

pub(crate) const PBX_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
pub(crate) const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub(crate) const STRANGER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
pub(crate) const TENANT_ID: &str = "acme";
/// The tenant's own number: calls to it come in from the carrier.
pub(crate) const TENANT_NUMBER: &str = "+33123456789";
/// A number the tenant's PBX dials out to.
pub(crate) const DIALLED_NUMBER: &str = "+33198765432";

pub(crate) struct Scene {
    pub(crate) transport: Transport,
    /// Where the PBX answers (the tenant's `pbx.uri`).
    pub(crate) pbx: SocketAddr,
    /// Where the carrier answers (the tenant's `carrier.uri`).
    pub(crate) carrier: SocketAddr,
    pub(crate) gateway: Gateway,
    work_dir: PathBuf,
}

impl Scene {
    /// Starts a gateway for the tenant, with its peers' listening ports
    /// reserved; every sipp of the scene speaks `transport`.
    pub(crate) fn start(transport: Transport) -> Self {
        Self::start_with_node_settings(transport, "")
    }

    /// As [`Self::start`], with extra `key = value` lines in `[node]`.
    pub(crate) fn start_with_node_settings(transport: Transport, node_settings: &str) -> Self {
        super::sipp::require_sipp();
        let pbx = SocketAddr::from((PBX_IP, free_port(PBX_IP)));
        let carrier = SocketAddr::from((CARRIER_IP, free_port(CARRIER_IP)));
        let mut tenant = TenantSpec::new(TENANT_ID, TENANT_NUMBER, pbx, carrier);
        if transport == Transport::Tcp {
            // A next hop is reached over the transport its URI names (UDP
            // without one), whatever the call came in on.
            tenant.pbx_uri = format!("sip:{pbx};transport=tcp");
            tenant.carrier_uri = format!("sip:{carrier};transport=tcp");
        }
        let config = GatewayConfig::write(vec![tenant]).with_node_settings(node_settings);
        let work_dir = config.run_dir();
        let gateway = Gateway::start(config);
        Self {
            transport,
            pbx,
            carrier,
            gateway,
            work_dir,
        }
    }

    pub(crate) fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    fn sipp(&self, name: &str, scenario: &Path, ip: Ipv4Addr) -> SippCommand {
        SippCommand::new(name, scenario, &self.work_dir, self.transport, ip)
    }

    /// The tenant's PBX placing a call out through the gateway.
    pub(crate) fn pbx_caller(&self, name: &str, scenario: &Path) -> SippCommand {
        self.sipp(name, scenario, PBX_IP)
            .local_port(self.pbx.port())
            .remote(self.gateway.sip_addr())
            .service(DIALLED_NUMBER)
    }

    /// The carrier delivering a call to the tenant's number.
    pub(crate) fn carrier_caller(&self, name: &str, scenario: &Path) -> SippCommand {
        self.sipp(name, scenario, CARRIER_IP)
            .local_port(self.carrier.port())
            .remote(self.gateway.sip_addr())
            .service(TENANT_NUMBER)
    }

    /// A sender that belongs to no tenant.
    pub(crate) fn stranger_caller(&self, name: &str, scenario: &Path) -> SippCommand {
        self.sipp(name, scenario, STRANGER_IP)
            .remote(self.gateway.sip_addr())
            .service(TENANT_NUMBER)
    }

    /// The carrier answering at the tenant's `carrier.uri` (one call unless
    /// told otherwise); `spawn` it before the caller runs.
    pub(crate) fn carrier_answerer(&self, name: &str, scenario: &Path) -> SippCommand {
        self.sipp(name, scenario, CARRIER_IP)
            .local_port(self.carrier.port())
    }

    /// The PBX answering at the tenant's `pbx.uri`.
    pub(crate) fn pbx_answerer(&self, name: &str, scenario: &Path) -> SippCommand {
        self.sipp(name, scenario, PBX_IP)
            .local_port(self.pbx.port())
    }
}
