//! Key operations on a tenant's keyring entry, audited: the rotation of its
//! key-encryption key. (Shredding stays with the termination of a tenant.)

use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::TenantId;

use super::{Actor, Operation, Ops};

impl Ops {
    /// Creates a new key-encryption key version for a managed tenant: new
    /// objects are sealed with it, older ones stay readable. Audited
    /// (`key_rotated`, with the new version) before it returns.
    pub async fn rotate_key(&mut self, actor: &Actor, tenant: &TenantId) -> anyhow::Result<u32> {
        self.authorize(actor, Operation::RotateKey, tenant, Action::KeyRotated)
            .await?;
        let rotated = self.keyring.rotate(tenant);
        let objects = match &rotated {
            Ok(version) => vec![ObjectRef::KeyVersion(*version)],
            Err(_) => Vec::new(),
        };
        self.audit(
            actor,
            tenant,
            Action::KeyRotated,
            objects,
            Outcome::of(&rotated),
        )
        .await?;
        Ok(rotated?)
    }
}
