//! `greffier audit …`: checks every node's audit chain in the store, and
//! gives a tenant its own entries. Also the one place CLI commands write
//! their audit entries through.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use greffier_vault::audit::{read_chains, tenant_lines, verify_chain, AuditLog};

use super::files::load_config;
use crate::vault_setup::{self, node_id, tenant_id};

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Walks every node's audit chain in the store; names the first entry
    /// that was changed, removed, reordered or inserted and exits non-zero.
    Verify {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Prints a tenant's own audit entries as JSON lines, byte for byte as
    /// stored, oldest first.
    Export(ExportArgs),
}

#[derive(Args)]
pub(super) struct ExportArgs {
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    #[arg(long)]
    tenant: String,
    /// First day (UTC), included.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<NaiveDate>,
    /// Last day (UTC), included.
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<NaiveDate>,
}

pub(super) fn run(command: AuditCommand) -> ExitCode {
    super::block_on(async move {
        match command {
            AuditCommand::Verify { config } => verify(&config).await,
            AuditCommand::Export(args) => export(&args).await,
        }
    })
}

async fn verify(config_path: &std::path::Path) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let store = vault_setup::open_store(&config.storage)?;
    let local_node = node_id(&config.node.id)?;
    let anchor = AuditLog::anchor(&config.storage.spool_dir)
        .await
        .context("the node's audit head in storage.spool_dir")?;
    let stored = read_chains(&store)
        .await
        .context("cannot read the audit segments")?;
    let mut broken = 0;
    for stray in &stored.strays {
        println!("{stray}: inserted: not an audit segment (nothing else belongs under audit/)");
        broken += 1;
    }
    let mut local_seen = false;
    for (node, segments) in &stored.chains {
        let anchor = if *node == local_node {
            local_seen = true;
            anchor
        } else {
            None
        };
        let report = verify_chain(segments, anchor);
        let summary = format!(
            "chain {}: {} segments, {} entries, head seq {} hash {}",
            node.as_str(),
            report.segments,
            report.entries,
            report.head.next_seq.saturating_sub(1),
            hex::encode(report.head.last_hash)
        );
        match report.finding {
            None => println!("{summary}: intact"),
            Some(finding) => {
                println!("{summary}: BROKEN at {finding}");
                broken += 1;
            }
        }
    }
    if let (Some(anchor), false) = (anchor, local_seen) {
        if anchor.next_seq > 0 {
            println!(
                "chain {}: removed: the node sealed entries up to seq {} but no segment of it is in the store",
                local_node.as_str(),
                anchor.next_seq - 1
            );
            broken += 1;
        }
    }
    if stored.chains.is_empty() && broken == 0 {
        println!("no audit segment in the store yet");
    }
    if broken > 0 {
        bail!("audit verify: {broken} problem(s) found");
    }
    Ok(())
}

async fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    let tenant = tenant_id(&args.tenant)?;
    let store = vault_setup::open_store(&config.storage)?;
    let from = args.from.map_or(DateTime::<Utc>::MIN_UTC, |day| {
        day.and_time(chrono::NaiveTime::MIN).and_utc()
    });
    let to = args
        .to
        .and_then(|day| day.succ_opt())
        .map_or(DateTime::<Utc>::MAX_UTC, |day| {
            day.and_time(chrono::NaiveTime::MIN).and_utc()
        });
    let stored = read_chains(&store)
        .await
        .context("cannot read the audit segments")?;
    let mut lines: Vec<_> = stored
        .chains
        .iter()
        .flat_map(|(_, segments)| tenant_lines(segments, tenant.as_str(), from, to))
        .collect();
    lines.sort_by_key(|(time, _)| *time);
    let mut out = std::io::stdout().lock();
    for (_, line) in lines {
        use std::io::Write;
        out.write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .context("cannot write the export")?;
    }
    Ok(())
}
