//! The `greffier` command line: one module per subcommand family.

mod audit;
mod check_config;
mod credentials;
mod decrypt;
mod files;
mod keys;
mod recordings;
mod requisition;
mod retention;
mod run;
mod subject;
mod tenant;
mod transcripts;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// SIP proxy and RTP relay that records, encrypts and retains calls per tenant.
#[derive(Parser)]
#[command(name = "greffier", version)]
pub struct Cli {
    /// How log lines are written: `text` for people, `json` (one object a
    /// line) for journald or Loki. Default: the configuration's `[log]
    /// format`, else text.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<crate::config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the gateway.
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validates a configuration and its tenant files; prints every problem.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Manages the keyring and client key pairs.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Lists, exports and deletes a tenant's recordings.
    Recordings {
        #[command(subcommand)]
        command: recordings::RecordingsCommand,
    },
    /// Lists a tenant's transcriptions; prints or deletes a call's transcript.
    Transcripts {
        #[command(subcommand)]
        command: transcripts::TranscriptsCommand,
    },
    /// Decrypts an object of a client-keyed tenant with the client's private key.
    Decrypt(decrypt::DecryptArgs),
    /// Verifies the audit chains; exports a tenant's audit entries.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Deletes expired data, per tenant and category.
    Retention {
        #[command(subcommand)]
        command: retention::RetentionCommand,
    },
    /// Places, releases and lists legal holds.
    Hold {
        #[command(subcommand)]
        command: retention::HoldCommand,
    },
    /// Exports a number's call records for an authority (operator only).
    Requisition {
        #[command(subcommand)]
        command: requisition::RequisitionCommand,
    },
    /// Answers a data subject: exports or erases the calls of one number.
    Subject {
        #[command(subcommand)]
        command: subject::SubjectCommand,
    },
    /// Creates, lists and revokes the admin API's bearer tokens.
    Token {
        #[command(subcommand)]
        command: credentials::TokenCommand,
    },
    /// Adds, lists and removes the console's users.
    User {
        #[command(subcommand)]
        command: credentials::UserCommand,
    },
    /// Prints the admin API's OpenAPI document (docs/openapi.json).
    Openapi,
    /// Ends a tenant's contract: returns or deletes its data, shreds its keys.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
}

/// Logging as the command line, the environment and the configuration say.
/// The level: `RUST_LOG`, else `GREFFIER_LOG`, else the configuration's
/// `[log] level`, else `info`. Colours only on a terminal, and never with
/// `NO_COLOR` set (<https://no-color.org>): a log file or a journal gets
/// plain text.
fn init_logging(format: Option<crate::config::LogFormat>, config: Option<&std::path::Path>) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let configured = config
        .map(crate::config::LogConfig::peek)
        .unwrap_or_default();
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("GREFFIER_LOG"))
        .or_else(|_| EnvFilter::try_new(&configured.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or(configured.format) {
        crate::config::LogFormat::Json => builder.json().with_ansi(false).init(),
        crate::config::LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).init();
        }
    }
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match &cli.command {
        Command::Run { config } | Command::CheckConfig { config } => Some(config.as_path()),
        _ => None,
    };
    init_logging(cli.log_format, config);
    match cli.command {
        Command::Run { config } => run::run(&config),
        Command::CheckConfig { config } => check_config::check_config(&config),
        Command::Keys { command } => keys::run(command),
        Command::Recordings { command } => recordings::run(command),
        Command::Transcripts { command } => transcripts::run(command),
        Command::Decrypt(args) => decrypt::run(args),
        Command::Audit { command } => audit::run(command),
        Command::Retention { command } => retention::run(command),
        Command::Hold { command } => retention::run_hold(command),
        Command::Requisition { command } => requisition::run(command),
        Command::Subject { command } => subject::run(command),
        Command::Token { command } => credentials::run_token(command),
        Command::User { command } => credentials::run_user(command),
        Command::Openapi => {
            print!("{}", crate::api::openapi::document());
            ExitCode::SUCCESS
        }
        Command::Tenant { command } => tenant::run(command),
    }
}

/// Runs an async subcommand on a fresh runtime; errors print with their context.
pub(crate) fn block_on<F>(future: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("greffier: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("greffier: {error:#}");
            ExitCode::FAILURE
        }
    }
}
