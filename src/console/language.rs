//! The console's language: French or English, the first the browser's
//! `Accept-Language` prefers (RFC 9110 §12.5.4), English when it names
//! neither. The page's switch overrides it in the browser.

/// A language the console is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    English,
    French,
}

impl Language {
    /// The BCP 47 tag, as `<html lang>` and the strings' file name use it.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::French => "fr",
        }
    }

    fn from_range(range: &str) -> Option<Self> {
        let primary = range.split('-').next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("fr") {
            Some(Language::French)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Language::English)
        } else {
            None
        }
    }
}

/// The language of highest weight in an `Accept-Language` value; among equal
/// weights the first listed wins. Malformed entries are skipped.
pub fn negotiate(accept_language: &str) -> Language {
    let mut best: Option<(u16, Language)> = None;
    for entry in accept_language.split(',') {
        let mut parts = entry.split(';');
        let range = parts.next().unwrap_or_default().trim();
        let mut weight = Some(1000);
        for parameter in parts {
            if let Some(value) = parameter.trim().strip_prefix("q=") {
                weight = parse_weight(value.trim());
            }
        }
        let (Some(weight), Some(language)) = (weight, Language::from_range(range)) else {
            continue;
        };
        if weight > 0 && best.is_none_or(|(kept, _)| weight > kept) {
            best = Some((weight, language));
        }
    }
    best.map_or(Language::English, |(_, language)| language)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferred_known_language_wins() {
        assert_eq!(negotiate("fr-FR,fr;q=0.9,en;q=0.8"), Language::French);
        assert_eq!(negotiate("en-GB,fr;q=0.5"), Language::English);
        assert_eq!(negotiate("de-DE,fr;q=0.7,en;q=0.3"), Language::French);
        assert_eq!(negotiate("en;q=0.2, FR;q=0.9"), Language::French);
        assert_eq!(negotiate("fr;q=0.5, en;q=0.5"), Language::French);
    }

    #[test]
    fn english_when_nothing_known_or_readable() {
        assert_eq!(negotiate(""), Language::English);
        assert_eq!(negotiate("de, it;q=0.5"), Language::English);
        assert_eq!(negotiate("fr;q=0"), Language::English);
        assert_eq!(negotiate("fr;q=2"), Language::English);
        assert_eq!(negotiate("fr;q=0.12345, *"), Language::English);
        assert_eq!(negotiate(";;;,,,q="), Language::English);
    }
}
