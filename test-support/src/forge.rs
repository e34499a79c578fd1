//! A forger's tool, written from vault/FORMAT.md alone: client-mode objects
//! the way the gateway wrote them before sender keys (`key_mode = 2`, HPKE
//! base mode). Everything it needs is the tenant's public key, which is
//! public; readers must refuse what it makes unless told otherwise. Shared
//! by the vault tests and the CLI tests.

/// An object written per FORMAT.md the way the gateway wrote client-mode
/// objects before sender keys (`key_mode = 2`, HPKE SealBase): everything it
/// needs is the tenant's public key, which is public. This is the forger's
/// tool, written from the document alone.
pub fn forge_base_mode(
    public_key: &[u8; 32],
    tenant: &str,
    record_id: greffier_vault::Uuid,
    plaintext: &[u8],
) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use hmac::{Hmac, Mac};
    use hpke::{Deserializable, Serializable};
    use sha2::{Digest, Sha256};
    type Kem = hpke::kem::X25519HkdfSha256;

    let hkdf_expand_32 = |prk: &[u8], info: &[u8]| -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(prk).unwrap();
        mac.update(info);
        mac.update(&[1]);
        mac.finalize().into_bytes().into()
    };
    let dek = [0x5a; 32];
    let chunk_size: u32 = 65536;
    let nonce_prefix = [7u8; 7];
    let n = tenant.len() as u8;
    let mut info = b"greffier grf1 dek".to_vec();
    info.push(n);
    info.extend_from_slice(tenant.as_bytes());
    info.extend_from_slice(record_id.as_bytes());
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(public_key).unwrap();
    let (enc, sealed_dek) = hpke::single_shot_seal::<
        hpke::aead::AesGcm256,
        hpke::kdf::HkdfSha256,
        Kem,
    >(&hpke::OpModeS::Base, &pk, &info, &dek, b"")
    .unwrap();

    let mut header = b"GRF1".to_vec();
    header.push(1);
    header.extend_from_slice(&(157 + u16::from(n)).to_be_bytes());
    header.push(1); // recording
    header.extend_from_slice(&chunk_size.to_be_bytes());
    header.extend_from_slice(&nonce_prefix);
    header.extend_from_slice(record_id.as_bytes());
    header.push(n);
    header.extend_from_slice(tenant.as_bytes());
    header.push(2); // client, base mode
    let recipient = Sha256::new()
        .chain_update(b"greffier grf1 recipient")
        .chain_update(public_key)
        .finalize();
    header.extend_from_slice(&recipient[..8]);
    header.extend_from_slice(&enc.to_bytes());
    header.extend_from_slice(&sealed_dek);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&hkdf_expand_32(
        &dek,
        b"greffier grf1 header mac",
    ))
    .unwrap();
    mac.update(&header);
    header.extend_from_slice(&mac.finalize().into_bytes());

    assert!(plaintext.len() < chunk_size as usize, "one final chunk");
    let aad = Sha256::digest(&header);
    let cipher =
        aes_gcm::Aes256Gcm::new_from_slice(&hkdf_expand_32(&dek, b"greffier grf1 payload"))
            .unwrap();
    let mut nonce = [0u8; 12];
    nonce[..7].copy_from_slice(&nonce_prefix);
    nonce[11] = 1; // counter 0, last
    let body = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap();
    let mut object = header;
    object.extend_from_slice(&(body.len() as u32).to_be_bytes());
    object.extend_from_slice(&body);
    object
}
