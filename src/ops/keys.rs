//! Key operations, role-checked: the rotation of a tenant's key-encryption
//! key (audited), the keyring's listing and the gateway's sender key (no
//! tenant's data: nothing to audit). Shredding stays with the termination
//! of a tenant; `keys init` creates the keyring before anything can open it
//! and `keys generate-client` touches no keyring, so both stay in the CLI.

use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::{TenantId, TenantStatus};

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

    /// The tenants of the keyring with their key mode and versions (never
    /// key material).
    pub fn list_keys(&self, actor: &Actor) -> anyhow::Result<Vec<(TenantId, TenantStatus)>> {
        self.permit(actor, Operation::ListKeys)?;
        Ok(self.keyring.tenants())
    }

    /// The public half of the gateway's sender key, created with the
    /// keyring (or now, for a keyring that predates it).
    pub fn sender_public_key(&mut self, actor: &Actor) -> anyhow::Result<[u8; 32]> {
        self.permit(actor, Operation::ShowSenderKey)?;
        Ok(self.keyring.ensure_sender_key()?)
    }
}
