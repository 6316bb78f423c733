//! What the source reconcilers share: the controller's context, the failures that mark
//! Flux's source conditions, the storage phase (stored artifact checked, URL refreshed,
//! garbage collected), finalisation, registry connection and signature verification.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use api::meta::{Artifact, FINALIZER};
use api::source::{OCIRepositoryVerification, condition, reason as reasons};
use artifacts::oci::{ArtifactUrl, ClientOptions, OciError, RegistryClient};
use artifacts::storage::{Integrity, Storage};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Client, Resource, ResourceExt};
use runtime::StatusWriter;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Recorder, Severity};
use runtime::metrics::{Metrics, ObjectLabels};
use runtime::outcome::{self, Failure, Marks};
use runtime::requeue::Backoff;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::tuf::SigstoreTuf;
use crate::verify::{CosignKeyless, CosignKeys, Identity, RegistryAccess, TrustRoot, Verifier};
use source_access::registry::{self as credentials, AccessSpec};

/// A kind the source-controller reconciles.
pub trait SourceObject:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
}

impl SourceObject for api::source::v1::GitRepository {
    const KIND: &'static str = "GitRepository";
}

impl SourceObject for api::source::v1::OCIRepository {
    const KIND: &'static str = "OCIRepository";
}

impl SourceObject for api::source::v1::HelmChart {
    const KIND: &'static str = "HelmChart";
}

impl SourceObject for api::source::v1::HelmRepository {
    const KIND: &'static str = "HelmRepository";
}

/// A source that stores an artifact: what OCIRepository, HelmChart and HelmRepository
/// differ in. The reconcile itself (finalizer, suspension, storage phase, source phase, the
/// shared outcome mapping, the status write) is `reconcile`, one for all.
pub trait ArtifactSource: SourceObject {
    type Status: Default + Clone + Serialize + Send + Sync;
    /// Conditions that make Ready False when True, in priority order.
    const NEGATIVE: &'static [&'static str];
    /// Conditions that make Ready False when False, and give Ready its message when True.
    const POSITIVE: &'static [&'static str];
    /// The interval without `spec.interval` (or with one that does not parse).
    const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

    fn status(&self) -> Option<&Self::Status>;
    fn fields(status: &mut Self::Status) -> StatusFields<'_>;
    /// Records that this generation was fully handled.
    fn observe(status: &mut Self::Status, generation: Option<i64>);
    fn suspended(&self) -> bool;
    fn interval(&self) -> Option<&str>;
    /// Fetches and stores what the spec asks for; Ok(whether a new artifact was stored).
    fn reconcile_source(
        &self,
        ctx: &Context,
        status: &mut Self::Status,
        conditions: &mut Conditions,
    ) -> impl std::future::Future<Output = Result<bool, Failure>> + Send;
    /// The event that tells the alerts a failing source is fine again (no new artifact).
    fn recovered_event(
        &self,
        status: &Self::Status,
        conditions: &Conditions,
    ) -> Option<EventRecord>;
}

/// The status fields the shared reconcile reads and writes.
pub struct StatusFields<'a> {
    pub conditions: &'a mut Option<Vec<api::meta::Condition>>,
    pub artifact: &'a mut Option<Artifact>,
    /// `status.url` (the latest artifact's stable address), for the kinds that have one.
    pub url: Option<&'a mut Option<String>>,
    pub last_handled_reconcile_at: &'a mut Option<String>,
}

pub async fn reconcile<K: ArtifactSource>(
    object: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let span = runtime::reconcile_span(K::KIND, object.as_ref());
    reconcile_object(object, ctx).instrument(span).await
}

async fn reconcile_object<K: ArtifactSource>(
    object: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let kube_err = |source| Error::Kube {
        kind: K::KIND,
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let object_labels = labels(object.as_ref());
    if object.meta().deletion_timestamp.is_some() {
        return finalize(object.as_ref(), &ctx, &api).await;
    }
    runtime::add_finalizer(&api, object.as_ref(), FINALIZER)
        .await
        .map_err(kube_err)?;
    ctx.metrics
        .record_suspend(&object_labels, object.suspended());
    if object.suspended() {
        tracing::info!("reconciliation is suspended for this object");
        return Ok(Action::await_change());
    }

    let mut writer = StatusWriter::new(&object.status());
    let mut status = object.status().cloned().unwrap_or_default();
    let fields = K::fields(&mut status);
    let mut conditions = Conditions::new(
        fields.conditions.take(),
        object.meta().generation,
        runtime::now_rfc3339(),
    );
    if let Some(requested) = runtime::requested_at(object.as_ref()) {
        *fields.last_handled_reconcile_at = Some(requested);
    }
    let was_failing = K::NEGATIVE
        .iter()
        .filter(|t| **t != condition::ARTIFACT_OUTDATED)
        .any(|t| conditions.is_true(t));
    let stored = StoredArtifact {
        artifact: fields.artifact,
        url: fields.url,
    };
    let outcome = match reconcile_storage(object.as_ref(), &ctx, stored, &mut conditions).await {
        Ok(()) => {
            object
                .reconcile_source(&ctx, &mut status, &mut conditions)
                .await
        }
        Err(failure) => Err(failure),
    };
    let conclusion = match &outcome {
        Ok(new_artifact) => {
            if was_failing
                && !new_artifact
                && let Some(event) = object.recovered_event(&status, &conditions)
            {
                ctx.recorder.record(object.as_ref(), event).await;
            }
            outcome::succeeded(&mut conditions, K::NEGATIVE)
        }
        Err(failure) => {
            outcome::log_failure(failure);
            outcome::failed(&mut conditions, failure)
        }
    };
    if conclusion.observed {
        K::observe(&mut status, object.meta().generation);
    }
    if let Some(event) = conclusion.event {
        ctx.recorder.record(object.as_ref(), event).await;
    }
    conditions.summarize(K::NEGATIVE, K::POSITIVE);
    let items = conditions.into_vec();
    ctx.metrics.record_conditions(&object_labels, &items);
    *K::fields(&mut status).conditions = Some(items);
    writer.write(&api, &name, &status).await.map_err(kube_err)?;
    ctx.metrics
        .record_duration(&object_labels, started.elapsed());
    let interval = object
        .interval()
        .and_then(|i| api::duration::parse(i).ok())
        .unwrap_or(K::DEFAULT_INTERVAL);
    Ok(conclusion.requeue.action(
        interval,
        ctx.jitter_percent,
        &ctx.backoff,
        &backoff_key(object.as_ref()),
    ))
}

/// The artifact fields of a source's status, which the storage phase keeps true.
pub struct StoredArtifact<'a> {
    pub artifact: &'a mut Option<Artifact>,
    pub url: Option<&'a mut Option<String>>,
}

/// How to reach a registry for one object: its Secrets, `insecure` and `timeout`.
pub struct RegistrySettings<'a> {
    pub access: AccessSpec<'a>,
    pub insecure: bool,
    pub timeout: Duration,
}

pub struct Context {
    pub client: Client,
    pub storage: Storage,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub backoff: Backoff,
    pub jitter_percent: u8,
    /// Registry clients by registry and settings: connections, TLS setup and tokens are
    /// reused across reconciles instead of being rebuilt for every object.
    pub registry_clients: source_access::registry::ClientCache,
    /// The artifact digest last announced (NewArtifact) per object: when a status write fails
    /// (the API server away), the next attempt stores the same artifact again but does not
    /// announce it twice.
    pub announced: std::sync::Mutex<HashMap<String, String>>,
    /// Sigstore's trusted root through TUF, for keyless verification without
    /// `trustedRootSecretRef`.
    pub sigstore_tuf: SigstoreTuf,
}

impl Context {
    /// Whether `artifact` is news for `object`, remembering that it was told.
    pub fn first_announcement<K: SourceObject>(&self, object: &K, artifact: &Artifact) -> bool {
        let digest = artifact.digest.clone().unwrap_or_default();
        let mut announced = self.announced.lock().expect("announced artifacts");
        announced.insert(backoff_key(object), digest.clone()) != Some(digest)
    }

    pub fn registry_client(
        &self,
        registry: &str,
        options: ClientOptions,
    ) -> Result<Arc<RegistryClient>, OciError> {
        self.registry_clients.client(registry, options)
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
        source: artifacts::storage::StorageError,
    },
}

/// The registry could not be read (or the spec asks for what it cannot give): FetchFailed.
pub fn fetch_failed(reason: &'static str, message: impl Into<String>) -> Failure {
    Failure::retryable(reason, message).marking(Marks::Abnormal(condition::FETCH_FAILED))
}

/// The spec itself is wrong: FetchFailed and Stalled until it changes.
pub fn fetch_stalled(reason: &'static str, message: impl Into<String>) -> Failure {
    Failure::stalled(reason, message).marking(Marks::Abnormal(condition::FETCH_FAILED))
}

/// The artifact store failed: StorageOperationFailed.
pub fn storage_failed(reason: &'static str, message: impl Into<String>) -> Failure {
    Failure::retryable(reason, message)
        .marking(Marks::Abnormal(condition::STORAGE_OPERATION_FAILED))
}

/// "failed to verify the signature using provider '…': …", SourceVerified False.
pub fn verification_failed(provider: &str, detail: impl std::fmt::Display) -> Failure {
    Failure::retryable(
        reasons::VERIFICATION_ERROR,
        format!("failed to verify the signature using provider '{provider}': {detail}"),
    )
    .marking(Marks::Normal(condition::SOURCE_VERIFIED))
}

/// An Info event about `artifact`, annotated with its revision and digest (what alerts show,
/// and what notification-controller deduplicates on).
pub fn artifact_event(reason: &str, message: String, artifact: &Artifact) -> EventRecord {
    let group = api::source::GROUP;
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert(format!("{group}/revision"), artifact.revision.clone());
    if let Some(digest) = &artifact.digest {
        metadata.insert(format!("{group}/digest"), digest.clone());
    }
    EventRecord {
        severity: Severity::Info,
        reason: reason.to_owned(),
        message,
        metadata,
    }
}

pub fn labels<K: SourceObject>(object: &K) -> ObjectLabels {
    ObjectLabels {
        kind: K::KIND.to_owned(),
        name: object.name_any(),
        namespace: object.namespace().unwrap_or_default(),
    }
}

pub fn backoff_key<K: SourceObject>(object: &K) -> String {
    format!(
        "{}/{}/{}",
        K::KIND,
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// Runs file and CPU work (hashing, extracting, archiving) on the blocking pool: a large
/// artifact must not stall the other reconciles or the probes on the async workers.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The object is being deleted: its artifacts go, then the finalizer.
pub async fn finalize<K: SourceObject>(
    object: &K,
    ctx: &Context,
    api: &Api<K>,
) -> Result<Action, Error> {
    if !object.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let (namespace, name) = (object.namespace().unwrap_or_default(), object.name_any());
    let storage = ctx.storage.clone();
    let (kind_dir, ns_dir, name_dir) = (K::KIND, namespace.clone(), name.clone());
    blocking(move || storage.remove_object(kind_dir, &ns_dir, &name_dir))
        .await
        .map_err(|source| Error::Cleanup {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
    runtime::remove_finalizer(api, object, FINALIZER)
        .await
        .map_err(|source| Error::Kube {
            kind: K::KIND,
            namespace,
            name,
            source,
        })?;
    ctx.metrics.forget(&labels(object));
    ctx.announced
        .lock()
        .expect("announced artifacts")
        .remove(&backoff_key(object));
    tracing::info!("artifacts removed, finalizer released");
    Ok(Action::await_change())
}

/// Unexpected errors (the API server refused a patch): retried with backoff.
pub fn error_policy<K: SourceObject>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::error!(kind = K::KIND, namespace = object.namespace().unwrap_or_default(), name = object.name_any(), error = %error, "reconcile error");
    Action::requeue(ctx.backoff.next_delay(&backoff_key(object.as_ref())))
}

/// Checks the stored artifact still exists and has its digest, points its URL at the
/// current advertised address, and collects garbage.
pub async fn reconcile_storage<K: SourceObject>(
    object: &K,
    ctx: &Context,
    stored: StoredArtifact<'_>,
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    let StoredArtifact {
        artifact: current,
        url,
    } = stored;
    let Some(artifact) = current.as_mut() else {
        conditions.delete(condition::ARTIFACT_IN_STORAGE);
        return Ok(());
    };
    let storage_failure = |e: artifacts::storage::StorageError| {
        storage_failed(
            reasons::STAT_FAILED,
            format!("failed to check the stored artifact: {e}"),
        )
    };
    let storage = ctx.storage.clone();
    let stored = artifact.clone();
    let integrity = blocking(move || storage.verify(&stored))
        .await
        .map_err(storage_failure)?;
    match integrity {
        Integrity::Ok => {
            ctx.storage.set_url(artifact);
            let latest = ctx
                .storage
                .symlink_latest(&artifact.path)
                .map_err(storage_failure)?;
            if let Some(url) = url {
                *url = Some(latest);
            }
            let storage = ctx.storage.clone();
            let current = artifact.path.clone();
            let deleted = blocking(move || storage.garbage_collect(&current))
                .await
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
            tracing::info!(path = %artifact.path, "stored artifact is missing; rebuilding it");
            *current = None;
            if let Some(url) = url {
                *url = None;
            }
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
            *current = None;
            if let Some(url) = url {
                *url = None;
            }
            conditions.delete(condition::ARTIFACT_IN_STORAGE);
        }
    }
    Ok(())
}

/// The registry client for the object's credentials, TLS and proxy settings, and the same
/// access for signature checks.
pub async fn connect_registry<K: SourceObject>(
    object: &K,
    ctx: &Context,
    settings: &RegistrySettings<'_>,
    url: &ArtifactUrl,
) -> Result<(Arc<RegistryClient>, RegistryAccess), Failure> {
    let namespace = object.namespace().unwrap_or_default();
    let access =
        match credentials::resolve(&ctx.client, &namespace, &settings.access, url.registry()).await
        {
            Ok(access) => access,
            Err(e) => {
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
                return Err(fetch_failed(
                    reasons::AUTHENTICATION_FAILED,
                    format!("failed to get credential: {e}"),
                ));
            }
        };
    let timeout = settings.timeout;
    let client = ctx
        .registry_client(
            url.registry(),
            access.client_options(settings.insecure, timeout),
        )
        .map_err(|e| fetch_failed(reasons::AUTHENTICATION_FAILED, e.to_string()))?;
    let registry_access = RegistryAccess {
        credentials: access.credentials,
        insecure: settings.insecure,
        ca_pem: access.ca_pem,
        proxy: access.proxy,
        bridge: client.bridge_proxy().map(str::to_owned),
        plain_http: client.plain_http(),
    };
    Ok((client, registry_access))
}

/// Verifies the pinned artifact: with the cosign public keys of `secretRef`, or keylessly
/// against the trusted root of `trustedRootSecretRef`, or without one, the root TUF gives.
pub async fn verify_signature(
    ctx: &Context,
    namespace: &str,
    verify: &OCIRepositoryVerification,
    pinned: &ArtifactUrl,
    access: &RegistryAccess,
) -> Result<(), Failure> {
    let failed = |provider: &str, detail: String| verification_failed(provider, detail);
    let secret_data = |name: &str, provider: &'static str| {
        let name = name.to_owned();
        async move {
            runtime::secret_data(&ctx.client, namespace, &name)
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
            let trust_root = match root {
                Some(root) => Arc::new(
                    TrustRoot::from_secret(&root.name, &secret_data(&root.name, provider).await?)
                        .map_err(|e| failed(provider, e.to_string()))?,
                ),
                None => ctx
                    .sigstore_tuf
                    .trusted_root()
                    .await
                    .map_err(|e| failed(provider, e.to_string()))?,
            };
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
