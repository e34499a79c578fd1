//! `greffier run`: opens the vault, recovers what an earlier run left in the spool,
//! binds the SIP listeners and the admin endpoint, then serves calls with the
//! configuration in force, reloading tenants as their files change.

pub(crate) mod descriptors;
mod policy;
mod router;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use greffier_media::ports::PortPool;
use greffier_sip::proxy::{Proxy, ProxyConfig, RateLimit};
use greffier_sip::transaction::Timers;
use greffier_sip::transport::SipServer;
use greffier_vault::audit::{AuditLog, AuditRecord, Outcome};
use greffier_vault::spool::{UploadOptions, UploadQueue};
use greffier_vault::store::RecordId;
use greffier_vault::{MasterKey, TenantId};

use crate::admin;
use crate::calls::{CallDirectory, Calls};
use crate::config::{Config, ConfigWatcher, NodeConfig, WatchOptions};
use crate::vault_setup;

pub use policy::GatewayPolicy;
pub use router::{NotServed, TenantRouter};

/// Orders from call tasks (media timeouts) to the proxy task.
const COMMAND_QUEUE: usize = 1024;

fn rate_limit(node: &NodeConfig) -> RateLimit {
    RateLimit {
        per_second: f64::from(node.new_dialogs_per_source_per_sec),
        burst: f64::from(node.new_dialogs_burst.max(1)),
    }
}

/// Runs the gateway until the process is stopped. `master` is the master key when
/// it was read before the runtime started (from the environment).
pub async fn run(config_path: &Path, master: Option<MasterKey>) -> anyhow::Result<()> {
    // Caught from the first instant: a supervisor's SIGTERM during start-up
    // must stop the node cleanly, not kill it before its handler exists.
    let stop = stop_requested();
    // Storage and keys are read once: a reload never changes them.
    let first = Config::load(config_path)
        .map_err(|problems| anyhow::anyhow!("the configuration has problems:\n{problems}"))?;
    for warning in first.warnings() {
        tracing::warn!("{warning}");
    }
    let vault = vault_setup::open_with(&first, master).await?;
    // The watcher loads the configuration again and gives every tenant in it
    // its keys before publishing it, now and after each reload.
    let watcher = ConfigWatcher::spawn_prepared(
        config_path,
        WatchOptions::default(),
        Some(vault_setup::tenant_keys_preparer(vault.keyring.clone())),
    )
    .map_err(|problems| anyhow::anyhow!("the configuration has problems:\n{problems}"))?;
    let (config, _watcher) = (watcher.config, watcher.task);
    let initial = config.borrow().clone();
    let upload = UploadOptions::default();
    let recovered = vault
        .spool
        .recover(&vault.store, vault.keys().as_ref(), &upload)
        .await
        .context("cannot recover the spool")?;
    if !recovered.closed.is_empty() || !recovered.unrecoverable.is_empty() {
        tracing::warn!(
            closed = recovered.closed.len(),
            unrecoverable = recovered.unrecoverable.len(),
            "recordings interrupted by the last stop were closed as incomplete"
        );
    }
    audit_recovered(&vault.audit, &recovered.closed).await;
    UploadQueue::new(vault.spool.clone(), vault.store.clone(), upload).spawn();
    let audit = vault.audit.clone();
    audit.clone().spawn_sealer(AUDIT_SEAL_CHECK);
    crate::ops::retention::spawn_sweeper(config.clone(), vault.store.clone(), audit.clone());
    crate::transcription::worker::spawn_worker(
        config.clone(),
        vault.store.clone(),
        vault_setup::node_id(&initial.node.id)?,
        vault.keys(),
        audit.clone(),
    );
    let vault = Arc::new(vault);

    let node = &initial.node;
    let listeners: Vec<_> = node
        .sip_listen
        .iter()
        .map(|listen| (listen.transport, listen.addr))
        .collect();
    let metrics = admin::install_metrics()?;
    let mut tcp_limits = node.edge.tcp_limits();
    let descriptors = descriptors::plan_for(node.media_ports.len(), tcp_limits.max_connections);
    descriptors::report(&descriptors);
    // After the metrics recorder: the pool registers its gauges on creation.
    let pool = PortPool::with_max_pairs(
        node.media_address,
        node.media_ports.first..=node.media_ports.last,
        descriptors.media_pairs(),
    )
    .context("node.media_ports")?;
    let mut server = SipServer::bind(&listeners).await?;
    tcp_limits.max_connections = usize::try_from(descriptors.tcp).unwrap_or(usize::MAX);
    server.limit_tcp(tcp_limits);
    let bound = server.local_addrs();
    let directory = CallDirectory::default();
    let api = crate::api::Api::new(
        config.clone(),
        vault.store.clone(),
        audit.clone(),
        directory.clone(),
    );
    let admin_addr = admin::serve(node.admin_listen, metrics, api)
        .await
        .with_context(|| format!("cannot serve the admin API on {}", node.admin_listen))?;
    let proxy = Proxy::new(ProxyConfig {
        listeners: bound.clone(),
        rate_limit: rate_limit(node),
        timers: Timers::default(),
        admission: node.edge.admission(),
    });
    let sip = bound
        .iter()
        .map(|(transport, addr)| format!("{transport}:{addr}"))
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(node = %node.id, %sip, admin = %admin_addr, tenants = initial.tenants().len(), "greffier started");
    // Tests and supervisors wait for this exact line on stdout.
    println!("greffier ready sip={sip} admin={admin_addr}");

    let not_served = NotServed::default();
    check_keyring(&vault.keyring, &not_served);
    spawn_keyring_watch(vault.keyring.clone(), not_served.clone());
    let (commands, command_queue) = tokio::sync::mpsc::channel(COMMAND_QUEUE);
    let policy = GatewayPolicy {
        router: TenantRouter::new(config.clone(), not_served),
        calls: Calls::new(config, Arc::new(pool), vault, commands, directory),
    };
    tokio::select! {
        () = server.run(proxy, policy, command_queue) => {}
        () = stop => tracing::info!("stopping: sealing the audit log"),
    }
    // A clean stop puts every audit entry of the node into the store.
    audit
        .seal()
        .await
        .context("the audit log could not be sealed")?;
    Ok(())
}

/// How often the node checks whether its audit tail is due for sealing.
const AUDIT_SEAL_CHECK: Duration = Duration::from_secs(10);

/// Recordings closed by the spool's recovery were recorded too: each gets
/// its `recorded` entry.
async fn audit_recovered(audit: &AuditLog, closed: &[(TenantId, RecordId)]) {
    for (tenant, id) in closed {
        let entry = AuditRecord::recorded(tenant.clone(), *id, Outcome::Ok);
        if let Err(error) = audit.append(&entry, chrono::Utc::now()).await {
            tracing::error!(%error, "the audit entry of a recovered recording could not be written");
        }
    }
}

/// How often the node reads the keyring again, to learn of a tenant
/// terminated (or keys shredded) by the CLI while it runs.
const KEYRING_CHECK: Duration = Duration::from_secs(2);

/// Reads the keyring every [`KEYRING_CHECK`] and refuses the calls of the
/// tenants it no longer seals for (terminating or shredded).
fn spawn_keyring_watch(
    keyring: Arc<std::sync::RwLock<greffier_vault::Keyring>>,
    not_served: NotServed,
) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(KEYRING_CHECK).await;
            check_keyring(&keyring, &not_served);
        }
    });
}

/// Reloads the keyring and brings `not_served` in line with it, saying
/// which tenants stopped being served.
fn check_keyring(keyring: &std::sync::RwLock<greffier_vault::Keyring>, not_served: &NotServed) {
    let statuses = match keyring.write() {
        Ok(mut keyring) => match keyring.reload() {
            Ok(()) => keyring.tenants(),
            Err(error) => {
                tracing::error!(%error, "the keyring cannot be read again; tenants served as before");
                return;
            }
        },
        Err(_) => return,
    };
    let refused: std::collections::BTreeSet<String> = statuses
        .into_iter()
        .filter(|(_, status)| !status.is_active())
        .map(|(tenant, _)| tenant.as_str().to_owned())
        .collect();
    let Ok(mut current) = not_served.write() else {
        return;
    };
    for tenant in refused.difference(&current) {
        tracing::warn!(
            %tenant,
            "tenant terminated (keys being shredded or shredded): its calls are refused with 403"
        );
    }
    *current = refused;
}

/// SIGTERM (a supervisor) or SIGINT (Ctrl-C): both are caught as soon as
/// this is called, and the future ends when one arrives.
fn stop_requested() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (terminate, interrupt) => {
                let error = terminate.err().or(interrupt.err());
                tracing::warn!(error = ?error, "SIGTERM or SIGINT cannot be caught; only Ctrl-C stops cleanly");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
