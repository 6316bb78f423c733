//! The controller runtime: what every flux-rs controller binary shares (conditions, events and the reconcile outcome mapping included): its common flags, logging, metrics and probe
//! endpoints, leader election, and requeue timing.

mod args;
pub mod conditions;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod outcome;
pub mod reconciler;
pub mod requeue;
mod serve;
mod status;

pub use args::{CommonArgs, LogEncoding, listen_addr};
pub use serve::{
    run_until_shutdown, serve_health, serve_health_with, serve_metrics, shutdown_signal,
};
pub use status::{StatusWriter, merge_patch};

use kube::ResourceExt;

/// The `reconcile.fluxcd.io/requestedAt` value of an object, if any.
pub fn requested_at<K: ResourceExt>(object: &K) -> Option<String> {
    object
        .annotations()
        .get(api::meta::RECONCILE_REQUEST_ANNOTATION)
        .cloned()
}

/// The span a reconcile runs in: every log line of it carries the object's kind, namespace and
/// name, and the revision once the reconcile records it (`Span::current().record`).
pub fn reconcile_span<K: ResourceExt>(kind: &str, object: &K) -> tracing::Span {
    tracing::info_span!(
        "reconcile",
        kind,
        namespace = object.namespace().unwrap_or_default(),
        name = object.name_any(),
        revision = tracing::field::Empty,
    )
}

/// Records the revision a reconcile works on in its span.
pub fn record_revision(revision: &str) {
    tracing::Span::current().record("revision", revision);
}

/// Logs one result of a controller's stream (`Controller::run`), which would otherwise be
/// dropped: reconciler failures were logged by the error policy already, so only at debug
/// level; queue and watch failures are warnings.
pub fn log_result<K, E, Q>(
    result: Result<
        (
            kube::runtime::reflector::ObjectRef<K>,
            kube::runtime::controller::Action,
        ),
        kube::runtime::controller::Error<E, Q>,
    >,
) -> std::future::Ready<()>
where
    K: kube::Resource,
    K::DynamicType: std::fmt::Debug,
    E: std::error::Error + 'static,
    Q: std::error::Error + 'static,
{
    use kube::runtime::controller::Error;
    match result {
        Ok((object, action)) => tracing::debug!(object = %object, ?action, "reconciled"),
        Err(Error::ReconcilerFailed(error, object)) => {
            tracing::debug!(object = %object, error = %error, "reconcile failed");
        }
        Err(error) => tracing::warn!(error = %error, "controller error"),
    }
    std::future::ready(())
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

/// Runs a controller until it ends, leadership is lost (an error), or the process is asked
/// to stop (then after the shutdown grace).
pub async fn run_controller(
    controller: impl std::future::Future<Output = ()>,
    leadership: Option<&mut leader::Leadership>,
    name: &str,
) -> Result<(), String> {
    let running = async {
        match leadership {
            Some(leadership) => tokio::select! {
                () = controller => Ok(()),
                () = leadership.lost() => Err("leader election lost".to_string()),
            },
            None => {
                controller.await;
                Ok(())
            }
        }
    };
    if let Some(result) = run_until_shutdown(running).await {
        result?;
    }
    tracing::info!(controller = name, "stopped");
    Ok(())
}

/// The data of the Secret `name` in `namespace`, or `None` when it does not exist; callers
/// word the errors as Flux does for their field.
pub async fn secret_data(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<std::collections::BTreeMap<String, k8s_openapi::ByteString>>, kube::Error> {
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), namespace);
    Ok(secrets
        .get_opt(name)
        .await?
        .map(|secret| secret.data.unwrap_or_default()))
}

/// A typed Kubernetes object the finalizer helpers can patch.
pub trait Object: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug {}
impl<K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug> Object for K {}

/// Adds `finalizer` unless the object has it (guarded by its resourceVersion).
pub async fn add_finalizer<K: Object>(
    api: &kube::Api<K>,
    object: &K,
    finalizer: &str,
) -> Result<(), kube::Error> {
    if object.finalizers().iter().any(|f| f == finalizer) {
        return Ok(());
    }
    let mut finalizers = object.finalizers().to_vec();
    finalizers.push(finalizer.to_owned());
    patch_finalizers(api, object, finalizers).await
}

/// Removes `finalizer`; an object that is already gone is fine.
pub async fn remove_finalizer<K: Object>(
    api: &kube::Api<K>,
    object: &K,
    finalizer: &str,
) -> Result<(), kube::Error> {
    let remaining: Vec<String> = object
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    match patch_finalizers(api, object, remaining).await {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other,
    }
}

async fn patch_finalizers<K: Object>(
    api: &kube::Api<K>,
    object: &K,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": object.meta().resource_version,
    }});
    api.patch(
        &object.meta().name.clone().unwrap_or_default(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
}

/// A started controller process: its client, metrics, and lease.
pub struct Started {
    pub config: kube::Config,
    pub client: kube::Client,
    pub metrics: metrics::Metrics,
    /// Held while leading, when `--enable-leader-election` is set.
    pub leadership: Option<leader::Leadership>,
}

/// Starts a controller process the way every controller starts: logging, the cluster
/// client, the health and metrics endpoints, then the lease (waiting for it when leader
/// election is on).
pub async fn start(args: &CommonArgs, controller: &str) -> Result<Started, String> {
    init_logging(args);
    let (config, client) = connect(args).await?;
    let metrics = metrics::Metrics::new();
    let health_addr = listen_addr(&args.health_addr)?;
    let metrics_addr = listen_addr(&args.metrics_addr)?;
    tokio::spawn(serve_health(health_addr));
    tokio::spawn(serve_metrics(metrics_addr, metrics.clone()));
    let leadership = leadership(client.clone(), args, controller).await;
    Ok(Started {
        config,
        client,
        metrics,
        leadership,
    })
}

/// The client configuration (`kube_config`) and a client built from it.
pub async fn connect(args: &CommonArgs) -> Result<(kube::Config, kube::Client), String> {
    let config = kube_config(args).await?;
    let client = kube::Client::try_from(config.clone())
        .map_err(|e| format!("connecting to the API server: {e}"))?;
    Ok((config, client))
}

/// The API of a kind in every namespace, or only the controller's own when
/// `--watch-all-namespaces=false`.
pub fn watched_api<K>(client: &kube::Client, args: &CommonArgs) -> kube::Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    if args.watch_all_namespaces {
        kube::Api::all(client.clone())
    } else {
        kube::Api::namespaced(client.clone(), &CommonArgs::runtime_namespace())
    }
}

/// A watch configuration honouring `--watch-label-selector`.
pub fn watch_config(args: &CommonArgs) -> kube::runtime::watcher::Config {
    let config = kube::runtime::watcher::Config::default();
    match args.label_selector() {
        Some(selector) => config.labels(selector),
        None => config,
    }
}

/// What a watch event must change for a reconcile to run: the generation, a new
/// `requestedAt`, or deletion (Flux's predicates). Status and finalizer updates do not.
pub fn trigger_hash<K: ResourceExt>(object: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    object.meta().generation.hash(&mut hasher);
    requested_at(object).hash(&mut hasher);
    object.meta().deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

/// The client configuration: `--kubeconfig` when given, else kube's inference
/// (`KUBECONFIG`, then the in-cluster service account).
pub async fn kube_config(args: &CommonArgs) -> Result<kube::Config, String> {
    match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| format!("loading {}: {e}", path.display()))
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("reading the Kubernetes client configuration: {e}")),
    }
}
