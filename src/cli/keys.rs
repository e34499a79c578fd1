//! `greffier keys …`: the keyring (create, rotate, shred, list) and client
//! key pairs.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use base64::Engine;
use clap::Subcommand;
use greffier_vault::{ClientPrivateKey, Sealing, TenantId, TenantStatus};
use serde_json::json;
use zeroize::Zeroizing;

use super::files::{load_config, write_private_file};
use crate::config::Config;
use crate::ops::{Actor, Ops, SystemClock};
use crate::vault_setup::{self, ensure_tenant_keys, tenant_id};

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Creates the keyring, sealed by the master key, with keys for every
    /// configured tenant. Never replaces an existing keyring.
    Init {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Creates a new key-encryption key version for a managed tenant; new
    /// objects use it, older ones stay readable. Prints the new version.
    Rotate {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
    },
    /// Destroys every key of a tenant (crypto-shredding): its objects, and
    /// every copy of them, can no longer be decrypted with the keyring.
    Shred {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Confirms the destruction, which cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Lists the tenants of the keyring and of the configuration, with their
    /// key mode and versions (never key material), as JSON lines.
    List {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Prints the public half of the gateway's sender key, which clients
    /// give `greffier decrypt --sender-key` so that they accept only objects
    /// this gateway sealed (creates the key pair if the keyring predates it).
    ShowSender {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Seals the keyring under a new master key, read from an owner-only
    /// file (hex or base64 of 32 bytes). Tenant keys and objects do not
    /// change. Point `keys.master_key_file` (or the variable) at the new key
    /// and restart the gateway right after: until then it cannot re-read
    /// the keyring.
    RotateMaster {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
    /// Writes a new master key (32 random bytes, base64) to an owner-only
    /// file that must not exist yet.
    GenerateMaster {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Writes a new client private key (owner-only file) and prints the
    /// public key for the tenant file's `[keys]` section.
    GenerateClient {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

pub(super) fn run(command: KeysCommand) -> ExitCode {
    super::block_on(async move {
        match command {
            KeysCommand::Init { config } => init(&config),
            KeysCommand::Rotate { config, tenant } => rotate(&config, &tenant).await,
            KeysCommand::Shred {
                config,
                tenant,
                yes,
            } => shred(&config, &tenant, yes).await,
            KeysCommand::List { config } => list(&config).await,
            KeysCommand::ShowSender { config } => show_sender(&config).await,
            KeysCommand::RotateMaster {
                config,
                new_key_file,
            } => rotate_master(&config, &new_key_file),
            KeysCommand::GenerateMaster { out } => {
                greffier_vault::MasterKey::generate_file(&out)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                println!("wrote a new master key to {} (owner-only)", out.display());
                Ok(())
            }
            KeysCommand::GenerateClient { out } => generate_client(&out),
        }
    })
}

fn init(config_path: &Path) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let mut keyring = vault_setup::init_keyring(&config.keys)?;
    println!("created keyring {}", keyring.path().display());
    for (tenant, change) in ensure_tenant_keys(&mut keyring, config.tenants())? {
        println!("{tenant}: {change}");
    }
    Ok(())
}

fn rotate_master(config_path: &Path, new_key_file: &Path) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let mut keyring = vault_setup::open_existing_keyring(&config.keys)?;
    let new_master = greffier_vault::MasterKey::from_file(new_key_file)
        .with_context(|| format!("the new master key {}", new_key_file.display()))?;
    keyring.reseal(new_master)?;
    println!(
        "keyring {} is now sealed by the key in {}; point keys.master_key_file at it and \
         restart the gateway",
        keyring.path().display(),
        new_key_file.display()
    );
    Ok(())
}

async fn rotate(config_path: &Path, tenant: &str) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let mut ops = Ops::open(config, Box::new(SystemClock)).await?;
    let rotated = match ops.known_tenant(tenant) {
        Ok(id) => ops.rotate_key(&Actor::cli_operator(), &id).await,
        Err(error) => Err(error),
    };
    ops.close().await;
    let version = rotated?;
    println!("{tenant}: KEK version {version} now seals new objects");
    Ok(())
}

async fn shred(config_path: &Path, tenant: &str, confirmed: bool) -> anyhow::Result<()> {
    if !confirmed {
        bail!(
            "shredding destroys every key of tenant {tenant} and cannot be undone; \
             run again with --yes to confirm"
        );
    }
    let config = load_config(config_path)?;
    let mut ops = Ops::open(config, Box::new(SystemClock)).await?;
    let id = tenant_id(tenant)?;
    let shredded = ops.shred_keys(&Actor::cli_operator(), &id).await;
    let configured = ops.config.tenant(tenant).is_some();
    ops.close().await;
    match shredded?.before {
        Some(
            TenantStatus::Active {
                sealing,
                kek_versions,
            }
            | TenantStatus::Terminating {
                sealing,
                kek_versions,
            },
        ) => {
            let versions = join_versions(&kek_versions);
            println!(
                "{tenant}: shredded KEK versions [{versions}] and the blind index key; \
                 objects sealed with them can no longer be decrypted"
            );
            if let Sealing::Client { .. } = sealing {
                println!(
                    "{tenant}: objects sealed to the client's public key stay readable \
                     with the client's private key only"
                );
            }
        }
        Some(TenantStatus::Shredded) | None => println!("{tenant}: already shredded"),
    }
    if configured {
        eprintln!(
            "greffier: tenant {tenant} is still configured; remove its tenant file, \
             the gateway refuses to record for a shredded tenant"
        );
    }
    Ok(())
}

fn join_versions(versions: &[u32]) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn list(config_path: &Path) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let ops = Ops::open(config, Box::new(SystemClock)).await?;
    let listed = ops.list_keys(&Actor::cli_operator());
    let lines = listed.map(|known| key_listing(&known, &ops.config));
    ops.close().await;
    for line in lines? {
        println!("{line}");
    }
    Ok(())
}

/// One JSON object per tenant of the keyring, then per configured tenant
/// the keyring does not know yet.
fn key_listing(known: &[(TenantId, TenantStatus)], config: &Config) -> Vec<serde_json::Value> {
    let mut lines: Vec<_> = known
        .iter()
        .map(|(tenant, status)| {
            let configured = config.tenant(tenant.as_str()).is_some();
            match status {
                TenantStatus::Active {
                    sealing: Sealing::Managed { version },
                    kek_versions,
                } => json!({
                    "tenant": tenant.as_str(), "status": "active", "mode": "managed",
                    "current_version": version, "kek_versions": kek_versions,
                    "configured": configured,
                }),
                TenantStatus::Active {
                    sealing: Sealing::Client { public_key },
                    kek_versions,
                } => json!({
                    "tenant": tenant.as_str(), "status": "active", "mode": "client",
                    "public_key": base64::engine::general_purpose::STANDARD.encode(public_key),
                    "kek_versions": kek_versions, "configured": configured,
                }),
                TenantStatus::Terminating { kek_versions, .. } => json!({
                    "tenant": tenant.as_str(), "status": "terminating",
                    "kek_versions": kek_versions, "configured": configured,
                }),
                TenantStatus::Shredded => json!({
                    "tenant": tenant.as_str(), "status": "shredded", "configured": configured,
                }),
            }
        })
        .collect();
    for tenant in config.tenants() {
        if !known.iter().any(|(id, _)| id.as_str() == tenant.id) {
            lines.push(json!({
                "tenant": tenant.id, "status": "missing", "configured": true,
            }));
        }
    }
    lines
}

async fn show_sender(config_path: &Path) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let mut ops = Ops::open(config, Box::new(SystemClock)).await?;
    let public_key = ops.sender_public_key(&Actor::cli_operator());
    ops.close().await;
    println!(
        "{}",
        base64::engine::general_purpose::STANDARD.encode(public_key?)
    );
    Ok(())
}

fn generate_client(out: &Path) -> anyhow::Result<()> {
    let (private_key, public_key) = ClientPrivateKey::generate()?;
    let mut text =
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(private_key.as_bytes()));
    text.push('\n');
    write_private_file(out, text.as_bytes())?;
    let public_key = base64::engine::general_purpose::STANDARD.encode(public_key);
    println!(
        "# private key written to {}; keep it away from the gateway",
        out.display()
    );
    println!("# put this in the tenant file:");
    println!("[keys]");
    println!("mode = \"client\"");
    println!("public_key = \"{public_key}\"");
    Ok(())
}
