//! The HelmRepository reconciler. A repository of the default type is an HTTP chart
//! repository: its `index.yaml` is fetched at the interval, checked to load as Helm loads it,
//! and stored as fetched (`helmrepository/<ns>/<name>/index-<hex>.yaml`, revision
//! `sha256:<hex>` of those bytes) for the HelmCharts that name it.
//!
//! A repository of `type: oci` is a static object, as in Flux since source-controller v1.2:
//! no artifact, no finalizer, an empty status; the HelmCharts that name it read its URL and
//! Secrets themselves. Anything it stored before (or another controller did) is removed once.

use std::sync::Arc;
use std::time::Duration;

use api::meta::{Artifact, FINALIZER, reason};
use api::source::v1::{HelmRepository, HelmRepositoryStatus};
use api::source::{HelmRepositoryType, condition, reason as reasons};
use artifacts::storage::Storage;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::outcome::Failure;
use runtime::{StatusWriter, now_rfc3339};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::helm_index;
use crate::source::{
    ArtifactSource, Context, Error, SourceObject, StatusFields, artifact_event, blocking,
    fetch_failed, fetch_stalled, labels, storage_failed,
};

const KIND: &str = HelmRepository::KIND;
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
    if object.spec.type_ == Some(HelmRepositoryType::Oci) {
        let span = runtime::reconcile_span(KIND, object.as_ref());
        make_static(object, ctx).instrument(span).await
    } else {
        crate::source::reconcile(object, ctx).await
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

impl ArtifactSource for HelmRepository {
    type Status = HelmRepositoryStatus;
    const NEGATIVE: &'static [&'static str] = NEGATIVE;
    const POSITIVE: &'static [&'static str] = POSITIVE;
    const DEFAULT_INTERVAL: Duration = DEFAULT_INTERVAL;

    fn status(&self) -> Option<&HelmRepositoryStatus> {
        self.status.as_ref()
    }

    fn fields(status: &mut HelmRepositoryStatus) -> StatusFields<'_> {
        StatusFields {
            conditions: &mut status.conditions,
            artifact: &mut status.artifact,
            url: Some(&mut status.url),
            last_handled_reconcile_at: &mut status.last_handled_reconcile_at,
        }
    }

    fn observe(status: &mut HelmRepositoryStatus, generation: Option<i64>) {
        status.observed_generation = generation;
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }

    fn interval(&self) -> Option<&str> {
        self.spec.interval.as_deref()
    }

    async fn reconcile_source(
        &self,
        ctx: &Context,
        status: &mut HelmRepositoryStatus,
        conditions: &mut Conditions,
    ) -> Result<bool, Failure> {
        reconcile_source(self, ctx, status, conditions).await
    }

    fn recovered_event(
        &self,
        status: &HelmRepositoryStatus,
        _: &Conditions,
    ) -> Option<EventRecord> {
        let artifact = status.artifact.as_ref()?;
        let message = index_message(&self.spec.url, artifact);
        Some(artifact_event(reason::SUCCEEDED, message, artifact))
    }
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
