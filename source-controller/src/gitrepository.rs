//! The GitRepository reconciler: list the remote's references, and when the wanted one moved
//! (or what is stored was built from other settings) fetch it shallowly, check it out, and
//! store the tree as an artifact with Flux's ignore rules, revision format, conditions and
//! events.
//!
//! Phases in order: storage (shared), spec check, credentials, reference resolution (an
//! `ls-remote`: no clone when the remote head is what is stored), checkout, include, archive.
//! The first failure ends the reconcile and is mapped by `runtime::outcome`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use api::meta::{Artifact, reason};
use api::source::v1::{GitRepository, GitRepositorySpec, GitRepositoryStatus};
use api::source::{GitProvider, GitRepositoryRef, condition, git_condition, reason as reasons};
use artifacts::oci::semver;
use artifacts::sourceignore::{self, IgnoreRules};
use artifacts::storage::Storage;
use git::{Auth, RemoteRef, SshKey, Want};
use k8s_openapi::ByteString;
use kube::ResourceExt;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::now_rfc3339;
use runtime::outcome::{Failure, Marks};

use crate::source::{
    ArtifactSource, Context, SourceObject, StatusFields, artifact_event, blocking, fetch_failed,
    fetch_stalled, storage_failed,
};

const KIND: &str = GitRepository::KIND;
/// Branch checked out when `spec.ref` names nothing (as Flux).
const DEFAULT_BRANCH: &str = "master";
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

/// What to check out, and how its revision is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    want: Wanted,
    /// The branch, tag or reference name the revision starts with (`<label>@sha1:<hash>`).
    label: Option<String>,
    /// The commit the remote advertises for it (not known for a pinned commit until fetched,
    /// but then it is the pin).
    commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    Ref(String),
    Commit {
        commit: String,
        branch: Option<String>,
    },
}

impl Target {
    fn revision(&self, commit: &str) -> String {
        let hash = if commit.len() == 40 {
            format!("sha1:{commit}")
        } else {
            format!("<unknown>:{commit}")
        };
        match &self.label {
            Some(label) => format!("{label}@{hash}"),
            None => hash,
        }
    }

    fn known_revision(&self) -> Option<String> {
        self.commit.as_deref().map(|commit| self.revision(commit))
    }
}

/// A pinned commit needs no listing: `commit` (with its `branch`, if any).
fn pinned_commit(reference: &GitRepositoryRef) -> Option<Target> {
    let commit = reference.commit.clone()?;
    Some(Target {
        label: reference.branch.clone(),
        want: Wanted::Commit {
            commit: commit.clone(),
            branch: reference.branch.clone(),
        },
        commit: Some(commit),
    })
}

/// The reference the spec names among those the remote advertises: `name` > `semver` >
/// `tag` > `branch` (default `master`).
fn resolve_target(reference: &GitRepositoryRef, refs: &[RemoteRef]) -> Result<Target, String> {
    let find = |full: &str| refs.iter().find(|r| r.name == full);
    let (full, label) = if let Some(name) = &reference.name {
        (name.clone(), name.clone())
    } else if let Some(range) = &reference.semver {
        let constraint =
            semver::Constraint::parse(range).map_err(|e| format!("semver parse error: {e}"))?;
        let tags = refs
            .iter()
            .filter_map(|r| r.name.strip_prefix("refs/tags/"));
        let (tag, _) = semver::highest_match(&constraint, tags)
            .ok_or_else(|| format!("no match found for semver: {range}"))?;
        (format!("refs/tags/{tag}"), tag.to_owned())
    } else if let Some(tag) = &reference.tag {
        (format!("refs/tags/{tag}"), tag.clone())
    } else {
        let branch = reference.branch.as_deref().unwrap_or(DEFAULT_BRANCH);
        (format!("refs/heads/{branch}"), branch.to_owned())
    };
    let found = find(&full).ok_or_else(|| format!("couldn't find remote ref \"{full}\""))?;
    Ok(Target {
        commit: Some(found.commit().to_owned()),
        want: Wanted::Ref(full),
        label: Some(label),
    })
}

/// Reads `secretRef` into credentials, with the rules (and messages) of Flux's Git auth
/// options; without a Secret, credentials written in an http(s) URL are used.
fn auth_from_secret(
    url: &url::Url,
    data: Option<&BTreeMap<String, ByteString>>,
) -> Result<Auth, String> {
    let text = |key: &str| {
        data.and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .filter(|v| !v.is_empty())
    };
    if url.scheme() == "ssh" {
        if data.is_none() {
            return Ok(Auth::Anonymous);
        }
        let identity =
            text("identity").ok_or("invalid 'ssh' auth option: 'identity' is required")?;
        let known_hosts =
            text("known_hosts").ok_or("invalid 'ssh' auth option: 'known_hosts' is required")?;
        let known_hosts = git::KnownHosts::parse(&known_hosts).map_err(|e| e.to_string())?;
        if identity.contains("ENCRYPTED") && text("password").is_none() {
            return Err(
                "SSH identity key is encrypted but no 'password' field was provided in the secret"
                    .into(),
            );
        }
        return Ok(Auth::Ssh(SshKey {
            identity,
            passphrase: text("password"),
            known_hosts,
        }));
    }
    let (username, password, bearer) = (text("username"), text("password"), text("bearerToken"));
    match (username, password, bearer) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(
            "invalid 'http' auth option: basic auth and bearer token cannot be set at the same time"
                .into(),
        ),
        (None, None, Some(token)) => Ok(Auth::Bearer(token)),
        (None, Some(_), None) => {
            Err("invalid 'http' auth option: 'password' requires 'username' to be set".into())
        }
        (Some(username), password, None) => Ok(Auth::Basic {
            username,
            password: password.unwrap_or_default(),
        }),
        (None, None, None) if !url.username().is_empty() => Ok(Auth::Basic {
            username: url.username().to_owned(),
            password: url.password().unwrap_or_default().to_owned(),
        }),
        (None, None, None) => Ok(Auth::Anonymous),
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
    let spec = &object.spec;
    let namespace = object.namespace().unwrap_or_default();
    let namespace = namespace.as_str();
    let secret = |name: String| async move {
        runtime::secret_data(&ctx.client, namespace, &name)
            .await
            .map_err(|e| format!("failed to get secret '{namespace}/{name}': {e}"))?
            .ok_or_else(|| format!("failed to get secret '{namespace}/{name}': secret not found"))
    };
    let auth_failed = |message: String| fetch_failed(reasons::AUTHENTICATION_FAILED, message);
    let data = match &spec.secret_ref {
        Some(reference) => Some(secret(reference.name.clone()).await.map_err(auth_failed)?),
        None => None,
    };
    let auth = auth_from_secret(url, data.as_ref())
        .map_err(|e| auth_failed(format!("failed to configure authentication options: {e}")))?;
    let proxy = match &spec.proxy_secret_ref {
        Some(reference) => {
            let data = secret(reference.name.clone()).await.map_err(auth_failed)?;
            let proxy = artifacts::transport::Proxy::from_secret(&reference.name, &data)
                .map_err(|e| auth_failed(format!("failed to configure the proxy: {e}")))?;
            Some(proxy.url_with_credentials())
        }
        None => None,
    };
    // Credentials written in an http(s) URL became `auth`; an ssh URL keeps its user.
    let mut plain = url.clone();
    if plain.scheme() != "ssh" {
        let _ = plain.set_username("");
        let _ = plain.set_password(None);
    }
    Ok(git::Remote {
        url: plain.to_string(),
        auth,
        proxy,
        timeout: api::duration::parse(&spec.timeout).unwrap_or(Duration::from_secs(60)),
        max_bytes: MAX_FETCH_BYTES,
    })
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
    let (fetching, wanted, sparse) = (remote.clone(), target.want.clone(), sparse_dirs(spec));
    let tree_dir = tree.clone();
    let checked_out = blocking(move || {
        let want = match &wanted {
            Wanted::Ref(name) => Want::Ref(name),
            Wanted::Commit { commit, branch } => Want::Commit {
                commit,
                branch: branch.as_deref(),
            },
        };
        git::checkout(
            &fetching,
            want,
            &git_dir,
            &tree_dir,
            sparse.as_deref().unwrap_or_default(),
        )
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

    fn remote_ref(name: &str, target: &str, peeled: Option<&str>) -> RemoteRef {
        RemoteRef {
            name: name.into(),
            target: target.into(),
            peeled: peeled.map(str::to_owned),
        }
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const T: &str = "3333333333333333333333333333333333333333";

    fn refs() -> Vec<RemoteRef> {
        vec![
            remote_ref("HEAD", A, None),
            remote_ref("refs/heads/main", A, None),
            remote_ref("refs/heads/master", B, None),
            remote_ref("refs/tags/v1.0.0", B, None),
            remote_ref("refs/tags/v1.2.0", T, Some(A)),
            remote_ref("refs/tags/v2.0.0-rc.1", B, None),
            remote_ref("refs/pull/4/head", B, None),
        ]
    }

    fn resolve(reference: GitRepositoryRef) -> Result<String, String> {
        resolve_target(&reference, &refs()).map(|t| t.known_revision().unwrap())
    }

    #[test]
    fn references_resolve_with_flux_precedence_and_revision_format() {
        assert_eq!(
            resolve(GitRepositoryRef::default()),
            Ok(format!("master@sha1:{B}"))
        );
        let branch = GitRepositoryRef {
            branch: Some("main".into()),
            ..Default::default()
        };
        assert_eq!(resolve(branch.clone()), Ok(format!("main@sha1:{A}")));
        // An annotated tag's revision names the commit, not the tag object.
        let tag = GitRepositoryRef {
            tag: Some("v1.2.0".into()),
            ..branch.clone()
        };
        assert_eq!(resolve(tag.clone()), Ok(format!("v1.2.0@sha1:{A}")));
        let semver = GitRepositoryRef {
            semver: Some(">=1.0.0 <2.0.0".into()),
            ..tag.clone()
        };
        assert_eq!(resolve(semver.clone()), Ok(format!("v1.2.0@sha1:{A}")));
        let name = GitRepositoryRef {
            name: Some("refs/pull/4/head".into()),
            ..semver
        };
        assert_eq!(resolve(name), Ok(format!("refs/pull/4/head@sha1:{B}")));
        let commit = GitRepositoryRef {
            commit: Some(A.into()),
            ..branch
        };
        assert_eq!(
            pinned_commit(&commit).unwrap().known_revision(),
            Some(format!("main@sha1:{A}"))
        );
        let bare_commit = GitRepositoryRef {
            commit: Some(A.into()),
            ..Default::default()
        };
        assert_eq!(
            pinned_commit(&bare_commit).unwrap().known_revision(),
            Some(format!("sha1:{A}"))
        );
    }

    #[test]
    fn missing_references_are_named() {
        let missing = GitRepositoryRef {
            branch: Some("nope".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(missing),
            Err("couldn't find remote ref \"refs/heads/nope\"".into())
        );
        let no_match = GitRepositoryRef {
            semver: Some(">=3.0.0".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(no_match),
            Err("no match found for semver: >=3.0.0".into())
        );
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn secrets_become_credentials_with_flux_rules() {
        let https = url::Url::parse("https://git.example.org/repo.git").unwrap();
        assert!(matches!(
            auth_from_secret(&https, Some(&data(&[("username", "u"), ("password", "p")]))),
            Ok(Auth::Basic { .. })
        ));
        assert!(matches!(
            auth_from_secret(&https, Some(&data(&[("bearerToken", "t")]))),
            Ok(Auth::Bearer(_))
        ));
        assert_eq!(
            auth_from_secret(&https, Some(&data(&[("password", "p")]))).err(),
            Some("invalid 'http' auth option: 'password' requires 'username' to be set".into())
        );
        assert!(
            auth_from_secret(
                &https,
                Some(&data(&[("username", "u"), ("bearerToken", "t")]))
            )
            .unwrap_err()
            .contains("cannot be set at the same time")
        );
        let in_url = url::Url::parse("https://u:p@git.example.org/repo.git").unwrap();
        assert!(matches!(
            auth_from_secret(&in_url, None),
            Ok(Auth::Basic { username, password }) if username == "u" && password == "p"
        ));
        let ssh = url::Url::parse("ssh://git@127.0.0.1:2222/repo.git").unwrap();
        assert_eq!(
            auth_from_secret(&ssh, Some(&data(&[("known_hosts", "x")]))).err(),
            Some("invalid 'ssh' auth option: 'identity' is required".into())
        );
        assert_eq!(
            auth_from_secret(&ssh, Some(&data(&[("identity", "k")]))).err(),
            Some("invalid 'ssh' auth option: 'known_hosts' is required".into())
        );
    }

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
