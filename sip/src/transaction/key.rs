//! RFC 3261 §17.1.3 and §17.2.3 matching keys.

/// RFC 3261 §8.1.1.7: branches that start with it were built to be unique.
const MAGIC_COOKIE: &str = "z9hG4bK";

/// Identifies a transaction: the top Via's branch and sent-by, and the method,
/// where an ACK maps to the INVITE it acknowledges and a CANCEL keeps its own
/// transaction. The proxy builds one from a parsed message; responses are
/// matched with the Via the proxy itself inserted, so the same key type serves
/// client and server transactions.
///
/// Only RFC 3261 branches are accepted: RFC 2543 matching (by Request-URI,
/// tags, Call-ID…) would need the parsed message, and peers that old are not
/// supported.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionKey {
    branch: String,
    sent_by: String,
    method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the Via branch does not start with the RFC 3261 magic cookie z9hG4bK")]
    NotRfc3261Branch,
    #[error("the Via sent-by is empty")]
    EmptySentBy,
    #[error("the method is empty")]
    EmptyMethod,
}

impl TransactionKey {
    /// `sent_by` is host[:port] as it appears in the Via; the host is compared
    /// case-insensitively, the branch and method exactly (RFC 3261 §7.1, §17.2.3).
    pub fn new(branch: &str, sent_by: &str, method: &str) -> Result<TransactionKey, KeyError> {
        if !branch.starts_with(MAGIC_COOKIE) {
            return Err(KeyError::NotRfc3261Branch);
        }
        if sent_by.is_empty() {
            return Err(KeyError::EmptySentBy);
        }
        let method = match method {
            "" => return Err(KeyError::EmptyMethod),
            "ACK" => "INVITE",
            other => other,
        };
        Ok(TransactionKey {
            branch: branch.to_owned(),
            sent_by: sent_by.to_ascii_lowercase(),
            method: method.to_owned(),
        })
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    pub fn sent_by(&self) -> &str {
        &self.sent_by
    }

    /// The transaction's method: `INVITE` for an ACK's key.
    pub fn method(&self) -> &str {
        &self.method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRANCH: &str = "z9hG4bK74bf9";

    fn key(branch: &str, sent_by: &str, method: &str) -> TransactionKey {
        TransactionKey::new(branch, sent_by, method).unwrap()
    }

    #[test]
    fn ack_matches_the_invite_it_acknowledges() {
        assert_eq!(
            key(BRANCH, "pc33.example.com", "ACK"),
            key(BRANCH, "pc33.example.com", "INVITE")
        );
        assert_eq!(key(BRANCH, "pc33.example.com", "ACK").method(), "INVITE");
    }

    #[test]
    fn cancel_is_its_own_transaction() {
        assert_ne!(
            key(BRANCH, "pc33.example.com", "CANCEL"),
            key(BRANCH, "pc33.example.com", "INVITE")
        );
    }

    #[test]
    fn branch_sent_by_and_method_all_distinguish_keys() {
        let base = key(BRANCH, "192.0.2.4:5060", "BYE");
        assert_ne!(base, key("z9hG4bK74bfa", "192.0.2.4:5060", "BYE"));
        assert_ne!(base, key(BRANCH, "192.0.2.5:5060", "BYE"));
        assert_ne!(base, key(BRANCH, "192.0.2.4:5060", "OPTIONS"));
        assert_ne!(
            base,
            key("z9hG4bK74BF9", "192.0.2.4:5060", "BYE"),
            "branches compare exactly"
        );
    }

    #[test]
    fn sent_by_host_is_case_insensitive_but_method_is_not() {
        assert_eq!(
            key(BRANCH, "PC33.Example.COM", "BYE"),
            key(BRANCH, "pc33.example.com", "BYE")
        );
        assert_ne!(
            key(BRANCH, "pc33.example.com", "bye"),
            key(BRANCH, "pc33.example.com", "BYE")
        );
    }

    #[test]
    fn rejects_what_cannot_be_matched() {
        assert_eq!(
            TransactionKey::new("74bf9", "h", "BYE"),
            Err(KeyError::NotRfc3261Branch)
        );
        assert_eq!(
            TransactionKey::new("", "h", "BYE"),
            Err(KeyError::NotRfc3261Branch)
        );
        assert_eq!(
            TransactionKey::new(BRANCH, "", "BYE"),
            Err(KeyError::EmptySentBy)
        );
        assert_eq!(
            TransactionKey::new(BRANCH, "h", ""),
            Err(KeyError::EmptyMethod)
        );
    }
}
