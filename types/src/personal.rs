//! Personal data that crosses a crate boundary (a number, a URI, a Call-ID)
//! travels as [`Personal`], so that printing it in a log line, an error or a
//! `{:?}` of an event never shows it in clear.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use crate::mask::mask_number;
use crate::number::E164;

/// How a kind of personal data is shown when it must not be shown.
pub trait Redact {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Numbers are shown by the one mask (`+336…78`).
impl Redact for E164 {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Free text (a SIP user part, a URI, a Call-ID): a number, as signalled,
/// gets the one mask; anything else a short keyed hash (`#1f0e33a2`), the same
/// for the same text within one process, so log lines of one call can be
/// followed, but not looked up or compared across processes.
impl Redact for String {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_str().fmt_redacted(f)
    }
}

impl Redact for str {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if E164::normalise(self).is_some() {
            f.write_str(&mask_number(self))
        } else {
            write!(f, "#{:08x}", keyed_hash(self))
        }
    }
}

impl<T: Redact> Redact for Option<T> {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Some(value) => value.fmt_redacted(f),
            None => f.write_str("none"),
        }
    }
}

/// 32 bits of SipHash under a key drawn once per process: enough to tell
/// values apart in a log, too short and too secret to recover them.
fn keyed_hash(text: &str) -> u32 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    let hash = KEY.get_or_init(RandomState::new).hash_one(text);
    (hash >> 32) as u32
}

/// A value that is personal data. `Debug` and `Display` show it redacted
/// (see [`Redact`]); [`Personal::expose`] is the one way to the clear value,
/// for the code that must route on it, index it blindly or encrypt it.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Personal<T>(T);

impl<T> Personal<T> {
    pub fn new(value: T) -> Self {
        Personal(value)
    }

    /// The value in clear.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The value in clear, unwrapped.
    pub fn into_exposed(self) -> T {
        self.0
    }

    /// Another form of the same personal data, still wrapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Personal<U> {
        Personal(f(self.0))
    }

    pub fn as_ref(&self) -> Personal<&T> {
        Personal(&self.0)
    }
}

impl<T: ?Sized + Redact> Redact for &T {
    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt_redacted(f)
    }
}

impl<T> From<T> for Personal<T> {
    fn from(value: T) -> Self {
        Personal(value)
    }
}

impl<T: Redact> fmt::Display for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_redacted(f)
    }
}

impl<T: Redact> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personal(")?;
        self.0.fmt_redacted(f)?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn printed<T: Redact>(value: &Personal<T>) -> [String; 3] {
        [
            format!("{value}"),
            format!("{value:?}"),
            format!("{value:#?}"),
        ]
    }

    #[test]
    fn numbers_get_the_one_mask() {
        let number = Personal::new(E164::new("+33612345678").unwrap());
        assert_eq!(number.to_string(), "+336…78");
        assert_eq!(format!("{number:?}"), "Personal(+336…78)");
        assert_eq!(number.expose().expose(), "+33612345678");
        let user_part = Personal::new("33612345678".to_owned());
        assert_eq!(user_part.to_string(), "3361…78");
    }

    #[test]
    fn uris_and_call_ids_are_a_stable_keyed_hash() {
        let call_id = Personal::new("a84b4c76e66710@pc33.atlanta.example.com".to_owned());
        let shown = call_id.to_string();
        assert!(shown.starts_with('#') && shown.len() == 9, "{shown}");
        assert_eq!(shown, call_id.clone().to_string());
        let other = Personal::new("sip:+33612345678@carrier.example".to_owned());
        assert_ne!(other.to_string(), shown);
        for text in printed(&other) {
            assert!(!text.contains("612345"), "{text}");
            assert!(!text.contains("carrier"), "{text}");
        }
    }

    #[test]
    fn an_absent_value_says_so() {
        let none: Personal<Option<String>> = Personal::new(None);
        assert_eq!(none.to_string(), "none");
    }

    #[test]
    fn events_holding_personal_data_print_none_of_it() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct CallStarted {
            caller: Option<Personal<String>>,
            callee: Personal<E164>,
            call_id: Personal<String>,
        }
        let event = CallStarted {
            caller: Some(Personal::new("alice@example.org".to_owned())),
            callee: Personal::new(E164::new("+4930123456").unwrap()),
            call_id: Personal::new("f81d4fae-7dec-11d0-a765-00a0c91e6bf6".to_owned()),
        };
        let text = format!("{event:?} {event:#?}");
        for clear in [
            "alice",
            "example.org",
            "30123456",
            "f81d4fae",
            "00a0c91e6bf6",
        ] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
    }

    proptest! {
        #[test]
        fn printing_never_holds_the_clear_value(text in "[g-z@.:;=_/+0-9]{8,40}") {
            let value = Personal::new(text.clone());
            for shown in printed(&value) {
                prop_assert!(!shown.contains(&text), "{} shown as {}", text, shown);
            }
            let some = Personal::new(Some(text.clone()));
            for shown in printed(&some) {
                prop_assert!(!shown.contains(&text), "{} shown as {}", text, shown);
            }
        }

        #[test]
        fn printing_a_number_never_holds_it(digits in "[1-9][0-9]{7,14}") {
            let number = Personal::new(E164::new(&format!("+{digits}")).unwrap());
            for shown in printed(&number) {
                prop_assert!(!shown.contains(&digits), "{}", shown);
            }
        }
    }
}
