//! One writer of a tenant's data in open formats, for whoever the data goes
//! to (a data subject through the client, a terminated client): each
//! recording as WAV, each manifest, call record and transcript as JSON, and a
//! `manifest.json` listing every file with its SHA-256, kind, record id and
//! the call's start.
//!
//! Layout of an export directory:
//!
//! ```text
//! manifest.json
//! recordings/{record_id}.wav            the audio, as recorded (stereo: caller left, callee right)
//! recordings/{record_id}.json           the recording's manifest (vault/FORMAT.md §9)
//! recordings/{record_id}.rtp            payloads the recorder could not decode (FORMAT.md §10)
//! transcripts/{record_id}.json          the transcript (`.txt` if it is not JSON)
//! call-records/{record_id}.json         the call record (FORMAT.md §9)
//! ```
//!
//! File names hold record ids only. Files are created new (never replaced)
//! and readable by their owner only; `manifest.json` is written last, so an
//! export is complete exactly when it is there.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use greffier_vault::store::RecordId;
use greffier_vault::TenantId;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What one exported file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    Recording,
    Manifest,
    RawPayloads,
    Transcript,
    /// A transcript that is not JSON, as UTF-8 text.
    TranscriptText,
    CallRecord,
}

impl ExportKind {
    /// Where a file of this kind goes, relative to the export's root.
    fn relative_path(self, record: &RecordId) -> String {
        match self {
            ExportKind::Recording => format!("recordings/{record}.wav"),
            ExportKind::Manifest => format!("recordings/{record}.json"),
            ExportKind::RawPayloads => format!("recordings/{record}.rtp"),
            ExportKind::Transcript => format!("transcripts/{record}.json"),
            ExportKind::TranscriptText => format!("transcripts/{record}.txt"),
            ExportKind::CallRecord => format!("call-records/{record}.json"),
        }
    }
}

/// One line of `manifest.json`'s `files`.
#[derive(Clone, Debug, Serialize)]
pub struct ExportedFile {
    /// Relative to the export's root, `/`-separated.
    pub file: String,
    pub kind: ExportKind,
    pub record: String,
    /// When the call started (RFC 3339 UTC).
    pub call_start: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

#[derive(Serialize)]
struct ExportManifest<'a> {
    version: u32,
    tenant: &'a str,
    /// What the export answers (`subject_request`, `termination`).
    purpose: &'a str,
    /// What was asked (a requisition's number, period and reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a serde_json::Value>,
    created: String,
    files: &'a [ExportedFile],
}

/// A directory being filled with one export.
#[derive(Debug)]
pub struct ExportDir {
    root: PathBuf,
    tenant: TenantId,
    purpose: &'static str,
    request: Option<serde_json::Value>,
    files: Vec<ExportedFile>,
}

impl ExportDir {
    /// Starts an export into `root`, which must not exist or be an empty
    /// directory: an earlier export is never overwritten or mixed with.
    pub fn create(root: &Path, tenant: &TenantId, purpose: &'static str) -> anyhow::Result<Self> {
        match std::fs::read_dir(root) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    bail!(
                        "{} is not empty; an export goes into a new or empty directory \
                         (nothing was written)",
                        root.display()
                    );
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                create_private_dir(root)?;
            }
            Err(error) if root.exists() => {
                return Err(anyhow!(
                    "{} is not a directory one can export into: {error}",
                    root.display()
                ))
            }
            Err(error) => {
                return Err(anyhow!("cannot read {}: {error}", root.display()));
            }
        }
        Ok(ExportDir {
            root: root.to_path_buf(),
            tenant: tenant.clone(),
            purpose,
            request: None,
            files: Vec::new(),
        })
    }

    /// Says in `manifest.json` what the export answers (`request`).
    pub fn describe_request(&mut self, request: serde_json::Value) {
        self.request = Some(request);
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files written so far.
    pub fn files(&self) -> &[ExportedFile] {
        &self.files
    }

    /// Writes a decrypted recording as WAV, with the channels it was
    /// recorded with. A recording cut short (its writer died) carries
    /// "unknown" sizes; the file written has the real ones.
    pub fn write_recording(
        &mut self,
        record: &RecordId,
        call_start: DateTime<Utc>,
        plaintext: Vec<u8>,
    ) -> anyhow::Result<&ExportedFile> {
        let wav = rewrite_wav(plaintext)
            .with_context(|| format!("recording {record} is not a WAV file one can export"))?;
        self.write(ExportKind::Recording, record, call_start, &wav)
    }

    /// Writes a decrypted JSON payload (manifest, call record, transcript),
    /// pretty-printed.
    pub fn write_json<T: Serialize>(
        &mut self,
        kind: ExportKind,
        record: &RecordId,
        call_start: DateTime<Utc>,
        value: &T,
    ) -> anyhow::Result<&ExportedFile> {
        let mut json = serde_json::to_vec_pretty(value)
            .with_context(|| format!("the {kind:?} of record {record} as JSON"))?;
        json.push(b'\n');
        self.write(kind, record, call_start, &json)
    }

    /// Writes a decrypted transcript: as JSON when it is JSON, else as text.
    pub fn write_transcript(
        &mut self,
        record: &RecordId,
        call_start: DateTime<Utc>,
        plaintext: &[u8],
    ) -> anyhow::Result<&ExportedFile> {
        match serde_json::from_slice::<serde_json::Value>(plaintext) {
            Ok(json) => self.write_json(ExportKind::Transcript, record, call_start, &json),
            Err(_) => self.write(ExportKind::TranscriptText, record, call_start, plaintext),
        }
    }

    /// Writes bytes already in an open, documented format (the raw payloads
    /// of FORMAT.md §10).
    pub fn write_bytes(
        &mut self,
        kind: ExportKind,
        record: &RecordId,
        call_start: DateTime<Utc>,
        bytes: &[u8],
    ) -> anyhow::Result<&ExportedFile> {
        self.write(kind, record, call_start, bytes)
    }

    fn write(
        &mut self,
        kind: ExportKind,
        record: &RecordId,
        call_start: DateTime<Utc>,
        bytes: &[u8],
    ) -> anyhow::Result<&ExportedFile> {
        let relative = kind.relative_path(record);
        let path = self.root.join(&relative);
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                create_private_dir(parent)?;
            }
        }
        write_new_file(&path, bytes)?;
        self.files.push(ExportedFile {
            file: relative,
            kind,
            record: record.to_string(),
            call_start: call_start.to_rfc3339_opts(SecondsFormat::Millis, true),
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        });
        self.files
            .last()
            .ok_or_else(|| anyhow!("the file just written is listed"))
    }

    /// Writes `manifest.json`: the export is complete. Returns its path.
    pub fn finish(self, now: DateTime<Utc>) -> anyhow::Result<PathBuf> {
        let manifest = ExportManifest {
            version: 1,
            tenant: self.tenant.as_str(),
            purpose: self.purpose,
            request: self.request.as_ref(),
            created: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            files: &self.files,
        };
        let mut json = serde_json::to_vec_pretty(&manifest).context("manifest.json")?;
        json.push(b'\n');
        let path = self.root.join("manifest.json");
        write_new_file(&path, &json)?;
        Ok(path)
    }
}

/// The recording as a WAV file hound reads and wrote: same channels, rate
/// and sample format, sizes set to the real ones.
fn rewrite_wav(mut plaintext: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if !plaintext.starts_with(b"RIFF") {
        bail!("no RIFF header");
    }
    greffier_media::wav_fix_sizes(&mut plaintext).map_err(|error| anyhow!("{error}"))?;
    let mut reader = hound::WavReader::new(Cursor::new(plaintext))?;
    let spec = reader.spec();
    let mut out = Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut out, spec)?;
        match spec.sample_format {
            hound::SampleFormat::Int => {
                for sample in reader.samples::<i32>() {
                    writer.write_sample(sample?)?;
                }
            }
            hound::SampleFormat::Float => {
                for sample in reader.samples::<f32>() {
                    writer.write_sample(sample?)?;
                }
            }
        }
        writer.finalize()?;
    }
    Ok(out.into_inner())
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// A new file, owner-only, synced; an existing one is never replaced.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record() -> RecordId {
        RecordId::generate()
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
    }

    /// A stereo 8 kHz WAV as the recorder streams it: sizes unknown.
    fn streamed_wav(frames: usize) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
        for i in 0..frames {
            writer.write_sample((i % 100) as i16 * 10).unwrap();
            writer.write_sample(-((i % 50) as i16) * 20).unwrap();
        }
        writer.finalize().unwrap();
        let mut bytes = out.into_inner();
        bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        bytes
    }

    #[test]
    fn an_export_lists_every_file_with_its_hash_and_the_wav_plays() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("export");
        let tenant = TenantId::new("acme").unwrap();
        let mut export = ExportDir::create(&root, &tenant, "subject_request").unwrap();
        let id = record();
        export
            .write_recording(&id, start(), streamed_wav(800))
            .unwrap();
        export
            .write_json(
                ExportKind::CallRecord,
                &id,
                start(),
                &serde_json::json!({"a": 1}),
            )
            .unwrap();
        export.finish(start()).unwrap();

        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["tenant"], "acme");
        let files = manifest["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        for file in files {
            let bytes = std::fs::read(root.join(file["file"].as_str().unwrap())).unwrap();
            assert_eq!(file["sha256"], hex::encode(Sha256::digest(&bytes)));
            assert_eq!(file["record"], id.to_string());
            assert_eq!(file["call_start"], "2026-03-01T08:00:00.000Z");
        }
        let mut wav = hound::WavReader::open(root.join(format!("recordings/{id}.wav"))).unwrap();
        assert_eq!(wav.spec().channels, 2);
        assert_eq!(wav.duration(), 800);
        assert!(wav.samples::<i16>().any(|sample| sample.unwrap() != 0));
    }

    #[test]
    fn a_directory_with_anything_in_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("earlier"), b"x").unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let error = ExportDir::create(dir.path(), &tenant, "termination").unwrap_err();
        assert!(error.to_string().contains("not empty"), "{error}");
        assert_eq!(std::fs::read(dir.path().join("earlier")).unwrap(), b"x");
        // An empty directory is fine, and so is one that does not exist.
        let empty = tempfile::tempdir().unwrap();
        ExportDir::create(empty.path(), &tenant, "termination").unwrap();
        ExportDir::create(&empty.path().join("new/deeper"), &tenant, "termination").unwrap();
        // A file is not a directory.
        let file = dir.path().join("earlier");
        assert!(ExportDir::create(&file, &tenant, "termination").is_err());
    }

    #[test]
    fn what_is_not_wav_is_refused_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let mut export = ExportDir::create(dir.path(), &tenant, "termination").unwrap();
        let id = record();
        assert!(export
            .write_recording(&id, start(), b"OggS....".to_vec())
            .is_err());
        assert!(export.files().is_empty());
        assert!(!dir.path().join(format!("recordings/{id}.wav")).exists());
    }
}
