use std::net::SocketAddr;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::metrics::Metrics;

/// Serves `/metrics` until the process ends.
pub async fn serve_metrics(addr: SocketAddr, metrics: Metrics) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    );
    serve(addr, app).await
}

/// Serves the `/healthz` and `/readyz` ping probes until the process ends.
pub async fn serve_health(addr: SocketAddr) -> std::io::Result<()> {
    serve_health_with(addr, Arc::new(AtomicBool::new(true))).await
}

/// Like [`serve_health`], with `/readyz` answering 503 until `ready` is set: a replica
/// that does not serve yet (a standby) is kept out of its Service's endpoints.
pub async fn serve_health_with(addr: SocketAddr, ready: Arc<AtomicBool>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Relaxed);
                async move {
                    if ready {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not serving yet")
                    }
                }
            }),
        );
    serve(addr, app).await
}

pub(crate) async fn serve(addr: SocketAddr, app: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// How long in-flight work may run after SIGTERM or SIGINT.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `work` until it finishes, or until SIGTERM/SIGINT plus [`SHUTDOWN_GRACE`] for
/// in-flight work to end on its own: a controller never outlives its shutdown by more.
pub async fn run_until_shutdown<F: std::future::Future>(work: F) -> Option<F::Output> {
    let grace = SHUTDOWN_GRACE;
    tokio::select! {
        output = work => Some(output),
        () = async {
            shutdown_signal().await;
            tracing::info!(?grace, "shutting down");
            tokio::time::sleep(grace).await;
        } => None,
    }
}
