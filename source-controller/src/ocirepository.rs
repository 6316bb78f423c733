//! The OCIRepository reconciler: resolve the reference to a digest, pull the artifact,
//! store it (extracted and re-archived, or copied), and report it in the status with Flux's
//! conditions and events.
//!
//! A reconcile runs its phases in order (storage, then source: check the spec, reach the
//! registry, resolve, verify, pull and store); the first failure ends it and is mapped to
//! conditions, event and requeue by `runtime::outcome`.

use std::sync::Arc;
use std::time::Duration;

use api::meta::{Artifact, ConditionStatus, reason};
use api::source::v1::{OCIRepository, OCIRepositorySpec, OCIRepositoryStatus};
use api::source::{
    CloudProvider, OCILayerOperation, VerificationProvider, condition, reason as reasons,
};
use artifacts::archive::{self, ExtractLimits};
use artifacts::oci::{self, ArtifactUrl, OciError, RegistryClient};
use artifacts::sourceignore::{self, IgnoreRules};
use artifacts::storage::{Storage, Stored};
use kube::ResourceExt;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::now_rfc3339;
use runtime::outcome::{self, Failure};

use crate::source::{
    ArtifactSource, Context, RegistrySettings, SourceObject, StatusFields, artifact_event,
    blocking, connect_registry, fetch_failed, fetch_stalled, storage_failed, verification_failed,
    verify_signature,
};
use crate::verify::RegistryAccess;
use source_access::registry::AccessSpec;

const KIND: &str = OCIRepository::KIND;

/// Conditions that make Ready False when True, in priority order.
const NEGATIVE: &[&str] = &[
    condition::FETCH_FAILED,
    condition::ARTIFACT_OUTDATED,
    condition::STORAGE_OPERATION_FAILED,
];
/// Conditions that make Ready False when False, and give Ready its message when True.
const POSITIVE: &[&str] = &[condition::ARTIFACT_IN_STORAGE, condition::SOURCE_VERIFIED];

impl ArtifactSource for OCIRepository {
    type Status = OCIRepositoryStatus;
    const NEGATIVE: &'static [&'static str] = NEGATIVE;
    const POSITIVE: &'static [&'static str] = POSITIVE;

    fn status(&self) -> Option<&OCIRepositoryStatus> {
        self.status.as_ref()
    }

    fn fields(status: &mut OCIRepositoryStatus) -> StatusFields<'_> {
        StatusFields {
            conditions: &mut status.conditions,
            artifact: &mut status.artifact,
            url: Some(&mut status.url),
            last_handled_reconcile_at: &mut status.last_handled_reconcile_at,
        }
    }

    fn observe(status: &mut OCIRepositoryStatus, generation: Option<i64>) {
        status.observed_generation = generation.unwrap_or(-1);
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
        status: &mut OCIRepositoryStatus,
        conditions: &mut Conditions,
    ) -> Result<bool, Failure> {
        reconcile_source(self, ctx, status, conditions).await
    }

    fn recovered_event(&self, status: &OCIRepositoryStatus, _: &Conditions) -> Option<EventRecord> {
        let artifact = status.artifact.as_ref()?;
        let message = new_artifact_message(&self.spec, artifact);
        Some(artifact_event(reason::SUCCEEDED, message, artifact))
    }
}

fn pull_failure(error: OciError, context: &str) -> Failure {
    let reason = match error {
        OciError::Unauthorized { .. } => reasons::AUTHENTICATION_FAILED,
        _ => reasons::PULL_FAILED,
    };
    fetch_failed(reason, format!("{context}: {error}"))
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
    let url = check_spec(spec)?;
    let settings = RegistrySettings {
        access: AccessSpec::from(spec),
        insecure: spec.insecure,
        timeout: api::duration::parse(&spec.timeout).unwrap_or(Duration::from_secs(60)),
    };
    let (client, access) = connect_registry(object, ctx, &settings, &url).await?;
    let (tag, digest) = resolve_reference(&client, &url, spec).await?;
    let revision = match &tag {
        Some(tag) => format!("{tag}@{digest}"),
        None => digest.clone(),
    };
    runtime::record_revision(&revision);
    let unchanged = status
        .artifact
        .as_ref()
        .is_some_and(|a| a.revision == revision)
        && status.observed_ignore == spec.ignore
        && status.observed_layer_selector == spec.layer_selector;
    let pinned = url.with_digest(&digest);
    reconcile_verification(
        object, ctx, &pinned, &revision, unchanged, &access, conditions,
    )
    .await?;

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
    let artifact = pull_and_store(object, ctx, &client, &pinned, &revision).await?;
    status.url = Some(ctx.storage.symlink_latest(&artifact.path).map_err(|e| {
        storage_failed(
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
    if digest_changed && ctx.first_announcement(object, &artifact) {
        let message = new_artifact_message(spec, &artifact);
        ctx.recorder
            .record(
                object,
                artifact_event(reasons::NEW_ARTIFACT, message, &artifact),
            )
            .await;
    }
    let storage = ctx.storage.clone();
    let current = artifact.path.clone();
    status.artifact = Some(artifact);
    if let Err(e) = blocking(move || storage.garbage_collect(&current)).await {
        tracing::warn!(error = %e, "garbage collection failed");
    }
    Ok(true)
}

/// What the spec asks for that cannot work whatever the registry says: a URL with a tag or
/// digest, an unsupported provider, a verification flux-rs cannot do. Stalls until changed.
fn check_spec(spec: &OCIRepositorySpec) -> Result<ArtifactUrl, Failure> {
    let url: ArtifactUrl = spec
        .url
        .parse()
        .map_err(|e: oci::UrlError| fetch_stalled(reasons::URL_INVALID, e.to_string()))?;
    if url.has_explicit_tag() {
        let tag = url.tag().unwrap_or_default();
        return Err(fetch_stalled(
            reasons::URL_INVALID,
            format!("URL must not contain a tag; remove ':{tag}'"),
        ));
    }
    if url.digest().is_some() {
        return Err(fetch_stalled(
            reasons::URL_INVALID,
            "URL must not contain a digest; use spec.ref.digest",
        ));
    }
    if spec.provider != CloudProvider::Generic {
        let provider = serde_json::to_value(spec.provider)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(fetch_stalled(
            reasons::UNSUPPORTED_PROVIDER,
            format!(
                "provider '{provider}' is not supported by flux-rs yet: use provider 'generic' with secretRef or serviceAccountName"
            ),
        ));
    }
    if spec.verify.as_ref().map(|v| v.provider) == Some(VerificationProvider::Notation) {
        // Fail closed: nothing unverified is stored or served.
        let failure = verification_failed(
            "notation",
            "verification with 'notation' is not supported by flux-rs yet",
        );
        return Err(Failure {
            kind: outcome::FailureKind::Stalled,
            ..failure
        });
    }
    Ok(url)
}

/// Verification re-runs for a new revision, a new generation, or after a failure; without
/// `spec.verify` the condition goes away.
async fn reconcile_verification(
    object: &OCIRepository,
    ctx: &Context,
    pinned: &ArtifactUrl,
    revision: &str,
    unchanged: bool,
    access: &RegistryAccess,
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    let Some(verify) = &object.spec.verify else {
        conditions.delete(condition::SOURCE_VERIFIED);
        return Ok(());
    };
    let verified_now = unchanged
        && conditions.get(condition::SOURCE_VERIFIED).is_some_and(|c| {
            c.status == ConditionStatus::True && c.observed_generation == object.metadata.generation
        });
    if verified_now {
        return Ok(());
    }
    let namespace = object.namespace().unwrap_or_default();
    verify_signature(ctx, &namespace, verify, pinned, access).await?;
    let message = format!("verified signature of revision {revision}");
    conditions.mark_true(condition::SOURCE_VERIFIED, reason::SUCCEEDED, &message);
    ctx.recorder
        .record(
            object,
            EventRecord::new(Severity::Trace, reason::SUCCEEDED, message),
        )
        .await;
    Ok(())
}

/// Pulls the pinned artifact's layer and stores it (extracted, filtered and re-archived, or
/// copied as it is); the file work runs on the blocking pool.
async fn pull_and_store(
    object: &OCIRepository,
    ctx: &Context,
    client: &RegistryClient,
    pinned: &ArtifactUrl,
    revision: &str,
) -> Result<Artifact, Failure> {
    let spec = &object.spec;
    let pull_context = format!("failed to pull artifact from '{}'", spec.url);
    let work = tempfile::tempdir().map_err(|e| {
        storage_failed(
            reasons::ARCHIVE_FAILED,
            format!("creating a temporary directory: {e}"),
        )
    })?;
    let layer_file = work.path().join("layer");
    let file = tokio::fs::File::create(&layer_file).await.map_err(|e| {
        storage_failed(
            reasons::ARCHIVE_FAILED,
            format!("creating {}: {e}", layer_file.display()),
        )
    })?;
    let selector = spec.layer_selector.as_ref();
    let media_type = selector.and_then(|s| s.media_type.as_deref());
    let quiet: oci::Progress = Arc::new(|_| {});
    let pulled = client
        .pull_layer(pinned, media_type, tokio::io::BufWriter::new(file), &quiet)
        .await
        .map_err(|e| match e {
            OciError::NotAnArtifact { reason, .. } => fetch_failed(
                reasons::LAYER_OPERATION_FAILED,
                format!("{pull_context}: {reason}"),
            ),
            other => pull_failure(other, &pull_context),
        })?;

    let digest = pinned.digest().unwrap_or_default();
    let path = Storage::artifact_path(
        KIND,
        &object.namespace().unwrap_or_default(),
        &object.name_any(),
        &format!("{digest}.tar.gz"),
    );
    let operation = selector
        .and_then(|s| s.operation)
        .unwrap_or(OCILayerOperation::Extract);
    let storage = ctx.storage.clone();
    let (stored_path, ignore) = (path.clone(), spec.ignore.clone());
    let stored =
        blocking(move || store_layer(&storage, &stored_path, work, operation, ignore)).await?;

    let annotations = pulled.manifest.annotations.clone();
    Ok(Artifact {
        url: ctx.storage.url_for(&path),
        path,
        revision: revision.to_owned(),
        digest: Some(stored.digest.clone()),
        last_update_time: now_rfc3339(),
        size: Some(stored.size as i64),
        metadata: (!annotations.is_empty()).then_some(annotations),
    })
}

/// Stores the pulled layer (`work/layer`) at `path`: copied, or extracted (links and escaping
/// entries left out), filtered by the ignore rules and archived. Blocking.
fn store_layer(
    storage: &Storage,
    path: &str,
    work: tempfile::TempDir,
    operation: OCILayerOperation,
    ignore: Option<String>,
) -> Result<Stored, Failure> {
    let layer_file = work.path().join("layer");
    let stored = match operation {
        OCILayerOperation::Copy => storage.copy_file(path, &layer_file),
        OCILayerOperation::Extract => {
            let content = work.path().join("content");
            let limits = ExtractLimits {
                skip_escaping_entries: true,
                ..ExtractLimits::default()
            };
            let layer = std::fs::File::open(&layer_file).map_err(|e| {
                fetch_failed(
                    reasons::LAYER_OPERATION_FAILED,
                    format!("reading the layer: {e}"),
                )
            })?;
            let summary = archive::extract_tar_gz(layer, &content, limits).map_err(|e| {
                let detail = match e {
                    archive::ArchiveError::NotGzip => "requires gzip-compressed body".to_owned(),
                    other => other.to_string(),
                };
                fetch_failed(
                    reasons::LAYER_OPERATION_FAILED,
                    format!("failed to extract layer contents from artifact: {detail}"),
                )
            })?;
            if !summary.skipped.is_empty() {
                tracing::info!(skipped = ?summary.skipped, "left links and unsafe entries out of the artifact");
            }
            let rules = ignore_rules(&content, ignore.as_deref()).map_err(|e| {
                fetch_stalled("SourceIgnoreError", format!("invalid spec.ignore: {e}"))
            })?;
            storage.archive_dir(path, &content, &rules)
        }
    };
    stored.map_err(|e| {
        storage_failed(
            reasons::ARCHIVE_FAILED,
            format!("unable to archive artifact to storage: {e}"),
        )
    })
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
            return Err(fetch_stalled(
                reasons::URL_INVALID,
                format!("invalid digest reference '{digest}'"),
            ));
        }
        return Ok((None, digest));
    }
    let tag = if let Some(range) = reference.semver {
        let constraint = oci::semver::Constraint::parse(&range).map_err(|e| {
            fetch_stalled(
                reasons::URL_INVALID,
                format!("semver '{range}' parse error: {e}"),
            )
        })?;
        let filter = match reference.semver_filter.as_deref() {
            Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| {
                fetch_stalled(
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
            .ok_or_else(|| fetch_failed(reasons::PULL_FAILED, format!("failed to determine the artifact tag for '{}': no match found for semver: {range}", spec.url)))?
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

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::outcome::{FailureKind, Marks};
    use serde_json::json;

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
    fn specs_that_cannot_work_stall_with_flux_reasons() {
        let with = |extra: serde_json::Value| {
            let mut spec = json!({"url": "oci://r/app", "interval": "1m"});
            spec.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<OCIRepositorySpec>(spec).unwrap()
        };
        assert!(check_spec(&with(json!({}))).is_ok());
        let cases = [
            (
                json!({"url": "oci://r/app:v1"}),
                condition::FETCH_FAILED,
                reasons::URL_INVALID,
                "URL must not contain a tag; remove ':v1'",
            ),
            (
                json!({"url": "oci://r/app@sha256:0123456789012345678901234567890123456789012345678901234567890123"}),
                condition::FETCH_FAILED,
                reasons::URL_INVALID,
                "URL must not contain a digest",
            ),
            (
                json!({"provider": "aws"}),
                condition::FETCH_FAILED,
                reasons::UNSUPPORTED_PROVIDER,
                "provider 'aws'",
            ),
            (
                json!({"verify": {"provider": "notation"}}),
                condition::SOURCE_VERIFIED,
                reasons::VERIFICATION_ERROR,
                "provider 'notation'",
            ),
        ];
        // Keyless without a trusted root Secret is the public-good (TUF) flow, not an error.
        assert!(check_spec(&with(json!({"verify": {"provider": "cosign"}}))).is_ok());
        for (extra, marked, reason, message) in cases {
            let failure = check_spec(&with(extra.clone())).unwrap_err();
            assert_eq!(failure.kind, FailureKind::Stalled, "{extra}");
            assert_eq!(failure.reason, reason, "{extra}");
            assert!(
                failure.message.contains(message),
                "{extra}: {}",
                failure.message
            );
            let marks = failure.marks.unwrap();
            assert!(
                matches!(marks, Marks::Abnormal(t) | Marks::Normal(t) if t == marked),
                "{extra}"
            );
        }
        let verify_marks = check_spec(&with(json!({"verify": {"provider": "notation"}})))
            .unwrap_err()
            .marks;
        assert_eq!(
            verify_marks,
            Some(Marks::Normal(condition::SOURCE_VERIFIED))
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
            runtime::trigger_hash(&base),
            runtime::trigger_hash(&status_only)
        );
        let mut requested = base.clone();
        requested
            .annotations_mut()
            .insert(api::meta::RECONCILE_REQUEST_ANNOTATION.into(), "now".into());
        assert_ne!(
            runtime::trigger_hash(&base),
            runtime::trigger_hash(&requested)
        );
        let mut bumped = base.clone();
        bumped.metadata.generation = Some(2);
        assert_ne!(runtime::trigger_hash(&base), runtime::trigger_hash(&bumped));
    }
}
