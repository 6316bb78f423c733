//! The GitRepository reconciler: list the remote's references, and when the wanted one moved
//! (or what is stored was built from other settings) fetch it shallowly, check it out, and
//! store the tree as an artifact with Flux's ignore rules, revision format, conditions and
//! events.
//!
//! Phases in order: storage (shared), spec check, credentials, reference resolution (an
//! `ls-remote`: no clone when the remote head is what is stored), checkout, include, archive.
//! The first failure ends the reconcile and is mapped by `runtime::outcome`.

use std::path::Path;

use api::meta::{Artifact, reason};
use api::source::v1::{GitRepository, GitRepositorySpec, GitRepositoryStatus};
use api::source::{GitProvider, condition, git_condition, reason as reasons};
use artifacts::sourceignore::{self, IgnoreRules};
use artifacts::storage::Storage;
use kube::ResourceExt;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::now_rfc3339;
use runtime::outcome::{Failure, Marks};
use source_access::git_remote::{pinned_commit, resolve_target};

use crate::source::{
    ArtifactSource, Context, SourceObject, StatusFields, artifact_event, blocking, fetch_failed,
    fetch_stalled, storage_failed,
};

const KIND: &str = GitRepository::KIND;
/// Branch checked out when `spec.ref` names nothing (as Flux).
/// At most this much is received from a remote in one fetch.
const MAX_FETCH_BYTES: u64 = 2 << 30;

/// Conditions that make Ready False when True, in Flux's priority order.
const NEGATIVE: &[&str] = &[
    condition::STORAGE_OPERATION_FAILED,
    condition::FETCH_FAILED,
    git_condition::INCLUDE_UNAVAILABLE,
    condition::ARTIFACT_OUTDATED,
];
/// Conditions that make Ready False when False, and give Ready its message when True.
const POSITIVE: &[&str] = &[condition::ARTIFACT_IN_STORAGE, condition::SOURCE_VERIFIED];

impl ArtifactSource for GitRepository {
    type Status = GitRepositoryStatus;
    const NEGATIVE: &'static [&'static str] = NEGATIVE;
    const POSITIVE: &'static [&'static str] = POSITIVE;

    fn status(&self) -> Option<&GitRepositoryStatus> {
        self.status.as_ref()
    }

    fn fields(status: &mut GitRepositoryStatus) -> StatusFields<'_> {
        StatusFields {
            conditions: &mut status.conditions,
            artifact: &mut status.artifact,
            url: None,
            last_handled_reconcile_at: &mut status.last_handled_reconcile_at,
        }
    }

    fn observe(status: &mut GitRepositoryStatus, generation: Option<i64>) {
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
        status: &mut GitRepositoryStatus,
        conditions: &mut Conditions,
    ) -> Result<bool, Failure> {
        reconcile_source(self, ctx, status, conditions).await
    }

    fn recovered_event(&self, status: &GitRepositoryStatus, _: &Conditions) -> Option<EventRecord> {
        let artifact = status.artifact.as_ref()?;
        let message = format!("stored artifact for revision '{}'", artifact.revision);
        Some(artifact_event(reason::SUCCEEDED, message, artifact))
    }
}

/// What the spec asks for that cannot work whatever the remote says. Stalls until changed.
fn check_spec(spec: &GitRepositorySpec) -> Result<url::Url, Failure> {
    let url = url::Url::parse(&spec.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https" | "ssh") && u.host().is_some())
        .ok_or_else(|| {
            fetch_stalled(
                reasons::URL_INVALID,
                format!(
                    "failed to parse url '{}': not an http(s) or ssh URL",
                    spec.url
                ),
            )
        })?;
    if let Some(provider @ (GitProvider::Aws | GitProvider::Azure | GitProvider::Github)) =
        spec.provider
    {
        return Err(fetch_stalled(
            reasons::INVALID_PROVIDER_CONFIGURATION,
            format!("provider '{provider:?}' is not supported by flux-rs yet; use 'generic' with a secretRef").to_lowercase(),
        ));
    }
    if let Some(verify) = &spec.verify {
        let reference = spec.reference.clone().unwrap_or_default();
        let names_tag = reference.tag.is_some() || reference.semver.is_some();
        if verify.mode.verifies_tag() && !names_tag {
            return Err(Failure::stalled(
                reasons::INVALID_VERIFICATION_MODE,
                format!(
                    "cannot verify tag object's signature if a tag reference is not specified (mode '{}')",
                    serde_json::to_value(verify.mode).unwrap_or_default().as_str().unwrap_or_default()
                ),
            )
            .marking(Marks::Normal(condition::SOURCE_VERIFIED)));
        }
    }
    Ok(url)
}

/// The remote with the object's credentials and proxy.
async fn remote_for(
    object: &GitRepository,
    ctx: &Context,
    url: &url::Url,
) -> Result<git::Remote, Failure> {
    let namespace = object.namespace().unwrap_or_default();
    source_access::git_remote::remote_for(
        &ctx.client,
        &namespace,
        &object.spec,
        url,
        MAX_FETCH_BYTES,
    )
    .await
    .map_err(|e| fetch_failed(reasons::AUTHENTICATION_FAILED, e))
}

fn clone_failed(url: &str, error: impl std::fmt::Display) -> Failure {
    fetch_failed(
        reasons::GIT_OPERATION_FAILED,
        format!("failed to checkout and determine revision: unable to clone '{url}': {error}"),
    )
}

/// The spec's content settings as the status records them once an artifact is built.
fn observed_settings_unchanged(spec: &GitRepositorySpec, status: &GitRepositoryStatus) -> bool {
    status.observed_ignore == spec.ignore
        && status.observed_recurse_submodules == spec.recurse_submodules
        && status.observed_sparse_checkout == sparse_dirs(spec)
        && status.observed_include.clone().unwrap_or_default() == spec.include
        && status.source_verification_mode == spec.verify.as_ref().map(|v| v.mode)
}

/// Whether the included artifacts are the ones the stored artifact was built with.
fn same_artifacts(stored: &[Artifact], current: &[Artifact]) -> bool {
    stored.len() == current.len()
        && stored
            .iter()
            .zip(current)
            .all(|(a, b)| a.revision == b.revision && a.digest == b.digest)
}

/// `sparseCheckout` with a leading `./` trimmed (as Flux), or None when empty.
fn sparse_dirs(spec: &GitRepositorySpec) -> Option<Vec<String>> {
    let dirs: Vec<String> = spec
        .sparse_checkout
        .iter()
        .flatten()
        .map(|d| {
            d.strip_prefix("./")
                .unwrap_or(d)
                .trim_end_matches('/')
                .to_owned()
        })
        .filter(|d| !d.is_empty())
        .collect();
    (!dirs.is_empty()).then_some(dirs)
}

async fn reconcile_source(
    object: &GitRepository,
    ctx: &Context,
    status: &mut GitRepositoryStatus,
    conditions: &mut Conditions,
) -> Result<bool, Failure> {
    let spec = &object.spec;
    let url = check_spec(spec)?;
    let remote = remote_for(object, ctx, &url).await?;
    let reference = spec.reference.clone().unwrap_or_default();
    let target = match pinned_commit(&reference) {
        Some(target) => target,
        None => {
            let listing = remote.clone();
            let refs = blocking(move || git::list_refs(&listing))
                .await
                .map_err(|e| clone_failed(&spec.url, e))?;
            if refs.is_empty() {
                return Err(fetch_failed(
                    reasons::EMPTY_GIT_REPOSITORY,
                    "git repository is empty",
                ));
            }
            resolve_target(&reference, &refs).map_err(|e| clone_failed(&spec.url, e))?
        }
    };
    let includes = crate::git_include::include_artifacts(object, ctx).await?;
    let unchanged_settings = observed_settings_unchanged(spec, status)
        && same_artifacts(
            status.included_artifacts.as_deref().unwrap_or_default(),
            &includes,
        );
    let stored_revision = status.artifact.as_ref().map(|a| a.revision.clone());
    if let Some(revision) = target.known_revision()
        && stored_revision.as_deref() == Some(revision.as_str())
        && unchanged_settings
    {
        runtime::record_revision(&revision);
        conditions.mark_true(
            condition::ARTIFACT_IN_STORAGE,
            reason::SUCCEEDED,
            format!("stored artifact for revision '{revision}'"),
        );
        // Flux's wording, misspelling included: alerts and log queries match on it.
        let note = format!("no changes since last reconcilation: observed revision '{revision}'");
        tracing::info!("{note}");
        ctx.recorder
            .record(
                object,
                EventRecord::new(Severity::Trace, reasons::GIT_OPERATION_SUCCEEDED, note),
            )
            .await;
        return Ok(false);
    }

    let work = tempfile::tempdir().map_err(|e| {
        storage_failed(
            reasons::DIRECTORY_CREATION_FAILED,
            format!("failed to create temporary working directory: {e}"),
        )
    })?;
    let (git_dir, tree) = (work.path().join("git"), work.path().join("tree"));
    let (fetching, wanted, sparse) = (remote.clone(), target.clone(), sparse_dirs(spec));
    let tree_dir = tree.clone();
    let recurse = spec.recurse_submodules;
    let checked_out = blocking(move || {
        let checked_out = git::checkout(
            &fetching,
            wanted.want(),
            &git_dir,
            &tree_dir,
            sparse.as_deref().unwrap_or_default(),
        )?;
        if recurse {
            git::checkout_submodules(&fetching, &git_dir, &tree_dir, &checked_out.commit)?;
        }
        Ok(checked_out)
    })
    .await
    .map_err(|e| match e {
        git::GitError::EmptyRepository => {
            fetch_failed(reasons::EMPTY_GIT_REPOSITORY, "git repository is empty")
        }
        git::GitError::SparseCheckout(_) => {
            fetch_failed(reasons::GIT_OPERATION_FAILED, e.to_string())
        }
        other => clone_failed(&spec.url, other),
    })?;
    let revision = target.revision(&checked_out.commit);
    runtime::record_revision(&revision);
    crate::git_verify::reconcile(object, ctx, &checked_out, conditions).await?;
    status.source_verification_mode = spec.verify.as_ref().map(|v| v.mode);

    if stored_revision.as_deref() == Some(revision.as_str()) && unchanged_settings {
        let artifact = status
            .artifact
            .as_ref()
            .expect("a stored revision has an artifact");
        let message = format!("stored artifact for revision '{}'", artifact.revision);
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
        format!("new upstream revision '{revision}'"),
    );
    crate::git_include::copy_includes(object, ctx, &tree, &includes, conditions).await?;
    let artifact = store_tree(object, ctx, work, &checked_out.commit, &revision).await?;
    conditions.mark_true(
        condition::ARTIFACT_IN_STORAGE,
        reason::SUCCEEDED,
        format!("stored artifact for revision '{revision}'"),
    );
    status.observed_ignore = spec.ignore.clone();
    status.observed_recurse_submodules = spec.recurse_submodules;
    status.observed_sparse_checkout = sparse_dirs(spec);
    status.observed_include = (!spec.include.is_empty()).then(|| spec.include.clone());
    status.included_artifacts = (!includes.is_empty()).then_some(includes);
    let digest_changed =
        status.artifact.as_ref().and_then(|a| a.digest.as_deref()) != artifact.digest.as_deref();
    if digest_changed && ctx.first_announcement(object, &artifact) {
        let message = format!(
            "stored artifact for commit '{}'",
            commit_subject(&checked_out.message)
        );
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

/// Archives the checked-out tree (`work/tree`) as `gitrepository/<ns>/<name>/<commit>.tar.gz`.
async fn store_tree(
    object: &GitRepository,
    ctx: &Context,
    work: tempfile::TempDir,
    commit: &str,
    revision: &str,
) -> Result<Artifact, Failure> {
    let path = Storage::artifact_path(
        KIND,
        &object.namespace().unwrap_or_default(),
        &object.name_any(),
        &format!("{commit}.tar.gz"),
    );
    let storage = ctx.storage.clone();
    let (stored_path, ignore) = (path.clone(), object.spec.ignore.clone());
    let stored = blocking(move || {
        let tree = work.path().join("tree");
        let rules = ignore_rules(&tree, ignore.as_deref()).map_err(|e| {
            fetch_stalled("SourceIgnoreError", format!("invalid ignore rules: {e}"))
        })?;
        storage
            .archive_dir(&stored_path, &tree, &rules)
            .map_err(|e| {
                storage_failed(
                    reasons::ARCHIVE_FAILED,
                    format!("unable to archive artifact to storage: {e}"),
                )
            })
    })
    .await?;
    Ok(Artifact {
        url: ctx.storage.url_for(&path),
        path,
        revision: revision.to_owned(),
        digest: Some(stored.digest),
        last_update_time: now_rfc3339(),
        size: Some(stored.size as i64),
        metadata: None,
    })
}

/// Flux's rule for Git trees: when neither `spec.ignore` nor any `.sourceignore` in the tree
/// holds a pattern, the VCS patterns and every default set; otherwise the VCS patterns and
/// the user's (the `.sourceignore` files apply below their directories either way).
fn ignore_rules(tree: &Path, user: Option<&str>) -> Result<IgnoreRules, sourceignore::IgnoreError> {
    let has_patterns = |text: &str| {
        text.lines()
            .map(str::trim)
            .any(|line| !line.is_empty() && !line.starts_with('#'))
    };
    let user_patterns = user.is_some_and(has_patterns);
    let mut patterns: Vec<String> = sourceignore::VCS_PATTERNS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    if user_patterns || any_sourceignore_pattern(tree, &has_patterns) {
        patterns.extend(user.unwrap_or_default().lines().map(str::to_owned));
    } else {
        patterns.extend(
            sourceignore::EXTENSION_PATTERNS
                .iter()
                .chain(sourceignore::CI_PATTERNS)
                .chain(sourceignore::EXTRA_PATTERNS)
                .map(|p| (*p).to_owned()),
        );
    }
    IgnoreRules::new(tree, patterns)
}

/// Whether any `.sourceignore` below `dir` holds a pattern.
fn any_sourceignore_pattern(dir: &Path, has_patterns: &dyn Fn(&str) -> bool) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => any_sourceignore_pattern(&path, has_patterns),
            Ok(kind) if kind.is_file() && entry.file_name() == sourceignore::IGNORE_FILE => {
                std::fs::read_to_string(&path).is_ok_and(|text| has_patterns(&text))
            }
            _ => false,
        }
    })
}

/// The first line of a commit message, cut at 50 characters with "..." (Flux's
/// `ShortMessage`).
fn commit_subject(message: &str) -> String {
    let subject = message.lines().next().unwrap_or_default();
    if subject.chars().count() > 50 {
        format!("{}...", subject.chars().take(50).collect::<String>())
    } else {
        subject.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_subjects_are_cut_as_flux_cuts_them() {
        assert_eq!(commit_subject("Add podinfo\n\nbody"), "Add podinfo");
        let long = "é".repeat(60);
        assert_eq!(commit_subject(&long), format!("{}...", "é".repeat(50)));
    }

    #[test]
    fn any_ignore_pattern_replaces_the_defaults() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join(".github")).unwrap();
        let defaults = ignore_rules(tree.path(), None).unwrap();
        assert!(defaults.is_ignored(&tree.path().join("logo.png"), false));
        assert!(defaults.is_ignored(&tree.path().join(".github"), true));
        let user = ignore_rules(tree.path(), Some("/secret.yaml\n")).unwrap();
        assert!(!user.is_ignored(&tree.path().join("logo.png"), false));
        assert!(user.is_ignored(&tree.path().join("secret.yaml"), false));
        assert!(user.is_ignored(&tree.path().join(".git"), true));
        std::fs::create_dir_all(tree.path().join("apps")).unwrap();
        std::fs::write(tree.path().join("apps/.sourceignore"), "# only a comment\n").unwrap();
        let comment_only = ignore_rules(tree.path(), None).unwrap();
        assert!(comment_only.is_ignored(&tree.path().join("logo.png"), false));
        std::fs::write(tree.path().join("apps/.sourceignore"), "*.txt\n").unwrap();
        let nested = ignore_rules(tree.path(), None).unwrap();
        assert!(!nested.is_ignored(&tree.path().join("logo.png"), false));
    }

    #[test]
    fn specs_that_cannot_work_stall() {
        let spec: GitRepositorySpec = serde_json::from_value(serde_json::json!({
            "url": "git@github.com:org/repo.git", "interval": "1m"
        }))
        .unwrap();
        let failure = check_spec(&spec).unwrap_err();
        assert_eq!(failure.reason, reasons::URL_INVALID);
        let spec: GitRepositorySpec = serde_json::from_value(serde_json::json!({
            "url": "https://example.org/repo.git", "interval": "1m",
            "ref": {"branch": "main"}, "verify": {"mode": "Tag", "secretRef": {"name": "keys"}}
        }))
        .unwrap();
        let failure = check_spec(&spec).unwrap_err();
        assert_eq!(failure.reason, reasons::INVALID_VERIFICATION_MODE);
        assert!(
            failure.message.contains("mode 'Tag'"),
            "{}",
            failure.message
        );
    }
}
