//! The node's audit log on disk and in the store. Every process of a node
//! (the gateway, each CLI command) appends to one chain, serialised by an
//! exclusive lock on a file in the spool:
//!
//! | file in `{spool}/.audit/` | holds |
//! | --- | --- |
//! | `lock` | the lock every writer takes |
//! | `tail.jsonl` | entries not sealed yet, each fsynced before it is acknowledged |
//! | `sealed-{seq}.jsonl` | a sealed segment waiting for upload |
//! | `head.json` | the head after the last uploaded segment: the chain's anchor |
//!
//! A segment is sealed when the tail reaches the size or age bound of its
//! [`SegmentPolicy`], and on a clean stop; it becomes the immutable object
//! `audit/{node}/{yyyy}/{mm}/{dd}/{seq}.jsonl`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::audit::chain::{parse_line, split_lines, ChainHead, ChainWriter, SegmentPolicy};
use crate::audit::entry::AuditRecord;
use crate::audit::verify::Segment;
use crate::audit::AuditError;
use crate::spool::{list_dir, sync_parent, write_atomic};
use crate::store::{Backoff, NodeId, ObjectKey, StoreError, VaultStore};

const DIR: &str = ".audit";
const LOCK: &str = "lock";
const TAIL: &str = "tail.jsonl";
const HEAD: &str = "head.json";
const SEALED_PREFIX: &str = "sealed-";
const SEGMENT_SUFFIX: &str = ".jsonl";

/// One node's audit log.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    node: NodeId,
    store: VaultStore,
    policy: SegmentPolicy,
    backoff: Backoff,
}

/// The anchor file: the head after the last segment this node uploaded.
#[derive(Serialize, Deserialize)]
struct HeadFile {
    next_seq: u64,
    last_hash: String,
}

/// Holds the node's audit lock until dropped.
struct Locked(#[allow(dead_code)] std::fs::File);

impl AuditLog {
    /// Opens the log of `node` in `spool_dir` (creating `.audit/`).
    pub async fn open(
        spool_dir: &Path,
        node: NodeId,
        store: VaultStore,
        policy: SegmentPolicy,
    ) -> Result<Arc<Self>, AuditError> {
        let dir = spool_dir.join(DIR);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| StoreError::spool("create directory", &dir, e))?;
        Ok(Arc::new(AuditLog {
            dir,
            node,
            store,
            policy,
            backoff: Backoff::default(),
        }))
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Appends one entry and returns once it is on disk (fsynced). Seals the
    /// tail when it is due; a store that cannot take the segment then is
    /// logged, not returned: the entry is safe in the spool.
    pub async fn append(&self, record: &AuditRecord, now: DateTime<Utc>) -> Result<(), AuditError> {
        let _lock = self.lock().await?;
        let tail = self.read_tail().await?;
        let head = match last_head(&tail)? {
            Some(head) => head,
            None => self.head_without_tail().await?,
        };
        let line = ChainWriter::new(self.node.clone(), head).append(now, record);
        let path = self.path(TAIL);
        let mut file = tokio::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .await
            .map_err(|e| StoreError::spool("open", &path, e))?;
        file.write_all(&line)
            .await
            .map_err(|e| StoreError::spool("write", &path, e))?;
        file.sync_all()
            .await
            .map_err(|e| StoreError::spool("fsync", &path, e))?;
        if tail.is_empty() {
            sync_parent(&path).await?;
        }
        let first = first_time(&tail).unwrap_or(now);
        let len = (tail.len() + line.len()) as u64;
        if self.policy.due(len, Some(first), now) {
            if let Err(error) = self.seal_locked().await {
                tracing::warn!(%error, "audit segment not uploaded yet; it stays in the spool");
            }
        }
        Ok(())
    }

    /// Seals the tail now, whatever its age, and uploads every sealed
    /// segment waiting in the spool: a clean stop calls this.
    pub async fn seal(&self) -> Result<(), AuditError> {
        let _lock = self.lock().await?;
        self.seal_locked().await
    }

    /// Seals the tail when the policy says so at `now`, and uploads what
    /// waits; the gateway calls it on a timer.
    pub async fn seal_if_due(&self, now: DateTime<Utc>) -> Result<(), AuditError> {
        let _lock = self.lock().await?;
        let tail = self.read_tail().await?;
        if self.policy.due(tail.len() as u64, first_time(&tail), now) {
            self.seal_locked().await
        } else {
            self.upload_sealed().await
        }
    }

    /// Seals on a timer until the task is aborted.
    pub fn spawn_sealer(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = self.seal_if_due(Utc::now()).await {
                    tracing::warn!(%error, "audit segment not sealed yet; it stays in the spool");
                }
            }
        })
    }

    /// The head this node last uploaded, if it keeps one: the anchor
    /// `audit verify` checks the node's stored chain against.
    pub async fn anchor(spool_dir: &Path) -> Result<Option<ChainHead>, AuditError> {
        read_head_file(&spool_dir.join(DIR).join(HEAD)).await
    }

    async fn seal_locked(&self) -> Result<(), AuditError> {
        let tail = self.read_tail().await?;
        if let Some(first) = split_lines(&tail).0.first() {
            let seq = parse_line(first)
                .map_err(|why| AuditError::damaged(&self.path(TAIL), why))?
                .seq;
            let sealed = self.path(&sealed_name(seq));
            crate::spool::rename(&self.path(TAIL), &sealed).await?;
        }
        self.upload_sealed().await
    }

    /// Uploads the sealed segments in chain order; each is removed from the
    /// spool once the store has it, after the anchor has moved past it.
    async fn upload_sealed(&self) -> Result<(), AuditError> {
        for (_, path) in self.sealed_files().await? {
            let bytes = crate::spool::read(&path).await?;
            let lines = split_lines(&bytes).0;
            let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
                crate::spool::remove(&path).await?;
                continue;
            };
            let first = parse_line(first).map_err(|why| AuditError::damaged(&path, why))?;
            let last = parse_line(last).map_err(|why| AuditError::damaged(&path, why))?;
            let key = ObjectKey::audit_segment(&self.node, first.time.date_naive(), first.seq);
            let payload = Bytes::from(bytes);
            self.backoff
                .retry(|| self.store.put_new(&key, payload.clone()))
                .await?;
            let head = ChainHead::after(&last);
            let file = HeadFile {
                next_seq: head.next_seq,
                last_hash: hex::encode(head.last_hash),
            };
            let json = serde_json::to_vec(&file).unwrap_or_default();
            write_atomic(&self.path(HEAD), &json).await?;
            crate::spool::remove(&path).await?;
            tracing::debug!(segment = %key, "audit segment stored");
        }
        Ok(())
    }

    /// The head when the tail is empty: the newest sealed segment still in
    /// the spool, else the anchor, else the node's newest segment in the
    /// store (a node whose spool was lost), else a new chain.
    async fn head_without_tail(&self) -> Result<ChainHead, AuditError> {
        if let Some((_, path)) = self.sealed_files().await?.pop() {
            let bytes = crate::spool::read(&path).await?;
            if let Some(head) = last_head(&bytes)? {
                return Ok(head);
            }
        }
        if let Some(head) = read_head_file(&self.path(HEAD)).await? {
            return Ok(head);
        }
        let mut segments = self
            .store
            .list(&ObjectKey::audit_node_prefix(&self.node))
            .await?;
        segments.retain(|key| key.parse_audit_segment().is_some());
        segments.sort_by_key(|key| key.parse_audit_segment().map(|(_, seq)| seq));
        match segments.last() {
            Some(key) => {
                let bytes = self.store.get(key).await?;
                Ok(last_head(&bytes)?.unwrap_or(ChainHead::GENESIS))
            }
            None => Ok(ChainHead::GENESIS),
        }
    }

    /// The tail's bytes. A last line without its newline was being written
    /// when the process died (it was never acknowledged): it is cut off.
    async fn read_tail(&self) -> Result<Vec<u8>, AuditError> {
        let path = self.path(TAIL);
        let mut bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(StoreError::spool("read", &path, error).into()),
        };
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let keep = bytes
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |at| at + 1);
            tracing::warn!(path = %path.display(), cut = bytes.len() - keep, "cutting an unfinished audit line left by a crash");
            bytes.truncate(keep);
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .await
                .map_err(|e| StoreError::spool("open", &path, e))?;
            file.set_len(keep as u64)
                .await
                .map_err(|e| StoreError::spool("truncate", &path, e))?;
            file.sync_all()
                .await
                .map_err(|e| StoreError::spool("fsync", &path, e))?;
        }
        Ok(bytes)
    }

    async fn sealed_files(&self) -> Result<Vec<(u64, PathBuf)>, AuditError> {
        let mut found: Vec<(u64, PathBuf)> = list_dir(&self.dir)
            .await?
            .into_iter()
            .filter_map(|(name, path)| {
                let seq = name
                    .to_str()?
                    .strip_prefix(SEALED_PREFIX)?
                    .strip_suffix(SEGMENT_SUFFIX)?
                    .parse()
                    .ok()?;
                Some((seq, path))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    async fn lock(&self) -> Result<Locked, AuditError> {
        let path = self.path(LOCK);
        let locked = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::spool("open", &path, e))?;
            file.lock()
                .map_err(|e| StoreError::spool("lock", &path, e))?;
            Ok::<_, StoreError>(file)
        })
        .await
        .map_err(|_| AuditError::LockTask)??;
        Ok(Locked(locked))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn sealed_name(seq: u64) -> String {
    format!("{SEALED_PREFIX}{seq:012}{SEGMENT_SUFFIX}")
}

fn last_head(bytes: &[u8]) -> Result<Option<ChainHead>, AuditError> {
    let Some(last) = split_lines(bytes).0.pop() else {
        return Ok(None);
    };
    let entry = parse_line(last).map_err(|why| AuditError::Damaged {
        what: "the last audit entry".into(),
        why,
    })?;
    Ok(Some(ChainHead::after(&entry)))
}

fn first_time(tail: &[u8]) -> Option<DateTime<Utc>> {
    let first = split_lines(tail).0.into_iter().next()?;
    parse_line(first).ok().map(|entry| entry.time)
}

async fn read_head_file(path: &Path) -> Result<Option<ChainHead>, AuditError> {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StoreError::spool("read", path, error).into()),
    };
    let file: HeadFile = serde_json::from_slice(&bytes)
        .map_err(|error| StoreError::payload("the audit head file", &error))?;
    let mut last_hash = [0; 32];
    hex::decode_to_slice(&file.last_hash, &mut last_hash)
        .map_err(|_| AuditError::damaged(path, crate::audit::LineError::Hex("last_hash")))?;
    Ok(Some(ChainHead {
        next_seq: file.next_seq,
        last_hash,
    }))
}

/// Every node's chain in the store, segments in chain order, and the keys
/// under `audit/` that are not segments (nothing else belongs there).
#[derive(Debug, Default)]
pub struct StoredChains {
    pub chains: Vec<(NodeId, Vec<Segment>)>,
    pub strays: Vec<String>,
}

/// Reads every audit segment in the store.
pub async fn read_chains(store: &VaultStore) -> Result<StoredChains, StoreError> {
    let mut listed: Vec<(NodeId, u64, ObjectKey)> = Vec::new();
    let mut strays = Vec::new();
    for key in store.list(&ObjectKey::audit_prefix()).await? {
        match key.parse_audit_segment() {
            Some((node, seq)) => listed.push((node, seq, key)),
            None => strays.push(key.to_string()),
        }
    }
    listed.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
    let mut chains: Vec<(NodeId, Vec<Segment>)> = Vec::new();
    for (node, _, key) in listed {
        let bytes = store.get(&key).await?.to_vec();
        let segment = Segment {
            name: key.to_string(),
            bytes,
        };
        match chains.last_mut() {
            Some((last, segments)) if *last == node => segments.push(segment),
            _ => chains.push((node, vec![segment])),
        }
    }
    strays.sort();
    Ok(StoredChains { chains, strays })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::audit::verify::{verify_chain, ChainReport};
    use crate::audit::{AuditRecord, Outcome};
    use crate::store::{RecordId, StoreConfig};
    use crate::tenant::TenantId;

    fn entry() -> AuditRecord {
        AuditRecord::recorded(
            TenantId::new("acme").unwrap(),
            RecordId::generate(),
            Outcome::Ok,
        )
    }

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, second).unwrap()
    }

    struct Node {
        _dir: tempfile::TempDir,
        spool: PathBuf,
        store: VaultStore,
    }

    impl Node {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = VaultStore::from_config(&StoreConfig::Local {
                path: dir.path().join("store"),
            })
            .unwrap();
            Node {
                spool: dir.path().join("spool"),
                store,
                _dir: dir,
            }
        }

        async fn log(&self, policy: SegmentPolicy) -> Arc<AuditLog> {
            AuditLog::open(
                &self.spool,
                NodeId::new("gw1").unwrap(),
                self.store.clone(),
                policy,
            )
            .await
            .unwrap()
        }

        /// The node's stored chain: its segments' line counts, and what
        /// verifying it against the node's anchor found.
        async fn stored(&self) -> (Vec<usize>, ChainReport) {
            let chains = read_chains(&self.store).await.unwrap();
            assert!(chains.strays.is_empty());
            let segments = chains
                .chains
                .into_iter()
                .next()
                .map(|(_, segments)| segments)
                .unwrap_or_default();
            let sizes = segments
                .iter()
                .map(|s| split_lines(&s.bytes).0.len())
                .collect();
            let anchor = AuditLog::anchor(&self.spool).await.unwrap();
            (sizes, verify_chain(&segments, anchor))
        }
    }

    const NEVER: SegmentPolicy = SegmentPolicy {
        max_bytes: u64::MAX,
        max_age: Duration::from_secs(3600),
    };

    #[tokio::test]
    async fn entries_wait_in_the_spool_until_sealed_and_a_restart_continues_the_chain() {
        let node = Node::new();
        let log = node.log(NEVER).await;
        for second in 0..3 {
            log.append(&entry(), at(second)).await.unwrap();
        }
        assert_eq!(node.stored().await.0, Vec::<usize>::new());
        log.seal().await.unwrap();
        let (sizes, report) = node.stored().await;
        assert_eq!(sizes, [3]);
        assert_eq!(report.finding, None);

        // A restart: a new process opens the same spool.
        drop(log);
        let log = node.log(NEVER).await;
        log.append(&entry(), at(10)).await.unwrap();
        log.seal().await.unwrap();
        let (sizes, report) = node.stored().await;
        assert_eq!(sizes, [3, 1]);
        assert_eq!(report.finding, None);
        assert_eq!(report.head.next_seq, 4);
    }

    #[tokio::test]
    async fn an_unfinished_line_left_by_a_crash_is_cut_and_the_chain_goes_on() {
        let node = Node::new();
        let log = node.log(NEVER).await;
        log.append(&entry(), at(0)).await.unwrap();
        let tail = node.spool.join(DIR).join(TAIL);
        let mut torn = std::fs::read(&tail).unwrap();
        torn.extend_from_slice(b"{\"v\":1,\"seq\":1,\"ti");
        std::fs::write(&tail, torn).unwrap();
        log.append(&entry(), at(1)).await.unwrap();
        log.seal().await.unwrap();
        let (sizes, report) = node.stored().await;
        assert_eq!(sizes, [2]);
        assert_eq!(report.finding, None);
    }

    #[tokio::test]
    async fn a_node_whose_spool_was_lost_continues_from_the_store() {
        let node = Node::new();
        let log = node.log(NEVER).await;
        log.append(&entry(), at(0)).await.unwrap();
        log.seal().await.unwrap();
        drop(log);
        std::fs::remove_dir_all(node.spool.join(DIR)).unwrap();
        let log = node.log(NEVER).await;
        log.append(&entry(), at(5)).await.unwrap();
        log.seal().await.unwrap();
        let (sizes, report) = node.stored().await;
        assert_eq!(sizes, [1, 1]);
        assert_eq!(report.finding, None);
    }

    #[tokio::test]
    async fn the_size_and_age_bounds_seal_segments() {
        let node = Node::new();
        let tiny = SegmentPolicy {
            max_bytes: 1,
            max_age: Duration::from_secs(3600),
        };
        let log = node.log(tiny).await;
        log.append(&entry(), at(0)).await.unwrap();
        log.append(&entry(), at(1)).await.unwrap();
        assert_eq!(node.stored().await.0, [1, 1]);

        let aged = SegmentPolicy {
            max_bytes: u64::MAX,
            max_age: Duration::from_secs(60),
        };
        let log = node.log(aged).await;
        log.append(&entry(), at(2)).await.unwrap();
        log.seal_if_due(at(30)).await.unwrap();
        assert_eq!(node.stored().await.0, [1, 1]);
        log.seal_if_due(at(2) + chrono::Duration::seconds(60))
            .await
            .unwrap();
        let (sizes, report) = node.stored().await;
        assert_eq!(sizes, [1, 1, 1]);
        assert_eq!(report.finding, None);
    }

    #[tokio::test]
    async fn concurrent_writers_of_one_node_share_one_chain() {
        let node = Node::new();
        let first = node.log(NEVER).await;
        let second = node.log(NEVER).await;
        let writes = (0..20u32).map(|i| {
            let log = if i.is_multiple_of(2) {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move { log.append(&entry(), at(i)).await })
        });
        for write in futures::future::join_all(writes).await {
            write.unwrap().unwrap();
        }
        second.seal().await.unwrap();
        let (sizes, report) = node.stored().await;
        assert_eq!(sizes, [20]);
        assert_eq!(report.finding, None);
    }
}
