//! The probe and metrics server: one small HTTP/1 server on its own port with `/livez`,
//! `/readyz` (see [`crate::health`]) and `/metrics` (see [`crate::metrics`]). Nothing else is
//! served; nothing it answers contains a key, a token or a secret.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::health::Health;
use crate::metrics::Metrics;

#[derive(Clone)]
struct Served {
    health: Health,
    metrics: Metrics,
}

/// The routes.
pub fn router(health: Health, metrics: Metrics) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/healthz", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Served { health, metrics })
}

fn report((ok, text): (bool, String)) -> impl IntoResponse {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
}

async fn livez(State(s): State<Served>) -> impl IntoResponse {
    report(s.health.liveness())
}

async fn readyz(State(s): State<Served>) -> impl IntoResponse {
    report(s.health.readiness())
}

async fn metrics_text(State(s): State<Served>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        s.metrics.encode(),
    )
}

/// Binds `addr` (port 0: any free port) and logs the address it will serve on.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving /livez, /readyz and /metrics");
    Ok(listener)
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    health: Health,
    metrics: Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let served = axum::serve(listener, router(health, metrics))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(err) = served {
        tracing::error!(error = %err, "the probe and metrics server stopped");
    }
}
