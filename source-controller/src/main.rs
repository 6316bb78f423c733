//! flux-rs source-controller: a drop-in replacement for Flux's source-controller for
//! GitRepository, OCIRepository, HelmChart (from OCI and HTTP HelmRepositories) and HelmRepository objects.

mod git_include;
mod git_verify;
mod gitrepository;
mod helm_index;
mod helmchart;
mod helmrepository;
mod ocirepository;
mod source;
mod storage_server;
mod tuf;
mod verify;

use std::sync::Arc;

use anyhow::{Context as _, Result};
use api::source::v1::{GitRepository, HelmChart, HelmRepository, OCIRepository};
use artifacts::storage::{Retention, Storage};
use clap::Parser;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use runtime::events::Recorder;
use runtime::metrics::Metrics;
use runtime::requeue::Backoff;
use runtime::{
    CommonArgs, init_logging, listen_addr, serve_health_with, serve_metrics, shutdown_signal,
};

const CONTROLLER: &str = "source-controller";

#[derive(Parser, Debug)]
#[command(name = CONTROLLER, version, about = "flux-rs source-controller")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The number of concurrent reconciles.
    #[arg(long, default_value_t = 2)]
    concurrent: u16,
    /// The local storage path.
    #[arg(long, env = "STORAGE_PATH", default_value = "/data")]
    storage_path: String,
    /// The address the static file server binds to.
    #[arg(long, env = "STORAGE_ADDRESS", default_value = ":9090")]
    storage_addr: String,
    /// The advertised address of the static file server.
    #[arg(long, env = "STORAGE_ADV_ADDR", default_value = "")]
    storage_adv_addr: String,
    /// How long superseded artifacts are kept.
    #[arg(long, default_value = "1m", value_parser = api::duration::parse)]
    artifact_retention_ttl: std::time::Duration,
    /// How many artifacts are kept per object, the current one included.
    #[arg(long, default_value_t = 2)]
    artifact_retention_records: usize,
    /// The digest algorithm of stored artifacts (only sha256 is supported).
    #[arg(long, default_value = "sha256", value_parser = ["sha256"])]
    artifact_digest_algo: String,
    /// The TUF repository keyless verification without `trustedRootSecretRef` gets Sigstore's
    /// trusted root from (http, https or file URL; for air-gapped or private instances).
    #[arg(long, default_value = tuf::PUBLIC_GOOD_MIRROR)]
    tuf_mirror: String,
    /// The initial TUF root.json that repository is trusted from [default: the public-good
    /// instance's root, built in].
    #[arg(long)]
    tuf_root: Option<std::path::PathBuf>,
}

/// Flux's default advertised address: the storage address with an empty host read as
/// `localhost` and `0.0.0.0` as the pod's hostname.
fn advertised_addr(storage_addr: &str, advertised: &str) -> String {
    if !advertised.is_empty() {
        return advertised.to_owned();
    }
    let (host, port) = storage_addr
        .rsplit_once(':')
        .unwrap_or((storage_addr, "9090"));
    let host = match host {
        "" => "localhost".to_owned(),
        "0.0.0.0" => std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned()),
        other => other.to_owned(),
    };
    format!("{host}:{port}")
}

/// A controller for one kind: watched (in the watched namespace, with the label selector),
/// triggered by spec changes and reconcile requests; and the store of what it watches.
fn controller_for<K: source::SourceObject>(
    client: &kube::Client,
    args: &Args,
) -> (Controller<K>, Store<K>) {
    let api: Api<K> = runtime::watched_api(client, &args.common);
    let config = runtime::watch_config(&args.common);
    let (reader, writer) = reflector::store();
    let triggers = watcher(api, config)
        .default_backoff()
        .modify(|o: &mut K| o.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(runtime::trigger_hash, Default::default());
    (Controller::for_stream(triggers, reader.clone()), reader)
}

/// Runs a controller with the shared settings until shutdown.
fn run<K, F, Fut>(
    controller: Controller<K>,
    args: &Args,
    ctx: Arc<source::Context>,
    reconcile: F,
) -> impl std::future::Future<Output = ()> + use<K, F, Fut>
where
    K: source::SourceObject,
    F: FnMut(Arc<K>, Arc<source::Context>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<kube::runtime::controller::Action, source::Error>>
        + Send
        + 'static,
{
    controller
        .with_config(controller::Config::default().concurrency(args.concurrent))
        .graceful_shutdown_on(shutdown_signal())
        .run(reconcile, source::error_policy, ctx)
        .for_each(runtime::log_result)
}

/// The HelmCharts of an HTTP HelmRepository, reconciled when its index changes (as Flux
/// does; an OCI repository has no index and triggers nothing).
fn charts_of(charts: &Store<HelmChart>, repository: &HelmRepository) -> Vec<ObjectRef<HelmChart>> {
    if repository
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .is_none()
    {
        return Vec::new();
    }
    let namespace = repository.namespace().unwrap_or_default();
    charts
        .state()
        .iter()
        .filter(|c| {
            c.spec.source_ref.kind == api::source::HelmChartSourceKind::HelmRepository
                && c.spec.source_ref.name == repository.name_any()
                && c.namespace().as_deref() == Some(namespace.as_str())
        })
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    init_logging(&args.common);
    let (_, client) = runtime::connect(&args.common)
        .await
        .map_err(anyhow::Error::msg)?;
    let metrics = Metrics::new();
    let health_addr = listen_addr(&args.common.health_addr).map_err(anyhow::Error::msg)?;
    let metrics_addr = listen_addr(&args.common.metrics_addr).map_err(anyhow::Error::msg)?;
    let storage_addr = listen_addr(&args.storage_addr).map_err(anyhow::Error::msg)?;
    // Ready only while serving artifacts: a standby stays out of the Service that routes
    // artifact downloads.
    let serving_artifacts = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(serve_health_with(health_addr, serving_artifacts.clone()));
    tokio::spawn(serve_metrics(metrics_addr, metrics.clone()));

    let mut leadership = runtime::leadership(client.clone(), &args.common, CONTROLLER).await;

    let storage = Storage::new(
        &args.storage_path,
        &advertised_addr(&args.storage_addr, &args.storage_adv_addr),
        Retention {
            ttl: args.artifact_retention_ttl,
            records: args.artifact_retention_records,
        },
    )?;
    let sigstore_tuf =
        tuf::SigstoreTuf::new(&args.tuf_mirror, args.tuf_root.as_deref(), storage.root())?;
    // As in Flux, artifacts are served only by the leader.
    let listener = tokio::net::TcpListener::bind(storage_addr)
        .await
        .with_context(|| format!("binding {storage_addr}"))?;
    let router = storage_server::router(&storage);
    tokio::spawn(async move { axum::serve(listener, router).await });
    serving_artifacts.store(true, std::sync::atomic::Ordering::Relaxed);

    let events_addr = Some(args.common.events_addr.clone());
    let ctx = Arc::new(source::Context {
        client: client.clone(),
        storage,
        recorder: Recorder::new(client.clone(), CONTROLLER, events_addr),
        metrics,
        backoff: Backoff::new(args.common.min_retry_delay, args.common.max_retry_delay),
        jitter_percent: args.common.interval_jitter_percentage,
        registry_clients: Default::default(),
        announced: Default::default(),
        sigstore_tuf,
    });

    let (git_controller, _) = controller_for::<GitRepository>(&client, &args);
    let git_repositories = run(
        git_controller,
        &args,
        ctx.clone(),
        source::reconcile::<GitRepository>,
    );
    let (oci_controller, _) = controller_for::<OCIRepository>(&client, &args);
    let oci_repositories = run(
        oci_controller,
        &args,
        ctx.clone(),
        source::reconcile::<OCIRepository>,
    );
    let (chart_controller, chart_store) = controller_for::<HelmChart>(&client, &args);
    let index_changes = watcher(
        runtime::watched_api::<HelmRepository>(&client, &args.common),
        runtime::watch_config(&args.common),
    )
    .default_backoff()
    .applied_objects()
    .predicate_filter(
        |r: &HelmRepository| {
            let revision = r.status.as_ref()?.artifact.as_ref()?.revision.clone();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&revision, &mut hasher);
            Some(std::hash::Hasher::finish(&hasher))
        },
        Default::default(),
    );
    let chart_controller =
        chart_controller.watches_stream(index_changes, move |r| charts_of(&chart_store, &r));
    let helm_charts = run(
        chart_controller,
        &args,
        ctx.clone(),
        source::reconcile::<HelmChart>,
    );
    let (repository_controller, _) = controller_for::<HelmRepository>(&client, &args);
    let helm_repositories = run(repository_controller, &args, ctx, helmrepository::reconcile);
    let controller = async {
        tokio::join!(
            git_repositories,
            oci_repositories,
            helm_charts,
            helm_repositories
        );
    };
    tracing::info!(
        controller = CONTROLLER,
        "starting the GitRepository, OCIRepository, HelmChart and HelmRepository controllers"
    );
    runtime::run_controller(controller, leadership.as_mut(), CONTROLLER)
        .await
        .map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn advertised_address_defaults_like_flux() {
        assert_eq!(advertised_addr(":9090", ""), "localhost:9090");
        assert_eq!(advertised_addr("127.0.0.1:9191", ""), "127.0.0.1:9191");
        assert_eq!(
            advertised_addr(":9090", "source-controller.flux-system.svc.cluster.local."),
            "source-controller.flux-system.svc.cluster.local."
        );
    }
}
