//! The Kustomization reconciler: source → fetch → build → apply → prune → health, with
//! Flux's conditions, status fields, history and events.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::kustomize::v1::{Kustomization, KustomizationStatus};
use api::kustomize::{
    DeletionPolicy, ResourceInventory, ResourceRef, Snapshot, SourceKind, SubstituteKind,
    SubstituteStrategy, reason as reasons,
};
use api::meta::{Artifact, FINALIZER, HEALTHY, READY, RECONCILING, reason};
use api::source::v1::{GitRepository, OCIRepository};
use artifacts::fetch::{FetchOptions, fetch_and_extract};
use cel_eval::Expression;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Recorder, Severity};
use runtime::metrics::{Metrics, ObjectLabels};
use runtime::outcome::{self, Failure, Marks, Requeue};
use runtime::requeue::Backoff;
use runtime::{StatusWriter, now_rfc3339, requested_at};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use ssa::health::CustomCheck;
use ssa::inventory::{self, ObjectRef};
use ssa::{self as apply, Action as Applied, Applier, Change, Discovery, Impersonation};

pub const KIND: &str = "Kustomization";
const REVISION_KEY: &str = "kustomize.toolkit.fluxcd.io/revision";
const ORIGIN_REVISION_KEY: &str = "kustomize.toolkit.fluxcd.io/originRevision";
const OCI_REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";
const HISTORY_LIMIT: usize = 5;

pub struct Context {
    pub client: Client,
    pub impersonation: Impersonation,
    pub discovery: Discovery,
    pub applied: apply::AppliedCache,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub backoff: Backoff,
    pub http: reqwest::Client,
    pub jitter_percent: u8,
    pub concurrent_ssa: usize,
    pub requeue_dependency: Duration,
    pub http_retry: u32,
    pub default_service_account: Option<String>,
    /// `--insecure-kubeconfig-tls`: kubeConfig Secrets may skip TLS verification.
    pub insecure_kubeconfig_tls: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("updating Kustomization {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// A source kind a Kustomization builds from.
pub trait Source:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: SourceKind;
    fn artifact(&self) -> Option<&Artifact>;
}

impl Source for OCIRepository {
    const KIND: SourceKind = SourceKind::OCIRepository;
    fn artifact(&self) -> Option<&Artifact> {
        self.status.as_ref()?.artifact.as_ref()
    }
}

impl Source for GitRepository {
    const KIND: SourceKind = SourceKind::GitRepository;
    fn artifact(&self) -> Option<&Artifact> {
        self.status.as_ref()?.artifact.as_ref()
    }
}

/// A source event reconciles its Kustomizations when the artifact revision changed.
pub fn source_revision_hash<S: Source>(source: &S) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source
        .artifact()
        .map(|a| a.revision.clone())
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// The artifact of the source `name` of kind `S`: Ok(None) when there is no such source.
async fn artifact_of<S: Source>(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<Option<Artifact>>, kube::Error> {
    let sources: Api<S> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(sources
        .get_opt(name)
        .await?
        .map(|source| source.artifact().cloned()))
}

fn duration(text: Option<&str>, default: Duration) -> Duration {
    text.and_then(|t| api::duration::parse(t).ok())
        .unwrap_or(default)
}

fn interval(object: &Kustomization) -> Duration {
    duration(Some(&object.spec.interval), Duration::from_secs(600))
}

/// `spec.timeout`, else the interval minus 30s; never under 30s (Flux's GetTimeout).
fn timeout(object: &Kustomization) -> Duration {
    let base = match &object.spec.timeout {
        Some(t) => duration(Some(t), Duration::from_secs(30)),
        None => interval(object).saturating_sub(Duration::from_secs(30)),
    };
    base.max(Duration::from_secs(30))
}

fn retry_interval(object: &Kustomization) -> Duration {
    duration(object.spec.retry_interval.as_deref(), interval(object))
}

/// A failed attempt: how it failed, and the objects that must stay in (or join) the
/// inventory despite it (applied before an error, or failing to be pruned).
struct Failed {
    failure: Failure,
    inventory: Option<Vec<ResourceRef>>,
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Self {
        Failed {
            failure,
            inventory: None,
        }
    }
}

/// A failure retried after `retryInterval`, with a warning event.
fn retry(object: &Kustomization, reason: &'static str, message: impl Into<String>) -> Failure {
    Failure::retryable(reason, message).retry_after(retry_interval(object))
}

/// What a successful apply produced.
struct Outcome {
    revision: String,
    origin_revision: Option<String>,
    inventory: Vec<ResourceRef>,
    digest: String,
    health_checked: bool,
}

pub async fn reconcile(object: Arc<Kustomization>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = runtime::reconcile_span(KIND, object.as_ref());
    reconcile_object(object, ctx).instrument(span).await
}

async fn reconcile_object(object: Arc<Kustomization>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<Kustomization> = Api::namespaced(ctx.client.clone(), &namespace);
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
                // The finalizer stays: the objects are deleted and waited for again.
                tracing::error!(error = %message, "finalization failed");
                ctx.recorder
                    .record(
                        object.as_ref(),
                        EventRecord::new(Severity::Error, reasons::FAILED, &message),
                    )
                    .await;
                return Ok(Action::requeue(retry_interval(&object)));
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
    // Only once the request is handled: `flux reconcile` waits for this field.
    if let Some(requested) = requested_at(object.as_ref()) {
        status.last_handled_reconcile_at = Some(requested);
    }
    let requeue = match outcome {
        Ok(applied) => {
            let elapsed = started.elapsed();
            succeeded(
                &object,
                &ctx,
                applied,
                elapsed,
                &mut status,
                &mut conditions,
            )
            .await
        }
        Err(failed) => fail(&object, &ctx, failed, &mut status, &mut conditions).await,
    };
    status.conditions = Some(conditions.into_vec());
    ctx.metrics
        .record_conditions(&labels, status.conditions.as_deref().unwrap_or_default());
    writer.write(&api, &name, &status).await.map_err(kube_err)?;
    ctx.metrics.record_duration(&labels, started.elapsed());
    let key = format!("{namespace}/{name}");
    Ok(requeue.action(interval(&object), ctx.jitter_percent, &ctx.backoff, &key))
}

/// Records a successful apply: Ready, Healthy, the applied revision, inventory and history,
/// and the "Reconciliation finished" event.
async fn succeeded(
    object: &Kustomization,
    ctx: &Context,
    applied: Outcome,
    elapsed: Duration,
    status: &mut KustomizationStatus,
    conditions: &mut Conditions,
) -> Requeue {
    let conclusion = outcome::succeeded(conditions, &[]);
    let message = format!("Applied revision: {}", applied.revision);
    conditions.mark_true(READY, reasons::SUCCEEDED, &message);
    if applied.health_checked {
        conditions.mark_true(HEALTHY, reasons::SUCCEEDED, "Health check passed");
    } else {
        conditions.delete(HEALTHY);
    }
    status.last_applied_revision = Some(applied.revision.clone());
    status.last_applied_origin_revision = applied.origin_revision.clone();
    status.inventory = Some(ResourceInventory {
        entries: applied.inventory,
    });
    status.observed_generation = object.metadata.generation;
    record_history(
        status,
        &applied.digest,
        reasons::SUCCEEDED,
        elapsed,
        &applied.revision,
        applied.origin_revision.as_deref(),
    );
    let took = api::duration::format(round_ms(elapsed));
    let mut event = EventRecord::new(
        Severity::Info,
        reasons::SUCCEEDED,
        format!(
            "Reconciliation finished in {took}, next run in {}",
            api::duration::format(interval(object))
        ),
    )
    .with_metadata(REVISION_KEY, &applied.revision)
    .with_metadata(format!("{}/commit_status", api::kustomize::GROUP), "update");
    if let Some(origin) = &applied.origin_revision {
        event = event.with_metadata(ORIGIN_REVISION_KEY, origin);
    }
    ctx.recorder.record(object, event).await;
    tracing::info!("reconciliation finished in {took}");
    conclusion.requeue
}

/// Records a failed attempt: conditions and event by the shared mapping (the event carries
/// the attempted revision), and what must stay in the inventory.
async fn fail(
    object: &Kustomization,
    ctx: &Context,
    failed: Failed,
    status: &mut KustomizationStatus,
    conditions: &mut Conditions,
) -> Requeue {
    let Failed { failure, inventory } = failed;
    outcome::log_failure(&failure);
    let conclusion = outcome::failed(conditions, &failure);
    if let Some(entries) = inventory {
        status.inventory = Some(ResourceInventory { entries });
    }
    if conclusion.observed {
        status.observed_generation = object.metadata.generation;
    }
    if let Some(mut event) = conclusion.event {
        if let Some(revision) = status.last_attempted_revision.as_deref() {
            event = event.with_metadata(REVISION_KEY, revision);
        }
        ctx.recorder.record(object, event).await;
    }
    conclusion.requeue
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

pub fn error_policy(object: Arc<Kustomization>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    );
    tracing::error!(kind = KIND, namespace = object.namespace().unwrap_or_default(), name = object.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff.next_delay(&key))
}

/// The clients objects are applied (and discovered) with: this cluster's or, with
/// `kubeConfig`, the remote one's, impersonating `serviceAccountName` (or the default
/// service account flag) when set.
async fn apply_clients(object: &Kustomization, ctx: &Context) -> Result<Clients, String> {
    let namespace = object.namespace().unwrap_or_default();
    let service_account = object
        .spec
        .service_account_name
        .as_ref()
        .or(ctx.default_service_account.as_ref());
    if let Some(reference) = &object.spec.kube_config {
        let impersonate =
            service_account.map(|sa| format!("system:serviceaccount:{namespace}:{sa}"));
        let client = crate::remote::client(
            &ctx.client,
            &namespace,
            reference,
            impersonate,
            ctx.insecure_kubeconfig_tls,
        )
        .await?;
        return Ok(Clients {
            apply: client.clone(),
            discovery: client,
            remote: true,
        });
    }
    let apply = match service_account {
        Some(sa) => ctx
            .impersonation
            .client_for(&namespace, sa)
            .map_err(|e| format!("failed to impersonate service account {namespace}/{sa}: {e}"))?,
        None => ctx.client.clone(),
    };
    Ok(Clients {
        apply,
        discovery: ctx.client.clone(),
        remote: false,
    })
}

struct Clients {
    apply: Client,
    discovery: Client,
    /// A remote cluster's kinds are discovered afresh, not from this cluster's cache.
    remote: bool,
}

fn applier<'a>(
    object: &Kustomization,
    ctx: &'a Context,
    clients: Clients,
    remote_discovery: &'a Discovery,
    custom_checks: &'a [CustomCheck],
) -> Applier<'a> {
    Applier {
        custom_checks,
        client: clients.apply,
        discovery_client: clients.discovery,
        discovery: if clients.remote {
            remote_discovery
        } else {
            &ctx.discovery
        },
        manager: apply::KUSTOMIZE_CONTROLLER,
        owner_name: object.name_any(),
        owner_namespace: object.namespace().unwrap_or_default(),
        concurrency: ctx.concurrent_ssa,
        force: object.spec.force,
        applied: &ctx.applied,
    }
}

/// Records progress (the Reconciling condition, the attempted revision) while a reconcile
/// runs; a failure to write it is logged, the reconcile goes on.
async fn set_progress(
    progress: &mut Progress<'_>,
    status: &KustomizationStatus,
    conditions: &Conditions,
) {
    let mut snapshot = status.clone();
    snapshot.conditions = Some(conditions.items.clone());
    if let Err(e) = progress
        .writer
        .write(progress.api, progress.name, &snapshot)
        .await
    {
        tracing::warn!(kind = KIND, name = progress.name, error = %e, "failed to record progress");
    }
}

/// Where a reconcile writes its progress.
struct Progress<'a> {
    api: &'a Api<Kustomization>,
    name: &'a str,
    writer: &'a mut runtime::StatusWriter,
}

/// The phases of one attempt, in order; the first failure ends it.
async fn run(
    object: &Kustomization,
    ctx: &Context,
    progress: &mut Progress<'_>,
    status: &mut KustomizationStatus,
    conditions: &mut Conditions,
) -> Result<Outcome, Failed> {
    let (custom_checks, ready_exprs) = parse_expressions(object)?;
    let artifact = source_artifact(object, ctx).await?;
    let revision = artifact.revision.clone();
    runtime::record_revision(&revision);
    let origin_revision = artifact
        .metadata
        .as_ref()
        .and_then(|m| m.get(OCI_REVISION_ANNOTATION))
        .cloned();
    check_dependencies(object, ctx, &ready_exprs, &revision).await?;

    let timeout = timeout(object);
    status.last_attempted_revision = Some(revision.clone());
    conditions.mark_true(
        RECONCILING,
        reason::PROGRESSING,
        format!(
            "Fetching manifests for revision {revision} with a timeout of {}",
            api::duration::format(timeout)
        ),
    );
    set_progress(progress, status, conditions).await;
    let resources = fetch_and_build(object, ctx, &artifact, conditions, timeout).await?;
    let digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(kustomize::to_yaml(&resources).as_bytes()))
    );

    let clients = apply_clients(object, ctx)
        .await
        .map_err(|message| retry(object, reasons::FAILED, message))?;
    let remote_discovery = Discovery::default();
    let applier = applier(object, ctx, clients, &remote_discovery, &custom_checks);
    let changes = apply_and_prune(object, ctx, &applier, resources, status, &revision).await?;
    let inventory = changes.inventory;
    let to_check = health_check_targets(object, &changes.applied);
    let health_checked = !to_check.is_empty();
    if health_checked {
        conditions.mark_true(
            RECONCILING,
            reason::PROGRESSING,
            format!(
                "Running health checks for revision {revision} with a timeout of {}",
                api::duration::format(timeout)
            ),
        );
        status.inventory = Some(ResourceInventory {
            entries: inventory.clone(),
        });
        set_progress(progress, status, conditions).await;
        if let Err(failure) =
            check_health(object, ctx, &applier, &to_check, timeout, &revision).await
        {
            return Err(Failed {
                failure,
                inventory: Some(inventory),
            });
        }
    }
    Ok(Outcome {
        revision,
        origin_revision,
        inventory,
        digest,
        health_checked,
    })
}

/// The health-check CEL expressions and the dependencies' `readyExpr`s, compiled. Checked
/// before anything else: a typo would otherwise surface as a health check or dependency
/// that never passes. Stalls until fixed.
fn parse_expressions(
    object: &Kustomization,
) -> Result<(Vec<CustomCheck>, Vec<Option<Expression>>), Failure> {
    let invalid_cel =
        |e: cel_eval::CelError| Failure::stalled(reasons::INVALID_CEL_EXPRESSION, e.to_string());
    let custom_checks = object
        .spec
        .health_check_exprs
        .iter()
        .flatten()
        .map(CustomCheck::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid_cel)?;
    let ready_exprs = object
        .spec
        .depends_on
        .iter()
        .flatten()
        .map(|d| d.ready_expr.as_deref().map(Expression::parse).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid_cel)?;
    Ok((custom_checks, ready_exprs))
}

/// The source's artifact: a missing source is retried after `retryInterval`, one without an
/// artifact yet is waited for (`--requeue-dependency`).
async fn source_artifact(object: &Kustomization, ctx: &Context) -> Result<Artifact, Failure> {
    let source_ref = &object.spec.source_ref;
    let source_namespace = source_ref
        .namespace
        .clone()
        .unwrap_or_else(|| object.namespace().unwrap_or_default());
    let found = match source_ref.kind {
        SourceKind::OCIRepository => {
            artifact_of::<OCIRepository>(ctx, &source_namespace, &source_ref.name).await
        }
        SourceKind::GitRepository => {
            artifact_of::<GitRepository>(ctx, &source_namespace, &source_ref.name).await
        }
        other => {
            return Err(Failure::stalled(
                reasons::ARTIFACT_FAILED,
                format!(
                    "source kind '{other:?}' is not supported by flux-rs (only OCIRepository and GitRepository)"
                ),
            ));
        }
    };
    let artifact = match found {
        Ok(Some(artifact)) => artifact,
        Ok(None) => {
            return Err(retry(
                object,
                reasons::ARTIFACT_FAILED,
                format!(
                    "{:?}.source.toolkit.fluxcd.io \"{}\" not found",
                    source_ref.kind, source_ref.name
                ),
            ));
        }
        Err(e) => {
            return Err(retry(
                object,
                reasons::ARTIFACT_FAILED,
                format!(
                    "failed to get source '{source_namespace}/{}': {e}",
                    source_ref.name
                ),
            ));
        }
    };
    artifact.ok_or_else(|| {
        Failure::waiting(
            reasons::ARTIFACT_FAILED,
            format!(
                "Source artifact not found, retrying in {}",
                api::duration::format(ctx.requeue_dependency)
            ),
            ctx.requeue_dependency,
        )
    })
}

/// Every dependency must be ready (`dependency_ready`); the first that is not makes this
/// attempt wait for `--requeue-dependency`.
async fn check_dependencies(
    object: &Kustomization,
    ctx: &Context,
    ready_exprs: &[Option<Expression>],
    revision: &str,
) -> Result<(), Failure> {
    let namespace = object.namespace().unwrap_or_default();
    for (dependency, ready_expr) in object.spec.depends_on.iter().flatten().zip(ready_exprs) {
        let dep_namespace = dependency
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.clone());
        let Err(message) = dependency_ready(
            ctx,
            &dep_namespace,
            &dependency.name,
            ready_expr.as_ref(),
            object,
            revision,
        )
        .await
        else {
            continue;
        };
        let retrying = api::duration::format(ctx.requeue_dependency);
        ctx.recorder
            .record(
                object,
                EventRecord::new(
                    Severity::Info,
                    reasons::DEPENDENCY_NOT_READY,
                    format!("Dependencies do not meet ready condition, retrying in {retrying}"),
                ),
            )
            .await;
        return Err(Failure::waiting(
            reasons::DEPENDENCY_NOT_READY,
            format!(
                "dependency '{dep_namespace}/{}' is not ready: {message}",
                dependency.name
            ),
            ctx.requeue_dependency,
        ));
    }
    Ok(())
}

/// Downloads and verifies the artifact, builds it (kustomize, Flux's transforms, postBuild),
/// refuses SOPS-encrypted Secrets, and adds `commonMetadata`.
async fn fetch_and_build(
    object: &Kustomization,
    ctx: &Context,
    artifact: &Artifact,
    conditions: &mut Conditions,
    timeout: Duration,
) -> Result<Vec<kustomize::Resource>, Failure> {
    let workdir = tempfile::tempdir().map_err(|e| {
        retry(
            object,
            reasons::ARTIFACT_FAILED,
            format!("failed to create a working directory: {e}"),
        )
    })?;
    let digest = artifact.digest.clone().unwrap_or_default();
    let options = FetchOptions {
        retries: ctx.http_retry,
        ..FetchOptions::default()
    };
    match fetch_and_extract(&ctx.http, &artifact.url, &digest, workdir.path(), options).await {
        Ok(()) => {}
        Err(artifacts::fetch::FetchError::NotFound(url)) => {
            return Err(retry(
                object,
                reasons::ARTIFACT_FAILED,
                format!(
                    "Source artifact not found at '{url}', retrying in {}",
                    api::duration::format(ctx.requeue_dependency)
                ),
            )
            .retry_after(ctx.requeue_dependency));
        }
        Err(e) => return Err(retry(object, reasons::ARTIFACT_FAILED, e.to_string())),
    }

    conditions.mark_true(
        RECONCILING,
        reason::PROGRESSING,
        format!(
            "Building manifests for revision {} with a timeout of {}",
            artifact.revision,
            api::duration::format(timeout)
        ),
    );
    let mut resources = build(object, ctx, workdir.path())
        .await
        .map_err(|message| retry(object, reasons::BUILD_FAILED, message))?;
    if let Some(secret) = resources
        .iter()
        .find(|r| r.kind() == "Secret" && r.object.get("sops").is_some())
    {
        return Err(retry(
            object,
            reasons::BUILD_FAILED,
            format!(
                "{} is SOPS-encrypted, which flux-rs does not decrypt (spec.decryption is not supported)",
                ObjectRef::of(secret).display()
            ),
        ));
    }
    if let Some(metadata) = &object.spec.common_metadata {
        kustomize::flux::set_common_metadata(
            &mut resources,
            &metadata.labels.clone().unwrap_or_default(),
            &metadata.annotations.clone().unwrap_or_default(),
        );
    }
    Ok(resources)
}

/// What the apply and prune phase left: the changes, and the new inventory.
struct AppliedSet {
    applied: Vec<Change>,
    inventory: Vec<ResourceRef>,
}

/// Applies the objects in stages, then prunes what the old inventory has and the revision no
/// longer does. On failure, what was applied (or could not be pruned) stays in the inventory,
/// so nothing is orphaned.
async fn apply_and_prune(
    object: &Kustomization,
    ctx: &Context,
    applier: &Applier<'_>,
    resources: Vec<kustomize::Resource>,
    status: &KustomizationStatus,
    revision: &str,
) -> Result<AppliedSet, Failed> {
    let old_entries = status
        .inventory
        .as_ref()
        .map(|i| i.entries.clone())
        .unwrap_or_default();
    let changes = match applier.apply_all(resources).await {
        Ok(changes) => changes,
        Err((error, partial)) => {
            let mut entries = old_entries.clone();
            merge_entries(&mut entries, &partial);
            let mut message = error.to_string();
            let lines = apply::change_lines(&partial);
            if !lines.is_empty() {
                message = format!("{message}\n{}", lines.join("\n"));
            }
            return Err(Failed {
                failure: retry(object, reasons::FAILED, message),
                inventory: Some(entries),
            });
        }
    };
    let mut inventory: Vec<ResourceRef> = changes.iter().map(|c| c.object.entry()).collect();
    let mut pruned = Vec::new();
    if object.spec.prune {
        let current: Vec<ObjectRef> = changes.iter().map(|c| c.object.clone()).collect();
        let stale = inventory::stale(&old_entries, &current);
        let (deleted, failed) = applier.prune(&stale).await;
        pruned = deleted;
        if !failed.is_empty() {
            inventory.extend(failed.iter().map(|(reference, _)| reference.entry()));
            let message = failed
                .iter()
                .map(|(_, e)| e.clone())
                .collect::<Vec<_>>()
                .join("; ");
            record_changes(ctx, object, &changes, &pruned, revision).await;
            return Err(Failed {
                failure: retry(object, reasons::PRUNE_FAILED, message),
                inventory: Some(inventory),
            });
        }
    }
    record_changes(ctx, object, &changes, &pruned, revision).await;
    Ok(AppliedSet {
        applied: changes,
        inventory,
    })
}

/// With `wait`, every applied object but the skipped ones; otherwise `healthChecks`.
fn health_check_targets(object: &Kustomization, changes: &[Change]) -> Vec<ObjectRef> {
    if object.spec.wait {
        return changes
            .iter()
            .filter(|c| c.action != Applied::Skipped)
            .map(|c| c.object.clone())
            .collect();
    }
    let namespace = object.namespace().unwrap_or_default();
    object
        .spec
        .health_checks
        .iter()
        .flatten()
        .map(|h| {
            let api_version = h.api_version.as_deref().unwrap_or("v1");
            let (group, version) = match api_version.split_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None => (String::new(), api_version.to_string()),
            };
            ObjectRef {
                group,
                version,
                kind: h.kind.clone(),
                namespace: h.namespace.clone().unwrap_or_else(|| namespace.clone()),
                name: h.name.clone(),
            }
        })
        .collect()
}

/// Waits until the objects are healthy; says so in an event, or fails with Healthy False.
async fn check_health(
    object: &Kustomization,
    ctx: &Context,
    applier: &Applier<'_>,
    to_check: &[ObjectRef],
    timeout: Duration,
    revision: &str,
) -> Result<(), Failure> {
    let checked = Instant::now();
    let took = || api::duration::format(round_ms(checked.elapsed()));
    if let Err(message) = applier
        .wait_healthy(to_check, timeout, Duration::from_secs(2))
        .await
    {
        return Err(retry(
            object,
            reasons::HEALTH_CHECK_FAILED,
            format!("health check failed after {}: {message}", took()),
        )
        .marking(Marks::Normal(HEALTHY)));
    }
    ctx.recorder
        .record(
            object,
            EventRecord::new(
                Severity::Info,
                reasons::SUCCEEDED,
                format!("Health check passed in {}", took()),
            )
            .with_metadata(REVISION_KEY, revision),
        )
        .await;
    Ok(())
}

/// Adds applied objects to an inventory without duplicating ids.
fn merge_entries(entries: &mut Vec<ResourceRef>, changes: &[Change]) {
    let known: HashSet<String> = entries.iter().map(|e| e.id.clone()).collect();
    for change in changes {
        if !known.contains(&change.object.id()) {
            entries.push(change.object.entry());
        }
    }
}

/// The change-set event: one line per created, configured or deleted object.
async fn record_changes(
    ctx: &Context,
    object: &Kustomization,
    applied: &[Change],
    pruned: &[Change],
    revision: &str,
) {
    let mut lines = apply::change_lines(applied);
    lines.extend(apply::change_lines(pruned));
    if lines.is_empty() {
        return;
    }
    ctx.recorder
        .record(
            object,
            EventRecord::new(Severity::Info, "Progressing", lines.join("\n"))
                .with_metadata(REVISION_KEY, revision),
        )
        .await;
}

/// A dependency is ready when Ready is True at its current generation and, if it shares
/// this Kustomization's source, it has applied the same revision; or, with a `readyExpr`,
/// when that expression holds over `self` (the dependent) and `dep` (the dependency), as
/// Flux does without its `AdditiveCELDependencyCheck` gate.
async fn dependency_ready(
    ctx: &Context,
    namespace: &str,
    name: &str,
    ready_expr: Option<&Expression>,
    dependent: &Kustomization,
    revision: &str,
) -> Result<(), String> {
    let api: Api<Kustomization> = Api::namespaced(ctx.client.clone(), namespace);
    let dependency = api
        .get_opt(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "not found".to_string())?;
    if let Some(expression) = ready_expr {
        let this = serde_json::to_value(dependent).unwrap_or_default();
        let dep = serde_json::to_value(&dependency).unwrap_or_default();
        return match expression.evaluate_bool([("self", &this), ("dep", &dep)]) {
            Ok(true) => Ok(()),
            Ok(false) => Err("readyExpr is false".into()),
            Err(e) => Err(e.to_string()),
        };
    }
    let status = dependency.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == READY && c.status == api::meta::ConditionStatus::True);
    if !ready || status.observed_generation != dependency.metadata.generation {
        return Err("not ready".into());
    }
    let same_source = {
        let a = &dependency.spec.source_ref;
        let b = &dependent.spec.source_ref;
        a.kind == b.kind
            && a.name == b.name
            && a.namespace.clone().unwrap_or_else(|| namespace.to_string())
                == b.namespace
                    .clone()
                    .unwrap_or_else(|| dependent.namespace().unwrap_or_default())
    };
    if same_source && status.last_applied_revision.as_deref() != Some(revision) {
        return Err(format!("it has not applied revision {revision} yet"));
    }
    Ok(())
}

/// The kustomize build with Flux's transforms and `postBuild`.
async fn build(
    object: &Kustomization,
    ctx: &Context,
    root: &std::path::Path,
) -> Result<Vec<kustomize::Resource>, String> {
    let spec = &object.spec;
    let overlay = kustomize::flux::Overlay {
        target_namespace: spec.target_namespace.clone(),
        name_prefix: spec.name_prefix.clone(),
        name_suffix: spec.name_suffix.clone(),
        patches: spec
            .patches
            .iter()
            .flatten()
            .map(|p| kustomize::kustomization::Patch {
                path: None,
                patch: Some(p.patch.clone()),
                target: p
                    .target
                    .as_ref()
                    .map(|t| kustomize::kustomization::Selector {
                        group: t.group.clone().unwrap_or_default(),
                        version: t.version.clone().unwrap_or_default(),
                        kind: t.kind.clone().unwrap_or_default(),
                        name: t.name.clone().unwrap_or_default(),
                        namespace: t.namespace.clone().unwrap_or_default(),
                        label_selector: t.label_selector.clone(),
                        annotation_selector: t.annotation_selector.clone(),
                    }),
                options: None,
            })
            .collect(),
        images: spec
            .images
            .iter()
            .flatten()
            .map(|i| kustomize::kustomization::Image {
                name: i.name.clone(),
                new_name: i.new_name.clone(),
                new_tag: i.new_tag.clone(),
                digest: i.digest.clone(),
                tag_suffix: None,
            })
            .collect(),
        components: spec.components.clone().unwrap_or_default(),
        ignore_missing_components: spec.ignore_missing_components,
    };
    let path = spec.path.clone().unwrap_or_else(|| "./".into());
    let root = root.to_path_buf();
    let mut resources =
        tokio::task::spawn_blocking(move || kustomize::flux::build(&root, &path, &overlay))
            .await
            .map_err(|e| format!("kustomize build failed: {e}"))?
            .map_err(|e| format!("kustomize build failed: {e}"))?;
    if let Some(post_build) = &spec.post_build {
        let vars = substitution_vars(ctx, object, post_build).await?;
        let always = post_build.substitute_strategy == Some(SubstituteStrategy::Always);
        if !vars.is_empty() || always {
            kustomize::flux::substitute(&mut resources, &vars, true).map_err(|e| e.message)?;
        }
    }
    Ok(resources)
}

/// Variables from `substituteFrom` (in order, later wins) and then `substitute`.
async fn substitution_vars(
    ctx: &Context,
    object: &Kustomization,
    post_build: &api::kustomize::PostBuild,
) -> Result<BTreeMap<String, String>, String> {
    let namespace = object.namespace().unwrap_or_default();
    let mut vars = BTreeMap::new();
    for reference in post_build.substitute_from.iter().flatten() {
        match reference.kind {
            SubstituteKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
                match api.get_opt(&reference.name).await {
                    Ok(Some(cm)) => vars.extend(cm.data.unwrap_or_default()),
                    Ok(None) if reference.optional => {}
                    Ok(None) => {
                        return Err(format!(
                            "substitute from 'ConfigMap/{}' error: configmaps \"{}\" not found",
                            reference.name, reference.name
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "substitute from 'ConfigMap/{}' error: {e}",
                            reference.name
                        ));
                    }
                }
            }
            SubstituteKind::Secret => {
                let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
                match api.get_opt(&reference.name).await {
                    Ok(Some(secret)) => {
                        for (k, v) in secret.data.unwrap_or_default() {
                            vars.insert(k, String::from_utf8_lossy(&v.0).into_owned());
                        }
                        for (k, v) in secret.string_data.unwrap_or_default() {
                            vars.insert(k, v);
                        }
                    }
                    Ok(None) if reference.optional => {}
                    Ok(None) => {
                        return Err(format!(
                            "substitute from 'Secret/{}' error: secrets \"{}\" not found",
                            reference.name, reference.name
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "substitute from 'Secret/{}' error: {e}",
                            reference.name
                        ));
                    }
                }
            }
        }
    }
    vars.extend(post_build.substitute.clone().unwrap_or_default());
    Ok(vars)
}

/// `status.history`: newest first, at most five, one entry per (digest, status).
fn record_history(
    status: &mut KustomizationStatus,
    digest: &str,
    outcome: &str,
    took: Duration,
    revision: &str,
    origin_revision: Option<&str>,
) {
    let now = now_rfc3339();
    let mut history = status.history.take().unwrap_or_default();
    let mut metadata = BTreeMap::from([("revision".to_string(), revision.to_string())]);
    if let Some(origin) = origin_revision {
        metadata.insert("originRevision".into(), origin.to_string());
    }
    let existing = history
        .iter()
        .position(|s| s.digest == digest && s.last_reconciled_status == outcome);
    let snapshot = match existing {
        Some(i) => {
            let mut s = history.remove(i);
            s.last_reconciled = now;
            s.last_reconciled_duration = api::duration::format(round_ms(took));
            s.total_reconciliations += 1;
            s.metadata = Some(metadata);
            s
        }
        None => Snapshot {
            digest: digest.to_string(),
            first_reconciled: now.clone(),
            last_reconciled: now,
            last_reconciled_duration: api::duration::format(round_ms(took)),
            last_reconciled_status: outcome.to_string(),
            total_reconciliations: 1,
            metadata: Some(metadata),
        },
    };
    history.insert(0, snapshot);
    history.truncate(HISTORY_LIMIT);
    status.history = Some(history);
}

/// On deletion: `deletionPolicy` decides what happens to the applied objects (never for a
/// suspended Kustomization). With WaitForTermination, fails while any of them is still there
/// after the timeout.
async fn finalize(object: &Kustomization, ctx: &Context) -> Result<(), String> {
    if object.spec.suspend {
        return Ok(());
    }
    let policy = object
        .spec
        .deletion_policy
        .unwrap_or(DeletionPolicy::MirrorPrune);
    let delete = match policy {
        DeletionPolicy::MirrorPrune => object.spec.prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    };
    if !delete {
        return Ok(());
    }
    let entries = object
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.clone())
        .unwrap_or_default();
    let stale = inventory::stale(&entries, &[]);
    let clients = match apply_clients(object, ctx).await {
        Ok(clients) => clients,
        Err(e) => {
            tracing::error!(kind = KIND, error = %e, "cannot delete the applied objects");
            return Ok(());
        }
    };
    let remote_discovery = Discovery::default();
    let applier = applier(object, ctx, clients, &remote_discovery, &[]);
    let (deleted, failed) = applier.prune(&stale).await;
    for (reference, error) in &failed {
        tracing::error!(kind = KIND, object = %reference.display(), error = %error, "garbage collection failed");
    }
    let lines = apply::change_lines(&deleted);
    if !lines.is_empty() {
        ctx.recorder
            .record(
                object,
                EventRecord::new(Severity::Info, "Progressing", lines.join("\n")),
            )
            .await;
    }
    if policy == DeletionPolicy::WaitForTermination {
        let deleted: Vec<ObjectRef> = deleted.into_iter().map(|c| c.object).collect();
        applier
            .wait_terminated(&deleted, timeout(object), Duration::from_secs(1))
            .await
            .map_err(|e| format!("failed to wait for objects deletion: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_five_newest_first_and_counts_repeats() {
        let mut status = KustomizationStatus::default();
        for i in 0..7 {
            record_history(
                &mut status,
                &format!("sha256:{i}"),
                reasons::SUCCEEDED,
                Duration::from_millis(1500),
                "v",
                None,
            );
        }
        record_history(
            &mut status,
            "sha256:6",
            reasons::SUCCEEDED,
            Duration::from_secs(1),
            "v",
            Some("abc"),
        );
        let history = status.history.unwrap();
        assert_eq!(history.len(), 5);
        assert_eq!(history[0].digest, "sha256:6");
        assert_eq!(history[0].total_reconciliations, 2);
        assert_eq!(history[0].last_reconciled_duration, "1s");
        assert_eq!(
            history[0].metadata.as_ref().unwrap()["originRevision"],
            "abc"
        );
        assert_eq!(history[4].digest, "sha256:2");
    }
}
