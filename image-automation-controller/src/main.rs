//! flux-rs image-automation-controller: a drop-in replacement for Flux's
//! image-automation-controller. ImageUpdateAutomations write the latest images of
//! ImagePolicies into the files of a Git repository, changing only the marked values, and
//! commit and push them.

mod automation;
mod message;
mod setters;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use anyhow::Result;
use api::image::v1::{ImagePolicy, ImageUpdateAutomation};
use api::source::v1::GitRepository;
use clap::Parser;
use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use runtime::events::Recorder;

use runtime::reconciler::{Shared, error_policy, reconcile};
use runtime::requeue::Backoff;
use runtime::{CommonArgs, shutdown_signal};

use crate::automation::Context;

const CONTROLLER: &str = "image-automation-controller";

#[derive(Parser, Debug)]
#[command(name = CONTROLLER, version, about = "flux-rs image-automation-controller")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The number of concurrent reconciles.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
    /// Refuse automations whose GitRepository is in another namespace.
    #[arg(long)]
    no_cross_namespace_refs: bool,
}

fn hash_of(value: impl Hash) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    Some(hasher.finish())
}

/// The automations that push through `repository`.
fn automations_of_source(
    store: &Store<ImageUpdateAutomation>,
    repository: &GitRepository,
) -> Vec<ObjectRef<ImageUpdateAutomation>> {
    let namespace = repository.namespace().unwrap_or_default();
    store
        .state()
        .iter()
        .filter(|a| {
            let source = &a.spec.source_ref;
            let own = a.namespace().unwrap_or_default();
            source.name == repository.name_any()
                && source.namespace.as_deref().unwrap_or(&own) == namespace
        })
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// Every automation in the policy's namespace (they list the policies they use there).
fn automations_of_policy(
    store: &Store<ImageUpdateAutomation>,
    policy: &ImagePolicy,
) -> Vec<ObjectRef<ImageUpdateAutomation>> {
    let namespace = policy.namespace();
    store
        .state()
        .iter()
        .filter(|a| a.namespace() == namespace)
        .map(|a| ObjectRef::from_obj(a.as_ref()))
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
        no_cross_namespace_refs: args.no_cross_namespace_refs,
    });

    let (reader, writer) = reflector::store();
    let triggers = watcher(
        runtime::watched_api::<ImageUpdateAutomation>(&client, &args.common),
        runtime::watch_config(&args.common),
    )
    .default_backoff()
    .modify(|o: &mut ImageUpdateAutomation| o.managed_fields_mut().clear())
    .reflect(writer)
    .applied_objects()
    .predicate_filter(runtime::trigger_hash, Default::default());
    // A GitRepository matters when its spec changes; a policy when its latest image does.
    let sources = watcher(
        runtime::watched_api::<GitRepository>(&client, &args.common),
        watcher::Config::default(),
    )
    .default_backoff()
    .applied_objects()
    .predicate_filter(
        |r: &GitRepository| hash_of(r.metadata.generation),
        Default::default(),
    );
    let policies = watcher(
        runtime::watched_api::<ImagePolicy>(&client, &args.common),
        watcher::Config::default(),
    )
    .default_backoff()
    .applied_objects()
    .predicate_filter(
        |p: &ImagePolicy| {
            hash_of(
                p.status
                    .as_ref()
                    .and_then(|s| s.latest_ref.clone())
                    .map(|r| r.to_string()),
            )
        },
        Default::default(),
    );
    let (source_store, policy_store) = (reader.clone(), reader.clone());
    let controller = Controller::for_stream(triggers, reader)
        .watches_stream(sources, move |r| automations_of_source(&source_store, &r))
        .watches_stream(policies, move |p| automations_of_policy(&policy_store, &p))
        .with_config(controller::Config::default().concurrency(args.concurrent))
        .graceful_shutdown_on(shutdown_signal())
        .run(
            reconcile::<ImageUpdateAutomation, Context>,
            error_policy::<ImageUpdateAutomation, Context>,
            ctx,
        )
        .for_each(runtime::log_result);
    tracing::info!(
        controller = CONTROLLER,
        "starting the ImageUpdateAutomation controller"
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
