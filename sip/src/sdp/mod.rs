//! Session descriptions (RFC 8866) for media anchoring, sans-IO.
//!
//! [`SessionDescription::parse`] keeps every line verbatim and reads what anchoring
//! needs; [`SessionDescription::media_plan`] says where the author wants each stream;
//! [`SessionDescription::rewrite_for_anchor`] points every anchored stream at the
//! gateway (its documentation lists the rules). Ports are allocated by the caller;
//! nothing here does I/O. [`SdpLocation`] finds the description in a SIP body,
//! including one part of a `multipart` body.

mod attributes;
mod body;
mod codec;
mod description;
mod error;
mod fields;
mod lines;
mod plan;
mod rewrite;
#[cfg(test)]
mod tests;

pub use attributes::{MediaDirection, RtcpAttribute, RtpMap};
pub use body::{splice, SdpLocation};
pub use codec::{static_payload_type, Codec};
pub use description::{MediaDescription, SessionDescription, MAX_MEDIA_SECTIONS, MAX_SDP_LEN};
pub use error::SdpError;
pub use fields::{AddressType, Connection, ConnectionAddress, MediaLine, Origin};
pub use plan::{MediaPlan, MediaStream, RemoteAddress};
pub use rewrite::{Anchor, OriginVersion};
