//! Submodules (`recurseSubmodules`): after a checkout, each submodule `.gitmodules` names is
//! fetched at the commit the tree records for it and checked out at its path, recursively.

use std::path::{Component, Path};

use git2::{ObjectType, Oid, Repository};

use crate::{Auth, GitError, Remote, Want, checkout};

/// How deep submodules of submodules are followed.
const MAX_DEPTH: usize = 8;

/// Checks out the submodules of `commit` (in the repository at `git_dir`, its tree at
/// `tree_dir`).
pub fn checkout_submodules(
    remote: &Remote,
    git_dir: &Path,
    tree_dir: &Path,
    commit: &str,
) -> Result<(), GitError> {
    recurse(remote, git_dir, tree_dir, commit, 0)
}

fn recurse(
    remote: &Remote,
    git_dir: &Path,
    tree_dir: &Path,
    commit: &str,
    depth: usize,
) -> Result<(), GitError> {
    let modules = tree_dir.join(".gitmodules");
    if !modules.is_file() {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(GitError::Submodule(format!(
            "submodules nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let repo = Repository::open(git_dir)?;
    let tree = repo.find_commit(Oid::from_str(commit)?)?.tree()?;
    for (name, path, url) in declared(&modules)? {
        if !Path::new(&path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(GitError::Submodule(format!(
                "submodule '{name}' has a path outside the repository: '{path}'"
            )));
        }
        // A declared submodule the tree does not record is skipped, as git does.
        let Ok(entry) = tree.get_path(Path::new(&path)) else {
            continue;
        };
        if entry.kind() != Some(ObjectType::Commit) {
            continue;
        }
        let pinned = entry.id().to_string();
        let url = resolve_url(&remote.url, &url);
        let sub_remote = Remote {
            auth: if same_host(&remote.url, &url) {
                remote.auth.clone()
            } else {
                // Credentials stay with the host they were given for.
                Auth::Anonymous
            },
            url,
            ..remote.clone()
        };
        let sub_git_dir = git_dir.join("modules").join(name.replace('/', "_"));
        let sub_tree = tree_dir.join(&path);
        let want = Want::Commit {
            commit: &pinned,
            branch: None,
        };
        checkout(&sub_remote, want, &sub_git_dir, &sub_tree, &[]).map_err(|e| {
            GitError::Submodule(format!("failed to check out submodule '{name}': {e}"))
        })?;
        recurse(&sub_remote, &sub_git_dir, &sub_tree, &pinned, depth + 1)?;
    }
    Ok(())
}

/// The (name, path, url) of each submodule in a `.gitmodules` file.
fn declared(modules: &Path) -> Result<Vec<(String, String, String)>, GitError> {
    let config = git2::Config::open(modules)?;
    let mut found = Vec::new();
    let mut entries = config.entries(Some(r"submodule\..*\.path"))?;
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let (Ok(key), Ok(path)) = (entry.name(), entry.value()) else {
            continue;
        };
        let name = key
            .trim_start_matches("submodule.")
            .trim_end_matches(".path")
            .to_owned();
        let url = config
            .get_string(&format!("submodule.{name}.url"))
            .map_err(|_| {
                GitError::Submodule(format!("submodule '{name}' has no url in .gitmodules"))
            })?;
        found.push((name, path.to_owned(), url));
    }
    Ok(found)
}

/// A submodule URL relative to its parent's (`../lib.git`) made absolute, as git does.
fn resolve_url(parent: &str, url: &str) -> String {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return url.to_owned();
    }
    let mut base = parent.trim_end_matches('/').to_owned();
    let mut rest = url;
    loop {
        if let Some(tail) = rest.strip_prefix("./") {
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix("../") {
            if let Some(at) = base.rfind('/') {
                base.truncate(at);
            }
            rest = tail;
        } else {
            break;
        }
    }
    format!("{base}/{rest}")
}

/// The host (and port) of a URL, `user@` left out.
fn host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(authority.rsplit('@').next().unwrap_or(authority))
}

fn same_host(a: &str, b: &str) -> bool {
    host(a).is_some() && host(a) == host(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_parent_and_credentials_stay_on_its_host() {
        let parent = "https://git.example.org/team/app.git";
        assert_eq!(
            resolve_url(parent, "../lib.git"),
            "https://git.example.org/team/lib.git"
        );
        assert_eq!(
            resolve_url(parent, "../../other/lib.git"),
            "https://git.example.org/other/lib.git"
        );
        assert_eq!(
            resolve_url(parent, "./sub.git"),
            "https://git.example.org/team/app.git/sub.git"
        );
        assert_eq!(
            resolve_url(parent, "https://elsewhere.org/x.git"),
            "https://elsewhere.org/x.git"
        );
        assert!(same_host(parent, "https://git.example.org/lib.git"));
        assert!(same_host("ssh://git@h:2222/a", "ssh://h:2222/b"));
        assert!(!same_host(parent, "https://elsewhere.org/x.git"));
    }
}
