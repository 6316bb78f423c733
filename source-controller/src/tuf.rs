//! Sigstore's trusted root through TUF, for keyless verification without a
//! `trustedRootSecretRef` (Flux verifies against the public-good instance this way).
//!
//! tough, the TUF client, runs the whole client workflow on every update: root rotation
//! through signed root versions, signature thresholds, rollback checks of the timestamp and
//! snapshot against what it saw before, expiry (freeze) checks. Its verified metadata is kept
//! on disk under the storage path, so rollback protection and the latest trusted root survive
//! restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use artifacts::oci::error_chain;
use sha2::{Digest, Sha256};
use tough::schema::{RoleType, Root, Signed};
use tough::{IntoVec, RepositoryLoader, TargetName};
use url::Url;

use crate::verify::TrustRoot;

/// The public-good instance's TUF mirror.
pub const PUBLIC_GOOD_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";

/// The public-good instance's root, version 12 (as sigstore-rs 0.15 ships it): the client
/// walks forward from it through the signed root versions the mirror serves.
const PUBLIC_GOOD_ROOT: &[u8] = include_bytes!("../tuf/sigstore-public-good-root.json");

/// The target holding the trusted root.
const TARGET: &str = "trusted_root.json";

#[derive(Clone, Debug, thiserror::Error)]
pub enum TufError {
    #[error("invalid TUF root {origin}: {reason}")]
    InvalidRoot { origin: String, reason: String },
    #[error("invalid TUF mirror URL '{url}': {reason}")]
    InvalidMirror { url: String, reason: String },
    #[error("TUF metadata cache {path}: {reason}")]
    Cache { path: String, reason: String },
    #[error("updating the TUF metadata from {mirror}: {reason}")]
    Update { mirror: String, reason: String },
    #[error("reading the TUF target '{TARGET}' from {mirror}: {reason}")]
    Target { mirror: String, reason: String },
    #[error("invalid TUF target '{TARGET}' from {mirror}: {reason}")]
    TrustedRoot { mirror: String, reason: String },
}

/// A TUF repository publishing Sigstore's `trusted_root.json`, and the last update's result.
pub struct SigstoreTuf {
    /// The metadata base URL (ends with `/`); targets are under `targets/`.
    mirror: Url,
    initial_root: Vec<u8>,
    cache: PathBuf,
    latest: tokio::sync::Mutex<Option<Update>>,
}

struct Update {
    /// When it began reading the repository: only callers that asked before then can take
    /// its result, as it saw what the repository published after they asked.
    started: Instant,
    result: Result<Arc<TrustRoot>, TufError>,
}

impl SigstoreTuf {
    /// The repository at `mirror` (http, https or file), trusted from `root_file` (default:
    /// the public-good root), with its metadata cached under `storage_root`. The root is
    /// checked now: a wrong `--tuf-root` fails at start, not at the first verification.
    pub fn new(
        mirror: &str,
        root_file: Option<&Path>,
        storage_root: &Path,
    ) -> Result<Self, TufError> {
        let invalid_mirror = |reason: String| TufError::InvalidMirror {
            url: mirror.to_owned(),
            reason,
        };
        let mut url = Url::parse(mirror).map_err(|e| invalid_mirror(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https" | "file") {
            return Err(invalid_mirror(
                "the scheme must be https, http or file".into(),
            ));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let (initial_root, origin) = match root_file {
            Some(path) => {
                let origin = format!("'{}'", path.display());
                let bytes = std::fs::read(path).map_err(|e| TufError::InvalidRoot {
                    origin: origin.clone(),
                    reason: e.to_string(),
                })?;
                (bytes, origin)
            }
            None => (PUBLIC_GOOD_ROOT.to_vec(), "(embedded)".to_owned()),
        };
        verified_root(&initial_root).map_err(|reason| TufError::InvalidRoot { origin, reason })?;
        // One cache per repository and starting root: metadata of another never mixes in.
        let mut key = Sha256::new();
        key.update(url.as_str());
        key.update(b"\n");
        key.update(&initial_root);
        let cache = storage_root
            .join(".tuf")
            .join(&hex::encode(key.finalize())[..16]);
        Ok(Self {
            mirror: url,
            initial_root,
            cache,
            latest: tokio::sync::Mutex::new(None),
        })
    }

    /// The trusted root the repository publishes now, by a TUF update. Callers that waited
    /// while another update ran take the result of the next one, which began after they
    /// asked: a burst of verifications costs at most two updates, and none is answered
    /// with metadata read before it asked (a revoked timestamp must be seen).
    pub async fn trusted_root(&self) -> Result<Arc<TrustRoot>, TufError> {
        let asked = Instant::now();
        let mut latest = self.latest.lock().await;
        if let Some(update) = latest.as_ref().filter(|u| u.started >= asked) {
            return update.result.clone();
        }
        let started = Instant::now();
        let result = self.update().await.map(Arc::new);
        if let Err(e) = &result {
            tracing::warn!(error = %e, "TUF update failed");
        }
        *latest = Some(Update {
            started,
            result: result.clone(),
        });
        result
    }

    async fn update(&self) -> Result<TrustRoot, TufError> {
        let mirror = self.mirror.to_string();
        let cache_error = |reason: String| TufError::Cache {
            path: self.cache.display().to_string(),
            reason,
        };
        tokio::fs::create_dir_all(&self.cache)
            .await
            .map_err(|e| cache_error(e.to_string()))?;
        let cached = match tokio::fs::read(self.cache.join("root.json")).await {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(cache_error(e.to_string())),
        };
        let root = starting_root(&self.initial_root, cached.as_deref());
        let targets = self.mirror.join("targets/").expect("a relative path joins");
        let repository = RepositoryLoader::new(&root, self.mirror.clone(), targets)
            .datastore(&self.cache)
            .load()
            .await
            .map_err(|e| TufError::Update {
                mirror: mirror.clone(),
                reason: update_failure(&e),
            })?;
        let target_error = |reason: String| TufError::Target {
            mirror: mirror.clone(),
            reason,
        };
        let name = TargetName::new(TARGET).expect("a valid target name");
        // tough checks the length and hashes the targets metadata gives for the target.
        let bytes = repository
            .read_target(&name)
            .await
            .map_err(|e| target_error(error_chain(&e)))?
            .ok_or_else(|| target_error("the repository has no such target".into()))?
            .into_vec()
            .await
            .map_err(|e| target_error(error_chain(&e)))?;
        let trust_root = TrustRoot::from_json(&bytes)
            .map_err(|reason| TufError::TrustedRoot { mirror, reason })?;
        tracing::debug!(
            root_version = repository.root().signed.version.get(),
            timestamp_version = repository.timestamp().signed.version.get(),
            "trusted root updated through TUF"
        );
        Ok(trust_root)
    }
}

/// Why an update failed. tough reads any failure to fetch the next root version as "no newer
/// root", so an unreachable mirror shows as an expired root when the starting root is old.
fn update_failure(error: &tough::error::Error) -> String {
    let reason = error_chain(error);
    match error {
        tough::error::Error::ExpiredMetadata {
            role: RoleType::Root,
            ..
        } => format!("{reason} (and no newer root version could be fetched from the mirror)"),
        _ => reason,
    }
}

/// A root document signed by its own root keys; its version.
fn verified_root(bytes: &[u8]) -> Result<u64, String> {
    let root: Signed<Root> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    root.signed
        .verify_role(&root)
        .map_err(|e| error_chain(&e))?;
    Ok(root.signed.version.get())
}

/// Where an update starts: the root the last update verified (it may have rotated since the
/// initial one), unless it is missing, damaged or older than the initial root.
fn starting_root(initial: &[u8], cached: Option<&[u8]>) -> Vec<u8> {
    let initial_version = verified_root(initial).unwrap_or(0);
    match cached {
        Some(cached) if verified_root(cached).is_ok_and(|v| v > initial_version) => cached.to_vec(),
        _ => initial.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_version(root: &[u8], version: u64) -> Vec<u8> {
        let mut json: serde_json::Value = serde_json::from_slice(root).unwrap();
        json["signed"]["version"] = version.into();
        serde_json::to_vec(&json).unwrap()
    }

    #[test]
    fn the_embedded_root_is_the_public_good_root() {
        assert_eq!(verified_root(PUBLIC_GOOD_ROOT), Ok(12));
    }

    #[test]
    fn an_update_starts_from_a_newer_verified_cached_root_only() {
        let initial = PUBLIC_GOOD_ROOT;
        assert_eq!(starting_root(initial, None), initial);
        assert_eq!(starting_root(initial, Some(b"{}")), initial);
        // Same version: nothing to gain.
        assert_eq!(starting_root(initial, Some(initial)), initial);
        // A changed version breaks the signatures: not trusted.
        let tampered = with_version(initial, 13);
        assert!(verified_root(&tampered).is_err());
        assert_eq!(starting_root(initial, Some(&tampered)), initial);
    }

    #[test]
    fn bad_roots_and_mirrors_fail_at_start_naming_the_flag_value() {
        let dir = tempfile::tempdir().unwrap();
        let err = SigstoreTuf::new("ftp://mirror", None, dir.path())
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "invalid TUF mirror URL 'ftp://mirror': the scheme must be https, http or file"
        );
        let file = dir.path().join("root.json");
        std::fs::write(&file, with_version(PUBLIC_GOOD_ROOT, 13)).unwrap();
        let err = SigstoreTuf::new(PUBLIC_GOOD_MIRROR, Some(&file), dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with(&format!("invalid TUF root '{}': ", file.display())),
            "{err}"
        );
    }

    #[test]
    fn each_mirror_has_its_own_cache() {
        let dir = tempfile::tempdir().unwrap();
        let a = SigstoreTuf::new("http://127.0.0.1:1", None, dir.path()).unwrap();
        let b = SigstoreTuf::new("http://127.0.0.1:2/", None, dir.path()).unwrap();
        assert_eq!(a.mirror.as_str(), "http://127.0.0.1:1/");
        assert_ne!(a.cache, b.cache);
        assert!(a.cache.starts_with(dir.path().join(".tuf")));
    }

    #[tokio::test]
    async fn an_unreachable_mirror_fails_closed_naming_the_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mirror = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let tuf = SigstoreTuf::new(&mirror, None, dir.path()).unwrap();
        let err = tuf.trusted_root().await.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("updating the TUF metadata from {mirror}/: ")),
            "{err}"
        );
        assert!(
            err.contains("13.root.json") && err.contains("Connection refused"),
            "{err}"
        );
    }
}
