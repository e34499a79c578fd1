//! Binary encoding of the keyring's contents (the plaintext inside the sealed
//! file). Layout, all integers big-endian:
//!
//! ```text
//! u32 tenant_count
//! per tenant: u8 id_len, id, u8 state
//!   state 1 (active): index_key[32], u8 sealing
//!       sealing 1 (managed): u32 current_version
//!       sealing 2 (client):  public_key[32]
//!     u32 kek_count, per KEK: u32 version, kek[32]   (versions ascending)
//!   state 2 (shredded): nothing
//!   state 3 (terminating): as state 1
//! then, once the keyring has one: u8 1, sender_private_key[32]
//! ```
//!
//! The sender section is a trailer so that a keyring written before sender
//! keys existed still reads (with no sender key).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::byte_reader::ByteReader;
use crate::error::VaultError;
use crate::keys::client::SenderKey;
use crate::keys::keyring::{KeyringState, Sealing, TenantEntry, TenantKeys};
use crate::keys::secret::{IndexKey, Kek};
use crate::tenant::TenantId;

const ACTIVE: u8 = 1;
const SHREDDED: u8 = 2;
const TERMINATING: u8 = 3;
const SEALING_MANAGED: u8 = 1;
const SEALING_CLIENT: u8 = 2;
const SECTION_SENDER: u8 = 1;

pub(crate) fn encode_state(state: &KeyringState) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let mut out = Zeroizing::new(Vec::with_capacity(64 + state.tenants.len() * 128));
    out.extend_from_slice(&count(state.tenants.len())?.to_be_bytes());
    for (tenant, entry) in &state.tenants {
        let id = tenant.as_str().as_bytes();
        out.push(
            u8::try_from(id.len())
                .map_err(|_| VaultError::InvalidTenantId("longer than 64 bytes"))?,
        );
        out.extend_from_slice(id);
        match entry {
            TenantEntry::Active(keys) | TenantEntry::Terminating(keys) => {
                out.push(match entry {
                    TenantEntry::Terminating(_) => TERMINATING,
                    _ => ACTIVE,
                });
                out.extend_from_slice(keys.index_key.as_bytes());
                match &keys.sealing {
                    Sealing::Managed { version } => {
                        out.push(SEALING_MANAGED);
                        out.extend_from_slice(&version.to_be_bytes());
                    }
                    Sealing::Client { public_key } => {
                        out.push(SEALING_CLIENT);
                        out.extend_from_slice(public_key);
                    }
                }
                out.extend_from_slice(&count(keys.keks.len())?.to_be_bytes());
                for (version, kek) in &keys.keks {
                    out.extend_from_slice(&version.to_be_bytes());
                    out.extend_from_slice(kek.as_bytes());
                }
            }
            TenantEntry::Shredded => out.push(SHREDDED),
        }
    }
    if let Some(sender) = &state.sender {
        out.push(SECTION_SENDER);
        out.extend_from_slice(sender.as_bytes());
    }
    Ok(out)
}

fn count(n: usize) -> Result<u32, VaultError> {
    u32::try_from(n).map_err(|_| VaultError::Crypto("keyring too large"))
}

pub(crate) fn decode_state(bytes: &[u8]) -> Result<KeyringState, &'static str> {
    let mut input = ByteReader::new(bytes);
    let mut state = KeyringState::default();
    for _ in 0..input.u32()? {
        let id_len = usize::from(input.u8()?);
        let tenant = TenantId::from_bytes(input.take(id_len)?).map_err(|_| "invalid tenant id")?;
        let entry = match input.u8()? {
            ACTIVE => TenantEntry::Active(decode_keys(&mut input)?),
            SHREDDED => TenantEntry::Shredded,
            TERMINATING => TenantEntry::Terminating(decode_keys(&mut input)?),
            _ => return Err("unknown tenant state"),
        };
        if state.tenants.insert(tenant, entry).is_some() {
            return Err("tenant listed twice");
        }
    }
    if !input.is_empty() {
        if input.u8()? != SECTION_SENDER {
            return Err("unexpected bytes after the last tenant");
        }
        let sender = SenderKey::from_bytes(input.array()?).map_err(|_| "invalid sender key")?;
        state.sender = Some(sender);
    }
    if !input.is_empty() {
        return Err("unexpected bytes after the sender key");
    }
    Ok(state)
}

fn decode_keys(input: &mut ByteReader<'_>) -> Result<TenantKeys, &'static str> {
    let index_key = IndexKey::from_bytes(input.array()?);
    let sealing = match input.u8()? {
        SEALING_MANAGED => Sealing::Managed {
            version: input.u32()?,
        },
        SEALING_CLIENT => Sealing::Client {
            public_key: input.array()?,
        },
        _ => return Err("unknown sealing mode"),
    };
    let mut keks = BTreeMap::new();
    for _ in 0..input.u32()? {
        let version = input.u32()?;
        if keks
            .insert(version, Kek::from_bytes(input.array()?))
            .is_some()
        {
            return Err("KEK version listed twice");
        }
    }
    if let Sealing::Managed { version } = sealing {
        if !keks.contains_key(&version) {
            return Err("current KEK version missing");
        }
    }
    Ok(TenantKeys {
        keks,
        sealing,
        index_key,
    })
}
