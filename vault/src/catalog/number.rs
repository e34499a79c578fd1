//! Phone numbers as they may appear: inside encrypted payloads only, and
//! masked whenever printed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::blind_index::is_canonical_e164;
use crate::error::VaultError;

/// A canonical E.164 number (`+` and 1 to 15 digits, no leading zero).
/// `Debug` and `Display` mask all but the country prefix and the last two
/// digits, so a number never reaches a log in clear.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    pub fn new(number: &str) -> Result<Self, VaultError> {
        if is_canonical_e164(number) {
            Ok(E164(number.to_owned()))
        } else {
            Err(VaultError::InvalidE164)
        }
    }

    /// The number in clear, for blind indexes and encrypted payloads.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        let digits = self.0.trim_start_matches('+');
        let shown_head = digits.len().saturating_sub(2).min(2);
        let head = digits.get(..shown_head).unwrap_or_default();
        let tail = digits
            .get(digits.len().saturating_sub(2)..)
            .unwrap_or_default();
        let hidden = digits.len() - head.len() - tail.len();
        format!("+{head}{}{tail}", "*".repeat(hidden))
    }
}

impl TryFrom<String> for E164 {
    type Error = VaultError;
    fn try_from(number: String) -> Result<Self, Self::Error> {
        E164::new(&number)
    }
}

impl From<E164> for String {
    fn from(number: E164) -> String {
        number.0
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.masked())
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_masks_the_number() {
        let number = E164::new("+33612345678").unwrap();
        assert_eq!(number.to_string(), "+33*******78");
        assert!(!format!("{number:?}").contains("1234"));
        assert_eq!(E164::new("+1").unwrap().to_string(), "+1");
        assert_eq!(E164::new("+123").unwrap().to_string(), "+123");
    }

    #[test]
    fn only_canonical_numbers_are_accepted() {
        assert!(E164::new("0612345678").is_err());
        assert!(serde_json::from_str::<E164>("\"+0612\"").is_err());
        let number: E164 = serde_json::from_str("\"+33612345678\"").unwrap();
        assert_eq!(number.expose(), "+33612345678");
    }
}
