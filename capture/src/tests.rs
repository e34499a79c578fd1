use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use crate::write::{self, Frame, PcapLayout, PcapngLayout};
use crate::{
    Capture, CaptureError, Format, LinkType, RtpHeader, StreamEvidence, TelephoneEvent, Transport,
};

fn address(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpora/pcaps")
        .join(name)
}

fn at_ms(ms: u64) -> Duration {
    Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
}

/// Three UDP datagrams between two addresses, as IP packets.
fn udp_packets(source: &str, destination: &str) -> Vec<(Duration, Vec<u8>)> {
    (0..3u8)
        .map(|index| {
            let payload = vec![index; 10 + usize::from(index)];
            (
                at_ms(20 * u64::from(index)),
                write::udp_packet(address(source), address(destination), &payload),
            )
        })
        .collect()
}

fn assert_three_datagrams(capture: &Capture, source: &str, destination: &str) {
    assert_eq!(capture.datagrams.len(), 3, "{capture:?}");
    assert_eq!(capture.skipped_frames, 0);
    assert!(!capture.truncated);
    for (index, datagram) in capture.datagrams.iter().enumerate() {
        assert_eq!(datagram.time, at_ms(20 * index as u64));
        assert_eq!(datagram.source, address(source));
        assert_eq!(datagram.destination, address(destination));
        assert_eq!(datagram.transport, Transport::Udp);
        assert_eq!(datagram.payload, vec![index as u8; 10 + index]);
    }
}

fn frames(packets: &[(Duration, Vec<u8>)], link: impl Fn(&[u8]) -> Vec<u8>) -> Vec<Frame> {
    packets
        .iter()
        .map(|(time, packet)| Frame {
            time: *time,
            data: link(packet),
        })
        .collect()
}

#[test]
fn pcap_in_both_byte_orders_and_both_precisions() {
    let packets = udp_packets("192.0.2.1:5004", "192.0.2.2:6004");
    let frames = frames(&packets, |ip| write::ethernet(ip, &[]));
    for big_endian in [false, true] {
        for nanoseconds in [false, true] {
            let layout = PcapLayout {
                big_endian,
                nanoseconds,
            };
            let capture = Capture::parse(&write::pcap(LinkType::Ethernet, &frames, layout))
                .expect("a written pcap reads");
            assert_eq!(
                capture.format,
                Some(Format::Pcap {
                    nanoseconds,
                    big_endian
                })
            );
            assert_three_datagrams(&capture, "192.0.2.1:5004", "192.0.2.2:6004");
        }
    }
}

#[test]
fn pcapng_in_both_byte_orders_with_enhanced_and_simple_packets() {
    let packets = udp_packets("[2001:db8::1]:5004", "[2001:db8::2]:6004");
    let frames = frames(&packets, |ip| write::ethernet(ip, &[]));
    for big_endian in [false, true] {
        let layout = PcapngLayout {
            big_endian,
            simple_packets: false,
        };
        let capture = Capture::parse(&write::pcapng(LinkType::Ethernet, &frames, layout))
            .expect("a written pcapng reads");
        assert_eq!(capture.format, Some(Format::Pcapng));
        assert_three_datagrams(&capture, "[2001:db8::1]:5004", "[2001:db8::2]:6004");

        let layout = PcapngLayout {
            big_endian,
            simple_packets: true,
        };
        let capture = Capture::parse(&write::pcapng(LinkType::Ethernet, &frames, layout))
            .expect("simple packet blocks read");
        assert_eq!(capture.datagrams.len(), 3);
        // Simple packets carry no time.
        assert!(capture.datagrams.iter().all(|d| d.time == Duration::ZERO));
        assert_eq!(capture.datagrams[2].payload, vec![2; 12]);
    }
}

#[test]
fn pcapng_reads_each_interface_with_its_own_link_type_and_resolution() {
    // Two interfaces: Ethernet in microseconds (the default), raw IP in 2^-10 s.
    let ip = write::udp_packet(address("192.0.2.1:1"), address("192.0.2.2:2"), b"hello");
    let mut file = write::pcapng(
        LinkType::Ethernet,
        &[Frame {
            time: Duration::from_secs(5),
            data: write::ethernet(&ip, &[]),
        }],
        PcapngLayout::default(),
    );
    let block = |file: &mut Vec<u8>, block_type: u32, body: &[u8]| {
        let total = (12 + body.len()) as u32;
        file.extend_from_slice(&block_type.to_le_bytes());
        file.extend_from_slice(&total.to_le_bytes());
        file.extend_from_slice(body);
        file.extend_from_slice(&total.to_le_bytes());
    };
    let mut interface = Vec::new();
    interface.extend_from_slice(&101u16.to_le_bytes());
    interface.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    interface.extend_from_slice(&9u16.to_le_bytes());
    interface.extend_from_slice(&1u16.to_le_bytes());
    interface.extend_from_slice(&[0x80 | 10, 0, 0, 0]);
    // An unknown block in between is skipped.
    block(&mut file, 0x0BAD, &[1, 2, 3, 4]);
    block(&mut file, 1, &interface);
    let mut packet = Vec::new();
    packet.extend_from_slice(&1u32.to_le_bytes());
    let units: u64 = 3 * 1024 + 512;
    packet.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    packet.extend_from_slice(&(units as u32).to_le_bytes());
    packet.extend_from_slice(&(ip.len() as u32).to_le_bytes());
    packet.extend_from_slice(&(ip.len() as u32).to_le_bytes());
    packet.extend_from_slice(&ip);
    packet.resize(packet.len().div_ceil(4) * 4, 0);
    block(&mut file, 6, &packet);
    let capture = Capture::parse(&file).expect("two interfaces read");
    assert_eq!(capture.datagrams.len(), 2);
    assert_eq!(capture.datagrams[0].time, Duration::from_secs(5));
    assert_eq!(capture.datagrams[1].time, Duration::from_millis(3500));
    assert_eq!(capture.datagrams[1].payload, b"hello");
}

#[test]
fn pcapng_obsolete_packet_blocks_read_like_enhanced_ones() {
    let ip = write::udp_packet(address("192.0.2.1:1"), address("192.0.2.2:2"), b"old");
    let mut file = write::pcapng(LinkType::RawIp(101), &[], PcapngLayout::default());
    let mut body = Vec::new();
    body.extend_from_slice(&0u16.to_le_bytes()); // interface
    body.extend_from_slice(&0u16.to_le_bytes()); // drops
    let micros: u64 = 7_000_250;
    body.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(micros as u32).to_le_bytes());
    body.extend_from_slice(&(ip.len() as u32).to_le_bytes());
    body.extend_from_slice(&(ip.len() as u32).to_le_bytes());
    body.extend_from_slice(&ip);
    body.resize(body.len().div_ceil(4) * 4, 0);
    let total = (12 + body.len()) as u32;
    file.extend_from_slice(&2u32.to_le_bytes());
    file.extend_from_slice(&total.to_le_bytes());
    file.extend_from_slice(&body);
    file.extend_from_slice(&total.to_le_bytes());
    let capture = Capture::parse(&file).expect("an obsolete packet block reads");
    assert_eq!(capture.datagrams.len(), 1);
    assert_eq!(capture.datagrams[0].payload, b"old");
    // The writer's interface counts nanoseconds.
    assert_eq!(capture.datagrams[0].time, Duration::from_nanos(micros));
}

#[test]
fn every_link_type_reads_to_the_same_datagrams() {
    let v4 = udp_packets("10.1.1.1:5060", "10.2.2.2:5062");
    let v6 = udp_packets("[fd00::1]:5060", "[fd00::2]:5062");
    type Wrap = fn(&[u8]) -> Vec<u8>;
    let null_le: Wrap = |ip| {
        let family: u32 = if ip[0] >> 4 == 6 { 30 } else { 2 };
        [&family.to_le_bytes()[..], ip].concat()
    };
    let null_be: Wrap = |ip| {
        let family: u32 = if ip[0] >> 4 == 6 { 24 } else { 2 };
        [&family.to_be_bytes()[..], ip].concat()
    };
    let cases: Vec<(LinkType, Wrap)> = vec![
        (LinkType::Ethernet, |ip| write::ethernet(ip, &[])),
        (LinkType::Ethernet, |ip| write::ethernet(ip, &[100])),
        (LinkType::Ethernet, |ip| write::ethernet(ip, &[100, 200])),
        (LinkType::LinuxCooked, write::linux_cooked),
        (LinkType::LinuxCooked2, write::linux_cooked2),
        (LinkType::RawIp(101), <[u8]>::to_vec),
        (LinkType::RawIp(12), <[u8]>::to_vec),
        (LinkType::RawIp(14), <[u8]>::to_vec),
        (LinkType::Null, null_le),
        (LinkType::Null, null_be),
    ];
    for (link, wrap) in cases {
        for (packets, source, destination) in [
            (&v4, "10.1.1.1:5060", "10.2.2.2:5062"),
            (&v6, "[fd00::1]:5060", "[fd00::2]:5062"),
        ] {
            let frames = frames(packets, wrap);
            let pcap = write::pcap(link, &frames, PcapLayout::default());
            let capture = Capture::parse(&pcap).expect("pcap reads");
            assert_three_datagrams(&capture, source, destination);
            let pcapng = write::pcapng(link, &frames, PcapngLayout::default());
            let capture = Capture::parse(&pcapng).expect("pcapng reads");
            assert_three_datagrams(&capture, source, destination);
        }
    }
    let frames4 = frames(&v4, <[u8]>::to_vec);
    let capture = Capture::parse(&write::pcap(
        LinkType::Ipv4,
        &frames4,
        PcapLayout::default(),
    ))
    .expect("LINKTYPE_IPV4 reads");
    assert_three_datagrams(&capture, "10.1.1.1:5060", "10.2.2.2:5062");
    let frames6 = frames(&v6, <[u8]>::to_vec);
    let capture = Capture::parse(&write::pcap(
        LinkType::Ipv6,
        &frames6,
        PcapLayout::default(),
    ))
    .expect("LINKTYPE_IPV6 reads");
    assert_three_datagrams(&capture, "[fd00::1]:5060", "[fd00::2]:5062");
}

fn one_frame_capture(frame: Vec<u8>) -> Capture {
    let frames = [Frame {
        time: at_ms(0),
        data: frame,
    }];
    Capture::parse(&write::pcap(
        LinkType::RawIp(101),
        &frames,
        PcapLayout::default(),
    ))
    .expect("reads")
}

#[test]
fn ipv4_options_are_skipped_and_fragments_left_aside() {
    let plain = write::udp_packet(address("10.0.0.1:1000"), address("10.0.0.2:2000"), b"data");
    // Header of 24 bytes: one 4-byte option (NOPs and an end).
    let mut with_options = plain.clone();
    with_options[0] = 0x46;
    with_options.splice(20..20, [1, 1, 1, 0]);
    let total = with_options.len() as u16;
    with_options[2..4].copy_from_slice(&total.to_be_bytes());
    let capture = one_frame_capture(with_options);
    assert_eq!(capture.datagrams.len(), 1);
    assert_eq!(capture.datagrams[0].payload, b"data");

    // First fragment (more fragments set) and a later one (offset non-zero).
    for flags in [[0x20, 0x00], [0x00, 0x10]] {
        let mut fragment = plain.clone();
        fragment[6..8].copy_from_slice(&flags);
        let capture = one_frame_capture(fragment);
        assert!(capture.datagrams.is_empty());
        assert_eq!(capture.skipped_frames, 1);
    }

    // Ethernet padding after a short IP packet is not payload.
    let mut padded = write::ethernet(&plain, &[]);
    padded.extend_from_slice(&[0; 6]);
    let frames = [Frame {
        time: at_ms(0),
        data: padded,
    }];
    let capture = Capture::parse(&write::pcap(
        LinkType::Ethernet,
        &frames,
        PcapLayout::default(),
    ))
    .expect("reads");
    assert_eq!(capture.datagrams[0].payload, b"data");
}

#[test]
fn ipv6_extension_headers_are_skipped_and_fragments_left_aside() {
    let plain = write::udp_packet(address("[fd00::1]:1000"), address("[fd00::2]:2000"), b"v6");
    let udp = plain[40..].to_vec();
    let with_extensions = |first: u8, headers: &[u8]| {
        let mut packet = plain[..40].to_vec();
        packet[6] = first;
        let len = (headers.len() + udp.len()) as u16;
        packet[4..6].copy_from_slice(&len.to_be_bytes());
        packet.extend_from_slice(headers);
        packet.extend_from_slice(&udp);
        packet
    };
    // Hop-by-hop (8 bytes) then destination options (16 bytes) then UDP.
    let mut headers = vec![60, 0, 1, 4, 0, 0, 0, 0];
    headers.extend_from_slice(&[17, 1, 1, 12]);
    headers.extend_from_slice(&[0; 12]);
    let capture = one_frame_capture(with_extensions(0, &headers));
    assert_eq!(capture.datagrams.len(), 1);
    assert_eq!(capture.datagrams[0].payload, b"v6");
    assert_eq!(capture.datagrams[0].destination, address("[fd00::2]:2000"));

    // A routing header (type 0 length 0) works the same way.
    let capture = one_frame_capture(with_extensions(43, &[17, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!(capture.datagrams[0].payload, b"v6");

    // A fragment header: the datagram is only a part.
    let capture = one_frame_capture(with_extensions(44, &[17, 0, 0, 1, 0, 0, 0, 1]));
    assert!(capture.datagrams.is_empty());
}

const INVITE_HEAD: &str = "INVITE sip:bob@192.0.2.20 SIP/2.0\r\n\
    Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
    From: <sip:alice@192.0.2.10>;tag=1\r\nTo: <sip:bob@192.0.2.20>\r\n\
    Call-ID: tcp-test\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n";

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n\
    t=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn invite_with_offer() -> String {
    format!(
        "{INVITE_HEAD}Content-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    )
}

#[test]
fn sip_over_tcp_is_reassembled_and_split_by_content_length() {
    let caller = address("192.0.2.10:50000");
    let proxy = address("192.0.2.20:5060");
    let invite = invite_with_offer();
    let ack = "ACK sip:bob@192.0.2.20 SIP/2.0\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    let (head, tail) = invite.as_bytes().split_at(invite.len() - 30);
    let base: u32 = 0xFFFF_FF00; // the sequence numbers wrap inside the stream
    let second = base.wrapping_add(head.len() as u32);
    let third = second.wrapping_add(tail.len() as u32);
    let segments = [
        (at_ms(0), write::tcp_packet(caller, proxy, base, head)),
        // A retransmission of the first segment is kept once.
        (at_ms(5), write::tcp_packet(caller, proxy, base, head)),
        (at_ms(10), write::tcp_packet(caller, proxy, second, tail)),
        // A CRLF keep-alive, then the ACK.
        (
            at_ms(30),
            write::tcp_packet(
                caller,
                proxy,
                third,
                &[b"\r\n\r\n", ack.as_bytes()].concat(),
            ),
        ),
    ];
    let mut packets: Vec<(Duration, Vec<u8>)> = segments.to_vec();
    // RTP to the offered address, from the callee.
    for index in 0..10u16 {
        let rtp = write::rtp_packet(0, index, 160 * u32::from(index), 7, &[0xff; 160]);
        packets.push((
            at_ms(100 + 20 * u64::from(index)),
            write::udp_packet(
                address("192.0.2.20:30000"),
                address("192.0.2.10:40000"),
                &rtp,
            ),
        ));
    }
    let frames = frames(&packets, |ip| write::ethernet(ip, &[]));
    let capture = Capture::parse(&write::pcap(
        LinkType::Ethernet,
        &frames,
        PcapLayout::default(),
    ))
    .expect("reads");
    assert_eq!(capture.datagrams.len(), 14);
    assert!(matches!(
        capture.datagrams[0].transport,
        Transport::Tcp { sequence } if sequence == base
    ));

    let streams = capture.tcp_streams();
    assert_eq!(streams.len(), 1);
    assert!(!streams[0].gap);
    assert_eq!(streams[0].bytes.len(), invite.len() + 4 + ack.len());

    let messages = capture.sip_messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].is_request("INVITE"));
    assert_eq!(messages[0].bytes, invite.as_bytes());
    assert_eq!(messages[0].body(), OFFER.as_bytes());
    assert_eq!(messages[0].time, at_ms(0));
    assert_eq!(messages[0].source, caller);
    assert!(messages[1].is_request("ACK"));
    assert_eq!(messages[1].time, at_ms(30));

    let rtp = capture.rtp_streams();
    assert_eq!(rtp.len(), 1);
    assert_eq!(rtp[0].evidence, StreamEvidence::Sdp);
    assert_eq!(rtp[0].packets.len(), 10);
    assert_eq!(rtp[0].payload_types[0].encoding.as_deref(), Some("PCMU"));
    assert_eq!(rtp[0].ptime(), Some(Duration::from_millis(20)));
}

#[test]
fn a_tcp_stream_stops_at_a_gap_and_leaves_an_incomplete_message_out() {
    let caller = address("192.0.2.10:50000");
    let proxy = address("192.0.2.20:5060");
    let invite = invite_with_offer();
    let head = &invite.as_bytes()[..100];
    let later = &invite.as_bytes()[120..];
    let packets = [
        (at_ms(0), write::tcp_packet(caller, proxy, 1000, head)),
        (at_ms(1), write::tcp_packet(caller, proxy, 1120, later)),
    ];
    let frames = frames(&packets, <[u8]>::to_vec);
    let capture = Capture::parse(&write::pcap(
        LinkType::RawIp(101),
        &frames,
        PcapLayout::default(),
    ))
    .expect("reads");
    let streams = capture.tcp_streams();
    assert!(streams[0].gap);
    assert_eq!(streams[0].bytes, head);
    assert!(capture.sip_messages().is_empty());
}

#[test]
fn a_truncated_last_record_ends_the_read_with_the_records_before_it() {
    let packets = udp_packets("192.0.2.1:5004", "192.0.2.2:6004");
    let frames = frames(&packets, |ip| write::ethernet(ip, &[]));
    let pcap = write::pcap(LinkType::Ethernet, &frames, PcapLayout::default());
    let last_len = frames[2].data.len() + 16;
    for cut in [1, 10, 16, last_len - 1] {
        let capture = Capture::parse(&pcap[..pcap.len() - cut]).expect("a cut capture reads");
        assert_eq!(capture.datagrams.len(), 2, "cut {cut}");
        assert!(capture.truncated);
    }
    let pcapng = write::pcapng(LinkType::Ethernet, &frames, PcapngLayout::default());
    let capture = Capture::parse(&pcapng[..pcapng.len() - 3]).expect("a cut pcapng reads");
    assert_eq!(capture.datagrams.len(), 2);
    assert!(capture.truncated);
}

#[test]
fn bad_input_is_an_error_that_says_what_and_where() {
    let error = Capture::parse(b"GIF89a, not a capture").unwrap_err();
    assert!(matches!(
        error,
        CaptureError::UnknownFormat { magic: 0x4749_4638 }
    ));
    assert!(error.to_string().contains("0x47494638"), "{error}");

    assert!(matches!(
        Capture::parse(&[0xd4, 0xc3]).unwrap_err(),
        CaptureError::ShortHeader { len: 2 }
    ));
    assert!(matches!(
        Capture::parse(&0xA1B2_C3D4u32.to_le_bytes()).unwrap_err(),
        CaptureError::ShortHeader { len: 4 }
    ));

    let mut unsupported = write::pcap(LinkType::Ethernet, &[], PcapLayout::default());
    unsupported[20..24].copy_from_slice(&147u32.to_le_bytes());
    let error = Capture::parse(&unsupported).unwrap_err();
    assert!(matches!(
        error,
        CaptureError::UnsupportedLinkType {
            offset: 20,
            link_type: 147
        }
    ));

    let frames = [Frame {
        time: at_ms(0),
        data: vec![0; 20],
    }];
    let good = write::pcapng(LinkType::Ethernet, &frames, PcapngLayout::default());
    let interface_at = 28; // after the 28-byte section header
    let packet_at = interface_at + 32;

    let mut odd_length = good.clone();
    odd_length[packet_at + 4..packet_at + 8].copy_from_slice(&13u32.to_le_bytes());
    let error = Capture::parse(&odd_length).unwrap_err();
    assert!(
        matches!(error, CaptureError::Block { offset, block_type: 6, .. } if offset == packet_at),
        "{error}"
    );
    assert!(error.to_string().contains(&format!("offset {packet_at}")));

    let mut trailing = good.clone();
    let end = trailing.len();
    trailing[end - 4..].copy_from_slice(&4096u32.to_le_bytes());
    assert!(matches!(
        Capture::parse(&trailing).unwrap_err(),
        CaptureError::Block { block_type: 6, .. }
    ));

    let mut no_interface = good.clone();
    no_interface[packet_at + 8..packet_at + 12].copy_from_slice(&3u32.to_le_bytes());
    let error = Capture::parse(&no_interface).unwrap_err();
    assert!(error.to_string().contains("interface"), "{error}");

    let mut too_long = good.clone();
    too_long[packet_at + 20..packet_at + 24].copy_from_slice(&999u32.to_le_bytes());
    assert!(matches!(
        Capture::parse(&too_long).unwrap_err(),
        CaptureError::Block { what, .. } if what.contains("captured length")
    ));

    let mut bad_order = good;
    bad_order[8..12].copy_from_slice(&[1, 2, 3, 4]);
    assert!(matches!(
        Capture::parse(&bad_order).unwrap_err(),
        CaptureError::Block { offset: 0, .. }
    ));
}

#[test]
fn rtp_headers_with_csrcs_extension_and_padding() {
    let mut packet = vec![0xB2, 0x80 | 96];
    packet.extend_from_slice(&513u16.to_be_bytes());
    packet.extend_from_slice(&160_000u32.to_be_bytes());
    packet.extend_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
    packet.extend_from_slice(&[0; 8]); // two CSRCs
    packet.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension, one word
    packet.extend_from_slice(b"payload");
    packet.extend_from_slice(&[0, 0, 3]); // three bytes of padding
    let header = RtpHeader::parse(&packet).expect("a valid header");
    assert!(header.marker && header.extension && header.padding);
    assert_eq!(header.payload_type, 96);
    assert_eq!(header.sequence, 513);
    assert_eq!(header.timestamp, 160_000);
    assert_eq!(header.ssrc, 0xDEAD_BEEF);
    assert_eq!(header.csrc_count, 2);
    assert_eq!(header.payload_of(&packet), b"payload");

    let mut bad_padding = packet.clone();
    *bad_padding.last_mut().unwrap() = 200;
    assert_eq!(RtpHeader::parse(&bad_padding), None);
    assert_eq!(RtpHeader::parse(&packet[..14]), None, "CSRCs cut off");
    assert_eq!(RtpHeader::parse(&[0x40; 20]), None, "version 1");
    assert_eq!(RtpHeader::parse(&[0x80; 11]), None, "short");

    let event = TelephoneEvent::parse(&[11, 0x8a, 0x03, 0x20]).unwrap();
    assert_eq!(event.digit(), Some('#'));
    assert!(event.end);
    assert_eq!(event.volume, 10);
    assert_eq!(event.duration, 800);
}

fn rtp_capture(flows: &[(&str, &str, Vec<Vec<u8>>)]) -> Capture {
    let mut packets = Vec::new();
    for (source, destination, datagrams) in flows {
        for (index, datagram) in datagrams.iter().enumerate() {
            packets.push((
                at_ms(20 * index as u64),
                write::udp_packet(address(source), address(destination), datagram),
            ));
        }
    }
    packets.sort_by_key(|(time, _)| *time);
    let frames = frames(&packets, |ip| write::ethernet(ip, &[]));
    Capture::parse(&write::pcap(
        LinkType::Ethernet,
        &frames,
        PcapLayout::default(),
    ))
    .expect("reads")
}

#[test]
fn without_sdp_steady_rtp_is_a_stream_and_noise_is_not() {
    let steady: Vec<Vec<u8>> = (0..50u16)
        .map(|n| write::rtp_packet(8, 1000 + n, 160 * u32::from(n), 42, &[0xd5; 160]))
        .collect();
    // Version-2 looking bytes whose "SSRC" changes every packet.
    let noise: Vec<Vec<u8>> = (0..50u32)
        .map(|n| write::rtp_packet(8, n as u16, 0, n * 7919, &[1; 20]))
        .collect();
    // Steady SSRC but sequence numbers all over the place.
    let jumpy: Vec<Vec<u8>> = (0..50u16)
        .map(|n| write::rtp_packet(0, n.wrapping_mul(7919), 0, 9, &[1; 20]))
        .collect();
    // RTCP sender reports: packet type 200 reads as marker + payload type 72.
    let rtcp: Vec<Vec<u8>> = (0..50u16)
        .map(|_| [&[0x80, 200, 0, 6][..], &[0; 24]].concat())
        .collect();
    let events: Vec<Vec<u8>> = (0..8u16)
        .map(|n| {
            let end = if n >= 5 { 0x80 } else { 0 };
            let duration = 160 * (n.min(5) + 1);
            let mut packet = write::rtp_packet(101, 7 + n, 8000, 77, &[5, end | 10, 0, 0]);
            packet[14..16].copy_from_slice(&duration.to_be_bytes());
            if n == 0 {
                packet[1] |= 0x80;
            }
            packet
        })
        .collect();
    let capture = rtp_capture(&[
        ("10.0.0.1:4000", "10.0.0.2:5000", steady),
        ("10.0.0.3:4000", "10.0.0.4:5000", noise),
        ("10.0.0.5:4000", "10.0.0.6:5000", jumpy),
        ("10.0.0.1:4001", "10.0.0.2:5001", rtcp),
        ("10.0.0.7:4000", "10.0.0.8:5000", events),
    ]);
    let streams = capture.rtp_streams();
    assert_eq!(streams.len(), 2, "{streams:#?}");
    let audio = &streams[0];
    assert_eq!(audio.evidence, StreamEvidence::Heuristic);
    assert_eq!(audio.ssrc, 42);
    assert_eq!(audio.packets.len(), 50);
    assert_eq!(audio.payload_types[0].encoding.as_deref(), Some("PCMA"));
    assert_eq!(audio.ptime(), Some(Duration::from_millis(20)));
    assert_eq!(audio.duration(), Duration::from_millis(49 * 20));
    assert_eq!(audio.telephone_event_payload_type, None);

    let dtmf = &streams[1];
    assert_eq!(dtmf.telephone_event_payload_type, Some(101));
    assert_eq!(dtmf.telephone_event_packets, 8);
    assert_eq!(dtmf.marker_packets, 1);
    let events = dtmf.telephone_events();
    assert_eq!(events.len(), 8);
    assert!(events.iter().all(|(_, event)| event.digit() == Some('5')));
    assert_eq!(events.iter().filter(|(_, event)| event.end).count(), 3);
}

#[test]
fn corpus_sipp_g711a_is_one_heuristic_pcma_stream() {
    let capture = Capture::read_file(&corpus("sipp_g711a.pcap")).expect("corpus reads");
    assert_eq!(capture.datagrams.len(), 236);
    let streams = capture.rtp_streams();
    assert_eq!(streams.len(), 1);
    let stream = &streams[0];
    assert_eq!(stream.evidence, StreamEvidence::Heuristic);
    assert_eq!(stream.packets.len(), 236);
    assert_eq!(stream.payload_types.len(), 1);
    assert_eq!(stream.payload_types[0].payload_type, 8);
    assert_eq!(stream.ptime(), Some(Duration::from_millis(30)));
    assert!(stream.duration() > Duration::from_secs(7));
}

#[test]
fn corpus_sip_dtmf2_streams_come_from_its_sdp_with_their_telephone_events() {
    let capture = Capture::read_file(&corpus("wssample_SIP_DTMF2.pcap")).expect("corpus reads");
    let messages = capture.sip_messages();
    assert_eq!(messages.len(), 29);
    assert!(messages.iter().any(|message| message.is_request("INVITE")));
    let streams = capture.rtp_streams();
    assert!(!streams.is_empty());
    assert!(
        streams.iter().all(|s| s.evidence == StreamEvidence::Sdp),
        "{streams:#?}"
    );
    let packets: usize = streams.iter().map(|s| s.packets.len()).sum();
    assert_eq!(packets, 1331);
    let events: usize = streams.iter().map(|s| s.telephone_event_packets).sum();
    assert_eq!(events, 35);
    for stream in &streams {
        let pcma = stream
            .payload_types
            .iter()
            .find(|used| used.payload_type == 8)
            .expect("PCMA in every stream");
        assert_eq!(pcma.encoding.as_deref(), Some("PCMA"));
        // 240 samples a packet at 8 kHz.
        assert_eq!(stream.ptime(), Some(Duration::from_millis(30)));
    }
    let with_events: Vec<_> = streams
        .iter()
        .filter(|stream| stream.telephone_event_packets > 0)
        .collect();
    assert!(!with_events.is_empty());
    for stream in with_events {
        assert_eq!(stream.telephone_event_payload_type, Some(96));
        let digits: Vec<_> = stream
            .telephone_events()
            .iter()
            .filter_map(|(_, event)| event.digit())
            .collect();
        assert!(!digits.is_empty());
    }
}

#[test]
fn corpus_g722_and_opus_are_one_way_calls_found_by_sdp() {
    for (name, payload_type, encoding) in [
        ("wssample_sip-rtp-g722.pcap", 9, "G722"),
        ("wssample_sip-rtp-opus.pcap", 99, "opus"),
    ] {
        let capture = Capture::read_file(&corpus(name)).expect("corpus reads");
        let streams = capture.rtp_streams();
        assert_eq!(streams.len(), 1, "{name}: {streams:#?}");
        let stream = &streams[0];
        assert_eq!(stream.evidence, StreamEvidence::Sdp, "{name}");
        assert_eq!(stream.packets.len(), 425, "{name}");
        assert_eq!(stream.payload_types.len(), 1, "{name}");
        assert_eq!(stream.payload_types[0].payload_type, payload_type);
        assert!(stream.payload_types[0]
            .encoding
            .as_deref()
            .is_some_and(|found| found.eq_ignore_ascii_case(encoding)));
        assert_eq!(stream.ptime(), Some(Duration::from_millis(20)), "{name}");
    }
}

#[test]
fn corpus_nb6_telephone_has_both_directions_among_its_pppoe_noise() {
    let capture = Capture::read_file(&corpus("wssample_nb6-telephone.pcap")).expect("corpus reads");
    assert!(
        capture.skipped_frames >= 8,
        "PPPoE and ARP frames are skipped"
    );
    let streams = capture.rtp_streams();
    assert_eq!(streams.len(), 2, "{streams:#?}");
    let mut counts: Vec<usize> = streams.iter().map(|s| s.packets.len()).collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![248, 261]);
    assert_eq!(streams[0].source, streams[1].destination);
    let offered: Vec<IpAddr> = capture
        .sip_messages()
        .iter()
        .filter(|message| !message.body().is_empty())
        .map(|message| message.source.ip())
        .collect();
    assert!(!offered.is_empty());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(capture) = Capture::parse(&bytes) {
            let _ = (capture.sip_messages(), capture.rtp_streams());
        }
        let _ = RtpHeader::parse(&bytes);
        let _ = TelephoneEvent::parse(&bytes);
    }

    #[test]
    fn arbitrary_records_after_a_valid_header_never_panic(
        big_endian in any::<bool>(),
        pcapng in any::<bool>(),
        link in prop::sample::select(vec![0u32, 1, 12, 14, 101, 113, 228, 229, 276]),
        records in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = if pcapng {
            let mut file = write::pcapng(
                LinkType::from_code(link),
                &[],
                PcapngLayout { big_endian, simple_packets: false },
            );
            // Keep the section header and the interface, then arbitrary blocks.
            file.truncate(60);
            file
        } else {
            write::pcap(LinkType::from_code(link), &[], PcapLayout { big_endian, nanoseconds: false })
        };
        bytes.extend_from_slice(&records);
        if let Ok(capture) = Capture::parse(&bytes) {
            let _ = (capture.sip_messages(), capture.rtp_streams(), capture.tcp_streams());
        }
    }

    #[test]
    fn arbitrary_ip_packets_never_panic(
        version in prop::sample::select(vec![0x45u8, 0x46, 0x4f, 0x60]),
        protocol in prop::sample::select(vec![0u8, 6, 17, 43, 44, 51, 60]),
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut packet = vec![version, 0];
        packet.extend_from_slice(&rest);
        if packet.len() > 9 {
            packet[if version == 0x60 { 6 } else { 9 }] = protocol;
        }
        let frames = [Frame { time: Duration::ZERO, data: packet }];
        let bytes = write::pcap(LinkType::RawIp(101), &frames, PcapLayout::default());
        let capture = Capture::parse(&bytes).expect("a well-formed file reads");
        let _ = (capture.sip_messages(), capture.rtp_streams());
    }
}
