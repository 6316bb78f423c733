//! What every flux-rs controller binary shares: its common flags, logging, metrics and probe
//! endpoints, leader election, and requeue timing.

mod args;
pub mod leader;
pub mod metrics;
pub mod requeue;
mod serve;

pub use args::{CommonArgs, LogEncoding, listen_addr};
pub use serve::{serve_health, serve_metrics, shutdown_signal};

use kube::ResourceExt;

/// The `reconcile.fluxcd.io/requestedAt` value of an object, if any.
pub fn requested_at<K: ResourceExt>(object: &K) -> Option<String> {
    object
        .annotations()
        .get(crate::api::meta::RECONCILE_REQUEST_ANNOTATION)
        .cloned()
}

/// Sets up structured logging on stderr: JSON by default, as Flux's controllers log.
pub fn init_logging(args: &CommonArgs) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{},kube=warn,tower=warn,hyper=warn",
            args.log_level
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_encoding {
        LogEncoding::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogEncoding::Console => builder.init(),
    }
}

/// RFC 3339 "now", as condition and status timestamps are written.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
