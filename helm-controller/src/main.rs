//! flux-rs helm-controller: a drop-in replacement for Flux's helm-controller for
//! HelmReleases of charts from HelmCharts (OCI HelmRepositories) and OCIRepositories.

mod actions;
mod atomic;
mod chart_template;
mod helmrelease;
mod lookup;
mod postrender;
mod snapshot;
mod state;
mod storage;
mod values;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use api::helm::v2::HelmRelease;
use api::meta::Artifact;
use api::source::v1::{HelmChart, OCIRepository};
use clap::Parser;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use runtime::events::Recorder;

use runtime::requeue::Backoff;
use runtime::{CommonArgs, shutdown_signal};

const CONTROLLER: &str = "helm-controller";

#[derive(Parser, Debug)]
#[command(name = CONTROLLER, version, about = "flux-rs helm-controller")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The number of concurrent reconciles.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
    /// The number of concurrent server-side apply requests per reconcile.
    #[arg(long, default_value_t = 4)]
    concurrent_ssa: u16,
    /// Retries when downloading chart artifacts.
    #[arg(long, default_value_t = 9)]
    http_retry: u32,
    /// The service account releases impersonate when a HelmRelease names none.
    #[arg(long, default_value = "")]
    default_service_account: String,
}

/// A source event reconciles its HelmReleases when its artifact revision or readiness
/// changed (Flux's `SourceRevisionChangePredicate`).
fn source_hash(artifact: Option<&Artifact>, ready: bool) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    artifact.map(|a| a.revision.clone()).hash(&mut hasher);
    ready.hash(&mut hasher);
    Some(hasher.finish())
}

fn is_ready(conditions: Option<&Vec<api::meta::Condition>>) -> bool {
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == api::meta::READY && c.status == api::meta::ConditionStatus::True)
}

/// The HelmReleases whose chart comes from the source `kind` `namespace/name`: through the
/// HelmChart they keep (named by its origin labels) or `chartRef`.
fn dependents(
    store: &Store<HelmRelease>,
    kind: &str,
    namespace: &str,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<ObjectRef<HelmRelease>> {
    let owner = (
        labels.get(ssa::HELM_CONTROLLER.name_label),
        labels.get(ssa::HELM_CONTROLLER.namespace_label),
    );
    store
        .state()
        .iter()
        .filter(|hr| {
            let hr_namespace = hr.namespace().unwrap_or_default();
            let by_template = kind == "HelmChart"
                && owner == (Some(&hr.name_any()), Some(&hr_namespace))
                && hr.spec.chart.is_some();
            let by_reference = hr.spec.chart_ref.as_ref().is_some_and(|r| {
                r.kind == kind
                    && r.name == name
                    && r.namespace.as_deref().unwrap_or(&hr_namespace) == namespace
            });
            by_template || by_reference
        })
        .map(|hr| ObjectRef::from_obj(hr.as_ref()))
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
    let ctx = Arc::new(helmrelease::Context {
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
        kube_version: Default::default(),
    });

    let releases: Api<HelmRelease> = runtime::watched_api(&client, &args.common);
    let charts: Api<HelmChart> = runtime::watched_api(&client, &args.common);
    let oci_sources: Api<OCIRepository> = runtime::watched_api(&client, &args.common);
    let (reader, writer) = reflector::store();
    let triggers = watcher(releases, runtime::watch_config(&args.common))
        .default_backoff()
        .modify(|o: &mut HelmRelease| o.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(runtime::trigger_hash, Default::default());
    let chart_changes = watcher(charts, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .predicate_filter(
            |c: &HelmChart| {
                let status = c.status.as_ref();
                source_hash(
                    status.and_then(|s| s.artifact.as_ref()),
                    is_ready(status.and_then(|s| s.conditions.as_ref())),
                )
            },
            Default::default(),
        );
    let oci_changes = watcher(oci_sources, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .predicate_filter(
            |o: &OCIRepository| {
                let status = o.status.as_ref();
                source_hash(
                    status.and_then(|s| s.artifact.as_ref()),
                    is_ready(status.and_then(|s| s.conditions.as_ref())),
                )
            },
            Default::default(),
        );
    let (chart_store, oci_store) = (reader.clone(), reader.clone());
    let controller = Controller::for_stream(triggers, reader)
        .watches_stream(chart_changes, move |chart: HelmChart| {
            let namespace = chart.namespace().unwrap_or_default();
            dependents(
                &chart_store,
                "HelmChart",
                &namespace,
                &chart.name_any(),
                chart.labels(),
            )
        })
        .watches_stream(oci_changes, move |source: OCIRepository| {
            let namespace = source.namespace().unwrap_or_default();
            dependents(
                &oci_store,
                "OCIRepository",
                &namespace,
                &source.name_any(),
                source.labels(),
            )
        })
        .with_config(controller::Config::default().concurrency(args.concurrent))
        .graceful_shutdown_on(shutdown_signal())
        .run(helmrelease::reconcile, helmrelease::error_policy, ctx)
        .for_each(runtime::log_result);
    tracing::info!(
        controller = CONTROLLER,
        "starting the HelmRelease controller"
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
