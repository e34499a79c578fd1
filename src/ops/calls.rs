//! The calls in progress on this node: listing them, and pausing and
//! resuming their recordings, for any transport (the admin address today,
//! the authenticated API next). Each order is role-checked and audited
//! (`paused`, `resumed`, with the call's record id) before it is answered.
//!
//! This lives beside [`Ops`](super::Ops) rather than in it: it needs the
//! running gateway's call directory and audit log, not the store or keys.

use std::sync::Arc;

use greffier_vault::audit::{Action, AuditLog, ObjectRef, Outcome};
use greffier_vault::TenantId;

use super::{permitted, Actor, Operation};
use crate::calls::{CallDirectory, CallSummary, ControlError, OrderSource, RecordingOrder};

/// Which call an order is about: the node's dialog number, and the tenant
/// the asker is confined to (a client's token; `None` for the operator). A
/// call of another tenant is answered as unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRef {
    pub id: u64,
    pub tenant: Option<TenantId>,
}

impl CallRef {
    /// A call of any tenant.
    pub fn any_tenant(id: u64) -> Self {
        CallRef { id, tenant: None }
    }
}

/// Why an order was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CallOpError {
    #[error("role {role:?} may not {operation}")]
    Refused {
        role: greffier_vault::audit::Role,
        operation: &'static str,
    },
    #[error("{0}")]
    Control(#[from] ControlError),
    /// The audit entry could not be written: the order's outcome is then
    /// not reported as a success.
    #[error("the audit entry cannot be written: {0}")]
    Audit(#[source] greffier_vault::audit::AuditError),
}

/// The node's calls in progress, with the audit log their orders go to.
#[derive(Clone)]
pub struct LiveCalls {
    directory: CallDirectory,
    audit: Arc<AuditLog>,
}

impl LiveCalls {
    pub fn new(directory: CallDirectory, audit: Arc<AuditLog>) -> Self {
        LiveCalls { directory, audit }
    }

    /// The calls in progress the actor may see, oldest first (no numbers,
    /// no addresses: nothing to audit).
    pub fn list(&self, actor: &Actor, tenant: Option<&TenantId>) -> Vec<CallSummary> {
        if !permitted(actor.role, Operation::ListCalls) {
            return Vec::new();
        }
        self.directory
            .list()
            .into_iter()
            .filter(|call| tenant.is_none_or(|tenant| call.tenant == tenant.as_str()))
            .collect()
    }

    /// Pauses the recording of `call`: it holds silence until resumed.
    pub async fn pause(&self, actor: &Actor, call: CallRef) -> Result<CallSummary, CallOpError> {
        self.order(actor, call, RecordingOrder::Pause).await
    }

    /// Resumes the recording of `call`.
    pub async fn resume(&self, actor: &Actor, call: CallRef) -> Result<CallSummary, CallOpError> {
        self.order(actor, call, RecordingOrder::Resume).await
    }

    async fn order(
        &self,
        actor: &Actor,
        call: CallRef,
        order: RecordingOrder,
    ) -> Result<CallSummary, CallOpError> {
        let operation = Operation::ControlCall;
        let action = match order {
            RecordingOrder::Pause => Action::Paused,
            RecordingOrder::Resume => Action::Resumed,
        };
        let summary = self
            .directory
            .get(call.id)
            .filter(|summary| {
                call.tenant
                    .as_ref()
                    .is_none_or(|tenant| summary.tenant == tenant.as_str())
            })
            .ok_or(ControlError::UnknownCall)?;
        let tenant = summary.tenant.clone();
        let record = self.directory.record_of(call.id);
        let objects: Vec<ObjectRef> = record.into_iter().map(ObjectRef::Record).collect();
        if !permitted(actor.role, operation) {
            self.write(actor, &tenant, action, Vec::new(), Outcome::Refused)
                .await?;
            return Err(CallOpError::Refused {
                role: actor.role,
                operation: operation.name(),
            });
        }
        let done = self.directory.control(call.id, order, OrderSource::Admin);
        self.write(actor, &tenant, action, objects, Outcome::of(&done))
            .await?;
        done?;
        Ok(self.directory.get(call.id).unwrap_or(summary))
    }

    async fn write(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        action: Action,
        objects: Vec<ObjectRef>,
        outcome: Outcome,
    ) -> Result<(), CallOpError> {
        let record = actor.record(tenant, action, objects, outcome);
        self.audit
            .append(&record, chrono::Utc::now())
            .await
            .map_err(CallOpError::Audit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greffier_sip::proxy::{DialogId, Direction};
    use greffier_vault::audit::{Actor as AuditActor, Origin, Role};
    use greffier_vault::store::RecordId;
    use tokio::sync::mpsc;

    fn client(role: Role) -> Actor {
        Actor {
            name: AuditActor::new("acme-agent").unwrap(),
            role,
            origin: Origin::Api,
        }
    }

    /// The tenant's entries once sealed, as (action, outcome, objects).
    async fn trail(audit: &AuditLog, store: &greffier_vault::store::VaultStore) -> Vec<String> {
        crate::ops::sealed_entries(audit, store, "acme")
            .await
            .iter()
            .map(|entry| {
                format!(
                    "{} {} {}",
                    entry["action"].as_str().unwrap(),
                    entry["outcome"].as_str().unwrap(),
                    entry["objects"]
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn orders_are_role_checked_confined_to_the_tenant_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let store = greffier_test_support::storage::local_store(&dir.path().join("store"));
        let audit = AuditLog::open(
            &dir.path().join("spool"),
            greffier_test_support::storage::node(),
            store.clone(),
            Default::default(),
        )
        .await
        .unwrap();
        let directory = CallDirectory::default();
        let record = RecordId::generate();
        let (sender, mut orders) = mpsc::unbounded_channel();
        directory.insert(
            CallSummary::new(
                DialogId(7),
                &TenantId::new("acme").unwrap(),
                Direction::Outbound,
                true,
            ),
            Some(record),
            Some(sender),
        );
        directory.insert(
            CallSummary::new(
                DialogId(8),
                &TenantId::new("globex").unwrap(),
                Direction::Inbound,
                false,
            ),
            None,
            None,
        );
        let calls = LiveCalls::new(directory, audit.clone());
        let acme = TenantId::new("acme").unwrap();
        let own = |id| CallRef {
            id,
            tenant: Some(acme.clone()),
        };

        let paused = calls.pause(&client(Role::User), own(7)).await.unwrap();
        assert!(paused.paused);
        assert_eq!(orders.try_recv().unwrap().order, RecordingOrder::Pause);
        let elsewhere = calls.pause(&client(Role::Admin), own(8)).await.unwrap_err();
        assert!(matches!(
            elsewhere,
            CallOpError::Control(ControlError::UnknownCall)
        ));
        let refused = calls
            .resume(&Actor::gateway(), CallRef::any_tenant(7))
            .await
            .unwrap_err();
        assert!(matches!(refused, CallOpError::Refused { .. }), "{refused}");
        assert!(
            orders.try_recv().is_err(),
            "a refused order reaches nothing"
        );
        let resumed = calls.resume(&client(Role::Admin), own(7)).await.unwrap();
        assert!(!resumed.paused);
        assert_eq!(
            calls
                .list(&client(Role::User), Some(&acme))
                .iter()
                .map(|call| call.id)
                .collect::<Vec<_>>(),
            [7]
        );

        let named = format!("[\"record:{record}\"]");
        assert_eq!(
            trail(&audit, &store).await,
            [
                format!("paused ok {named}"),
                "resumed refused []".to_string(),
                format!("resumed ok {named}"),
            ]
        );
    }
}
