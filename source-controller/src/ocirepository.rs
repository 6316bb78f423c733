//! The OCIRepository reconciler: resolve the reference to a digest, pull the artifact,
//! store it (extracted and re-archived, or copied), and report it in the status with Flux's
//! conditions and events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use serde_json::json;
use shared::api::meta::{Artifact, ConditionStatus, FINALIZER};
use shared::api::source::v1::{OCIRepository, OCIRepositorySpec, OCIRepositoryStatus};
use shared::api::source::{
    CloudProvider, OCILayerOperation, OCIRepositoryVerification, VerificationProvider,
};
use shared::archive::{self, ExtractLimits};
use shared::conditions::{Conditions, RECONCILING, STALLED, reason};
use shared::events::{EventRecord, Recorder, Severity};
use shared::oci::{self, ArtifactUrl, ClientOptions, OciError, RegistryClient};
use shared::runtime::metrics::{Metrics, ObjectLabels};
use shared::runtime::requeue::{Backoff, jittered};
use shared::runtime::{now_rfc3339, requested_at};
use shared::sourceignore::{self, IgnoreRules};
use shared::storage::{Integrity, Storage};

use crate::credentials;
use crate::verify::{CosignKeyless, CosignKeys, Identity, RegistryAccess, TrustRoot, Verifier};

pub const KIND: &str = "OCIRepository";
const GROUP: &str = shared::api::source::GROUP;

/// Condition types (`source-controller/api/v1`).
pub mod condition {
    pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
    pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
    pub const FETCH_FAILED: &str = "FetchFailed";
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
}

/// Reasons (`source-controller/api/v1/condition_types.go`).
pub mod reasons {
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    pub const PULL_FAILED: &str = "OCIArtifactPullFailed";
    pub const LAYER_OPERATION_FAILED: &str = "OCIArtifactLayerOperationFailed";
    pub const URL_INVALID: &str = "URLInvalid";
    pub const NEW_REVISION: &str = "NewRevision";
    pub const ARCHIVE_FAILED: &str = "ArchiveOperationFailed";
    pub const STAT_FAILED: &str = "StatOperationFailed";
    pub const VERIFICATION_ERROR: &str = "VerificationError";
    pub const UNSUPPORTED_PROVIDER: &str = "UnsupportedProvider";
    pub const NEW_ARTIFACT: &str = "NewArtifact";
    pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
    pub const GARBAGE_COLLECTION_SUCCEEDED: &str = "GarbageCollectionSucceeded";
    pub const ARTIFACT_VERIFICATION_FAILED: &str = "ArtifactVerificationFailed";
}

/// Conditions that make Ready False when True, in priority order.
const NEGATIVE: &[&str] = &[
    condition::FETCH_FAILED,
    condition::ARTIFACT_OUTDATED,
    condition::STORAGE_OPERATION_FAILED,
];
/// Conditions that make Ready False when False, and give Ready its message when True.
const POSITIVE: &[&str] = &[condition::ARTIFACT_IN_STORAGE, condition::SOURCE_VERIFIED];

pub struct Context {
    pub client: Client,
    pub storage: Storage,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub backoff: Backoff,
    pub jitter_percent: u8,
    /// Registry clients by registry and settings: connections, TLS setup and tokens are
    /// reused across reconciles instead of being rebuilt for every object.
    pub registry_clients: std::sync::Mutex<HashMap<(String, ClientOptions), Arc<RegistryClient>>>,
}

impl Context {
    fn registry_client(
        &self,
        registry: &str,
        options: ClientOptions,
    ) -> Result<Arc<RegistryClient>, OciError> {
        let mut clients = self.registry_clients.lock().expect("registry client cache");
        let key = (registry.to_owned(), options);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        if clients.len() >= 256 {
            clients.clear();
        }
        let client = Arc::new(RegistryClient::new(registry, key.1.clone())?);
        clients.insert(key, client.clone());
        Ok(client)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("updating {kind} {namespace}/{name}: {source}")]
    Kube {
        kind: &'static str,
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("removing the stored artifacts of {namespace}/{name}: {source}")]
    Cleanup {
        namespace: String,
        name: String,
        source: shared::storage::StorageError,
    },
}

/// Why a reconcile could not produce an artifact.
#[derive(Debug)]
struct Failure {
    /// Stalled failures wait for a spec change; the others are retried with backoff.
    stalled: bool,
    condition: &'static str,
    reason: &'static str,
    message: String,
}

impl Failure {
    fn retry(condition: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            stalled: false,
            condition,
            reason,
            message: message.into(),
        }
    }

    fn stalled(condition: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            stalled: true,
            condition,
            reason,
            message: message.into(),
        }
    }
}

fn labels(object: &OCIRepository) -> ObjectLabels {
    ObjectLabels {
        kind: KIND.to_owned(),
        name: object.name_any(),
        namespace: object.namespace().unwrap_or_default(),
    }
}

pub async fn reconcile(object: Arc<OCIRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<OCIRepository> = Api::namespaced(ctx.client.clone(), &namespace);
    let kube_err = |source| Error::Kube {
        kind: KIND,
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let object_labels = labels(&object);

    if object.metadata.deletion_timestamp.is_some() {
        if object.finalizers().iter().any(|f| f == FINALIZER) {
            ctx.storage
                .remove_object(KIND, &namespace, &name)
                .map_err(|source| Error::Cleanup {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    source,
                })?;
            shared::runtime::remove_finalizer(&api, object.as_ref(), FINALIZER)
                .await
                .map_err(kube_err)?;
            ctx.metrics.forget(&object_labels);
            tracing::info!(
                kind = KIND,
                namespace,
                name,
                "artifacts removed, finalizer released"
            );
        }
        return Ok(Action::await_change());
    }

    shared::runtime::add_finalizer(&api, object.as_ref(), FINALIZER)
        .await
        .map_err(kube_err)?;

    ctx.metrics
        .record_suspend(&object_labels, object.spec.suspend);
    if object.spec.suspend {
        tracing::info!(
            kind = KIND,
            namespace,
            name,
            "reconciliation is suspended for this object"
        );
        return Ok(Action::await_change());
    }

    let previous = object.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    let mut conditions = Conditions::new(
        status.conditions.take(),
        object.metadata.generation,
        now_rfc3339(),
    );
    if let Some(requested) = requested_at(object.as_ref()) {
        status.last_handled_reconcile_at = Some(requested);
    }

    let outcome = match reconcile_storage(&object, &ctx, &mut status, &mut conditions).await {
        Ok(()) => reconcile_source(&object, &ctx, &mut status, &mut conditions).await,
        Err(failure) => Err(failure),
    };

    let was_failing = [condition::FETCH_FAILED, condition::STORAGE_OPERATION_FAILED]
        .iter()
        .any(|t| conditions.is_true(t));
    let action = match outcome {
        Ok(new_artifact) => {
            for t in [
                condition::FETCH_FAILED,
                condition::STORAGE_OPERATION_FAILED,
                condition::ARTIFACT_OUTDATED,
                STALLED,
                RECONCILING,
            ] {
                conditions.delete(t);
            }
            status.observed_generation = object.metadata.generation.unwrap_or(-1);
            if was_failing
                && !new_artifact
                && let Some(artifact) = &status.artifact
            {
                let message = new_artifact_message(&object.spec, artifact);
                let event = artifact_event(Severity::Info, reason::SUCCEEDED, message, artifact);
                ctx.recorder.record(object.as_ref(), event).await;
            }
            ctx.backoff.reset(&format!("{namespace}/{name}"));
            let interval =
                shared::duration::parse(&object.spec.interval).unwrap_or(Duration::from_secs(600));
            Action::requeue(jittered(interval, ctx.jitter_percent))
        }
        Err(failure) => {
            if failure.condition == condition::SOURCE_VERIFIED {
                conditions.mark_false(failure.condition, failure.reason, &failure.message);
            } else {
                conditions.mark_true(failure.condition, failure.reason, &failure.message);
            }
            conditions.delete(RECONCILING);
            tracing::error!(kind = KIND, namespace, name, reason = failure.reason, error = %failure.message, "reconciliation failed");
            ctx.recorder
                .record(
                    object.as_ref(),
                    EventRecord::new(Severity::Error, failure.reason, &failure.message),
                )
                .await;
            if failure.stalled {
                conditions.mark_true(STALLED, failure.reason, &failure.message);
                status.observed_generation = object.metadata.generation.unwrap_or(-1);
                Action::await_change()
            } else {
                conditions.delete(STALLED);
                Action::requeue(ctx.backoff.next_delay(&format!("{namespace}/{name}")))
            }
        }
    };
    conditions.summarize(NEGATIVE, POSITIVE);
    status.conditions = Some(conditions.into_vec());
    ctx.metrics.record_conditions(
        &object_labels,
        status.conditions.as_deref().unwrap_or_default(),
    );

    if status != previous {
        let patch = json!({"status": status});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube_err)?;
    }
    ctx.metrics
        .record_duration(&object_labels, started.elapsed());
    Ok(action)
}

/// Unexpected errors (the API server refused a patch): retried with backoff.
pub fn error_policy(object: Arc<OCIRepository>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::error!(kind = KIND, namespace = object.namespace().unwrap_or_default(), name = object.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff.next_delay(&format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )))
}

/// Checks the stored artifact still exists and has its digest, points its URL at the
/// current advertised address, and collects garbage.
async fn reconcile_storage(
    object: &OCIRepository,
    ctx: &Context,
    status: &mut OCIRepositoryStatus,
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    let Some(artifact) = status.artifact.as_mut() else {
        conditions.delete(condition::ARTIFACT_IN_STORAGE);
        return Ok(());
    };
    let storage_failure = |e: shared::storage::StorageError| {
        Failure::retry(
            condition::STORAGE_OPERATION_FAILED,
            reasons::STAT_FAILED,
            format!("failed to check the stored artifact: {e}"),
        )
    };
    match ctx.storage.verify(artifact).map_err(storage_failure)? {
        Integrity::Ok => {
            ctx.storage.set_url(artifact);
            status.url = Some(
                ctx.storage
                    .symlink_latest(&artifact.path)
                    .map_err(storage_failure)?,
            );
            let deleted = ctx
                .storage
                .garbage_collect(&artifact.path)
                .map_err(storage_failure)?;
            if !deleted.is_empty() {
                let message = format!("garbage collected {} artifacts", deleted.len());
                ctx.recorder
                    .record(
                        object,
                        EventRecord::new(
                            Severity::Trace,
                            reasons::GARBAGE_COLLECTION_SUCCEEDED,
                            message,
                        ),
                    )
                    .await;
            }
        }
        Integrity::Missing => {
            tracing::info!(kind = KIND, path = %artifact.path, "stored artifact is missing; rebuilding it");
            status.artifact = None;
            status.url = None;
            conditions.delete(condition::ARTIFACT_IN_STORAGE);
        }
        Integrity::Corrupt { actual } => {
            let message = format!(
                "failed to verify integrity of artifact: computed digest doesn't match '{}' (got '{actual}'); the artifact was removed and will be rebuilt",
                artifact.digest.as_deref().unwrap_or_default()
            );
            ctx.recorder
                .record(
                    object,
                    EventRecord::new(
                        Severity::Error,
                        reasons::ARTIFACT_VERIFICATION_FAILED,
                        message,
                    ),
                )
                .await;
            status.artifact = None;
            status.url = None;
            conditions.delete(condition::ARTIFACT_IN_STORAGE);
        }
    }
    Ok(())
}

fn pull_failure(error: OciError, context: &str) -> Failure {
    let reason = match error {
        OciError::Unauthorized { .. } => reasons::AUTHENTICATION_FAILED,
        _ => reasons::PULL_FAILED,
    };
    Failure::retry(
        condition::FETCH_FAILED,
        reason,
        format!("{context}: {error}"),
    )
}

/// Resolves the reference and, when the revision (or what is stored of it) changed, pulls
/// and stores the artifact. Returns whether a new artifact was stored.
async fn reconcile_source(
    object: &OCIRepository,
    ctx: &Context,
    status: &mut OCIRepositoryStatus,
    conditions: &mut Conditions,
) -> Result<bool, Failure> {
    let spec = &object.spec;
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();

    let url: ArtifactUrl = spec.url.parse().map_err(|e: oci::UrlError| {
        Failure::stalled(condition::FETCH_FAILED, reasons::URL_INVALID, e.to_string())
    })?;
    if url.has_explicit_tag() {
        let tag = url.tag().unwrap_or_default();
        return Err(Failure::stalled(
            condition::FETCH_FAILED,
            reasons::URL_INVALID,
            format!("URL must not contain a tag; remove ':{tag}'"),
        ));
    }
    if url.digest().is_some() {
        return Err(Failure::stalled(
            condition::FETCH_FAILED,
            reasons::URL_INVALID,
            "URL must not contain a digest; use spec.ref.digest",
        ));
    }
    if spec.provider != CloudProvider::Generic {
        let provider = serde_json::to_value(spec.provider)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(Failure::stalled(
            condition::FETCH_FAILED,
            reasons::UNSUPPORTED_PROVIDER,
            format!(
                "provider '{provider}' is not supported by flux-rs yet: use provider 'generic' with secretRef or serviceAccountName"
            ),
        ));
    }
    if let Some(verify) = &spec.verify {
        let unsupported = match verify.provider {
            VerificationProvider::Cosign
                if verify.secret_ref.is_some() || verify.trusted_root_secret_ref.is_some() =>
            {
                None
            }
            VerificationProvider::Cosign => Some((
                "cosign keyless",
                "keyless verification against the public Sigstore trust root is not supported by flux-rs: set spec.verify.trustedRootSecretRef to a Secret with a 'trusted_root.json'",
            )),
            VerificationProvider::Notation => Some((
                "notation",
                "verification with 'notation' is not supported by flux-rs yet",
            )),
        };
        if let Some((provider, reason)) = unsupported {
            // Fail closed: nothing unverified is stored or served.
            return Err(Failure::stalled(
                condition::SOURCE_VERIFIED,
                reasons::VERIFICATION_ERROR,
                format!("failed to verify the signature using provider '{provider}': {reason}"),
            ));
        }
    }

    let access = match credentials::resolve(&ctx.client, &namespace, spec, url.registry()).await {
        Ok(access) => access,
        Err(e) => {
            let message = format!("failed to get credential: {e}");
            ctx.recorder
                .record(
                    object,
                    EventRecord::new(
                        Severity::Trace,
                        reasons::AUTHENTICATION_FAILED,
                        e.to_string(),
                    ),
                )
                .await;
            return Err(Failure::retry(
                condition::FETCH_FAILED,
                reasons::AUTHENTICATION_FAILED,
                message,
            ));
        }
    };
    let timeout = shared::duration::parse(&spec.timeout).unwrap_or(Duration::from_secs(60));
    let client = ctx
        .registry_client(
            url.registry(),
            ClientOptions {
                credentials: access.credentials.clone(),
                insecure: spec.insecure,
                timeout,
                ca_pem: access.ca_pem.clone(),
                proxy: access.proxy.clone(),
                client_certificate: access.client_certificate,
                ..ClientOptions::default()
            },
        )
        .map_err(|e| {
            Failure::retry(
                condition::FETCH_FAILED,
                reasons::AUTHENTICATION_FAILED,
                e.to_string(),
            )
        })?;
    let registry_access = RegistryAccess {
        credentials: access.credentials,
        insecure: spec.insecure,
        ca_pem: access.ca_pem,
        proxy: access.proxy,
        bridge: client.bridge_proxy().map(str::to_owned),
        plain_http: client.plain_http(),
    };

    let (tag, digest) = resolve_reference(&client, &url, spec).await?;
    let revision = match &tag {
        Some(tag) => format!("{tag}@{digest}"),
        None => digest.clone(),
    };

    let unchanged = status
        .artifact
        .as_ref()
        .is_some_and(|a| a.revision == revision)
        && status.observed_ignore == spec.ignore
        && status.observed_layer_selector == spec.layer_selector;

    // Verification re-runs for a new revision, a new generation, or after a failure.
    match &spec.verify {
        Some(verify) => {
            let verified_now = unchanged
                && conditions.get(condition::SOURCE_VERIFIED).is_some_and(|c| {
                    c.status == ConditionStatus::True
                        && c.observed_generation == object.metadata.generation
                });
            if !verified_now {
                verify_signature(
                    ctx,
                    &namespace,
                    verify,
                    &url.with_digest(&digest),
                    &registry_access,
                )
                .await?;
                let message = format!("verified signature of revision {revision}");
                conditions.mark_true(condition::SOURCE_VERIFIED, reason::SUCCEEDED, &message);
                ctx.recorder
                    .record(
                        object,
                        EventRecord::new(Severity::Trace, reason::SUCCEEDED, message),
                    )
                    .await;
            }
        }
        None => conditions.delete(condition::SOURCE_VERIFIED),
    }
    if unchanged {
        let artifact = status.artifact.as_ref().expect("checked above");
        let message = format!("stored artifact for digest '{}'", artifact.revision);
        conditions.mark_true(condition::ARTIFACT_IN_STORAGE, reason::SUCCEEDED, message);
        let note = format!("artifact up-to-date with remote revision: '{revision}'");
        ctx.recorder
            .record(
                object,
                EventRecord::new(Severity::Trace, reasons::ARTIFACT_UP_TO_DATE, note),
            )
            .await;
        return Ok(false);
    }
    conditions.mark_true(
        condition::ARTIFACT_OUTDATED,
        reasons::NEW_REVISION,
        format!("new revision '{revision}' for '{}'", spec.url),
    );

    let pinned = url.with_digest(&digest);
    let pull_context = format!("failed to pull artifact from '{}'", spec.url);
    let work = tempfile::tempdir().map_err(|e| {
        Failure::retry(
            condition::STORAGE_OPERATION_FAILED,
            reasons::ARCHIVE_FAILED,
            format!("creating a temporary directory: {e}"),
        )
    })?;
    let layer_file = work.path().join("layer");
    let file = tokio::fs::File::create(&layer_file).await.map_err(|e| {
        Failure::retry(
            condition::STORAGE_OPERATION_FAILED,
            reasons::ARCHIVE_FAILED,
            format!("creating {}: {e}", layer_file.display()),
        )
    })?;
    let selector = spec.layer_selector.as_ref();
    let media_type = selector.and_then(|s| s.media_type.as_deref());
    let quiet: oci::Progress = Arc::new(|_| {});
    let pulled = client
        .pull_layer(&pinned, media_type, tokio::io::BufWriter::new(file), &quiet)
        .await
        .map_err(|e| match e {
            OciError::NotAnArtifact { reason, .. } => Failure::retry(
                condition::FETCH_FAILED,
                reasons::LAYER_OPERATION_FAILED,
                format!("{pull_context}: {reason}"),
            ),
            other => pull_failure(other, &pull_context),
        })?;

    let file_name = format!("{digest}.tar.gz");
    let path = Storage::artifact_path(KIND, &namespace, &name, &file_name);
    let operation = selector
        .and_then(|s| s.operation)
        .unwrap_or(OCILayerOperation::Extract);
    let stored = match operation {
        OCILayerOperation::Copy => ctx.storage.copy_file(&path, &layer_file),
        OCILayerOperation::Extract => {
            let content = work.path().join("content");
            let limits = ExtractLimits { skip_escaping_entries: true, ..ExtractLimits::default() };
            let layer = std::fs::File::open(&layer_file).map_err(|e| {
                Failure::retry(condition::FETCH_FAILED, reasons::LAYER_OPERATION_FAILED, format!("reading the layer: {e}"))
            })?;
            let summary = archive::extract_tar_gz(layer, &content, limits).map_err(|e| {
                let detail = match e {
                    archive::ArchiveError::NotGzip => "requires gzip-compressed body".to_owned(),
                    other => other.to_string(),
                };
                Failure::retry(condition::FETCH_FAILED, reasons::LAYER_OPERATION_FAILED, format!("failed to extract layer contents from artifact: {detail}"))
            })?;
            if !summary.skipped.is_empty() {
                tracing::info!(kind = KIND, namespace, name, skipped = ?summary.skipped, "left links and unsafe entries out of the artifact");
            }
            let rules = ignore_rules(&content, spec.ignore.as_deref()).map_err(|e| {
                Failure::stalled(condition::FETCH_FAILED, "SourceIgnoreError", format!("invalid spec.ignore: {e}"))
            })?;
            ctx.storage.archive_dir(&path, &content, &rules)
        }
    }
    .map_err(|e| Failure::retry(condition::STORAGE_OPERATION_FAILED, reasons::ARCHIVE_FAILED, format!("unable to archive artifact to storage: {e}")))?;

    let annotations = pulled.manifest.annotations.clone();
    let artifact = Artifact {
        url: ctx.storage.url_for(&path),
        path: path.clone(),
        revision: revision.clone(),
        digest: Some(stored.digest.clone()),
        last_update_time: now_rfc3339(),
        size: Some(stored.size as i64),
        metadata: (!annotations.is_empty()).then_some(annotations),
    };
    status.url = Some(ctx.storage.symlink_latest(&path).map_err(|e| {
        Failure::retry(
            condition::STORAGE_OPERATION_FAILED,
            "SymlinkUpdateFailed",
            format!("failed to update the latest symlink: {e}"),
        )
    })?);
    status.observed_ignore = spec.ignore.clone();
    status.observed_layer_selector = spec.layer_selector.clone();
    conditions.mark_true(
        condition::ARTIFACT_IN_STORAGE,
        reason::SUCCEEDED,
        format!("stored artifact for digest '{revision}'"),
    );

    let digest_changed =
        status.artifact.as_ref().and_then(|a| a.digest.as_deref()) != artifact.digest.as_deref();
    if digest_changed {
        let message = new_artifact_message(spec, &artifact);
        ctx.recorder
            .record(
                object,
                artifact_event(Severity::Info, reasons::NEW_ARTIFACT, message, &artifact),
            )
            .await;
    }
    status.artifact = Some(artifact);
    if let Err(e) = ctx.storage.garbage_collect(&path) {
        tracing::warn!(kind = KIND, namespace, name, error = %e, "garbage collection failed");
    }
    Ok(true)
}

/// Verifies the pinned artifact with the cosign public keys of `secret_name`.
async fn verify_signature(
    ctx: &Context,
    namespace: &str,
    verify: &OCIRepositoryVerification,
    pinned: &ArtifactUrl,
    access: &RegistryAccess,
) -> Result<(), Failure> {
    let failed = |provider: &str, detail: String| {
        let message =
            format!("failed to verify the signature using provider '{provider}': {detail}");
        Failure::retry(
            condition::SOURCE_VERIFIED,
            reasons::VERIFICATION_ERROR,
            message,
        )
    };
    let secret_data = |name: &str, provider: &'static str| {
        let name = name.to_owned();
        async move {
            shared::runtime::secret_data(&ctx.client, namespace, &name)
                .await
                .map_err(|e| failed(provider, format!("reading secret '{name}': {e}")))?
                .ok_or_else(|| failed(provider, format!("secret '{name}' not found")))
        }
    };
    match (&verify.secret_ref, &verify.trusted_root_secret_ref) {
        (Some(keys), _) => {
            let verifier =
                CosignKeys::from_secret(&keys.name, &secret_data(&keys.name, "cosign").await?)
                    .map_err(|e| failed("cosign", e.to_string()))?;
            verifier
                .verify(pinned, access)
                .await
                .map_err(|e| failed(verifier.provider(), e.to_string()))
        }
        (None, root) => {
            let provider = "cosign keyless";
            let root = root.as_ref().ok_or_else(|| {
                failed(
                    provider,
                    "spec.verify.trustedRootSecretRef is not set".to_owned(),
                )
            })?;
            let trust_root =
                TrustRoot::from_secret(&root.name, &secret_data(&root.name, provider).await?)
                    .map_err(|e| failed(provider, e.to_string()))?;
            let matches: Vec<(String, String)> = verify
                .match_oidc_identity
                .iter()
                .flatten()
                .map(|m| (m.issuer.clone(), m.subject.clone()))
                .collect();
            let identities =
                Identity::compile(&matches).map_err(|e| failed(provider, e.to_string()))?;
            let verifier = CosignKeyless {
                trust_root,
                identities,
            };
            // As in Flux, the proxy is not used for keyless verification (a client-certificate
            // bridge still is: it is how the registry is reached at all).
            let access = RegistryAccess {
                proxy: None,
                ..access.clone()
            };
            verifier
                .verify(pinned, &access)
                .await
                .map_err(|e| failed(provider, e.to_string()))
        }
    }
}

/// `ref.digest` > `ref.semver` (highest matching tag) > `ref.tag` > `latest`; returns the tag
/// (if the revision names one) and the manifest digest.
async fn resolve_reference(
    client: &RegistryClient,
    url: &ArtifactUrl,
    spec: &OCIRepositorySpec,
) -> Result<(Option<String>, String), Failure> {
    let reference = spec.reference.clone().unwrap_or_default();
    if let Some(digest) = reference.digest {
        if !digest.starts_with("sha256:") || digest.len() != 71 {
            return Err(Failure::stalled(
                condition::FETCH_FAILED,
                reasons::URL_INVALID,
                format!("invalid digest reference '{digest}'"),
            ));
        }
        return Ok((None, digest));
    }
    let tag = if let Some(range) = reference.semver {
        let constraint = oci::semver::Constraint::parse(&range).map_err(|e| {
            Failure::stalled(
                condition::FETCH_FAILED,
                reasons::URL_INVALID,
                format!("semver '{range}' parse error: {e}"),
            )
        })?;
        let filter = match reference.semver_filter.as_deref() {
            Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| {
                Failure::stalled(
                    condition::FETCH_FAILED,
                    reasons::URL_INVALID,
                    format!("semverFilter '{pattern}' is not a valid regex: {e}"),
                )
            })?),
            None => None,
        };
        let tags = client.list_tags(url).await.map_err(|e| {
            pull_failure(
                e,
                &format!("failed to determine the artifact tag for '{}'", spec.url),
            )
        })?;
        let candidates = tags
            .iter()
            .map(String::as_str)
            .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(t)));
        oci::semver::highest_match(&constraint, candidates)
            .map(|(tag, _)| tag.to_owned())
            .ok_or_else(|| Failure::retry(condition::FETCH_FAILED, reasons::PULL_FAILED, format!("failed to determine the artifact tag for '{}': no match found for semver: {range}", spec.url)))?
    } else {
        reference.tag.unwrap_or_else(|| "latest".to_owned())
    };
    let digest = client
        .resolve_digest(&url.with_tag(&tag))
        .await
        .map_err(|e| pull_failure(e, "failed to determine artifact digest"))?;
    Ok((Some(tag), digest))
}

/// Ignore rules for an extracted layer: with `spec.ignore`, the VCS patterns plus the
/// user's; without, every default set. `.sourceignore` files apply either way.
fn ignore_rules(
    root: &std::path::Path,
    user: Option<&str>,
) -> Result<IgnoreRules, sourceignore::IgnoreError> {
    let mut patterns: Vec<String> = sourceignore::VCS_PATTERNS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    match user {
        Some(text) => patterns.extend(text.lines().map(str::to_owned)),
        None => patterns.extend(
            sourceignore::EXTENSION_PATTERNS
                .iter()
                .chain(sourceignore::CI_PATTERNS)
                .chain(sourceignore::EXTRA_PATTERNS)
                .map(|p| (*p).to_owned()),
        ),
    }
    IgnoreRules::new(root, patterns)
}

/// "stored artifact with revision '<rev>' from '<url>'", plus the origin when the artifact's
/// annotations name it.
fn new_artifact_message(spec: &OCIRepositorySpec, artifact: &Artifact) -> String {
    let mut message = format!(
        "stored artifact with revision '{}' from '{}'",
        artifact.revision, spec.url
    );
    let metadata = artifact.metadata.clone().unwrap_or_default();
    if let (Some(source), Some(revision)) = (
        metadata.get(oci::SOURCE_ANNOTATION),
        metadata.get(oci::REVISION_ANNOTATION),
    ) {
        message.push_str(&format!(
            ", origin source '{source}', origin revision '{revision}'"
        ));
    }
    message
}

fn artifact_event(
    severity: Severity,
    reason: &str,
    message: String,
    artifact: &Artifact,
) -> EventRecord {
    let mut metadata = BTreeMap::new();
    metadata.insert(format!("{GROUP}/revision"), artifact.revision.clone());
    if let Some(digest) = &artifact.digest {
        metadata.insert(format!("{GROUP}/digest"), digest.clone());
    }
    EventRecord {
        severity,
        reason: reason.to_owned(),
        message,
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> OCIRepositorySpec {
        serde_json::from_value(json!({"url": url, "interval": "1m"})).unwrap()
    }

    #[test]
    fn new_artifact_messages_name_the_origin_when_annotated() {
        let mut artifact = Artifact {
            revision: "latest@sha256:1".into(),
            ..Artifact::default()
        };
        assert_eq!(
            new_artifact_message(&spec("oci://r/app"), &artifact),
            "stored artifact with revision 'latest@sha256:1' from 'oci://r/app'"
        );
        artifact.metadata = Some(
            [
                (
                    oci::SOURCE_ANNOTATION.to_owned(),
                    "https://git/x".to_owned(),
                ),
                (
                    oci::REVISION_ANNOTATION.to_owned(),
                    "main@sha1:2".to_owned(),
                ),
            ]
            .into(),
        );
        assert_eq!(
            new_artifact_message(&spec("oci://r/app"), &artifact),
            "stored artifact with revision 'latest@sha256:1' from 'oci://r/app', origin source 'https://git/x', origin revision 'main@sha1:2'"
        );
    }

    #[test]
    fn user_ignore_patterns_replace_all_defaults_but_vcs() {
        let root = std::path::Path::new("/a");
        let defaults = ignore_rules(root, None).unwrap();
        assert!(defaults.is_ignored(&root.join("x.png"), false));
        assert!(defaults.is_ignored(&root.join(".github"), true));
        let user = ignore_rules(root, Some("*.txt\n")).unwrap();
        assert!(!user.is_ignored(&root.join("x.png"), false));
        assert!(user.is_ignored(&root.join("x.txt"), false));
        assert!(user.is_ignored(&root.join(".git"), true));
    }

    #[test]
    fn only_spec_changes_and_requests_trigger() {
        let base: OCIRepository = serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "a", "namespace": "n", "generation": 1},
            "spec": {"url": "oci://r/a", "interval": "1m"}
        }))
        .unwrap();
        let mut status_only = base.clone();
        status_only.status = Some(OCIRepositoryStatus {
            observed_generation: 1,
            ..Default::default()
        });
        assert_eq!(
            shared::runtime::trigger_hash(&base),
            shared::runtime::trigger_hash(&status_only)
        );
        let mut requested = base.clone();
        requested.annotations_mut().insert(
            shared::api::meta::RECONCILE_REQUEST_ANNOTATION.into(),
            "now".into(),
        );
        assert_ne!(
            shared::runtime::trigger_hash(&base),
            shared::runtime::trigger_hash(&requested)
        );
        let mut bumped = base.clone();
        bumped.metadata.generation = Some(2);
        assert_ne!(
            shared::runtime::trigger_hash(&base),
            shared::runtime::trigger_hash(&bumped)
        );
    }
}
