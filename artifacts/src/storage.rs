//! The artifact store (`fluxcd/pkg/artifact/storage`): files laid out as
//! `<kind>/<namespace>/<name>/<file>` under a root, written atomically under a per-file lock,
//! checked against their digest, garbage-collected, and served over HTTP.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::archive::{self, ArchiveError, DigestWriter, ModePolicy, TarOptions};
use crate::sourceignore::IgnoreRules;
use api::meta::Artifact;

/// The symlink that always points to an object's newest artifact.
pub const LATEST: &str = "latest.tar.gz";
const LOCK_SUFFIX: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("invalid artifact path {0:?}")]
    InvalidPath(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// How many old artifacts an object keeps, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Non-current files older than this are deleted (`--artifact-retention-ttl`).
    pub ttl: Duration,
    /// At most this many files are kept, the current one included
    /// (`--artifact-retention-records`).
    pub records: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            records: 2,
        }
    }
}

/// A file just written into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// `sha256:<hex>` of the stored bytes.
    pub digest: String,
    pub size: u64,
}

/// The outcome of checking a stored artifact against its recorded digest.
#[derive(Debug, PartialEq, Eq)]
pub enum Integrity {
    Ok,
    Missing,
    /// The file's bytes no longer match: it was deleted.
    Corrupt {
        actual: String,
    },
}

#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
    /// Base URL artifacts are advertised under, e.g. `http://source-controller.flux-system.svc.cluster.local.`.
    base_url: String,
    retention: Retention,
}

impl Storage {
    /// A store rooted at `root`. `advertised` is `--storage-adv-addr`: a host[:port] (given
    /// `http://`) or a URL.
    pub fn new(
        root: impl Into<PathBuf>,
        advertised: &str,
        retention: Retention,
    ) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_at(&root))?;
        let base = if advertised.contains("://") {
            advertised.to_owned()
        } else {
            format!("http://{advertised}")
        };
        Ok(Self {
            root,
            base_url: base.trim_end_matches('/').to_owned(),
            retention,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<lowercase kind>/<namespace>/<name>/<file>`.
    pub fn artifact_path(kind: &str, namespace: &str, name: &str, file: &str) -> String {
        format!("{}/{namespace}/{name}/{file}", kind.to_lowercase())
    }

    /// The advertised URL of a path in the store.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }

    /// Points the artifact's URL at this store's advertised address (which may have changed
    /// since it was written).
    pub fn set_url(&self, artifact: &mut Artifact) {
        artifact.url = self.url_for(&artifact.path);
    }

    fn local(&self, path: &str) -> Result<PathBuf, StorageError> {
        let relative = Path::new(path);
        let safe = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe || path.is_empty() {
            return Err(StorageError::InvalidPath(path.to_owned()));
        }
        Ok(self.root.join(relative))
    }

    /// Archives `dir` into the store at `path` (modes normalised, as source-controller does).
    pub fn archive_dir(
        &self,
        path: &str,
        dir: &Path,
        rules: &IgnoreRules,
    ) -> Result<Stored, StorageError> {
        let options = TarOptions {
            modes: ModePolicy::Normalise,
            resolve_symlinks: false,
            parallel: false,
        };
        self.write_atomically(path, |file| {
            let (writer, _) = archive::write_tar_gz(dir, rules, options, file)?;
            Ok(writer)
        })
    }

    /// Stores a file's bytes unchanged at `path`.
    pub fn copy_file(&self, path: &str, source: &Path) -> Result<Stored, StorageError> {
        self.write_atomically(path, |mut writer| {
            let mut input = File::open(source).map_err(io_at(source))?;
            io::copy(&mut input, &mut writer).map_err(io_at(source))?;
            Ok(writer)
        })
    }

    /// Stores `bytes` at `path`.
    pub fn store_bytes(&self, path: &str, bytes: &[u8]) -> Result<Stored, StorageError> {
        let target = self.local(path)?;
        self.write_atomically(path, |mut writer| {
            io::Write::write_all(&mut writer, bytes).map_err(io_at(&target))?;
            Ok(writer)
        })
    }

    /// Writes through `fill` into a temporary file next to `path` while holding
    /// `<path>.lock`, then renames it into place: readers see the old file or the new one,
    /// never a partial one.
    fn write_atomically<F>(&self, path: &str, fill: F) -> Result<Stored, StorageError>
    where
        F: FnOnce(
            DigestWriter<BufWriter<tempfile::NamedTempFile>>,
        )
            -> Result<DigestWriter<BufWriter<tempfile::NamedTempFile>>, StorageError>,
    {
        let target = self.local(path)?;
        let dir = target.parent().expect("artifact paths have a directory");
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let _lock = Lock::acquire(&target)?;
        let temp = tempfile::NamedTempFile::new_in(dir).map_err(io_at(dir))?;
        let writer = fill(DigestWriter::new(BufWriter::new(temp)))?;
        let (buffered, digest, size) = writer.finish();
        let temp = buffered.into_inner().map_err(|e| StorageError::Io {
            path: target.clone(),
            source: e.into_error(),
        })?;
        temp.as_file().sync_all().map_err(io_at(&target))?;
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o600))
            .map_err(io_at(&target))?;
        temp.persist(&target).map_err(|e| StorageError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        Ok(Stored { digest, size })
    }

    /// Points `<dir>/latest.tar.gz` at the artifact (a new symlink renamed over the old one)
    /// and returns the link's advertised URL.
    pub fn symlink_latest(&self, artifact_path: &str) -> Result<String, StorageError> {
        let target = self.local(artifact_path)?;
        let dir = target.parent().expect("artifact paths have a directory");
        let file_name = target.file_name().expect("artifact paths name a file");
        let link = dir.join(LATEST);
        let temp = dir.join(format!("{LATEST}.tmp"));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(file_name, &temp).map_err(io_at(&temp))?;
        fs::rename(&temp, &link).map_err(io_at(&link))?;
        let (dir_path, _) = artifact_path
            .rsplit_once('/')
            .expect("artifact paths have a directory");
        Ok(self.url_for(&format!("{dir_path}/{LATEST}")))
    }

    /// Whether the stored file still has the recorded digest; a corrupt file is deleted so
    /// that it is rebuilt rather than served.
    pub fn verify(&self, artifact: &Artifact) -> Result<Integrity, StorageError> {
        let path = self.local(&artifact.path)?;
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Integrity::Missing),
            Err(e) => return Err(StorageError::Io { path, source: e }),
        };
        if !meta.is_file() {
            fs::remove_file(&path).map_err(io_at(&path))?;
            return Ok(Integrity::Corrupt {
                actual: "not a regular file".to_owned(),
            });
        }
        let actual = archive::sha256_digest(File::open(&path).map_err(io_at(&path))?)
            .map_err(io_at(&path))?;
        if artifact.digest.as_deref() == Some(actual.as_str()) {
            return Ok(Integrity::Ok);
        }
        fs::remove_file(&path).map_err(io_at(&path))?;
        Ok(Integrity::Corrupt { actual })
    }

    /// Deletes an object's old artifacts: every non-current file older than the TTL, then the
    /// oldest beyond the record count. Returns what was deleted.
    pub fn garbage_collect(&self, current_path: &str) -> Result<Vec<PathBuf>, StorageError> {
        let current = self.local(current_path)?;
        let dir = current.parent().expect("artifact paths have a directory");
        let now = SystemTime::now();
        let mut files: Vec<(PathBuf, SystemTime)> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&path).map_err(io_at(&path))?;
            if !meta.is_file() || name.ends_with(LOCK_SUFFIX) || path == current {
                continue;
            }
            files.push((path, meta.modified().map_err(io_at(dir))?));
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.1));
        let keep_others = self.retention.records.saturating_sub(1);
        let mut deleted = Vec::new();
        for (index, (path, modified)) in files.into_iter().enumerate() {
            let expired = now.duration_since(modified).unwrap_or_default() > self.retention.ttl;
            if expired || index >= keep_others {
                let _lock = Lock::acquire(&path)?;
                fs::remove_file(&path).map_err(io_at(&path))?;
                deleted.push(path.clone());
                drop(_lock);
                let _ = fs::remove_file(lock_path(&path));
            }
        }
        Ok(deleted)
    }

    /// Removes everything stored for an object.
    pub fn remove_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), StorageError> {
        let dir = self.local(&format!("{}/{namespace}/{name}", kind.to_lowercase()))?;
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StorageError::Io {
                path: dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// The local file behind an artifact path.
    pub fn file(&self, artifact_path: &str) -> Result<PathBuf, StorageError> {
        self.local(artifact_path)
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(LOCK_SUFFIX);
    PathBuf::from(name)
}

/// An exclusive `flock` on `<file>.lock`, released on drop.
struct Lock(File);

impl Lock {
    fn acquire(path: &Path) -> Result<Self, StorageError> {
        let lock = lock_path(path);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(io_at(&lock))?;
        file.lock().map_err(io_at(&lock))?;
        Ok(Self(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(retention: Retention) -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(
            dir.path().join("data"),
            "source-controller.flux-system.svc.cluster.local.",
            retention,
        )
        .unwrap();
        (dir, storage)
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.yaml"), "kind: A\n").unwrap();
        dir
    }

    #[test]
    fn paths_and_urls_follow_flux() {
        let (_d, storage) = store(Retention::default());
        let path =
            Storage::artifact_path("OCIRepository", "default", "podinfo", "sha256:abc.tar.gz");
        assert_eq!(path, "ocirepository/default/podinfo/sha256:abc.tar.gz");
        assert_eq!(
            storage.url_for(&path),
            "http://source-controller.flux-system.svc.cluster.local./ocirepository/default/podinfo/sha256:abc.tar.gz"
        );
        let with_scheme = Storage::new(
            storage.root(),
            "https://storage.example",
            Retention::default(),
        )
        .unwrap();
        assert_eq!(with_scheme.url_for("x/y"), "https://storage.example/x/y");
        assert!(matches!(
            storage.copy_file("../escape", Path::new("/dev/null")),
            Err(StorageError::InvalidPath(_))
        ));
    }

    #[test]
    fn archives_are_atomic_digested_and_linked() {
        let (_d, storage) = store(Retention::default());
        let src = tree();
        let path = "ocirepository/ns/app/sha256:1.tar.gz";
        let rules = IgnoreRules::new(src.path(), Vec::<String>::new()).unwrap();
        let stored = storage.archive_dir(path, src.path(), &rules).unwrap();
        let file = storage.file(path).unwrap();
        assert_eq!(stored.size, fs::metadata(&file).unwrap().len());
        assert_eq!(
            stored.digest,
            archive::sha256_digest(File::open(&file).unwrap()).unwrap()
        );
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let url = storage.symlink_latest(path).unwrap();
        assert!(url.ends_with("/ocirepository/ns/app/latest.tar.gz"));
        let link = file.parent().unwrap().join(LATEST);
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("sha256:1.tar.gz"));
        // Only the artifact, its lock and the link are left in the directory.
        let mut names: Vec<String> = fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["latest.tar.gz", "sha256:1.tar.gz", "sha256:1.tar.gz.lock"]
        );
    }

    #[test]
    fn verify_deletes_corrupt_files() {
        let (_d, storage) = store(Retention::default());
        let src = tree();
        let path = "ocirepository/ns/app/sha256:2.tar.gz";
        let rules = IgnoreRules::new(src.path(), Vec::<String>::new()).unwrap();
        let stored = storage.archive_dir(path, src.path(), &rules).unwrap();
        let artifact = Artifact {
            path: path.into(),
            digest: Some(stored.digest),
            ..Artifact::default()
        };
        assert_eq!(storage.verify(&artifact).unwrap(), Integrity::Ok);
        fs::write(storage.file(path).unwrap(), b"tampered").unwrap();
        assert!(matches!(
            storage.verify(&artifact).unwrap(),
            Integrity::Corrupt { .. }
        ));
        assert!(!storage.file(path).unwrap().exists());
        assert_eq!(storage.verify(&artifact).unwrap(), Integrity::Missing);
    }

    #[test]
    fn garbage_collection_keeps_the_current_and_the_newest_records() {
        let (_d, storage) = store(Retention {
            ttl: Duration::from_secs(3600),
            records: 2,
        });
        let src = tree();
        for i in 0..4 {
            storage
                .copy_file(
                    &format!("ocirepository/ns/app/{i}.tar.gz"),
                    &src.path().join("a.yaml"),
                )
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let deleted = storage
            .garbage_collect("ocirepository/ns/app/1.tar.gz")
            .unwrap();
        let mut names: Vec<String> = deleted
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // Current (1) plus the newest other (3) stay.
        assert_eq!(names, ["0.tar.gz", "2.tar.gz"]);

        let (_d, storage) = store(Retention {
            ttl: Duration::ZERO,
            records: 10,
        });
        storage
            .copy_file(
                "ocirepository/ns/app/old.tar.gz",
                &src.path().join("a.yaml"),
            )
            .unwrap();
        storage
            .copy_file(
                "ocirepository/ns/app/new.tar.gz",
                &src.path().join("a.yaml"),
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(10));
        let deleted = storage
            .garbage_collect("ocirepository/ns/app/new.tar.gz")
            .unwrap();
        assert_eq!(
            deleted.len(),
            1,
            "expired files go whatever the record count"
        );
        storage.remove_object("OCIRepository", "ns", "app").unwrap();
        assert!(!storage.root().join("ocirepository/ns/app").exists());
    }
}
