//! `client` mode: the DEK is sealed to the tenant's own X25519 public key with
//! HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM).
//! The gateway holds only the public key, so it can write and delete such
//! objects but never read them.
//!
//! Sealing uses HPKE **auth** mode (RFC 9180 §5.1.3) with the gateway's
//! sender key pair, kept in the keyring: base mode authenticates nobody, so
//! anyone holding the tenant's public key (it is public) and write access to
//! the store could seal a recording of their choosing that the client's tool
//! would accept. In auth mode the key schedule mixes in a Diffie-Hellman
//! between the gateway's sender key and the tenant's key, so only a holder of
//! the gateway's sender private key (or of the tenant's private key, who is
//! the reader) can produce a data key that opens. A compromised gateway
//! sender key can forge objects until the client stops trusting it; and auth
//! mode is not a signature a third party could check.

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
use crate::format::header::{
    Header, KeySlot, ObjectKind, ObjectParams, ENCAPSULATED_KEY_LEN, RECIPIENT_ID_LEN,
    SEALED_DEK_LEN, SENDER_ID_LEN,
};
use crate::keys::secret::{fill_random, hmac_sha256, DataKey, IndexKey, KEY_LEN};
use crate::keys::DataKeyResolver;
use crate::tenant::TenantId;

type ClientKem = X25519HkdfSha256;
type KemPrivateKey = <ClientKem as Kem>::PrivateKey;
type KemPublicKey = <ClientKem as Kem>::PublicKey;

/// The first 8 bytes of `SHA-256(label || public_key)`: names a key in a
/// header without the key itself.
fn key_id(label: &[u8], public_key: &[u8; 32]) -> [u8; RECIPIENT_ID_LEN] {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(public_key)
        .finalize();
    let mut id = [0u8; RECIPIENT_ID_LEN];
    id.copy_from_slice(digest.get(..RECIPIENT_ID_LEN).unwrap_or_default());
    id
}

/// Identifies which client key an object was sealed to, so a client holding
/// several keys (after a rotation on their side) knows which one to use.
pub fn recipient_id(public_key: &[u8; 32]) -> [u8; RECIPIENT_ID_LEN] {
    key_id(b"greffier grf1 recipient", public_key)
}

/// Identifies which gateway sender key sealed an object, so a client that
/// trusts several (one per keyring, or old and new) picks the right one.
pub fn sender_id(public_key: &[u8; 32]) -> [u8; SENDER_ID_LEN] {
    key_id(b"greffier grf1 sender", public_key)
}

/// HPKE `info`: binds the sealed DEK to its tenant and record, so a key slot
/// copied into another object's header does not open. Auth-mode objects
/// also bind the kind.
fn hpke_info(tenant: &TenantId, record_id: &Uuid, kind: Option<ObjectKind>) -> Vec<u8> {
    let tenant = tenant.as_str().as_bytes();
    let mut info = Vec::with_capacity(40 + tenant.len());
    info.extend_from_slice(b"greffier grf1 dek");
    info.push(u8::try_from(tenant.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(tenant);
    info.extend_from_slice(record_id.as_bytes());
    if let Some(kind) = kind {
        info.push(kind.code());
    }
    info
}

/// A fresh X25519 key pair from the OS generator.
fn generate_pair() -> Result<(Zeroizing<[u8; KEY_LEN]>, [u8; 32]), VaultError> {
    let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(ikm.as_mut_slice())?;
    let (private_key, public_key) = ClientKem::derive_keypair(ikm.as_slice());
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    bytes.copy_from_slice(&private_key.to_bytes());
    Ok((bytes, public_key_bytes(&public_key)))
}

fn kem_private_key(bytes: &[u8; KEY_LEN]) -> Result<KemPrivateKey, VaultError> {
    KemPrivateKey::from_bytes(bytes).map_err(|_| VaultError::InvalidPrivateKey)
}

fn public_key_of(private_key: &[u8; KEY_LEN]) -> Result<[u8; 32], VaultError> {
    Ok(public_key_bytes(&ClientKem::sk_to_pk(&kem_private_key(
        private_key,
    )?)))
}

fn kem_public_key(bytes: &[u8; 32]) -> Result<KemPublicKey, VaultError> {
    KemPublicKey::from_bytes(bytes).map_err(|_| VaultError::InvalidPublicKey)
}

/// A client's X25519 private key, as used by the client's own tool.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ClientPrivateKey([u8; KEY_LEN]);

impl ClientPrivateKey {
    /// A fresh key pair; returns the private key (keep it away from the
    /// gateway) and the public key to configure for the tenant.
    pub fn generate() -> Result<(Self, [u8; 32]), VaultError> {
        let (private_key, public_key) = generate_pair()?;
        Ok((ClientPrivateKey(*private_key), public_key))
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, VaultError> {
        kem_private_key(&bytes)?;
        Ok(ClientPrivateKey(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub fn public_key(&self) -> Result<[u8; 32], VaultError> {
        public_key_of(&self.0)
    }

    /// The key of the client's own blind indexes of numbers:
    /// `HMAC-SHA256(private key, "greffier client subject index")`. The
    /// gateway never holds it, so a value made with it (in an audit entry
    /// of a subject request) names the number for the client and for no one
    /// else; FORMAT.md §7.
    pub fn subject_index_key(&self) -> Result<IndexKey, VaultError> {
        Ok(IndexKey::from_bytes(hmac_sha256(
            &self.0,
            &[b"greffier client subject index"],
        )?))
    }
}

impl std::fmt::Debug for ClientPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientPrivateKey(<secret>)")
    }
}

/// The gateway's HPKE sender key pair (X25519), kept in the keyring; its
/// public half is published to clients (`greffier keys show-sender`), who
/// refuse objects not sealed with it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SenderKey([u8; KEY_LEN]);

impl SenderKey {
    pub fn generate() -> Result<Self, VaultError> {
        Ok(SenderKey(*generate_pair()?.0))
    }

    pub(crate) fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, VaultError> {
        kem_private_key(&bytes)?;
        Ok(SenderKey(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The public key clients configure as the gateway's.
    pub fn public_key(&self) -> Result<[u8; 32], VaultError> {
        public_key_of(&self.0)
    }
}

impl std::fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SenderKey(<secret>)")
    }
}

/// The client's side: its private key and the gateway sender public keys it
/// trusts. An object is opened only if it was sealed to the private key by
/// one of those senders (HPKE auth mode).
#[derive(Clone, Debug)]
pub struct ClientReader {
    private_key: ClientPrivateKey,
    trusted_senders: Vec<[u8; 32]>,
    accept_unauthenticated: bool,
}

impl ClientReader {
    pub fn new(private_key: ClientPrivateKey, trusted_senders: Vec<[u8; 32]>) -> Self {
        ClientReader {
            private_key,
            trusted_senders,
            accept_unauthenticated: false,
        }
    }

    /// Also opens objects sealed in HPKE base mode (`key_mode = 2`, written
    /// before the gateway had a sender key), whose writer cannot be known:
    /// for a client's own archive of such objects, never by default.
    pub fn accepting_unauthenticated(mut self) -> Self {
        self.accept_unauthenticated = true;
        self
    }

    fn open_dek(
        &self,
        tenant: &TenantId,
        record_id: &Uuid,
        kind: ObjectKind,
        slot: &KeySlot,
    ) -> Result<DataKey, VaultError> {
        let own_id = recipient_id(&self.private_key.public_key()?);
        match slot {
            KeySlot::Managed { .. } => Err(VaultError::ManagedKeyRequired),
            KeySlot::Client {
                recipient_id: slot_recipient,
                encapsulated_key,
                sealed_dek,
            } => {
                if *slot_recipient != own_id {
                    return Err(VaultError::WrongClientKey);
                }
                if !self.accept_unauthenticated {
                    return Err(VaultError::SenderNotAuthenticated);
                }
                self.open(
                    &OpModeR::Base,
                    &hpke_info(tenant, record_id, None),
                    encapsulated_key,
                    sealed_dek,
                )
                .map_err(|_| VaultError::KeyUnwrapFailed)
            }
            KeySlot::ClientAuth {
                recipient_id: slot_recipient,
                sender_id: slot_sender,
                encapsulated_key,
                sealed_dek,
            } => {
                if *slot_recipient != own_id {
                    return Err(VaultError::WrongClientKey);
                }
                let sender = self
                    .trusted_senders
                    .iter()
                    .find(|key| sender_id(key) == *slot_sender)
                    .ok_or(VaultError::UnknownSender)?;
                self.open(
                    &OpModeR::Auth(kem_public_key(sender)?),
                    &hpke_info(tenant, record_id, Some(kind)),
                    encapsulated_key,
                    sealed_dek,
                )
                .map_err(|_| VaultError::SenderAuthFailed)
            }
        }
    }

    fn open(
        &self,
        mode: &OpModeR<ClientKem>,
        info: &[u8],
        encapsulated_key: &[u8; ENCAPSULATED_KEY_LEN],
        sealed_dek: &[u8; SEALED_DEK_LEN],
    ) -> Result<DataKey, ()> {
        let encapped =
            <ClientKem as Kem>::EncappedKey::from_bytes(encapsulated_key).map_err(|_| ())?;
        let private_key = kem_private_key(self.private_key.as_bytes()).map_err(|_| ())?;
        let opened = hpke::single_shot_open::<AesGcm256, HkdfSha256, ClientKem>(
            mode,
            &private_key,
            &encapped,
            info,
            sealed_dek,
            b"",
        )
        .map_err(|_| ())?;
        let opened = Zeroizing::new(opened);
        let bytes: [u8; KEY_LEN] = opened.as_slice().try_into().map_err(|_| ())?;
        Ok(DataKey::from_bytes(bytes))
    }
}

impl DataKeyResolver for ClientReader {
    fn data_key(&self, header: &Header) -> Result<DataKey, VaultError> {
        self.open_dek(
            header.tenant(),
            &header.record_id(),
            header.kind(),
            header.key_slot(),
        )
    }
}

fn public_key_bytes(public_key: &KemPublicKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&public_key.to_bytes());
    out
}

/// Seals `dek` to a client public key, authenticated as sent by `sender`
/// (HPKE auth mode, RFC 9180 §5.1.3).
pub(crate) fn seal_dek(
    public_key: &[u8; 32],
    sender: &SenderKey,
    dek: &DataKey,
    params: &ObjectParams,
) -> Result<KeySlot, VaultError> {
    let recipient = kem_public_key(public_key)?;
    let sender_private = kem_private_key(sender.as_bytes())?;
    let sender_public = sender.public_key()?;
    let mode = OpModeS::Auth((sender_private, kem_public_key(&sender_public)?));
    let mut rng = PrefilledRng::new()?;
    let (encapped, sealed) = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, ClientKem>(
        &mode,
        &recipient,
        &hpke_info(&params.tenant, &params.record_id, Some(params.kind)),
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
    Ok(KeySlot::ClientAuth {
        recipient_id: recipient_id(public_key),
        sender_id: sender_id(&sender_public),
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

    fn params() -> ObjectParams {
        ObjectParams::new(
            TenantId::new("acme").unwrap(),
            Uuid::now_v7(),
            ObjectKind::Recording,
        )
    }

    fn open(
        reader: &ClientReader,
        p: &ObjectParams,
        slot: &KeySlot,
    ) -> Result<DataKey, VaultError> {
        reader.open_dek(&p.tenant, &p.record_id, p.kind, slot)
    }

    #[test]
    fn sealed_dek_opens_only_with_the_private_key_the_sender_and_same_context() {
        let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
        assert_eq!(private_key.public_key().unwrap(), public_key);
        let sender = SenderKey::generate().unwrap();
        let reader = ClientReader::new(private_key, vec![sender.public_key().unwrap()]);
        let dek = DataKey::generate().unwrap();
        let p = params();
        let slot = seal_dek(&public_key, &sender, &dek, &p).unwrap();
        assert_eq!(open(&reader, &p, &slot).unwrap(), dek);

        let mut other_record = p.clone();
        other_record.record_id = Uuid::now_v7();
        let mut other_kind = p.clone();
        other_kind.kind = ObjectKind::Manifest;
        for moved in [other_record, other_kind] {
            assert!(matches!(
                open(&reader, &moved, &slot),
                Err(VaultError::SenderAuthFailed)
            ));
        }
        let (other_key, _) = ClientPrivateKey::generate().unwrap();
        let other_reader = ClientReader::new(other_key, vec![sender.public_key().unwrap()]);
        assert!(matches!(
            open(&other_reader, &p, &slot),
            Err(VaultError::WrongClientKey)
        ));
    }

    #[test]
    fn each_seal_uses_a_fresh_ephemeral_key() {
        let (_, public_key) = ClientPrivateKey::generate().unwrap();
        let sender = SenderKey::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let p = params();
        let a = seal_dek(&public_key, &sender, &dek, &p).unwrap();
        let b = seal_dek(&public_key, &sender, &dek, &p).unwrap();
        assert_ne!(a, b);
    }
}
