//! `greffier recordings …`: list, export and delete a tenant's recordings
//! with the node's keyring.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use greffier_vault::catalog::{Direction, RecordingEntry, E164};
use greffier_vault::store::RecordId;
use greffier_vault::TenantId;
use serde_json::json;

use super::files::{load_config, playable, write_private_file};
use crate::config::mask_number;
use crate::ops::{Actor, Ops, SystemClock};

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

impl Target {
    pub(super) async fn open(&self) -> anyhow::Result<(Ops, TenantId)> {
        let config = load_config(&self.config)?;
        let ops = Ops::open(config, Box::new(SystemClock)).await?;
        let tenant = ops.known_tenant(&self.tenant)?;
        Ok((ops, tenant))
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
    let number = number.map(parse_number).transpose()?;
    let (ops, tenant) = target.open().await?;
    let range = match number {
        Some(_) => day_range(from, to),
        None => {
            let today = ops.clock.now().date_naive();
            let retention = u64::from(ops.config.limits.max_recordings_days);
            let from = from.unwrap_or_else(|| today - Days::new(retention));
            day_range(Some(from), Some(to.unwrap_or(today)))
        }
    };
    let listed = ops
        .list_recordings(&Actor::cli_operator(), &tenant, range, number.as_ref())
        .await;
    ops.close().await;
    for entry in listed? {
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

pub(super) fn parse_number(text: &str) -> anyhow::Result<E164> {
    E164::normalise(text).ok_or_else(|| {
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

pub(super) fn parse_id(text: &str) -> anyhow::Result<RecordId> {
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
    let (ops, tenant) = target.open().await?;
    let read = ops
        .read_recording(
            &Actor::cli_operator(),
            &tenant,
            &id,
            out.is_some(),
            raw.is_some(),
        )
        .await;
    ops.close().await;
    let read = read?;
    if let Some(problem) = &read.manifest_problem {
        eprintln!("warning: the manifest of recording {id} is not usable: {problem}");
    }
    if !read.undecodable.is_empty() {
        eprintln!(
            "recording {id}: {} could not be decoded and is silence in the audio; \
             its payloads are kept (--raw FILE exports them)",
            read.undecodable.join(", ")
        );
    }
    if let (Some(raw), Some(payloads)) = (raw, read.raw_payloads) {
        write_private_file(raw, &payloads)?;
        println!(
            "{}: {} bytes of raw payloads",
            raw.display(),
            payloads.len()
        );
    }
    if let (Some(out), Some(plaintext)) = (out, read.recording) {
        let plaintext = playable(plaintext);
        write_private_file(out, &plaintext)?;
        println!("{}: {} bytes", out.display(), plaintext.len());
    }
    Ok(())
}

async fn delete(target: &Target, id: &str) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let (ops, tenant) = target.open().await?;
    let deleted = ops
        .delete_recording(&Actor::cli_operator(), &tenant, &id)
        .await;
    ops.close().await;
    deleted?;
    println!("deleted recording {id} of tenant {tenant}");
    Ok(())
}
