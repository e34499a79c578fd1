//! The admin API (`/v1/…`): the HTTP face of the operations layer, for the
//! clients' console and scripts. Every request is authenticated (bearer
//! token or console session, [`auth`]), scoped to the caller's tenant
//! (another tenant's resources answer 404, as missing ones do) and checked
//! against the role table of [`crate::ops::permitted`].
//!
//! The whole admin listener answers only to its configured names (`Host`,
//! against DNS rebinding), refuses state changes from another origin, and
//! sends no CORS headers.

pub mod auth;
pub mod credentials;
pub mod guard;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod sessions;
pub mod subjects;
pub mod tls;
pub mod transcripts;

use std::sync::Arc;
use std::time::Duration;

use greffier_vault::audit::AuditLog;
use greffier_vault::store::VaultStore;
use tokio::sync::watch;

use crate::calls::CallDirectory;
use crate::config::Config;
use crate::ops::calls::LiveCalls;
use crate::ops::{Ops, SystemClock};

use auth::CredentialCache;
use sessions::Sessions;

/// What every request works with.
pub struct Api {
    pub config: watch::Receiver<Arc<Config>>,
    pub store: VaultStore,
    pub audit: Arc<AuditLog>,
    pub calls: CallDirectory,
    /// Pause and resume, role-checked and audited by the operations layer.
    pub live: LiveCalls,
    /// Data-subject export jobs.
    pub exports: subjects::SubjectExports,
    pub credentials: Arc<CredentialCache>,
    pub sessions: Sessions,
}

impl Api {
    pub fn new(
        config: watch::Receiver<Arc<Config>>,
        store: VaultStore,
        audit: Arc<AuditLog>,
        calls: CallDirectory,
    ) -> Arc<Self> {
        let current = config.borrow().clone();
        let admin = &current.admin;
        Arc::new(Api {
            credentials: Arc::new(CredentialCache::new(admin.credentials_file.clone())),
            sessions: Sessions::new(
                Duration::from_secs(u64::from(admin.session_hours) * 3600),
                admin.tls.is_some(),
            ),
            live: LiveCalls::new(calls.clone(), audit.clone()),
            exports: subjects::SubjectExports::default(),
            config,
            store,
            audit,
            calls,
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// The operations layer over the configuration in force, with the
    /// keyring as it is on disk now (keys may have been rotated by the CLI).
    pub fn ops(&self) -> anyhow::Result<Ops> {
        let config = self.config().as_ref().clone();
        let keyring = crate::vault_setup::open_existing_keyring(&config.keys)?;
        Ok(Ops::with_audit(
            config,
            self.store.clone(),
            keyring,
            self.audit.clone(),
            Box::new(SystemClock),
        ))
    }
}
