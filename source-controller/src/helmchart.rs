//! The HelmChart reconciler for charts in OCI HelmRepositories: resolve the version (an exact
//! version is used as the tag, a range against the tag list), verify, pull the chart layer,
//! check it is a chart, and store it as `helmchart/<ns>/<name>/<chart>-<version>.tgz`, with
//! Flux's conditions, reasons and events.
//!
//! Same shape as the OCIRepository reconciler: storage phase, then source phase; the first
//! failure ends the reconcile and is mapped by `runtime::outcome`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::meta::{Artifact, ConditionStatus, FINALIZER};
use api::source::v1::{HelmChart, HelmChartStatus, HelmRepository};
use api::source::{
    HelmChartSourceKind, HelmRepositoryType, condition, helm_condition, reason as reasons,
};
use artifacts::oci::{self, ArtifactUrl, OciError, RegistryClient};
use artifacts::storage::Storage;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::outcome::{self, Failure, Marks, Requeue};
use runtime::{StatusWriter, now_rfc3339, requested_at};
use tracing::Instrument;

use crate::credentials::AccessSpec;
use crate::source::{
    Context, Error, RegistrySettings, SourceObject, StoredArtifact, backoff_key, blocking,
    connect_registry, fetch_failed, fetch_stalled, finalize, labels, reconcile_storage,
    storage_failed, verify_signature,
};
use crate::verify::RegistryAccess;

const KIND: &str = HelmChart::KIND;
const GROUP: &str = api::source::GROUP;

/// Helm's chart layer, and the layer type charts pushed by Helm before 3.8 have.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const LEGACY_CHART_LAYER_MEDIA_TYPE: &str = "application/tar+gzip";
const CHART_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";

const NEGATIVE: &[&str] = &[
    condition::FETCH_FAILED,
    helm_condition::BUILD_FAILED,
    condition::ARTIFACT_OUTDATED,
    condition::STORAGE_OPERATION_FAILED,
];
const POSITIVE: &[&str] = &[condition::ARTIFACT_IN_STORAGE, condition::SOURCE_VERIFIED];

/// "<summary>: <cause>" for a pull that failed (FetchFailed, reason ChartPullError).
fn pull_error(detail: impl std::fmt::Display) -> Failure {
    fetch_failed(
        reasons::CHART_PULL_ERROR,
        format!("chart pull error: {detail}"),
    )
}

/// A chart name or version the repository cannot have: Stalled until the spec changes.
fn invalid_reference(detail: impl std::fmt::Display) -> Failure {
    fetch_stalled(
        reasons::INVALID_CHART_REFERENCE,
        format!("invalid chart reference: {detail}"),
    )
}

/// The chart was pulled but is not one Helm can load (BuildFailed).
fn package_error(detail: impl std::fmt::Display) -> Failure {
    Failure::retryable(
        reasons::CHART_PACKAGE_ERROR,
        format!("chart package error: {detail}"),
    )
    .marking(Marks::Abnormal(helm_condition::BUILD_FAILED))
}

pub async fn reconcile(object: Arc<HelmChart>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = runtime::reconcile_span(KIND, object.as_ref());
    reconcile_object(object, ctx).instrument(span).await
}

async fn reconcile_object(object: Arc<HelmChart>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<HelmChart> = Api::namespaced(ctx.client.clone(), &namespace);
    let kube_err = |source| Error::Kube {
        kind: KIND,
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let object_labels = labels(object.as_ref());
    if object.metadata.deletion_timestamp.is_some() {
        return finalize(object.as_ref(), &ctx, &api).await;
    }
    runtime::add_finalizer(&api, object.as_ref(), FINALIZER)
        .await
        .map_err(kube_err)?;
    ctx.metrics
        .record_suspend(&object_labels, object.spec.suspend);
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
    if let Some(requested) = requested_at(object.as_ref()) {
        status.last_handled_reconcile_at = Some(requested);
    }
    let was_failing = [
        condition::FETCH_FAILED,
        helm_condition::BUILD_FAILED,
        condition::STORAGE_OPERATION_FAILED,
    ]
    .iter()
    .any(|t| conditions.is_true(t));

    let stored = StoredArtifact {
        artifact: &mut status.artifact,
        url: &mut status.url,
    };
    let outcome = match reconcile_storage(object.as_ref(), &ctx, stored, &mut conditions).await {
        Ok(()) => reconcile_source(&object, &ctx, &mut status, &mut conditions).await,
        Err(failure) => Err(failure),
    };
    let requeue = conclude(
        &object,
        &ctx,
        outcome,
        was_failing,
        &mut status,
        &mut conditions,
    )
    .await;
    conditions.summarize(NEGATIVE, POSITIVE);
    status.conditions = Some(conditions.into_vec());
    ctx.metrics.record_conditions(
        &object_labels,
        status.conditions.as_deref().unwrap_or_default(),
    );
    writer.write(&api, &name, &status).await.map_err(kube_err)?;
    ctx.metrics
        .record_duration(&object_labels, started.elapsed());
    let interval = api::duration::parse(&object.spec.interval).unwrap_or(Duration::from_secs(600));
    Ok(requeue.action(
        interval,
        ctx.jitter_percent,
        &ctx.backoff,
        &backoff_key(object.as_ref()),
    ))
}

async fn conclude(
    object: &HelmChart,
    ctx: &Context,
    outcome: Result<bool, Failure>,
    was_failing: bool,
    status: &mut HelmChartStatus,
    conditions: &mut Conditions,
) -> Requeue {
    let conclusion = match &outcome {
        Ok(new_artifact) => {
            if was_failing
                && !new_artifact
                && let (Some(artifact), Some(ready)) = (
                    &status.artifact,
                    conditions.get(condition::ARTIFACT_IN_STORAGE),
                )
            {
                let (reason, message) = (ready.reason.clone(), ready.message.clone());
                let event = chart_event(&reason, message, artifact);
                ctx.recorder.record(object, event).await;
            }
            outcome::succeeded(conditions, NEGATIVE)
        }
        Err(failure) => {
            outcome::log_failure(failure);
            outcome::failed(conditions, failure)
        }
    };
    if conclusion.observed {
        status.observed_generation = object.metadata.generation;
    }
    if let Some(event) = conclusion.event {
        ctx.recorder.record(object, event).await;
    }
    conclusion.requeue
}

/// The HelmRepository the chart comes from, which must be of type `oci`.
async fn source_repository(object: &HelmChart, ctx: &Context) -> Result<HelmRepository, Failure> {
    let source = &object.spec.source_ref;
    if source.kind != HelmChartSourceKind::HelmRepository {
        return Err(fetch_stalled(
            "SourceUnavailable",
            format!(
                "source kind '{:?}' is not supported by flux-rs yet: use a HelmRepository",
                source.kind
            ),
        ));
    }
    let namespace = object.namespace().unwrap_or_default();
    let repositories: Api<HelmRepository> = Api::namespaced(ctx.client.clone(), &namespace);
    let repository = repositories
        .get_opt(&source.name)
        .await
        .map_err(|e| fetch_failed("SourceUnavailable", format!("failed to get source: {e}")))?;
    let repository = repository.ok_or_else(|| {
        fetch_failed(
            "SourceUnavailable",
            format!(
                "failed to get source: HelmRepository '{namespace}/{}' not found",
                source.name
            ),
        )
    })?;
    if repository.spec.type_ != Some(HelmRepositoryType::Oci) {
        return Err(fetch_stalled(
            "SourceUnavailable",
            format!(
                "HelmRepository '{namespace}/{}' is of type 'default' (HTTP), which flux-rs does not serve yet: use type 'oci'",
                source.name
            ),
        ));
    }
    Ok(repository)
}

/// Pulls the chart when the version (or what is stored of it) changed. Returns whether a new
/// artifact was stored.
async fn reconcile_source(
    object: &HelmChart,
    ctx: &Context,
    status: &mut HelmChartStatus,
    conditions: &mut Conditions,
) -> Result<bool, Failure> {
    let spec = &object.spec;
    if spec.values_files.as_ref().is_some_and(|f| !f.is_empty()) || spec.values_file.is_some() {
        return Err(Failure::stalled(
            reasons::VALUES_FILES_ERROR,
            "valuesFiles are not supported by flux-rs yet: set the values on the HelmRelease",
        )
        .marking(Marks::Abnormal(helm_condition::BUILD_FAILED)));
    }
    let repository = source_repository(object, ctx).await?;
    let chart_url = chart_url(&repository.spec.url, &spec.chart)?;
    let settings = RegistrySettings {
        access: AccessSpec::from(&repository.spec),
        insecure: repository.spec.insecure,
        timeout: repository
            .spec
            .timeout
            .as_deref()
            .and_then(|t| api::duration::parse(t).ok())
            .unwrap_or(Duration::from_secs(60)),
    };
    let (client, access) = connect_registry(object, ctx, &settings, &chart_url).await?;
    let version = resolve_version(&client, &chart_url, &spec.version).await?;
    runtime::record_revision(&version);
    let cached = status
        .artifact
        .as_ref()
        .is_some_and(|a| a.revision == version)
        && status.observed_chart_name.as_deref() == Some(spec.chart.as_str())
        && object.metadata.generation == status.observed_generation;
    let tagged = chart_url.with_tag(&version_tag(&version));
    let needs_pinning = spec.verify.is_some() || !cached;
    let pinned = if needs_pinning {
        let digest = client
            .resolve_digest(&tagged)
            .await
            .map_err(|e| pull_error(download_error(&tagged, e)))?;
        Some(tagged.with_digest(&digest))
    } else {
        None
    };
    if let Some(pinned) = &pinned {
        reconcile_verification(object, ctx, pinned, &version, &access, conditions).await?;
    } else {
        conditions.delete(condition::SOURCE_VERIFIED);
    }
    let summary = format!("pulled '{}' chart with version '{version}'", spec.chart);
    if cached {
        conditions.mark_true(
            condition::ARTIFACT_IN_STORAGE,
            reasons::CHART_PULL_SUCCEEDED,
            &summary,
        );
        let note = format!("artifact up-to-date with remote revision: '{version}'");
        ctx.recorder
            .record(
                object,
                EventRecord::new(Severity::Trace, reasons::ARTIFACT_UP_TO_DATE, note),
            )
            .await;
        return Ok(false);
    }
    if status.artifact.is_some() {
        conditions.mark_true(
            condition::ARTIFACT_OUTDATED,
            reasons::NEW_CHART,
            format!("pulling '{}' chart with version '{version}'", spec.chart),
        );
    }
    let pinned = pinned.expect("pinned unless cached");
    let artifact = pull_and_store(object, ctx, &client, &pinned, &version).await?;
    status.url = Some(ctx.storage.symlink_latest(&artifact.path).map_err(|e| {
        storage_failed(
            "SymlinkUpdateFailed",
            format!("failed to update the latest symlink: {e}"),
        )
    })?);
    status.observed_chart_name = Some(spec.chart.clone());
    status.observed_values_files = None;
    status.observed_source_artifact_revision = None;
    conditions.delete(condition::ARTIFACT_OUTDATED);
    conditions.mark_true(
        condition::ARTIFACT_IN_STORAGE,
        reasons::CHART_PULL_SUCCEEDED,
        &summary,
    );
    let digest_changed =
        status.artifact.as_ref().and_then(|a| a.digest.as_deref()) != artifact.digest.as_deref();
    if digest_changed && ctx.first_announcement(object, &artifact) {
        let event = chart_event(reasons::CHART_PULL_SUCCEEDED, summary, &artifact);
        ctx.recorder.record(object, event).await;
    }
    let storage = ctx.storage.clone();
    let current = artifact.path.clone();
    status.artifact = Some(artifact);
    if let Err(e) = blocking(move || storage.garbage_collect(&current)).await {
        tracing::warn!(error = %e, "garbage collection failed");
    }
    Ok(true)
}

/// `oci://<host>/<path>/<chart>` from the repository URL (trailing `/` trimmed, as Flux
/// normalises it) and a chart name Helm accepts.
fn chart_url(repository_url: &str, chart: &str) -> Result<ArtifactUrl, Failure> {
    let valid_name = !chart.is_empty()
        && chart
            .split('/')
            .all(|part| !part.is_empty() || chart.ends_with('/'))
        && chart
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '/' | '.'));
    if !valid_name {
        return Err(invalid_reference(format!(
            "invalid chart name '{chart}': a valid name must be lower case letters and numbers and MAY be separated with dashes (-), slashes (/) or periods (.)"
        )));
    }
    let base = repository_url.trim_end_matches('/');
    format!("{base}/{chart}")
        .parse()
        .map_err(|e: oci::UrlError| {
            fetch_stalled(
                reasons::URL_INVALID,
                format!("invalid HelmRepository URL '{repository_url}': {e}"),
            )
        })
}

/// A chart version as an OCI tag: SemVer's `+` is not allowed in tags, Helm writes `_`.
fn version_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// A tag read as a chart version, as Helm's `Tags` does: `_` back to `+`, and only strict
/// SemVer (three numeric parts, no `v`).
fn tag_version(tag: &str) -> Option<(String, sprig::semver::Version)> {
    let version = tag.replace('_', "+");
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let strict = core.split('.').count() == 3
        && core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !strict {
        return None;
    }
    let parsed = sprig::semver::Version::parse(&version).ok()?;
    Some((version, parsed))
}

/// `spec.version` as Flux resolves it for OCI: a full version is the tag as it is (no tag
/// list is read); anything else is a constraint (`*` and empty: the latest stable) matched
/// against the tags, an exact tag match winning.
async fn resolve_version(
    client: &RegistryClient,
    url: &ArtifactUrl,
    wanted: &str,
) -> Result<String, Failure> {
    let wanted = wanted.trim();
    if is_full_version(wanted) {
        return Ok(wanted.to_owned());
    }
    let tags = client.list_tags(url).await.map_err(|e| {
        pull_error(format!(
            "failed to get chart version for remote reference: {}",
            oci::error_chain(&e)
        ))
    })?;
    let versions: Vec<(String, sprig::semver::Version)> =
        tags.iter().filter_map(|t| tag_version(t)).collect();
    if versions.is_empty() {
        return Err(invalid_reference(format!(
            "failed to get chart version for remote reference: unable to locate any tags in provided repository: {}",
            url.repository_url()
        )));
    }
    pick_version(&versions, wanted).map_err(invalid_reference)
}

/// Flux's `ParseVersion`: three dot-separated parts, `v` prefix allowed.
fn is_full_version(text: &str) -> bool {
    let core = text.trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    core.split('.').count() == 3
        && core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The version of `versions` that `wanted` names: an exact match, else the highest in the
/// constraint.
fn pick_version(
    versions: &[(String, sprig::semver::Version)],
    wanted: &str,
) -> Result<String, String> {
    if let Some((exact, _)) = versions.iter().find(|(v, _)| v == wanted) {
        return Ok(exact.clone());
    }
    let constraint = if wanted.is_empty() { "*" } else { wanted };
    let mut matching = Vec::new();
    for (text, version) in versions {
        let ok = sprig::semver::check(constraint, text)
            .map_err(|e| format!("failed to get chart version for remote reference: improper constraint: {constraint}: {e}"))?;
        if ok {
            matching.push((text, version));
        }
    }
    matching
        .into_iter()
        .max_by(|a, b| a.1.compare(b.1))
        .map(|(text, _)| text.clone())
        .ok_or_else(|| {
            format!(
                "failed to get chart version for remote reference: could not locate a version matching provided version string {wanted}"
            )
        })
}

fn download_error(target: &ArtifactUrl, error: OciError) -> String {
    format!(
        "failed to download chart for remote reference: failed to get '{}': {}",
        target,
        oci::error_chain(&error)
    )
}

/// Verification runs on every reconcile with `spec.verify` (as Flux does, cache hit or not).
async fn reconcile_verification(
    object: &HelmChart,
    ctx: &Context,
    pinned: &ArtifactUrl,
    version: &str,
    access: &RegistryAccess,
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    let Some(verify) = &object.spec.verify else {
        conditions.delete(condition::SOURCE_VERIFIED);
        return Ok(());
    };
    let namespace = object.namespace().unwrap_or_default();
    verify_signature(ctx, &namespace, verify, pinned, access)
        .await
        .map_err(|failure| Failure {
            marks: Some(Marks::Normal(condition::SOURCE_VERIFIED)),
            ..failure
        })?;
    let message = format!("verified signature of version {version}");
    let newly = !conditions
        .get(condition::SOURCE_VERIFIED)
        .is_some_and(|c| c.status == ConditionStatus::True && c.message == message);
    conditions.mark_true(
        condition::SOURCE_VERIFIED,
        api::meta::reason::SUCCEEDED,
        &message,
    );
    if newly {
        ctx.recorder
            .record(
                object,
                EventRecord::new(Severity::Trace, api::meta::reason::SUCCEEDED, message),
            )
            .await;
    }
    Ok(())
}

/// Pulls the chart layer of the pinned manifest, checks Helm can load it, and stores the
/// layer's bytes unchanged (so the artifact digest is the layer digest).
async fn pull_and_store(
    object: &HelmChart,
    ctx: &Context,
    client: &RegistryClient,
    pinned: &ArtifactUrl,
    version: &str,
) -> Result<Artifact, Failure> {
    let (manifest, _) = client
        .fetch_manifest(pinned)
        .await
        .map_err(|e| pull_error(download_error(pinned, e)))?;
    if manifest.config.media_type != CHART_CONFIG_MEDIA_TYPE {
        return Err(pull_error(format!(
            "failed to download chart for remote reference: could not load config with mediatype {CHART_CONFIG_MEDIA_TYPE}"
        )));
    }
    let media_type = [CHART_LAYER_MEDIA_TYPE, LEGACY_CHART_LAYER_MEDIA_TYPE]
        .into_iter()
        .find(|m| manifest.layers.iter().any(|l| l.media_type == *m))
        .ok_or_else(|| {
            pull_error(format!(
                "failed to download chart for remote reference: manifest does not contain a layer with mediatype {CHART_LAYER_MEDIA_TYPE}"
            ))
        })?;
    let mut layer = Vec::new();
    let quiet: oci::Progress = Arc::new(|_| {});
    client
        .pull_layer(pinned, Some(media_type), &mut layer, &quiet)
        .await
        .map_err(|e| pull_error(download_error(pinned, e)))?;
    let chart = helm::Chart::load_archive(&layer)
        .map_err(|e| package_error(format!("failed to load the pulled chart: {e}")))?;
    if chart.name() != object.spec.chart.rsplit('/').next().unwrap_or_default() {
        tracing::info!(
            chart = chart.name(),
            "the chart's name differs from spec.chart"
        );
    }
    let file = format!("{}-{version}.tgz", chart.name());
    let path = Storage::artifact_path(
        KIND,
        &object.namespace().unwrap_or_default(),
        &object.name_any(),
        &file,
    );
    let storage = ctx.storage.clone();
    let stored_path = path.clone();
    let stored = blocking(move || storage.store_bytes(&stored_path, &layer))
        .await
        .map_err(|e| {
            storage_failed(
                reasons::ARCHIVE_FAILED,
                format!("unable to copy Helm chart to storage: {e}"),
            )
        })?;
    Ok(Artifact {
        url: ctx.storage.url_for(&path),
        path,
        revision: version.to_owned(),
        digest: Some(stored.digest),
        last_update_time: now_rfc3339(),
        size: Some(stored.size as i64),
        metadata: None,
    })
}

fn chart_event(reason: &str, message: String, artifact: &Artifact) -> EventRecord {
    let mut metadata = BTreeMap::new();
    metadata.insert(format!("{GROUP}/revision"), artifact.revision.clone());
    if let Some(digest) = &artifact.digest {
        metadata.insert(format!("{GROUP}/digest"), digest.clone());
    }
    EventRecord {
        severity: Severity::Info,
        reason: reason.to_owned(),
        message,
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(tags: &[&str]) -> Vec<(String, sprig::semver::Version)> {
        tags.iter().filter_map(|t| tag_version(t)).collect()
    }

    #[test]
    fn tags_map_underscore_to_plus_and_only_strict_versions_count() {
        let found: Vec<String> = versions(&["6.1.0", "6.2.0_build.1", "v6.3.0", "6.4", "latest"])
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(found, ["6.1.0", "6.2.0+build.1"]);
        assert_eq!(version_tag("6.2.0+build.1"), "6.2.0_build.1");
    }

    #[test]
    fn versions_resolve_as_flux_resolves_them() {
        let all = versions(&["6.0.0", "6.1.0", "6.2.0", "7.0.0-rc.1", "5.9.9"]);
        assert_eq!(pick_version(&all, "*").unwrap(), "6.2.0");
        assert_eq!(pick_version(&all, "").unwrap(), "6.2.0");
        assert_eq!(pick_version(&all, "6.1.x").unwrap(), "6.1.0");
        assert_eq!(pick_version(&all, ">=6.0.0 <6.2.0").unwrap(), "6.1.0");
        assert_eq!(pick_version(&all, "7.0.0-rc.1").unwrap(), "7.0.0-rc.1");
        assert_eq!(
            pick_version(&all, "^8").unwrap_err(),
            "failed to get chart version for remote reference: could not locate a version matching provided version string ^8"
        );
        assert!(is_full_version("6.1.0"));
        assert!(is_full_version("v6.1.0+abc"));
        assert!(!is_full_version("6.1"));
        assert!(!is_full_version(">=6.1.0"));
        assert!(!is_full_version("*"));
    }

    #[test]
    fn chart_urls_join_the_repository_and_refuse_bad_names() {
        let url = chart_url("oci://127.0.0.1:5000/charts/", "podinfo").unwrap();
        assert_eq!(url.repository_url(), "127.0.0.1:5000/charts/podinfo");
        let failure = chart_url("oci://r/charts", "PodInfo").unwrap_err();
        assert_eq!(failure.reason, reasons::INVALID_CHART_REFERENCE);
        assert_eq!(failure.kind, outcome::FailureKind::Stalled);
    }
}
