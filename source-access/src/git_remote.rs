//! The Git remote a GitRepository names, with the credentials of its `secretRef` and the
//! proxy of its `proxySecretRef`: what the source-controller fetches from and image
//! automation pushes to.

use std::collections::BTreeMap;
use std::time::Duration;

use api::source::GitRepositoryRef;
use api::source::v1::GitRepositorySpec;
use artifacts::oci::semver;
use git::{Auth, RemoteRef, SshKey};
use k8s_openapi::ByteString;

/// The branch a GitRepository without `ref` follows.
pub const DEFAULT_BRANCH: &str = "master";

/// Reads `secretRef` into credentials, with the rules (and messages) of Flux's Git auth
/// options; without a Secret, credentials written in an http(s) URL are used.
pub fn auth_from_secret(
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

/// The remote with the object's credentials and proxy.
///
/// Errors are worded as Flux words them; callers give them their reason.
pub async fn remote_for(
    client: &kube::Client,
    namespace: &str,
    spec: &GitRepositorySpec,
    url: &url::Url,
    max_bytes: u64,
) -> Result<git::Remote, String> {
    let secret = |name: String| async move {
        runtime::secret_data(client, namespace, &name)
            .await
            .map_err(|e| format!("failed to get secret '{namespace}/{name}': {e}"))?
            .ok_or_else(|| format!("failed to get secret '{namespace}/{name}': secret not found"))
    };
    let data = match &spec.secret_ref {
        Some(reference) => Some(secret(reference.name.clone()).await?),
        None => None,
    };
    let auth = auth_from_secret(url, data.as_ref())
        .map_err(|e| format!("failed to configure authentication options: {e}"))?;
    let proxy = match &spec.proxy_secret_ref {
        Some(reference) => {
            let data = secret(reference.name.clone()).await?;
            let proxy = artifacts::transport::Proxy::from_secret(&reference.name, &data)
                .map_err(|e| format!("failed to configure the proxy: {e}"))?;
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
        max_bytes,
    })
}

/// What to check out, and how its revision is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub want: Wanted,
    /// The branch, tag or reference name the revision starts with (`<label>@sha1:<hash>`).
    pub label: Option<String>,
    /// The commit the remote advertises for it (not known for a pinned commit until fetched,
    /// but then it is the pin).
    pub commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Ref(String),
    Commit {
        commit: String,
        branch: Option<String>,
    },
}

impl Target {
    pub fn revision(&self, commit: &str) -> String {
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

    pub fn known_revision(&self) -> Option<String> {
        self.commit.as_deref().map(|commit| self.revision(commit))
    }
}

/// A pinned commit needs no listing: `commit` (with its `branch`, if any).
pub fn pinned_commit(reference: &GitRepositoryRef) -> Option<Target> {
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
pub fn resolve_target(reference: &GitRepositoryRef, refs: &[RemoteRef]) -> Result<Target, String> {
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

impl Target {
    /// What to fetch for this target.
    pub fn want(&self) -> git::Want<'_> {
        match &self.want {
            Wanted::Ref(name) => git::Want::Ref(name),
            Wanted::Commit { commit, branch } => git::Want::Commit {
                commit,
                branch: branch.as_deref(),
            },
        }
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
}
