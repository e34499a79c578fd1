//! `greffier decrypt`: the client's side of `client`-mode tenants. Opens an
//! object with the client's own X25519 private key, which the gateway never
//! holds, and only if the gateway's sender key sealed it (HPKE auth mode):
//! the tenant's public key is public, so without that check anyone with
//! write access to the store could plant a recording.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use base64::Engine;
use clap::Args;
use greffier_vault::{decrypt_for_client, ClientPrivateKey, ClientReader, KeySlot};
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

fn read_private_key(path: &Path) -> anyhow::Result<ClientPrivateKey> {
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
    fn refuses_other_lengths_and_text() {
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        for bad in [&b""[..], b"not a key", short.as_bytes(), &[7u8; 33]] {
            assert!(decode_key(bad).is_none());
        }
    }
}
