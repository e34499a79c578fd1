//! Dialogs the proxy has record-routed: which tenant they belong to and where each
//! leg is, so in-dialog requests are relayed only between a call's own two legs
//! (never as an open relay) and over the transport each leg uses.
//!
//! A leg is the address and transport the gateway exchanged the dialog's messages
//! with: the caller leg is where the INVITE came from, the callee leg where it was
//! sent (and where the answers came from). A request's tags must name the leg its
//! source is; tags alone prove nothing, since anyone who saw them can copy them.

use std::collections::HashMap;

use crate::{Peer, Transport};

/// An opaque dialog handle for the application (never the Call-ID, which can carry
/// addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId(pub u64);

/// The two sides of a call, named from the initial INVITE: the one `Leg` of
/// `greffier-types`.
pub use greffier_types::Leg;
use greffier_types::PerLeg;

/// Provisional responses may carry To tags of several early dialogs (a forking
/// next hop); beyond this many, later tags are not learned.
const MAX_EARLY_TAGS: usize = 8;
/// Addresses the callee leg may answer from besides the next hop itself.
const MAX_CALLEE_SOURCES: usize = 4;

#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    pub id: DialogId,
    pub caller_tag: String,
    /// The callee's tag, once a 2xx confirmed the dialog.
    pub callee_tag: Option<String>,
    /// To tags of the responses the proxy relayed to the caller before the answer:
    /// the only ones an early in-dialog request may carry (RFC 3261 §12.1).
    pub early_tags: Vec<String>,
    /// The caller leg: where the INVITE came from.
    pub caller: Peer,
    /// The callee leg: the next hop the INVITE was sent to.
    pub callee: Peer,
    /// Where the callee leg's responses came from, when not the next hop itself.
    pub callee_sources: Vec<Peer>,
    pub confirmed: bool,
    /// A 2xx to the INVITE was relayed and its ACK has not come yet.
    pub awaiting_ack: bool,
    /// What the proxy needs to end the call itself (RFC 3261 §12.2.1.1).
    pub ends: DialogEnds,
}

/// Each side of a dialog as the other side addresses it.
#[derive(Debug, Clone, Default)]
pub(crate) struct DialogEnds {
    pub call_id: String,
    pub sides: PerLeg<DialogEnd>,
}

/// One side of a dialog.
#[derive(Debug, Clone, Default)]
pub(crate) struct DialogEnd {
    /// From of the INVITE for the caller (its tag), To of the 2xx for the callee.
    pub uri: String,
    /// Remote target (Contact URI), learned when the dialog was set up and never
    /// changed by a later message: it is only written into Request-URIs.
    pub target: Option<String>,
    /// Route set from the proxy towards this side, from the 2xx Record-Route.
    pub route: Vec<String>,
    /// Highest CSeq this side has used.
    pub cseq: u32,
}

/// Whether a message from `source` comes from the leg learned as `leg`: same
/// transport and address. Over TCP the port is the peer's own choice for every
/// connection it opens, so the host decides; over UDP the port is part of it.
pub(crate) fn same_endpoint(leg: &Peer, source: &Peer) -> bool {
    leg.transport == source.transport
        && leg.addr.ip() == source.addr.ip()
        && (leg.transport == Transport::Tcp || leg.addr.port() == source.addr.port())
}

/// Where an in-dialog request claims to come from, read from its tags.
pub(crate) struct TaggedDialog<'a> {
    pub dialog: &'a Dialog,
    /// The leg whose tag is the request's From tag.
    pub leg: Leg,
    /// Whether the request's source is that leg.
    pub from_that_leg: bool,
}

impl Dialog {
    /// Notes the CSeq of an in-dialog request from `leg`.
    pub(crate) fn saw_cseq(&mut self, leg: Leg, cseq: u32) {
        let highest = &mut self.ends.sides[leg].cseq;
        *highest = (*highest).max(cseq);
    }

    /// Where requests for `leg` go: the address learned for it, never one a
    /// message names.
    pub(crate) fn peer(&self, leg: Leg) -> Peer {
        match leg {
            Leg::Caller => self.caller,
            Leg::Callee => self.callee,
        }
    }

    /// Whether `source` is `leg` of this dialog.
    pub(crate) fn is_leg(&self, leg: Leg, source: &Peer) -> bool {
        match leg {
            Leg::Caller => same_endpoint(&self.caller, source),
            Leg::Callee => {
                same_endpoint(&self.callee, source)
                    || self
                        .callee_sources
                        .iter()
                        .any(|known| same_endpoint(known, source))
            }
        }
    }

    /// A response relayed to the caller came from `source` with the callee's To
    /// tag `tag`: requests may now carry that tag, and come from that source.
    pub(crate) fn learn_callee(&mut self, source: Peer, tag: Option<&str>) {
        if let Some(tag) = tag {
            if self.early_tags.len() < MAX_EARLY_TAGS && !self.early_tags.iter().any(|t| t == tag) {
                self.early_tags.push(tag.to_string());
            }
        }
        if !self.is_leg(Leg::Callee, &source) && self.callee_sources.len() < MAX_CALLEE_SOURCES {
            self.callee_sources.push(source);
        }
    }

    /// Whether a request from `leg` came over another connection of the same host
    /// (TCP): later requests to it should take that one, which is open.
    pub(crate) fn moved_connection(&self, leg: Leg, source: &Peer) -> bool {
        leg == Leg::Caller
            && source.transport == Transport::Tcp
            && source.connection != self.caller.connection
    }

    fn is_callee_tag(&self, tag: &str) -> bool {
        match &self.callee_tag {
            Some(own) => own == tag,
            None => self.early_tags.iter().any(|early| early == tag),
        }
    }

    /// The leg a request's tags name as its sender, if they are this dialog's.
    fn tagged_sender(&self, from_tag: &str, to_tag: &str) -> Option<Leg> {
        if from_tag == self.caller_tag && self.is_callee_tag(to_tag) {
            Some(Leg::Caller)
        } else if to_tag == self.caller_tag && self.is_callee_tag(from_tag) {
            Some(Leg::Callee)
        } else {
            None
        }
    }
}

/// Dialogs by Call-ID and tags (RFC 3261 §12): a Call-ID used again with another
/// From tag is another dialog, kept beside the first.
#[derive(Default)]
pub(crate) struct Dialogs {
    /// Nearly always one dialog per Call-ID; the list is scanned by tags.
    by_call_id: HashMap<String, Vec<Dialog>>,
    ids: HashMap<DialogId, String>,
    next_id: u64,
}

impl Dialogs {
    pub(crate) fn next_id(&mut self) -> DialogId {
        self.next_id += 1;
        DialogId(self.next_id)
    }

    /// Adds a dialog; the caller checks first that none has its Call-ID and
    /// caller tag ([`Dialogs::opened_by`]).
    pub(crate) fn insert(&mut self, dialog: Dialog) {
        self.ids.insert(dialog.id, dialog.ends.call_id.clone());
        self.by_call_id
            .entry(dialog.ends.call_id.clone())
            .or_default()
            .push(dialog);
    }

    /// The dialog an INVITE with this Call-ID and From tag opened, if it is still
    /// going.
    pub(crate) fn opened_by(&self, call_id: &str, caller_tag: &str) -> Option<&Dialog> {
        self.by_call_id
            .get(call_id)?
            .iter()
            .find(|dialog| dialog.caller_tag == caller_tag)
    }

    /// The dialog an in-dialog request's Call-ID and tags name, and which leg they
    /// say sent it. When a reused Call-ID makes several match, the one `source`
    /// is a leg of wins.
    pub(crate) fn find_tagged(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        source: &Peer,
    ) -> Option<TaggedDialog<'_>> {
        let mut found = None;
        for dialog in self.by_call_id.get(call_id)? {
            if let Some(leg) = dialog.tagged_sender(from_tag, to_tag) {
                let from_that_leg = dialog.is_leg(leg, source);
                let tagged = TaggedDialog {
                    dialog,
                    leg,
                    from_that_leg,
                };
                if from_that_leg {
                    return Some(tagged);
                }
                found.get_or_insert(tagged);
            }
        }
        found
    }

    pub(crate) fn get(&self, id: DialogId) -> Option<&Dialog> {
        let call_id = self.ids.get(&id)?;
        self.by_call_id
            .get(call_id)?
            .iter()
            .find(|dialog| dialog.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: DialogId) -> Option<&mut Dialog> {
        let call_id = self.ids.get(&id)?;
        self.by_call_id
            .get_mut(call_id)?
            .iter_mut()
            .find(|dialog| dialog.id == id)
    }

    pub(crate) fn remove(&mut self, id: DialogId) -> Option<Dialog> {
        let call_id = self.ids.remove(&id)?;
        let same_call_id = self.by_call_id.get_mut(&call_id)?;
        let at = same_call_id.iter().position(|dialog| dialog.id == id)?;
        let dialog = same_call_id.swap_remove(at);
        if same_call_id.is_empty() {
            self.by_call_id.remove(&call_id);
        }
        Some(dialog)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}
