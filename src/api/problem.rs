//! Errors as RFC 9457 problem details (`application/problem+json`). They
//! never carry personal data: numbers, call ids and tokens stay out.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One problem: its status, a short title, and what to do about it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: Some(detail.into()),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token or session is required",
        )
    }

    /// Missing, or another tenant's: the answer is the same.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "this role may not do that")
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn internal(error: &anyhow::Error) -> Self {
        // The chain names objects by their ids and tenants, never numbers;
        // it goes to the log, the client gets a generic answer.
        tracing::error!(error = %format!("{error:#}"), "admin API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the operation failed; the gateway's log says why",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"greffier\""),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, Problem>;
