//! An independent reader written from FORMAT.md alone, with the primitives
//! used directly: if the document and the code disagree on a byte, this fails.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use aes_kw::KwAes256;
use hmac::{Hmac, Mac};
use hpke::{Deserializable, Serializable};
use sha2::{Digest, Sha256};

use greffier_test_support::objects::{params, pattern, seal};
use greffier_vault::{ClientPrivateKey, Kek, SenderKey, TenantKey};

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn hkdf_expand_32(prk: &[u8], info: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(prk).unwrap();
    mac.update(info);
    mac.update(&[1]);
    mac.finalize().into_bytes().into()
}

/// Section 1 to 5 of FORMAT.md; `dek_of` implements section 2 for the mode.
fn read_per_spec(object: &[u8], dek_of: impl Fn(&[u8], usize) -> [u8; 32]) -> Vec<u8> {
    assert_eq!(&object[0..4], b"GRF1");
    assert_eq!(object[4], 1);
    let header_len = be16(&object[5..7]);
    let header = &object[..header_len];
    let chunk_size = be32(&header[8..12]) as usize;
    let nonce_prefix = &header[12..19];
    let n = usize::from(header[35]);

    let dek = dek_of(header, n);
    let payload_key = hkdf_expand_32(&dek, b"greffier grf1 payload");
    let mac_key = hkdf_expand_32(&dek, b"greffier grf1 header mac");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap();
    mac.update(&header[..header_len - 32]);
    mac.verify_slice(&header[header_len - 32..])
        .expect("header MAC per spec");
    let aad = Sha256::digest(header);

    let cipher = Aes256Gcm::new_from_slice(&payload_key).unwrap();
    let mut plaintext = Vec::new();
    let mut at = header_len;
    for i in 0u32.. {
        let frame_len = be32(&object[at..at + 4]) as usize;
        let last = frame_len - 16 < chunk_size;
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(nonce_prefix);
        nonce[7..11].copy_from_slice(&i.to_be_bytes());
        nonce[11] = u8::from(last);
        let body = &object[at + 4..at + 4 + frame_len];
        let chunk = cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .expect("chunk per spec");
        assert!(last || chunk.len() == chunk_size);
        plaintext.extend_from_slice(&chunk);
        at += 4 + frame_len;
        if last {
            break;
        }
    }
    assert_eq!(at, object.len(), "nothing after the final chunk");
    assert_eq!(
        object.len(),
        header_len + plaintext.len() + 20 * (plaintext.len() / chunk_size + 1)
    );
    plaintext
}

#[test]
fn managed_objects_follow_the_documented_layout() {
    let kek = Kek::generate().unwrap();
    let key = TenantKey::Managed {
        version: 7,
        kek: kek.clone(),
    };
    for len in [0, 1, 999, 1000, 1001, 4567] {
        let plaintext = pattern(len, len as u64);
        let p = params("acme", 1000);
        let record_id = p.record_id;
        let object = seal(p, &key, &plaintext);
        let read = read_per_spec(&object, |header, n| {
            assert_eq!(header.len(), 113 + n);
            assert_eq!(header[7], 1, "kind recording");
            assert_eq!(&header[19..35], record_id.as_bytes());
            assert_eq!(&header[36..36 + n], b"acme");
            assert_eq!(header[36 + n], 1, "managed");
            assert_eq!(be32(&header[37 + n..41 + n]), 7);
            let kw = KwAes256::new_from_slice(kek.as_bytes()).unwrap();
            let mut dek = [0u8; 32];
            kw.unwrap_key(&header[41 + n..81 + n], &mut dek).unwrap();
            dek
        });
        assert!(read == plaintext, "{len} bytes");
    }
}

#[test]
fn client_objects_follow_the_documented_layout() {
    type Kem = hpke::kem::X25519HkdfSha256;
    let (private_key, public_key) = ClientPrivateKey::generate().unwrap();
    let sender = SenderKey::generate().unwrap();
    let sender_public = sender.public_key().unwrap();
    let plaintext = pattern(2500, 5);
    let p = params("acme", 1000);
    let record_id = p.record_id;
    let object = seal(p, &TenantKey::Client { public_key, sender }, &plaintext);
    let read = read_per_spec(&object, |header, n| {
        assert_eq!(header.len(), 165 + n);
        assert_eq!(header[36 + n], 3, "client, sender-authenticated");
        let key_id = |label: &[u8], key: &[u8; 32]| {
            Sha256::new()
                .chain_update(label)
                .chain_update(key)
                .finalize()
        };
        assert_eq!(
            &header[37 + n..45 + n],
            &key_id(b"greffier grf1 recipient", &public_key)[..8]
        );
        assert_eq!(
            &header[45 + n..53 + n],
            &key_id(b"greffier grf1 sender", &sender_public)[..8]
        );
        let mut info = b"greffier grf1 dek".to_vec();
        info.push(n as u8);
        info.extend_from_slice(b"acme");
        info.extend_from_slice(record_id.as_bytes());
        info.push(1); // kind: recording
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(private_key.as_bytes()).unwrap();
        let pk_sender = <Kem as hpke::Kem>::PublicKey::from_bytes(&sender_public).unwrap();
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&header[53 + n..85 + n]).unwrap();
        let dek = hpke::single_shot_open::<hpke::aead::AesGcm256, hpke::kdf::HkdfSha256, Kem>(
            &hpke::OpModeR::Auth(pk_sender),
            &sk,
            &enc,
            &info,
            &header[85 + n..133 + n],
            b"",
        )
        .unwrap();
        assert_eq!(enc.to_bytes().len(), 32);
        dek.try_into().unwrap()
    });
    assert!(read == plaintext);
}
