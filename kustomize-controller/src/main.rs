//! flux-rs kustomize-controller: a drop-in replacement for Flux's kustomize-controller for
//! Kustomizations built from OCIRepository and GitRepository artifacts.

mod kustomization;
mod remote;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use api::kustomize::v1::Kustomization;
use api::source::v1::{GitRepository, OCIRepository};
use clap::Parser;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use runtime::events::Recorder;

use runtime::requeue::Backoff;
use runtime::{CommonArgs, shutdown_signal};

const CONTROLLER: &str = "kustomize-controller";

#[derive(Parser, Debug)]
#[command(name = CONTROLLER, version, about = "flux-rs kustomize-controller")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The number of concurrent reconciles.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
    /// The number of concurrent server-side apply requests per reconcile.
    #[arg(long, default_value_t = 4)]
    concurrent_ssa: u16,
    /// Retries when downloading artifacts.
    #[arg(long, default_value_t = 9)]
    http_retry: u32,
    /// Refuse remote bases in kustomizations (always the case in flux-rs).
    #[arg(long, default_value_t = false)]
    no_remote_bases: bool,
    /// The service account applies impersonate when a Kustomization names none.
    #[arg(long, default_value = "")]
    default_service_account: String,
    /// Allow kubeConfig Secrets that skip TLS verification (`insecure-skip-tls-verify`).
    #[arg(long, default_value_t = false)]
    insecure_kubeconfig_tls: bool,
}

/// The Kustomizations whose source is `source`.
fn dependents<S: kustomization::Source>(
    store: &Store<Kustomization>,
    source: &S,
) -> Vec<ObjectRef<Kustomization>> {
    let source_namespace = source.namespace().unwrap_or_default();
    let source_name = source.name_any();
    store
        .state()
        .iter()
        .filter(|k| {
            let reference = &k.spec.source_ref;
            reference.kind == S::KIND
                && reference.name == source_name
                && reference
                    .namespace
                    .clone()
                    .unwrap_or_else(|| k.namespace().unwrap_or_default())
                    == source_namespace
        })
        .map(|k| ObjectRef::from_obj(k.as_ref()))
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let runtime::Started {
        config,
        client,
        metrics,
        mut leadership,
        ..
    } = runtime::start(&args.common, CONTROLLER)
        .await
        .map_err(anyhow::Error::msg)?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .context("building the HTTP client")?;
    let ctx = Arc::new(kustomization::Context {
        client: client.clone(),
        impersonation: ssa::Impersonation::new(config),
        discovery: ssa::Discovery::default(),
        applied: ssa::AppliedCache::default(),
        recorder: Recorder::new(
            client.clone(),
            CONTROLLER,
            Some(args.common.events_addr.clone()),
        ),
        metrics,
        backoff: Backoff::new(args.common.min_retry_delay, args.common.max_retry_delay),
        http,
        jitter_percent: args.common.interval_jitter_percentage,
        concurrent_ssa: usize::from(args.concurrent_ssa.max(1)),
        requeue_dependency: args.common.requeue_dependency,
        http_retry: args.http_retry,
        default_service_account: Some(args.default_service_account.clone())
            .filter(|s| !s.is_empty()),
        insecure_kubeconfig_tls: args.insecure_kubeconfig_tls,
    });

    let kustomizations: Api<Kustomization> = runtime::watched_api(&client, &args.common);
    let oci_sources: Api<OCIRepository> = runtime::watched_api(&client, &args.common);
    let git_sources: Api<GitRepository> = runtime::watched_api(&client, &args.common);
    let config = runtime::watch_config(&args.common);
    let (reader, writer) = reflector::store();
    let triggers = watcher(kustomizations, config)
        .default_backoff()
        .modify(|o: &mut Kustomization| o.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(runtime::trigger_hash, Default::default());
    let oci_changes = watcher(oci_sources, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .predicate_filter(kustomization::source_revision_hash, Default::default());
    let git_changes = watcher(git_sources, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .predicate_filter(kustomization::source_revision_hash, Default::default());
    let (oci_store, git_store) = (reader.clone(), reader.clone());
    let controller = Controller::for_stream(triggers, reader)
        .watches_stream(oci_changes, move |source: OCIRepository| {
            dependents(&oci_store, &source)
        })
        .watches_stream(git_changes, move |source: GitRepository| {
            dependents(&git_store, &source)
        })
        .with_config(controller::Config::default().concurrency(args.concurrent))
        .graceful_shutdown_on(shutdown_signal())
        .run(kustomization::reconcile, kustomization::error_policy, ctx)
        .for_each(runtime::log_result);
    tracing::info!(
        controller = CONTROLLER,
        "starting the Kustomization controller"
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
