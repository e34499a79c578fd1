//! `client` mode: the DEK is sealed to the tenant's own X25519 public key with
//! HPKE base mode (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! AES-256-GCM). The gateway holds only the public key, so it can write and
//! delete such objects but never read them.

use std::convert::Infallible;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::VaultError;
use crate::format::header::{KeySlot, ENCAPSULATED_KEY_LEN, RECIPIENT_ID_LEN, SEALED_DEK_LEN};
use crate::keys::secret::{fill_random, DataKey, KEY_LEN};
use crate::tenant::TenantId;

type ClientKem = X25519HkdfSha256;

/// Identifies which client key an object was sealed to, so a client holding
/// several keys (after a rotation on their side) knows which one to use.
pub fn recipient_id(public_key: &[u8; 32]) -> [u8; RECIPIENT_ID_LEN] {
    let digest = Sha256::new()
        .chain_update(b"greffier grf1 recipient")
        .chain_update(public_key)
        .finalize();
    let mut id = [0u8; RECIPIENT_ID_LEN];
    id.copy_from_slice(digest.get(..RECIPIENT_ID_LEN).unwrap_or_default());
    id
}

/// HPKE `info`: binds the sealed DEK to its tenant and record, so a key slot
/// copied into another object's header does not open.
fn hpke_info(tenant: &TenantId, record_id: &Uuid) -> Vec<u8> {
    let tenant = tenant.as_str().as_bytes();
    let mut info = Vec::with_capacity(32 + tenant.len());
    info.extend_from_slice(b"greffier grf1 dek");
    info.push(u8::try_from(tenant.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(tenant);
    info.extend_from_slice(record_id.as_bytes());
    info
}

/// A client's X25519 private key, as used by the client's own tool.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ClientPrivateKey([u8; KEY_LEN]);

impl ClientPrivateKey {
    /// A fresh key pair; returns the private key (keep it away from the
    /// gateway) and the public key to configure for the tenant.
    pub fn generate() -> Result<(Self, [u8; 32]), VaultError> {
        let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(ikm.as_mut_slice())?;
        let (private_key, public_key) = ClientKem::derive_keypair(ikm.as_slice());
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&private_key.to_bytes());
        Ok((ClientPrivateKey(*bytes), public_key_bytes(&public_key)))
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, VaultError> {
        <ClientKem as Kem>::PrivateKey::from_bytes(&bytes)
            .map_err(|_| VaultError::InvalidPrivateKey)?;
        Ok(ClientPrivateKey(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub fn public_key(&self) -> Result<[u8; 32], VaultError> {
        let private_key = self.hpke_key()?;
        Ok(public_key_bytes(&ClientKem::sk_to_pk(&private_key)))
    }

    fn hpke_key(&self) -> Result<<ClientKem as Kem>::PrivateKey, VaultError> {
        <ClientKem as Kem>::PrivateKey::from_bytes(&self.0)
            .map_err(|_| VaultError::InvalidPrivateKey)
    }

    /// Opens the DEK of a client-mode object sealed to this key.
    pub(crate) fn open_dek(
        &self,
        tenant: &TenantId,
        record_id: &Uuid,
        slot: &KeySlot,
    ) -> Result<DataKey, VaultError> {
        let KeySlot::Client {
            recipient_id: slot_recipient,
            encapsulated_key,
            sealed_dek,
        } = slot
        else {
            return Err(VaultError::ManagedKeyRequired);
        };
        if *slot_recipient != recipient_id(&self.public_key()?) {
            return Err(VaultError::WrongClientKey);
        }
        let encapped = <ClientKem as Kem>::EncappedKey::from_bytes(encapsulated_key)
            .map_err(|_| VaultError::KeyUnwrapFailed)?;
        let opened = hpke::single_shot_open::<AesGcm256, HkdfSha256, ClientKem>(
            &OpModeR::Base,
            &self.hpke_key()?,
            &encapped,
            &hpke_info(tenant, record_id),
            sealed_dek,
            b"",
        )
        .map_err(|_| VaultError::KeyUnwrapFailed)?;
        let opened = Zeroizing::new(opened);
        let bytes: [u8; KEY_LEN] = opened
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::KeyUnwrapFailed)?;
        Ok(DataKey::from_bytes(bytes))
    }
}

impl std::fmt::Debug for ClientPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientPrivateKey(<secret>)")
    }
}

fn public_key_bytes(public_key: &<ClientKem as Kem>::PublicKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&public_key.to_bytes());
    out
}

/// Seals `dek` to a client public key.
pub(crate) fn seal_dek(
    public_key: &[u8; 32],
    dek: &DataKey,
    tenant: &TenantId,
    record_id: &Uuid,
) -> Result<KeySlot, VaultError> {
    let recipient = <ClientKem as Kem>::PublicKey::from_bytes(public_key)
        .map_err(|_| VaultError::InvalidPublicKey)?;
    let mut rng = PrefilledRng::new()?;
    let (encapped, sealed) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, ClientKem>(
        &OpModeS::Base,
        &recipient,
        &hpke_info(tenant, record_id),
        dek.as_bytes(),
        b"",
        &mut rng,
    )
    .map_err(|_| VaultError::Crypto("HPKE seal failed"))?;
    if rng.exhausted {
        return Err(VaultError::Random);
    }
    let mut encapsulated_key = [0u8; ENCAPSULATED_KEY_LEN];
    encapsulated_key.copy_from_slice(&encapped.to_bytes());
    let sealed_dek: [u8; SEALED_DEK_LEN] = sealed
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::Crypto("HPKE produced an unexpected length"))?;
    Ok(KeySlot::Client {
        recipient_id: recipient_id(public_key),
        encapsulated_key,
        sealed_dek,
    })
}

/// HPKE wants an infallible RNG; the OS generator can fail, so its output is
/// drawn up front (where failure is reported) and served from a buffer. An
/// ephemeral X25519 key takes 32 bytes; should more ever be asked for, the
/// result is refused via `exhausted` instead of using weak randomness.
struct PrefilledRng {
    pool: Zeroizing<[u8; 64]>,
    used: usize,
    exhausted: bool,
}

impl PrefilledRng {
    fn new() -> Result<Self, VaultError> {
        let mut pool = Zeroizing::new([0u8; 64]);
        fill_random(pool.as_mut_slice())?;
        Ok(PrefilledRng {
            pool,
            used: 0,
            exhausted: false,
        })
    }
}

impl TryRng for PrefilledRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut buf = [0u8; 4];
        self.try_fill_bytes(&mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut buf = [0u8; 8];
        self.try_fill_bytes(&mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        match self
            .pool
            .get(self.used..self.used.saturating_add(dst.len()))
        {
            Some(src) => {
                dst.copy_from_slice(src);
                self.used += dst.len();
            }
            None => {
                dst.fill(0);
                self.exhausted = true;
            }
        }
        Ok(())
    }
}

impl TryCryptoRng for PrefilledRng {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    #[test]
    fn sealed_dek_opens_only_with_the_private_key_and_same_context() {
        let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
        assert_eq!(private_key.public_key().unwrap(), public_key);
        let dek = DataKey::generate().unwrap();
        let record = Uuid::now_v7();
        let slot = seal_dek(&public_key, &dek, &tenant(), &record).unwrap();
        assert_eq!(
            private_key.open_dek(&tenant(), &record, &slot).unwrap(),
            dek
        );

        let other_record = Uuid::now_v7();
        assert!(matches!(
            private_key.open_dek(&tenant(), &other_record, &slot),
            Err(VaultError::KeyUnwrapFailed)
        ));
        let (other_key, _) = ClientPrivateKey::generate().unwrap();
        assert!(matches!(
            other_key.open_dek(&tenant(), &record, &slot),
            Err(VaultError::WrongClientKey)
        ));
    }

    #[test]
    fn each_seal_uses_a_fresh_ephemeral_key() {
        let (_, public_key) = ClientPrivateKey::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let record = Uuid::now_v7();
        let a = seal_dek(&public_key, &dek, &tenant(), &record).unwrap();
        let b = seal_dek(&public_key, &dek, &tenant(), &record).unwrap();
        assert_ne!(a, b);
    }
}
