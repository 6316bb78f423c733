//! flux-rs image-reflector-controller: a drop-in replacement for Flux's
//! image-reflector-controller. ImageRepositories scan registry tags into an on-disk store;
//! ImagePolicies pick the latest tag from it.

mod imagepolicy;
mod imagerepository;
mod policy;
mod tags;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use api::image::v1::{ImagePolicy, ImageRepository};
use clap::Parser;
use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use runtime::events::Recorder;

use runtime::reconciler::{Kind, Reconciler, Shared};
use runtime::requeue::Backoff;
use runtime::{CommonArgs, shutdown_signal};

const CONTROLLER: &str = "image-reflector-controller";

#[derive(Parser, Debug)]
#[command(name = CONTROLLER, version, about = "flux-rs image-reflector-controller")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The number of concurrent reconciles.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
    /// Where scanned tags are stored.
    #[arg(long, default_value = "/data")]
    storage_path: std::path::PathBuf,
    /// Refuse ImagePolicies that name an ImageRepository in another namespace.
    #[arg(long)]
    no_cross_namespace_refs: bool,
}

pub struct Context {
    pub shared: Shared,
    pub tags: tags::TagStore,
    pub registry_clients: source_access::registry::ClientCache,
    pub requeue_dependency: Duration,
    pub no_cross_namespace_refs: bool,
}

/// A controller for one kind, watched in the watched namespaces with the label selector and
/// triggered by spec changes and reconcile requests; and the store of what it watches.
fn controller_for<K: Kind>(client: &kube::Client, args: &Args) -> (Controller<K>, Store<K>) {
    let (reader, writer) = reflector::store();
    let triggers = watcher(
        runtime::watched_api(client, &args.common),
        runtime::watch_config(&args.common),
    )
    .default_backoff()
    .modify(|o: &mut K| o.managed_fields_mut().clear())
    .reflect(writer)
    .applied_objects()
    .predicate_filter(runtime::trigger_hash, Default::default());
    (Controller::for_stream(triggers, reader.clone()), reader)
}

fn run<K: Kind>(
    controller: Controller<K>,
    args: &Args,
    ctx: Arc<Context>,
) -> impl Future<Output = ()> + use<K>
where
    Context: Reconciler<K>,
{
    controller
        .with_config(controller::Config::default().concurrency(args.concurrent))
        .graceful_shutdown_on(shutdown_signal())
        .run(
            runtime::reconciler::reconcile::<K, Context>,
            runtime::reconciler::error_policy::<K, Context>,
            ctx,
        )
        .for_each(runtime::log_result)
}

/// The ImagePolicies that read `repository`.
fn policies_of(
    policies: &Store<ImagePolicy>,
    repository: &ImageRepository,
) -> Vec<ObjectRef<ImagePolicy>> {
    let namespace = repository.namespace().unwrap_or_default();
    policies
        .state()
        .iter()
        .filter(|p| {
            let reference = &p.spec.image_repository_ref;
            let policy_namespace = p.namespace().unwrap_or_default();
            reference.name == repository.name_any()
                && reference.namespace.as_deref().unwrap_or(&policy_namespace) == namespace
        })
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let runtime::Started {
        client,
        metrics,
        mut leadership,
        ..
    } = runtime::start(&args.common, CONTROLLER)
        .await
        .map_err(anyhow::Error::msg)?;

    std::fs::create_dir_all(&args.storage_path)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", args.storage_path.display()))?;
    let ctx = Arc::new(Context {
        shared: Shared {
            client: client.clone(),
            recorder: Recorder::new(
                client.clone(),
                CONTROLLER,
                Some(args.common.events_addr.clone()),
            ),
            metrics,
            backoff: Backoff::new(args.common.min_retry_delay, args.common.max_retry_delay),
            jitter_percent: args.common.interval_jitter_percentage,
        },
        tags: tags::TagStore::new(&args.storage_path),
        registry_clients: Default::default(),
        requeue_dependency: args.common.requeue_dependency,
        no_cross_namespace_refs: args.no_cross_namespace_refs,
    });

    let (repository_controller, _) = controller_for::<ImageRepository>(&client, &args);
    let repositories = run(repository_controller, &args, ctx.clone());
    let (policy_controller, policy_store) = controller_for::<ImagePolicy>(&client, &args);
    // A policy is decided again when its repository's tags change.
    let scans = watcher(
        runtime::watched_api::<ImageRepository>(&client, &args.common),
        runtime::watch_config(&args.common),
    )
    .default_backoff()
    .applied_objects()
    .predicate_filter(
        |r: &ImageRepository| {
            let revision = r
                .status
                .as_ref()?
                .last_scan_result
                .as_ref()?
                .revision
                .clone();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            revision.hash(&mut hasher);
            Some(hasher.finish())
        },
        Default::default(),
    );
    let policy_controller =
        policy_controller.watches_stream(scans, move |r| policies_of(&policy_store, &r));
    let policies = run(policy_controller, &args, ctx);
    let controller = async {
        tokio::join!(repositories, policies);
    };
    tracing::info!(
        controller = CONTROLLER,
        "starting the ImageRepository and ImagePolicy controllers"
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
}
