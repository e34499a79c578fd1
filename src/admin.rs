//! The admin HTTP endpoint: Prometheus metrics, a health check, the admin
//! API (`/v1/`, [`crate::api`]), the clients' console (`/`,
//! [`crate::console`]), and the older unauthenticated calls routes kept for
//! the node's own scripts on loopback: whoever reaches those acts as the
//! operator ([`Actor::admin_endpoint`]), and pause and resume go through the
//! operations layer ([`crate::ops::calls`]), which checks the role and audits
//! each order.
//!
//! Every route passes the `Host` and origin checks of [`crate::api::guard`];
//! with `[admin] tls_cert` the listener speaks TLS only.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use tokio_rustls::TlsAcceptor;

use crate::api::guard::AdminHosts;
use crate::api::Api;
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
    api: Arc<Api>,
) -> anyhow::Result<SocketAddr> {
    let config = api.config();
    let tls = config
        .admin
        .tls
        .as_ref()
        .map(crate::api::tls::acceptor)
        .transpose()?;
    let hosts = AdminHosts(Arc::new(config.admin.hosts.clone()));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(move || async move { metrics.render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(calls_router(api.live.clone()))
        .merge(crate::api::routes::router(api))
        .merge(crate::console::router())
        .layer(axum::middleware::from_fn_with_state(
            hosts,
            crate::api::guard::check_host_and_origin,
        ));
    match tls {
        None => {
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app).await {
                    tracing::error!(%error, "admin endpoint stopped");
                }
            });
        }
        Some(acceptor) => {
            tokio::spawn(serve_tls(listener, acceptor, app));
        }
    }
    Ok(local)
}

/// A TLS handshake that takes longer than this is dropped.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve_tls(listener: tokio::net::TcpListener, acceptor: TlsAcceptor, app: Router) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "admin endpoint: accept failed");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "admin endpoint: TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(error) = builder
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%error, "admin endpoint: connection ended");
            }
        });
    }
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
