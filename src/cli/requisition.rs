//! `greffier requisition export`: a thin adapter over the operations layer's
//! requisitions (src/ops/requisition.rs).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::files::load_config;
use super::recordings::parse_number;
use crate::ops::requisition::RequisitionRequest;
use crate::ops::{Actor, Ops, SystemClock};

#[derive(Subcommand)]
pub(super) enum RequisitionCommand {
    /// Exports, for an authority, the call records of one number over a
    /// period: `call-records/{record_id}.json` and `manifest.json` (with
    /// their SHA-256) in a new directory. Audited; the tenant sees the entry in
    /// its audit export unless `--confidential`.
    Export(ExportArgs),
}

#[derive(Args)]
pub(super) struct ExportArgs {
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    #[arg(long)]
    tenant: String,
    /// The number (E.164) the authority asks about: calls where it is the
    /// caller or the callee.
    #[arg(long, value_name = "E164")]
    number: String,
    /// First day (UTC), included.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: NaiveDate,
    /// Last day (UTC), included.
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: NaiveDate,
    /// A new (or empty) directory for the export, readable by its owner only.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The law forbids telling the tenant: the audit entry stays out of its
    /// `audit export` (it stays in the chain `audit verify` checks).
    #[arg(long)]
    confidential: bool,
    /// The authority's reference (case, order), written in the manifest.
    #[arg(long, value_name = "TEXT")]
    reference: Option<String>,
}

pub(super) fn run(command: RequisitionCommand) -> ExitCode {
    super::block_on(async move {
        match command {
            RequisitionCommand::Export(args) => export(&args).await,
        }
    })
}

async fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let number = parse_number(&args.number)?;
    let config = load_config(&args.config)?;
    let ops = Ops::open(config, Box::new(SystemClock)).await?;
    let exported = match ops.known_tenant(&args.tenant) {
        Ok(tenant) => {
            let request = RequisitionRequest {
                tenant,
                number,
                from: args.from,
                to: args.to,
                reference: args.reference.clone(),
                confidential: args.confidential,
            };
            ops.requisition(&Actor::cli_operator(), &request, &args.out)
                .await
        }
        Err(error) => Err(error),
    };
    ops.close().await;
    let export = exported?;
    println!(
        "{}",
        serde_json::json!({
            "tenant": args.tenant,
            "call_records": export.records.len(),
            "records": export.records.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "manifest": export.manifest,
            "confidential": args.confidential,
        })
    );
    Ok(())
}
