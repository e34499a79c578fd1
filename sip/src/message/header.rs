use std::fmt;

use super::syntax::{header_values, split_first_value};

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

    /// Every value of a multi-valued header (Via, Route, Record-Route, Contact,
    /// Allow, Supported, Require, Proxy-Require…), top first, whether written as
    /// several lines or comma-joined in one (RFC 3261 §7.3.1). Commas inside quoted
    /// strings and `<...>` do not separate values.
    pub fn values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(header_values)
    }

    /// The topmost value of a multi-valued header.
    pub fn first_value(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .filter(|h| h.name.matches(name))
            .flat_map(|h| header_values(&h.value))
            .next()
    }

    /// Removes the topmost value of a multi-valued header and returns it: the values
    /// written after it on the same line stay there as written, and the line goes
    /// only when it held nothing else (RFC 3261 §16.7 step 3 removes the topmost Via
    /// *value*, §16.4 the topmost Route value). A first line with no value is left
    /// as it is.
    pub fn remove_first_value(&mut self, name: &HeaderName) -> Option<String> {
        let at = self.0.iter().position(|h| h.name.matches(name))?;
        let line = self.0.get_mut(at)?;
        let (first, rest) = split_first_value(&line.value)?;
        let (first, rest) = (first.to_string(), rest.map(str::to_string));
        match rest {
            Some(rest) => line.value = rest,
            None => {
                self.0.remove(at);
            }
        }
        Some(first)
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

    /// Removes the first line of a header and returns its value: every value of a
    /// comma-joined line goes with it (see [`Headers::remove_first_value`]).
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

    /// Three values of each multi-valued header, with the commas, quotes and
    /// brackets real agents write inside one value.
    fn multi_valued() -> Vec<(HeaderName, [&'static str; 3])> {
        vec![
            (
                HeaderName::Via,
                [
                    "SIP/2.0/UDP gw.example.net;branch=z9hG4bK-gw;note=\"a, b\"",
                    "SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bK-p;received=192.0.2.4;rport=5099",
                    "SIP/2.0/UDP phone.example.com:5062;rport;branch=z9hG4bK-phone",
                ],
            ),
            (
                HeaderName::Route,
                [
                    "<sip:p1.example.net;lr>",
                    "\"Edge, West\" <sip:p2.example.net;lr;x=\"1,2\">",
                    "<sip:p3.example.net;lr>",
                ],
            ),
            (
                HeaderName::RecordRoute,
                [
                    "<sip:p3.example.net;lr>",
                    "<sip:[2001:db8::1]:5060;lr;transport=tcp>",
                    "\"Core, \\\"B\\\"\" <sip:p1.example.net;lr>",
                ],
            ),
            (
                HeaderName::Contact,
                [
                    "\"Smith, J.\" <sip:j@192.0.2.4;transport=udp>;expires=60",
                    "<sip:j@[2001:db8::4]>;q=0.5",
                    "sip:j@192.0.2.5;q=0.1",
                ],
            ),
            (HeaderName::Allow, ["INVITE", "ACK", "BYE"]),
            (HeaderName::Supported, ["replaces", "timer", "100rel"]),
            (HeaderName::Require, ["100rel", "timer", "precondition"]),
            (HeaderName::ProxyRequire, ["sec-agree", "foo", "bar"]),
        ]
    }

    /// The same three values as one line, as three lines, and mixed both ways;
    /// with the lines expected once the topmost value is removed.
    fn forms(values: [&str; 3]) -> Vec<(&'static str, Vec<String>, Vec<String>)> {
        let [a, b, c] = values;
        vec![
            (
                "combined",
                vec![format!("{a}, {b},{c}")],
                vec![format!("{b},{c}")],
            ),
            (
                "split",
                vec![a.into(), b.into(), c.into()],
                vec![b.into(), c.into()],
            ),
            (
                "combined then split",
                vec![format!("{a} ,  {b}"), c.into()],
                vec![b.into(), c.into()],
            ),
            (
                "split then combined",
                vec![a.into(), format!("{b}, {c}")],
                vec![format!("{b}, {c}")],
            ),
        ]
    }

    #[test]
    fn every_multi_valued_header_reads_and_pops_values_in_each_form() {
        for (name, values) in multi_valued() {
            for (form, lines, after_pop) in forms(values) {
                let mut headers = Headers::new();
                headers.push(HeaderName::From, "<sip:a@example.com>;tag=1");
                for line in &lines {
                    headers.push(name.clone(), line.as_str());
                }
                headers.push(HeaderName::CallId, "c1");
                let what = format!("{name} {form}");
                assert_eq!(headers.values(&name).collect::<Vec<_>>(), values, "{what}");
                assert_eq!(headers.first_value(&name), Some(values[0]), "{what}");

                assert_eq!(
                    headers.remove_first_value(&name).as_deref(),
                    Some(values[0]),
                    "{what}"
                );
                assert_eq!(
                    headers.get_all(&name).collect::<Vec<_>>(),
                    after_pop,
                    "{what}"
                );
                assert_eq!(
                    headers.values(&name).collect::<Vec<_>>(),
                    values[1..],
                    "{what}"
                );
                // The other headers keep their places.
                let order: Vec<_> = headers.iter().map(|h| h.name.clone()).collect();
                assert_eq!(order.first(), Some(&HeaderName::From), "{what}");
                assert_eq!(order.last(), Some(&HeaderName::CallId), "{what}");

                headers.remove_first_value(&name);
                assert_eq!(
                    headers.get_all(&name).collect::<Vec<_>>(),
                    [values[2]],
                    "{what}"
                );
                headers.remove_first_value(&name);
                assert_eq!(
                    headers.count(&name),
                    0,
                    "{what}: the last value takes its line"
                );
                assert_eq!(headers.remove_first_value(&name), None, "{what}");
                assert_eq!(headers.len(), 2, "{what}");
            }
        }
    }

    #[test]
    fn a_line_with_no_value_is_not_taken_apart() {
        let mut headers = Headers::new();
        headers.push(HeaderName::Route, "<sip:p1.example.net;lr");
        assert_eq!(headers.values(&HeaderName::Route).count(), 0);
        assert_eq!(headers.remove_first_value(&HeaderName::Route), None);
        assert_eq!(headers.count(&HeaderName::Route), 1);
    }

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
