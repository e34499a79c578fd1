//! Small grammar pieces of RFC 3261 §25 shared by validation and the typed accessors:
//! tokens, comma-separated lists, `;` parameters and name-addr values.
//!
//! Everything here borrows from the header value and reports problems as static
//! texts, so a caller can turn them into an error without echoing the input.

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_token_byte)
}

pub(crate) fn is_lws_byte(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn trim_lws(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii() && is_lws_byte(c as u8))
}

/// Whether the text is one or more decimal digits.
pub(crate) fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Parses decimal digits (leading zeros allowed) into a `u32`, refusing overflow.
pub(crate) fn parse_u32(text: &str) -> Option<u32> {
    if !is_digits(text) {
        return None;
    }
    text.parse().ok()
}

/// Splits a header value on the separator byte, ignoring separators inside quoted
/// strings (with `\` escapes) and, when `respect_angles` is set, inside `<...>`.
/// Returns `None` when a quoted string or an angle bracket is not closed.
pub(crate) struct Split<'a> {
    rest: Option<&'a str>,
    separator: u8,
    respect_angles: bool,
}

pub(crate) fn split_outside_quotes(text: &str, separator: u8, respect_angles: bool) -> Split<'_> {
    Split {
        rest: Some(text),
        separator,
        respect_angles,
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = Result<&'a str, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.rest?;
        match find_outside_quotes(text, self.separator, self.respect_angles) {
            Ok(Some(at)) => {
                self.rest = text.get(at + 1..);
                Some(Ok(text.get(..at).unwrap_or_default()))
            }
            Ok(None) => {
                self.rest = None;
                Some(Ok(text))
            }
            Err(problem) => {
                self.rest = None;
                Some(Err(problem))
            }
        }
    }
}

/// Index of the first `separator` outside quoted strings (and `<...>` if asked).
fn find_outside_quotes(
    text: &str,
    separator: u8,
    respect_angles: bool,
) -> Result<Option<usize>, &'static str> {
    let bytes = text.as_bytes();
    let mut in_quotes = false;
    let mut in_angles = false;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if in_quotes {
            match byte {
                b'\\' => index += 1,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else if in_angles {
            if byte == b'>' {
                in_angles = false;
            }
        } else if byte == separator {
            return Ok(Some(index));
        } else if byte == b'"' {
            in_quotes = true;
        } else if byte == b'<' && respect_angles {
            in_angles = true;
        }
        index += 1;
    }
    if in_quotes {
        Err("unterminated quoted string")
    } else if in_angles {
        Err("unclosed angle bracket")
    } else {
        Ok(None)
    }
}

/// Splits a multi-valued header line on the commas between its values (not those
/// inside quoted strings or `<...>`); the values keep their surrounding LWS.
pub(crate) fn split_values(line: &str) -> Split<'_> {
    split_outside_quotes(line, b',', true)
}

/// The non-empty values of a multi-valued header line, trimmed (RFC 3261 §7.3.1:
/// `Name: a, b` means the same as a `Name: a` line followed by a `Name: b` line).
/// A value left open by an unclosed quote or `<` ends the list.
pub(crate) fn header_values(line: &str) -> impl Iterator<Item = &str> {
    split_values(line)
        .map_while(Result::ok)
        .map(trim_lws)
        .filter(|value| !value.is_empty())
}

/// The first value of a multi-valued header line, trimmed, and the values after it
/// exactly as written but for leading LWS (`None` when it was the only one).
/// `None` for a line that holds no value.
pub(crate) fn split_first_value(line: &str) -> Option<(&str, Option<&str>)> {
    let mut split = split_values(line);
    while let Some(Ok(value)) = split.next() {
        let value = trim_lws(value);
        if value.is_empty() {
            continue;
        }
        let rest = split
            .rest
            .map(trim_lws)
            .filter(|rest| header_values(rest).next().is_some());
        return Some((value, rest));
    }
    None
}

/// Length of the quoted string at the start of `text` (which begins with `"`),
/// closing quote included.
pub(crate) fn quoted_string_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut index = 1;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'\\' => index += 2,
            b'"' => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

/// One `;name[=value]` parameter, LWS around `=` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

/// Parses `;a=b;c` (the text starts at the first `;`, or is empty) into parameters,
/// rejecting empty parameters, non-token names and values with stray separators.
pub(crate) fn params(text: &str) -> Params<'_> {
    let text = trim_lws(text);
    let body = text.strip_prefix(';');
    Params {
        inner: body.map(|body| split_outside_quotes(body, b';', false)),
        malformed_start: body.is_none() && !text.is_empty(),
    }
}

pub(crate) struct Params<'a> {
    inner: Option<Split<'a>>,
    malformed_start: bool,
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<Param<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.malformed_start {
            self.malformed_start = false;
            self.inner = None;
            return Some(Err("unexpected text after value"));
        }
        let raw = match self.inner.as_mut()?.next()? {
            Ok(raw) => raw,
            Err(problem) => return Some(Err(problem)),
        };
        Some(parse_param(raw))
    }
}

fn parse_param(raw: &str) -> Result<Param<'_>, &'static str> {
    let raw = trim_lws(raw);
    if raw.is_empty() {
        return Err("empty parameter");
    }
    let (name, value) = match raw.split_once('=') {
        Some((name, value)) => (trim_lws(name), Some(trim_lws(value))),
        None => (raw, None),
    };
    if !is_token(name) {
        return Err("parameter name is not a token");
    }
    if let Some(value) = value {
        check_param_value(value)?;
    }
    Ok(Param { name, value })
}

fn check_param_value(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("empty parameter value");
    }
    if value.starts_with('"') {
        return match quoted_string_len(value) {
            Some(len) if len == value.len() => Ok(()),
            _ => Err("malformed quoted parameter value"),
        };
    }
    // Liberal beyond `token`: IPv6 references (`received=[2001:db8::1]`, or without
    // brackets, RFC 5118 §4.5) carry `:` and brackets.
    let acceptable = |b: u8| is_token_byte(b) || matches!(b, b':' | b'[' | b']' | b'/' | b'@');
    if value.bytes().all(acceptable) {
        Ok(())
    } else {
        Err("malformed parameter value")
    }
}

/// Finds a parameter by name (case-insensitive), ignoring malformed ones.
pub(crate) fn find_param<'a>(text: &'a str, name: &str) -> Option<Param<'a>> {
    params(text)
        .filter_map(Result::ok)
        .find(|param| param.name.eq_ignore_ascii_case(name))
}

/// A `name-addr` or `addr-spec` with its header parameters (From, To, Contact,
/// Route, Record-Route values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameAddr<'a> {
    pub display_name: Option<&'a str>,
    pub uri: &'a str,
    pub bracketed: bool,
    /// Header parameters, starting at `;` (or empty).
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Parses one value, checking the rules RFC 4475 exercises: quotes closed
    /// (`quotbal`), unquoted display names made of tokens (`baddn`), no spaces
    /// inside `<>` (`badaspec`), a bare addr-spec without `?`, `,` (`regbadct`).
    pub(crate) fn parse(value: &'a str) -> Result<NameAddr<'a>, &'static str> {
        let value = trim_lws(value);
        if value.is_empty() {
            return Err("empty address");
        }
        let (display_name, rest) = if value.starts_with('"') {
            let len = quoted_string_len(value).ok_or("unterminated quoted string")?;
            let rest = trim_lws(value.get(len..).unwrap_or_default());
            if !rest.starts_with('<') {
                return Err("quoted display name without <uri>");
            }
            (value.get(..len), rest)
        } else if let Some(open) = value.find('<') {
            let display = trim_lws(value.get(..open).unwrap_or_default());
            // Non-ASCII letters are tolerated unquoted: some phones send names so.
            if !display
                .bytes()
                .all(|b| is_token_byte(b) || is_lws_byte(b) || b >= 0x80)
            {
                return Err("display name has characters that need quoting");
            }
            let display = if display.is_empty() {
                None
            } else {
                Some(display)
            };
            (display, value.get(open..).unwrap_or_default())
        } else {
            return NameAddr::parse_addr_spec(value);
        };
        let inner_and_params = rest.get(1..).unwrap_or_default();
        let close = inner_and_params.find('>').ok_or("unclosed angle bracket")?;
        let uri = inner_and_params.get(..close).unwrap_or_default();
        let params = inner_and_params.get(close + 1..).unwrap_or_default();
        check_uri_text(uri)?;
        if uri.contains('<') {
            return Err("nested angle bracket");
        }
        Ok(NameAddr {
            display_name,
            uri,
            bracketed: true,
            params,
        })
    }

    fn parse_addr_spec(value: &'a str) -> Result<NameAddr<'a>, &'static str> {
        let (uri, params) = match value.find(';') {
            Some(at) => (
                trim_lws(value.get(..at).unwrap_or_default()),
                value.get(at..).unwrap_or_default(),
            ),
            None => (value, ""),
        };
        check_uri_text(uri)?;
        if uri.bytes().any(|b| matches!(b, b'?' | b',' | b'"' | b'>')) {
            return Err("address with reserved characters outside <>");
        }
        Ok(NameAddr {
            display_name: None,
            uri,
            bracketed: false,
            params,
        })
    }

    /// Parses and checks the header parameters too.
    pub(crate) fn parse_strict(value: &'a str) -> Result<NameAddr<'a>, &'static str> {
        let parsed = NameAddr::parse(value)?;
        for param in params(parsed.params) {
            param?;
        }
        Ok(parsed)
    }

    pub(crate) fn tag(&self) -> Option<&'a str> {
        find_param(self.params, "tag").and_then(|param| param.value)
    }
}

/// A URI as it may appear in a header: a scheme, then no whitespace or controls.
fn check_uri_text(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty() {
        return Err("empty URI");
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("whitespace or control character in URI");
    }
    let (scheme, _) = uri.split_once(':').ok_or("URI without scheme")?;
    if !is_scheme(scheme) {
        return Err("malformed URI scheme");
    }
    Ok(())
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
pub(crate) fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The URI inside `<...>` of a name-addr value, or the bare addr-spec.
pub fn uri_of_name_addr(value: &str) -> Option<&str> {
    NameAddr::parse(value).ok().map(|parsed| parsed.uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_values_outside_quotes_and_angles() {
        let values: Vec<_> = split_values(r#""a,\"b" <sip:x@y;p=1,2>, <sip:z>"#)
            .map(|v| v.map(trim_lws))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(values, vec![r#""a,\"b" <sip:x@y;p=1,2>"#, "<sip:z>"]);
    }

    #[test]
    fn unterminated_quote_is_reported() {
        assert!(split_values(r#""abc, <sip:x>"#).any(|v| v.is_err()));
    }

    #[test]
    fn params_trim_lws_around_equals() {
        let found: Vec<_> = params(" ;   tag    = 1918181833n ; lr")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            found,
            vec![
                Param {
                    name: "tag",
                    value: Some("1918181833n")
                },
                Param {
                    name: "lr",
                    value: None
                }
            ]
        );
    }

    #[test]
    fn empty_params_are_rejected() {
        assert!(params(";;;;").any(|p| p.is_err()));
        assert!(params(";a=").any(|p| p.is_err()));
        assert!(params("junk;a=b").any(|p| p.is_err()));
    }

    #[test]
    fn name_addr_forms() {
        let quoted =
            NameAddr::parse_strict(r#""J Rosenberg \\\""  <sip:j@example.com> ; tag = 98"#)
                .unwrap();
        assert_eq!(quoted.uri, "sip:j@example.com");
        assert_eq!(quoted.tag(), Some("98"));
        let accented = NameAddr::parse("José Müller <sip:jm@example.com>").unwrap();
        assert_eq!(accented.display_name, Some("José Müller"));
        let tokens = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(tokens.display_name, Some("caller"));
        let bare = NameAddr::parse("sip:+1972@gw1.example.net;unknownparam").unwrap();
        assert_eq!(bare.uri, "sip:+1972@gw1.example.net");
        assert!(!bare.bracketed);
        assert_eq!(bare.params, ";unknownparam");
    }

    #[test]
    fn name_addr_rejections() {
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a@example.com>").is_err());
        assert!(NameAddr::parse("\"Watson\" < sip:t@example.org >").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert!(NameAddr::parse("").is_err());
        assert!(NameAddr::parse("no-scheme").is_err());
        assert!(NameAddr::parse_strict("\"Joe\" <sip:joe@example.org>;;;;").is_err());
    }

    #[test]
    fn uri_extraction() {
        assert_eq!(
            uri_of_name_addr("<sip:p1.example.com;lr>"),
            Some("sip:p1.example.com;lr")
        );
        assert_eq!(uri_of_name_addr("sip:a@b;tag=1"), Some("sip:a@b"));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32("0068"), Some(68));
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("-1"), None);
        assert_eq!(parse_u32(""), None);
    }
}
