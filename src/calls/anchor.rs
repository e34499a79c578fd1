//! From a leg's SDP to what the relay needs (where that leg wants its media) and to
//! the SDP the other leg gets (the gateway's ports instead).

use std::net::IpAddr;

use bytes::Bytes;
use greffier_media::relay::{MediaDirection as RelayDirection, RemoteMedia};
use greffier_sip::sdp::{
    Anchor, MediaDirection, MediaPlan, MediaStream, RemoteAddress, SessionDescription,
};

/// The media section the gateway anchors and records: the first audio stream.
pub fn anchored_stream(plan: &MediaPlan) -> Option<usize> {
    plan.streams
        .iter()
        .position(|stream| stream.media == "audio")
}

/// Where a leg asks for its media, as the relay understands it. Host names are not
/// resolved on the call path: such a leg gets media only once it has sent some
/// (latching).
pub fn remote_media(stream: &MediaStream) -> RemoteMedia {
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
/// receiving side. Other streams are left as they are (they are neither relayed
/// nor recorded).
pub fn rewrite(sdp: &SessionDescription, anchored: usize, address: IpAddr, port: u16) -> Bytes {
    let ports = (0..sdp.media().len())
        .map(|index| (index == anchored).then_some(port))
        .collect();
    sdp.rewrite_for_anchor(&Anchor { address, ports })
}
