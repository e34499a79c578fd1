//! The proxy's transactions: server ones towards senders, client ones towards next
//! hops, the links between them, and one deadline index for all their timers.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use super::dialog::{DialogId, Leg};
use crate::message::{Message, Method};
use crate::transaction::{
    Deadlines, InviteClientTransaction, InviteServerTransaction, NonInviteClientTransaction,
    NonInviteServerTransaction, Reliability, Timers, Transaction, TransactionEvent,
};
use crate::Peer;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TxKey {
    Server(String),
    Client(String),
    /// Timer C of a forwarded INVITE (the proxy's own timer, not the transaction's).
    TimerC(String),
    /// 64·T1 after a dialog's 2xx was relayed: its ACK must have come by then.
    AckWait(DialogId),
}

pub(crate) enum ServerMachine {
    Invite(InviteServerTransaction),
    NonInvite(NonInviteServerTransaction),
}

pub(crate) struct ServerTx {
    pub machine: ServerMachine,
    pub peer: Peer,
    /// What is needed to answer the request (Via, From, To, Call-ID, CSeq).
    pub request: Message,
    /// The client transaction the request was forwarded on.
    pub client: Option<String>,
    pub dialog: Option<DialogId>,
    /// Which leg of `dialog` sent the request.
    pub from_leg: Option<Leg>,
    /// The request is the INVITE that opened `dialog`.
    pub opens_dialog: bool,
    pub final_sent: bool,
    /// The request carried an SDP offer (so an SDP in the response is an answer).
    pub offer_in_request: bool,
}

pub(crate) enum ClientMachine {
    Invite(InviteClientTransaction),
    NonInvite(NonInviteClientTransaction),
}

pub(crate) struct ClientTx {
    pub machine: ClientMachine,
    pub peer: Peer,
    /// The forwarded request's routing headers, to build CANCEL and ACK from.
    pub forwarded: Message,
    pub method: Method,
    /// The server transaction responses go back on; `None` for a CANCEL the proxy
    /// sends on its own behalf, whose responses stop here.
    pub server: Option<String>,
    pub dialog: Option<DialogId>,
    pub cancel_sent: bool,
}

impl ServerMachine {
    fn as_transaction(&mut self) -> &mut dyn Transaction {
        match self {
            ServerMachine::Invite(tx) => tx,
            ServerMachine::NonInvite(tx) => tx,
        }
    }
}

impl ClientMachine {
    fn as_transaction(&mut self) -> &mut dyn Transaction {
        match self {
            ClientMachine::Invite(tx) => tx,
            ClientMachine::NonInvite(tx) => tx,
        }
    }
}

/// What a transaction asked for after it was driven.
pub(crate) struct Drained {
    pub peer: Peer,
    pub transmits: Vec<Bytes>,
    pub events: Vec<TransactionEvent>,
    /// For a client transaction: what its events are about, kept even when the
    /// transaction has just terminated and been forgotten.
    pub client: Option<ClientSummary>,
}

/// What the proxy needs to act on a client transaction's events, kept even when the
/// transaction ended with them (on TCP a final response ends it at once).
#[derive(Debug, Clone)]
pub(crate) struct ClientSummary {
    pub method: Method,
    pub server: Option<String>,
    pub dialog: Option<DialogId>,
    pub cancel_sent: bool,
}

pub(crate) struct Transactions {
    pub servers: HashMap<String, ServerTx>,
    pub clients: HashMap<String, ClientTx>,
    deadlines: Deadlines<TxKey>,
    timers: Timers,
}

impl Transactions {
    pub(crate) fn new(timers: Timers) -> Transactions {
        Transactions {
            servers: HashMap::new(),
            clients: HashMap::new(),
            deadlines: Deadlines::new(),
            timers,
        }
    }

    pub(crate) fn timers(&self) -> Timers {
        self.timers
    }

    pub(crate) fn reliability(peer: &Peer) -> Reliability {
        if peer.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next_deadline()
    }

    pub(crate) fn schedule_timer_c(&mut self, invite_client: String, at: Instant) {
        self.deadlines
            .schedule(TxKey::TimerC(invite_client), Some(at));
    }

    /// Sets or clears when a dialog's ACK is due.
    pub(crate) fn schedule_ack_wait(&mut self, dialog: DialogId, at: Option<Instant>) {
        self.deadlines.schedule(TxKey::AckWait(dialog), at);
    }

    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TxKey> {
        self.deadlines.pop_due(now)
    }

    /// Fires a due timer of `key`, if it still exists.
    pub(crate) fn fire(&mut self, now: Instant, key: &TxKey) -> Option<Drained> {
        match key {
            TxKey::Server(k) => self
                .servers
                .get_mut(k)?
                .machine
                .as_transaction()
                .handle_timeout(now),
            TxKey::Client(k) => self
                .clients
                .get_mut(k)?
                .machine
                .as_transaction()
                .handle_timeout(now),
            TxKey::TimerC(_) | TxKey::AckWait(_) => return None,
        }
        self.drain(key)
    }

    /// The client transactions whose next hop is `peer`: same transport and address,
    /// whatever stream connection carried them.
    pub(crate) fn clients_towards(&self, peer: &Peer) -> Vec<TxKey> {
        let mut keys: Vec<TxKey> = self
            .clients
            .iter()
            .filter(|(_, tx)| tx.peer.transport == peer.transport && tx.peer.addr == peer.addr)
            .map(|(key, _)| TxKey::Client(key.clone()))
            .collect();
        // INVITEs before their CANCELs, so a failed INVITE answers its caller first.
        keys.sort_by_key(|key| matches!(key, TxKey::Client(k) if k.ends_with("|CANCEL")));
        keys
    }

    /// Ends a client transaction on a transport error; what it reports comes back.
    pub(crate) fn fail_transport(&mut self, key: &TxKey) -> Option<Drained> {
        let TxKey::Client(k) = key else {
            return None;
        };
        match &mut self.clients.get_mut(k)?.machine {
            ClientMachine::Invite(tx) => tx.handle_transport_error(),
            ClientMachine::NonInvite(tx) => tx.handle_transport_error(),
        }
        self.drain(key)
    }

    /// Collects what a transaction wants sent and reported, re-indexes its deadline,
    /// and forgets it once terminated.
    pub(crate) fn drain(&mut self, key: &TxKey) -> Option<Drained> {
        let (peer, machine, client): (Peer, &mut dyn Transaction, _) = match key {
            TxKey::Server(k) => {
                let tx = self.servers.get_mut(k)?;
                (tx.peer, tx.machine.as_transaction(), None)
            }
            TxKey::Client(k) => {
                let tx = self.clients.get_mut(k)?;
                let summary = ClientSummary {
                    method: tx.method.clone(),
                    server: tx.server.clone(),
                    dialog: tx.dialog,
                    cancel_sent: tx.cancel_sent,
                };
                (tx.peer, tx.machine.as_transaction(), Some(summary))
            }
            TxKey::TimerC(_) | TxKey::AckWait(_) => return None,
        };
        let mut drained = Drained {
            peer,
            transmits: Vec::new(),
            events: Vec::new(),
            client,
        };
        while let Some(bytes) = machine.poll_transmit() {
            drained.transmits.push(bytes);
        }
        while let Some(event) = machine.poll_event() {
            drained.events.push(event);
        }
        let deadline = machine.poll_timeout();
        let terminated = machine.is_terminated();
        if terminated {
            self.deadlines.remove(key);
            match key {
                TxKey::Server(k) => {
                    self.servers.remove(k);
                }
                TxKey::Client(k) => {
                    self.clients.remove(k);
                }
                TxKey::TimerC(_) | TxKey::AckWait(_) => {}
            }
        } else {
            self.deadlines.schedule(key.clone(), deadline);
        }
        Some(drained)
    }
}
