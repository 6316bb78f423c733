use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogEncoding {
    Json,
    Console,
}

/// Flags every Flux controller has (`fluxcd/pkg/runtime`), with Flux's defaults.
#[derive(Args, Clone, Debug)]
pub struct CommonArgs {
    /// A kubeconfig file to connect with (default: `KUBECONFIG`, else in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The address events are posted to (the notification-controller's event endpoint).
    #[arg(long, env = "EVENTS_ADDR", default_value = "")]
    pub events_addr: String,
    /// The address the metrics endpoint binds to.
    #[arg(long, default_value = ":8080")]
    pub metrics_addr: String,
    /// The address the health endpoints bind to.
    #[arg(long, default_value = ":9440")]
    pub health_addr: String,
    /// Log level: trace, debug, info, warn or error.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Log encoding.
    #[arg(long, value_enum, default_value = "json")]
    pub log_encoding: LogEncoding,
    /// Watch all namespaces (otherwise only the runtime namespace).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_all_namespaces: bool,
    /// Only reconcile objects with labels matching this selector (sharding).
    #[arg(long, default_value = "")]
    pub watch_label_selector: String,
    /// Run only while holding the leader lease.
    #[arg(long)]
    pub enable_leader_election: bool,
    /// How long a lease is valid without renewal.
    #[arg(long, default_value = "35s", value_parser = api::duration::parse)]
    pub leader_election_lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up.
    #[arg(long, default_value = "30s", value_parser = api::duration::parse)]
    pub leader_election_renew_deadline: Duration,
    /// How often leadership is tried and renewed.
    #[arg(long, default_value = "5s", value_parser = api::duration::parse)]
    pub leader_election_retry_period: Duration,
    /// How long to wait before retrying when a dependency is not ready.
    #[arg(long, default_value = "30s", value_parser = api::duration::parse)]
    pub requeue_dependency: Duration,
    /// Percentage of jitter added to each object's interval.
    #[arg(long, default_value_t = 5)]
    pub interval_jitter_percentage: u8,
    /// Smallest delay before retrying a failed reconcile.
    #[arg(long, default_value = "750ms", value_parser = api::duration::parse)]
    pub min_retry_delay: Duration,
    /// Largest delay before retrying a failed reconcile.
    #[arg(long, default_value = "15m", value_parser = api::duration::parse)]
    pub max_retry_delay: Duration,
}

impl CommonArgs {
    /// The namespace the controller runs in (leases, and the watch scope without
    /// `--watch-all-namespaces`).
    pub fn runtime_namespace() -> String {
        std::env::var("RUNTIME_NAMESPACE").unwrap_or_else(|_| "flux-system".to_owned())
    }

    pub fn label_selector(&self) -> Option<&str> {
        (!self.watch_label_selector.is_empty()).then_some(self.watch_label_selector.as_str())
    }
}

/// A Go-style listen address (`:8080`, `127.0.0.1:9090`) as a socket address; an empty host
/// means every interface, as in Go.
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.parse()
        .map_err(|e| format!("invalid address {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_listen_addresses() {
        assert_eq!(listen_addr(":8080").unwrap().to_string(), "0.0.0.0:8080");
        assert_eq!(
            listen_addr("127.0.0.1:9").unwrap().to_string(),
            "127.0.0.1:9"
        );
        assert!(listen_addr("nope").is_err());
    }
}
