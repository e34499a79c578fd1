//! `[admin]`: who the admin listener answers to, how its credentials are
//! hashed and kept, and its TLS certificate.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::paths::PathContext;
use super::problems::{Origin, Problems};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    #[serde(default)]
    hosts: Vec<String>,
    credentials_file: Option<String>,
    tenant_settings_file: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
    session_hours: Option<u32>,
}

/// Argon2id cost, RFC 9106 section 4 "second recommended option" by
/// default: 64 MiB, three passes, four lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        }
    }
}

/// The certificate chain and private key of the admin listener (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The admin listener's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Host names (without port) a request's `Host` may carry; anything else
    /// is refused with 421 (DNS rebinding).
    pub hosts: Vec<String>,
    /// Tokens and users, as Argon2id hashes; read again when it changes.
    pub credentials_file: PathBuf,
    /// What tenants set through the API: retention and objections.
    pub tenant_settings_file: PathBuf,
    pub tls: Option<AdminTls>,
    pub argon2: Argon2Params,
    /// A console session ends this long after login.
    pub session_hours: u32,
}

const MAX_SESSION_HOURS: u32 = 24;

pub(crate) fn validate_admin(
    raw: RawAdmin,
    admin_listen: Option<SocketAddr>,
    origin: Origin<'_>,
    paths: &PathContext<'_>,
    problems: &mut Problems,
) -> Option<AdminConfig> {
    let before = problems.len();
    let file = origin.file;
    let mut path = |key: &str, value: Option<String>, default: &str| -> Option<PathBuf> {
        let text = value.unwrap_or_else(|| default.to_string());
        match paths.resolve(&text) {
            Ok(path) => Some(path),
            Err(reason) => {
                problems.push(file, origin.key(key), reason);
                None
            }
        }
    };
    let credentials_file = path(
        "credentials_file",
        raw.credentials_file,
        "admin-credentials.json",
    );
    let tenant_settings_file = path(
        "tenant_settings_file",
        raw.tenant_settings_file,
        "tenant-settings.json",
    );
    let tls = match (raw.tls_cert, raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let cert = path("tls_cert", Some(cert), "");
            let key = path("tls_key", Some(key), "");
            cert.zip(key).map(|(cert, key)| AdminTls { cert, key })
        }
        _ => {
            problems.push(
                file,
                origin.key("tls_cert"),
                "tls_cert and tls_key go together",
            );
            None
        }
    };
    let mut hosts = Vec::new();
    for (index, host) in raw.hosts.iter().enumerate() {
        let host = host.trim().to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if valid {
            hosts.push(host);
        } else {
            problems.push(
                file,
                origin.key(&format!("hosts[{index}]")),
                "must be a host name or address, without port",
            );
        }
    }
    if hosts.is_empty() {
        hosts = default_hosts(admin_listen);
    }
    let defaults = Argon2Params::default();
    let argon2 = Argon2Params {
        memory_kib: raw.argon2_memory_kib.unwrap_or(defaults.memory_kib),
        iterations: raw.argon2_iterations.unwrap_or(defaults.iterations),
        parallelism: raw.argon2_parallelism.unwrap_or(defaults.parallelism),
    };
    if argon2::Params::new(
        argon2.memory_kib,
        argon2.iterations,
        argon2.parallelism,
        None,
    )
    .is_err()
    {
        problems.push(
            file,
            origin.key("argon2_memory_kib"),
            "not valid Argon2 parameters (memory at least 8 KiB per lane, one pass or more)",
        );
    }
    let session_hours = raw.session_hours.unwrap_or(8);
    if session_hours == 0 || session_hours > MAX_SESSION_HOURS {
        problems.push(
            file,
            origin.key("session_hours"),
            format!("must be between 1 and {MAX_SESSION_HOURS}"),
        );
    }
    if problems.len() > before {
        return None;
    }
    Some(AdminConfig {
        hosts,
        credentials_file: credentials_file?,
        tenant_settings_file: tenant_settings_file?,
        tls,
        argon2,
        session_hours,
    })
}

/// Without `hosts`: the listen address itself, and `localhost` on loopback.
fn default_hosts(admin_listen: Option<SocketAddr>) -> Vec<String> {
    let Some(addr) = admin_listen else {
        return Vec::new();
    };
    let mut hosts = vec![match addr {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }];
    if addr.ip().is_loopback() {
        hosts.push("localhost".to_string());
    }
    hosts
}

/// What `check-config` and the gateway's start warn about: an admin
/// listener other networks reach while it speaks plain HTTP (tokens,
/// passwords and session cookies would cross them in clear).
pub fn admin_warnings(admin_listen: SocketAddr, admin: &AdminConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    if !admin_listen.ip().is_loopback() && admin.tls.is_none() {
        warnings.push(format!(
            "node.admin_listen {admin_listen} is not a loopback address and [admin] has no \
             tls_cert: tokens, passwords and session cookies would cross the network in clear"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(tls: bool) -> AdminConfig {
        AdminConfig {
            hosts: vec![],
            credentials_file: PathBuf::from("/c.json"),
            tenant_settings_file: PathBuf::from("/t.json"),
            tls: tls.then(|| AdminTls {
                cert: PathBuf::from("/cert.pem"),
                key: PathBuf::from("/key.pem"),
            }),
            argon2: Argon2Params::default(),
            session_hours: 8,
        }
    }

    #[test]
    fn plain_http_beyond_loopback_is_warned_about() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lan: SocketAddr = "10.0.0.5:8080".parse().unwrap();
        assert!(admin_warnings(loopback, &admin(false)).is_empty());
        assert_eq!(admin_warnings(lan, &admin(false)).len(), 1);
        assert!(admin_warnings(lan, &admin(true)).is_empty());
    }

    #[test]
    fn default_hosts_are_the_listen_address_and_localhost_on_loopback() {
        assert_eq!(
            default_hosts(Some("127.0.0.1:80".parse().unwrap())),
            vec!["127.0.0.1", "localhost"]
        );
        assert_eq!(
            default_hosts(Some("[::1]:80".parse().unwrap())),
            vec!["[::1]", "localhost"]
        );
        assert_eq!(
            default_hosts(Some("10.1.2.3:80".parse().unwrap())),
            vec!["10.1.2.3"]
        );
    }
}
