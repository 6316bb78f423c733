//! The HelmRelease reconciler: chart source (a HelmChart it keeps, or `chartRef`) →
//! dependencies → chart artifact → values → the release loop (`atomic`), with Flux's
//! conditions, status fields and events.
//!
//! Same shape as the other reconcilers: phases in order, the first failure ends the attempt
//! and is mapped to conditions, event and requeue by `runtime::outcome`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::helm::v2::{HelmRelease, HelmReleaseStatus};
use api::helm::{condition, reason as reasons};
use api::meta::{Artifact, ConditionStatus, FINALIZER, READY, RECONCILING, STALLED, reason};
use api::source::v1::{HelmChart, OCIRepository};
use artifacts::fetch::{FetchError, FetchOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Recorder, Severity};
use runtime::metrics::{Metrics, ObjectLabels};
use runtime::outcome::{self, Failure, Requeue};
use runtime::requeue::Backoff;
use runtime::{StatusWriter, now_rfc3339, requested_at};
use ssa::{Applier, Discovery, Impersonation};
use tracing::Instrument;

use crate::actions::{Executor, ReleaseOptions};
use crate::storage::ReleaseStore;
use crate::{atomic, chart_template, values};

pub const KIND: &str = "HelmRelease";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

pub struct Context {
    pub client: Client,
    pub impersonation: Impersonation,
    pub discovery: Discovery,
    pub applied: ssa::AppliedCache,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub backoff: Backoff,
    pub http: reqwest::Client,
    pub jitter_percent: u8,
    pub concurrent_ssa: usize,
    pub requeue_dependency: Duration,
    pub http_retry: u32,
    pub default_service_account: Option<String>,
    /// The API server's version (`.Capabilities.KubeVersion`), read once.
    pub kube_version: tokio::sync::OnceCell<String>,
}

impl Context {
    /// The API server's version as `v<major>.<minor>.<patch>`; Helm's default when it cannot
    /// be read.
    async fn kube_version(&self) -> String {
        self.kube_version
            .get_or_init(|| async {
                match self.client.apiserver_version().await {
                    Ok(info) => info.git_version,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the API server version; templates see Helm's default");
                        helm::DEFAULT_KUBE_VERSION.to_owned()
                    }
                }
            })
            .await
            .clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("updating HelmRelease {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

fn duration(text: Option<&str>, default: Duration) -> Duration {
    text.and_then(|t| api::duration::parse(t).ok())
        .unwrap_or(default)
}

fn interval(object: &HelmRelease) -> Duration {
    duration(Some(&object.spec.interval), Duration::from_secs(600))
}

fn backoff_key(object: &HelmRelease) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// The release's identity: name (shortened past 53 characters, as Flux does), namespace,
/// and the namespace its storage Secrets are in.
pub struct Identity {
    pub name: String,
    pub namespace: String,
    pub storage_namespace: String,
}

impl Identity {
    pub fn of(object: &HelmRelease) -> Identity {
        let namespace = object.namespace().unwrap_or_default();
        let target = object.spec.target_namespace.clone();
        let name = match (&object.spec.release_name, &target) {
            (Some(name), _) => name.clone(),
            (None, Some(target)) => format!("{target}-{}", object.name_any()),
            (None, None) => object.name_any(),
        };
        Identity {
            name: helm::release::shorten_name(&name),
            namespace: target.unwrap_or_else(|| namespace.clone()),
            storage_namespace: object.spec.storage_namespace.clone().unwrap_or(namespace),
        }
    }
}

pub async fn reconcile(object: Arc<HelmRelease>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = runtime::reconcile_span(KIND, object.as_ref());
    reconcile_object(object, ctx).instrument(span).await
}

async fn reconcile_object(object: Arc<HelmRelease>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<HelmRelease> = Api::namespaced(ctx.client.clone(), &namespace);
    let kube_err = |source| Error::Kube {
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let labels = ObjectLabels {
        kind: KIND.into(),
        name: name.clone(),
        namespace: namespace.clone(),
    };
    if object.metadata.deletion_timestamp.is_some() {
        if object.finalizers().iter().any(|f| f == FINALIZER) {
            if let Err(message) = finalize(&object, &ctx).await {
                // The finalizer stays: the uninstall is tried again.
                tracing::error!(error = %message, "finalization failed");
                let event = EventRecord::new(Severity::Error, reasons::UNINSTALL_FAILED, &message);
                ctx.recorder.record(object.as_ref(), event).await;
                return Ok(Action::requeue(
                    ctx.backoff.next_delay(&backoff_key(&object)),
                ));
            }
            runtime::remove_finalizer(&api, object.as_ref(), FINALIZER)
                .await
                .map_err(kube_err)?;
            ctx.metrics.forget(&labels);
        }
        return Ok(Action::await_change());
    }
    runtime::add_finalizer(&api, object.as_ref(), FINALIZER)
        .await
        .map_err(kube_err)?;
    ctx.metrics.record_suspend(&labels, object.spec.suspend);
    if object.spec.suspend {
        tracing::info!("reconciliation is suspended for this object");
        return Ok(Action::await_change());
    }

    let mut writer = StatusWriter::new(&object.status);
    let mut status = object.status.clone().unwrap_or_default();
    let mut conditions = Conditions::new(
        status.conditions.take(),
        object.metadata.generation,
        now_rfc3339(),
    );
    let mut progress = Progress {
        api: &api,
        name: &name,
        writer: &mut writer,
    };
    let outcome = run(&object, &ctx, &mut progress, &mut status, &mut conditions).await;
    if let Some(requested) = requested_at(object.as_ref()) {
        status.last_handled_reconcile_at = Some(requested);
    }
    let requeue = conclude(&object, &ctx, outcome, &mut status, &mut conditions).await;
    status.conditions = Some(conditions.into_vec());
    ctx.metrics
        .record_conditions(&labels, status.conditions.as_deref().unwrap_or_default());
    progress
        .writer
        .write(&api, &name, &status)
        .await
        .map_err(kube_err)?;
    ctx.metrics.record_duration(&labels, started.elapsed());
    Ok(requeue.action(
        interval(&object),
        ctx.jitter_percent,
        &ctx.backoff,
        &backoff_key(&object),
    ))
}

/// Ready mirrors Released (Remediated, when present, keeps it False); failures go through
/// the shared mapping.
async fn conclude(
    object: &HelmRelease,
    ctx: &Context,
    outcome: Result<(), Failure>,
    status: &mut HelmReleaseStatus,
    conditions: &mut Conditions,
) -> Requeue {
    let conclusion = match &outcome {
        Ok(()) => {
            let conclusion = outcome::succeeded(conditions, &[]);
            // Ready follows the tests when they count, else the release.
            let tests_count = object
                .spec
                .test
                .as_ref()
                .is_some_and(|t| t.enable && !t.ignore_failures);
            let summary = conditions
                .get(condition::TEST_SUCCESS)
                .filter(|_| tests_count)
                .or_else(|| conditions.get(condition::RELEASED))
                .cloned();
            if let Some(released) = summary {
                conditions.set(
                    READY,
                    released.status,
                    &released.reason,
                    released.message.clone(),
                );
            }
            conclusion
        }
        Err(failure) => {
            outcome::log_failure(failure);
            let conclusion = outcome::failed(conditions, failure);
            // Out of retries: Stalled says so, Ready keeps the release's failure.
            if failure.reason == reasons::RETRIES_EXCEEDED
                && let Some(released) = conditions
                    .get(condition::RELEASED)
                    .filter(|c| c.status == ConditionStatus::False)
                    .cloned()
            {
                conditions.mark_false(READY, &released.reason, released.message);
            }
            conclusion
        }
    };
    if conclusion.observed {
        status.observed_generation = object.metadata.generation;
    }
    if let Some(event) = conclusion.event {
        let event = atomic::annotate(event, status);
        ctx.recorder.record(object, event).await;
    }
    conclusion.requeue
}

pub fn error_policy(object: Arc<HelmRelease>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::error!(kind = KIND, namespace = object.namespace().unwrap_or_default(), name = object.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff.next_delay(&backoff_key(&object)))
}

/// Where a reconcile writes its progress.
pub struct Progress<'a> {
    api: &'a Api<HelmRelease>,
    name: &'a str,
    writer: &'a mut StatusWriter,
}

impl Progress<'_> {
    /// Records progress (Reconciling, attempted revision) while the reconcile runs; a
    /// failure to write it is logged, the reconcile goes on.
    pub async fn record(&mut self, status: &HelmReleaseStatus, conditions: &Conditions) {
        let mut snapshot = status.clone();
        snapshot.conditions = Some(conditions.items.clone());
        if let Err(e) = self.writer.write(self.api, self.name, &snapshot).await {
            tracing::warn!(kind = KIND, name = self.name, error = %e, "failed to record progress");
        }
    }
}

/// The phases of one attempt, in order; the first failure ends it.
async fn run(
    object: &HelmRelease,
    ctx: &Context,
    progress: &mut Progress<'_>,
    status: &mut HelmReleaseStatus,
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    let custom_checks = object
        .spec
        .health_check_exprs
        .iter()
        .flatten()
        .map(ssa::health::CustomCheck::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::stalled(reasons::INVALID_CEL_EXPRESSION, e.to_string()))?;
    let source = chart_source(object, ctx, status).await?;
    conditions.mark_true(RECONCILING, reason::PROGRESSING, "Fulfilling prerequisites");
    progress.record(status, conditions).await;
    check_dependencies(object, ctx).await?;
    let artifact = source_artifact(ctx, &source).await?;
    let config = compose_values(object, ctx).await?;
    let mut chart = load_chart(ctx, &artifact).await?;
    let oci_digest = mutate_chart_version(&source, &artifact, &mut chart)?;
    let identity = Identity::of(object);
    let clients = apply_clients(object, ctx)?;
    let applier = Applier {
        client: clients.clone(),
        discovery_client: ctx.client.clone(),
        discovery: &ctx.discovery,
        manager: ssa::HELM_CONTROLLER,
        owner_name: object.name_any(),
        owner_namespace: object.namespace().unwrap_or_default(),
        concurrency: ctx.concurrent_ssa,
        force: object.spec.upgrade.as_ref().is_some_and(|u| u.force),
        applied: &ctx.applied,
        custom_checks: &custom_checks,
    };
    uninstall_moved_release(object, ctx, &applier, &identity, status).await?;
    let store = ReleaseStore::new(clients.clone(), &identity.storage_namespace);
    status.storage_namespace = Some(identity.storage_namespace.clone());
    let owner_namespace = object.namespace().unwrap_or_default();
    let owner_name = object.name_any();
    let executor = Executor {
        applier: &applier,
        store: &store,
        name: &identity.name,
        namespace: &identity.namespace,
        owner: (&owner_name, &owner_namespace),
        post_renderers: object.spec.post_renderers.as_deref().unwrap_or_default(),
        common_metadata: object.spec.common_metadata.as_ref(),
        kube_version: ctx.kube_version().await,
        cluster: Some(Arc::new(crate::lookup::KubeLookup {
            client: clients,
            runtime: tokio::runtime::Handle::current(),
        })),
    };
    let request = atomic::Request {
        chart: &chart,
        config: &config,
        oci_digest: oci_digest.as_deref(),
    };
    atomic::reconcile(
        object, ctx, &executor, &request, progress, status, conditions,
    )
    .await
}

/// A new release name, target or storage namespace: the release made under the old ones
/// is uninstalled and the history starts over (Flux's `ReleaseTargetChanged`).
async fn uninstall_moved_release(
    object: &HelmRelease,
    ctx: &Context,
    applier: &Applier<'_>,
    identity: &Identity,
    status: &mut HelmReleaseStatus,
) -> Result<(), Failure> {
    let Some(latest) = status.history.as_ref().and_then(|h| h.first()).cloned() else {
        return Ok(());
    };
    let old_storage = status
        .storage_namespace
        .clone()
        .unwrap_or_else(|| identity.storage_namespace.clone());
    if latest.name == identity.name
        && latest.namespace == identity.namespace
        && old_storage == identity.storage_namespace
    {
        return Ok(());
    }
    let store = ReleaseStore::new(applier.client.clone(), &old_storage);
    let failed = |e: String| {
        Failure::retryable(
            reasons::UNINSTALL_FAILED,
            format!(
                "failed to uninstall release {}/{} after its target changed: {e}",
                latest.namespace, latest.name
            ),
        )
    };
    let history = store
        .history(&latest.name)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let owner_namespace = object.namespace().unwrap_or_default();
    let owner_name = object.name_any();
    let executor = Executor {
        applier,
        store: &store,
        name: &latest.name,
        namespace: &latest.namespace,
        owner: (&owner_name, &owner_namespace),
        post_renderers: &[],
        common_metadata: None,
        kube_version: helm::DEFAULT_KUBE_VERSION.to_owned(),
        cluster: None,
    };
    let options = release_options(object, true);
    executor
        .uninstall(&history, false, &options)
        .await
        .map_err(|e| failed(e.message))?;
    let message = format!(
        "Helm uninstall succeeded for release {}/{}.v{} with chart {}@{}: release target changed",
        latest.namespace, latest.name, latest.version, latest.chart_name, latest.chart_version
    );
    let event = EventRecord::new(Severity::Info, reasons::UNINSTALL_SUCCEEDED, message);
    ctx.recorder.record(object, event).await;
    status.history = None;
    status.failures = None;
    status.install_failures = None;
    status.upgrade_failures = None;
    Ok(())
}

/// The source of the chart: the HelmChart kept for `spec.chart` (applied now), or what
/// `spec.chartRef` names. Returns (kind, namespace, name).
async fn chart_source(
    object: &HelmRelease,
    ctx: &Context,
    status: &mut HelmReleaseStatus,
) -> Result<(String, String, String), Failure> {
    let namespace = object.namespace().unwrap_or_default();
    match (&object.spec.chart, &object.spec.chart_ref) {
        (Some(template), None) => {
            let (chart_namespace, chart_name) = chart_template::chart_ref(object, template);
            let reference = format!("{chart_namespace}/{chart_name}");
            if let Some(old) = status.helm_chart.clone().filter(|old| *old != reference)
                && let Some((old_ns, old_name)) = old.split_once('/')
            {
                chart_template::delete(&ctx.client, old_ns, old_name)
                    .await
                    .map_err(|e| Failure::retryable(reasons::HELM_CHART_SYNC_ERR, e))?;
            }
            match chart_template::apply(&ctx.client, object, template).await {
                Ok(Some((reason, message))) => {
                    let event = EventRecord::new(Severity::Trace, reason, message);
                    ctx.recorder.record(object, event).await;
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(Failure::retryable(
                        reasons::HELM_CHART_SYNC_ERR,
                        format!("failed to apply HelmChart '{reference}': {e}"),
                    ));
                }
            }
            status.helm_chart = Some(reference);
            Ok(("HelmChart".into(), chart_namespace, chart_name))
        }
        (None, Some(reference))
            if matches!(reference.kind.as_str(), "HelmChart" | "OCIRepository") =>
        {
            if let Some(old) = status.helm_chart.take()
                && let Some((old_ns, old_name)) = old.split_once('/')
            {
                chart_template::delete(&ctx.client, old_ns, old_name)
                    .await
                    .map_err(|e| Failure::retryable(reasons::HELM_CHART_SYNC_ERR, e))?;
            }
            let source_namespace = reference.namespace.clone().unwrap_or(namespace);
            Ok((
                reference.kind.clone(),
                source_namespace,
                reference.name.clone(),
            ))
        }
        (None, Some(reference)) => Err(Failure::stalled(
            reasons::ARTIFACT_FAILED,
            format!(
                "invalid Chart reference: kind '{}' is not supported (OCIRepository or HelmChart)",
                reference.kind
            ),
        )),
        _ => Err(Failure::stalled(
            reasons::ARTIFACT_FAILED,
            "invalid Chart reference: exactly one of spec.chart and spec.chartRef must be set",
        )),
    }
}

/// HelmReleases this one depends on must exist, be Ready and have observed their generation.
async fn check_dependencies(object: &HelmRelease, ctx: &Context) -> Result<(), Failure> {
    let namespace = object.namespace().unwrap_or_default();
    for dependency in object.spec.depends_on.iter().flatten() {
        let dep_namespace = dependency
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.clone());
        let api: Api<HelmRelease> = Api::namespaced(ctx.client.clone(), &dep_namespace);
        let ready = match api.get_opt(&dependency.name).await {
            Ok(Some(dep)) => {
                let status = dep.status.clone().unwrap_or_default();
                status.observed_generation == dep.metadata.generation
                    && status
                        .conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == READY && c.status == ConditionStatus::True)
            }
            _ => false,
        };
        if !ready {
            let retrying = api::duration::format(ctx.requeue_dependency);
            let event = EventRecord::new(
                Severity::Info,
                reasons::DEPENDENCY_NOT_READY,
                format!("Dependencies do not meet ready condition, retrying in {retrying}"),
            );
            ctx.recorder.record(object, event).await;
            return Err(Failure::waiting(
                reasons::DEPENDENCY_NOT_READY,
                format!(
                    "dependency '{dep_namespace}/{}' is not ready",
                    dependency.name
                ),
                ctx.requeue_dependency,
            ));
        }
    }
    Ok(())
}

/// The source's artifact, once the source is ready: generation observed, not stalled, an
/// artifact stored.
async fn source_artifact(
    ctx: &Context,
    (kind, namespace, name): &(String, String, String),
) -> Result<Artifact, Failure> {
    let not_ready = |message: String| {
        Failure::waiting(
            reasons::SOURCE_NOT_READY,
            format!("{kind} '{namespace}/{name}' is not ready: {message}"),
            ctx.requeue_dependency,
        )
    };
    let get_failed = |e: kube::Error| {
        Failure::retryable(
            reasons::ARTIFACT_FAILED,
            format!("could not get Source object: {e}"),
        )
    };
    let (generation, status) = if kind == "HelmChart" {
        let api: Api<HelmChart> = Api::namespaced(ctx.client.clone(), namespace);
        let chart = api.get_opt(name).await.map_err(get_failed)?;
        let chart = chart.ok_or_else(|| not_ready("not found".into()))?;
        let status = chart.status.unwrap_or_default();
        (
            chart.metadata.generation,
            (
                status.observed_generation,
                status.conditions,
                status.artifact,
            ),
        )
    } else {
        let api: Api<OCIRepository> = Api::namespaced(ctx.client.clone(), namespace);
        let source = api.get_opt(name).await.map_err(get_failed)?;
        let source = source.ok_or_else(|| not_ready("not found".into()))?;
        let status = source.status.unwrap_or_default();
        (
            source.metadata.generation,
            (
                Some(status.observed_generation),
                status.conditions,
                status.artifact,
            ),
        )
    };
    let (observed, conditions, artifact) = status;
    let ready_message = conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == READY)
        .map(|c| c.message.clone())
        .unwrap_or_else(|| "reconciliation in progress".into());
    let stalled = conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == STALLED && c.status == ConditionStatus::True);
    if observed != generation || stalled {
        return Err(not_ready(ready_message));
    }
    artifact.ok_or_else(|| not_ready(ready_message))
}

/// `valuesFrom` (in the HelmRelease's namespace) then `values`.
async fn compose_values(
    object: &HelmRelease,
    ctx: &Context,
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    let namespace = object.namespace().unwrap_or_default();
    let mut texts: Vec<(String, String, Option<String>)> = Vec::new();
    let values_error = |message: String| Failure::retryable(reasons::VALUES_ERROR, message);
    for reference in object.spec.values_from.iter().flatten() {
        let key = reference
            .values_key
            .clone()
            .unwrap_or_else(|| "values.yaml".into());
        let kind = format!("{:?}", reference.kind);
        let data = match reference.kind {
            api::helm::ValuesKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
                api.get_opt(&reference.name)
                    .await
                    .map(|found| found.map(|cm| cm.data.unwrap_or_default().get(&key).cloned()))
            }
            api::helm::ValuesKind::Secret => {
                let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
                api.get_opt(&reference.name).await.map(|found| {
                    found.map(|s| {
                        s.data
                            .unwrap_or_default()
                            .get(&key)
                            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    })
                })
            }
        };
        let described = format!("{kind} '{namespace}/{}'", reference.name);
        let text = match data {
            Ok(Some(Some(text))) => text,
            Ok(found) if reference.optional => {
                tracing::info!(reference = %described, key, found = found.is_some(), "optional values reference skipped");
                continue;
            }
            Ok(None) => {
                return Err(values_error(format!(
                    "could not resolve {kind} chart values reference '{namespace}/{}' with key '{key}': not found",
                    reference.name
                )));
            }
            Ok(Some(None)) => {
                return Err(values_error(format!(
                    "missing key '{key}' in {kind} '{namespace}/{}'",
                    reference.name
                )));
            }
            Err(e) => {
                return Err(values_error(format!(
                    "could not resolve {kind} chart values reference '{namespace}/{}' with key '{key}': {e}",
                    reference.name
                )));
            }
        };
        texts.push((
            format!("{described} key '{key}'"),
            text,
            reference.target_path.clone(),
        ));
    }
    let references: Vec<values::ReferencedValues<'_>> = texts
        .iter()
        .map(|(description, text, target)| values::ReferencedValues {
            description: description.clone(),
            text,
            target_path: target.as_deref(),
        })
        .collect();
    let inline = match &object.spec.values {
        Some(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    };
    values::compose(&references, inline).map_err(values_error)
}

/// Downloads the chart (digest checked) and loads it.
async fn load_chart(ctx: &Context, artifact: &Artifact) -> Result<helm::Chart, Failure> {
    let options = FetchOptions {
        retries: ctx.http_retry,
        ..FetchOptions::default()
    };
    let digest = artifact.digest.clone().unwrap_or_default();
    let bytes = artifacts::fetch::fetch_verified(&ctx.http, &artifact.url, &digest, options)
        .await
        .map_err(|e| match e {
            FetchError::NotFound(_) => Failure::waiting(
                reasons::ARTIFACT_FAILED,
                "Source not ready: artifact not found. Retrying in 30s",
                Duration::from_secs(30),
            ),
            other => Failure::retryable(
                reasons::ARTIFACT_FAILED,
                format!("Could not load chart: {other}"),
            ),
        })?;
    tokio::task::spawn_blocking(move || helm::Chart::load_archive(&bytes))
        .await
        .map_err(|e| Failure::retryable(reasons::ARTIFACT_FAILED, e.to_string()))?
        .map_err(|e| {
            Failure::retryable(
                reasons::ARTIFACT_FAILED,
                format!("Could not load chart: {e}"),
            )
        })
}

/// A chart from an OCIRepository gets the artifact digest as build metadata
/// (`<version>+<12 hex>`), after checking a version tag matches the chart's version.
fn mutate_chart_version(
    (kind, _, _): &(String, String, String),
    artifact: &Artifact,
    chart: &mut helm::Chart,
) -> Result<Option<String>, Failure> {
    if kind != "OCIRepository" {
        return Ok(None);
    }
    let mutate_error = |message: String| Failure::stalled(reasons::CHART_MUTATE_ERROR, message);
    let (tag, digest) = match artifact.revision.rsplit_once('@') {
        Some((tag, digest)) => (Some(tag), digest),
        None => (None, artifact.revision.as_str()),
    };
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    if hex.len() < 12 {
        return Err(mutate_error(format!(
            "invalid artifact revision {}",
            artifact.revision
        )));
    }
    let version = chart.version();
    if let Some(tag) = tag {
        let tag_version = tag.replace('_', "+");
        if helm_semver_parses(&tag_version) && tag_version != version {
            return Err(mutate_error(format!(
                "artifact revision {tag_version} does not match chart version {version}"
            )));
        }
    }
    let base = version.split('+').next().unwrap_or_default();
    chart.metadata.insert(
        "version".into(),
        serde_json::Value::String(format!("{base}+{}", &hex[..12])),
    );
    Ok(Some(digest.to_owned()))
}

fn helm_semver_parses(text: &str) -> bool {
    let core = text.trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    core.split('.').count() == 3
        && core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The client releases are applied and stored with: the controller's, or impersonating
/// `serviceAccountName` (or the default service account flag).
fn apply_clients(object: &HelmRelease, ctx: &Context) -> Result<Client, Failure> {
    if object.spec.kube_config.is_some() {
        return Err(Failure::stalled(
            reasons::RESTCLIENT_ERROR,
            "spec.kubeConfig is not supported by flux-rs' helm-controller yet",
        ));
    }
    let namespace = object.namespace().unwrap_or_default();
    match object
        .spec
        .service_account_name
        .as_ref()
        .or(ctx.default_service_account.as_ref())
    {
        Some(sa) => ctx.impersonation.client_for(&namespace, sa).map_err(|e| {
            Failure::retryable(
                reasons::RESTCLIENT_ERROR,
                format!("failed to impersonate service account {namespace}/{sa}: {e}"),
            )
        }),
        None => Ok(ctx.client.clone()),
    }
}

/// The object is being deleted: unless suspended, its release is uninstalled and its
/// HelmChart deleted.
async fn finalize(object: &HelmRelease, ctx: &Context) -> Result<(), String> {
    if object.spec.suspend {
        return Ok(());
    }
    let status = object.status.clone().unwrap_or_default();
    if status.storage_namespace.is_some() {
        let identity = Identity::of(object);
        let client = apply_clients(object, ctx).map_err(|f| f.message)?;
        let applier = Applier {
            client: client.clone(),
            discovery_client: ctx.client.clone(),
            discovery: &ctx.discovery,
            manager: ssa::HELM_CONTROLLER,
            owner_name: object.name_any(),
            owner_namespace: object.namespace().unwrap_or_default(),
            concurrency: ctx.concurrent_ssa,
            force: false,
            applied: &ctx.applied,
            custom_checks: &[],
        };
        let store = ReleaseStore::new(client, &identity.storage_namespace);
        let history = store
            .history(&identity.name)
            .await
            .map_err(|e| e.to_string())?;
        let uninstall = object.spec.uninstall.clone().unwrap_or_default();
        let options = ReleaseOptions {
            timeout: duration(
                uninstall
                    .timeout
                    .as_deref()
                    .or(object.spec.timeout.as_deref()),
                DEFAULT_TIMEOUT,
            ),
            disable_wait: uninstall.disable_wait,
            disable_hooks: uninstall.disable_hooks,
            ..ReleaseOptions::default()
        };
        let owner_namespace = object.namespace().unwrap_or_default();
        let owner_name = object.name_any();
        let executor = Executor {
            applier: &applier,
            store: &store,
            name: &identity.name,
            namespace: &identity.namespace,
            owner: (&owner_name, &owner_namespace),
            post_renderers: &[],
            common_metadata: None,
            kube_version: helm::DEFAULT_KUBE_VERSION.to_owned(),
            cluster: None,
        };
        let live = history
            .last()
            .is_some_and(|r| r.info.status != helm::release::Status::Uninstalled);
        if live {
            executor
                .uninstall(&history, uninstall.keep_history, &options)
                .await
                .map_err(|e| {
                    format!(
                        "Helm uninstall failed for release {}/{}: {}",
                        identity.namespace, identity.name, e.message
                    )
                })?;
            let event = EventRecord::new(
                Severity::Info,
                reasons::UNINSTALL_SUCCEEDED,
                format!(
                    "Helm uninstall succeeded for release {}/{}",
                    identity.namespace, identity.name
                ),
            );
            ctx.recorder.record(object, event).await;
        }
    }
    if let Some((namespace, name)) = status.helm_chart.as_deref().and_then(|r| r.split_once('/')) {
        chart_template::delete(&ctx.client, namespace, name).await?;
        let event = EventRecord::new(
            Severity::Trace,
            reasons::HELM_CHART_DELETED,
            format!("deleted HelmChart '{namespace}/{name}'"),
        );
        ctx.recorder.record(object, event).await;
    }
    Ok(())
}

/// The timeouts and switches of the install or upgrade about to run.
pub fn release_options(object: &HelmRelease, upgrade: bool) -> ReleaseOptions {
    let spec = &object.spec;
    let max_history = spec.max_history.unwrap_or(5).max(0) as usize;
    if upgrade {
        let upgrade = spec.upgrade.clone().unwrap_or_default();
        ReleaseOptions {
            timeout: duration(
                upgrade.timeout.as_deref().or(spec.timeout.as_deref()),
                DEFAULT_TIMEOUT,
            ),
            disable_wait: upgrade.disable_wait,
            disable_hooks: upgrade.disable_hooks,
            skip_crds: upgrade.crds == Some(api::helm::CrdsPolicy::Skip),
            skip_schema_validation: upgrade.disable_schema_validation,
            max_history,
            create_namespace: false,
        }
    } else {
        let install = spec.install.clone().unwrap_or_default();
        ReleaseOptions {
            timeout: duration(
                install.timeout.as_deref().or(spec.timeout.as_deref()),
                DEFAULT_TIMEOUT,
            ),
            disable_wait: install.disable_wait,
            disable_hooks: install.disable_hooks,
            skip_crds: install.crds == Some(api::helm::CrdsPolicy::Skip),
            skip_schema_validation: install.disable_schema_validation,
            max_history,
            create_namespace: install.create_namespace && spec.target_namespace.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release(spec: serde_json::Value) -> HelmRelease {
        serde_json::from_value(json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": spec
        }))
        .unwrap()
    }

    #[test]
    fn release_names_follow_flux() {
        let identity = Identity::of(&release(
            json!({"interval": "10m", "targetNamespace": "default"}),
        ));
        assert_eq!(
            (
                identity.name.as_str(),
                identity.namespace.as_str(),
                identity.storage_namespace.as_str()
            ),
            ("default-podinfo", "default", "flux-system")
        );
        let identity = Identity::of(&release(json!({"interval": "10m"})));
        assert_eq!(
            (identity.name.as_str(), identity.namespace.as_str()),
            ("podinfo", "flux-system")
        );
        let identity = Identity::of(&release(json!({"interval": "10m", "releaseName": "x",
            "storageNamespace": "store"})));
        assert_eq!(
            (identity.name.as_str(), identity.storage_namespace.as_str()),
            ("x", "store")
        );
        let long = "a".repeat(60);
        let identity = Identity::of(&release(
            json!({"interval": "10m", "targetNamespace": long}),
        ));
        assert_eq!(identity.name.len(), 53);
    }

    #[test]
    fn oci_charts_carry_the_digest_in_their_version() {
        let mut chart = helm::Chart::from_files(vec![helm::chart::ChartFile {
            name: "Chart.yaml".into(),
            data: b"apiVersion: v2\nname: podinfo\nversion: 6.6.1\n"
                .to_vec()
                .into(),
        }])
        .unwrap();
        let source = (
            "OCIRepository".to_owned(),
            "ns".to_owned(),
            "podinfo".to_owned(),
        );
        let artifact = Artifact {
            revision:
                "6.6.1@sha256:0cc9a8446c95f9c1ec2fa1a7e4c2c1c1e0f1b2c3d4e5f60718293a4b5c6d7e8f"
                    .into(),
            ..Artifact::default()
        };
        let digest = mutate_chart_version(&source, &artifact, &mut chart).unwrap();
        assert_eq!(chart.version(), "6.6.1+0cc9a8446c95");
        assert!(digest.unwrap().starts_with("sha256:0cc9a8446c95"));
        let wrong = Artifact {
            revision:
                "6.7.0@sha256:0cc9a8446c95f9c1ec2fa1a7e4c2c1c1e0f1b2c3d4e5f60718293a4b5c6d7e8f"
                    .into(),
            ..Artifact::default()
        };
        let failure = mutate_chart_version(&source, &wrong, &mut chart).unwrap_err();
        assert_eq!(failure.reason, reasons::CHART_MUTATE_ERROR);
    }
}
