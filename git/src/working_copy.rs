//! A working copy an automation changes, commits and pushes: cloned at a reference (shallow
//! where possible), with the push branch checked out on top of what the remote already has
//! on it; a commit only when the tree changed; a push that says when the remote refused it,
//! so the caller can fetch again, re-apply and retry.

use std::cell::RefCell;
use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{
    ErrorCode, IndexAddOption, ObjectType, Oid, PushOptions, Repository, ResetType, Signature,
};

use crate::remote::{callbacks, classify, fetch_options, proxy_options};
use crate::{Auth, GitError, Remote, Want};

const CHECKOUT: &str = "refs/flux-rs/checkout";
const PUSHED: &str = "refs/flux-rs/push";

/// Who commits.
#[derive(Clone, Debug)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// Signs the bytes of a commit; returns the armored signature for its `gpgsig` header.
pub trait Signer {
    fn sign(&self, commit: &[u8]) -> Result<String, String>;
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pushed {
    Accepted,
    /// The remote refused the update (someone pushed first): fetch, re-apply and retry.
    Rejected(String),
}

pub struct WorkingCopy {
    repo: Repository,
    remote: Remote,
    push_branch: String,
    /// The commit the push branch is at (the last one made, or the one it started from).
    head: Oid,
    /// The commit of the checkout reference.
    checkout_commit: Oid,
}

impl WorkingCopy {
    /// Clones `remote` at `checkout` into `dir` and checks out `push_branch`: where the
    /// remote has that branch (and it is not the checkout branch), at its head; otherwise at
    /// the checkout's commit.
    pub fn clone(
        remote: &Remote,
        checkout: Want<'_>,
        push_branch: &str,
        dir: &Path,
        shallow: bool,
    ) -> Result<Self, GitError> {
        let repo = Repository::init(dir)?;
        let push_ref = format!("refs/heads/{push_branch}");
        let (refspec, depth) = match checkout {
            Want::Ref(name) => (format!("+{name}:{CHECKOUT}"), shallow.then_some(1)),
            Want::Commit {
                branch: Some(branch),
                ..
            } => (format!("+refs/heads/{branch}:{CHECKOUT}"), None),
            Want::Commit { branch: None, .. } => {
                ("+refs/heads/*:refs/flux-rs/heads/*".to_owned(), None)
            }
        };
        let switching = !matches!(checkout, Want::Ref(name) if name == push_ref);
        fetch(&repo, remote, &refspec, depth)?;
        let checkout_commit = match checkout {
            Want::Ref(name) => repo
                .find_reference(CHECKOUT)
                .map_err(|_| GitError::RefNotFound(name.to_owned()))?
                .peel(ObjectType::Commit)?
                .id(),
            Want::Commit { commit, .. } => Oid::from_str(commit)
                .and_then(|oid| repo.find_commit(oid))
                .map_err(|_| GitError::CommitNotFound(commit.to_owned()))?
                .id(),
        };
        let mut head = checkout_commit;
        if switching {
            fetch(
                &repo,
                remote,
                &format!("+{push_ref}:{PUSHED}"),
                shallow.then_some(1),
            )?;
            if let Ok(existing) = repo.find_reference(PUSHED) {
                head = existing.peel(ObjectType::Commit)?.id();
            }
        }
        let mut copy = Self {
            repo,
            remote: remote.clone(),
            push_branch: push_branch.to_owned(),
            head,
            checkout_commit,
        };
        copy.check_out(head)?;
        Ok(copy)
    }

    /// The directory of the checked-out files.
    pub fn dir(&self) -> &Path {
        self.repo
            .workdir()
            .expect("a working copy has a working directory")
    }

    /// The commit the push branch is at.
    pub fn head(&self) -> String {
        self.head.to_string()
    }

    pub fn checkout_commit(&self) -> String {
        self.checkout_commit.to_string()
    }

    pub fn push_branch(&self) -> &str {
        &self.push_branch
    }

    fn check_out(&mut self, commit: Oid) -> Result<(), GitError> {
        let branch = format!("refs/heads/{}", self.push_branch);
        self.repo
            .reference(&branch, commit, true, "flux-rs: check out")?;
        self.repo.set_head(&branch)?;
        let object = self.repo.find_object(commit, None)?;
        self.repo.reset(
            &object,
            ResetType::Hard,
            Some(CheckoutBuilder::new().force().remove_untracked(true)),
        )?;
        self.head = commit;
        Ok(())
    }

    /// Fetches the push branch again and resets the working copy to its head (after a
    /// rejected push, before the changes are made again).
    pub fn refresh(&mut self) -> Result<(), GitError> {
        let push_ref = format!("refs/heads/{}", self.push_branch);
        let depth = self.repo.is_shallow().then_some(1);
        fetch(
            &self.repo,
            &self.remote,
            &format!("+{push_ref}:{PUSHED}"),
            depth,
        )?;
        let head = self
            .repo
            .find_reference(PUSHED)
            .map_err(|_| GitError::RefNotFound(push_ref))?
            .peel(ObjectType::Commit)?
            .id();
        self.check_out(head)
    }

    /// Commits every change in the working copy on top of the push branch; `None` when the
    /// tree is the same as its parent's.
    pub fn commit(
        &mut self,
        author: &Author,
        message: &str,
        signer: Option<&dyn Signer>,
    ) -> Result<Option<String>, GitError> {
        let mut index = self.repo.index()?;
        index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
        index.update_all(["*"], None)?;
        index.write()?;
        let tree_id = index.write_tree()?;
        let parent = self.repo.find_commit(self.head)?;
        if parent.tree_id() == tree_id {
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id)?;
        let signature = Signature::now(&author.name, &author.email)?;
        let commit = match signer {
            None => self
                .repo
                .commit(None, &signature, &signature, message, &tree, &[&parent])?,
            Some(signer) => {
                let buffer = self.repo.commit_create_buffer(
                    &signature,
                    &signature,
                    message,
                    &tree,
                    &[&parent],
                )?;
                let armored = signer.sign(&buffer).map_err(GitError::Signing)?;
                let content = std::str::from_utf8(&buffer)
                    .map_err(|_| GitError::Signing("the commit is not UTF-8".to_owned()))?;
                self.repo.commit_signed(content, &armored, None)?
            }
        };
        let branch = format!("refs/heads/{}", self.push_branch);
        self.repo
            .reference(&branch, commit, true, "flux-rs: commit")?;
        self.head = commit;
        Ok(Some(commit.to_string()))
    }

    /// Pushes `refspec` (`+` in front forces it) with `git push -o` options.
    pub fn push(&self, refspec: &str, push_options: &[String]) -> Result<Pushed, GitError> {
        let mut git_remote = self.repo.remote_anonymous(&self.remote.url)?;
        let failure = RefCell::new(None);
        let rejected = RefCell::new(None);
        let mut callbacks = callbacks(&self.remote, &failure);
        callbacks.push_update_reference(|name, status| {
            if let Some(status) = status {
                *rejected.borrow_mut() = Some(format!("{name}: {status}"));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        if let Some(proxy) = proxy_options(&self.remote) {
            options.proxy_options(proxy);
        }
        let header;
        if let Auth::Bearer(token) = &self.remote.auth {
            header = format!("Authorization: Bearer {token}");
            options.custom_headers(&[header.as_str()]);
        }
        let push_options: Vec<&str> = push_options.iter().map(String::as_str).collect();
        options.remote_push_options(&push_options);
        match git_remote.push(&[refspec], Some(&mut options)) {
            Err(e) if e.code() == ErrorCode::NotFastForward => {
                return Ok(Pushed::Rejected(e.message().to_owned()));
            }
            Err(e) => return Err(classify(e, &failure)),
            Ok(()) => {}
        }
        drop(options);
        Ok(match rejected.into_inner() {
            Some(reason) => Pushed::Rejected(reason),
            None => Pushed::Accepted,
        })
    }
}

fn fetch(
    repo: &Repository,
    remote: &Remote,
    refspec: &str,
    depth: Option<i32>,
) -> Result<(), GitError> {
    let mut git_remote = repo.remote_anonymous(&remote.url)?;
    let failure = RefCell::new(None);
    let mut options = fetch_options(remote, &failure);
    if let Some(depth) = depth {
        options.depth(depth);
    }
    options.download_tags(git2::AutotagOption::None);
    git_remote
        .fetch(&[refspec], Some(&mut options), None)
        .map_err(|e| classify(e, &failure))?;
    if git_remote.list()?.is_empty() {
        return Err(GitError::EmptyRepository);
    }
    Ok(())
}
