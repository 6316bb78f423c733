//! Git commit-status providers (`github`, `gitlab`, `gitea`, `bitbucket`, `azuredevops`):
//! the status of a Kustomization (or any object whose event names a commit) posted on that
//! commit, as Flux's notifiers do. Each status is read back first and not posted again when
//! the service already shows it.

use api::notification::ProviderType;
use runtime::events::{EventPayload, Severity};
use serde_json::{Value, json};

use super::{Method, NotifyError, Request, Target, basic};

/// The providers that post commit statuses.
pub fn is_commit_status_provider(kind: ProviderType) -> bool {
    matches!(
        kind,
        ProviderType::GitHub
            | ProviderType::GitLab
            | ProviderType::Gitea
            | ProviderType::Bitbucket
            | ProviderType::BitbucketServer
            | ProviderType::AzureDevOps
    )
}

/// A status to post, and how to tell the service already has it.
#[derive(Debug, PartialEq)]
pub struct CommitStatus {
    /// Reads what the service has (a 404 counts as nothing).
    pub existing: Request,
    pub create: Request,
    kind: ProviderType,
    id: String,
    state: String,
    description: String,
}

impl CommitStatus {
    /// Whether `existing` (the answer to `self.existing`) already shows this status.
    pub fn already_posted(&self, existing: &Value) -> bool {
        let same = |status: &Value, state_key: &str| {
            status[state_key].as_str() == Some(self.state.as_str())
                && status["description"].as_str() == Some(self.description.as_str())
        };
        let listed = existing.as_array().cloned().unwrap_or_default();
        match self.kind {
            // The first status with this context decides.
            ProviderType::GitHub | ProviderType::Gitea => listed
                .iter()
                .find(|s| s["context"].as_str() == Some(self.id.as_str()))
                .is_some_and(|s| same(s, "state")),
            ProviderType::GitLab => listed
                .iter()
                .any(|s| s["name"].as_str() == Some(self.id.as_str()) && same(s, "status")),
            ProviderType::Bitbucket => same(existing, "state"),
            ProviderType::AzureDevOps => existing["value"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| {
                    s["context"]["name"].as_str() == Some(self.id.as_str())
                        && s["context"]["genre"].as_str() == self.create_genre().as_deref()
                })
                .is_some_and(|s| same(s, "state")),
            _ => false,
        }
    }

    fn create_genre(&self) -> Option<String> {
        let body: Value = serde_json::from_slice(&self.create.body).ok()?;
        body["context"]["genre"].as_str().map(str::to_owned)
    }
}

/// The status `kind` posts for `event`; None when the event is skipped (a `Progressing` one,
/// except for Gitea, which shows it as pending).
pub fn commit_status(
    kind: ProviderType,
    target: &Target,
    event: &EventPayload,
) -> Result<Option<CommitStatus>, NotifyError> {
    let (host, id) = parse_git_address(&target.address);
    let revision =
        revision(event).ok_or(NotifyError::Invalid("missing revision metadata".into()))?;
    let sha = commit_hash(revision).ok_or_else(|| {
        NotifyError::Invalid(format!(
            "failed to extract commit hash from '{revision}' revision"
        ))
    })?;
    if event.reason == "Progressing" && kind != ProviderType::Gitea {
        return Ok(None);
    }
    let status_id = status_id(event, &target.provider_uid);
    let object = &event.involved_object;
    let name = format!("{}/{}", object.kind, object.name).to_lowercase();
    let description = split_camelcase(&event.reason).join(" ").to_lowercase();
    let state = |info: &str, error: &str| -> Result<String, NotifyError> {
        match event.severity {
            Severity::Info => Ok(info.to_owned()),
            Severity::Error => Ok(error.to_owned()),
            Severity::Trace => Err(NotifyError::Invalid(format!(
                "can't convert to {} state",
                provider_label(kind)
            ))),
        }
    };
    let token = target
        .token
        .clone()
        .or_else(|| target.password.clone())
        .filter(|t| !t.is_empty());
    let two_part = |id: &str| -> Result<(String, String), NotifyError> {
        match id.split('/').collect::<Vec<_>>()[..] {
            [owner, repo] => Ok((owner.to_owned(), repo.to_owned())),
            _ => Err(NotifyError::Invalid(format!(
                "invalid repository id '{id}'"
            ))),
        }
    };
    let get = |url: String, auth: String| Request {
        method: Method::Get,
        url,
        body: Vec::new(),
        headers: vec![("Authorization".to_owned(), auth)],
        check_slack_ok: false,
    };
    let status = match kind {
        ProviderType::GitHub => {
            let (owner, repo) = two_part(&id)?;
            let token = token.ok_or(NotifyError::Invalid(
                "github token or github app details must be specified".into(),
            ))?;
            let api = github_api(&host);
            let auth = format!("Bearer {token}");
            let state = state("success", "failure")?;
            CommitStatus {
                existing: get(
                    format!("{api}repos/{owner}/{repo}/commits/{sha}/statuses?per_page=50"),
                    auth.clone(),
                ),
                create: Request::json(
                    format!("{api}repos/{owner}/{repo}/statuses/{sha}"),
                    &json!({"state": state, "description": description, "context": status_id}),
                )
                .header("Authorization", auth),
                kind,
                id: status_id,
                state,
                description,
            }
        }
        ProviderType::GitLab => {
            let token = token.ok_or(NotifyError::Invalid("gitlab token cannot be empty".into()))?;
            let project = id.replace('/', "%2F");
            let api = format!("{host}/api/v4");
            let state = state("success", "failed")?;
            CommitStatus {
                existing: get(
                    format!(
                        "{api}/projects/{project}/repository/commits/{sha}/statuses?name={}",
                        status_id.replace('/', "%2F")
                    ),
                    String::new(),
                )
                .without_authorization()
                .header("PRIVATE-TOKEN", token.clone()),
                create: Request::json(
                    format!("{api}/projects/{project}/statuses/{sha}"),
                    &json!({"state": state, "name": status_id, "description": description}),
                )
                .header("PRIVATE-TOKEN", token),
                kind,
                id: status_id,
                state,
                description,
            }
        }
        ProviderType::Gitea => {
            let (owner, repo) = two_part(&id)?;
            let token = token.ok_or(NotifyError::Invalid("gitea token cannot be empty".into()))?;
            let api = format!("{host}/api/v1");
            let auth = format!("token {token}");
            let state = if event.reason == "Progressing" {
                "pending".to_owned()
            } else {
                state("success", "failure")?
            };
            CommitStatus {
                existing: get(
                    format!("{api}/repos/{owner}/{repo}/commits/{sha}/statuses?page=1&limit=50"),
                    auth.clone(),
                ),
                create: Request::json(
                    format!("{api}/repos/{owner}/{repo}/statuses/{sha}"),
                    &json!({"state": state, "target_url": "", "description": description, "context": status_id}),
                )
                .header("Authorization", auth),
                kind,
                id: status_id,
                state,
                description,
            }
        }
        ProviderType::Bitbucket => {
            let (owner, repo) = two_part(&id)?;
            let token = token.ok_or(NotifyError::Invalid(
                "bitbucket token cannot be empty".into(),
            ))?;
            let Some((user, password)) = token.split_once(':').filter(|(_, p)| !p.contains(':'))
            else {
                return Err(NotifyError::Invalid(
                    "invalid token format, expected to be <user>:<password>".into(),
                ));
            };
            let auth = basic(user, password);
            let key = sha1_hex(&status_id);
            let api = bitbucket_api(&host);
            let state = state("SUCCESSFUL", "FAILED")?;
            CommitStatus {
                existing: get(
                    format!("{api}/repositories/{owner}/{repo}/commit/{sha}/statuses/build/{key}"),
                    auth.clone(),
                ),
                create: Request::json(
                    format!("{api}/repositories/{owner}/{repo}/commit/{sha}/statuses/build"),
                    &json!({"key": key, "url": "https://bitbucket.org", "state": state, "name": name, "description": description}),
                )
                .header("Authorization", auth),
                kind,
                id: status_id,
                state,
                description,
            }
        }
        ProviderType::AzureDevOps => {
            let [org, project, _, repo] = id.split('/').collect::<Vec<_>>()[..] else {
                return Err(NotifyError::Invalid(format!(
                    "invalid repository id '{id}'"
                )));
            };
            let token = token.ok_or(NotifyError::Invalid(
                "failed to acquire azure devops token: no 'token' in the provider's secret".into(),
            ))?;
            let auth = basic("", &token);
            let url = format!(
                "{host}/{org}/{project}/_apis/git/repositories/{repo}/commits/{sha}/statuses?api-version=6.0"
            )
            .to_lowercase();
            let genre = match event.metadata.get("summary") {
                Some(summary) => format!("fluxcd:{summary}"),
                None => "fluxcd".to_owned(),
            };
            let state = state("succeeded", "error")?;
            CommitStatus {
                existing: get(url.clone(), auth.clone()),
                create: Request::json(
                    url,
                    &json!({"description": description, "state": state, "context": {"genre": genre, "name": status_id}}),
                )
                .header("Authorization", auth),
                kind,
                id: status_id,
                state,
                description,
            }
        }
        other => return Err(NotifyError::Unsupported(other)),
    };
    Ok(Some(status))
}

impl Request {
    fn without_authorization(mut self) -> Self {
        self.headers.retain(|(name, _)| name != "Authorization");
        self
    }
}

fn provider_label(kind: ProviderType) -> &'static str {
    match kind {
        ProviderType::GitHub => "github",
        ProviderType::GitLab => "gitlab",
        ProviderType::Gitea => "gitea",
        ProviderType::Bitbucket | ProviderType::BitbucketServer => "bitbucket",
        _ => "azure devops",
    }
}

/// GitHub's API root: api.github.com for github.com, `<host>/api/v3/` for GitHub Enterprise
/// (unless the host is already an API host).
fn github_api(host: &str) -> String {
    let bare = host.split_once("://").map_or(host, |(_, h)| h);
    if bare == "github.com" {
        return "https://api.github.com/".to_owned();
    }
    if bare.starts_with("api.") || bare.contains(".api.") {
        format!("{host}/")
    } else {
        format!("{host}/api/v3/")
    }
}

/// Bitbucket Cloud's API: always api.bitbucket.org, except that a Provider pointing at
/// another host (a stand-in, a proxy) is taken at its word.
fn bitbucket_api(host: &str) -> String {
    if host.ends_with("://bitbucket.org") {
        "https://api.bitbucket.org/2.0".to_owned()
    } else {
        format!("{host}/2.0")
    }
}

/// `(scheme://host[:port], owner/repo path)` of a repository address; `ssh` becomes
/// `https`, scp-like `git@host:owner/repo.git` is read too.
pub fn parse_git_address(address: &str) -> (String, String) {
    let (scheme, rest) = match address.split_once("://") {
        Some((scheme, rest)) => (
            if scheme == "ssh" { "https" } else { scheme },
            rest.to_owned(),
        ),
        None => match address.split_once(':') {
            Some((user_host, path)) if user_host.contains('@') || !path.starts_with('/') => {
                ("https", format!("{user_host}/{path}"))
            }
            _ => ("file", format!("/{address}")),
        },
    };
    let (authority, path) = rest.split_once('/').unwrap_or((&rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let id = path.trim_matches('/').trim_end_matches(".git").to_owned();
    (format!("{scheme}://{host}"), id)
}

/// The revision an event names: `commit`, else `originRevision`, else `revision`.
fn revision(event: &EventPayload) -> Option<&str> {
    ["commit", "originRevision", "revision"]
        .iter()
        .find_map(|key| event.metadata.get(*key))
        .map(String::as_str)
}

/// The 40-character commit hash of a revision (`main@sha1:<h>`, `sha1:<h>`, `main/<h>`).
fn commit_hash(revision: &str) -> Option<&str> {
    let hash = match revision.rsplit_once(':') {
        Some((_, hash)) => hash,
        None => revision.rsplit('/').next().unwrap_or(revision),
    };
    (hash.len() == 40).then_some(hash)
}

/// `<kind>/<name>/<first part of the Provider's UID>`, lowercased.
fn status_id(event: &EventPayload, provider_uid: &str) -> String {
    let object = &event.involved_object;
    let uid = provider_uid.split('-').next().unwrap_or_default();
    format!("{}/{}/{uid}", object.kind, object.name).to_lowercase()
}

/// Words of a CamelCase reason: `ReconciliationSucceeded` → `Reconciliation Succeeded`,
/// `PDFLoader` → `PDF Loader`.
fn split_camelcase(text: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Lower,
        Upper,
        Digit,
        Other,
    }
    let class = |c: char| {
        if c.is_lowercase() {
            Class::Lower
        } else if c.is_uppercase() {
            Class::Upper
        } else if c.is_ascii_digit() {
            Class::Digit
        } else {
            Class::Other
        }
    };
    let mut runs: Vec<(Class, String)> = Vec::new();
    for c in text.chars() {
        match runs.last_mut() {
            Some((last, run)) if *last == class(c) => run.push(c),
            _ => runs.push((class(c), c.to_string())),
        }
    }
    // An upper-case run followed by a lower-case one gives its last letter to it.
    for i in 0..runs.len().saturating_sub(1) {
        if runs[i].0 == Class::Upper && runs[i + 1].0 == Class::Lower {
            let last = runs[i].1.pop().expect("runs are not empty");
            runs[i + 1].1.insert(0, last);
        }
    }
    runs.into_iter()
        .map(|(_, run)| run)
        .filter(|run| !run.is_empty())
        .collect()
}

fn sha1_hex(text: &str) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifiers::fixtures::event;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn kustomization_event(severity: &str, reason: &str) -> EventPayload {
        let mut e = event(severity);
        e.involved_object.kind = "Kustomization".into();
        e.involved_object.name = "Apps".into();
        e.reason = reason.into();
        e.metadata
            .insert("revision".into(), format!("main@sha1:{SHA}"));
        e
    }

    fn target(address: &str, token: &str) -> Target {
        Target {
            address: address.into(),
            token: Some(token.into()),
            provider_uid: "0c9c2e41-d2f9-4f9b-9c74-0a0b0c0d0e0f".into(),
            ..Target::default()
        }
    }

    fn body(request: &Request) -> Value {
        serde_json::from_slice(&request.body).unwrap()
    }

    #[test]
    fn github_posts_the_status_on_the_commit_of_the_revision() {
        let status = commit_status(
            ProviderType::GitHub,
            &target("https://github.com/org/repo", "t"),
            &kustomization_event("info", "ReconciliationSucceeded"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            status.existing.url,
            format!("https://api.github.com/repos/org/repo/commits/{SHA}/statuses?per_page=50")
        );
        assert_eq!(status.existing.method, Method::Get);
        assert_eq!(
            status.create.url,
            format!("https://api.github.com/repos/org/repo/statuses/{SHA}")
        );
        assert_eq!(
            body(&status.create),
            json!({"state": "success", "description": "reconciliation succeeded", "context": "kustomization/apps/0c9c2e41"})
        );
        assert!(
            status
                .create
                .headers
                .contains(&("Authorization".into(), "Bearer t".into()))
        );
        // Enterprise servers answer under /api/v3/.
        let enterprise = commit_status(
            ProviderType::GitHub,
            &target("https://git.example.org/org/repo.git", "t"),
            &kustomization_event("error", "HealthCheckFailed"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            enterprise.create.url,
            format!("https://git.example.org/api/v3/repos/org/repo/statuses/{SHA}")
        );
        assert_eq!(body(&enterprise.create)["state"], "failure");
        assert_eq!(
            body(&enterprise.create)["description"],
            "health check failed"
        );
        // The same status already listed is not posted again; another state is.
        assert!(status.already_posted(&json!([{"context": "kustomization/apps/0c9c2e41", "state": "success", "description": "reconciliation succeeded"}])));
        assert!(!status.already_posted(&json!([{"context": "kustomization/apps/0c9c2e41", "state": "failure", "description": "reconciliation succeeded"}])));
        assert!(!status.already_posted(&json!([])));
    }

    #[test]
    fn gitlab_gitea_bitbucket_and_azure_devops_use_their_own_apis() {
        let event = kustomization_event("info", "ReconciliationSucceeded");
        let gitlab = commit_status(
            ProviderType::GitLab,
            &target("https://gitlab.example.org/group/sub/repo", "t"),
            &event,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            gitlab.create.url,
            format!("https://gitlab.example.org/api/v4/projects/group%2Fsub%2Frepo/statuses/{SHA}")
        );
        assert_eq!(
            body(&gitlab.create),
            json!({"state": "success", "name": "kustomization/apps/0c9c2e41", "description": "reconciliation succeeded"})
        );
        assert!(
            gitlab
                .create
                .headers
                .contains(&("PRIVATE-TOKEN".into(), "t".into()))
        );
        assert!(
            gitlab
                .existing
                .headers
                .iter()
                .all(|(n, _)| n != "Authorization")
        );

        let gitea = commit_status(
            ProviderType::Gitea,
            &target("https://gitea.example.org/org/repo", "t"),
            &kustomization_event("info", "Progressing"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            gitea.create.url,
            format!("https://gitea.example.org/api/v1/repos/org/repo/statuses/{SHA}")
        );
        assert_eq!(body(&gitea.create)["state"], "pending");
        assert!(
            gitea
                .create
                .headers
                .contains(&("Authorization".into(), "token t".into()))
        );

        let bitbucket = commit_status(
            ProviderType::Bitbucket,
            &target("https://bitbucket.org/org/repo", "user:pass"),
            &event,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            bitbucket.create.url,
            format!(
                "https://api.bitbucket.org/2.0/repositories/org/repo/commit/{SHA}/statuses/build"
            )
        );
        let sent = body(&bitbucket.create);
        assert_eq!(sent["key"], sha1_hex("kustomization/apps/0c9c2e41"));
        assert_eq!(sent["name"], "kustomization/apps");
        assert_eq!(sent["state"], "SUCCESSFUL");
        assert!(bitbucket.already_posted(
            &json!({"state": "SUCCESSFUL", "description": "reconciliation succeeded"})
        ));
        let bad = commit_status(
            ProviderType::Bitbucket,
            &target("https://bitbucket.org/org/repo", "token-only"),
            &event,
        )
        .unwrap_err();
        assert_eq!(
            bad.to_string(),
            "invalid token format, expected to be <user>:<password>"
        );

        let azure = commit_status(
            ProviderType::AzureDevOps,
            &target("https://dev.azure.com/Org/Proj/_git/Repo", "pat"),
            &event,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            azure.create.url,
            format!(
                "https://dev.azure.com/org/proj/_apis/git/repositories/repo/commits/{SHA}/statuses?api-version=6.0"
            )
        );
        assert_eq!(
            body(&azure.create),
            json!({"description": "reconciliation succeeded", "state": "succeeded", "context": {"genre": "fluxcd", "name": "kustomization/apps/0c9c2e41"}})
        );
        assert!(
            azure
                .create
                .headers
                .contains(&("Authorization".into(), basic("", "pat")))
        );
        let wrong = commit_status(
            ProviderType::AzureDevOps,
            &target("https://dev.azure.com/org/proj/repo", "pat"),
            &event,
        )
        .unwrap_err();
        assert_eq!(wrong.to_string(), "invalid repository id 'org/proj/repo'");
    }

    #[test]
    fn events_without_a_commit_or_while_progressing_post_nothing() {
        let mut event = kustomization_event("info", "ReconciliationSucceeded");
        event
            .metadata
            .insert("revision".into(), "latest@sha256:abc".into());
        let error = commit_status(
            ProviderType::GitHub,
            &target("https://github.com/org/repo", "t"),
            &event,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "failed to extract commit hash from 'latest@sha256:abc' revision"
        );
        event.metadata.clear();
        let error = commit_status(
            ProviderType::GitHub,
            &target("https://github.com/org/repo", "t"),
            &event,
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "missing revision metadata");
        let progressing = kustomization_event("info", "Progressing");
        assert_eq!(
            commit_status(
                ProviderType::GitHub,
                &target("https://github.com/org/repo", "t"),
                &progressing
            )
            .unwrap(),
            None
        );
        let wrong = commit_status(
            ProviderType::GitHub,
            &target("https://github.com/org/repo/extra", "t"),
            &kustomization_event("info", "X"),
        )
        .unwrap_err();
        assert_eq!(wrong.to_string(), "invalid repository id 'org/repo/extra'");
    }

    #[test]
    fn addresses_and_reasons_are_read_as_flux_reads_them() {
        assert_eq!(
            parse_git_address("https://github.com/foo/bar"),
            ("https://github.com".into(), "foo/bar".into())
        );
        assert_eq!(
            parse_git_address("git@gitlab.com:foo/bar.git"),
            ("https://gitlab.com".into(), "foo/bar".into())
        );
        assert_eq!(
            parse_git_address("ssh://git@github.com/x/y"),
            ("https://github.com".into(), "x/y".into())
        );
        assert_eq!(
            parse_git_address("http://127.0.0.1:8080/org/repo.git"),
            ("http://127.0.0.1:8080".into(), "org/repo".into())
        );
        assert_eq!(
            split_camelcase("ReconciliationSucceeded"),
            ["Reconciliation", "Succeeded"]
        );
        assert_eq!(split_camelcase("PDFLoader"), ["PDF", "Loader"]);
        assert_eq!(split_camelcase("ApplySucceeded"), ["Apply", "Succeeded"]);
        assert_eq!(commit_hash(&format!("sha1:{SHA}")), Some(SHA));
        assert_eq!(commit_hash(&format!("main/{SHA}")), Some(SHA));
        assert_eq!(commit_hash("master"), None);
    }
}
