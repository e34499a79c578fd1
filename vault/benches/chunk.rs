//! Chunk encryption and decryption throughput with the default 64 KiB chunk.
//! The `aes` crate picks AES-NI and CLMUL at run time on x86_64, so this
//! should exceed 1 GB/s per core on such machines.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use greffier_vault::{
    Kek, ObjectDecryptor, ObjectEncryptor, ObjectKind, ObjectParams, TenantId, TenantKey,
    DEFAULT_CHUNK_SIZE,
};

const CHUNKS: usize = 64;

fn setup() -> (TenantKey, TenantId, ObjectParams) {
    let tenant = TenantId::new("bench").expect("valid tenant id");
    let key = TenantKey::Managed {
        version: 1,
        kek: Kek::generate().expect("random KEK"),
    };
    let params = ObjectParams::new(
        tenant.clone(),
        greffier_vault::new_record_id(),
        ObjectKind::Recording,
    );
    (key, tenant, params)
}

fn chunk_throughput(c: &mut Criterion) {
    report_cpu_features();
    let (key, tenant, params) = setup();
    let chunk = vec![0x5au8; DEFAULT_CHUNK_SIZE as usize];
    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Bytes((chunk.len() * CHUNKS) as u64));

    group.bench_function("encrypt_64KiB_chunks", |b| {
        b.iter_batched(
            || ObjectEncryptor::new(params.clone(), &key).expect("encryptor"),
            |mut encryptor| {
                for _ in 0..CHUNKS {
                    black_box(encryptor.push(&chunk).expect("push"));
                }
                encryptor
            },
            BatchSize::SmallInput,
        )
    });

    let mut encryptor = ObjectEncryptor::new(params.clone(), &key).expect("encryptor");
    let mut object = Vec::new();
    for _ in 0..CHUNKS {
        object.extend_from_slice(&encryptor.push(&chunk).expect("push"));
    }
    object.extend_from_slice(&encryptor.finish().expect("finish"));
    let frame = DEFAULT_CHUNK_SIZE as usize + 20;
    let header_len = encryptor_header_len(&object);

    group.bench_function("decrypt_64KiB_chunks", |b| {
        b.iter_batched(
            || {
                let mut decryptor = ObjectDecryptor::new(&key, tenant.clone());
                decryptor.push(&object[..header_len]).expect("header");
                decryptor
            },
            |mut decryptor| {
                for piece in object[header_len..].chunks(frame) {
                    black_box(decryptor.push(piece).expect("chunk"));
                }
                decryptor.finish().expect("complete")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn encryptor_header_len(object: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([object[5], object[6]]))
}

fn report_cpu_features() {
    #[cfg(target_arch = "x86_64")]
    eprintln!(
        "cpu: aes={} pclmulqdq={} (the aes and ghash crates use them when present)",
        std::arch::is_x86_feature_detected!("aes"),
        std::arch::is_x86_feature_detected!("pclmulqdq")
    );
}

criterion_group!(benches, chunk_throughput);
criterion_main!(benches);
