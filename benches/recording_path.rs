//! The whole recording path of one call-second: 50 G.711 A-law packets each way
//! through the recorder (jitter buffer, decode, mix, WAV), encrypted and appended
//! to the spool by the vault's writer on a local store. Throughput is call-seconds
//! per second on one core.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use greffier_media::{CodecMap, Leg, OutputFormat, Recorder, RecorderConfig, RtpFormat};
use greffier_vault::catalog::{call_id_hash, CallInfo, Direction};
use greffier_vault::recording::{RecordingWriter, WriterOptions};
use greffier_vault::spool::Spool;
use greffier_vault::store::{NodeId, RecordId, StoreConfig, VaultStore};
use greffier_vault::{Keyring, MasterKey, TenantId, TenantKeys};

/// What both legs of the benchmarked call negotiated.
fn pcma() -> [RtpFormat; 1] {
    [RtpFormat::new(8, "PCMA", 8000)]
}
const PACKETS_PER_SECOND: u32 = 50;
const SAMPLES_PER_PACKET: u32 = 160;

fn packet(seq: u16, timestamp: u32, ssrc: u32) -> Vec<u8> {
    let mut packet = vec![0x80, 8];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    // A-law code points of a quiet, varying signal.
    packet.extend((0..SAMPLES_PER_PACKET).map(|i| 0xd5 ^ (i as u8 & 0x0f)));
    packet
}

fn recording_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tenant = TenantId::new("bench").expect("a tenant id");
    let mut keyring = Keyring::init(
        &dir.path().join("keyring.grk"),
        MasterKey::generate().expect("a key"),
    )
    .expect("a keyring");
    keyring.add_managed_tenant(&tenant).expect("tenant keys");
    let keys: Arc<dyn TenantKeys> = Arc::new(keyring);
    let store = VaultStore::from_config(&StoreConfig::Local {
        path: dir.path().join("store"),
    })
    .expect("a local store");
    let spool = runtime
        .block_on(Spool::open(
            dir.path().join("spool"),
            NodeId::new("bench").expect("a node id"),
        ))
        .expect("a spool");
    let call = CallInfo {
        tenant: tenant.clone(),
        record_id: RecordId::generate(),
        start: chrono::Utc::now(),
        caller: None,
        callee: None,
        direction: Direction::Outbound,
        codecs: vec!["PCMA".into()],
        media_type: "audio/wav".into(),
        call_id_hash: call_id_hash(&keys.index_key(&tenant).expect("index key"), "bench")
            .expect("a hash"),
    };
    let start = Instant::now();
    let mut writer = runtime
        .block_on(RecordingWriter::create(
            spool,
            store,
            keys,
            call,
            WriterOptions::default(),
            start,
        ))
        .expect("a writer");
    let config = RecorderConfig::new(
        OutputFormat::Wav,
        CodecMap::from_formats(&pcma()),
        CodecMap::from_formats(&pcma()),
        start,
    );
    let mut recorder = Recorder::new(config).expect("a recorder");

    let mut second = 0u32;
    let mut group = c.benchmark_group("recording");
    group.throughput(Throughput::Elements(1));
    group.bench_function("call_second_alaw_wav_encrypted_to_spool", |b| {
        b.iter(|| {
            for n in 0..PACKETS_PER_SECOND {
                let index = second * PACKETS_PER_SECOND + n;
                let now = start + Duration::from_millis(u64::from(index) * 20);
                let seq = index as u16;
                let timestamp = index.wrapping_mul(SAMPLES_PER_PACKET);
                for (leg, ssrc) in [(Leg::Caller, 1), (Leg::Callee, 2)] {
                    recorder
                        .handle_rtp(now, leg, &packet(seq, timestamp, ssrc))
                        .expect("a packet");
                }
                let _ = recorder.handle_timeout(now);
                while let Some(bytes) = recorder.poll_output() {
                    runtime
                        .block_on(writer.write(&bytes, now))
                        .expect("a write");
                }
            }
            second += 1;
        })
    });
    group.finish();
}

criterion_group!(benches, recording_path);
criterion_main!(benches);
