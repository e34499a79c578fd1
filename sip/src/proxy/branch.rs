//! Via branches of forwarded requests.
//!
//! The branch is a keyed hash of what identifies the request at this hop (RFC 3261
//! §16.6 step 8): the upstream branch, Request-URI, Call-ID, tags and CSeq number.
//! That makes it unique per transaction, equal for a CANCEL and the INVITE it
//! cancels, stable for retransmitted ACKs, and lets the proxy recognise its own
//! request coming back unchanged (a loop, §16.3 step 4) while a spiral, whose
//! Request-URI changed, hashes differently.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";
const MARKER: &str = "grf";

/// What the branch hash is computed over.
#[derive(Hash)]
pub(crate) struct BranchInputs<'a> {
    pub upstream_branch: &'a str,
    pub request_uri: &'a str,
    pub call_id: &'a str,
    pub from_tag: &'a str,
    pub to_tag: &'a str,
    pub cseq: u32,
}

pub(crate) struct BranchMaker {
    key: RandomState,
}

impl BranchMaker {
    pub(crate) fn new() -> BranchMaker {
        BranchMaker {
            key: RandomState::new(),
        }
    }

    pub(crate) fn make(&self, inputs: &BranchInputs<'_>) -> String {
        format!("{MAGIC_COOKIE}{MARKER}{:016x}", self.key.hash_one(inputs))
    }

    /// The To tag of a response sent without a transaction: the same for every
    /// retransmission of the request (keyed by its server transaction key), as a
    /// stateless UAS must give (RFC 3261 §8.2.6.2, §16.11).
    pub(crate) fn stateless_tag(&self, server_key: &str) -> String {
        format!("{MARKER}{:016x}", self.key.hash_one(("to-tag", server_key)))
    }

    /// Whether `branch` is one this proxy would give the request described by `inputs`.
    pub(crate) fn is_ours_for(&self, branch: &str, inputs: &BranchInputs<'_>) -> bool {
        branch == self.make(inputs)
    }
}

/// Whether a branch carries the RFC 3261 magic cookie (and so is unique per transaction).
pub(crate) fn is_rfc3261(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(request_uri: &str) -> BranchInputs<'_> {
        BranchInputs {
            upstream_branch: "z9hG4bKabc",
            request_uri,
            call_id: "c1",
            from_tag: "f",
            to_tag: "",
            cseq: 1,
        }
    }

    #[test]
    fn same_request_same_branch_and_spiral_differs() {
        let maker = BranchMaker::new();
        let first = maker.make(&inputs("sip:a@127.0.0.1"));
        assert!(first.starts_with(MAGIC_COOKIE));
        assert!(maker.is_ours_for(&first, &inputs("sip:a@127.0.0.1")));
        assert!(!maker.is_ours_for(&first, &inputs("sip:b@127.0.0.1")));
    }

    #[test]
    fn cookie_check() {
        assert!(is_rfc3261("z9hG4bK1"));
        assert!(!is_rfc3261("z9hG4bK"));
        assert!(!is_rfc3261("1234"));
    }
}
