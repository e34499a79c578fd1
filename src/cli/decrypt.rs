//! `greffier decrypt`: the client's side of `client`-mode tenants. Opens an
//! object with the client's own X25519 private key, which the gateway never
//! holds, and only if the gateway's sender key sealed it (HPKE auth mode):
//! the tenant's public key is public, so without that check anyone with
//! write access to the store could plant a recording.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use clap::Args;
use greffier_vault::{
    decrypt_for_client, ClientPrivateKey, ClientReader, Header, KeySlot, ObjectKind, ObjectRef,
    Uuid, VaultError,
};
use zeroize::Zeroizing;

use super::files::{playable, write_private_file};

#[derive(Args)]
pub(super) struct DecryptArgs {
    /// The client's private key: 32 raw bytes, 64 hex digits or base64.
    #[arg(long, value_name = "FILE")]
    private_key: PathBuf,
    /// The gateway's sender public key (`greffier keys show-sender`), same
    /// forms; repeat for several gateways. Objects sealed by any other
    /// sender are refused.
    #[arg(
        long = "sender-key",
        value_name = "FILE",
        required_unless_present = "accept_unauthenticated"
    )]
    sender_keys: Vec<PathBuf>,
    /// Also opens objects written before sender keys existed (HPKE base
    /// mode), whose writer cannot be authenticated; a warning is printed.
    #[arg(long)]
    accept_unauthenticated: bool,
    /// An encrypted object (`.grf`) of the client's tenant.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Where the plaintext goes; written only if the whole object
    /// authenticates.
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

pub(super) fn run(args: DecryptArgs) -> ExitCode {
    super::block_on(async move { decrypt(&args) })
}

fn decrypt(args: &DecryptArgs) -> anyhow::Result<()> {
    let private_key = read_private_key(&args.private_key)?;
    let senders = args
        .sender_keys
        .iter()
        .map(|path| read_sender_key(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut reader = ClientReader::new(private_key, senders);
    if args.accept_unauthenticated {
        reader = reader.accepting_unauthenticated();
    }
    let object = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let (header, plaintext) = decrypt_for_client(&reader, &object)
        .with_context(|| format!("{} cannot be decrypted", args.input.display()))?;
    if let Some(named) = object_named(&args.input) {
        if !named.matches(&header) {
            let error = VaultError::WrongObject {
                expected: named.expected(),
                found: header.object(),
            };
            bail!(
                "{} cannot be decrypted; nothing was written: {error}",
                args.input.display()
            );
        }
    }
    if let KeySlot::Client { .. } = header.key_slot() {
        eprintln!(
            "warning: {} was sealed without sender authentication (HPKE base mode): \
             its writer cannot be verified",
            args.input.display()
        );
    }
    let plaintext = playable(plaintext);
    write_private_file(&args.output, &plaintext)?;
    println!(
        "{}: {} bytes decrypted",
        args.output.display(),
        plaintext.len()
    );
    Ok(())
}

/// What a stored object's file name says it is (`vault/FORMAT.md` §8):
/// `{record_id}.grf` (a recording or a transcript), `.manifest.grf`,
/// `.rtp.grf`, or a call record `{node}-{hh}-{record_id}.grf`. A file
/// renamed to anything else is not checked.
struct NamedObject {
    record_id: Uuid,
    kinds: &'static [ObjectKind],
}

impl NamedObject {
    fn matches(&self, header: &Header) -> bool {
        header.record_id() == self.record_id && self.kinds.contains(&header.kind())
    }

    fn expected(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kinds.first().copied().unwrap_or(ObjectKind::Recording),
            record_id: self.record_id,
        }
    }
}

fn object_named(path: &Path) -> Option<NamedObject> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".grf")?;
    let (id, kinds): (&str, &'static [ObjectKind]) =
        if let Some(id) = stem.strip_suffix(".manifest") {
            (id, &[ObjectKind::Manifest])
        } else if let Some(id) = stem.strip_suffix(".rtp") {
            (id, &[ObjectKind::RawPayloads])
        } else if stem.len() > UUID_TEXT_LEN && stem.matches('-').count() == 6 {
            // `{node}-{hh}-{record_id}`: a node name holds no `-`.
            let id = stem.splitn(3, '-').nth(2)?;
            (id, &[ObjectKind::Cdr])
        } else {
            (stem, &[ObjectKind::Recording, ObjectKind::Transcript])
        };
    Some(NamedObject {
        record_id: Uuid::try_parse(id).ok()?,
        kinds,
    })
}

/// Length of a hyphenated UUID.
const UUID_TEXT_LEN: usize = 36;

pub(super) fn read_private_key(path: &Path) -> anyhow::Result<ClientPrivateKey> {
    let bytes = read_key_file(path, "private key")?;
    ClientPrivateKey::from_bytes(*bytes).with_context(|| format!("private key {}", path.display()))
}

fn read_sender_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    Ok(*read_key_file(path, "sender key")?)
}

/// A 32-byte key from a file, in any form [`decode_key`] accepts.
fn read_key_file(path: &Path, what: &str) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let contents = Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("cannot read the {what} {}", path.display()))?,
    );
    decode_key(&contents).ok_or_else(|| {
        anyhow!(
            "{what} {}: expected 32 raw bytes, 64 hex digits, or base64 of 32 bytes",
            path.display()
        )
    })
}

/// 32 raw bytes, or hex or base64 text (surrounding whitespace ignored).
fn decode_key(contents: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    if let Ok(raw) = <[u8; 32]>::try_from(contents) {
        *key = raw;
        return Some(key);
    }
    let text = contents.trim_ascii();
    if text.len() == 64 && hex::decode_to_slice(text, key.as_mut_slice()).is_ok() {
        return Some(key);
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let decoded = engines
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(Zeroizing::new)?;
    key.copy_from_slice(decoded.get(..32).filter(|_| decoded.len() == 32)?);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_raw_hex_and_base64_forms_of_a_key() {
        let raw = [0x3cu8; 32];
        let forms: Vec<Vec<u8>> = vec![
            raw.to_vec(),
            format!("{}\n", hex::encode(raw)).into_bytes(),
            format!(
                "{}\n",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
            .into_bytes(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(raw)
                .into_bytes(),
        ];
        for form in forms {
            assert_eq!(decode_key(&form).as_deref(), Some(&raw));
        }
    }

    #[test]
    fn stored_names_say_which_object_they_hold() {
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let cases: [(String, Option<&[ObjectKind]>); 6] = [
            (
                format!("{id}.grf"),
                Some(&[ObjectKind::Recording, ObjectKind::Transcript]),
            ),
            (format!("{id}.manifest.grf"), Some(&[ObjectKind::Manifest])),
            (format!("{id}.rtp.grf"), Some(&[ObjectKind::RawPayloads])),
            (format!("gw1-14-{id}.grf"), Some(&[ObjectKind::Cdr])),
            ("call.grf".to_string(), None),
            (format!("{id}.wav"), None),
        ];
        for (name, kinds) in cases {
            let named = object_named(Path::new(&name));
            assert_eq!(named.as_ref().map(|n| n.kinds), kinds, "{name}");
            if let Some(named) = named {
                assert_eq!(named.record_id.to_string(), id);
            }
        }
    }

    #[test]
    fn refuses_other_lengths_and_text() {
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        for bad in [&b""[..], b"not a key", short.as_bytes(), &[7u8; 33]] {
            assert!(decode_key(bad).is_none());
        }
    }
}
