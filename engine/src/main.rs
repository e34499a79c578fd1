//! `greffier-engine`: a transcription engine operators host themselves (in
//! France, on their own machines), serving the OpenAI-compatible endpoint
//! the gateway's `openai` providers speak, on a Whisper model in CTranslate2
//! format. Its API keys are stored as Argon2id hashes.

mod keys;
mod model;
mod segments;
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Deserialize;

#[derive(Parser)]
#[command(name = "greffier-engine", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the endpoint.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage the API keys of a key file.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; it is printed once and only its hash is stored.
    Create {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// List the keys (ids and names, never secrets).
    List {
        #[arg(long)]
        file: PathBuf,
    },
    /// Revoke a key by id.
    Revoke {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Loopback by default: put a TLS proxy in front to serve others.
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    /// The model directory (model.bin, config.json, tokenizer.json,
    /// preprocessor_config.json); relative to the config file.
    model_dir: PathBuf,
    /// The key file; relative to the config file.
    keys_file: PathBuf,
    /// Threads of one inference.
    #[serde(default = "default_threads")]
    threads: usize,
    /// Requests that may wait for the model before `503`.
    #[serde(default = "default_queue")]
    queue: usize,
    #[serde(default = "default_max_audio_seconds")]
    max_audio_seconds: f64,
    #[serde(default = "default_max_upload_bytes")]
    max_upload_bytes: usize,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9300))
}
fn default_threads() -> usize {
    1
}
fn default_queue() -> usize {
    4
}
fn default_max_audio_seconds() -> f64 {
    4.0 * 3600.0
}
fn default_max_upload_bytes() -> usize {
    // Four hours of 16-bit mono 16 kHz is 460 MB; 8 kHz stereo the same.
    512 * 1024 * 1024
}

fn relative_to(config: &Path, path: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_owned(),
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GREFFIER_ENGINE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    match Cli::parse().command {
        Command::Serve { config } => serve(&config),
        Command::Keys { command } => match command {
            KeysCommand::Create { file, name } => {
                let key = keys::create(&file, &name)?;
                println!("{}", &*key);
                eprintln!("keep this key now: only its hash is stored");
                Ok(())
            }
            KeysCommand::List { file } => {
                for key in keys::read(&file)? {
                    println!(
                        "{}",
                        serde_json::json!({"id": key.id, "name": key.name, "created": key.created})
                    );
                }
                Ok(())
            }
            KeysCommand::Revoke { file, id } => keys::revoke(&file, &id),
        },
    }
}

fn serve(config_path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config: Config =
        toml::from_str(&text).with_context(|| format!("{}: invalid", config_path.display()))?;
    let model_dir = relative_to(config_path, &config.model_dir);
    let keys_file = relative_to(config_path, &config.keys_file);
    if keys::read(&keys_file)?.is_empty() {
        anyhow::bail!(
            "{}: no API key; create one with `greffier-engine keys create --file {} --name NAME`",
            keys_file.display(),
            keys_file.display()
        );
    }
    let model = model::Model::start(&model_dir, config.threads.max(1), config.queue.max(1))?;
    let engine = Arc::new(server::Engine {
        model,
        keys: keys::KeyFile::new(keys_file),
        max_audio_seconds: config.max_audio_seconds,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        tracing::info!(address = %listener.local_addr()?, model = %engine.model.name, "engine ready");
        axum::serve(listener, server::router(engine, config.max_upload_bytes))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
