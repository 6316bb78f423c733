//! The Git client the controllers share: list a remote's references (the cheap check before
//! a clone), fetch one reference or commit (shallowly where the spec allows) and check its
//! tree out, with credentials held in memory and SSH host keys checked against the
//! `known_hosts` the user gave; and a working copy an automation commits to and pushes.
//!
//! Built on git2 (libgit2): it is the one in-process Rust library that fetches over https and
//! ssh *and* pushes, which image automation needs; gix cannot push yet. Everything here is
//! blocking: callers run it on a blocking thread.

mod known_hosts;
mod remote;
mod submodules;
mod working_copy;

use std::path::PathBuf;
use std::time::Duration;

pub use known_hosts::KnownHosts;
pub use remote::{checkout, list_refs};
pub use submodules::checkout_submodules;
pub use working_copy::{Author, Pushed, Signer, WorkingCopy};

/// How to authenticate to a remote. Its `Debug` names the method only: secrets stay out of
/// logs.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
    Ssh(SshKey),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Ssh(_) => f.write_str("Ssh(<redacted>)"),
        }
    }
}

/// An SSH identity and the host keys the server must present.
#[derive(Clone)]
pub struct SshKey {
    /// The private key, PEM or OpenSSH format.
    pub identity: String,
    pub passphrase: Option<String>,
    pub known_hosts: KnownHosts,
}

/// A remote repository and how to reach it.
#[derive(Clone)]
pub struct Remote {
    pub url: String,
    pub auth: Auth,
    /// `http(s)://[user:password@]host:port` of a proxy.
    pub proxy: Option<String>,
    /// The whole operation (connect, negotiate, transfer) ends with an error after this.
    pub timeout: Duration,
    /// At most this many bytes are received in one operation.
    pub max_bytes: u64,
}

/// One reference a remote advertises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRef {
    /// The full name, `refs/heads/main`.
    pub name: String,
    /// The object it points to (for an annotated tag, the tag object).
    pub target: String,
    /// For an annotated tag, the commit it points to.
    pub peeled: Option<String>,
}

impl RemoteRef {
    /// The commit this reference names.
    pub fn commit(&self) -> &str {
        self.peeled.as_deref().unwrap_or(&self.target)
    }
}

/// What to fetch and check out.
#[derive(Clone, Copy, Debug)]
pub enum Want<'a> {
    /// A full reference name, fetched with history depth 1.
    Ref(&'a str),
    /// A commit by its hash, looked for in `branch`, or in every branch without one.
    Commit {
        commit: &'a str,
        branch: Option<&'a str>,
    },
}

/// A signature and the bytes it signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The armored signature (`-----BEGIN PGP SIGNATURE-----` or `-----BEGIN SSH SIGNATURE-----`).
    pub signature: String,
    pub payload: Vec<u8>,
}

/// What was checked out.
#[derive(Clone, Debug)]
pub struct CheckedOut {
    /// The commit hash (40 hex digits for SHA-1).
    pub commit: String,
    /// The commit's full message.
    pub message: String,
    /// The commit's signature (`gpgsig`), if signed.
    pub commit_signature: Option<Signed>,
    /// For a reference that names an annotated tag: the tag's signature, if signed (the
    /// outer `Option` says whether the tag is annotated at all).
    pub tag_signature: Option<Option<Signed>>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("authentication required but no credentials were given")]
    AuthenticationRequired,
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    #[error("ssh: handshake failed: knownhosts: {0}")]
    HostKey(String),
    #[error("invalid known_hosts: {0}")]
    KnownHosts(String),
    #[error("remote repository is empty")]
    EmptyRepository,
    #[error("couldn't find remote ref \"{0}\"")]
    RefNotFound(String),
    #[error("unable to resolve commit object for '{0}': object not found")]
    CommitNotFound(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("the transfer exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("failed to sparse checkout directories : no such directories: {}", .0.join(", "))]
    SparseCheckout(Vec<String>),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Submodule(String),
    #[error("failed to sign the commit: {0}")]
    Signing(String),
    #[error("{}", .0.message())]
    Git(#[from] git2::Error),
}

pub mod signature;
