//! The admin HTTP endpoint: Prometheus metrics, a health check, the calls in
//! progress and the pause and resume of their recordings, through the
//! operations layer ([`crate::ops::calls`]), which checks the role and
//! audits each order.
//!
//! Nothing here authenticates yet: the admin address belongs on loopback or a
//! management network (docs/recording.md), so whoever reaches it acts as the
//! operator ([`Actor::admin_endpoint`]).

use std::net::SocketAddr;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::calls::metrics_names::RECORDER_LAG;
use crate::calls::{CallSummary, ControlError};
use crate::ops::calls::{CallOpError, CallRef, LiveCalls};
use crate::ops::Actor;

/// Recorder lag buckets, in seconds: a healthy recorder stays in the first few.
const LAG_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Installs the process-wide metrics recorder.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(RECORDER_LAG.to_string()), &LAG_BUCKETS)
        .context("recorder lag buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")
}

/// Binds the admin address and serves it in the background; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    calls: LiveCalls,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(move || async move { metrics.render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(calls_router(calls));
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "admin endpoint stopped");
        }
    });
    Ok(local)
}

/// `GET /calls`, `POST /calls/{id}/recording/pause` and `…/resume`.
pub fn calls_router(calls: LiveCalls) -> Router {
    Router::new()
        .route("/calls", get(list_calls))
        .route("/calls/{id}/recording/pause", post(pause))
        .route("/calls/{id}/recording/resume", post(resume))
        .with_state(calls)
}

async fn list_calls(State(calls): State<LiveCalls>) -> Json<Vec<CallSummary>> {
    Json(calls.list(&Actor::admin_endpoint(), None))
}

async fn pause(State(calls): State<LiveCalls>, Path(id): Path<u64>) -> (StatusCode, String) {
    let paused = calls
        .pause(&Actor::admin_endpoint(), CallRef::any_tenant(id))
        .await;
    answer(paused, "pause")
}

async fn resume(State(calls): State<LiveCalls>, Path(id): Path<u64>) -> (StatusCode, String) {
    let resumed = calls
        .resume(&Actor::admin_endpoint(), CallRef::any_tenant(id))
        .await;
    answer(resumed, "resume")
}

fn answer(result: Result<CallSummary, CallOpError>, label: &str) -> (StatusCode, String) {
    match result {
        Ok(_) => (StatusCode::OK, format!("{label}\n")),
        Err(error) => {
            let status = match &error {
                CallOpError::Control(ControlError::UnknownCall) => StatusCode::NOT_FOUND,
                CallOpError::Control(ControlError::NotRecorded) => StatusCode::CONFLICT,
                CallOpError::Refused { .. } => StatusCode::FORBIDDEN,
                CallOpError::Audit(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, format!("{error}\n"))
        }
    }
}
