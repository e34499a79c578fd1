//! From a leg's SDP to what the relay needs (where that leg wants its media) and to
//! the SDP the other leg gets (the gateway's ports instead).

use std::net::IpAddr;

use bytes::Bytes;
use greffier_media::relay::{MediaDirection as RelayDirection, RemoteMedia};
use greffier_sip::sdp::{
    Anchor, MediaDirection, MediaPlan, MediaStream, RemoteAddress, SessionDescription,
};

/// The media section the gateway anchors and records: the first audio stream over
/// plain RTP (`m=AUDIO` included) that is in use (a port and a connection address).
/// `None` when there is none: such an SDP cannot be anchored.
pub(crate) fn anchored_stream(plan: &MediaPlan) -> Option<usize> {
    plan.streams
        .iter()
        .position(|stream| stream.is_recordable_audio() && stream.rtp != RemoteAddress::Disabled)
}

/// Where a leg asks for its media, as the relay understands it. Host names are not
/// resolved on the call path: such a leg gets media only once it has sent some
/// (latching).
pub(crate) fn remote_media(stream: &MediaStream) -> RemoteMedia {
    let direction = match stream.direction {
        MediaDirection::SendRecv => RelayDirection::SendRecv,
        MediaDirection::SendOnly => RelayDirection::SendOnly,
        MediaDirection::RecvOnly => RelayDirection::RecvOnly,
        MediaDirection::Inactive => RelayDirection::Inactive,
    };
    let mut remote = match stream.rtp {
        RemoteAddress::Socket(addr) => RemoteMedia::from_sdp(addr, direction),
        _ => RemoteMedia {
            direction,
            ..RemoteMedia::default()
        },
    };
    if let Some(RemoteAddress::Socket(rtcp)) = stream.rtcp {
        if remote.rtp.is_some() {
            remote = remote.with_rtcp(rtcp);
        }
    }
    remote
}

/// The SDP to forward: the anchored stream points at the gateway's `port` on the
/// receiving side. Every other stream is disabled (port 0): the gateway neither
/// relays nor records it, and media must not flow around it.
pub(crate) fn rewrite(
    sdp: &SessionDescription,
    anchored: usize,
    address: IpAddr,
    port: u16,
) -> Bytes {
    let ports = sdp
        .media()
        .iter()
        .enumerate()
        .map(
            |(index, section)| match (index == anchored, section.media.port) {
                (true, _) => Some(port),
                // Already rejected: leave it as it is.
                (false, 0) => None,
                (false, _) => Some(0),
            },
        )
        .collect();
    sdp.rewrite_for_anchor(&Anchor { address, ports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_audio_stream_is_anchored_and_the_others_are_disabled() {
        let offer = Bytes::from_static(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
              m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
              m=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        );
        let sdp = SessionDescription::parse(&offer).unwrap();
        let plan = sdp.media_plan();
        let anchored = anchored_stream(&plan).unwrap();
        assert_eq!(anchored, 1);
        let out = rewrite(&sdp, anchored, "127.0.0.1".parse().unwrap(), 30000);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.contains("m=audio 30000 RTP/AVP 8"), "{text}");
        assert!(text.contains("m=video 0 RTP/AVP 96"), "{text}");
        assert!(
            !text.contains("192.0.2.10"),
            "no media path around the gateway: {text}"
        );
    }
}
