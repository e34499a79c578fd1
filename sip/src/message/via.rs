//! Via values (RFC 3261 §20.42): `SIP/2.0/transport sent-by *(; param)`, with LWS
//! allowed around `/`, `:`, `;` and `=` (RFC 4475 wsinv).

use std::fmt;

use super::syntax::{params, trim_lws, Param};
use super::uri::split_hostport;

/// RFC 3261 §8.1.1.7: branches of compliant elements start with this cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value. Unknown transports are kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    /// The host of sent-by as written; IPv6 references keep their brackets.
    pub host: String,
    pub port: Option<u16>,
    /// Parameters in order, names as written, values without surrounding LWS.
    pub params: Vec<(String, Option<String>)>,
}

/// The borrowed parts of a Via value, for checks that need no allocation.
pub(crate) struct ViaParts<'a> {
    pub transport: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    pub params: &'a str,
}

impl<'a> ViaParts<'a> {
    /// Reads protocol, transport and sent-by; the parameters are left unchecked.
    pub(crate) fn parse(value: &'a str) -> Result<ViaParts<'a>, &'static str> {
        let (version, parts) = ViaParts::parse_any_version(value)?;
        if version != "2.0" {
            return Err("Via version is not SIP/2.0");
        }
        Ok(parts)
    }

    /// Like [`ViaParts::parse`] for any SIP version, enough to route an answer to a
    /// request of another version (505).
    pub(crate) fn parse_any_version(
        value: &'a str,
    ) -> Result<(&'a str, ViaParts<'a>), &'static str> {
        let (protocol, rest) = value.split_once('/').ok_or("Via without protocol")?;
        if !trim_lws(protocol).eq_ignore_ascii_case("SIP") {
            return Err("Via protocol is not SIP");
        }
        let (version, rest) = rest.split_once('/').ok_or("Via without transport")?;
        let version = trim_lws(version);
        let rest = trim_lws(rest);
        let transport_len = rest
            .find(|c: char| c.is_ascii_whitespace())
            .ok_or("Via without sent-by")?;
        let transport = rest.get(..transport_len).unwrap_or_default();
        if !super::syntax::is_token(transport) {
            return Err("malformed Via transport");
        }
        let rest = rest.get(transport_len..).unwrap_or_default();
        let (sent_by, params) = match rest.find(';') {
            Some(at) => (
                rest.get(..at).unwrap_or_default(),
                rest.get(at..).unwrap_or_default(),
            ),
            None => (rest, ""),
        };
        let sent_by = trim_lws(sent_by);
        let (host, port) = split_sent_by(sent_by)?;
        let parts = ViaParts {
            transport,
            host,
            port,
            params,
        };
        Ok((version, parts))
    }

    /// Also checks every parameter, and that a branch with the magic cookie has
    /// something after it (RFC 4475 badbranch).
    pub(crate) fn parse_strict(value: &'a str) -> Result<ViaParts<'a>, &'static str> {
        let parts = ViaParts::parse(value)?;
        for param in params(parts.params) {
            let param = param?;
            if param.name.eq_ignore_ascii_case("branch") && param.value == Some(MAGIC_COOKIE) {
                return Err("Via branch is only the magic cookie");
            }
        }
        Ok(parts)
    }
}

/// `host [ SWS ":" SWS port ]`.
fn split_sent_by(sent_by: &str) -> Result<(&str, Option<u16>), &'static str> {
    let host_end = if sent_by.starts_with('[') {
        sent_by
            .find(']')
            .map(|at| at + 1)
            .ok_or("unclosed IPv6 reference")?
    } else {
        sent_by
            .find(|c: char| c == ':' || c.is_ascii_whitespace())
            .unwrap_or(sent_by.len())
    };
    let host = sent_by.get(..host_end).unwrap_or_default();
    let (host_len, _) = split_hostport(host)?;
    if host_len != host.len() {
        return Err("malformed Via sent-by");
    }
    let rest = trim_lws(sent_by.get(host_end..).unwrap_or_default());
    let port = if rest.is_empty() {
        None
    } else {
        let port = rest.strip_prefix(':').ok_or("malformed Via sent-by")?;
        Some(super::uri::parse_port(trim_lws(port)).ok_or("malformed Via port")?)
    };
    Ok((host, port))
}

impl Via {
    /// Parses one Via value (not a comma-joined line; see `Message::vias`).
    pub fn parse(value: &str) -> Option<Via> {
        let parts = ViaParts::parse_strict(trim_lws(value)).ok()?;
        let params = params(parts.params)
            .filter_map(Result::ok)
            .map(|Param { name, value }| (name.to_string(), value.map(str::to_string)))
            .collect();
        Some(Via {
            transport: parts.transport.to_string(),
            host: parts.host.to_string(),
            port: parts.port,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_deref())
    }

    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// Whether the branch carries the RFC 3261 magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|branch| {
            branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
        })
    }

    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }

    /// `None` without `rport`; `Some(None)` for the bare flag a client sends
    /// (RFC 3581); `Some(Some(port))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport")
            .map(|value| value.and_then(super::uri::parse_port))
    }

    /// `host[:port]` as written.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{}", self.host, port),
            None => self.host.clone(),
        }
    }

    /// Sets a parameter (replacing an existing one of the same name, keeping its place).
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        match self
            .params
            .iter_mut()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        {
            Some(existing) => existing.1 = value,
            None => self.params.push((name.to_string(), value)),
        }
    }

    pub fn remove_param(&mut self, name: &str) {
        self.params
            .retain(|(candidate, _)| !candidate.eq_ignore_ascii_case(name));
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for (name, value) in &self.params {
            match value {
                Some(value) => write!(f, ";{name}={value}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_via() {
        let via = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport").unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "192.0.2.1");
        assert_eq!(via.port, Some(5060));
        assert_eq!(via.branch(), Some("z9hG4bK776"));
        assert!(via.has_rfc3261_branch());
        assert_eq!(via.rport(), Some(None));
        assert_eq!(via.received(), None);
        assert_eq!(via.sent_by(), "192.0.2.1:5060");
        assert_eq!(
            via.to_string(),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport"
        );
    }

    #[test]
    fn via_with_lws_everywhere() {
        let via = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(via.host, "192.0.2.2");
        assert_eq!(via.branch(), Some("390skdjuw"));
        assert!(!via.has_rfc3261_branch());
        let spaced = Via::parse(
            "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(spaced.transport, "TCP");
        assert_eq!(spaced.branch(), Some("z9hG4bK9ikj8"));
        let colon = Via::parse("SIP/2.0/UDP host.example.com : 5070").unwrap();
        assert_eq!(colon.port, Some(5070));
    }

    #[test]
    fn ipv6_sent_by_and_received() {
        let via = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255").unwrap();
        assert_eq!(via.host, "[2001:db8::9:1]");
        assert_eq!(via.port, Some(6050));
        assert_eq!(via.received(), Some("2001:db8::9:255"));
    }

    #[test]
    fn unknown_transport_kept() {
        let via = Via::parse("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en").unwrap();
        assert_eq!(via.transport, "UNKNOWN");
    }

    #[test]
    fn rejections() {
        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/7.0/UDP host",
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK",
            "SIP/2.0/UDP 2001:db8::1",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP ho st",
            "HTTP/2.0/UDP host",
        ] {
            assert!(Via::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn params_can_be_changed() {
        let mut via = Via::parse("SIP/2.0/UDP h;rport;branch=z9hG4bKx").unwrap();
        via.set_param("rport", Some("5062"));
        via.set_param("received", Some("192.0.2.9"));
        assert_eq!(via.rport(), Some(Some(5062)));
        assert_eq!(
            via.to_string(),
            "SIP/2.0/UDP h;rport=5062;branch=z9hG4bKx;received=192.0.2.9"
        );
        via.remove_param("received");
        assert_eq!(via.received(), None);
    }
}
