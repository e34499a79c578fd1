//! `greffier tenant terminate`: a thin adapter over the operations layer's
//! termination (docs/termination.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{ArgGroup, Subcommand};
use serde_json::json;

use super::files::load_config;
use crate::ops::terminate::TerminationMode;
use crate::ops::{Actor, Ops, SystemClock};

#[derive(Subcommand)]
pub(super) enum TenantCommand {
    /// Ends a tenant's contract (DPA 8.3): returns its data in open formats
    /// (--return DIR) or not (--delete), deletes every recording,
    /// transcript, manifest, raw payload and subject index entry, then
    /// shreds its keys. Call records stay until their 365 days, audit
    /// entries stay. Prints one JSON line per object deleted and a summary
    /// line. A run that stopped is finished by running it again; one a
    /// legal hold stops waits, keys intact, for the hold's release.
    #[command(group(ArgGroup::new("mode").required(true).args(["return_dir", "delete"])))]
    Terminate {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Writes everything of the tenant, decrypted, into this new or
        /// empty directory first (WAV, JSON, manifest.json with SHA-256s).
        #[arg(long = "return", value_name = "DIR")]
        return_dir: Option<PathBuf>,
        /// Deletes without returning anything.
        #[arg(long)]
        delete: bool,
    },
}

pub(super) fn run(command: TenantCommand) -> ExitCode {
    super::block_on(async move {
        let TenantCommand::Terminate {
            config,
            tenant,
            return_dir,
            delete: _,
        } = command;
        let mode = match return_dir {
            Some(dir) => TerminationMode::Return(dir),
            None => TerminationMode::Delete,
        };
        let mut ops = Ops::open(load_config(&config)?, Box::new(SystemClock)).await?;
        let id = ops.known_tenant(&tenant)?;
        let configured = ops.config.tenant(&tenant).is_some();
        let terminated = ops
            .terminate(&Actor::cli_operator(), &id, &mode, |object| {
                println!("{}", json!(object));
            })
            .await;
        ops.close().await;
        let summary = terminated?;
        println!("{}", json!({ "summary": summary }));
        if !summary.finished {
            bail!(
                "tenant {tenant}: {} records are under legal hold ({}); they were kept, and so \
                 were the tenant's keys, which would destroy them; everything else is returned \
                 and deleted. Run this again once the holds are released to finish",
                summary.held_records,
                summary.holds.join(", ")
            );
        }
        if configured {
            eprintln!(
                "greffier: tenant {tenant} is terminated; remove its tenant file (the gateway \
                 refuses its calls, and refuses to load a shredded tenant at its next start)"
            );
        }
        Ok(())
    })
}
