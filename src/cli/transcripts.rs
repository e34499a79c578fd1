//! `greffier transcripts …`: a tenant's transcription jobs and its
//! transcripts, with the node's keyring.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::files::write_private_file;
use super::recordings::{parse_id, Target};
use crate::ops::transcripts::TranscriptDeletion;
use crate::ops::Actor;

#[derive(Subcommand)]
pub(super) enum TranscriptsCommand {
    /// Lists a tenant's transcriptions as JSON lines, oldest call first: the
    /// job's state (with the gate's refusal code), its attempts, and whether
    /// the transcript is stored.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Decrypts one call's transcript and prints its JSON (or writes it to
    /// `--out`); fails when the call has none.
    Get {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "ID")]
        id: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Deletes one call's transcript (its recording stays); refused under a
    /// legal hold.
    Delete {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "ID")]
        id: String,
    },
    /// Works through the node's due transcription jobs once, as the
    /// gateway's worker does every `poll_every`: asks the sub-processor gate,
    /// sends, stores, audits. Prints what the pass did as one JSON line.
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// One pass, then exit (the only mode: the gateway runs the loop).
        #[arg(long, required = true)]
        once: bool,
        /// The time the pass takes as now (RFC 3339), for a notice period
        /// or a backoff to be seen as over; default: the clock.
        #[arg(long, value_name = "RFC3339")]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
}

pub(super) fn run(command: TranscriptsCommand) -> ExitCode {
    super::block_on(async move {
        match command {
            TranscriptsCommand::List { target } => list(&target).await,
            TranscriptsCommand::Get { target, id, out } => get(&target, &id, out.as_deref()).await,
            TranscriptsCommand::Delete { target, id } => delete(&target, &id).await,
            TranscriptsCommand::Run { config, now, .. } => run_once(&config, now).await,
        }
    })
}

async fn run_once(
    config_path: &Path,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
    let config = crate::config::Config::load(config_path)
        .map_err(|problems| anyhow::anyhow!("the configuration has problems:\n{problems}"))?;
    let pass = crate::transcription::worker::run_once(config, now).await?;
    println!(
        "{}",
        serde_json::json!({
            "pending": pass.pending,
            "refused": pass.refused,
            "done": pass.done,
            "failed": pass.failed,
            "sent": pass.sent,
            "busy": pass.busy,
        })
    );
    Ok(())
}

async fn list(target: &Target) -> anyhow::Result<()> {
    let (ops, tenant) = target.open().await?;
    let listed = ops
        .list_transcriptions(&Actor::cli_operator(), &tenant)
        .await;
    ops.close().await;
    for status in listed? {
        println!("{}", serde_json::to_string(&status)?);
    }
    Ok(())
}

async fn get(target: &Target, id: &str, out: Option<&Path>) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let (ops, tenant) = target.open().await?;
    let read = ops
        .read_transcript(&Actor::cli_operator(), &tenant, &id)
        .await;
    ops.close().await;
    let Some(transcript) = read? else {
        bail!(
            "call {id} of tenant {tenant} has no transcript (not transcribed, not yet, or \
             past its retention); `greffier transcripts list` shows its job"
        );
    };
    let json = serde_json::to_vec_pretty(&transcript).context("the transcript")?;
    match out {
        Some(out) => {
            write_private_file(out, &json)?;
            println!("{}: {} segments", out.display(), transcript.segments.len());
        }
        None => println!("{}", String::from_utf8_lossy(&json)),
    }
    Ok(())
}

async fn delete(target: &Target, id: &str) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let (ops, tenant) = target.open().await?;
    let deleted = ops
        .delete_transcript(&Actor::cli_operator(), &tenant, &id)
        .await;
    ops.close().await;
    match deleted? {
        TranscriptDeletion::Deleted => {
            println!("deleted the transcript of {id} of tenant {tenant}")
        }
        TranscriptDeletion::NotStored => bail!("call {id} of tenant {tenant} has no transcript"),
    }
    Ok(())
}
