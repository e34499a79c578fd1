//! `greffier run`: binds the SIP listeners and the admin endpoint, then serves
//! calls with the configuration in force, reloading tenants as their files change.

mod router;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use greffier_sip::proxy::{Proxy, ProxyConfig, RateLimit};
use greffier_sip::transaction::Timers;
use greffier_sip::transport::SipServer;

use crate::admin;
use crate::config::{ConfigWatcher, NodeConfig};

pub use router::TenantRouter;

fn rate_limit(node: &NodeConfig) -> RateLimit {
    RateLimit {
        per_second: f64::from(node.new_dialogs_per_source_per_sec),
        burst: f64::from(node.new_dialogs_burst.max(1)),
    }
}

/// Runs the gateway until the process is stopped.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let (config, _watcher) = ConfigWatcher::spawn(config_path)
        .map_err(|problems| anyhow::anyhow!("the configuration has problems:\n{problems}"))?;
    let initial = config.borrow().clone();
    let listeners: Vec<_> = initial
        .node
        .sip_listen
        .iter()
        .map(|listen| (listen.transport, listen.addr))
        .collect();
    let metrics = admin::install_metrics()?;
    let server = SipServer::bind(&listeners).await?;
    let bound = server.local_addrs();
    let admin_addr = admin::serve(initial.node.admin_listen, metrics)
        .await
        .with_context(|| {
            format!(
                "cannot serve the admin API on {}",
                initial.node.admin_listen
            )
        })?;
    let proxy = Proxy::new(ProxyConfig {
        listeners: bound.clone(),
        rate_limit: rate_limit(&initial.node),
        timers: Timers::default(),
    });
    let sip = bound
        .iter()
        .map(|(transport, addr)| format!("{transport}:{addr}"))
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(node = %initial.node.id, %sip, admin = %admin_addr, tenants = initial.tenants().len(), "greffier started");
    // Tests and supervisors wait for this exact line on stdout.
    println!("greffier ready sip={sip} admin={admin_addr}");
    let (_commands, command_queue) = tokio::sync::mpsc::channel(1024);
    server
        .run(proxy, TenantRouter::new(config), command_queue)
        .await;
    // The server only returns when its channels closed: nothing left to serve.
    tokio::time::sleep(Duration::ZERO).await;
    Ok(())
}
