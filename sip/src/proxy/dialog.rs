//! Dialogs the proxy has record-routed: which tenant they belong to and where each
//! leg is, so in-dialog requests are relayed only for calls the gateway carries
//! (never as an open relay) and over the transport each leg uses.

use std::collections::HashMap;

use crate::Peer;

/// An opaque dialog handle for the application (never the Call-ID, which can carry
/// addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId(pub u64);

/// The two sides of a call, named from the initial INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    Caller,
    Callee,
}

impl Leg {
    pub fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Callee,
            Leg::Callee => Leg::Caller,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    pub id: DialogId,
    pub caller_tag: String,
    pub callee_tag: Option<String>,
    pub caller: Peer,
    pub callee: Peer,
    pub confirmed: bool,
    /// What the proxy needs to end the call itself (RFC 3261 §12.2.1.1).
    pub ends: DialogEnds,
}

/// Each side of a dialog as the other side addresses it.
#[derive(Debug, Clone, Default)]
pub(crate) struct DialogEnds {
    pub call_id: String,
    /// From of the INVITE (caller's tag) and To of the 2xx (callee's tag).
    pub caller_uri: String,
    pub callee_uri: String,
    /// Remote targets (Contact URIs).
    pub caller_target: Option<String>,
    pub callee_target: Option<String>,
    /// Route sets from the proxy towards each side, from the 2xx Record-Route.
    pub route_to_caller: Vec<String>,
    pub route_to_callee: Vec<String>,
    /// Highest CSeq each side has used.
    pub caller_cseq: u32,
    pub callee_cseq: u32,
}

impl Dialog {
    /// Which leg sent an in-dialog request, from its From tag.
    pub(crate) fn sender_of(&self, from_tag: &str) -> Leg {
        if from_tag == self.caller_tag {
            Leg::Caller
        } else {
            Leg::Callee
        }
    }

    /// Notes the CSeq of an in-dialog request from `leg`.
    pub(crate) fn saw_cseq(&mut self, leg: Leg, cseq: u32) {
        let highest = match leg {
            Leg::Caller => &mut self.ends.caller_cseq,
            Leg::Callee => &mut self.ends.callee_cseq,
        };
        *highest = (*highest).max(cseq);
    }

    pub(crate) fn peer(&self, leg: Leg) -> Peer {
        match leg {
            Leg::Caller => self.caller,
            Leg::Callee => self.callee,
        }
    }

    /// Whether the tags of a request belong to this dialog.
    fn matches(&self, from_tag: &str, to_tag: Option<&str>) -> bool {
        let callee_ok = |tag: &str| self.callee_tag.as_deref().is_none_or(|own| own == tag);
        match to_tag {
            Some(to) => {
                (from_tag == self.caller_tag && callee_ok(to))
                    || (to == self.caller_tag && callee_ok(from_tag))
            }
            None => from_tag == self.caller_tag,
        }
    }
}

/// Dialogs by Call-ID (the proxy does not fork, so one dialog per Call-ID).
#[derive(Default)]
pub(crate) struct Dialogs {
    by_call_id: HashMap<String, Dialog>,
    ids: HashMap<DialogId, String>,
    next_id: u64,
}

impl Dialogs {
    pub(crate) fn next_id(&mut self) -> DialogId {
        self.next_id += 1;
        DialogId(self.next_id)
    }

    pub(crate) fn insert(&mut self, call_id: &str, dialog: Dialog) {
        self.ids.insert(dialog.id, call_id.to_string());
        if let Some(old) = self.by_call_id.insert(call_id.to_string(), dialog) {
            self.ids.remove(&old.id);
        }
    }

    pub(crate) fn find(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: Option<&str>,
    ) -> Option<&Dialog> {
        self.by_call_id
            .get(call_id)
            .filter(|dialog| dialog.matches(from_tag, to_tag))
    }

    pub(crate) fn get_mut(&mut self, id: DialogId) -> Option<&mut Dialog> {
        let call_id = self.ids.get(&id)?;
        self.by_call_id.get_mut(call_id)
    }

    pub(crate) fn remove(&mut self, id: DialogId) -> Option<Dialog> {
        let call_id = self.ids.remove(&id)?;
        self.by_call_id.remove(&call_id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_call_id.len()
    }
}
