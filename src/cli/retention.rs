//! `greffier retention sweep` and `greffier hold …`: thin adapters over the
//! operations layer's sweeper and legal holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::Subcommand;
use greffier_vault::Uuid;
use serde_json::json;

use super::files::load_config;
use super::recordings::parse_number;
use crate::ops::holds::{Hold, HoldSpec, HoldTarget};
use crate::ops::{Actor, Clock, FixedClock, Ops, SystemClock};

#[derive(Subcommand)]
pub(super) enum RetentionCommand {
    /// Deletes what has expired, per tenant and category, except held data;
    /// prints one JSON line per object deleted (or that would be) and a
    /// summary line.
    Sweep {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Sweeps as if it were this instant (RFC 3339).
        #[arg(long, value_name = "RFC3339")]
        now: Option<DateTime<Utc>>,
        /// Says what would be deleted; deletes nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub(super) enum HoldCommand {
    /// Places a legal hold on a tenant, one number's calls or one call.
    Set {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// The calls where this number (E.164) is a party.
        #[arg(long, value_name = "E164", conflicts_with = "record")]
        number: Option<String>,
        /// One call, by record id.
        #[arg(long, value_name = "ID")]
        record: Option<String>,
        /// Why (stored sealed for the tenant).
        #[arg(long)]
        reason: String,
        /// Last day held (UTC), included; default: until released.
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<NaiveDate>,
    },
    /// Releases a hold.
    Release {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, value_name = "ID")]
        id: Uuid,
    },
    /// Lists holds as JSON lines.
    List {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub(super) fn run(command: RetentionCommand) -> ExitCode {
    super::block_on(async move {
        let RetentionCommand::Sweep {
            config,
            tenant,
            now,
            dry_run,
        } = command;
        let clock: Box<dyn Clock> = match now {
            Some(now) => Box::new(FixedClock(now)),
            None => Box::new(SystemClock),
        };
        let ops = Ops::open(load_config(&config)?, clock).await?;
        let only = tenant
            .as_deref()
            .map(|id| ops.known_tenant(id))
            .transpose()?;
        let swept = ops
            .sweep(&Actor::cli_operator(), only.as_ref(), dry_run, |object| {
                println!("{}", json!(object));
            })
            .await;
        ops.close().await;
        println!("{}", json!({ "summary": swept? }));
        Ok(())
    })
}

pub(super) fn run_hold(command: HoldCommand) -> ExitCode {
    super::block_on(async move {
        let actor = Actor::cli_operator();
        match command {
            HoldCommand::Set {
                config,
                tenant,
                number,
                record,
                reason,
                until,
            } => {
                let ops = Ops::open(load_config(&config)?, Box::new(SystemClock)).await?;
                let tenant = ops.known_tenant(&tenant)?;
                let spec = match (number, record) {
                    (Some(number), _) => HoldSpec::Number(parse_number(&number)?),
                    (None, Some(record)) => {
                        HoldSpec::Record(record.parse().with_context(|| {
                            format!("--record {record:?}: expected a record id")
                        })?)
                    }
                    (None, None) => HoldSpec::Tenant,
                };
                let set = ops.set_hold(&actor, &tenant, spec, &reason, until).await;
                ops.close().await;
                let hold = set?;
                println!("{}", hold_json(&hold, None));
            }
            HoldCommand::Release { config, id } => {
                let ops = Ops::open(load_config(&config)?, Box::new(SystemClock)).await?;
                let released = ops.release_hold(&actor, &id).await;
                ops.close().await;
                let hold = released?;
                println!("released hold {} of tenant {}", hold.id, hold.tenant);
            }
            HoldCommand::List { config, tenant } => {
                let ops = Ops::open(load_config(&config)?, Box::new(SystemClock)).await?;
                let tenants = match tenant {
                    Some(tenant) => vec![ops.known_tenant(&tenant)?],
                    None => ops
                        .keyring
                        .tenants()
                        .into_iter()
                        .map(|(tenant, _)| tenant)
                        .collect(),
                };
                let mut lines = Vec::new();
                for tenant in &tenants {
                    for hold in ops.list_holds(&actor, tenant).await? {
                        lines.push(hold_json(&hold, Some(&ops)));
                    }
                }
                ops.close().await;
                for line in lines {
                    println!("{line}");
                }
            }
        }
        Ok(())
    })
}

fn hold_json(hold: &Hold, ops: Option<&Ops>) -> serde_json::Value {
    let target = match &hold.target {
        HoldTarget::Tenant => "tenant".to_owned(),
        HoldTarget::Record(id) => format!("record:{id}"),
        HoldTarget::Subject(index) => format!("subject:{}", index.as_str()),
    };
    let mut value = json!({
        "id": hold.id.hyphenated().to_string(),
        "tenant": hold.tenant.as_str(),
        "target": target,
        "created": hold.created.to_rfc3339_opts(SecondsFormat::Millis, true),
        "until": hold.until,
    });
    if let Some(ops) = ops {
        value["active"] = json!(hold.active(ops.clock.now()));
        value["reason"] = json!(ops.hold_reason(hold));
    }
    value
}
