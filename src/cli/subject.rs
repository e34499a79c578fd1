//! `greffier subject export|erase`: a data subject's request (DPA 9), as a
//! thin adapter over the operations layer. A client-mode tenant's calls are
//! found only with the client's private key (`--private-key`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::decrypt::read_private_key;
use super::files::load_config;
use super::recordings::parse_number;
use crate::ops::{Actor, Ops, SystemClock};

#[derive(Subcommand)]
pub(super) enum SubjectCommand {
    /// Writes every recording, transcript, manifest and call record where the
    /// number is a party, decrypted (WAV, JSON), with a manifest.json listing
    /// each file and its SHA-256.
    Export {
        #[command(flatten)]
        request: Request,
        /// A new or empty directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Deletes the number's recordings and transcripts; call records stay
    /// their legal 365 days, held data stays. Prints one JSON line per object
    /// deleted or kept (with the reason), then a summary line.
    Erase {
        #[command(flatten)]
        request: Request,
    },
}

#[derive(Args)]
pub(super) struct Request {
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    #[arg(long)]
    tenant: String,
    /// The data subject's number, E.164 (`+` optional).
    #[arg(long, value_name = "E164")]
    number: String,
    /// The client's private key, required for a client-mode tenant (the
    /// gateway cannot search its calls without it): 32 raw bytes, 64 hex
    /// digits or base64.
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
}

pub(super) fn run(command: SubjectCommand) -> ExitCode {
    super::block_on(async move {
        let actor = Actor::cli_operator();
        match command {
            SubjectCommand::Export { request, out } => {
                let number = parse_number(&request.number)?;
                let private_key = request
                    .private_key
                    .as_deref()
                    .map(read_private_key)
                    .transpose()?;
                let ops = Ops::open(load_config(&request.config)?, Box::new(SystemClock)).await?;
                let tenant = ops.known_tenant(&request.tenant)?;
                let exported = ops
                    .subject_export(&actor, &tenant, &number, private_key.as_ref(), &out)
                    .await;
                ops.close().await;
                println!("{}", json!({ "summary": exported? }));
                Ok(())
            }
            SubjectCommand::Erase { request } => {
                let number = parse_number(&request.number)?;
                let private_key = request
                    .private_key
                    .as_deref()
                    .map(read_private_key)
                    .transpose()?;
                let ops = Ops::open(load_config(&request.config)?, Box::new(SystemClock)).await?;
                let tenant = ops.known_tenant(&request.tenant)?;
                let erased = ops
                    .subject_erase(&actor, &tenant, &number, private_key.as_ref(), |line| {
                        println!("{}", json!(line));
                    })
                    .await;
                ops.close().await;
                println!("{}", json!({ "summary": erased? }));
                Ok(())
            }
        }
    })
}
