//! Talking to a remote through libgit2: the callbacks that carry credentials, the host key
//! check, the deadline and the size limit; listing references; fetching and checking out.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Once;
use std::time::Instant;

use git2::build::CheckoutBuilder;
use git2::{
    CertificateCheckStatus, Cred, CredentialType, ErrorCode, FetchOptions, ObjectType, Oid,
    ProxyOptions, RemoteCallbacks, Repository,
};

use crate::{Auth, CheckedOut, GitError, Remote, RemoteRef, Signed, Want};

/// Where a fetched reference is kept in the scratch repository.
const WANTED: &str = "refs/flux-rs/wanted";
/// A refspec whose source no remote has: a fetch with it only lists the references.
const NOTHING: &str = "refs/flux-rs/nothing:refs/flux-rs/nothing";

/// Lists every reference `remote` advertises (an `ls-remote`), with annotated tags peeled.
/// Nothing touches the disk unless a bearer token is used: then a fetch that wants nothing
/// (the one way libgit2 sends custom headers) needs a scratch repository.
pub fn list_refs(remote: &Remote) -> Result<Vec<RemoteRef>, GitError> {
    let failure = RefCell::new(None);
    let heads: Vec<(String, Oid)> = if matches!(remote.auth, Auth::Bearer(_)) {
        // Only a fetch carries custom headers: one that wants nothing lists the references.
        let scratch = tempfile::tempdir().map_err(|source| GitError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let repo = Repository::init_bare(scratch.path())?;
        let mut git_remote = repo.remote_anonymous(&remote.url)?;
        let mut options = fetch_options(remote, &failure);
        git_remote
            .download(&[NOTHING], Some(&mut options))
            .map_err(|e| classify(e, &failure))?;
        git_remote
            .list()?
            .iter()
            .map(|h| (h.name().to_owned(), h.oid()))
            .collect()
    } else {
        // No repository needed: a detached remote connects and lists.
        let mut git_remote = git2::Remote::create_detached(remote.url.as_str())?;
        let connection = git_remote
            .connect_auth(
                git2::Direction::Fetch,
                Some(callbacks(remote, &failure)),
                proxy_options(remote),
            )
            .map_err(|e| classify(e, &failure))?;
        connection
            .list()?
            .iter()
            .map(|h| (h.name().to_owned(), h.oid()))
            .collect()
    };
    let mut refs: Vec<RemoteRef> = Vec::new();
    for (name, oid) in heads {
        match name.strip_suffix("^{}") {
            Some(tag) => {
                if let Some(entry) = refs.iter_mut().find(|r| r.name == tag) {
                    entry.peeled = Some(oid.to_string());
                }
            }
            None => refs.push(RemoteRef {
                name,
                target: oid.to_string(),
                peeled: None,
            }),
        }
    }
    Ok(refs)
}

/// Fetches what `want` names into a repository at `git_dir` and writes its tree to
/// `tree_dir` (only the `sparse` directories when any are given).
pub fn checkout(
    remote: &Remote,
    want: Want<'_>,
    git_dir: &Path,
    tree_dir: &Path,
    sparse: &[String],
) -> Result<CheckedOut, GitError> {
    std::fs::create_dir_all(tree_dir).map_err(|source| GitError::Io {
        path: tree_dir.to_owned(),
        source,
    })?;
    // A repository whose working tree is `tree_dir` (its `.git` a file pointing at
    // `git_dir`): libgit2 refuses to check out a tree with submodules from a bare one.
    let repo = Repository::init_opts(
        git_dir,
        git2::RepositoryInitOptions::new()
            .workdir_path(tree_dir)
            .no_dotgit_dir(true),
    )?;
    let mut git_remote = repo.remote_anonymous(&remote.url)?;
    let (refspec, depth) = match want {
        Want::Ref(name) => (format!("+{name}:{WANTED}"), Some(1)),
        Want::Commit {
            branch: Some(branch),
            ..
        } => (format!("+refs/heads/{branch}:{WANTED}"), None),
        Want::Commit { branch: None, .. } => ("+refs/heads/*:refs/flux-rs/heads/*".into(), None),
    };
    let failure = RefCell::new(None);
    let mut options = fetch_options(remote, &failure);
    if let Some(depth) = depth {
        options.depth(depth);
    }
    options.download_tags(git2::AutotagOption::None);
    git_remote
        .fetch(&[refspec.as_str()], Some(&mut options), None)
        .map_err(|e| classify(e, &failure))?;
    if git_remote.list()?.is_empty() {
        return Err(GitError::EmptyRepository);
    }
    let (commit, tag_signature) = match want {
        Want::Ref(name) => {
            let reference = repo
                .find_reference(WANTED)
                .map_err(|_| GitError::RefNotFound(name.to_owned()))?;
            let target = reference.peel(ObjectType::Any)?;
            let tag_signature = match target.as_tag() {
                Some(tag) => Some(tag_signature(&repo, tag.id())?),
                None => None,
            };
            (target.peel_to_commit()?, tag_signature)
        }
        Want::Commit { commit, branch } => {
            if let Some(branch) = branch {
                repo.find_reference(WANTED)
                    .map_err(|_| GitError::RefNotFound(format!("refs/heads/{branch}")))?;
            }
            let found = Oid::from_str(commit)
                .and_then(|oid| repo.find_commit(oid))
                .map_err(|_| GitError::CommitNotFound(commit.to_owned()))?;
            (found, None)
        }
    };
    let mut builder = CheckoutBuilder::new();
    builder.force().update_index(false);
    for path in sparse {
        builder.path(path.as_str());
    }
    repo.checkout_tree(commit.as_object(), Some(&mut builder))?;
    // The link to `git_dir` is not part of the content.
    let link = tree_dir.join(".git");
    if link.is_file() {
        std::fs::remove_file(&link).map_err(|source| GitError::Io { path: link, source })?;
    }
    let missing: Vec<String> = sparse
        .iter()
        .filter(|dir| !tree_dir.join(dir).is_dir())
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(GitError::SparseCheckout(missing));
    }
    let commit_signature = match repo.extract_signature(&commit.id(), None) {
        Ok((signature, payload)) => Some(Signed {
            signature: String::from_utf8_lossy(&signature).into_owned(),
            payload: payload.to_vec(),
        }),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    Ok(CheckedOut {
        commit: commit.id().to_string(),
        message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
        commit_signature,
        tag_signature,
    })
}

/// The signature an annotated tag carries at the end of its message, and what it signs.
fn tag_signature(repo: &Repository, tag: Oid) -> Result<Option<Signed>, GitError> {
    let odb = repo.odb()?;
    let object = odb.read(tag)?;
    let data = object.data();
    let start = [
        "-----BEGIN PGP SIGNATURE-----",
        "-----BEGIN SSH SIGNATURE-----",
    ]
    .iter()
    .filter_map(|marker| find(data, marker.as_bytes()))
    .min();
    Ok(start.map(|start| Signed {
        signature: String::from_utf8_lossy(&data[start..]).into_owned(),
        payload: data[..start].to_vec(),
    }))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Fetch options carrying the remote's credentials, proxy, host key check, deadline and
/// size limit; a refusal by a callback is left in `failure` (libgit2 only says "aborted").
pub(crate) fn fetch_options<'a>(
    remote: &'a Remote,
    failure: &'a RefCell<Option<GitError>>,
) -> FetchOptions<'a> {
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks(remote, failure));
    if let Some(proxy) = proxy_options(remote) {
        options.proxy_options(proxy);
    }
    if let Auth::Bearer(token) = &remote.auth {
        options.custom_headers(&[&format!("Authorization: Bearer {token}")]);
    }
    options
}

pub(crate) fn proxy_options(remote: &Remote) -> Option<ProxyOptions<'_>> {
    let proxy = remote.proxy.as_deref()?;
    let mut options = ProxyOptions::new();
    options.url(proxy);
    Some(options)
}

/// The callbacks carrying credentials, the host key check, the deadline and the size
/// limit.
pub(crate) fn callbacks<'a>(
    remote: &'a Remote,
    failure: &'a RefCell<Option<GitError>>,
) -> RemoteCallbacks<'a> {
    install_timeouts();
    let deadline = Instant::now() + remote.timeout;
    let mut callbacks = RemoteCallbacks::new();
    let attempts = Cell::new(0u32);
    callbacks.credentials(move |_url, user_from_url, allowed| {
        let user = user_from_url.unwrap_or("git");
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        attempts.set(attempts.get() + 1);
        let refused = |error: GitError| {
            let message = error.to_string();
            *failure.borrow_mut() = Some(error);
            Err(git2::Error::from_str(&message))
        };
        if attempts.get() > 1 {
            return refused(GitError::AuthenticationFailed(
                "the server refused the credentials".into(),
            ));
        }
        match &remote.auth {
            Auth::Basic { username, password }
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                Cred::userpass_plaintext(username, password)
            }
            Auth::Ssh(key)
                if allowed.intersects(CredentialType::SSH_KEY | CredentialType::SSH_MEMORY) =>
            {
                Cred::ssh_key_from_memory(user, None, &key.identity, key.passphrase.as_deref())
            }
            Auth::Bearer(_) => refused(GitError::AuthenticationFailed(
                "the server refused the bearer token".into(),
            )),
            _ => refused(GitError::AuthenticationRequired),
        }
    });
    let port = ssh_port(&remote.url);
    callbacks.certificate_check(move |cert, host| {
        let Some(hostkey) = cert.as_hostkey() else {
            // https: libgit2's own verification against the system's CAs stands.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let verdict = match (&remote.auth, hostkey.hostkey()) {
            (Auth::Ssh(key), Some(blob)) => key.known_hosts.verify(host, port, blob),
            (Auth::Ssh(_), None) => Err(GitError::HostKey("the server's key is not known".into())),
            _ => Err(GitError::HostKey(format!(
                "no known_hosts to check the key of {host} against"
            ))),
        };
        verdict
            .map(|()| CertificateCheckStatus::CertificateOk)
            .map_err(|error| {
                let message = error.to_string();
                *failure.borrow_mut() = Some(error);
                git2::Error::from_str(&message)
            })
    });
    let limit = remote.max_bytes;
    let timeout = remote.timeout;
    callbacks.transfer_progress(move |progress| {
        let error = if progress.received_bytes() as u64 > limit {
            GitError::TooLarge(limit)
        } else if Instant::now() > deadline {
            GitError::Timeout(timeout)
        } else {
            return true;
        };
        *failure.borrow_mut() = Some(error);
        false
    });
    callbacks.sideband_progress(move |_| {
        if Instant::now() > deadline {
            *failure.borrow_mut() = Some(GitError::Timeout(timeout));
            return false;
        }
        true
    });
    callbacks
}

/// The port of an `ssh://` URL (22 when none is written).
fn ssh_port(url: &str) -> u16 {
    let Some(rest) = url.strip_prefix("ssh://") else {
        return 22;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    host_port
        .rsplit_once(':')
        .filter(|(host, _)| !host.ends_with(']') || host.starts_with('['))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(22)
}

/// The error a callback left, else libgit2's, named by what it means.
pub(crate) fn classify(error: git2::Error, failure: &RefCell<Option<GitError>>) -> GitError {
    if let Some(failure) = failure.borrow_mut().take() {
        return failure;
    }
    match error.code() {
        ErrorCode::Auth => GitError::AuthenticationFailed(error.message().to_owned()),
        ErrorCode::Certificate => GitError::HostKey(error.message().to_owned()),
        _ => GitError::Git(error),
    }
}

/// libgit2 has no timeouts of its own unless told, and only process-wide: a server that
/// stops answering would hold a worker forever.
#[allow(unsafe_code)]
fn install_timeouts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: git2 marks these unsafe because they change process-global libgit2 options
        // without synchronisation; `Once` makes this the only writer, before any operation.
        let set = unsafe {
            git2::opts::set_server_connect_timeout_in_milliseconds(30_000)
                .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(120_000))
        };
        if let Err(e) = set {
            tracing::warn!(error = %e, "libgit2 network timeouts could not be set");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_ports_come_from_the_url() {
        assert_eq!(ssh_port("ssh://git@127.0.0.1:2222/repo.git"), 2222);
        assert_eq!(ssh_port("ssh://git@example.org/repo.git"), 22);
        assert_eq!(ssh_port("ssh://[::1]:2200/repo.git"), 2200);
        assert_eq!(ssh_port("https://example.org:8443/repo.git"), 22);
    }
}
