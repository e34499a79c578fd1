//! The parsed session description: every line kept verbatim, with the fields anchoring
//! needs read out of the session level and each media section.

use std::ops::Range;

use bytes::Bytes;

use super::attributes::{Attribute, MediaDirection, RtcpAttribute, RtpMap};
use super::fields::{Connection, MediaLine, Origin};
use super::lines::{split_lines, RawLine};
use super::SdpError;

/// Larger bodies are refused: a call's SDP is a few hundred bytes to a few KiB.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// More media sections are refused: each one costs the gateway a port pair.
pub const MAX_MEDIA_SECTIONS: usize = 64;

/// What a line means to anchoring, decided once while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    Verbatim,
    Origin,
    Connection(Connection),
    Media,
    Rtcp(RtcpAttribute),
    Ice,
    /// A line that says where media goes but cannot be read: ignored, and left out
    /// of an anchored description.
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub raw: RawLine,
    pub role: Role,
}

/// A session description (RFC 8866) as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    source: Bytes,
    lines: Vec<Line>,
    origin: Option<Origin>,
    connection: Option<Connection>,
    direction: Option<MediaDirection>,
    media: Vec<MediaDescription>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub media: MediaLine,
    /// The first media-level `c=`; `None` when the section inherits the session's.
    pub connection: Option<Connection>,
    /// The section's own direction attribute; see [`SessionDescription::direction_of`].
    pub direction: Option<MediaDirection>,
    pub rtcp: Option<RtcpAttribute>,
    pub rtcp_mux: bool,
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` payload type and parameters, verbatim.
    pub fmtps: Vec<(u8, String)>,
    pub ptime: Option<u32>,
    /// Indices into the description's lines, starting with the `m=` line.
    pub(crate) lines: Range<usize>,
}

impl SessionDescription {
    /// Parses a body. Tolerant of LF line ends, blank lines, unknown line types,
    /// sections without any connection address (planned as unusable, see
    /// [`SessionDescription::media_plan`]) and unknown or unreadable attributes (an unreadable `a=rtcp` is ignored and dropped
    /// by the rewrite); strict about the lines the rewrite must understand to point
    /// media at the gateway (`c=`, `m=`, `o=`), since a misread there would let media
    /// bypass it. Tokens RFC 8866 compares without regard to case (`IN`, `IP4`, media
    /// types, attribute names) are read that way.
    pub fn parse(source: &Bytes) -> Result<SessionDescription, SdpError> {
        if source.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge {
                len: source.len(),
                max: MAX_SDP_LEN,
            });
        }
        let raw_lines = split_lines(source)?;
        let Some(first) = raw_lines.first() else {
            return Err(SdpError::Empty);
        };
        if first.kind != b'v' || value_of(source, first).trim_ascii() != b"0" {
            return Err(SdpError::MissingVersion);
        }
        let mut description = SessionDescription {
            source: source.clone(),
            lines: Vec::with_capacity(raw_lines.len()),
            origin: None,
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        for raw in raw_lines {
            let role = description.read_line(&raw)?;
            description.lines.push(Line { raw, role });
        }
        if let Some(last) = description.media.last_mut() {
            last.lines.end = description.lines.len();
        }
        Ok(description)
    }

    fn read_line(&mut self, raw: &RawLine) -> Result<Role, SdpError> {
        let value = value_of(&self.source, raw);
        let text = || std::str::from_utf8(value).ok();
        let index = self.lines.len();
        let in_media = !self.media.is_empty();
        let role = match raw.kind {
            b'o' if !in_media => {
                let origin = text().and_then(Origin::parse).ok_or(SdpError::line(
                    raw.number,
                    "`o=` is not `<user> <id> <version> IN IP4|IP6 <address>`",
                ))?;
                self.origin.get_or_insert(origin);
                Role::Origin
            }
            b'c' => {
                let connection = text().and_then(Connection::parse).ok_or(SdpError::line(
                    raw.number,
                    "`c=` is not `IN IP4|IP6 <address>`",
                ))?;
                let scope = match self.media.last_mut() {
                    Some(section) => &mut section.connection,
                    None => &mut self.connection,
                };
                scope.get_or_insert(connection.clone());
                Role::Connection(connection)
            }
            b'm' => {
                let media = text().and_then(MediaLine::parse).ok_or(SdpError::line(
                    raw.number,
                    "`m=` is not `<media> <port> <proto> <formats>`",
                ))?;
                self.start_media(media, index)?;
                Role::Media
            }
            b'a' => self.apply(Attribute::parse(value)),
            _ => Role::Verbatim,
        };
        Ok(role)
    }

    fn start_media(&mut self, media: MediaLine, index: usize) -> Result<(), SdpError> {
        if self.media.len() == MAX_MEDIA_SECTIONS {
            return Err(SdpError::TooManyMediaSections {
                max: MAX_MEDIA_SECTIONS,
            });
        }
        if let Some(previous) = self.media.last_mut() {
            previous.lines.end = index;
        }
        self.media.push(MediaDescription {
            media,
            connection: None,
            direction: None,
            rtcp: None,
            rtcp_mux: false,
            rtpmaps: Vec::new(),
            fmtps: Vec::new(),
            ptime: None,
            lines: index..index + 1,
        });
        Ok(())
    }

    fn apply(&mut self, attribute: Attribute) -> Role {
        let Some(section) = self.media.last_mut() else {
            match attribute {
                Attribute::Direction(direction) => self.direction = Some(direction),
                Attribute::Ice => return Role::Ice,
                Attribute::MalformedRtcp => return Role::Unreadable,
                _ => {}
            }
            return Role::Verbatim;
        };
        match attribute {
            Attribute::Direction(direction) => section.direction = Some(direction),
            Attribute::Rtcp(rtcp) => {
                section.rtcp.get_or_insert(rtcp.clone());
                return Role::Rtcp(rtcp);
            }
            Attribute::RtcpMux => section.rtcp_mux = true,
            Attribute::RtpMap(map) => section.rtpmaps.push(map),
            Attribute::Fmtp {
                payload_type,
                parameters,
            } => section.fmtps.push((payload_type, parameters)),
            Attribute::Ptime(ptime) => section.ptime = Some(ptime),
            Attribute::Ice => return Role::Ice,
            Attribute::MalformedRtcp => return Role::Unreadable,
            Attribute::Other => {}
        }
        Role::Verbatim
    }

    /// The body as it was received.
    pub fn source(&self) -> &Bytes {
        &self.source
    }

    /// The first session-level `o=`.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// The session-level `c=`.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<MediaDirection> {
        self.direction
    }

    pub fn media(&self) -> &[MediaDescription] {
        &self.media
    }

    /// The connection a media section uses: its own `c=`, else the session's.
    pub fn connection_of<'a>(&'a self, section: &'a MediaDescription) -> Option<&'a Connection> {
        section.connection.as_ref().or(self.connection.as_ref())
    }

    /// A media section's direction: its own attribute, else the session's, else
    /// `sendrecv` (RFC 3264 §5.1).
    pub fn direction_of(&self, section: &MediaDescription) -> MediaDirection {
        section.direction.or(self.direction).unwrap_or_default()
    }

    pub(crate) fn lines(&self) -> &[Line] {
        &self.lines
    }

    pub(crate) fn value(&self, line: &Line) -> &[u8] {
        value_of(&self.source, &line.raw)
    }
}

fn value_of<'a>(source: &'a [u8], line: &RawLine) -> &'a [u8] {
    source.get(line.value.clone()).unwrap_or_default()
}
