//! G.711 decoding checked sample by sample against the ITU-T G.711 tables,
//! computed here from the standard's segment/quantisation description.

use greffier_media::codec::{Decoder, G711Decoder};
use greffier_media::RtpPacket;
use greffier_test_support::capture::Capture;

/// A-law (G.711 table 1a): even bits inverted, sign bit 1 = positive, 3-bit
/// segment, 4-bit step; decision midpoints in 13-bit units, scaled to 16 bits.
fn itu_alaw(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = u32::from((code >> 4) & 0x07);
    let step = i32::from(code & 0x0f);
    let magnitude_13bit = if segment == 0 {
        2 * step + 1
    } else {
        (2 * step + 33) << (segment - 1)
    };
    let value = magnitude_13bit << 3;
    (if code & 0x80 != 0 { value } else { -value }) as i16
}

/// µ-law (G.711 table 2a): all bits inverted, biased by 33 in 14-bit units.
fn itu_ulaw(code: u8) -> i16 {
    let code = !code;
    let segment = u32::from((code >> 4) & 0x07);
    let step = i32::from(code & 0x0f);
    let magnitude_14bit = (((2 * step + 33) << segment) - 33) << 2;
    (if code & 0x80 != 0 {
        -magnitude_14bit
    } else {
        magnitude_14bit
    }) as i16
}

#[test]
fn sipp_alaw_capture_decodes_to_the_reference_samples() {
    let capture = Capture::load("sipp_g711a.pcap");
    assert_eq!(capture.streams.len(), 1);
    let mut decoder = G711Decoder::alaw();
    let mut decoded = Vec::new();
    let mut reference = Vec::new();
    for packet in &capture.streams[0].packets {
        let datagram = &packet.datagram;
        let packet = RtpPacket::parse(datagram).unwrap();
        assert_eq!(packet.payload_type, 8);
        decoder.decode(packet.payload(), &mut decoded).unwrap();
        reference.extend(packet.payload().iter().map(|&code| itu_alaw(code)));
    }
    assert_eq!(decoded.len(), 236 * 240);
    assert_eq!(decoded, reference);
    let distinct: std::collections::BTreeSet<i16> = decoded.iter().copied().collect();
    assert!(
        distinct.len() > 50,
        "speech, not a constant: {} values",
        distinct.len()
    );
}

#[test]
fn every_code_matches_the_reference() {
    let codes: Vec<u8> = (0..=255).collect();
    let mut alaw = Vec::new();
    G711Decoder::alaw().decode(&codes, &mut alaw).unwrap();
    let mut ulaw = Vec::new();
    G711Decoder::ulaw().decode(&codes, &mut ulaw).unwrap();
    for code in 0..=255u8 {
        assert_eq!(alaw[usize::from(code)], itu_alaw(code), "A-law {code:#04x}");
        assert_eq!(ulaw[usize::from(code)], itu_ulaw(code), "µ-law {code:#04x}");
    }
}
