//! What both server transactions answer a retransmitted request with.

use bytes::Bytes;

use super::engine::Engine;
use super::TransactionState::{Completed, Proceeding};

/// The last response sent, kept because the peer that retransmits its request
/// has not seen it (RFC 3261 §17.2.1, §17.2.2).
#[derive(Debug, Default)]
pub(crate) struct LastResponse(Option<Bytes>);

impl LastResponse {
    pub(crate) fn send(&mut self, engine: &mut Engine, bytes: Bytes) {
        engine.transmit(bytes.clone());
        self.0 = Some(bytes);
    }

    /// Only Proceeding and Completed answer: before a response there is nothing
    /// to repeat, and after the ACK or a 2xx repeats would be noise.
    pub(crate) fn resend(&self, engine: &mut Engine) {
        if let (Some(bytes), Proceeding | Completed) = (&self.0, engine.state()) {
            engine.transmit(bytes.clone());
        }
    }
}
