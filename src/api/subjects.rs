//! Data-subject requests through the admin API (DPA 9): an export is a job
//! whose result is a zip of open formats (the layout `greffier subject
//! export` writes: WAV, JSON and a `manifest.json` with each file's
//! SHA-256); an erasure answers with what was deleted and what was kept.
//!
//! Export jobs live in the node's memory and their files in a private
//! temporary directory, removed when the job is dropped: an hour after it
//! ends, or when the gateway stops. A client that needs the export later
//! downloads it in that hour.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use greffier_vault::audit::Action;
use greffier_vault::catalog::E164;
use greffier_vault::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Principal;
use super::problem::{ApiResult, Problem};
use super::routes::{internal, ops, parse_uuid, scoped};
use super::Api;
use crate::config::TenantKeys;
use crate::ops::subject::SubjectEraseSummary;
use crate::ops::Operation;

/// How long a finished export stays downloadable.
const KEPT_FOR: Duration = Duration::from_secs(3600);

/// The export jobs of this node.
#[derive(Default)]
pub struct SubjectExports {
    jobs: Mutex<HashMap<Uuid, ExportJob>>,
}

struct ExportJob {
    tenant: TenantId,
    state: JobState,
    /// Owns the job's files; dropping it removes them.
    _files: tempfile::TempDir,
    finished: Option<Instant>,
}

#[derive(Clone)]
enum JobState {
    Running,
    Ready { zip: PathBuf, records: usize },
    Failed { detail: String },
}

impl SubjectExports {
    fn forget_old(&self) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.retain(|_, job| job.finished.is_none_or(|at| at.elapsed() < KEPT_FOR));
    }

    fn set(&self, id: Uuid, state: JobState) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = jobs.get_mut(&id) {
            job.state = state;
            job.finished = Some(Instant::now());
        }
    }
}

/// The number a request is about.
#[derive(Deserialize, ToSchema)]
pub struct SubjectRequest {
    /// E.164, for example `+33612345678`.
    pub number: String,
}

/// An export job.
#[derive(Serialize, ToSchema)]
pub struct ExportJobView {
    pub id: Uuid,
    /// `running`, `ready` or `failed`.
    pub state: String,
    /// The calls exported, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What an erasure did.
#[derive(Serialize, ToSchema)]
pub struct ErasureView {
    /// Calls of the number found in the tenant.
    pub records: usize,
    /// Objects deleted (recordings, manifests, raw payloads, transcripts,
    /// index entries).
    pub deleted: usize,
    pub already_gone: usize,
    /// Calls a legal hold kept whole.
    pub held_records: usize,
    /// Call records kept their legal 365 days (CPCE L.34-1).
    pub call_records_kept: usize,
}

impl From<SubjectEraseSummary> for ErasureView {
    fn from(summary: SubjectEraseSummary) -> Self {
        ErasureView {
            records: summary.records,
            deleted: summary.deleted,
            already_gone: summary.already_gone,
            held_records: summary.held_records,
            call_records_kept: summary.call_records_kept,
        }
    }
}

/// The tenant and number of a request the principal may make, or why not.
async fn admit(
    api: &Api,
    principal: &Principal,
    tenant: &str,
    operation: Operation,
    action: Action,
    number: &str,
) -> ApiResult<(TenantId, E164)> {
    let tenant = scoped(api, principal, tenant, operation, Some(action)).await?;
    let client_keys = api
        .config()
        .tenant(tenant.as_str())
        .is_some_and(|config| matches!(config.keys, TenantKeys::Client { .. }));
    if client_keys {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "this tenant keeps its own keys: the gateway cannot search its calls; \
             run `greffier subject` with the client's private key",
        ));
    }
    let number = E164::normalise(number).ok_or_else(|| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the number must be E.164, such as +33612345678",
        )
    })?;
    Ok((tenant, number))
}

#[utoipa::path(post, path = "/v1/tenants/{tenant}/subjects/export", tag = "subjects",
    params(("tenant" = String, Path)), request_body = SubjectRequest,
    responses((status = 202, body = ExportJobView, description = "The export runs; poll the job"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn start_subject_export(
    State(api): State<Arc<Api>>,
    principal: Principal,
    UrlPath(tenant): UrlPath<String>,
    Json(request): Json<SubjectRequest>,
) -> ApiResult<(StatusCode, Json<ExportJobView>)> {
    let (tenant, number) = admit(
        &api,
        &principal,
        &tenant,
        Operation::SubjectExport,
        Action::SubjectExport,
        &request.number,
    )
    .await?;
    let ops = ops(&api)?;
    let dir = tempfile::Builder::new()
        .prefix("greffier-subject-export-")
        .tempdir()
        .map_err(|error| internal(error.into()))?;
    let out = dir.path().join("export");
    let id = Uuid::new_v4();
    api.exports.forget_old();
    api.exports
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id,
            ExportJob {
                tenant: tenant.clone(),
                state: JobState::Running,
                _files: dir,
                finished: None,
            },
        );
    let actor = principal.actor();
    let jobs = api.clone();
    tokio::spawn(async move {
        let exported = ops
            .subject_export(&actor, &tenant, &number, None, &out)
            .await;
        let state = match exported {
            Ok(summary) => {
                let zip = out.with_extension("zip");
                let zipped = {
                    let (out, zip) = (out.clone(), zip.clone());
                    tokio::task::spawn_blocking(move || zip_directory(&out, &zip))
                        .await
                        .map_err(|error| anyhow::anyhow!("{error}"))
                        .and_then(|result| result)
                };
                match zipped {
                    Ok(()) => JobState::Ready {
                        zip,
                        records: summary.records,
                    },
                    Err(error) => JobState::Failed {
                        detail: format!("the export could not be packed: {error:#}"),
                    },
                }
            }
            Err(error) => JobState::Failed {
                detail: crate::config::mask_numbers_in_text(&format!("{error:#}")),
            },
        };
        jobs.exports.set(id, state);
        ops.close().await;
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(ExportJobView {
            id,
            state: "running".into(),
            records: None,
            detail: None,
        }),
    ))
}

/// The job of `job`'s id in `tenant`, as this principal may see it.
async fn job_state(
    api: &Api,
    principal: &Principal,
    tenant: &str,
    job: &str,
) -> ApiResult<(Uuid, JobState)> {
    let tenant = scoped(api, principal, tenant, Operation::SubjectExport, None).await?;
    let id = parse_uuid(job)?;
    api.exports.forget_old();
    let jobs = api.exports.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let job = jobs
        .get(&id)
        .filter(|job| job.tenant == tenant)
        .ok_or_else(Problem::not_found)?;
    Ok((id, job.state.clone()))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/subjects/exports/{job}", tag = "subjects",
    params(("tenant" = String, Path), ("job" = Uuid, Path)),
    responses((status = 200, body = ExportJobView),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_subject_export(
    State(api): State<Arc<Api>>,
    principal: Principal,
    UrlPath((tenant, job)): UrlPath<(String, String)>,
) -> ApiResult<Json<ExportJobView>> {
    let (id, state) = job_state(&api, &principal, &tenant, &job).await?;
    let (state, records, detail) = match state {
        JobState::Running => ("running", None, None),
        JobState::Ready { records, .. } => ("ready", Some(records), None),
        JobState::Failed { detail } => ("failed", None, Some(detail)),
    };
    Ok(Json(ExportJobView {
        id,
        state: state.into(),
        records,
        detail,
    }))
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/subjects/exports/{job}/zip", tag = "subjects",
    params(("tenant" = String, Path), ("job" = Uuid, Path)),
    responses((status = 200, content_type = "application/zip", description = "The export"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not ready, or failed")))]
pub async fn download_subject_export(
    State(api): State<Arc<Api>>,
    principal: Principal,
    UrlPath((tenant, job)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    let (id, state) = job_state(&api, &principal, &tenant, &job).await?;
    let JobState::Ready { zip, .. } = state else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the export is not ready (see its job)",
        ));
    };
    let bytes = tokio::fs::read(&zip)
        .await
        .map_err(|error| internal(error.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"subject-export-{id}.zip\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/tenants/{tenant}/subjects/erase", tag = "subjects",
    params(("tenant" = String, Path)), request_body = SubjectRequest,
    responses((status = 200, body = ErasureView),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn erase_subject(
    State(api): State<Arc<Api>>,
    principal: Principal,
    UrlPath(tenant): UrlPath<String>,
    Json(request): Json<SubjectRequest>,
) -> ApiResult<Json<ErasureView>> {
    let (tenant, number) = admit(
        &api,
        &principal,
        &tenant,
        Operation::SubjectErase,
        Action::SubjectErase,
        &request.number,
    )
    .await?;
    let ops = ops(&api)?;
    let erased = ops
        .subject_erase(&principal.actor(), &tenant, &number, None, |_| {})
        .await;
    ops.close().await;
    let summary = erased.map_err(internal)?;
    Ok(Json(summary.into()))
}

/// Packs `dir` into a zip at `zip` (stored, not compressed: WAV and JSON of
/// one person's calls; compression would gain little and cost CPU).
fn zip_directory(dir: &Path, zip: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(zip)?;
    let mut writer = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true)
        .unix_permissions(0o600);
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    for relative in files {
        let name = relative.to_string_lossy().replace('\\', "/");
        writer.start_file(name, options)?;
        let mut source = std::fs::File::open(dir.join(&relative))?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = source.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            writer.write_all(&buffer[..read])?;
        }
    }
    writer.finish()?.sync_all()?;
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root)?.to_owned());
        }
    }
    Ok(())
}
