//! What the CLI reads and writes besides the vault: the configuration, and
//! private output files (decrypted recordings, client keys).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

use crate::config::Config;

/// Loads and validates the configuration; the error lists every problem.
pub(super) fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|problems| anyhow!("the configuration has problems:\n{problems}"))
}

/// Writes `bytes` to a new file readable by its owner only. The content goes
/// to a temporary file beside `path`, renamed into place once complete, so a
/// failure leaves no partial output; an existing file is never replaced.
pub(super) fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} already exists; choose another file", path.display());
    }
    let temp = temp_path(path)?;
    let written = crate::ops::export::write_new_file(&temp, bytes).and_then(|()| {
        if path.exists() {
            bail!("{} already exists; choose another file", path.display());
        }
        std::fs::rename(&temp, path)
            .with_context(|| format!("cannot move the output into place at {}", path.display()))
    });
    if written.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn temp_path(path: &Path) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file name", path.display()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.partial", std::process::id()));
    Ok(path.with_file_name(temp_name))
}

/// A recording export is made playable: a streamed WAV carries "unknown"
/// sizes that strict players refuse, so they are set to the real ones.
pub(super) fn playable(mut plaintext: Vec<u8>) -> Vec<u8> {
    if plaintext.starts_with(b"RIFF") {
        if let Err(error) = greffier_media::wav_fix_sizes(&mut plaintext) {
            tracing::warn!(%error, "WAV sizes left as recorded");
        }
    }
    plaintext
}
