//! Legal holds (DPA 8.3, 9): an authority or a court asks that a tenant's
//! data, one number's calls or one call be kept; the sweeper and subject
//! erasure (and later termination) skip what a hold protects, and audit
//! each skip.
//!
//! A hold is one object `tenants/{tenant}/holds/{hold id}.json`. What the
//! sweeper must read without the tenant's keys is in clear and says nothing
//! about a person: the target is a record id, a blind index (never the
//! number) or the whole tenant. The reason, free text the operator writes,
//! is sealed for the tenant as a `.grf` object embedded in hex.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::catalog::E164;
use greffier_vault::store::{BlindIndex, ObjectKey, RecordId};
use greffier_vault::Uuid;
use greffier_vault::{ObjectDecryptor, ObjectEncryptor, ObjectKind, ObjectParams, TenantId};
use serde::{Deserialize, Serialize};

use super::{Actor, Operation, Ops};

/// What a hold protects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldTarget {
    Tenant,
    Record(RecordId),
    Subject(BlindIndex),
}

impl HoldTarget {
    fn to_text(&self) -> String {
        match self {
            HoldTarget::Tenant => "tenant".to_owned(),
            HoldTarget::Record(id) => format!("record:{id}"),
            HoldTarget::Subject(index) => format!("subject:{}", index.as_str()),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        if text == "tenant" {
            return Some(HoldTarget::Tenant);
        }
        if let Some(id) = text.strip_prefix("record:") {
            return id.parse().ok().map(HoldTarget::Record);
        }
        let index = text.strip_prefix("subject:")?;
        BlindIndex::parse(index).ok().map(HoldTarget::Subject)
    }
}

/// A legal hold as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub id: Uuid,
    pub tenant: TenantId,
    pub target: HoldTarget,
    pub created: DateTime<Utc>,
    /// Last day held (UTC), included; `None`: until released.
    pub until: Option<NaiveDate>,
    /// The reason, sealed for the tenant.
    sealed_reason: Vec<u8>,
}

impl Hold {
    /// Whether the hold protects anything at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now.date_naive() <= until)
    }
}

#[derive(Serialize, Deserialize)]
struct StoredHold {
    v: u32,
    id: Uuid,
    tenant: String,
    target: String,
    created: String,
    until: Option<NaiveDate>,
    reason: String,
}

impl Hold {
    fn to_json(&self) -> Vec<u8> {
        let stored = StoredHold {
            v: 1,
            id: self.id,
            tenant: self.tenant.as_str().to_owned(),
            target: self.target.to_text(),
            created: self.created.to_rfc3339_opts(SecondsFormat::Millis, true),
            until: self.until,
            reason: hex::encode(&self.sealed_reason),
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Reads a stored hold; `None` for anything that is not one.
    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        let stored: StoredHold = serde_json::from_slice(bytes).ok()?;
        if stored.v != 1 {
            return None;
        }
        Some(Hold {
            id: stored.id,
            tenant: TenantId::new(&stored.tenant).ok()?,
            target: HoldTarget::parse(&stored.target)?,
            created: DateTime::parse_from_rfc3339(&stored.created)
                .ok()?
                .with_timezone(&Utc),
            until: stored.until,
            sealed_reason: hex::decode(stored.reason).ok()?,
        })
    }
}

/// Where a hold lives.
pub fn hold_key(tenant: &TenantId, id: &Uuid) -> ObjectKey {
    ObjectKey::hold(tenant, id)
}

impl Ops {
    /// Places a hold and audits it (`held`, with the hold and its target).
    pub async fn set_hold(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        target: HoldSpec,
        reason: &str,
        until: Option<NaiveDate>,
    ) -> anyhow::Result<Hold> {
        self.authorize(actor, Operation::SetHold, tenant, Action::Held)
            .await?;
        if reason.trim().is_empty() {
            bail!("--reason: a hold needs a reason");
        }
        let now = self.clock.now();
        if until.is_some_and(|until| until < now.date_naive()) {
            bail!("--until: the day is already past");
        }
        let target = match target {
            HoldSpec::Tenant => HoldTarget::Tenant,
            HoldSpec::Record(id) => HoldTarget::Record(id),
            HoldSpec::Number(number) => {
                let Some(index_key) = self.keyring.subject_index_key(tenant)? else {
                    bail!(
                        "tenant {tenant} keeps its own keys (client mode): the gateway has no \
                         index to find a number's calls; hold the calls by --record (the \
                         client finds their ids with its key) or hold the whole tenant"
                    );
                };
                HoldTarget::Subject(BlindIndex::of(&index_key, number.expose())?)
            }
        };
        let id = greffier_vault::new_record_id();
        let params = ObjectParams::new(tenant.clone(), id, ObjectKind::Manifest);
        let key = self.keyring.sealing_key(tenant)?;
        let sealed_reason = ObjectEncryptor::encrypt_all(params, &key, reason.as_bytes())?;
        let hold = Hold {
            id,
            tenant: tenant.clone(),
            target,
            created: now,
            until,
            sealed_reason,
        };
        let stored = self
            .store
            .put_new(&hold_key(tenant, &id), Bytes::from(hold.to_json()))
            .await
            .context("the hold cannot be stored");
        self.audit(
            actor,
            tenant,
            Action::Held,
            hold_objects(&hold),
            Outcome::of(&stored),
        )
        .await?;
        stored?;
        Ok(hold)
    }

    /// Releases a hold of any configured tenant, and audits it.
    pub async fn release_hold(&self, actor: &Actor, id: &Uuid) -> anyhow::Result<Hold> {
        let mut found = None;
        for (tenant, _) in self.keyring.tenants() {
            if let Ok(bytes) = self.store.get(&hold_key(&tenant, id)).await {
                found = Hold::from_json(&bytes);
                break;
            }
        }
        let hold = found.ok_or_else(|| anyhow!("no hold {id}"))?;
        self.authorize(
            actor,
            Operation::ReleaseHold,
            &hold.tenant,
            Action::Released,
        )
        .await?;
        let released = self
            .store
            .delete(&hold_key(&hold.tenant, id))
            .await
            .context("the hold cannot be removed");
        self.audit(
            actor,
            &hold.tenant,
            Action::Released,
            hold_objects(&hold),
            Outcome::of(&released),
        )
        .await?;
        released?;
        Ok(hold)
    }

    /// The holds of one tenant, in force or expired.
    pub async fn list_holds(&self, actor: &Actor, tenant: &TenantId) -> anyhow::Result<Vec<Hold>> {
        self.authorize(actor, Operation::ListHolds, tenant, Action::Read)
            .await?;
        self.holds_of(tenant).await
    }

    /// Every stored hold of a tenant (what the sweeper honours).
    pub(crate) async fn holds_of(&self, tenant: &TenantId) -> anyhow::Result<Vec<Hold>> {
        let mut holds = Vec::new();
        for key in self.store.list(&ObjectKey::holds_prefix(tenant)).await? {
            let bytes = match self.store.get(&key).await {
                Ok(bytes) => bytes,
                // Released meanwhile.
                Err(_) => continue,
            };
            let hold = Hold::from_json(&bytes)
                .ok_or_else(|| anyhow!("{key}: not a legal hold; nothing is swept until it is"))?;
            holds.push(hold);
        }
        holds.sort_by_key(|hold| hold.created);
        Ok(holds)
    }

    /// The reason of a hold, when this node can open it (managed keys).
    pub fn hold_reason(&self, hold: &Hold) -> Option<String> {
        let mut decryptor = ObjectDecryptor::new(&self.keyring, hold.tenant.clone());
        let text = decryptor.push(&hold.sealed_reason).ok()?.to_vec();
        decryptor.finish().ok()?;
        String::from_utf8(text).ok()
    }
}

/// What `hold set` was asked to protect.
pub enum HoldSpec {
    Tenant,
    Record(RecordId),
    Number(E164),
}

fn hold_objects(hold: &Hold) -> Vec<ObjectRef> {
    let mut objects = vec![ObjectRef::Hold(hold.id)];
    match &hold.target {
        HoldTarget::Tenant => {}
        HoldTarget::Record(id) => objects.push(ObjectRef::Record(*id)),
        HoldTarget::Subject(index) => objects.push(ObjectRef::Subject(index.clone())),
    }
    objects
}
