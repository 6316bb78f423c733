//! What every flux-rs controller binary shares: its common flags, logging, metrics and probe
//! endpoints, leader election, and requeue timing.

mod args;
pub mod leader;
pub mod metrics;
pub mod requeue;
mod serve;

pub use args::{CommonArgs, LogEncoding, listen_addr};
pub use serve::{run_until_shutdown, serve_health, serve_metrics, shutdown_signal};

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

/// Waits for the controller's lease when `--enable-leader-election` is set (Flux's lease name,
/// suffixed per shard), and returns the leadership to watch for loss.
pub async fn leadership(
    client: kube::Client,
    args: &CommonArgs,
    controller: &str,
) -> Option<leader::Leadership> {
    if !args.enable_leader_election {
        return None;
    }
    let timing = leader::LeaseTiming {
        lease_duration: args.leader_election_lease_duration,
        renew_deadline: args.leader_election_renew_deadline,
        retry_period: args.leader_election_retry_period,
    };
    let name = leader::lease_name(controller, args.label_selector());
    Some(leader::Leadership::acquire(client, &CommonArgs::runtime_namespace(), &name, timing).await)
}
