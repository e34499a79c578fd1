//! A call's transcript through the admin API. The routes hang off the
//! recording's and follow its role column: those who may read a recording
//! read its transcript (a `user` only for its own calls), never the
//! operator; admins delete it. Each read writes a `read` entry before any
//! text is sent.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use greffier_vault::audit::{Action, Role};
use greffier_vault::store::RecordId;
use greffier_vault::TenantId;

use super::auth::Principal;
use super::problem::{ApiResult, Problem};
use super::routes::{internal, scoped_record, visible_recording};
use super::Api;
use crate::ops::transcripts::{TranscriptDeletion, TranscriptionStatus};
use crate::ops::{Held, Operation, Ops};

/// A `user` sees a record only through its recording (the parties are in
/// the manifest); the other roles see every record of their tenant.
async fn visible_record(
    ops: &Ops,
    principal: &Principal,
    tenant: &TenantId,
    record: &RecordId,
) -> ApiResult<()> {
    if principal.role() == Role::User {
        visible_recording(ops, principal, tenant, record).await?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/recordings/{record}/transcript", tag = "recordings",
    params(("tenant" = String, Path), ("record" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "application/json",
            description = "The decrypted transcript: `language` (when known), `provider`, `model`, and \
                `segments`: `speaker` (`caller` or `callee`), `start` and `end` (seconds from the \
                call's start), `text`"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "No such call, or no transcript (not \
            transcribed, not yet, or past the transcript retention)")))]
pub async fn get_transcript(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, record)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (tenant, record, ops) = scoped_record(
        &api,
        &principal,
        (&tenant, &record),
        Operation::ReadTranscript,
        Some(Action::Read),
    )
    .await?;
    visible_record(&ops, &principal, &tenant, &record).await?;
    let transcript = ops
        .read_transcript(&principal.actor(), &tenant, &record)
        .await
        .map_err(internal)?
        .ok_or_else(Problem::not_found)?;
    let mut response = Json(transcript).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/recordings/{record}/transcript/status", tag = "recordings",
    params(("tenant" = String, Path), ("record" = uuid::Uuid, Path)),
    responses((status = 200, body = TranscriptionStatus),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "No such call, or neither a job nor a transcript")))]
pub async fn transcript_status(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, record)): Path<(String, String)>,
) -> ApiResult<Json<TranscriptionStatus>> {
    let (tenant, record, ops) = scoped_record(
        &api,
        &principal,
        (&tenant, &record),
        Operation::ListRecordings,
        Some(Action::Read),
    )
    .await?;
    visible_record(&ops, &principal, &tenant, &record).await?;
    let status = ops
        .transcription_status(&principal.actor(), &tenant, &record)
        .await
        .map_err(internal)?
        .ok_or_else(Problem::not_found)?;
    Ok(Json(status))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/recordings/{record}/transcript", tag = "recordings",
    params(("tenant" = String, Path), ("record" = uuid::Uuid, Path)),
    responses((status = 204, description = "The transcript is deleted; the recording stays"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "No such call, or no transcript"),
        (status = 409, body = Problem, description = "A legal hold protects the call")))]
pub async fn delete_transcript(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, record)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (tenant, record, ops) = scoped_record(
        &api,
        &principal,
        (&tenant, &record),
        Operation::DeleteTranscript,
        Some(Action::Deleted),
    )
    .await?;
    match ops
        .delete_transcript(&principal.actor(), &tenant, &record)
        .await
    {
        Ok(TranscriptDeletion::Deleted) => Ok(StatusCode::NO_CONTENT),
        Ok(TranscriptDeletion::NotStored) => Err(Problem::not_found()),
        Err(error) if error.downcast_ref::<Held>().is_some() => Err(Problem::new(
            StatusCode::CONFLICT,
            "a legal hold protects this call",
        )),
        Err(error) => Err(internal(error)),
    }
}
