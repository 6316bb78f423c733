//! The ImageUpdateAutomation reconciler: policies listed → Git source configured from the
//! GitRepository → no-op check against the remote → clone → setters → commit → push, with a
//! rejected push fetched, re-applied and pushed again (bounded), and Flux's status,
//! conditions and events.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use api::image::v1::{ImagePolicy, ImageUpdateAutomation, ImageUpdateAutomationStatus};
use api::image::{GitSpec, ImageRef, SigningKeyType, reason};
use api::source::GitRepositoryRef;
use api::source::v1::GitRepository;
use git::{Author, Pushed, Signer, WorkingCopy};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use runtime::conditions::Conditions;
use runtime::outcome::{Failure, Requeue};
use runtime::reconciler::{Done, Progress, Reconciler, Shared};
use source_access::git_remote::{DEFAULT_BRANCH, Target, pinned_commit, resolve_target};

use crate::message::{self, TemplateData};
use crate::setters::{FileChanges, Setters, update_tree};

/// A clone or push past this size is refused.
const MAX_TRANSFER_BYTES: u64 = 2 << 30;
/// How often a push the remote refused (someone pushed first) is tried again on the new head.
const PUSH_ATTEMPTS: usize = 3;
const READY_MESSAGE: &str = "repository up-to-date";

pub struct Context {
    pub shared: Shared,
    pub no_cross_namespace_refs: bool,
}

/// Where the automation checks out and pushes to.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub checkout: GitRepositoryRef,
    pub push_branch: String,
    /// The push branch is not the checkout branch: work continues on its remote head (or
    /// starts from the checkout), and the push is forced (Flux's `GitForcePushBranch`).
    pub switch_branch: bool,
    pub refspec: Option<String>,
    pub push_options: Vec<String>,
}

/// The checkout and push settings from the automation and its GitRepository.
pub fn plan(git: &GitSpec, repository_ref: Option<&GitRepositoryRef>) -> Result<Plan, String> {
    let checkout = git
        .checkout
        .as_ref()
        .map(|c| c.reference.clone())
        .or_else(|| repository_ref.cloned())
        .unwrap_or_else(|| GitRepositoryRef {
            branch: Some(DEFAULT_BRANCH.to_owned()),
            ..Default::default()
        });
    let push = git.push.clone().unwrap_or_default();
    let checkout_branch = checkout.branch.clone().filter(|b| !b.is_empty());
    let push_branch = match (push.branch.filter(|b| !b.is_empty()), &checkout_branch) {
        (Some(branch), _) => branch,
        (None, Some(branch)) => branch.clone(),
        (None, None) => {
            return Err("push spec not provided, and cannot be inferred from .spec.git.checkout.ref or GitRepository .spec.ref".to_owned());
        }
    };
    let switch_branch = checkout_branch.as_deref() != Some(push_branch.as_str());
    let push_options = push
        .options
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| if v.is_empty() { k } else { format!("{k}={v}") })
        .collect();
    Ok(Plan {
        checkout,
        push_branch,
        switch_branch,
        refspec: push.refspec.filter(|r| !r.is_empty()),
        push_options,
    })
}

/// `update.path` inside the clone, refusing any way out of it.
pub fn update_dir(root: &Path, path: Option<&str>) -> Result<PathBuf, String> {
    let mut dir = root.to_owned();
    for component in Path::new(path.unwrap_or("")).components() {
        match component {
            Component::Normal(part) => dir.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if dir == root {
                    return Err(format!(
                        "update path '{}' is outside the repository",
                        path.unwrap_or_default()
                    ));
                }
                dir.pop();
            }
            Component::Prefix(_) => return Err("update path has a prefix".to_owned()),
        }
    }
    Ok(dir)
}

/// The event message of a push (Flux's `PushResult.Summary`).
pub fn push_summary(commit: &str, branch: &str, refspec: Option<&str>, message: &str) -> String {
    let short = &commit[..commit.len().min(7)];
    let mut summary = format!("pushed commit '{short}' to branch '{branch}'");
    if let Some(refspec) = refspec {
        summary.push_str(&format!(" and refspecs '{refspec}'"));
    }
    format!("{summary}\n{message}")
}

/// Everything a run needs, read before the blocking Git work starts.
struct Job {
    remote: git::Remote,
    plan: Plan,
    target: Target,
    author: Author,
    signer: Option<Box<dyn Signer + Send>>,
    setters: Setters,
    update_path: Option<String>,
    template: Option<String>,
    values: BTreeMap<String, String>,
    namespace: String,
    name: String,
}

/// What a run did.
enum RunOutcome {
    Unchanged {
        checkout_revision: String,
    },
    Pushed {
        commit: String,
        message: String,
        checkout_revision: String,
    },
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("failed to checkout source: {0}")]
    Checkout(git::GitError),
    #[error("failed to apply policies: {0}")]
    Update(String),
    #[error("{0}")]
    Message(message::MessageError),
    #[error("failed to update source: {0}")]
    Commit(git::GitError),
    #[error("failed to update source: failed to push to remote: {0}")]
    Push(String),
}

impl Job {
    /// Clone, update, commit and push: blocking work for a blocking thread.
    fn run(&self, dir: &Path) -> Result<RunOutcome, RunError> {
        let mut copy = WorkingCopy::clone(
            &self.remote,
            self.target.want(),
            &self.plan.push_branch,
            dir,
            matches!(self.target.want, source_access::git_remote::Wanted::Ref(_)),
        )
        .map_err(RunError::Checkout)?;
        let checkout_revision = self.target.revision(&copy.checkout_commit());
        for attempt in 1..=PUSH_ATTEMPTS {
            let changes = self.apply(&copy)?;
            if changes.is_empty() {
                return Ok(RunOutcome::Unchanged { checkout_revision });
            }
            let message = message::render(
                self.template.as_deref(),
                &TemplateData {
                    namespace: &self.namespace,
                    name: &self.name,
                    changes: &changes,
                    values: &self.values,
                    setters: &self.setters,
                },
            )
            .map_err(RunError::Message)?;
            let signer = self.signer.as_deref().map(|s| s as &dyn Signer);
            let Some(commit) = copy
                .commit(&self.author, &message, signer)
                .map_err(RunError::Commit)?
            else {
                return Ok(RunOutcome::Unchanged { checkout_revision });
            };
            let branch = format!("refs/heads/{}", self.plan.push_branch);
            let force = if self.plan.switch_branch { "+" } else { "" };
            let pushed = copy
                .push(
                    &format!("{force}{branch}:{branch}"),
                    &self.plan.push_options,
                )
                .map_err(|e| RunError::Push(e.to_string()))?;
            match pushed {
                Pushed::Accepted => {
                    if let Some(refspec) = &self.plan.refspec
                        && let Pushed::Rejected(why) = copy
                            .push(refspec, &self.plan.push_options)
                            .map_err(|e| RunError::Push(e.to_string()))?
                    {
                        return Err(RunError::Push(why));
                    }
                    return Ok(RunOutcome::Pushed {
                        commit,
                        message,
                        checkout_revision,
                    });
                }
                Pushed::Rejected(why) if attempt == PUSH_ATTEMPTS => {
                    return Err(RunError::Push(format!("{why} (after {attempt} attempts)")));
                }
                Pushed::Rejected(why) => {
                    tracing::info!(attempt, reason = %why, "push rejected; updating on top of the remote branch");
                    copy.refresh().map_err(RunError::Checkout)?;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    fn apply(&self, copy: &WorkingCopy) -> Result<FileChanges, RunError> {
        let root = copy
            .dir()
            .canonicalize()
            .map_err(|e| RunError::Update(e.to_string()))?;
        let dir = update_dir(&root, self.update_path.as_deref()).map_err(RunError::Update)?;
        if !dir.is_dir() {
            return Err(RunError::Update(format!(
                "the update path '{}' does not exist in the repository",
                self.update_path.as_deref().unwrap_or(".")
            )));
        }
        let outcome =
            update_tree(&root, &dir, &self.setters).map_err(|e| RunError::Update(e.to_string()))?;
        for (file, why) in &outcome.unreadable {
            tracing::warn!(file, reason = %why, "a file with image policy markers is not valid YAML and was left as it is");
        }
        Ok(outcome.changes)
    }
}

impl Context {
    /// The automation's namespace's ImagePolicies (by selector) that have a latest image.
    async fn policies(
        &self,
        object: &ImageUpdateAutomation,
    ) -> Result<BTreeMap<String, ImageRef>, Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let mut params = ListParams::default();
        if let Some(selector) = &object.spec.policy_selector {
            let selector = label_selector(selector).map_err(|e| {
                Failure::stalled(
                    reason::INVALID_POLICY_SELECTOR,
                    format!("failed to parse policy selector: {e}"),
                )
            })?;
            params = params.labels(&selector);
        }
        let api: Api<ImagePolicy> = Api::namespaced(self.shared.client.clone(), &namespace);
        let policies = api.list(&params).await.map_err(|e| {
            Failure::retryable(reason::FAILURE, format!("failed to get policies: {e}"))
        })?;
        Ok(policies
            .items
            .into_iter()
            .filter_map(|p| Some((p.name_any(), p.status?.latest_ref?)))
            .collect())
    }

    /// The GitRepository, its remote, and what to check out and push.
    async fn source(
        &self,
        object: &ImageUpdateAutomation,
    ) -> Result<(GitRepository, git::Remote, Plan), Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let source_ref = &object.spec.source_ref;
        let invalid =
            |message: String| Failure::stalled(reason::INVALID_SOURCE_CONFIGURATION, message);
        if source_ref.kind != "GitRepository" {
            return Err(invalid(format!(
                "source kind '{}' not supported: invalid source configuration",
                source_ref.kind
            )));
        }
        let Some(git_spec) = &object.spec.git else {
            return Err(invalid("source configuration is required: spec.git is not set: invalid source configuration".to_owned()));
        };
        let source_namespace = source_ref
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.clone());
        if self.no_cross_namespace_refs && source_namespace != namespace {
            return Err(Failure::stalled(
                reason::ACCESS_DENIED,
                format!(
                    "can't access 'GitRepository/{source_namespace}/{}', cross-namespace references have been blocked",
                    source_ref.name
                ),
            ));
        }
        let manager_failed = |e: String| {
            Failure::retryable(
                reason::SOURCE_MANAGER_FAILED,
                format!("failed configuring source manager: {e}"),
            )
        };
        let api: Api<GitRepository> =
            Api::namespaced(self.shared.client.clone(), &source_namespace);
        let repository = api
            .get_opt(&source_ref.name)
            .await
            .map_err(|e| manager_failed(e.to_string()))?
            .ok_or_else(|| {
                manager_failed(format!(
                    "unable to get source '{source_namespace}/{}': gitrepositories.source.toolkit.fluxcd.io \"{}\" not found",
                    source_ref.name, source_ref.name
                ))
            })?;
        let url = url::Url::parse(&repository.spec.url)
            .map_err(|e| manager_failed(format!("invalid url '{}': {e}", repository.spec.url)))?;
        let mut remote = source_access::git_remote::remote_for(
            &self.shared.client,
            &source_namespace,
            &repository.spec,
            &url,
            MAX_TRANSFER_BYTES,
        )
        .await
        .map_err(manager_failed)?;
        remote.timeout =
            api::duration::parse(&repository.spec.timeout).unwrap_or(Duration::from_secs(60));
        let plan = plan(git_spec, repository.spec.reference.as_ref()).map_err(manager_failed)?;
        Ok((repository, remote, plan))
    }

    /// The signer of `signingKey`, if any.
    async fn signer(
        &self,
        object: &ImageUpdateAutomation,
        git: &GitSpec,
    ) -> Result<Option<Box<dyn Signer + Send>>, Failure> {
        let Some(key) = &git.commit.signing_key else {
            return Ok(None);
        };
        let namespace = object.namespace().unwrap_or_default();
        let name = &key.secret_ref.name;
        let failed = |e: String| {
            Failure::retryable(
                reason::SOURCE_MANAGER_FAILED,
                format!("failed configuring source manager: {e}"),
            )
        };
        let data = runtime::secret_data(&self.shared.client, &namespace, name)
            .await
            .map_err(|e| {
                failed(format!(
                    "could not find signing key secret '{namespace}/{name}': {e}"
                ))
            })?
            .ok_or_else(|| {
                failed(format!(
                    "could not find signing key secret '{namespace}/{name}'"
                ))
            })?;
        let text = |k: &str| {
            data.get(k)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        };
        match key.key_type.unwrap_or_default() {
            SigningKeyType::Ssh => {
                let identity = text("identity").ok_or_else(|| {
                    failed(format!(
                        "signing key secret '{namespace}/{name}' has no 'identity' field"
                    ))
                })?;
                let signer =
                    git::signature::SshSigner::from_openssh(&identity, text("password").as_deref())
                        .map_err(failed)?;
                Ok(Some(Box::new(signer)))
            }
            SigningKeyType::Gpg => {
                let armored = text("git.asc").ok_or_else(|| {
                    failed(format!(
                        "signing key secret '{namespace}/{name}' has no 'git.asc' field"
                    ))
                })?;
                let signer = git::signature::PgpSigner::from_armored(
                    &armored,
                    text("passphrase").as_deref(),
                )
                .map_err(failed)?;
                Ok(Some(Box::new(signer)))
            }
        }
    }
}

/// A label selector in the API's query syntax.
fn label_selector(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Result<String, String> {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for expression in selector.match_expressions.iter().flatten() {
        let values = expression.values.clone().unwrap_or_default();
        let term = match expression.operator.as_str() {
            "In" if !values.is_empty() => format!("{} in ({})", expression.key, values.join(",")),
            "NotIn" if !values.is_empty() => {
                format!("{} notin ({})", expression.key, values.join(","))
            }
            "Exists" if values.is_empty() => expression.key.clone(),
            "DoesNotExist" if values.is_empty() => format!("!{}", expression.key),
            operator => {
                return Err(format!(
                    "\"{operator}\" is not a valid label selector operator for key '{}' with {} values",
                    expression.key,
                    values.len()
                ));
            }
        };
        terms.push(term);
    }
    Ok(terms.join(","))
}

fn done(requeue_trace: &str) -> Done {
    let mut done = Done::new(READY_MESSAGE, Requeue::Interval);
    done.trace = Some(requeue_trace.to_owned());
    done
}

impl Reconciler<ImageUpdateAutomation> for Context {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    async fn run(
        &self,
        object: &ImageUpdateAutomation,
        status: &mut ImageUpdateAutomationStatus,
        _conditions: &mut Conditions,
        _progress: &mut Progress<'_, ImageUpdateAutomation>,
    ) -> Result<Done, Failure> {
        status.last_automation_run_time = Some(runtime::now_rfc3339());
        let policies = self.policies(object).await?;
        let mut sync_needed = status.observed_policies.as_ref() != Some(&policies);
        let (_repository, remote, plan) = self.source(object).await?;
        let git_spec = object.spec.git.clone().unwrap_or_default();
        sync_needed |= plan.switch_branch || plan.refspec.is_some();
        let listing = remote.clone();
        let checkout = plan.checkout.clone();
        let target = match pinned_commit(&checkout) {
            Some(target) => target,
            None => {
                let refs = tokio::task::spawn_blocking(move || git::list_refs(&listing))
                    .await
                    .map_err(|e| Failure::retryable(reason::GIT_OPERATION_FAILED, e.to_string()))?
                    .map_err(|e| {
                        Failure::retryable(
                            reason::GIT_OPERATION_FAILED,
                            format!("failed to checkout source: {e}"),
                        )
                    })?;
                resolve_target(&checkout, &refs).map_err(|e| {
                    Failure::retryable(
                        reason::GIT_OPERATION_FAILED,
                        format!("failed to checkout source: {e}"),
                    )
                })?
            }
        };
        let observed = status.observed_source_revision.clone();
        if !sync_needed && observed.is_some() && target.known_revision() == observed {
            status.observed_policies = Some(policies);
            return Ok(done("no change since last reconciliation"));
        }
        let signer = self.signer(object, &git_spec).await?;
        let setters = Setters::new(
            policies
                .iter()
                .map(|(name, latest)| (object_namespace(object), name.as_str(), latest)),
        );
        let author = Author {
            name: git_spec
                .commit
                .author
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| git_spec.commit.author.email.clone()),
            email: git_spec.commit.author.email.clone(),
        };
        let update = object.spec.update.clone().unwrap_or_default();
        let job = Job {
            remote,
            target,
            author,
            signer,
            setters,
            update_path: update.path,
            template: git_spec.commit.message_template.clone(),
            values: git_spec
                .commit
                .message_template_values
                .clone()
                .unwrap_or_default(),
            namespace: object.namespace().unwrap_or_default(),
            name: object.name_any(),
            plan,
        };
        let (outcome, job) = tokio::task::spawn_blocking(move || {
            let work = tempfile::tempdir()
                .map_err(|e| RunError::Update(format!("creating a working directory: {e}")))?;
            job.run(work.path()).map(|outcome| (outcome, job))
        })
        .await
        .map_err(|e| Failure::retryable(reason::GIT_OPERATION_FAILED, e.to_string()))?
        .map_err(|e| match &e {
            RunError::Checkout(_)
            | RunError::Commit(_)
            | RunError::Push(_)
            | RunError::Message(_) => {
                Failure::retryable(reason::GIT_OPERATION_FAILED, format!("{e}"))
            }
            RunError::Update(_) => Failure::retryable(reason::UPDATE_FAILED, e.to_string()),
        })?;
        status.observed_policies = Some(policies);
        match outcome {
            RunOutcome::Unchanged { checkout_revision } => {
                status.observed_source_revision = Some(checkout_revision);
                Ok(done("repository up-to-date"))
            }
            RunOutcome::Pushed {
                commit,
                message,
                checkout_revision,
            } => {
                status.observed_source_revision = Some(if job.plan.switch_branch {
                    checkout_revision
                } else {
                    format!("{}@sha1:{commit}", job.plan.push_branch)
                });
                status.last_push_commit = Some(commit.clone());
                status.last_push_time = Some(runtime::now_rfc3339());
                let mut done = done(READY_MESSAGE);
                done.news = Some(push_summary(
                    &commit,
                    &job.plan.push_branch,
                    job.plan.refspec.as_deref(),
                    &message,
                ));
                Ok(done)
            }
        }
    }

    async fn finalize(&self, _object: &ImageUpdateAutomation) -> Result<(), String> {
        Ok(())
    }
}

fn object_namespace(object: &ImageUpdateAutomation) -> &str {
    object.metadata.namespace.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::image::{CommitSpec, CommitUser, GitCheckoutSpec, PushSpec};

    fn git(checkout: Option<&str>, push: Option<&str>) -> GitSpec {
        GitSpec {
            checkout: checkout.map(|b| GitCheckoutSpec {
                reference: GitRepositoryRef {
                    branch: Some(b.into()),
                    ..Default::default()
                },
            }),
            commit: CommitSpec {
                author: CommitUser {
                    name: None,
                    email: "bot@example.com".into(),
                },
                ..Default::default()
            },
            push: push.map(|b| PushSpec {
                branch: Some(b.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn checkout_and_push_branches_follow_flux() {
        let main = GitRepositoryRef {
            branch: Some("main".into()),
            ..Default::default()
        };
        let same = plan(&git(None, Some("main")), Some(&main)).unwrap();
        assert_eq!(
            (same.push_branch.as_str(), same.switch_branch),
            ("main", false)
        );
        let inferred = plan(&git(None, None), Some(&main)).unwrap();
        assert_eq!(
            (inferred.push_branch.as_str(), inferred.switch_branch),
            ("main", false)
        );
        let other = plan(&git(Some("dev"), Some("auto")), Some(&main)).unwrap();
        assert_eq!(other.checkout.branch.as_deref(), Some("dev"));
        assert!(other.switch_branch);
        // No ref anywhere: master.
        let default = plan(&git(None, Some("master")), None).unwrap();
        assert!(!default.switch_branch);
        let tag = GitRepositoryRef {
            tag: Some("v1".into()),
            ..Default::default()
        };
        assert!(
            plan(&git(None, None), Some(&tag))
                .unwrap_err()
                .starts_with("push spec not provided")
        );
    }

    #[test]
    fn update_paths_stay_inside_the_clone() {
        let root = Path::new("/repository");
        assert_eq!(
            update_dir(root, Some("./clusters/my-cluster")).unwrap(),
            root.join("clusters/my-cluster")
        );
        assert_eq!(update_dir(root, None).unwrap(), root);
        assert_eq!(update_dir(root, Some("/abs/../x")).unwrap(), root.join("x"));
        assert!(update_dir(root, Some("../../etc")).is_err());
    }

    #[test]
    fn push_summaries_read_as_fluxs() {
        assert_eq!(
            push_summary("0123456789abcdef", "main", None, "msg"),
            "pushed commit '0123456' to branch 'main'\nmsg"
        );
        assert_eq!(
            push_summary(
                "0123456789abcdef",
                "auto",
                Some("refs/heads/auto:refs/heads/pr"),
                "msg"
            ),
            "pushed commit '0123456' to branch 'auto' and refspecs 'refs/heads/auto:refs/heads/pr'\nmsg"
        );
    }

    #[test]
    fn selectors_become_queries() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
            LabelSelector, LabelSelectorRequirement,
        };
        let selector = LabelSelector {
            match_labels: Some([("app".to_owned(), "podinfo".to_owned())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            }]),
        };
        assert_eq!(
            label_selector(&selector).unwrap(),
            "app=podinfo,tier in (a,b)"
        );
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Near".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(label_selector(&bad).is_err());
    }
}
