//! Who is asking: a bearer token (`Authorization: Bearer grf_…`) or a
//! console session cookie, checked against the credentials file as it is
//! now (a revoked token or removed user stops at its next request).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use chrono::Utc;
use greffier_vault::audit::{Actor as AuditActor, Origin, Role};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::credentials::{file_stamp, verify_secret, Credentials, Grant, PresentedToken};
use super::problem::Problem;
use super::sessions::{SessionCookie, CSRF_HEADER};
use super::Api;
use crate::ops::Actor;

/// Which credential a principal came in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A token, by id.
    Token(String),
    /// A console user, by name.
    User(String),
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub source: Source,
    /// The token's or user's name (audit entries carry it).
    pub name: String,
    pub grant: Grant,
    /// For a user: the numbers that make a call theirs.
    pub numbers: Vec<String>,
    /// Came in with a session cookie (state changes then need the CSRF token).
    pub via_session: bool,
}

impl Principal {
    pub fn role(&self) -> Role {
        self.grant.role
    }

    /// The operations layer's view of this caller.
    pub fn actor(&self) -> Actor {
        let prefixed = match &self.source {
            Source::Token(_) => format!("token.{}", self.name),
            Source::User(_) => format!("user.{}", self.name),
        };
        let name = AuditActor::new(&prefixed)
            .or_else(|_| AuditActor::new(&self.name))
            .unwrap_or_else(|_| AuditActor::cli());
        Actor {
            name,
            role: self.grant.role,
            origin: Origin::Api,
        }
    }

    /// Whether this caller may see `tenant` at all (else: 404).
    pub fn sees_tenant(&self, tenant: &str) -> bool {
        match &self.grant.tenant {
            None => self.grant.role == Role::Operator,
            Some(own) => own == tenant,
        }
    }
}

/// The credentials file as last read, and the tokens already verified
/// since (their SHA-256, so that Argon2 runs once per token and file).
pub struct CredentialCache {
    path: PathBuf,
    state: Mutex<Loaded>,
    /// Argon2 verifications running at once: each takes the configured
    /// memory, so a flood of wrong passwords queues instead of exhausting it.
    hashing: tokio::sync::Semaphore,
}

/// Argon2 verifications at once (64 MiB each with the defaults).
const CONCURRENT_VERIFICATIONS: usize = 2;

#[derive(Default)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    credentials: Arc<Credentials>,
    verified: HashMap<String, [u8; 32]>,
}

impl CredentialCache {
    pub fn new(path: PathBuf) -> Self {
        CredentialCache {
            path,
            state: Mutex::new(Loaded::default()),
            hashing: tokio::sync::Semaphore::new(CONCURRENT_VERIFICATIONS),
        }
    }

    /// The credentials as they are on disk now.
    pub fn current(&self) -> Arc<Credentials> {
        let stamp = file_stamp(&self.path);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.stamp != stamp || stamp.is_none() {
            match Credentials::load(&self.path) {
                Ok(credentials) => {
                    state.credentials = Arc::new(credentials);
                    state.verified.clear();
                    state.stamp = stamp;
                }
                Err(error) => {
                    // Half-written by hand, say: nobody gets in until fixed.
                    tracing::error!(error = %format!("{error:#}"), "admin credentials unreadable; every request is refused");
                    state.credentials = Arc::new(Credentials::default());
                    state.verified.clear();
                    state.stamp = None;
                }
            }
        }
        state.credentials.clone()
    }

    fn known_digest(&self, id: &str) -> Option<[u8; 32]> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.verified.get(id).copied()
    }

    fn remember(&self, id: &str, digest: [u8; 32]) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.verified.insert(id.to_string(), digest);
    }

    /// Argon2id verification off the async threads, a few at a time.
    async fn verify(&self, secret: &str, hash: &str) -> bool {
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        let (secret, hash) = (
            zeroize::Zeroizing::new(secret.to_string()),
            hash.to_string(),
        );
        tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
            .await
            .unwrap_or(false)
    }

    /// The principal a bearer token stands for, if it is valid now.
    pub async fn by_token(self: &Arc<Self>, text: &str) -> Option<Principal> {
        let presented = PresentedToken::parse(text)?;
        let credentials = self.current();
        let entry = credentials.token(presented.id)?.clone();
        if entry.expired(Utc::now()) {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(presented.secret.as_bytes()).into();
        let known = self.known_digest(&entry.id);
        let valid = match known {
            Some(known) => bool::from(known.ct_eq(&digest)),
            None => {
                let valid = self.verify(presented.secret, &entry.hash).await;
                if valid {
                    self.remember(&entry.id, digest);
                }
                valid
            }
        };
        valid.then(|| Principal {
            source: Source::Token(entry.id.clone()),
            name: entry.name.clone(),
            grant: entry.grant.clone(),
            numbers: Vec::new(),
            via_session: false,
        })
    }

    /// The principal of a username and password, if they match.
    pub async fn by_password(
        self: &Arc<Self>,
        username: &str,
        password: &str,
    ) -> Option<Principal> {
        let credentials = self.current();
        let entry = credentials.user(username).cloned();
        // A missing user costs the same hash as a wrong password.
        let hash = entry.as_ref().map_or(DUMMY_HASH, |user| user.hash.as_str());
        let valid = self.verify(password, hash).await;
        let entry = entry.filter(|_| valid)?;
        Some(Principal {
            source: Source::User(entry.username.clone()),
            name: entry.username.clone(),
            grant: entry.grant.clone(),
            numbers: entry.numbers.clone(),
            via_session: false,
        })
    }

    /// A session's principal, from the credentials as they are now (gone
    /// when its token was revoked or its user removed).
    pub fn by_source(&self, source: &Source) -> Option<Principal> {
        let credentials = self.current();
        match source {
            Source::Token(id) => {
                let entry = credentials.token(id)?;
                (!entry.expired(Utc::now())).then(|| Principal {
                    source: source.clone(),
                    name: entry.name.clone(),
                    grant: entry.grant.clone(),
                    numbers: Vec::new(),
                    via_session: true,
                })
            }
            Source::User(username) => {
                let entry = credentials.user(username)?;
                Some(Principal {
                    source: source.clone(),
                    name: entry.username.clone(),
                    grant: entry.grant.clone(),
                    numbers: entry.numbers.clone(),
                    via_session: true,
                })
            }
        }
    }
}

/// Argon2id of nothing anyone knows, with the default cost: verified
/// against when the user does not exist.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$2bV4sE9Q5qg0vVkq7m6c5mNqz5cJqKQ9Zr0Z3lJc0xk";

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<Arc<Api>> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, Problem> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let text = value.to_str().map_err(|_| Problem::unauthorized())?;
            let token = text
                .strip_prefix("Bearer ")
                .ok_or_else(Problem::unauthorized)?;
            return api
                .credentials
                .by_token(token.trim())
                .await
                .ok_or_else(Problem::unauthorized);
        }
        let cookie =
            SessionCookie::from_headers(&parts.headers).ok_or_else(Problem::unauthorized)?;
        let session = api
            .sessions
            .get(&cookie)
            .ok_or_else(Problem::unauthorized)?;
        if !is_safe(&parts.method) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("");
            if !bool::from(presented.as_bytes().ct_eq(session.csrf.as_bytes())) {
                return Err(Problem::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "a state-changing request with a session needs its CSRF token in X-CSRF-Token",
                ));
            }
        }
        api.credentials
            .by_source(&session.source)
            .ok_or_else(Problem::unauthorized)
    }
}
