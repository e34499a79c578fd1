//! A thin view of `sip:`/`sips:` URIs: what a proxy routes on (user, host, port,
//! parameters such as `lr`), with host syntax checked strictly (RFC 5118).

use std::fmt;
use std::net::Ipv6Addr;

use super::syntax::{is_scheme, params, Param};

/// A parsed `sip:` or `sips:` URI. Parts are kept as written (no unescaping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    raw: String,
    parts: Parts,
}

/// Where each part of a URI text lies, found without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    secure: bool,
    user: Option<(usize, usize)>,
    host: (usize, usize),
    port: Option<u16>,
    params: (usize, usize),
    headers: Option<(usize, usize)>,
}

/// Why a text is not a usable `sip:`/`sips:` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriProblem {
    NotSip,
    Malformed(&'static str),
}

impl SipUri {
    /// Parses a `sip:`/`sips:` URI; `None` for other schemes or malformed text.
    pub fn parse(text: &str) -> Option<SipUri> {
        SipUri::parse_checked(text).ok()
    }

    pub(crate) fn parse_checked(text: &str) -> Result<SipUri, UriProblem> {
        Ok(SipUri {
            raw: text.to_string(),
            parts: Parts::locate(text)?,
        })
    }
    fn slice(&self, (start, end): (usize, usize)) -> &str {
        self.raw.get(start..end).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn is_secure(&self) -> bool {
        self.parts.secure
    }

    /// The user part, still escaped (`%40` stays `%40`).
    pub fn user(&self) -> Option<&str> {
        self.parts.user.map(|range| self.slice(range))
    }

    /// The host as written; IPv6 references keep their brackets.
    pub fn host(&self) -> &str {
        self.slice(self.parts.host)
    }

    pub fn port(&self) -> Option<u16> {
        self.parts.port
    }

    /// URI parameters, `;` separated, as `(name, value)` pairs.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        params(self.slice(self.parts.params))
            .filter_map(Result::ok)
            .map(|Param { name, value }| (name, value))
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Whether the URI carries the loose-routing flag `lr` (RFC 3261 §16.12).
    pub fn has_lr(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The `?headers` part, if any (never legal in a Request-URI).
    pub fn headers(&self) -> Option<&str> {
        self.parts.headers.map(|range| self.slice(range))
    }
}

impl Parts {
    fn locate(text: &str) -> Result<Parts, UriProblem> {
        let (scheme, rest) = text.split_once(':').ok_or(UriProblem::NotSip)?;
        let secure = if scheme.eq_ignore_ascii_case("sip") {
            false
        } else if scheme.eq_ignore_ascii_case("sips") {
            true
        } else {
            return Err(UriProblem::NotSip);
        };
        let base = scheme.len() + 1;
        if rest.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UriProblem::Malformed(
                "whitespace or control character in URI",
            ));
        }
        // The user part may hold `;`, `?` and `:` (RFC 4475 semiuri, intmeth) but never
        // an unescaped `@`, so the first `@` ends it.
        let (user, host_start) = match rest.find('@') {
            Some(at) => (Some((base, base + at)), at + 1),
            None => (None, 0),
        };
        if user.is_some_and(|(start, end)| start == end) {
            return Err(UriProblem::Malformed("empty user part"));
        }
        let after_user = rest.get(host_start..).unwrap_or_default();
        let hostport_len = after_user.find([';', '?']).unwrap_or(after_user.len());
        let hostport = after_user.get(..hostport_len).unwrap_or_default();
        let (host_len, port) = split_hostport(hostport).map_err(UriProblem::Malformed)?;
        let tail_start = base + host_start + hostport_len;
        let tail = text.get(tail_start..).unwrap_or_default();
        let params_len = tail.find('?').unwrap_or(tail.len());
        let headers = tail
            .get(params_len..)
            .filter(|h| !h.is_empty())
            .map(|_| (tail_start + params_len + 1, text.len()));
        let params_range = (tail_start, tail_start + params_len);
        for param in params(tail.get(..params_len).unwrap_or_default()) {
            check_uri_param(param.map_err(UriProblem::Malformed)?)?;
        }
        Ok(Parts {
            secure,
            user,
            host: (base + host_start, base + host_start + host_len),
            port,
            params: params_range,
            headers,
        })
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn check_uri_param(param: Param<'_>) -> Result<(), UriProblem> {
    if param.value.is_some_and(|value| value.starts_with('"')) {
        return Err(UriProblem::Malformed("quoted URI parameter"));
    }
    Ok(())
}

/// Splits `host[:port]`, checking the host: a bracketed IPv6 reference that parses
/// (RFC 5118 §4.3 rejects three colons), or a name / IPv4 address without colons
/// (an unbracketed IPv6 address is rejected, RFC 5118 §4.2). Returns the host length.
pub(crate) fn split_hostport(hostport: &str) -> Result<(usize, Option<u16>), &'static str> {
    let (host_len, port_text) = if hostport.starts_with('[') {
        let close = hostport.find(']').ok_or("unclosed IPv6 reference")?;
        let address = hostport.get(1..close).unwrap_or_default();
        if address.parse::<Ipv6Addr>().is_err() {
            return Err("malformed IPv6 reference");
        }
        let after = hostport.get(close + 1..).unwrap_or_default();
        let port_text = if after.is_empty() {
            None
        } else {
            Some(after.strip_prefix(':').ok_or("text after IPv6 reference")?)
        };
        (close + 1, port_text)
    } else {
        let (host, port_text) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        if host.is_empty() {
            return Err("empty host");
        }
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        if !host.bytes().all(host_byte) {
            return Err("malformed host");
        }
        (host.len(), port_text)
    };
    let port = match port_text {
        None => None,
        Some(text) => Some(parse_port(text).ok_or("malformed port")?),
    };
    Ok((host_len, port))
}

pub(crate) fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Checks a Request-URI (RFC 3261 §25.1, RFC 4475 §3.1.2.7/8/11, RFC 5118 §4):
/// any scheme is allowed, but no `<>`, no whitespace, and for `sip:`/`sips:` a valid
/// host and no `?headers`.
pub(crate) fn check_request_uri(uri: &str) -> Result<(), &'static str> {
    if uri
        .bytes()
        .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
    {
        return Err("Request-URI has whitespace, quotes or angle brackets");
    }
    let (scheme, _) = uri.split_once(':').ok_or("Request-URI without scheme")?;
    if !is_scheme(scheme) {
        return Err("malformed Request-URI scheme");
    }
    match Parts::locate(uri) {
        Ok(parts) if parts.headers.is_some() => Err("Request-URI carries headers"),
        Ok(_) | Err(UriProblem::NotSip) => Ok(()),
        Err(UriProblem::Malformed(problem)) => Err(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_sip_uri() {
        let uri = SipUri::parse("sip:alice@example.com:5070;transport=tcp;lr?Subject=x").unwrap();
        assert_eq!(uri.user(), Some("alice"));
        assert_eq!(uri.host(), "example.com");
        assert_eq!(uri.port(), Some(5070));
        assert!(uri.has_lr());
        assert_eq!(uri.param("transport"), Some(Some("tcp")));
        assert_eq!(uri.headers(), Some("Subject=x"));
        assert!(!uri.is_secure());
    }

    #[test]
    fn user_part_may_hold_separators() {
        let uri = SipUri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(uri.user(), Some("user;par=u%40example.net"));
        assert_eq!(uri.host(), "example.com");
        assert!(uri.headers().is_none());
    }

    #[test]
    fn ipv6_references() {
        let ambiguous = SipUri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(ambiguous.host(), "[2001:db8::10:5070]");
        assert_eq!(ambiguous.port(), None);
        let with_port = SipUri::parse("sips:[2001:db8::10]:5070").unwrap();
        assert_eq!(with_port.port(), Some(5070));
        assert!(with_port.is_secure());
        assert!(SipUri::parse("sip:2001:db8::10").is_none());
        assert!(SipUri::parse("sip:user@[2001:db8:::192.0.2.1]").is_none());
        assert!(SipUri::parse("sip:[2001:db8::1").is_none());
    }

    #[test]
    fn request_uri_rules() {
        assert!(check_request_uri("sip:user@example.com").is_ok());
        assert!(check_request_uri("soap.beep://192.0.2.103:3002").is_ok());
        assert!(check_request_uri("nobodyKnowsThisScheme:totallyopaquecontent").is_ok());
        assert!(check_request_uri("<sip:user@example.com>").is_err());
        assert!(check_request_uri("sip:user@example.com?Route=%3Csip:x%3E").is_err());
        assert!(check_request_uri("sip:2001:db8::10").is_err());
        assert!(check_request_uri("sip:user@example.com:99999").is_err());
        assert!(check_request_uri("user@example.com").is_err());
        assert!(check_request_uri("sip:user@exa mple.com").is_err());
    }
}
