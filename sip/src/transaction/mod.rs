//! RFC 3261 §17 transaction state machines, with the RFC 6026 `Accepted` state.
//!
//! # Design
//!
//! - **Opaque messages.** A transaction never parses: it holds wire bytes
//!   ([`Bytes`]) and is told the two facts the RFC's machines depend on (is it a
//!   retransmission, which status code). Parsing, key computation and message
//!   construction stay in the proxy core, so the machines can be tested with any
//!   bytes and cannot disagree with the parser about what a message means.
//! - **Sans-IO.** `now` is always an argument; output is pulled with
//!   `poll_transmit`, `poll_timeout` and `poll_event` (the quinn-proto / str0m
//!   style). Tests drive the full 32 s of Timer B in microseconds, and the shell
//!   decides how transactions share threads and sockets.
//! - **One timer slot per kind.** In every state of every machine there is at most
//!   one retransmission timer (A, E or G) and one timer that ends the transaction
//!   (B, D, F, H, I, J, K, L or M). The shared engine keeps exactly those two, so all
//!   four machines share one timeout routine and differ only in their inputs.
//! - **Zero timers are transitions.** On reliable transports Timers D, I, J and K
//!   are zero; the machine moves straight to `Terminated` instead of asking the
//!   shell for a wake-up at `now`.
//! - **The ACK for a non-2xx final is built by the owner.** The ACK copies headers
//!   from the request and the To tag from the response, which needs the parser; so
//!   the INVITE client emits [`TransactionEvent::AckNeeded`] and is given the bytes
//!   through `send_ack`. It keeps them to answer every retransmitted final.
//! - **2xx are end-to-end.** A proxy forwards 2xx retransmissions; the RFC 6026
//!   `Accepted` state keeps both the server and the client transaction alive for
//!   64·T1 after a 2xx so retransmitted INVITEs are absorbed and retransmitted 2xx
//!   are still passed up, instead of being treated as strays.
//! - **Many transactions, one clock.** A proxy holds ~100k transactions; the shell
//!   should not poll them all. [`Deadlines`] is an ordered index of
//!   `poll_timeout()` values so it only wakes the due ones.
//! - **Server transactions wait for their owner.** The RFC gives a server
//!   transaction in Trying/Proceeding no timer: the proxy's client side (Timer B/F,
//!   Timer C) decides when a final response must be produced. The machine does not
//!   guess one, and it does not send `100 Trying` itself, because it cannot build
//!   one without parsing.

mod deadlines;
mod engine;
mod invite_client;
mod invite_server;
mod last_response;
mod non_invite_client;
mod non_invite_server;
mod timers;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod test_support;

use std::time::Instant;

use bytes::Bytes;

pub use deadlines::Deadlines;
pub use invite_client::InviteClientTransaction;
pub use invite_server::InviteServerTransaction;
pub use non_invite_client::NonInviteClientTransaction;
pub use non_invite_server::NonInviteServerTransaction;
pub use timers::{Reliability, Timers};

/// The states of all four machines; each machine uses the subset its RFC figure
/// shows (`Calling` and `Confirmed` are INVITE-only, `Trying` non-INVITE-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionState {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// Something the owner of a transaction must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A client transaction's response to pass to the transaction user. Every
    /// provisional and every 2xx is passed up; a non-2xx final only once.
    Response { code: u16, bytes: Bytes },
    /// An INVITE client transaction received a non-2xx final: build the ACK and
    /// hand it to `send_ack`.
    AckNeeded,
    /// Timer B, F or H fired, or no final response came 64·T1 after a CANCEL.
    Timeout,
    /// The request could not be delivered (a refused connection, an ICMP error):
    /// RFC 3261 §17.1.1.2 and §17.1.2.2 end the client transaction at once and tell
    /// its user, who treats it as a 503 (§8.1.3.1).
    TransportError,
    /// The transaction is over; its owner can forget it.
    Terminated,
}

/// What became of an ACK given to an INVITE server transaction.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckDisposition {
    /// The ACK acknowledged this transaction's non-2xx final (or repeated it).
    Absorbed,
    /// The ACK is not the transaction's business (RFC 6026 §8.6: an ACK in
    /// `Accepted` acknowledges a 2xx, which is end-to-end): forward it.
    ForTransactionUser,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("status code {0} is outside 100..=699")]
    InvalidStatusCode(u16),
    #[error("{action} is not allowed in the {state:?} state")]
    InvalidState {
        action: &'static str,
        state: TransactionState,
    },
    #[error("invalid transaction timers: {0}")]
    InvalidTimers(&'static str),
}

/// The outputs every machine shares, so a shell can drive them alike.
pub trait Transaction {
    /// Fires the timers that are due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Next message for the transaction's peer.
    fn poll_transmit(&mut self) -> Option<Bytes>;
    /// When `handle_timeout` must next be called; `None` when no timer runs.
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<TransactionEvent>;
    fn state(&self) -> TransactionState;
    fn is_terminated(&self) -> bool {
        self.state() == TransactionState::Terminated
    }
}

/// Implements [`Transaction`] for a machine whose `engine` field is an `Engine`.
macro_rules! delegate_to_engine {
    ($machine:ty) => {
        impl $crate::transaction::Transaction for $machine {
            fn handle_timeout(&mut self, now: std::time::Instant) {
                self.engine.handle_timeout(now)
            }
            fn poll_transmit(&mut self) -> Option<bytes::Bytes> {
                self.engine.poll_transmit()
            }
            fn poll_timeout(&self) -> Option<std::time::Instant> {
                self.engine.poll_timeout()
            }
            fn poll_event(&mut self) -> Option<$crate::transaction::TransactionEvent> {
                self.engine.poll_event()
            }
            fn state(&self) -> $crate::transaction::TransactionState {
                self.engine.state()
            }
        }
    };
}
pub(crate) use delegate_to_engine;

/// Validates a status code from outside and classifies it.
fn status_class(code: u16) -> Result<StatusClass, TransactionError> {
    match code {
        100..=199 => Ok(StatusClass::Provisional),
        200..=299 => Ok(StatusClass::Success),
        300..=699 => Ok(StatusClass::Failure),
        _ => Err(TransactionError::InvalidStatusCode(code)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusClass {
    Provisional,
    Success,
    /// 3xx to 6xx: a final that is not a 2xx.
    Failure,
}
