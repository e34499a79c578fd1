use std::fmt;

/// A header field name, canonical form. Compact forms (RFC 3261 §7.3.3) map to
/// their long names on parsing; unknown names are kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    Contact,
    Route,
    RecordRoute,
    Require,
    ProxyRequire,
    Supported,
    Allow,
    RetryAfter,
    Server,
    UserAgent,
    Other(String),
}

impl HeaderName {
    /// Maps a header name as written (any case, compact or long) to its canonical form.
    pub fn parse(name: &str) -> HeaderName {
        HeaderName::known(name).unwrap_or_else(|| HeaderName::Other(name.to_string()))
    }

    /// Dispatches on length first: this runs for every header line received.
    fn known(name: &str) -> Option<HeaderName> {
        let is = |long: &str| name.eq_ignore_ascii_case(long);
        let known = match name.len() {
            1 => match name.as_bytes().first()?.to_ascii_lowercase() {
                b'v' => HeaderName::Via,
                b'f' => HeaderName::From,
                b't' => HeaderName::To,
                b'i' => HeaderName::CallId,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'm' => HeaderName::Contact,
                b'k' => HeaderName::Supported,
                _ => return None,
            },
            2 if is("to") => HeaderName::To,
            3 if is("via") => HeaderName::Via,
            4 if is("from") => HeaderName::From,
            4 if is("cseq") => HeaderName::CSeq,
            5 if is("route") => HeaderName::Route,
            5 if is("allow") => HeaderName::Allow,
            6 if is("server") => HeaderName::Server,
            7 if is("call-id") => HeaderName::CallId,
            7 if is("contact") => HeaderName::Contact,
            7 if is("require") => HeaderName::Require,
            9 if is("supported") => HeaderName::Supported,
            10 if is("user-agent") => HeaderName::UserAgent,
            11 if is("retry-after") => HeaderName::RetryAfter,
            12 if is("max-forwards") => HeaderName::MaxForwards,
            12 if is("content-type") => HeaderName::ContentType,
            12 if is("record-route") => HeaderName::RecordRoute,
            13 if is("proxy-require") => HeaderName::ProxyRequire,
            14 if is("content-length") => HeaderName::ContentLength,
            _ => return None,
        };
        Some(known)
    }

    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::Contact => "Contact",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::Require => "Require",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Supported => "Supported",
            HeaderName::Allow => "Allow",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Server => "Server",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Other(name) => name,
        }
    }

    /// Whether a header with this name is exactly the named one, ignoring case for
    /// names the enum does not know.
    pub fn matches(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field line, value unfolded and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: String,
}

/// The header fields of a message, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    pub fn with_capacity(capacity: usize) -> Headers {
        Headers(Vec::with_capacity(capacity))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// The first value of a header.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.matches(name))
            .map(|h| h.value.as_str())
    }

    /// Every line of a header, in order (a line may itself hold comma-joined values).
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.matches(name))
            .map(|h| h.value.as_str())
    }

    pub fn count(&self, name: &HeaderName) -> usize {
        self.0.iter().filter(|h| h.name.matches(name)).count()
    }

    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header {
            name,
            value: value.into(),
        });
    }

    /// Inserts before the first header of the same name, or at the top when there is none
    /// (Via and Record-Route are prepended, RFC 3261 §16.6).
    pub fn prepend(&mut self, name: HeaderName, value: impl Into<String>) {
        let at = self
            .0
            .iter()
            .position(|h| h.name.matches(&name))
            .unwrap_or(0);
        self.0.insert(
            at,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// Replaces the first value of a header, or appends it.
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|h| h.name.matches(&name)) {
            Some(header) => header.value = value,
            None => self.0.push(Header { name, value }),
        }
    }

    /// Removes every line of a header.
    pub fn remove_all(&mut self, name: &HeaderName) {
        self.0.retain(|h| !h.name.matches(name));
    }

    /// Removes the first line of a header and returns its value.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<String> {
        let at = self.0.iter().position(|h| h.name.matches(name))?;
        Some(self.0.remove(at).value)
    }

    /// Mutable access to the first line of a header.
    pub fn first_mut(&mut self, name: &HeaderName) -> Option<&mut Header> {
        self.0.iter_mut().find(|h| h.name.matches(name))
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(iter: I) -> Self {
        Headers(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_in_long_and_compact_form() {
        let names = [
            (HeaderName::Via, "via", Some("v")),
            (HeaderName::From, "from", Some("f")),
            (HeaderName::To, "to", Some("t")),
            (HeaderName::CallId, "call-id", Some("i")),
            (HeaderName::CSeq, "cseq", None),
            (HeaderName::MaxForwards, "max-forwards", None),
            (HeaderName::ContentLength, "content-length", Some("l")),
            (HeaderName::ContentType, "content-type", Some("c")),
            (HeaderName::Contact, "contact", Some("m")),
            (HeaderName::Route, "route", None),
            (HeaderName::RecordRoute, "record-route", None),
            (HeaderName::Require, "require", None),
            (HeaderName::ProxyRequire, "proxy-require", None),
            (HeaderName::Supported, "supported", Some("k")),
            (HeaderName::Allow, "allow", None),
            (HeaderName::RetryAfter, "retry-after", None),
            (HeaderName::Server, "server", None),
            (HeaderName::UserAgent, "user-agent", None),
        ];
        for (name, long, compact) in names {
            assert_eq!(HeaderName::parse(long), name);
            assert_eq!(HeaderName::parse(&long.to_ascii_uppercase()), name);
            assert_eq!(HeaderName::parse(name.as_str()), name);
            if let Some(compact) = compact {
                assert_eq!(HeaderName::parse(compact), name);
                assert_eq!(HeaderName::parse(&compact.to_ascii_uppercase()), name);
            }
        }
        assert_eq!(
            HeaderName::parse("X-Tenant"),
            HeaderName::Other("X-Tenant".into())
        );
        assert_eq!(HeaderName::parse("s"), HeaderName::Other("s".into()));
        assert_eq!(HeaderName::parse(""), HeaderName::Other(String::new()));
    }
}
