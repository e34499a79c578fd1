//! The spool files of one record, in `{spool}/{tenant}/`:
//!
//! | file | holds |
//! | --- | --- |
//! | `{id}.grf.part` | the recording being written (header and chunks so far) |
//! | `{id}.call.grf` | the sealed [`CallInfo`](crate::catalog::CallInfo), for recovery |
//! | `{id}.grf` | the closed recording, waiting for upload |
//! | `{id}.rtp.grf` | the sealed undecodable payloads, waiting for upload |
//! | `{id}.manifest.grf` | the sealed manifest, waiting for upload |
//! | `{id}.cdr.grf` | the sealed call record, waiting for upload |
//! | `{id}.subjects` | blind indexes (hex, one a line) whose markers wait for upload |
//! | `{id}.job.json` | the transcription job to queue once the record is stored |

use std::path::PathBuf;

use crate::store::RecordId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpoolFileKind {
    Part,
    Call,
    Recording,
    RawPayloads,
    Manifest,
    Cdr,
    Subjects,
    Job,
}

impl SpoolFileKind {
    const ALL: [SpoolFileKind; 8] = [
        SpoolFileKind::Part,
        SpoolFileKind::Call,
        SpoolFileKind::Recording,
        SpoolFileKind::RawPayloads,
        SpoolFileKind::Manifest,
        SpoolFileKind::Cdr,
        SpoolFileKind::Subjects,
        SpoolFileKind::Job,
    ];

    fn suffix(self) -> &'static str {
        match self {
            SpoolFileKind::Part => ".grf.part",
            SpoolFileKind::Call => ".call.grf",
            SpoolFileKind::Recording => ".grf",
            SpoolFileKind::RawPayloads => ".rtp.grf",
            SpoolFileKind::Manifest => ".manifest.grf",
            SpoolFileKind::Cdr => ".cdr.grf",
            SpoolFileKind::Subjects => ".subjects",
            SpoolFileKind::Job => ".job.json",
        }
    }

    /// Files a running writer still owns; everything else waits for upload.
    pub(crate) fn is_in_progress(self) -> bool {
        matches!(self, SpoolFileKind::Part | SpoolFileKind::Call)
    }

    /// Splits a spool file name into record id and kind.
    pub(crate) fn parse(name: &str) -> Option<(RecordId, SpoolFileKind)> {
        let (id, suffix) = name.split_at(name.find('.')?);
        let id = id.parse().ok()?;
        let kind = Self::ALL.into_iter().find(|kind| kind.suffix() == suffix)?;
        Some((id, kind))
    }
}

/// Paths of one record's spool files.
#[derive(Clone, Debug)]
pub(crate) struct RecordFiles {
    dir: PathBuf,
    id: RecordId,
}

impl RecordFiles {
    pub(crate) fn new(tenant_dir: PathBuf, id: RecordId) -> Self {
        RecordFiles {
            dir: tenant_dir,
            id,
        }
    }

    pub(crate) fn id(&self) -> &RecordId {
        &self.id
    }

    pub(crate) fn path(&self, kind: SpoolFileKind) -> PathBuf {
        self.dir.join(format!("{}{}", self.id, kind.suffix()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        let id = RecordId::generate();
        let files = RecordFiles::new(PathBuf::from("/spool/acme"), id);
        for kind in SpoolFileKind::ALL {
            let path = files.path(kind);
            let name = path.file_name().and_then(|n| n.to_str()).unwrap();
            assert_eq!(SpoolFileKind::parse(name), Some((id, kind)));
        }
        assert_eq!(SpoolFileKind::parse("notes.txt"), None);
        assert_eq!(SpoolFileKind::parse(&format!("{id}.grf.part.tmp")), None);
    }
}
