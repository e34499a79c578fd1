use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use greffier::config::Config;

/// SIP proxy and RTP relay that records, encrypts and retains calls per tenant.
#[derive(Parser)]
#[command(name = "greffier", version)]
struct Cli {
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
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GREFFIER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(loaded) => {
                println!(
                    "{}: ok ({} tenants)",
                    config.display(),
                    loaded.tenants().len()
                );
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprintln!("{problems}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config } => {
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
            match runtime.block_on(greffier::gateway::run(&config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("greffier: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
