//! The checks every request of the admin listener passes first: its `Host`
//! must be one of `[admin] hosts` (else 421: a DNS-rebinding page reaches
//! the listener under its own name), and a state-changing request that a
//! browser marks as coming from another origin is refused (403).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;

/// The configured admin names, lowercase, without port.
#[derive(Clone)]
pub struct AdminHosts(pub Arc<Vec<String>>);

/// The host part of a `Host` header or of an origin's authority.
fn host_without_port(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return format!("[{}]", &rest[..end]);
        }
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_string(),
        _ => authority,
    }
}

impl AdminHosts {
    fn allows(&self, authority: &str) -> bool {
        let host = host_without_port(authority);
        self.0.contains(&host)
    }

    /// Whether a browser said the request comes from elsewhere.
    fn cross_site(&self, headers: &HeaderMap) -> bool {
        let fetch_site = headers
            .get("sec-fetch-site")
            .and_then(|value| value.to_str().ok());
        if matches!(fetch_site, Some("cross-site" | "same-site")) {
            return true;
        }
        match headers.get(header::ORIGIN).map(|value| value.to_str()) {
            None => false,
            Some(Ok(origin)) => {
                let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
                origin == "null" || !self.allows(authority)
            }
            Some(Err(_)) => true,
        }
    }
}

pub async fn check_host_and_origin(
    State(hosts): State<AdminHosts>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    if !host.is_some_and(|host| hosts.allows(&host)) {
        return Problem::new(
            StatusCode::MISDIRECTED_REQUEST,
            "this name is not one the admin API answers to ([admin] hosts)",
        )
        .into_response();
    }
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe && hosts.cross_site(request.headers()) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "state-changing requests from another origin are refused",
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> AdminHosts {
        AdminHosts(Arc::new(vec![
            "127.0.0.1".into(),
            "admin.example.net".into(),
            "[::1]".into(),
        ]))
    }

    #[test]
    fn hosts_match_without_their_port() {
        let hosts = hosts();
        assert!(hosts.allows("127.0.0.1:9000"));
        assert!(hosts.allows("Admin.Example.Net"));
        assert!(hosts.allows("[::1]:8443"));
        assert!(!hosts.allows("evil.example:9000"));
        assert!(!hosts.allows("127.0.0.1.evil.example"));
    }

    #[test]
    fn foreign_origins_are_cross_site() {
        let hosts = hosts();
        let mut headers = HeaderMap::new();
        assert!(!hosts.cross_site(&headers));
        headers.insert(header::ORIGIN, "https://admin.example.net".parse().unwrap());
        assert!(!hosts.cross_site(&headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(hosts.cross_site(&headers));
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(hosts.cross_site(&headers));
    }
}
