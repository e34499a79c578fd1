//! E.164 telephone numbers: the one rule, the one normalisation of what a SIP
//! user part or a file gives, printed only through the one mask.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mask::mask_number;

/// Fewest digits after `+`: shorter values are extensions or service codes,
/// not numbers a data subject is known by.
pub const MIN_DIGITS: usize = 8;
/// Most digits after `+` (ITU-T E.164 §6).
pub const MAX_DIGITS: usize = 15;

/// Why a value is not an E.164 number. The text never quotes the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{masked} is not an E.164 number: it must start with `+`")]
    MissingPlus { masked: String },
    #[error("{masked} is not an E.164 number: only digits may follow `+`")]
    NotDigits { masked: String },
    #[error("{masked} is not an E.164 number: it has {digits} digits, expected 8 to 15")]
    Length { masked: String, digits: usize },
    #[error("{masked} is not an E.164 number: a country code never starts with 0")]
    LeadingZero { masked: String },
}

/// A telephone number in canonical E.164 form: `+`, then 8 to 15 digits, the
/// first not 0. `Debug` and `Display` mask it (`+336…78`); [`E164::expose`]
/// gives it in clear, for blind indexes, routing and encrypted payloads.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// Accepts only the canonical form, as a configuration file or a command
    /// line must give it.
    pub fn new(value: &str) -> Result<Self, NumberError> {
        let masked = || mask_number(value);
        let Some(digits) = value.strip_prefix('+') else {
            return Err(NumberError::MissingPlus { masked: masked() });
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::NotDigits { masked: masked() });
        }
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            return Err(NumberError::Length {
                masked: masked(),
                digits: digits.len(),
            });
        }
        if digits.starts_with('0') {
            return Err(NumberError::LeadingZero { masked: masked() });
        }
        Ok(E164(value.to_owned()))
    }

    /// The number a SIP user part (or any party as signalled) stands for,
    /// when it can be one: the canonical form as is, or the same digits
    /// without their `+` (some carriers drop it). National formats, visual
    /// separators and names are not numbers.
    pub fn normalise(user_part: &str) -> Option<Self> {
        let digits = user_part.strip_prefix('+').unwrap_or(user_part);
        if digits.starts_with('+') {
            return None;
        }
        E164::new(&format!("+{digits}")).ok()
    }

    /// The number in clear. Every call is a place where it leaves the type's
    /// protection: blind indexes, routing, encrypted payloads.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The number as logs and errors may show it (`+336…78`).
    pub fn masked(&self) -> String {
        mask_number(&self.0)
    }
}

impl std::str::FromStr for E164 {
    type Err = NumberError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        E164::new(value)
    }
}

impl TryFrom<String> for E164 {
    type Error = NumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        E164::new(&value)
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
    use proptest::prelude::*;

    #[test]
    fn the_rule_as_a_table() {
        for (value, accepted) in [
            ("+33123456789", true),
            ("+12345678", true),
            ("+123456789012345", true),
            ("+1234567", false),
            ("+1234567890123456", false),
            ("+0612345678", false),
            ("33123456789", false),
            ("+33 1 23 45 67 89", false),
            ("+33-1-23-45-67", false),
            ("++33123456789", false),
            ("+", false),
            ("", false),
            ("+３３１２３４５６７８９", false),
        ] {
            assert_eq!(E164::new(value).is_ok(), accepted, "{value:?}");
        }
    }

    #[test]
    fn errors_never_quote_the_number() {
        for bad in [
            "33123456789",
            "+33 1 23 45 67 89",
            "+1234567",
            "+1234567890123456",
            "+0123456789",
        ] {
            let text = E164::new(bad).expect_err(bad).to_string();
            assert!(!text.contains("23456"), "{text}");
        }
    }

    #[test]
    fn normalises_user_parts() {
        for (user_part, number) in [
            ("+33123456789", Some("+33123456789")),
            ("33123456789", Some("+33123456789")),
            ("0123456789", None),
            ("alice", None),
            ("+33-1-23", None),
            ("1234", None),
            ("++33123456789", None),
            ("", None),
        ] {
            assert_eq!(
                E164::normalise(user_part).as_ref().map(E164::expose),
                number,
                "{user_part:?}"
            );
        }
    }

    #[test]
    fn printing_masks_the_number() {
        let number = E164::new("+33612345678").unwrap();
        assert_eq!(number.to_string(), "+336…78");
        assert_eq!(format!("{number:?}"), "E164(+336…78)");
        assert_eq!(number.expose(), "+33612345678");
    }

    #[test]
    fn serde_takes_only_canonical_numbers() {
        assert!(serde_json::from_str::<E164>("\"+0612\"").is_err());
        assert!(serde_json::from_str::<E164>("\"0612345678\"").is_err());
        let number: E164 = serde_json::from_str("\"+33612345678\"").unwrap();
        assert_eq!(number.expose(), "+33612345678");
        assert_eq!(serde_json::to_string(&number).unwrap(), "\"+33612345678\"");
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent_and_agrees_with_new(text in "\\+?[0-9]{0,17}") {
            match E164::normalise(&text) {
                Some(number) => {
                    prop_assert_eq!(E164::new(number.expose()), Ok(number.clone()));
                    prop_assert_eq!(E164::normalise(number.expose()), Some(number.clone()));
                    prop_assert!(number.expose().ends_with(text.trim_start_matches('+')));
                }
                None => {
                    let with_plus = format!("+{}", text.trim_start_matches('+'));
                    prop_assert!(E164::new(&with_plus).is_err());
                }
            }
        }

        #[test]
        fn any_text_is_refused_or_accepted_without_panicking(text in "\\PC{0,20}") {
            if let Ok(number) = E164::new(&text) {
                prop_assert_eq!(number.expose(), text.as_str());
            }
        }
    }
}
