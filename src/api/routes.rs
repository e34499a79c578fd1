//! The `/v1/` endpoints. Each one authenticates ([`Principal`]), scopes to
//! the tenant in its path (another tenant's answers 404, as a missing one
//! does), checks the role table ([`permitted`]) and calls the operations
//! layer.

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use greffier_vault::audit::{Action, Role};
use greffier_vault::catalog::{Direction, RecordingEntry, E164};
use greffier_vault::store::RecordId;
use greffier_vault::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::{Principal, Source};
use super::credentials::{role_name, Credentials, Grant};
use super::problem::{ApiResult, Problem};
use super::Api;
use crate::calls::{ControlError, RecordingOrder};
use crate::config::normalize_number;
use crate::ops::calls::{CallOpError, CallRef};
use crate::ops::holds::{HoldSpec, HoldTarget};
use crate::ops::{permitted, Held, Operation, Ops};

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/openapi.json", get(super::openapi::serve))
        .route(
            "/v1/session",
            get(session_get).post(session_open).delete(session_close),
        )
        .route("/v1/subprocessors", get(list_subprocessors))
        .route("/v1/tenants/{tenant}/calls", get(list_calls))
        .route("/v1/tenants/{tenant}/calls/{call}/pause", post(pause_call))
        .route(
            "/v1/tenants/{tenant}/calls/{call}/resume",
            post(resume_call),
        )
        .route("/v1/tenants/{tenant}/recordings", get(list_recordings))
        .route(
            "/v1/tenants/{tenant}/recordings/{record}",
            get(get_recording).delete(delete_recording),
        )
        .route(
            "/v1/tenants/{tenant}/recordings/{record}/audio",
            get(recording_audio),
        )
        .route(
            "/v1/tenants/{tenant}/recordings/{record}/transcript",
            get(super::transcripts::get_transcript).delete(super::transcripts::delete_transcript),
        )
        .route(
            "/v1/tenants/{tenant}/recordings/{record}/transcript/status",
            get(super::transcripts::transcript_status),
        )
        .route(
            "/v1/tenants/{tenant}/retention",
            get(get_retention).put(put_retention),
        )
        .route(
            "/v1/tenants/{tenant}/holds",
            get(list_holds).post(create_hold),
        )
        .route(
            "/v1/tenants/{tenant}/holds/{hold}",
            axum::routing::delete(release_hold),
        )
        .route("/v1/tenants/{tenant}/audit", get(export_audit))
        .route(
            "/v1/tenants/{tenant}/subjects/export",
            post(super::subjects::start_subject_export),
        )
        .route(
            "/v1/tenants/{tenant}/subjects/exports/{job}",
            get(super::subjects::get_subject_export),
        )
        .route(
            "/v1/tenants/{tenant}/subjects/exports/{job}/zip",
            get(super::subjects::download_subject_export),
        )
        .route(
            "/v1/tenants/{tenant}/subjects/erase",
            post(super::subjects::erase_subject),
        )
        .route(
            "/v1/tenants/{tenant}/objections",
            get(get_objections).put(put_objections),
        )
        .route(
            "/v1/tenants/{tenant}/tokens",
            get(list_tokens).post(create_token),
        )
        .route(
            "/v1/tenants/{tenant}/tokens/{token}",
            axum::routing::delete(revoke_token),
        )
        .route(
            "/v1/tenants/{tenant}/users",
            get(list_users).post(create_user),
        )
        .route(
            "/v1/tenants/{tenant}/users/{username}",
            axum::routing::delete(remove_user),
        )
        .with_state(api)
}

// --- Common steps --------------------------------------------------------

/// The tenant of the path, if this caller may see it (else 404) and its role
/// may do `operation` there (else 403; a refused operation on personal data,
/// `audited`, leaves its audit entry).
pub(super) async fn scoped(
    api: &Api,
    principal: &Principal,
    tenant: &str,
    operation: Operation,
    audited: Option<Action>,
) -> ApiResult<TenantId> {
    let configured = api.config().tenant(tenant).is_some();
    if !configured || !principal.sees_tenant(tenant) {
        return Err(Problem::not_found());
    }
    let tenant = crate::vault_setup::tenant_id(tenant).map_err(|_| Problem::not_found())?;
    if permitted(principal.role(), operation) {
        return Ok(tenant);
    }
    if let (Some(action), Ok(ops)) = (audited, api.ops()) {
        // It fails by design: this writes the refusal's entry.
        let _refused = ops
            .authorize(&principal.actor(), operation, &tenant, action)
            .await;
    }
    Err(Problem::forbidden())
}

pub(super) fn ops(api: &Api) -> ApiResult<Ops> {
    api.ops().map_err(|error| Problem::internal(&error))
}

pub(super) fn internal(error: anyhow::Error) -> Problem {
    Problem::internal(&error)
}

pub(super) fn parse_uuid(text: &str) -> ApiResult<Uuid> {
    // A malformed id names nothing: the same answer as a missing one.
    Uuid::parse_str(text).map_err(|_| Problem::not_found())
}

pub(super) fn parse_record(text: &str) -> ApiResult<RecordId> {
    RecordId::from_uuid(parse_uuid(text)?).map_err(|_| Problem::not_found())
}

/// The numbers that make a call a `user`'s (theirs, normalised).
fn own_numbers(principal: &Principal) -> Vec<String> {
    principal
        .numbers
        .iter()
        .filter_map(|number| normalize_number(number))
        .collect()
}

// --- Session -------------------------------------------------------------

/// A console login: a token, or a username and password.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Who is logged in, and the CSRF token state changes must carry.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub name: String,
    pub role: String,
    pub tenant: Option<String>,
    /// Echo it in `X-CSRF-Token` on every POST, PUT and DELETE.
    pub csrf_token: Option<String>,
    /// The operations this role may do (`list_calls`, `control_call`,
    /// `list_recordings`, `read_recording`, `delete_recording`,
    /// `read_transcript`, `delete_transcript`,
    /// `read_retention`, `set_retention`, `set_hold`, `release_hold`,
    /// `list_holds`, `export_audit`, `read_objections`, `set_objections`,
    /// `manage_credentials`), for a console to show only what works.
    pub may: Vec<String>,
}

fn session_view(principal: &Principal, csrf: Option<String>) -> SessionView {
    SessionView {
        name: principal.name.clone(),
        role: role_name::as_str(principal.role()).to_string(),
        tenant: principal.grant.tenant.clone(),
        csrf_token: csrf,
        may: Operation::ALL
            .into_iter()
            .filter(|operation| *operation != Operation::SweepRetention)
            .filter(|operation| permitted(principal.role(), *operation))
            .map(|operation| operation.id().to_string())
            .collect(),
    }
}

#[utoipa::path(post, path = "/v1/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, description = "Logged in; the cookie is set", body = SessionView),
        (status = 401, body = Problem)))]
pub async fn session_open(
    State(api): State<Arc<Api>>,
    Json(login): Json<LoginRequest>,
) -> ApiResult<Response> {
    let principal = match (&login.token, &login.username, &login.password) {
        (Some(token), None, None) => api.credentials.by_token(token).await,
        (None, Some(username), Some(password)) => {
            api.credentials.by_password(username, password).await
        }
        _ => None,
    }
    .ok_or_else(Problem::unauthorized)?;
    let (cookie, csrf) = api.sessions.open(principal.source.clone());
    let mut response = Json(session_view(&principal, Some(csrf))).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

#[utoipa::path(get, path = "/v1/session", tag = "session",
    responses((status = 200, body = SessionView), (status = 401, body = Problem)))]
pub async fn session_get(
    State(api): State<Arc<Api>>,
    principal: Principal,
    headers: HeaderMap,
) -> Json<SessionView> {
    let csrf = super::sessions::SessionCookie::from_headers(&headers)
        .and_then(|cookie| api.sessions.get(&cookie))
        .filter(|_| principal.via_session)
        .map(|session| session.csrf);
    Json(session_view(&principal, csrf))
}

#[utoipa::path(delete, path = "/v1/session", tag = "session",
    responses((status = 204, description = "Logged out"), (status = 401, body = Problem)))]
pub async fn session_close(
    State(api): State<Arc<Api>>,
    _principal: Principal,
    headers: HeaderMap,
) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = super::sessions::SessionCookie::from_headers(&headers) {
        let cleared = api.sessions.close(&cookie);
        response.headers_mut().insert(header::SET_COOKIE, cleared);
    }
    response
}

// --- Sub-processors and objections -----------------------------------------

/// A declared sub-processor (DPA appendix B).
#[derive(Serialize, ToSchema)]
pub struct SubprocessorView {
    pub name: String,
    pub purpose: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// `none` (inside the EEA), `scc` or `adequacy`.
    pub transfer_mechanism: String,
    /// When the clients were told.
    pub announced: String,
}

#[utoipa::path(get, path = "/v1/subprocessors", tag = "subprocessors",
    responses((status = 200, body = [SubprocessorView]), (status = 401, body = Problem)))]
pub async fn list_subprocessors(
    State(api): State<Arc<Api>>,
    _principal: Principal,
) -> Json<Vec<SubprocessorView>> {
    let config = api.config();
    Json(
        config
            .subprocessors
            .iter()
            .map(|s| SubprocessorView {
                name: s.name.clone(),
                purpose: s.purpose.clone(),
                country: s.country.to_string(),
                transfer_mechanism: s.transfer_mechanism.to_string(),
                announced: s.announced.to_string(),
            })
            .collect(),
    )
}

/// The sub-processors a tenant objected to: never sent anything.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Objections {
    pub subprocessors: Vec<String>,
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/objections", tag = "subprocessors",
    params(("tenant" = String, Path)),
    responses((status = 200, body = Objections), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_objections(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Objections>> {
    let tenant = scoped(&api, &principal, &tenant, Operation::ReadObjections, None).await?;
    let names = ops(&api)?
        .objections(&principal.actor(), &tenant)
        .await
        .map_err(internal)?;
    Ok(Json(Objections {
        subprocessors: names,
    }))
}

#[utoipa::path(put, path = "/v1/tenants/{tenant}/objections", tag = "subprocessors",
    params(("tenant" = String, Path)), request_body = Objections,
    responses((status = 200, body = Objections), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn put_objections(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(body): Json<Objections>,
) -> ApiResult<Json<Objections>> {
    let tenant = scoped(&api, &principal, &tenant, Operation::SetObjections, None).await?;
    let names = ops(&api)?
        .set_objections(&principal.actor(), &tenant, body.subprocessors)
        .await
        .map_err(|error| Problem::bad_request(format!("{error:#}")))?;
    Ok(Json(Objections {
        subprocessors: names,
    }))
}

// --- Calls in progress ---------------------------------------------------

/// A call in progress: no numbers, no addresses.
#[derive(Serialize, ToSchema)]
pub struct CallView {
    pub call_id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub start: DateTime<Utc>,
    pub recorded: bool,
    pub paused: bool,
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/calls", tag = "calls",
    params(("tenant" = String, Path)),
    responses((status = 200, body = [CallView]), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_calls(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<CallView>>> {
    let tenant = scoped(&api, &principal, &tenant, Operation::ListCalls, None).await?;
    let own = own_numbers(&principal);
    let calls = api
        .calls
        .list()
        .into_iter()
        .filter(|call| call.tenant == tenant.as_str())
        .filter(|call| {
            principal.role() != Role::User || call.parties.iter().any(|party| own.contains(party))
        })
        .map(|call| CallView {
            call_id: call.call_id,
            direction: call.direction.to_string(),
            start: call.start,
            recorded: call.recorded,
            paused: call.paused,
        })
        .collect();
    Ok(Json(calls))
}

#[utoipa::path(post, path = "/v1/tenants/{tenant}/calls/{call}/pause", tag = "calls",
    params(("tenant" = String, Path), ("call" = Uuid, Path)),
    responses((status = 204, description = "The recording is paused"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn pause_call(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, call)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    control_call(&api, &principal, &tenant, &call, RecordingOrder::Pause).await
}

#[utoipa::path(post, path = "/v1/tenants/{tenant}/calls/{call}/resume", tag = "calls",
    params(("tenant" = String, Path), ("call" = Uuid, Path)),
    responses((status = 204, description = "The recording goes on"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resume_call(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, call)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    control_call(&api, &principal, &tenant, &call, RecordingOrder::Resume).await
}

async fn control_call(
    api: &Api,
    principal: &Principal,
    tenant: &str,
    call: &str,
    order: RecordingOrder,
) -> ApiResult<StatusCode> {
    let tenant = scoped(api, principal, tenant, Operation::ControlCall, None).await?;
    let call_id = parse_uuid(call)?;
    let own = own_numbers(principal);
    // A user's order about a call none of its numbers is in is answered as
    // for a call that does not exist.
    let summary = api
        .calls
        .find(call_id)
        .filter(|call| call.tenant == tenant.as_str())
        .filter(|call| {
            principal.role() != Role::User || call.parties.iter().any(|party| own.contains(party))
        })
        .ok_or_else(Problem::not_found)?;
    let call = CallRef {
        id: summary.id,
        tenant: Some(tenant),
    };
    let actor = principal.actor();
    let done = match order {
        RecordingOrder::Pause => api.live.pause(&actor, call).await,
        RecordingOrder::Resume => api.live.resume(&actor, call).await,
    };
    match done {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(CallOpError::Control(ControlError::UnknownCall)) => Err(Problem::not_found()),
        Err(CallOpError::Control(ControlError::NotRecorded)) => Err(Problem::new(
            StatusCode::CONFLICT,
            "the call is not recorded",
        )),
        Err(CallOpError::Refused { .. }) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "this role may not pause or resume recordings",
        )),
        Err(CallOpError::Audit(_)) => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the order cannot be audited now; nothing was changed",
        )),
    }
}

// --- Recordings ----------------------------------------------------------

/// A recording's catalogue entry: no numbers.
#[derive(Serialize, ToSchema)]
pub struct RecordingView {
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub duration_secs: Option<i64>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The call ended before its recording was closed normally.
    pub incomplete: bool,
    /// Encodings held as silence in the audio.
    pub undecodable: Vec<String>,
    /// Whether the call's transcript is stored
    /// (`…/recordings/{record}/transcript`).
    pub transcript: bool,
}

impl RecordingView {
    fn new(entry: &RecordingEntry, transcript: bool) -> Self {
        RecordingView {
            id: entry.id.uuid(),
            start: entry.start,
            duration_secs: entry.duration.map(|d| d.num_seconds()),
            direction: match entry.direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            }
            .to_string(),
            incomplete: entry.incomplete,
            undecodable: entry.undecodable.clone(),
            transcript,
        }
    }
}

/// Filters and page of a recordings list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordingQuery {
    /// First day (UTC, included); default: as far back as retention goes.
    pub from: Option<NaiveDate>,
    /// Last day (UTC, included); default: today.
    pub to: Option<NaiveDate>,
    /// Only calls with this number (E.164) as a party.
    pub number: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
    /// Entries per page, 1 to 500 (default 100).
    pub limit: Option<usize>,
}

/// One page of recordings, oldest first.
#[derive(Serialize, ToSchema)]
pub struct RecordingPage {
    pub recordings: Vec<RecordingView>,
    /// Pass it as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<Uuid>,
}

const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 100;

fn day_range(api: &Api, query: &RecordingQuery) -> ApiResult<Range<DateTime<Utc>>> {
    let today = Utc::now().date_naive();
    let to = query.to.unwrap_or(today);
    let longest = i64::from(api.config().limits.max_recordings_days);
    let from = query.from.unwrap_or(to - Duration::days(longest));
    if from > to {
        return Err(Problem::bad_request("from is after to"));
    }
    if (to - from).num_days() > longest.max(1) {
        return Err(Problem::bad_request(format!(
            "at most {longest} days at once (the node's longest retention)"
        )));
    }
    let start = from.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = (to + Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    Ok(start..end)
}

/// The tenant's recordings in `range` this caller may see: a `user` only
/// the calls of its own numbers.
async fn visible_recordings(
    ops: &Ops,
    principal: &Principal,
    tenant: &TenantId,
    range: Range<DateTime<Utc>>,
    number: Option<&str>,
) -> ApiResult<Vec<RecordingEntry>> {
    let actor = principal.actor();
    let asked = match number {
        Some(text) => Some(
            normalize_number(text)
                .ok_or_else(|| Problem::bad_request("number: not an E.164 number"))?,
        ),
        None => None,
    };
    let numbers: Option<Vec<String>> = if principal.role() == Role::User {
        let own = own_numbers(principal);
        Some(match asked {
            Some(asked) => own.into_iter().filter(|n| *n == asked).collect(),
            None => own,
        })
    } else {
        asked.map(|asked| vec![asked])
    };
    let mut entries = Vec::new();
    match numbers {
        None => {
            entries = ops
                .list_recordings(&actor, tenant, range, None)
                .await
                .map_err(internal)?;
        }
        Some(numbers) => {
            for number in numbers {
                let number = E164::new(&number)
                    .map_err(|_| Problem::bad_request("number: not an E.164 number"))?;
                entries.extend(
                    ops.list_recordings(&actor, tenant, range.clone(), Some(&number))
                        .await
                        .map_err(internal)?,
                );
            }
        }
    }
    entries.sort_by_key(|entry| (entry.start, entry.id.uuid()));
    entries.dedup_by_key(|entry| entry.id);
    Ok(entries)
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/recordings", tag = "recordings",
    params(("tenant" = String, Path), RecordingQuery),
    responses((status = 200, body = RecordingPage), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_recordings(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
    Query(query): Query<RecordingQuery>,
) -> ApiResult<Json<RecordingPage>> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ListRecordings,
        Some(Action::Read),
    )
    .await?;
    let range = day_range(&api, &query)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let ops = ops(&api)?;
    let entries =
        visible_recordings(&ops, &principal, &tenant, range, query.number.as_deref()).await?;
    let after = match query.cursor {
        Some(cursor) => entries
            .iter()
            .position(|entry| entry.id.uuid() == cursor)
            .map_or(entries.len(), |at| at + 1),
        None => 0,
    };
    let page: Vec<&RecordingEntry> = entries.iter().skip(after).take(limit).collect();
    let next_cursor = (after + page.len() < entries.len())
        .then(|| page.last().map(|entry| entry.id.uuid()))
        .flatten();
    let ids: Vec<RecordId> = page.iter().map(|entry| entry.id).collect();
    let transcribed = ops.with_transcript(&tenant, &ids).await.map_err(internal)?;
    Ok(Json(RecordingPage {
        recordings: page
            .into_iter()
            .map(|entry| RecordingView::new(entry, transcribed.contains(&entry.id)))
            .collect(),
        next_cursor,
    }))
}

/// The recording if this caller may see it; else 404.
/// A route on one record: the tenant scoped and the role checked (as
/// [`scoped`]), the record's id parsed, and the operations layer to act with.
pub(super) async fn scoped_record(
    api: &Api,
    principal: &Principal,
    (tenant, record): (&str, &str),
    operation: Operation,
    audited: Option<Action>,
) -> ApiResult<(TenantId, RecordId, Ops)> {
    let tenant = scoped(api, principal, tenant, operation, audited).await?;
    let record = parse_record(record)?;
    Ok((tenant, record, ops(api)?))
}

pub(super) async fn visible_recording(
    ops: &Ops,
    principal: &Principal,
    tenant: &TenantId,
    record: &RecordId,
) -> ApiResult<RecordingEntry> {
    let found = ops
        .find_recording(&principal.actor(), tenant, record)
        .await
        .map_err(internal)?
        .ok_or_else(Problem::not_found)?;
    if principal.role() == Role::User {
        let day = record.timestamp();
        let range = (day - Duration::days(1))..(day + Duration::days(1));
        let own = visible_recordings(ops, principal, tenant, range, None).await?;
        if !own.iter().any(|entry| entry.id == *record) {
            return Err(Problem::not_found());
        }
    }
    Ok(found)
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/recordings/{record}", tag = "recordings",
    params(("tenant" = String, Path), ("record" = Uuid, Path)),
    responses((status = 200, body = RecordingView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_recording(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, record)): Path<(String, String)>,
) -> ApiResult<Json<RecordingView>> {
    let (tenant, record, ops) = scoped_record(
        &api,
        &principal,
        (&tenant, &record),
        Operation::ListRecordings,
        Some(Action::Read),
    )
    .await?;
    let entry = visible_recording(&ops, &principal, &tenant, &record).await?;
    let transcribed = ops
        .with_transcript(&tenant, &[record])
        .await
        .map_err(internal)?;
    Ok(Json(RecordingView::new(
        &entry,
        transcribed.contains(&record),
    )))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/recordings/{record}/audio", tag = "recordings",
    params(("tenant" = String, Path), ("record" = Uuid, Path),
        ("Range" = Option<String>, Header, description = "bytes=FIRST-LAST")),
    responses((status = 200, description = "The decrypted WAV", content_type = "audio/wav"),
        (status = 206, description = "The part asked for", content_type = "audio/wav"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 416, body = Problem)))]
pub async fn recording_audio(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, record)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (tenant, record, ops) = scoped_record(
        &api,
        &principal,
        (&tenant, &record),
        Operation::ReadRecording,
        Some(Action::Read),
    )
    .await?;
    visible_recording(&ops, &principal, &tenant, &record).await?;
    let read = ops
        .read_recording(&principal.actor(), &tenant, &record, true, false)
        .await
        .map_err(internal)?;
    let audio = read.recording.unwrap_or_default();
    audio_response(audio, headers.get(header::RANGE))
}

/// The whole WAV, or the one byte range asked for (RFC 9110 section 14).
fn audio_response(audio: Vec<u8>, range: Option<&HeaderValue>) -> ApiResult<Response> {
    let total = audio.len();
    let mut response = match range.and_then(|value| value.to_str().ok()) {
        None => Response::new(Body::from(audio)),
        Some(text) => {
            let Some((first, last)) = parse_range(text, total) else {
                let mut refused = Problem::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "the range is outside the recording",
                )
                .into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{total}")) {
                    refused.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(refused);
            };
            let part = audio[first..=last].to_vec();
            let mut response = Response::new(Body::from(part));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {first}-{last}/{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N`, one range only.
fn parse_range(text: &str, total: usize) -> Option<(usize, usize)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let length: usize = suffix.parse().ok()?;
            if length == 0 {
                return None;
            }
            (total.saturating_sub(length), total - 1)
        }
        (first, "") => (first.parse().ok()?, total - 1),
        (first, last) => (
            first.parse().ok()?,
            last.parse::<usize>().ok()?.min(total - 1),
        ),
    };
    (first <= last && first < total).then_some((first, last))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/recordings/{record}", tag = "recordings",
    params(("tenant" = String, Path), ("record" = Uuid, Path)),
    responses((status = 204, description = "Deleted with its manifest, payloads, index entries, transcript and transcription job"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn delete_recording(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, record)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (tenant, record, ops) = scoped_record(
        &api,
        &principal,
        (&tenant, &record),
        Operation::DeleteRecording,
        Some(Action::Deleted),
    )
    .await?;
    visible_recording(&ops, &principal, &tenant, &record).await?;
    // The operations layer refuses under a hold on the tenant, the record
    // or one of its numbers, and audits the refusal.
    match ops
        .delete_recording(&principal.actor(), &tenant, &record)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        // A hold on one of the call's numbers (its `held` entry is written).
        Err(error) if error.downcast_ref::<Held>().is_some() => Err(Problem::new(
            StatusCode::CONFLICT,
            "a legal hold protects this recording",
        )),
        Err(error) => Err(internal(error)),
    }
}

// --- Retention -----------------------------------------------------------

/// The tenant's retention in force and the node's bounds.
#[derive(Serialize, ToSchema)]
pub struct RetentionView {
    pub recordings_days: u32,
    pub transcripts_days: u32,
    pub max_recordings_days: u32,
    pub max_transcripts_days: u32,
}

/// A new retention, within the bounds.
#[derive(Deserialize, ToSchema)]
pub struct RetentionRequest {
    pub recordings_days: u32,
    pub transcripts_days: u32,
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/retention", tag = "retention",
    params(("tenant" = String, Path)),
    responses((status = 200, body = RetentionView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_retention(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<RetentionView>> {
    let tenant = scoped(&api, &principal, &tenant, Operation::ReadRetention, None).await?;
    retention_view(&api, &principal, &tenant).await
}

async fn retention_view(
    api: &Api,
    principal: &Principal,
    tenant: &TenantId,
) -> ApiResult<Json<RetentionView>> {
    let ops = ops(api)?;
    let retention = ops
        .retention(&principal.actor(), tenant)
        .await
        .map_err(internal)?;
    let limits = ops.config.limits;
    Ok(Json(RetentionView {
        recordings_days: retention.recordings_days.min(limits.max_recordings_days),
        transcripts_days: retention.transcripts_days.min(limits.max_transcripts_days),
        max_recordings_days: limits.max_recordings_days,
        max_transcripts_days: limits.max_transcripts_days,
    }))
}

#[utoipa::path(put, path = "/v1/tenants/{tenant}/retention", tag = "retention",
    params(("tenant" = String, Path)), request_body = RetentionRequest,
    responses((status = 200, body = RetentionView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_retention(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(body): Json<RetentionRequest>,
) -> ApiResult<Json<RetentionView>> {
    let tenant = scoped(&api, &principal, &tenant, Operation::SetRetention, None).await?;
    ops(&api)?
        .set_retention(
            &principal.actor(),
            &tenant,
            body.recordings_days,
            body.transcripts_days,
        )
        .await
        .map_err(|error| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{error:#}")))?;
    tracing::info!(tenant = %tenant, "retention changed through the admin API");
    retention_view(&api, &principal, &tenant).await
}

// --- Holds ---------------------------------------------------------------

/// A legal hold (its reason is not listed: it may name people).
#[derive(Serialize, ToSchema)]
pub struct HoldView {
    pub id: Uuid,
    /// `tenant`, `record` or `subject`.
    pub target: String,
    pub record: Option<Uuid>,
    pub created: DateTime<Utc>,
    pub until: Option<NaiveDate>,
}

/// A new hold: the whole tenant, one record, or one number's calls.
#[derive(Deserialize, ToSchema)]
pub struct HoldRequest {
    pub record: Option<Uuid>,
    pub number: Option<String>,
    pub reason: String,
    pub until: Option<NaiveDate>,
}

fn hold_view(hold: &crate::ops::holds::Hold) -> HoldView {
    let (target, record) = match &hold.target {
        HoldTarget::Tenant => ("tenant", None),
        HoldTarget::Record(id) => ("record", Some(id.uuid())),
        HoldTarget::Subject(_) => ("subject", None),
    };
    HoldView {
        id: hold.id,
        target: target.to_string(),
        record,
        created: hold.created,
        until: hold.until,
    }
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/holds", tag = "holds",
    params(("tenant" = String, Path)),
    responses((status = 200, body = [HoldView]), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_holds(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<HoldView>>> {
    let tenant = scoped(&api, &principal, &tenant, Operation::ListHolds, None).await?;
    let holds = ops(&api)?
        .list_holds(&principal.actor(), &tenant)
        .await
        .map_err(internal)?;
    Ok(Json(holds.iter().map(hold_view).collect()))
}

#[utoipa::path(post, path = "/v1/tenants/{tenant}/holds", tag = "holds",
    params(("tenant" = String, Path)), request_body = HoldRequest,
    responses((status = 201, body = HoldView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_hold(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(body): Json<HoldRequest>,
) -> ApiResult<(StatusCode, Json<HoldView>)> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::SetHold,
        Some(Action::Held),
    )
    .await?;
    let spec = match (body.record, body.number) {
        (None, None) => HoldSpec::Tenant,
        (Some(record), None) => HoldSpec::Record(
            RecordId::from_uuid(record)
                .map_err(|_| Problem::bad_request("record: not a record id"))?,
        ),
        (None, Some(number)) => HoldSpec::Number(
            E164::new(&number).map_err(|_| Problem::bad_request("number: not an E.164 number"))?,
        ),
        (Some(_), Some(_)) => return Err(Problem::bad_request("a record or a number, not both")),
    };
    let hold = ops(&api)?
        .set_hold(&principal.actor(), &tenant, spec, &body.reason, body.until)
        .await
        .map_err(|error| Problem::bad_request(format!("{error:#}")))?;
    Ok((StatusCode::CREATED, Json(hold_view(&hold))))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/holds/{hold}", tag = "holds",
    params(("tenant" = String, Path), ("hold" = Uuid, Path)),
    responses((status = 204, description = "Released"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn release_hold(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, hold)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ReleaseHold,
        Some(Action::Released),
    )
    .await?;
    let hold = parse_uuid(&hold)?;
    let ops = ops(&api)?;
    let known = ops
        .list_holds(&principal.actor(), &tenant)
        .await
        .map_err(internal)?
        .iter()
        .any(|held| held.id == hold);
    if !known {
        return Err(Problem::not_found());
    }
    ops.release_hold(&principal.actor(), &hold)
        .await
        .map_err(internal)?;
    Ok(StatusCode::NO_CONTENT)
}

// --- Audit ---------------------------------------------------------------

/// The days of an audit export.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// First day (UTC, included).
    pub from: Option<NaiveDate>,
    /// Last day (UTC, included).
    pub to: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/audit", tag = "audit",
    params(("tenant" = String, Path), AuditQuery),
    responses((status = 200, description = "The tenant's audit entries, one JSON object a line",
            content_type = "application/x-ndjson"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn export_audit(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Response> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ExportAudit,
        Some(Action::Exported),
    )
    .await?;
    let from = query.from.map_or(DateTime::<Utc>::MIN_UTC, |day| {
        day.and_time(chrono::NaiveTime::MIN).and_utc()
    });
    let to = query
        .to
        .and_then(|day| day.succ_opt())
        .map_or(DateTime::<Utc>::MAX_UTC, |day| {
            day.and_time(chrono::NaiveTime::MIN).and_utc()
        });
    let lines = ops(&api)?
        .export_audit(&principal.actor(), &tenant, from..to)
        .await
        .map_err(internal)?;
    let mut response = Response::new(Body::from(lines));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

// --- Tokens and users ------------------------------------------------------

/// A token as listed: never its secret.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
}

/// A new token of the tenant.
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub name: String,
    /// `super_admin`, `admin`, `supervisor` or `user`.
    pub role: String,
    pub expires: Option<DateTime<Utc>>,
}

/// The new token, shown this once.
#[derive(Serialize, ToSchema)]
pub struct IssuedTokenView {
    pub token: String,
    #[serde(flatten)]
    pub entry: TokenView,
}

/// A console user as listed.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub role: String,
    pub numbers: Vec<String>,
    pub created: DateTime<Utc>,
}

/// A new console user of the tenant.
#[derive(Deserialize, ToSchema)]
pub struct UserRequest {
    pub username: String,
    pub role: String,
    pub password: String,
    /// The numbers or extensions that make a call the user's (role `user`).
    #[serde(default)]
    pub numbers: Vec<String>,
}

fn client_role(text: &str) -> ApiResult<Role> {
    role_name::parse_client(text)
        .ok_or_else(|| Problem::bad_request("role: one of super_admin, admin, supervisor, user"))
}

/// Reads, changes and writes the credentials file, off the async threads
/// (hashing is slow on purpose).
async fn with_credentials<T: Send + 'static>(
    api: &Api,
    change: impl FnOnce(&mut Credentials) -> anyhow::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let path = api.config().admin.credentials_file.clone();
    tokio::task::spawn_blocking(move || -> Result<T, Problem> {
        let mut credentials = Credentials::load(&path).map_err(|e| Problem::internal(&e))?;
        let value =
            change(&mut credentials).map_err(|error| Problem::bad_request(format!("{error:#}")))?;
        credentials.save(&path).map_err(|e| Problem::internal(&e))?;
        Ok(value)
    })
    .await
    .map_err(|error| Problem::internal(&anyhow::anyhow!("{error}")))?
}

fn token_view(entry: &super::credentials::TokenEntry) -> TokenView {
    TokenView {
        id: entry.id.clone(),
        name: entry.name.clone(),
        role: role_name::as_str(entry.grant.role).to_string(),
        created: entry.created,
        expires: entry.expires,
    }
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/tokens", tag = "credentials",
    params(("tenant" = String, Path)),
    responses((status = 200, body = [TokenView]), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_tokens(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ManageCredentials,
        None,
    )
    .await?;
    let credentials = api.credentials.current();
    Ok(Json(
        credentials
            .tokens
            .iter()
            .filter(|token| token.grant.tenant.as_deref() == Some(tenant.as_str()))
            .map(token_view)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/tenants/{tenant}/tokens", tag = "credentials",
    params(("tenant" = String, Path)), request_body = TokenRequest,
    responses((status = 201, body = IssuedTokenView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_token(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(body): Json<TokenRequest>,
) -> ApiResult<(StatusCode, Json<IssuedTokenView>)> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ManageCredentials,
        None,
    )
    .await?;
    let grant = Grant {
        tenant: Some(tenant.as_str().to_string()),
        role: client_role(&body.role)?,
    };
    let params = api.config().admin.argon2;
    let issued = with_credentials(&api, move |credentials| {
        credentials.issue_token(&body.name, grant, body.expires, &params)
    })
    .await?;
    tracing::info!(tenant = %tenant, token = %issued.entry.id, "token created through the admin API");
    Ok((
        StatusCode::CREATED,
        Json(IssuedTokenView {
            entry: token_view(&issued.entry),
            token: issued.token,
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/tokens/{token}", tag = "credentials",
    params(("tenant" = String, Path), ("token" = String, Path, description = "the token's id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, token)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ManageCredentials,
        None,
    )
    .await?;
    let owned = api
        .credentials
        .current()
        .token(&token)
        .is_some_and(|entry| entry.grant.tenant.as_deref() == Some(tenant.as_str()));
    if !owned {
        return Err(Problem::not_found());
    }
    with_credentials(&api, move |credentials| {
        credentials.revoke_token(&token);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/users", tag = "credentials",
    params(("tenant" = String, Path)),
    responses((status = 200, body = [UserView]), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_users(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<UserView>>> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ManageCredentials,
        None,
    )
    .await?;
    let credentials = api.credentials.current();
    Ok(Json(
        credentials
            .users
            .iter()
            .filter(|user| user.grant.tenant.as_deref() == Some(tenant.as_str()))
            .map(|user| UserView {
                username: user.username.clone(),
                role: role_name::as_str(user.grant.role).to_string(),
                numbers: user.numbers.clone(),
                created: user.created,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/v1/tenants/{tenant}/users", tag = "credentials",
    params(("tenant" = String, Path)), request_body = UserRequest,
    responses((status = 201, body = UserView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_user(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(body): Json<UserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ManageCredentials,
        None,
    )
    .await?;
    let grant = Grant {
        tenant: Some(tenant.as_str().to_string()),
        role: client_role(&body.role)?,
    };
    let numbers = body
        .numbers
        .iter()
        .map(|number| {
            normalize_number(number)
                .ok_or_else(|| Problem::bad_request("numbers: not E.164 numbers"))
        })
        .collect::<ApiResult<Vec<String>>>()?;
    let params = api.config().admin.argon2;
    let entry = with_credentials(&api, move |credentials| {
        credentials.add_user(&body.username, grant, numbers, &body.password, &params)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            username: entry.username,
            role: role_name::as_str(entry.grant.role).to_string(),
            numbers: entry.numbers,
            created: entry.created,
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/tenants/{tenant}/users/{username}", tag = "credentials",
    params(("tenant" = String, Path), ("username" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove_user(
    State(api): State<Arc<Api>>,
    principal: Principal,
    Path((tenant, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = scoped(
        &api,
        &principal,
        &tenant,
        Operation::ManageCredentials,
        None,
    )
    .await?;
    let owned = api
        .credentials
        .current()
        .user(&username)
        .is_some_and(|user| user.grant.tenant.as_deref() == Some(tenant.as_str()));
    if !owned {
        return Err(Problem::not_found());
    }
    if principal.source == Source::User(username.clone()) {
        return Err(Problem::bad_request("a user cannot remove itself"));
    }
    with_credentials(&api, move |credentials| {
        credentials.remove_user(&username);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn byte_ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }
}
