//! The OpenAPI 3.1 description of `/v1/`, generated from the handlers'
//! annotations; served at `/v1/openapi.json` and checked in as
//! `docs/openapi.json` (a test compares them).

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::Problem;
use super::routes::*;
use super::subjects::*;
use super::transcripts::*;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `greffier token create`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::sessions::COOKIE_NAME,
                "The console's session; state changes also need X-CSRF-Token",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "greffier admin API",
        description = "Calls, recordings, transcripts, retention, holds, audit and credentials of a greffier node. \
            Errors are RFC 9457 problem details. Another tenant's resources answer 404, as missing ones do.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
        version = "1"
    ),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    paths(
        session_open, session_get, session_close,
        list_subprocessors, get_objections, put_objections,
        list_calls, pause_call, resume_call,
        list_recordings, get_recording, recording_audio, delete_recording,
        get_transcript, transcript_status, delete_transcript,
        get_retention, put_retention,
        list_holds, create_hold, release_hold,
        export_audit,
        start_subject_export, get_subject_export, download_subject_export, erase_subject,
        list_tokens, create_token, revoke_token,
        list_users, create_user, remove_user,
    ),
    components(schemas(Problem))
)]
pub struct ApiDoc;

/// The document, as served and as checked in (pretty, with a final newline).
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}
