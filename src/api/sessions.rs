//! Console sessions: a random id in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` over TLS), kept in memory only (a restart logs
//! everyone out), with its own CSRF token that every state-changing
//! request must echo in `X-CSRF-Token`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue};
use base64::Engine;
use rand::RngCore;

use super::auth::Source;

pub const COOKIE_NAME: &str = "greffier_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct Session {
    pub source: Source,
    pub csrf: String,
    expires: Instant,
}

/// The session id a request's cookie carries.
pub struct SessionCookie(String);

impl SessionCookie {
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .map(|(_, value)| SessionCookie(value.to_string()))
    }
}

pub struct Sessions {
    lifetime: Duration,
    secure: bool,
    live: Mutex<HashMap<String, Session>>,
}

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    pub fn new(lifetime: Duration, secure: bool) -> Self {
        Sessions {
            lifetime,
            secure,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session; returns its `Set-Cookie` value and CSRF token.
    pub fn open(&self, source: Source) -> (HeaderValue, String) {
        let id = random_text();
        let csrf = random_text();
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, session| session.expires > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live
                .iter()
                .min_by_key(|(_, session)| session.expires)
                .map(|(id, _)| id.clone())
            {
                live.remove(&oldest);
            }
        }
        live.insert(
            id.clone(),
            Session {
                source,
                csrf: csrf.clone(),
                expires: now + self.lifetime,
            },
        );
        (self.cookie(&id, self.lifetime.as_secs()), csrf)
    }

    pub fn get(&self, cookie: &SessionCookie) -> Option<Session> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(&cookie.0)
            .filter(|session| session.expires > Instant::now())
            .cloned()
    }

    /// Ends a session; returns the `Set-Cookie` value that clears it.
    pub fn close(&self, cookie: &SessionCookie) -> HeaderValue {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.remove(&cookie.0);
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}
