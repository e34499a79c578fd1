//! What a tenant sets through the admin API rather than its file: its
//! retention (within the operator's `[limits]`) and its objections to
//! sub-processors. Kept in `[admin] tenant_settings_file`, one JSON object
//! per tenant; the retention sweeper and the sub-processor gate read it at
//! each use, and a value there wins over the tenant file's.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use greffier_vault::TenantId;
use serde::{Deserialize, Serialize};

use super::{Actor, Operation, Ops};
use crate::config::{Config, Retention};

/// One tenant's settings from the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recordings_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcripts_days: Option<u32>,
    /// `None`: the tenant never set them here (its file's apply alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objections: Option<Vec<String>>,
}

/// Every tenant's settings, by tenant id.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SettingsFile {
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantSettings>,
}

impl SettingsFile {
    /// Reads the file; a missing one holds no settings.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a tenant settings file", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::api::credentials::write_private(path, &serde_json::to_vec_pretty(self)?)
    }

    pub fn of(&self, tenant: &str) -> TenantSettings {
        self.tenants.get(tenant).cloned().unwrap_or_default()
    }
}

/// A tenant's retention in force: its file's, overridden by what it set
/// through the API (the sweeper then bounds it by `[limits]` again).
pub fn effective_retention(
    config: &Config,
    settings: &SettingsFile,
    tenant: &str,
) -> Option<Retention> {
    let mut retention = config.tenant(tenant)?.retention;
    let set = settings.of(tenant);
    if let Some(days) = set.recordings_days {
        retention.recordings_days = days;
    }
    if let Some(days) = set.transcripts_days {
        retention.transcripts_days = days;
    }
    Some(retention)
}

impl Ops {
    fn settings_path(&self) -> &Path {
        &self.config.admin.tenant_settings_file
    }

    /// The settings file as it is now.
    pub fn settings(&self) -> anyhow::Result<SettingsFile> {
        SettingsFile::load(self.settings_path())
    }

    /// The tenant's retention in force.
    pub async fn retention(&self, actor: &Actor, tenant: &TenantId) -> anyhow::Result<Retention> {
        self.permit(actor, Operation::ReadRetention)?;
        effective_retention(&self.config, &self.settings()?, tenant.as_str())
            .context("the tenant is not configured")
    }

    /// Sets the tenant's retention, within the operator's limits.
    pub async fn set_retention(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        recordings_days: u32,
        transcripts_days: u32,
    ) -> anyhow::Result<()> {
        self.permit(actor, Operation::SetRetention)?;
        let limits = &self.config.limits;
        if recordings_days > limits.max_recordings_days {
            bail!(
                "recordings_days: at most {} days on this node",
                limits.max_recordings_days
            );
        }
        if transcripts_days > limits.max_transcripts_days {
            bail!(
                "transcripts_days: at most {} days on this node",
                limits.max_transcripts_days
            );
        }
        let mut file = self.settings()?;
        let entry = file.tenants.entry(tenant.as_str().to_string()).or_default();
        entry.recordings_days = Some(recordings_days);
        entry.transcripts_days = Some(transcripts_days);
        file.save(self.settings_path())
    }

    /// The tenant's objections: its file's and those it made here.
    pub async fn objections(
        &self,
        actor: &Actor,
        tenant: &TenantId,
    ) -> anyhow::Result<Vec<String>> {
        self.permit(actor, Operation::ReadObjections)?;
        Ok(self.objections_in_force(tenant.as_str()))
    }

    pub(crate) fn objections_in_force(&self, tenant: &str) -> Vec<String> {
        let mut names = self
            .config
            .tenant(tenant)
            .map(|tenant| tenant.transcription.objections.clone())
            .unwrap_or_default();
        if let Ok(file) = self.settings() {
            names.extend(file.of(tenant).objections.unwrap_or_default());
        }
        names.sort();
        names.dedup();
        names
    }

    /// Replaces the objections the tenant made through the API. Only
    /// declared sub-processors can be objected to.
    pub async fn set_objections(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        names: Vec<String>,
    ) -> anyhow::Result<Vec<String>> {
        self.permit(actor, Operation::SetObjections)?;
        if let Some(unknown) = names
            .iter()
            .find(|name| self.config.subprocessor(name).is_none())
        {
            bail!("`{unknown}` is not a declared sub-processor");
        }
        let mut file = self.settings()?;
        let entry = file.tenants.entry(tenant.as_str().to_string()).or_default();
        entry.objections = Some(names);
        file.save(self.settings_path())?;
        Ok(self.objections_in_force(tenant.as_str()))
    }
}
