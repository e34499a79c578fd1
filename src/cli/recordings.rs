//! `greffier recordings …`: list, export and delete a tenant's recordings
//! with the node's keyring.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use greffier_vault::audit::{Action, ObjectRef, Outcome};
use greffier_vault::catalog::{Direction, RecordingEntry, E164};
use greffier_vault::store::{RecordId, StoreError, VaultStore};
use greffier_vault::{Keyring, TenantId, VaultError};
use serde_json::json;

use super::audit::CliAudit;
use super::files::{load_config, playable, write_private_file};
use crate::config::{mask_number, normalize_number, Config};
use crate::vault_setup::{self, tenant_id};

#[derive(Subcommand)]
pub(super) enum RecordingsCommand {
    /// Lists a tenant's recordings as JSON lines, oldest first.
    List {
        #[command(flatten)]
        target: Target,
        /// First day (UTC), included. Default: as far back as the longest
        /// retention allowed (`limits.max_recordings_days`).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<NaiveDate>,
        /// Last day (UTC), included. Default: today.
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<NaiveDate>,
        /// Only calls from or to this number (E.164), through the blind index.
        #[arg(long, value_name = "E164")]
        number: Option<String>,
    },
    /// Decrypts one recording into a playable file; writes nothing unless the
    /// whole recording authenticates. Says which codecs could not be decoded
    /// (silence in the audio); `--raw` exports their payloads as received.
    #[command(group(clap::ArgGroup::new("output").required(true).multiple(true).args(["out", "raw"])))]
    Get {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "ID")]
        id: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Writes the payloads the recorder could not decode, in the raw
        /// payloads layout of vault/FORMAT.md §10.
        #[arg(long, value_name = "FILE")]
        raw: Option<PathBuf>,
    },
    /// Deletes one recording, its manifest and its subject index entries.
    Delete {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "ID")]
        id: String,
    },
}

#[derive(Args)]
pub(super) struct Target {
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    #[arg(long)]
    tenant: String,
}

/// What every recordings subcommand works with.
struct Opened {
    config: Config,
    store: VaultStore,
    keyring: Keyring,
    tenant: TenantId,
}

impl Target {
    fn open(&self) -> anyhow::Result<Opened> {
        let config = load_config(&self.config)?;
        let keyring = vault_setup::open_existing_keyring(&config.keys)?;
        let store = vault_setup::open_store(&config.storage)?;
        let tenant = tenant_id(&self.tenant)?;
        // A shredded tenant stays known, so its objects can still be deleted.
        if !keyring.tenants().iter().any(|(known, _)| *known == tenant) {
            return Err(VaultError::UnknownTenant { tenant }.into());
        }
        Ok(Opened {
            config,
            store,
            keyring,
            tenant,
        })
    }
}

pub(super) fn run(command: RecordingsCommand) -> ExitCode {
    super::block_on(async move {
        match command {
            RecordingsCommand::List {
                target,
                from,
                to,
                number,
            } => list(&target, from, to, number.as_deref()).await,
            RecordingsCommand::Get {
                target,
                id,
                out,
                raw,
            } => get(&target, &id, out.as_deref(), raw.as_deref()).await,
            RecordingsCommand::Delete { target, id } => delete(&target, &id).await,
        }
    })
}

async fn list(
    target: &Target,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    number: Option<&str>,
) -> anyhow::Result<()> {
    let opened = target.open()?;
    let (store, keyring, tenant) = (&opened.store, &opened.keyring, &opened.tenant);
    let entries = match number {
        Some(number) => {
            let number = parse_number(number)?;
            let all = store.list_by_number(keyring, tenant, &number).await?;
            let range = day_range(from, to);
            all.into_iter()
                .filter(|entry| range.contains(&entry.start))
                .collect()
        }
        None => {
            let today = Utc::now().date_naive();
            let retention = u64::from(opened.config.limits.max_recordings_days);
            let from = from.unwrap_or_else(|| today - Days::new(retention));
            let range = day_range(Some(from), Some(to.unwrap_or(today)));
            store
                .list_recordings(keyring, tenant, range.start, range.end)
                .await?
        }
    };
    for entry in entries {
        println!("{}", entry_json(&entry));
    }
    Ok(())
}

/// `[from 00:00, day after to 00:00)` in UTC; an open side is unbounded.
fn day_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> std::ops::Range<DateTime<Utc>> {
    let start = from.map_or(DateTime::<Utc>::MIN_UTC, |day| {
        day.and_time(chrono::NaiveTime::MIN).and_utc()
    });
    let end = to
        .and_then(|day| day.succ_opt())
        .map_or(DateTime::<Utc>::MAX_UTC, |day| {
            day.and_time(chrono::NaiveTime::MIN).and_utc()
        });
    start..end
}

fn parse_number(text: &str) -> anyhow::Result<E164> {
    normalize_number(text)
        .and_then(|number| E164::new(&number).ok())
        .ok_or_else(|| {
            anyhow!(
                "--number {}: expected an E.164 number (`+` and 8 to 15 digits)",
                mask_number(text)
            )
        })
}

fn entry_json(entry: &RecordingEntry) -> serde_json::Value {
    let duration_secs = entry
        .duration
        .map(|duration| duration.num_milliseconds() as f64 / 1000.0);
    json!({
        "id": entry.id.to_string(),
        "start": entry.start.to_rfc3339_opts(SecondsFormat::Millis, true),
        "duration_secs": duration_secs,
        "direction": match entry.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        },
        "incomplete": entry.incomplete,
        "undecodable": entry.undecodable,
    })
}

fn parse_id(text: &str) -> anyhow::Result<RecordId> {
    text.parse()
        .with_context(|| format!("--id {text:?}: expected a recording id (UUIDv7)"))
}

async fn get(
    target: &Target,
    id: &str,
    out: Option<&Path>,
    raw: Option<&Path>,
) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let opened = target.open()?;
    let audit = CliAudit::open(&opened.config, &opened.store).await?;
    let read = read_for_export(&opened, &id, out.is_some(), raw.is_some()).await;
    // Nothing leaves the vault before its `read` entry is on disk.
    let audited = audit
        .record(
            &opened.tenant,
            Action::Read,
            [ObjectRef::Record(id)],
            Outcome::of(&read),
        )
        .await;
    audit.close().await;
    let (plaintext, payloads) = read?;
    audited?;
    if let (Some(raw), Some(payloads)) = (raw, payloads) {
        write_private_file(raw, &payloads)?;
        println!(
            "{}: {} bytes of raw payloads",
            raw.display(),
            payloads.len()
        );
    }
    if let (Some(out), Some(plaintext)) = (out, plaintext) {
        let plaintext = playable(plaintext);
        write_private_file(out, &plaintext)?;
        println!("{}: {} bytes", out.display(), plaintext.len());
    }
    Ok(())
}

/// Decrypts what `get` was asked for: the recording, its raw payloads, or
/// both.
async fn read_for_export(
    opened: &Opened,
    id: &RecordId,
    recording: bool,
    raw: bool,
) -> anyhow::Result<(Option<Vec<u8>>, Option<Vec<u8>>)> {
    // The manifest says what the audio lacks; without it (deleted, or keys
    // held by the client) the recording is still exported. One that fails
    // its checks (altered, or another record's copied over it) is reported:
    // the recording is then checked on its own.
    let undecodable = match opened
        .store
        .read_manifest(&opened.keyring, &opened.tenant, id)
        .await
    {
        Ok(manifest) => manifest.undecodable,
        // Missing, or no key for it: the recording's own read says so.
        Err(StoreError::NotFound { .. })
        | Err(StoreError::Vault(
            VaultError::ClientKeyRequired { .. }
            | VaultError::KeyShredded { .. }
            | VaultError::UnknownTenant { .. }
            | VaultError::KeyNotFound { .. },
        )) => Vec::new(),
        Err(error) => {
            eprintln!("warning: the manifest of recording {id} is not usable: {error}");
            Vec::new()
        }
    };
    if !undecodable.is_empty() {
        eprintln!(
            "recording {id}: {} could not be decoded and is silence in the audio; \
             its payloads are kept (--raw FILE exports them)",
            undecodable.join(", ")
        );
    }
    let payloads = if raw {
        let payloads = opened
            .store
            .read_raw_payloads(&opened.keyring, &opened.tenant, id)
            .await
            .with_context(|| {
                format!(
                    "raw payloads of recording {id} of tenant {} cannot be read; nothing was written",
                    opened.tenant
                )
            })?;
        Some(payloads)
    } else {
        None
    };
    let plaintext = if recording {
        let plaintext = opened
            .store
            .read_recording(&opened.keyring, &opened.tenant, id)
            .await
            .with_context(|| {
                format!(
                    "recording {id} of tenant {} cannot be read; nothing was written",
                    opened.tenant
                )
            })?;
        Some(plaintext)
    } else {
        None
    };
    Ok((plaintext, payloads))
}

async fn delete(target: &Target, id: &str) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let opened = target.open()?;
    let audit = CliAudit::open(&opened.config, &opened.store).await?;
    let deleted = opened
        .store
        .delete_recording(&opened.keyring, &opened.tenant, &id)
        .await
        .with_context(|| format!("recording {id} of tenant {}", opened.tenant));
    let audited = audit
        .record(
            &opened.tenant,
            Action::Deleted,
            [ObjectRef::Record(id)],
            Outcome::of(&deleted),
        )
        .await;
    audit.close().await;
    deleted?;
    audited.context("the recording was deleted")?;
    println!("deleted recording {id} of tenant {}", opened.tenant);
    Ok(())
}
