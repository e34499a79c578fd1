//! greffier-sip: SIP transports, transactions, the stateful proxy core and SDP rewriting.
//!
//! The protocol logic (parsing, transactions, proxy) is sans-IO: fed with bytes and
//! `now`, it returns what to transmit, when to wake it and what happened. The
//! `transport` module is the thin tokio shell around it.

pub mod message;
pub mod proxy;
pub mod sdp;
pub mod transaction;

mod peer;
pub use peer::{ConnectionId, Peer, Transport};
pub mod transport;
