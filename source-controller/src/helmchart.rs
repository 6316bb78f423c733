//! The HelmChart reconciler for charts in HelmRepositories. From an OCI repository: resolve
//! the version (an exact version is used as the tag, a range against the tag list), verify,
//! pull the chart layer. From an HTTP repository: look the version up in the index the
//! HelmRepository stored, download the chart from its first URL. Either way, check it is a
//! chart and store it as `helmchart/<ns>/<name>/<chart>-<version>.tgz`, with Flux's
//! conditions, reasons and events.
//!
//! Same shape as the OCIRepository reconciler: storage phase, then source phase; the first
//! failure ends the reconcile and is mapped by `runtime::outcome`.

use std::sync::Arc;
use std::time::Duration;

use api::meta::{Artifact, ConditionStatus};
use api::source::v1::{HelmChart, HelmChartStatus, HelmRepository};
use api::source::{
    HelmChartSourceKind, HelmRepositoryType, condition, helm_condition, reason as reasons,
};
use artifacts::oci::{self, ArtifactUrl, OciError, RegistryClient};
use artifacts::storage::Storage;
use kube::ResourceExt;
use kube::api::Api;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::now_rfc3339;
use runtime::outcome::{Failure, Marks};

use crate::helm_index::{self, is_full_version, pick_version};
use crate::source::{
    ArtifactSource, Context, RegistrySettings, SourceObject, StatusFields, artifact_event,
    blocking, connect_registry, fetch_failed, fetch_stalled, storage_failed, verify_signature,
};
use crate::verify::RegistryAccess;
use source_access::registry::AccessSpec;

const KIND: &str = HelmChart::KIND;

/// Helm's chart layer, and the layer type charts pushed by Helm before 3.8 have.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const LEGACY_CHART_LAYER_MEDIA_TYPE: &str = "application/tar+gzip";
const CHART_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";

/// How long a chart waits for its HTTP HelmRepository's first artifact before looking again.
const SOURCE_ARTIFACT_RETRY: Duration = Duration::from_secs(5);

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

impl ArtifactSource for HelmChart {
    type Status = HelmChartStatus;
    const NEGATIVE: &'static [&'static str] = NEGATIVE;
    const POSITIVE: &'static [&'static str] = POSITIVE;

    fn status(&self) -> Option<&HelmChartStatus> {
        self.status.as_ref()
    }

    fn fields(status: &mut HelmChartStatus) -> StatusFields<'_> {
        StatusFields {
            conditions: &mut status.conditions,
            artifact: &mut status.artifact,
            url: Some(&mut status.url),
            last_handled_reconcile_at: &mut status.last_handled_reconcile_at,
        }
    }

    fn observe(status: &mut HelmChartStatus, generation: Option<i64>) {
        status.observed_generation = generation;
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }

    fn interval(&self) -> Option<&str> {
        Some(&self.spec.interval)
    }

    async fn reconcile_source(
        &self,
        ctx: &Context,
        status: &mut HelmChartStatus,
        conditions: &mut Conditions,
    ) -> Result<bool, Failure> {
        reconcile_source(self, ctx, status, conditions).await
    }

    /// The stored chart's own message again ("pulled '<chart>' chart with version …").
    fn recovered_event(
        &self,
        status: &HelmChartStatus,
        conditions: &Conditions,
    ) -> Option<EventRecord> {
        let artifact = status.artifact.as_ref()?;
        let stored = conditions.get(condition::ARTIFACT_IN_STORAGE)?;
        Some(artifact_event(
            &stored.reason,
            stored.message.clone(),
            artifact,
        ))
    }
}

/// The HelmRepository the chart comes from.
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
    repository.ok_or_else(|| {
        fetch_failed(
            "SourceUnavailable",
            format!(
                "failed to get source: HelmRepository '{namespace}/{}' not found",
                source.name
            ),
        )
    })
}

/// The chart version the source has for the spec, and how to get it unless the stored
/// artifact already is it.
struct Resolved {
    version: String,
    download: Option<Download>,
}

enum Download {
    Oci {
        client: Arc<RegistryClient>,
        pinned: ArtifactUrl,
    },
    Http {
        access: helm_index::Access,
        url: url::Url,
    },
}

/// `valuesFile` (v1beta2) then `valuesFiles`.
fn values_files(object: &HelmChart) -> Vec<String> {
    object
        .spec
        .values_file
        .iter()
        .chain(object.spec.values_files.iter().flatten())
        .cloned()
        .collect()
}

/// The version a chart is stored as: with values files it is packaged anew, and the
/// object's generation becomes its build metadata (`6.1.0+3`).
fn build_version(object: &HelmChart, version: &str) -> String {
    if values_files(object).is_empty() {
        return version.to_owned();
    }
    let base = version.split('+').next().unwrap_or(version);
    format!("{base}+{}", object.metadata.generation.unwrap_or(0))
}

/// Flux's build summary and reason: pulled as it is, or packaged with merged values files.
fn summary(
    object: &HelmChart,
    revision: &str,
    merged: Option<&[String]>,
) -> (&'static str, String) {
    let chart = &object.spec.chart;
    if values_files(object).is_empty() {
        return (
            reasons::CHART_PULL_SUCCEEDED,
            format!("pulled '{chart}' chart with version '{revision}'"),
        );
    }
    let files = merged.map_or_else(|| values_files(object), <[String]>::to_vec);
    (
        reasons::CHART_PACKAGE_SUCCEEDED,
        format!(
            "packaged '{chart}' chart with version '{revision}' and merged values files [{}]",
            files.join(" ")
        ),
    )
}

/// The chart with its default values replaced by the values files merged in order
/// (`values.yaml` standing for the chart's own), and the files merged.
fn package(
    object: &HelmChart,
    archive: Vec<u8>,
    revision: &str,
) -> Result<(Vec<u8>, Vec<String>), Failure> {
    let chart = helm::Chart::load_archive(&archive)
        .map_err(|e| package_error(format!("failed to load the pulled chart: {e}")))?;
    let values_error = |message: String| {
        Failure::stalled(
            reasons::VALUES_FILES_ERROR,
            format!("values files error: {message}"),
        )
        .marking(Marks::Abnormal(helm_condition::BUILD_FAILED))
    };
    let mut merged = serde_json::Map::new();
    let mut used = Vec::new();
    for file in values_files(object) {
        let values = if file == "values.yaml" {
            chart.values.clone()
        } else {
            let Some(found) = chart.files.iter().find(|f| f.name == file) else {
                if object.spec.ignore_missing_values_files {
                    continue;
                }
                return Err(values_error(format!(
                    "no values file found at path '{file}'"
                )));
            };
            let text = String::from_utf8_lossy(&found.data);
            match goyaml::parse_stream(&text).map(|docs| docs.into_iter().next()) {
                Ok(Some(serde_json::Value::Object(map))) => map,
                Ok(None | Some(serde_json::Value::Null)) => serde_json::Map::new(),
                Ok(Some(_)) => {
                    return Err(values_error(format!("values file '{file}' is not a map")));
                }
                Err(e) => {
                    return Err(values_error(format!(
                        "failed to parse values file '{file}': {e}"
                    )));
                }
            }
        };
        merge_maps(&mut merged, values);
        used.push(file);
    }
    let packaged = helm::package::repackage(&archive, &merged, revision).map_err(|e| {
        package_error(format!(
            "failed to package the chart with merged values: {e}"
        ))
    })?;
    Ok((packaged, used))
}

/// Maps merge key by key; anything else is replaced (Flux's `MergeMaps`).
fn merge_maps(
    base: &mut serde_json::Map<String, serde_json::Value>,
    overlay: serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(serde_json::Value::Object(existing)), serde_json::Value::Object(incoming)) => {
                merge_maps(existing, incoming);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Flux's build cache: the stored artifact is this version of this chart, and the object's
/// generation was handled.
fn is_cached(object: &HelmChart, status: &HelmChartStatus, version: &str) -> bool {
    let revision = build_version(object, version);
    status
        .artifact
        .as_ref()
        .is_some_and(|a| a.revision == revision)
        && status.observed_chart_name.as_deref() == Some(object.spec.chart.as_str())
        && object.metadata.generation == status.observed_generation
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
    let repository = source_repository(object, ctx).await?;
    let Resolved { version, download } = if repository.spec.type_ == Some(HelmRepositoryType::Oci) {
        resolve_oci(object, ctx, &repository, status, conditions).await?
    } else {
        resolve_http(object, ctx, &repository, status, conditions).await?
    };
    let packaging = !values_files(object).is_empty();
    let revision = build_version(object, &version);
    runtime::record_revision(&revision);
    let Some(download) = download else {
        let (reason, summary) = summary(object, &revision, status.observed_values_files.as_deref());
        conditions.mark_true(condition::ARTIFACT_IN_STORAGE, reason, &summary);
        let note = format!("artifact up-to-date with remote revision: '{version}'");
        ctx.recorder
            .record(
                object,
                EventRecord::new(Severity::Trace, reasons::ARTIFACT_UP_TO_DATE, note),
            )
            .await;
        return Ok(false);
    };
    if status.artifact.is_some() {
        conditions.mark_true(
            condition::ARTIFACT_OUTDATED,
            reasons::NEW_CHART,
            format!("pulling '{}' chart with version '{version}'", spec.chart),
        );
    }
    let chart = match download {
        Download::Oci { client, pinned } => pull_layer(&client, &pinned).await?,
        Download::Http { access, url } => {
            helm_index::get(&access, &url, helm_index::MAX_CHART_SIZE)
                .await
                .map_err(|e| {
                    pull_error(format!(
                        "failed to download chart for remote reference: {e}"
                    ))
                })?
        }
    };
    let (chart, merged) = if packaging {
        let (packaged, merged) = package(object, chart, &revision)?;
        (packaged, Some(merged))
    } else {
        (chart, None)
    };
    let (reason, summary) = summary(object, &revision, merged.as_deref());
    let artifact = store_chart(object, ctx, chart, &revision).await?;
    status.url = Some(ctx.storage.symlink_latest(&artifact.path).map_err(|e| {
        storage_failed(
            "SymlinkUpdateFailed",
            format!("failed to update the latest symlink: {e}"),
        )
    })?);
    status.observed_chart_name = Some(spec.chart.clone());
    // Flux records the files merged only when missing ones may be skipped.
    status.observed_values_files = merged.filter(|_| spec.ignore_missing_values_files);
    conditions.delete(condition::ARTIFACT_OUTDATED);
    conditions.mark_true(condition::ARTIFACT_IN_STORAGE, reason, &summary);
    let digest_changed =
        status.artifact.as_ref().and_then(|a| a.digest.as_deref()) != artifact.digest.as_deref();
    if digest_changed && ctx.first_announcement(object, &artifact) {
        let event = artifact_event(reason, summary, &artifact);
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

/// The version in an OCI repository (an exact version as the tag, a range against the tag
/// list), pinned to its digest and verified when it is to be pulled or `spec.verify` is set.
async fn resolve_oci(
    object: &HelmChart,
    ctx: &Context,
    repository: &HelmRepository,
    status: &mut HelmChartStatus,
    conditions: &mut Conditions,
) -> Result<Resolved, Failure> {
    let spec = &object.spec;
    status.observed_source_artifact_revision = None;
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
    let cached = is_cached(object, status, &version);
    if cached && spec.verify.is_none() {
        conditions.delete(condition::SOURCE_VERIFIED);
        return Ok(Resolved {
            version,
            download: None,
        });
    }
    let tagged = chart_url.with_tag(&version_tag(&version));
    let digest = client
        .resolve_digest(&tagged)
        .await
        .map_err(|e| pull_error(download_error(&tagged, e)))?;
    let pinned = tagged.with_digest(&digest);
    reconcile_verification(object, ctx, &pinned, &version, &access, conditions).await?;
    Ok(Resolved {
        version,
        download: (!cached).then_some(Download::Oci { client, pinned }),
    })
}

/// The version in an HTTP repository's index, as the HelmRepository stored it, downloaded
/// from the entry's first URL with the repository's Secrets. As in Flux, the repository's
/// artifact is used whether or not its last fetch succeeded.
async fn resolve_http(
    object: &HelmChart,
    ctx: &Context,
    repository: &HelmRepository,
    status: &mut HelmChartStatus,
    conditions: &mut Conditions,
) -> Result<Resolved, Failure> {
    let spec = &object.spec;
    let source = spec.source_ref.name.clone();
    if spec.verify.is_some() {
        return Err(Failure::stalled(
            reasons::VERIFICATION_ERROR,
            format!(
                "invalid spec.verify: signatures are only verified for charts from OCI HelmRepositories, and HelmRepository '{source}' is of type 'default'"
            ),
        )
        .marking(Marks::Normal(condition::SOURCE_VERIFIED)));
    }
    conditions.delete(condition::SOURCE_VERIFIED);
    let index = read_stored_index(ctx, repository).await?;
    status.observed_source_artifact_revision = Some(index.revision);
    let (chart, wanted) = (spec.chart.clone(), spec.version.trim().to_owned());
    let found = blocking(move || {
        let parsed = helm_index::parse_index(&index.bytes)?;
        Ok(parsed.chart_version(&chart, &wanted).cloned())
    })
    .await
    .map_err(|e: String| {
        pull_error(format!(
            "failed to load the index of HelmRepository '{source}': {e}"
        ))
    })?
    .map_err(|e| {
        invalid_reference(format!(
            "failed to get chart version for remote reference: {e}"
        ))
    })?;
    let repository_url = helm_index::normalize_url(&repository.spec.url).map_err(|e| {
        fetch_stalled(
            reasons::URL_INVALID,
            format!("invalid Helm repository URL: {e}"),
        )
    })?;
    let namespace = object.namespace().unwrap_or_default();
    let access = helm_index::connect(
        &ctx.client,
        &namespace,
        &repository.spec,
        repository_url.clone(),
    )
    .await
    .map_err(|e| fetch_failed(reasons::AUTHENTICATION_FAILED, e))?;
    if is_cached(object, status, &found.version) {
        return Ok(Resolved {
            version: found.version,
            download: None,
        });
    }
    let url = helm_index::chart_download_url(&repository_url, &found).map_err(|e| {
        pull_error(format!(
            "failed to download chart for remote reference: {e}"
        ))
    })?;
    Ok(Resolved {
        version: found.version,
        download: Some(Download::Http { access, url }),
    })
}

/// The index a HelmRepository stored, and its revision.
struct StoredIndex {
    revision: String,
    bytes: Vec<u8>,
}

/// Reads the repository's artifact from the storage; without one the chart waits for it.
async fn read_stored_index(
    ctx: &Context,
    repository: &HelmRepository,
) -> Result<StoredIndex, Failure> {
    let name = repository.name_any();
    let no_artifact = || {
        Failure::waiting(
            "NoSourceArtifact",
            format!("no artifact available for HelmRepository source '{name}'"),
            SOURCE_ARTIFACT_RETRY,
        )
        .marking(Marks::Abnormal(condition::FETCH_FAILED))
    };
    let artifact = repository
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .ok_or_else(no_artifact)?;
    let file = ctx
        .storage
        .file(&artifact.path)
        .map_err(|_| no_artifact())?;
    match blocking(move || std::fs::read(file)).await {
        Ok(bytes) => Ok(StoredIndex {
            revision: artifact.revision.clone(),
            bytes,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_artifact()),
        Err(e) => Err(pull_error(format!(
            "failed to read the index of HelmRepository '{name}': {e}"
        ))),
    }
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
    pick_tag(&versions, wanted).map_err(invalid_reference)
}

/// The tag `wanted` names, with Flux's messages for OCI repositories.
fn pick_tag(versions: &[(String, sprig::semver::Version)], wanted: &str) -> Result<String, String> {
    let prefix = "failed to get chart version for remote reference";
    match pick_version(versions, wanted) {
        Ok(Some(position)) => Ok(versions[position].0.clone()),
        Ok(None) => Err(format!(
            "{prefix}: could not locate a version matching provided version string {wanted}"
        )),
        Err(e) => Err(format!("{prefix}: {e}")),
    }
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

/// Pulls the chart layer of the pinned manifest.
async fn pull_layer(client: &RegistryClient, pinned: &ArtifactUrl) -> Result<Vec<u8>, Failure> {
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
    Ok(layer)
}

/// Checks Helm can load the chart and stores its bytes unchanged (so an OCI chart's artifact
/// digest is its layer digest).
async fn store_chart(
    object: &HelmChart,
    ctx: &Context,
    chart_bytes: Vec<u8>,
    version: &str,
) -> Result<Artifact, Failure> {
    let chart = helm::Chart::load_archive(&chart_bytes)
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
    let stored = blocking(move || storage.store_bytes(&stored_path, &chart_bytes))
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
    fn tags_resolve_with_flux_messages() {
        let all = versions(&["6.0.0", "6.1.0", "6.2.0", "7.0.0-rc.1", "5.9.9"]);
        assert_eq!(pick_tag(&all, "*").unwrap(), "6.2.0");
        assert_eq!(pick_tag(&all, "6.1.x").unwrap(), "6.1.0");
        assert_eq!(
            pick_tag(&all, "^8").unwrap_err(),
            "failed to get chart version for remote reference: could not locate a version matching provided version string ^8"
        );
        assert_eq!(
            pick_tag(&all, "not a range").unwrap_err(),
            "failed to get chart version for remote reference: improper constraint: not a range"
        );
    }

    #[test]
    fn chart_urls_join_the_repository_and_refuse_bad_names() {
        let url = chart_url("oci://127.0.0.1:5000/charts/", "podinfo").unwrap();
        assert_eq!(url.repository_url(), "127.0.0.1:5000/charts/podinfo");
        let failure = chart_url("oci://r/charts", "PodInfo").unwrap_err();
        assert_eq!(failure.reason, reasons::INVALID_CHART_REFERENCE);
        assert_eq!(failure.kind, runtime::outcome::FailureKind::Stalled);
    }
}
