//! Just enough SDP (RFC 8866) to know where a capture's RTP goes: each media
//! section's port with its connection address, and its payload types' names.
//! The gateway's own SDP parser lives in the SIP crate; this crate stands alone
//! so that the crates it serves can all depend on it.

use std::net::{IpAddr, SocketAddr};

/// Where one media section asks to receive RTP, and what its payload types are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaEndpoint {
    pub(crate) address: SocketAddr,
    /// Payload type, encoding name and clock rate, from `a=rtpmap` and the
    /// static payload types of RFC 3551 the `m=` line lists.
    pub(crate) formats: Vec<(u8, String, u32)>,
}

/// One `m=` section as read: its port, its own `c=` address, the payload types
/// its `m=` line lists and its `a=rtpmap` lines.
struct Section {
    port: u16,
    address: Option<IpAddr>,
    payload_types: Vec<u8>,
    rtpmaps: Vec<(u8, String, u32)>,
}

/// The media endpoints of an SDP body; nothing for a body that is not SDP.
pub(crate) fn media_endpoints(body: &str) -> Vec<MediaEndpoint> {
    let mut session_address: Option<IpAddr> = None;
    let mut sections: Vec<Section> = Vec::new();
    for line in body.lines() {
        let line = line.trim_end();
        if let Some(connection) = line.strip_prefix("c=") {
            let address = connection_address(connection);
            match sections.last_mut() {
                Some(section) => section.address = address,
                None => session_address = address,
            }
        } else if let Some(media) = line.strip_prefix("m=") {
            let mut fields = media.split_ascii_whitespace();
            let port = fields
                .nth(1)
                .and_then(|port| port.split('/').next())
                .and_then(|port| port.parse().ok())
                .unwrap_or(0);
            let payload_types = fields.skip(1).filter_map(|pt| pt.parse().ok()).collect();
            sections.push(Section {
                port,
                address: None,
                payload_types,
                rtpmaps: Vec::new(),
            });
        } else if let Some(rtpmap) = line.strip_prefix("a=rtpmap:") {
            if let (Some(section), Some(format)) = (sections.last_mut(), rtpmap_format(rtpmap)) {
                section.rtpmaps.push(format);
            }
        }
    }
    sections
        .into_iter()
        .filter_map(|section| {
            let address = section.address.or(session_address)?;
            if section.port == 0 || address.is_unspecified() {
                return None;
            }
            let formats = section
                .payload_types
                .iter()
                .filter_map(|pt| {
                    section
                        .rtpmaps
                        .iter()
                        .find(|(mapped, _, _)| mapped == pt)
                        .cloned()
                        .or_else(|| static_format(*pt))
                })
                .collect();
            Some(MediaEndpoint {
                address: SocketAddr::new(address, section.port),
                formats,
            })
        })
        .collect()
}

fn connection_address(connection: &str) -> Option<IpAddr> {
    let mut fields = connection.split_ascii_whitespace();
    let _network = fields.next()?;
    let _family = fields.next()?;
    // A multicast address may carry a TTL and count after a slash.
    fields.next()?.split('/').next()?.parse().ok()
}

fn rtpmap_format(rtpmap: &str) -> Option<(u8, String, u32)> {
    let (payload_type, encoding) = rtpmap.split_once(' ')?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?.to_string();
    let clock_rate = parts.next()?.parse().ok()?;
    Some((payload_type.parse().ok()?, name, clock_rate))
}

/// The static payload types of RFC 3551 §6 that SIP audio uses.
pub(crate) fn static_format(payload_type: u8) -> Option<(u8, String, u32)> {
    let (name, clock_rate) = match payload_type {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    };
    Some((payload_type, name.to_string(), clock_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_level_connection_overrides_the_session_one() {
        let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
                    m=audio 5000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n\
                    m=video 0 RTP/AVP 96\r\n";
        let endpoints = media_endpoints(body);
        assert_eq!(endpoints.len(), 2, "{endpoints:?}");
        assert_eq!(endpoints[0].address, "10.0.0.1:4000".parse().unwrap());
        assert_eq!(
            endpoints[0].formats,
            vec![
                (8, "PCMA".to_string(), 8000),
                (101, "telephone-event".to_string(), 8000)
            ]
        );
        assert_eq!(endpoints[1].address, "10.0.0.2:5000".parse().unwrap());
    }

    #[test]
    fn text_that_is_not_sdp_has_no_endpoint() {
        assert!(media_endpoints("hello\nm=audio x\nc=IN IP4 nowhere").is_empty());
    }
}
