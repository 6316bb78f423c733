//! The HelmRepository reconciler. A repository of the default type is an HTTP chart
//! repository: its `index.yaml` is fetched at the interval, checked to load as Helm loads it,
//! and stored as fetched (`helmrepository/<ns>/<name>/index-<hex>.yaml`, revision
//! `sha256:<hex>` of those bytes) for the HelmCharts that name it.
//!
//! A repository of `type: oci` is a static object, as in Flux since source-controller v1.2:
//! no artifact, no finalizer, an empty status; the HelmCharts that name it read its URL and
//! Secrets themselves. Anything it stored before (or another controller did) is removed once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::meta::{Artifact, FINALIZER, reason};
use api::source::v1::{HelmRepository, HelmRepositoryStatus};
use api::source::{HelmRepositoryType, condition, reason as reasons};
use artifacts::storage::Storage;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::outcome::{self, Failure, Requeue};
use runtime::{StatusWriter, now_rfc3339, requested_at};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::helm_index;
use crate::source::{
    Context, Error, SourceObject, StoredArtifact, backoff_key, blocking, fetch_failed,
    fetch_stalled, finalize, labels, reconcile_storage, storage_failed,
};

const KIND: &str = HelmRepository::KIND;
const GROUP: &str = api::source::GROUP;
/// Flux's interval for a repository without `spec.interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Conditions that make Ready False when True, in priority order.
const NEGATIVE: &[&str] = &[
    condition::FETCH_FAILED,
    condition::ARTIFACT_OUTDATED,
    condition::STORAGE_OPERATION_FAILED,
];
/// Conditions that make Ready False when False, and give Ready its message when True.
const POSITIVE: &[&str] = &[condition::ARTIFACT_IN_STORAGE];

pub async fn reconcile(object: Arc<HelmRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = runtime::reconcile_span(KIND, object.as_ref());
    if object.spec.type_ == Some(HelmRepositoryType::Oci) {
        make_static(object, ctx).instrument(span).await
    } else {
        reconcile_index(object, ctx).instrument(span).await
    }
}

/// An OCI repository: stored artifacts, the finalizer and the status go.
async fn make_static(object: Arc<HelmRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<HelmRepository> = Api::namespaced(ctx.client.clone(), &namespace);
    let kube_err = |source| Error::Kube {
        kind: KIND,
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let deleting = object.metadata.deletion_timestamp.is_some();
    if object.spec.suspend && !deleting {
        tracing::info!("reconciliation is suspended for this object");
        return Ok(Action::await_change());
    }
    let storage = ctx.storage.clone();
    let (ns_dir, name_dir) = (namespace.clone(), name.clone());
    blocking(move || storage.remove_object(KIND, &ns_dir, &name_dir))
        .await
        .map_err(|source| Error::Cleanup {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
    if object.finalizers().iter().any(|f| f == FINALIZER) {
        runtime::remove_finalizer(&api, object.as_ref(), FINALIZER)
            .await
            .map_err(kube_err)?;
    }
    if !deleting
        && object
            .status
            .as_ref()
            .is_some_and(|s| s != &HelmRepositoryStatus::default())
    {
        StatusWriter::new(&object.status)
            .write(&api, &name, &HelmRepositoryStatus::default())
            .await
            .map_err(kube_err)?;
    }
    ctx.metrics.forget(&labels(object.as_ref()));
    Ok(Action::await_change())
}

/// An HTTP repository: the storage phase, then the index fetched and stored.
async fn reconcile_index(object: Arc<HelmRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<HelmRepository> = Api::namespaced(ctx.client.clone(), &namespace);
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
    let was_failing = [condition::FETCH_FAILED, condition::STORAGE_OPERATION_FAILED]
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
    let interval = object
        .spec
        .interval
        .as_deref()
        .and_then(|i| api::duration::parse(i).ok())
        .unwrap_or(DEFAULT_INTERVAL);
    Ok(requeue.action(
        interval,
        ctx.jitter_percent,
        &ctx.backoff,
        &backoff_key(object.as_ref()),
    ))
}

/// Maps how the phases ended to conditions, the observed generation and events; returns when
/// to reconcile again.
async fn conclude(
    object: &HelmRepository,
    ctx: &Context,
    outcome: Result<bool, Failure>,
    was_failing: bool,
    status: &mut HelmRepositoryStatus,
    conditions: &mut Conditions,
) -> Requeue {
    let conclusion = match &outcome {
        Ok(new_artifact) => {
            // Recovering without a new artifact still tells the alerts it is fine again.
            if was_failing
                && !new_artifact
                && let Some(artifact) = &status.artifact
            {
                let message = index_message(&object.spec.url, artifact);
                let event = artifact_event(reason::SUCCEEDED, message, artifact);
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

/// Fetches the index and, when its digest changed (or nothing is stored), checks it loads and
/// stores it. Returns whether a new artifact was stored.
async fn reconcile_source(
    object: &HelmRepository,
    ctx: &Context,
    status: &mut HelmRepositoryStatus,
    conditions: &mut Conditions,
) -> Result<bool, Failure> {
    let spec = &object.spec;
    let url_invalid = |detail: String| {
        fetch_stalled(
            reasons::URL_INVALID,
            format!("invalid Helm repository URL: {detail}"),
        )
    };
    if spec.url.starts_with("oci://") {
        return Err(url_invalid(
            "'oci' URL scheme cannot be used with 'default' HelmRepository type".to_owned(),
        ));
    }
    let repository = helm_index::normalize_url(&spec.url).map_err(url_invalid)?;
    let namespace = object.namespace().unwrap_or_default();
    let access = helm_index::connect(&ctx.client, &namespace, spec, repository.clone())
        .await
        .map_err(|e| fetch_failed(reasons::AUTHENTICATION_FAILED, e))?;
    let index_url = helm_index::index_url(&repository);
    let index = helm_index::get(&access, &index_url, helm_index::MAX_INDEX_SIZE)
        .await
        .map_err(|e| {
            fetch_failed(
                reasons::INDEXATION_FAILED,
                format!("failed to fetch Helm repository index: {e}"),
            )
        })?;
    let hex = hex::encode(Sha256::digest(&index));
    let revision = format!("sha256:{hex}");
    runtime::record_revision(&revision);
    let in_storage = format!("stored artifact: revision '{revision}'");
    if status
        .artifact
        .as_ref()
        .is_some_and(|a| a.revision == revision)
    {
        conditions.mark_true(
            condition::ARTIFACT_IN_STORAGE,
            reason::SUCCEEDED,
            in_storage,
        );
        let note = format!("artifact up-to-date with remote revision: '{revision}'");
        ctx.recorder
            .record(
                object,
                EventRecord::new(Severity::Trace, reasons::ARTIFACT_UP_TO_DATE, note),
            )
            .await;
        return Ok(false);
    }
    // A large index takes a while to parse: off the async workers.
    let (index, loaded) = blocking(move || {
        let loaded = helm_index::parse_index(&index).map(drop);
        (index, loaded)
    })
    .await;
    loaded.map_err(|e| {
        fetch_failed(
            reasons::INDEXATION_FAILED,
            format!("failed to load Helm repository from index YAML: {e}"),
        )
    })?;
    if status.artifact.is_some() {
        conditions.mark_true(
            condition::ARTIFACT_OUTDATED,
            reasons::NEW_REVISION,
            format!("new index revision '{revision}'"),
        );
    }
    let artifact = store_index(object, ctx, index, &hex).await?;
    status.url = Some(ctx.storage.symlink_latest(&artifact.path).map_err(|e| {
        storage_failed(
            "SymlinkUpdateFailed",
            format!("failed to update the latest symlink: {e}"),
        )
    })?);
    conditions.delete(condition::ARTIFACT_OUTDATED);
    conditions.mark_true(
        condition::ARTIFACT_IN_STORAGE,
        reason::SUCCEEDED,
        in_storage,
    );
    let digest_changed =
        status.artifact.as_ref().and_then(|a| a.digest.as_deref()) != artifact.digest.as_deref();
    if digest_changed && ctx.first_announcement(object, &artifact) {
        let message = index_message(&spec.url, &artifact);
        let event = artifact_event(reasons::NEW_ARTIFACT, message, &artifact);
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

/// Stores the index bytes as fetched, named by their digest `hex`.
async fn store_index(
    object: &HelmRepository,
    ctx: &Context,
    index: Vec<u8>,
    hex: &str,
) -> Result<Artifact, Failure> {
    let path = Storage::artifact_path(
        KIND,
        &object.namespace().unwrap_or_default(),
        &object.name_any(),
        &format!("index-{hex}.yaml"),
    );
    let storage = ctx.storage.clone();
    let stored_path = path.clone();
    let stored = blocking(move || storage.store_bytes(&stored_path, &index))
        .await
        .map_err(|e| {
            storage_failed(
                reasons::ARCHIVE_FAILED,
                format!("unable to save artifact to storage: {e}"),
            )
        })?;
    Ok(Artifact {
        url: ctx.storage.url_for(&path),
        path,
        revision: format!("sha256:{hex}"),
        digest: Some(stored.digest),
        last_update_time: now_rfc3339(),
        size: Some(stored.size as i64),
        metadata: None,
    })
}

/// "stored fetched index of size 1.2kB from '<url>'", as Flux announces an index.
fn index_message(url: &str, artifact: &Artifact) -> String {
    let size = artifact.size.map_or_else(
        || "unknown size".to_owned(),
        |s| format!("size {}", helm_index::human_size(s.max(0) as u64)),
    );
    format!("stored fetched index of {size} from '{url}'")
}

fn artifact_event(reason: &str, message: String, artifact: &Artifact) -> EventRecord {
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

    #[test]
    fn new_indexes_are_announced_with_their_size_and_url() {
        let mut artifact = Artifact {
            path: "helmrepository/ns/podinfo/index-ab.yaml".into(),
            url: String::new(),
            revision: "sha256:ab".into(),
            digest: Some("sha256:ab".into()),
            last_update_time: String::new(),
            size: Some(1234),
            metadata: None,
        };
        assert_eq!(
            index_message("https://charts.example.com", &artifact),
            "stored fetched index of size 1.234kB from 'https://charts.example.com'"
        );
        let event = artifact_event(reasons::NEW_ARTIFACT, "m".into(), &artifact);
        assert_eq!(
            event.metadata["source.toolkit.fluxcd.io/revision"],
            "sha256:ab"
        );
        assert_eq!(
            event.metadata["source.toolkit.fluxcd.io/digest"],
            "sha256:ab"
        );
        artifact.size = None;
        assert_eq!(
            index_message("https://c", &artifact),
            "stored fetched index of unknown size from 'https://c'"
        );
    }
}
