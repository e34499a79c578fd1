//! `greffier token …` and `greffier user …`: the admin API's credentials,
//! kept as Argon2id hashes in `[admin] credentials_file` (the running
//! gateway reads the file again when it changes).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use greffier_vault::audit::Role;

use super::files::load_config;
use crate::api::credentials::{role_name, Credentials, Grant};
use crate::config::{normalize_number, Config};

#[derive(Args)]
#[group(required = true, multiple = true)]
pub(super) struct Owner {
    /// The tenant the credential belongs to.
    #[arg(long, conflicts_with = "operator", requires = "role")]
    tenant: Option<String>,
    /// super_admin, admin, supervisor or user.
    #[arg(long, requires = "tenant")]
    role: Option<String>,
    /// The processor's operator: no tenant, never content.
    #[arg(long)]
    operator: bool,
}

#[derive(Subcommand)]
pub(super) enum TokenCommand {
    /// Creates a token and prints it, once; only its hash is kept.
    Create {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        owner: Owner,
        /// A name for the token (lowercase letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        name: String,
        /// Last valid moment: YYYY-MM-DD (the start of that day, UTC) or RFC 3339.
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
    },
    /// Lists the tokens (never their secrets), one JSON object a line.
    List {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revokes a token by its id: its next request is refused.
    Revoke {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
pub(super) enum UserCommand {
    /// Adds a console user; the password is read from standard input (one
    /// line) or from the environment variable named by --password-env.
    Add {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        owner: Owner,
        #[arg(long)]
        username: String,
        /// A number or extension that makes a call the user's (repeatable).
        #[arg(long = "number")]
        numbers: Vec<String>,
        /// Read the password from this environment variable instead of stdin.
        #[arg(long, value_name = "NAME")]
        password_env: Option<String>,
    },
    /// Lists the users (never their hashes), one JSON object a line.
    List {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Removes a user: its sessions end at their next request.
    Remove {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        username: String,
    },
}

fn grant(config: &Config, owner: &Owner) -> anyhow::Result<Grant> {
    if owner.operator {
        return Ok(Grant {
            tenant: None,
            role: Role::Operator,
        });
    }
    let (Some(tenant), Some(role)) = (&owner.tenant, &owner.role) else {
        bail!("--tenant and --role, or --operator");
    };
    if config.tenant(tenant).is_none() {
        bail!("--tenant: `{tenant}` is not a configured tenant");
    }
    let role = role_name::parse_client(role)
        .with_context(|| format!("--role `{role}`: super_admin, admin, supervisor or user"))?;
    Ok(Grant {
        tenant: Some(tenant.clone()),
        role,
    })
}

fn parse_expiry(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|moment| moment.with_timezone(&Utc))
        .with_context(|| format!("--expires `{text}`: YYYY-MM-DD or RFC 3339"))
}

pub(super) fn run_token(command: TokenCommand) -> ExitCode {
    report(token(command))
}

pub(super) fn run_user(command: UserCommand) -> ExitCode {
    report(user(command))
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("greffier: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            config,
            owner,
            name,
            expires,
        } => {
            let config = load_config(&config)?;
            let grant = grant(&config, &owner)?;
            let expires = expires.as_deref().map(parse_expiry).transpose()?;
            let path = &config.admin.credentials_file;
            let mut credentials = Credentials::load(path)?;
            let issued = credentials.issue_token(&name, grant, expires, &config.admin.argon2)?;
            credentials.save(path)?;
            eprintln!(
                "token `{name}` created (id {}); it is shown this once:",
                issued.entry.id
            );
            println!("{}", issued.token);
            Ok(())
        }
        TokenCommand::List { config, tenant } => {
            let config = load_config(&config)?;
            let credentials = Credentials::load(&config.admin.credentials_file)?;
            for token in credentials
                .tokens
                .iter()
                .filter(|token| tenant.is_none() || token.grant.tenant == tenant)
            {
                let line = serde_json::json!({
                    "id": token.id,
                    "name": token.name,
                    "tenant": token.grant.tenant,
                    "role": role_name::as_str(token.grant.role),
                    "created": token.created,
                    "expires": token.expires,
                });
                println!("{line}");
            }
            Ok(())
        }
        TokenCommand::Revoke { config, id } => {
            let config = load_config(&config)?;
            let path = &config.admin.credentials_file;
            let mut credentials = Credentials::load(path)?;
            if !credentials.revoke_token(&id) {
                bail!("no token has the id `{id}`");
            }
            credentials.save(path)?;
            eprintln!("token {id} revoked");
            Ok(())
        }
    }
}

fn read_password(env: Option<&str>) -> anyhow::Result<String> {
    let password = match env {
        Some(name) => {
            std::env::var(name).with_context(|| format!("--password-env: `{name}` is not set"))?
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    Ok(password)
}

fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            config,
            owner,
            username,
            numbers,
            password_env,
        } => {
            let config = load_config(&config)?;
            let grant = grant(&config, &owner)?;
            let numbers = numbers
                .iter()
                .map(|number| normalize_number(number).context("--number: not an E.164 number"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let password = zeroize::Zeroizing::new(read_password(password_env.as_deref())?);
            let path = &config.admin.credentials_file;
            let mut credentials = Credentials::load(path)?;
            credentials.add_user(&username, grant, numbers, &password, &config.admin.argon2)?;
            credentials.save(path)?;
            eprintln!("user `{username}` added");
            Ok(())
        }
        UserCommand::List { config, tenant } => {
            let config = load_config(&config)?;
            let credentials = Credentials::load(&config.admin.credentials_file)?;
            for user in credentials
                .users
                .iter()
                .filter(|user| tenant.is_none() || user.grant.tenant == tenant)
            {
                let line = serde_json::json!({
                    "username": user.username,
                    "tenant": user.grant.tenant,
                    "role": role_name::as_str(user.grant.role),
                    "numbers": user.numbers.len(),
                    "created": user.created,
                });
                println!("{line}");
            }
            Ok(())
        }
        UserCommand::Remove { config, username } => {
            let config = load_config(&config)?;
            let path = &config.admin.credentials_file;
            let mut credentials = Credentials::load(path)?;
            if !credentials.remove_user(&username) {
                bail!("no user is named `{username}`");
            }
            credentials.save(path)?;
            eprintln!("user `{username}` removed");
            Ok(())
        }
    }
}
