//! The operations on personal data, in one place: each takes an [`Actor`]
//! (who, in which role, from where), checks the role may do it
//! ([`permitted`]), does it, and writes its audit entry. The CLI (clap) and
//! later the admin API are thin adapters over it.
//!
//! Decisions that depend on the date (retention, holds) read an injected
//! [`Clock`], so they are tested at any date; audit entries carry the real
//! time of writing, since the chain records when things happened.

pub mod calls;
pub mod export;
pub mod holds;
pub mod keys;
pub mod recordings;
pub mod requisition;
pub mod retention;
pub mod settings;
pub mod subject;
pub mod terminate;
pub mod transcripts;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use greffier_vault::audit::{
    Action, Actor as AuditActor, AuditLog, AuditRecord, ObjectRef, Origin, Outcome, Role,
};
use greffier_vault::store::VaultStore;
use greffier_vault::{Keyring, TenantId};

use crate::config::Config;
use crate::vault_setup;

/// Who asks for an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub name: AuditActor,
    pub role: Role,
    pub origin: Origin,
}

impl Actor {
    /// The CLI: the processor's staff at the node's shell (it has no login).
    pub fn cli_operator() -> Self {
        Actor {
            name: AuditActor::cli(),
            role: Role::Operator,
            origin: Origin::Cli,
        }
    }

    /// Whoever reaches the admin HTTP address, which has no login: it belongs
    /// on loopback or a management network, so it is the processor's staff.
    pub fn admin_endpoint() -> Self {
        Actor {
            name: AuditActor::admin_endpoint(),
            role: Role::Operator,
            origin: Origin::Api,
        }
    }

    /// The gateway's own scheduled work (the retention sweeper).
    pub fn gateway() -> Self {
        Actor {
            name: AuditActor::gateway(),
            role: Role::System,
            origin: Origin::Gateway,
        }
    }
}

impl Actor {
    /// The audit entry of `action` by this actor on `objects` of `tenant`.
    pub fn record(
        &self,
        tenant: &TenantId,
        action: Action,
        objects: impl IntoIterator<Item = ObjectRef>,
        outcome: Outcome,
    ) -> AuditRecord {
        let mut record = AuditRecord::new(
            self.name.clone(),
            self.role,
            self.origin,
            tenant.clone(),
            action,
        )
        .outcome(outcome);
        record.objects.extend(objects);
        record
    }
}

/// Every operation the layer offers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operation {
    ListCalls,
    /// Pause or resume the recording of a call in progress.
    ControlCall,
    ListRecordings,
    ReadRecording,
    DeleteRecording,
    /// Read a call's transcript (content, as a recording's audio is).
    ReadTranscript,
    /// Delete a call's transcript alone.
    DeleteTranscript,
    ReadRetention,
    SetRetention,
    SweepRetention,
    SetHold,
    ReleaseHold,
    ListHolds,
    /// Export one number's call records for an authority.
    Requisition,
    RotateKey,
    /// List the tenants of the keyring with their key mode and versions
    /// (never key material).
    ListKeys,
    /// Give out the public half of the gateway's sender key (creating it).
    ShowSenderKey,
    SubjectExport,
    SubjectErase,
    ExportAudit,
    ReadObjections,
    SetObjections,
    /// The tenant's tokens and console users.
    ManageCredentials,
    ShredKeys,
    TerminateTenant,
}

impl Operation {
    /// Every operation, in the order of the docs' table.
    pub const ALL: [Operation; 25] = [
        Operation::ListCalls,
        Operation::ControlCall,
        Operation::ListRecordings,
        Operation::ReadRecording,
        Operation::DeleteRecording,
        Operation::ReadTranscript,
        Operation::DeleteTranscript,
        Operation::ReadRetention,
        Operation::SetRetention,
        Operation::SweepRetention,
        Operation::SetHold,
        Operation::ReleaseHold,
        Operation::ListHolds,
        Operation::Requisition,
        Operation::RotateKey,
        Operation::ListKeys,
        Operation::ShowSenderKey,
        Operation::SubjectExport,
        Operation::SubjectErase,
        Operation::ExportAudit,
        Operation::ReadObjections,
        Operation::SetObjections,
        Operation::ManageCredentials,
        Operation::ShredKeys,
        Operation::TerminateTenant,
    ];

    /// The operation's identifier in the admin API (`GET /v1/session`).
    pub fn id(self) -> &'static str {
        match self {
            Operation::ListCalls => "list_calls",
            Operation::ControlCall => "control_call",
            Operation::ListRecordings => "list_recordings",
            Operation::ReadRecording => "read_recording",
            Operation::DeleteRecording => "delete_recording",
            Operation::ReadTranscript => "read_transcript",
            Operation::DeleteTranscript => "delete_transcript",
            Operation::ReadRetention => "read_retention",
            Operation::SetRetention => "set_retention",
            Operation::SweepRetention => "sweep_retention",
            Operation::SetHold => "set_hold",
            Operation::ReleaseHold => "release_hold",
            Operation::ListHolds => "list_holds",
            Operation::Requisition => "requisition",
            Operation::RotateKey => "rotate_key",
            Operation::ListKeys => "list_keys",
            Operation::ShowSenderKey => "show_sender_key",
            Operation::SubjectExport => "subject_export",
            Operation::SubjectErase => "subject_erase",
            Operation::ExportAudit => "export_audit",
            Operation::ReadObjections => "read_objections",
            Operation::SetObjections => "set_objections",
            Operation::ManageCredentials => "manage_credentials",
            Operation::ShredKeys => "shred_keys",
            Operation::TerminateTenant => "terminate_tenant",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::ListCalls => "list calls in progress",
            Operation::ControlCall => "pause or resume a recording",
            Operation::ListRecordings => "list recordings",
            Operation::ReadRecording => "read a recording",
            Operation::DeleteRecording => "delete a recording",
            Operation::ReadTranscript => "read a transcript",
            Operation::DeleteTranscript => "delete a transcript",
            Operation::ReadRetention => "read the retention",
            Operation::SetRetention => "set the retention",
            Operation::SweepRetention => "sweep expired data",
            Operation::SetHold => "set a legal hold",
            Operation::ReleaseHold => "release a legal hold",
            Operation::ListHolds => "list legal holds",
            Operation::Requisition => "export call records for an authority",
            Operation::RotateKey => "rotate the key-encryption key",
            Operation::ListKeys => "list the keyring",
            Operation::ShowSenderKey => "show the gateway's sender key",
            Operation::SubjectExport => "export a data subject's calls",
            Operation::SubjectErase => "erase a data subject's recordings",
            Operation::ExportAudit => "export the audit log",
            Operation::ReadObjections => "read the objections to sub-processors",
            Operation::SetObjections => "object to sub-processors",
            Operation::ManageCredentials => "manage tokens and users",
            Operation::ShredKeys => "shred the keys",
            Operation::TerminateTenant => "terminate the tenant",
        }
    }
}

/// The one table of who may do what (DESIGN.md "Access", mirrored in
/// docs/retention.md and docs/admin-api.md):
/// - the processor's `operator` runs the node: holds and requisitions an
///   authority asks for, keys, audit, credentials, and the control of calls
///   in progress; it never touches content (its shell does: see
///   [`permitted_for`]);
/// - `super_admin` does everything of its tenant but what is the operator's;
/// - `admin` works on calls, recordings, retention and answers data subjects
///   (DPA 9);
/// - `supervisor` lists, plays and reads;
/// - `user` lists, plays and pauses only the calls one of its numbers is a
///   party to (the caller filters);
/// - the gateway itself (`system`) only sweeps.
///
/// A requisition is never a client's: the law may forbid telling it.
/// Shredding keys and terminating a tenant are the processor's, at the end
/// of the contract: `operator` only.
pub fn permitted(role: Role, operation: Operation) -> bool {
    use Operation::*;
    match role {
        Role::System => matches!(operation, SweepRetention),
        Role::Operator => matches!(
            operation,
            ListCalls
                | ControlCall
                | ReadRetention
                | SweepRetention
                | SetHold
                | ReleaseHold
                | ListHolds
                | Requisition
                | RotateKey
                | ListKeys
                | ShowSenderKey
                | ExportAudit
                | ReadObjections
                | ManageCredentials
                | ShredKeys
                | TerminateTenant
        ),
        Role::SuperAdmin => !matches!(
            operation,
            SweepRetention
                | SetHold
                | ReleaseHold
                | Requisition
                | RotateKey
                | ListKeys
                | ShowSenderKey
                | ShredKeys
                | TerminateTenant
        ),
        Role::Admin => matches!(
            operation,
            ListCalls
                | ControlCall
                | ListRecordings
                | ReadRecording
                | DeleteRecording
                | ReadTranscript
                | DeleteTranscript
                | ReadRetention
                | SetRetention
                | ListHolds
                | ReadObjections
                | SubjectExport
                | SubjectErase
        ),
        Role::Supervisor => matches!(
            operation,
            ListCalls | ListRecordings | ReadRecording | ReadTranscript
        ),
        Role::User => matches!(
            operation,
            ListCalls | ControlCall | ListRecordings | ReadRecording | ReadTranscript
        ),
    }
}

/// The node's shell holds the keyring and the master key: the CLI acts as
/// the operator with every operation, content included (DESIGN.md "Access").
pub fn permitted_for(actor: &Actor, operation: Operation) -> bool {
    if actor.origin == Origin::Cli && actor.role == Role::Operator {
        return true;
    }
    permitted(actor.role, operation)
}

/// A legal hold kept what an operation would have deleted; its `held`
/// audit entry is written. The message names the holds, never a number.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Held(pub String);

/// Where the date comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant (`--now`, tests).
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// What every operation works with: the configuration, the store, the
/// keyring, the node's audit log and the clock.
pub struct Ops {
    pub config: Config,
    pub store: VaultStore,
    pub keyring: Keyring,
    audit: Arc<AuditLog>,
    /// Whether this process wrote entries (only then does it seal).
    wrote: AtomicBool,
    pub clock: Box<dyn Clock>,
}

impl Ops {
    /// Opens the vault the configuration names, as an existing node's.
    pub async fn open(config: Config, clock: Box<dyn Clock>) -> anyhow::Result<Self> {
        let keyring = vault_setup::open_existing_keyring(&config.keys)?;
        let store = vault_setup::open_store(&config.storage)?;
        let audit = vault_setup::open_audit(&config, &store).await?;
        Ok(Ops::with_audit(config, store, keyring, audit, clock))
    }

    /// Works through an audit log the process already holds (the gateway's).
    pub fn with_audit(
        config: Config,
        store: VaultStore,
        keyring: Keyring,
        audit: Arc<AuditLog>,
        clock: Box<dyn Clock>,
    ) -> Self {
        Ops {
            config,
            store,
            keyring,
            audit,
            wrote: AtomicBool::new(false),
            clock,
        }
    }

    /// A tenant the keyring knows (a shredded one included: its objects can
    /// still be deleted).
    pub fn known_tenant(&self, id: &str) -> anyhow::Result<TenantId> {
        let tenant = vault_setup::tenant_id(id)?;
        if !self
            .keyring
            .tenants()
            .iter()
            .any(|(known, _)| *known == tenant)
        {
            return Err(greffier_vault::VaultError::UnknownTenant { tenant }.into());
        }
        Ok(tenant)
    }

    /// Refuses, and audits the refusal, when `actor` may not do `operation`.
    pub async fn authorize(
        &self,
        actor: &Actor,
        operation: Operation,
        tenant: &TenantId,
        action: Action,
    ) -> anyhow::Result<()> {
        if permitted_for(actor, operation) {
            return Ok(());
        }
        self.audit(actor, tenant, action, [], Outcome::Refused)
            .await?;
        bail!(
            "role {:?} may not {} of tenant {tenant}",
            actor.role,
            operation.name()
        )
    }

    /// Refuses when `actor` may not do `operation`, for an operation on no
    /// tenant's personal data (settings, the keyring's listing): there is no
    /// trail the refusal would go to, so it is only an error.
    pub fn permit(&self, actor: &Actor, operation: Operation) -> anyhow::Result<()> {
        if permitted_for(actor, operation) {
            return Ok(());
        }
        bail!("role {:?} may not {}", actor.role, operation.name())
    }

    /// Writes one audit entry; it is on disk when this returns.
    pub async fn audit(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        action: Action,
        objects: impl IntoIterator<Item = ObjectRef>,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        self.audit_record(actor.record(tenant, action, objects, outcome))
            .await
    }

    /// Writes one audit entry built by the caller (a confidential one).
    pub async fn audit_record(&self, record: AuditRecord) -> anyhow::Result<()> {
        self.wrote.store(true, Ordering::Relaxed);
        self.audit
            .append(&record, Utc::now())
            .await
            .context("the audit entry cannot be written")
    }

    /// The operations are over: their entries go to the store. One the
    /// store cannot take now stays in the spool for the next seal.
    pub async fn close(self) {
        if !self.wrote.load(Ordering::Relaxed) {
            return;
        }
        if let Err(error) = self.audit.seal().await {
            eprintln!("greffier: audit entries kept in the spool until the store answers: {error}");
        }
    }
}

/// A tenant's audit entries once the log is sealed into the store, parsed:
/// what the tests of operations check they wrote.
#[cfg(test)]
pub(crate) async fn sealed_entries(
    audit: &AuditLog,
    store: &VaultStore,
    tenant: &str,
) -> Vec<serde_json::Value> {
    use greffier_vault::audit::{read_chains, tenant_lines};
    audit.seal().await.unwrap();
    let chains = read_chains(store).await.unwrap();
    chains
        .chains
        .iter()
        .flat_map(|(_, segments)| {
            tenant_lines(
                segments,
                tenant,
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
            )
        })
        .map(|(_, line)| serde_json::from_slice(line).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_operator_sets_and_releases_holds() {
        for role in [
            Role::System,
            Role::SuperAdmin,
            Role::Admin,
            Role::Supervisor,
            Role::User,
        ] {
            assert!(!permitted(role, Operation::SetHold), "{role:?}");
            assert!(!permitted(role, Operation::ReleaseHold), "{role:?}");
        }
        assert!(permitted(Role::Operator, Operation::SetHold));
    }

    #[test]
    fn requisitions_and_key_rotation_are_the_operators_alone() {
        for role in [
            Role::System,
            Role::SuperAdmin,
            Role::Admin,
            Role::Supervisor,
            Role::User,
        ] {
            assert!(!permitted(role, Operation::Requisition), "{role:?}");
            assert!(!permitted(role, Operation::RotateKey), "{role:?}");
            assert!(!permitted(role, Operation::ListKeys), "{role:?}");
            assert!(!permitted(role, Operation::ShowSenderKey), "{role:?}");
        }
        assert!(permitted(Role::Operator, Operation::Requisition));
        assert!(permitted(Role::Operator, Operation::RotateKey));
    }

    #[test]
    fn supervisors_only_read_and_the_gateway_controls_no_call() {
        for role in [Role::Operator, Role::SuperAdmin, Role::Admin, Role::User] {
            assert!(permitted(role, Operation::ControlCall), "{role:?}");
        }
        assert!(!permitted(Role::Supervisor, Operation::ControlCall));
        assert!(!permitted(Role::System, Operation::ControlCall));
    }

    #[test]
    fn only_the_clients_administrators_and_the_node_shell_answer_data_subjects() {
        for operation in [Operation::SubjectExport, Operation::SubjectErase] {
            for role in [Role::SuperAdmin, Role::Admin] {
                assert!(permitted(role, operation), "{role:?} {operation:?}");
            }
            for role in [Role::Operator, Role::System, Role::Supervisor, Role::User] {
                assert!(!permitted(role, operation), "{role:?} {operation:?}");
            }
            assert!(permitted_for(&Actor::cli_operator(), operation));
        }
    }

    #[test]
    fn the_operator_never_touches_content_but_its_shell_does() {
        for operation in [
            Operation::ListRecordings,
            Operation::ReadRecording,
            Operation::DeleteRecording,
            Operation::ReadTranscript,
            Operation::DeleteTranscript,
        ] {
            assert!(!permitted(Role::Operator, operation), "{operation:?}");
            assert!(permitted_for(&Actor::cli_operator(), operation));
        }
        assert!(permitted(Role::Operator, Operation::ExportAudit));
    }

    #[test]
    fn only_the_operator_terminates_and_shreds() {
        for role in [
            Role::System,
            Role::SuperAdmin,
            Role::Admin,
            Role::Supervisor,
            Role::User,
        ] {
            assert!(!permitted(role, Operation::TerminateTenant), "{role:?}");
            assert!(!permitted(role, Operation::ShredKeys), "{role:?}");
        }
        assert!(permitted(Role::Operator, Operation::TerminateTenant));
        assert!(permitted(Role::Operator, Operation::ShredKeys));
    }

    #[test]
    fn whoever_reads_a_recording_reads_its_transcript_and_whoever_deletes_one_deletes_the_other() {
        for role in [
            Role::System,
            Role::Operator,
            Role::SuperAdmin,
            Role::Admin,
            Role::Supervisor,
            Role::User,
        ] {
            assert_eq!(
                permitted(role, Operation::ReadTranscript),
                permitted(role, Operation::ReadRecording),
                "{role:?}"
            );
            assert_eq!(
                permitted(role, Operation::DeleteTranscript),
                permitted(role, Operation::DeleteRecording),
                "{role:?}"
            );
        }
    }

    #[test]
    fn the_gateway_only_sweeps() {
        assert!(permitted(Role::System, Operation::SweepRetention));
        assert!(!permitted(Role::System, Operation::ReadRecording));
        assert!(!permitted(Role::User, Operation::DeleteRecording));
    }
}
