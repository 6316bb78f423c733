//! The scanned tags, kept on disk rather than in memory: one file per ImageRepository,
//! `imagerepository/<namespace>/<name>/tags.txt` (one tag per line), gzipped as `tags.txt.gz`
//! from 64 KiB on, as Flux's file storage writes them. Writes are atomic; the store is a cache
//! a restart may keep or lose.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

const PLAIN: &str = "tags.txt";
const GZIPPED: &str = "tags.txt.gz";
/// From this size on the list is stored gzipped.
const COMPRESSION_THRESHOLD: usize = 64 << 10;
/// A stored list longer than this is refused: tags are at most 128 characters, and no real
/// repository has millions.
const MAX_STORED_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct TagStoreError {
    action: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

#[derive(Clone, Debug)]
pub struct TagStore {
    root: PathBuf,
}

impl TagStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn dir(&self, namespace: &str, name: &str) -> PathBuf {
        self.root.join("imagerepository").join(namespace).join(name)
    }

    /// Stores `tags` (already sorted) for the ImageRepository and returns the revision:
    /// `sha256:<hex>` of the newline-terminated list.
    pub fn set(
        &self,
        namespace: &str,
        name: &str,
        tags: &[String],
    ) -> Result<String, TagStoreError> {
        let dir = self.dir(namespace, name);
        let err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| TagStoreError {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(&dir).map_err(err("creating", &dir))?;
        let mut content = String::with_capacity(tags.iter().map(|t| t.len() + 1).sum());
        for tag in tags {
            content.push_str(tag);
            content.push('\n');
        }
        let revision = format!("sha256:{}", hex::encode(Sha256::digest(content.as_bytes())));
        let (file, other) = if content.len() >= COMPRESSION_THRESHOLD {
            (GZIPPED, PLAIN)
        } else {
            (PLAIN, GZIPPED)
        };
        let path = dir.join(file);
        let mut temp =
            tempfile::NamedTempFile::new_in(&dir).map_err(err("creating a file in", &dir))?;
        if file == GZIPPED {
            let mut encoder = GzEncoder::new(temp.as_file_mut(), Compression::best());
            encoder
                .write_all(content.as_bytes())
                .map_err(err("writing", &path))?;
            encoder.finish().map_err(err("writing", &path))?;
        } else {
            temp.write_all(content.as_bytes())
                .map_err(err("writing", &path))?;
        }
        temp.as_file().sync_all().map_err(err("writing", &path))?;
        temp.persist(&path).map_err(|e| TagStoreError {
            action: "replacing",
            path: path.clone(),
            source: e.error,
        })?;
        match std::fs::remove_file(dir.join(other)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(err("removing", &dir.join(other))(e));
            }
            _ => {}
        }
        Ok(revision)
    }

    /// The stored tags in stored order; empty when nothing was stored.
    pub fn get(&self, namespace: &str, name: &str) -> Result<Vec<String>, TagStoreError> {
        let dir = self.dir(namespace, name);
        let (plain, gzipped) = (dir.join(PLAIN), dir.join(GZIPPED));
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let is_gzipped = match (modified(&plain), modified(&gzipped)) {
            (None, None) => return Ok(Vec::new()),
            (Some(p), Some(g)) => g > p,
            (Some(_), None) => false,
            (None, Some(_)) => true,
        };
        let path = if is_gzipped { gzipped } else { plain };
        let err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| TagStoreError {
                action,
                path,
                source,
            }
        };
        let file = std::fs::File::open(&path).map_err(err("opening", &path))?;
        let reader: Box<dyn Read> = if is_gzipped {
            Box::new(GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut tags = Vec::new();
        for line in BufReader::new(reader.take(MAX_STORED_BYTES)).lines() {
            let line = line.map_err(err("reading", &path))?;
            if !line.is_empty() {
                tags.push(line);
            }
        }
        Ok(tags)
    }

    /// Forgets the ImageRepository's tags.
    pub fn remove(&self, namespace: &str, name: &str) -> Result<(), TagStoreError> {
        let dir = self.dir(namespace, name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TagStoreError {
                action: "removing",
                path: dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_lists_are_plain_and_large_ones_gzipped_with_the_same_revision_rule() {
        let dir = tempfile::tempdir().unwrap();
        let store = TagStore::new(dir.path());
        let tags: Vec<String> = ["6.2.0", "6.1.1", "6.1.0"].map(String::from).into();
        let revision = store.set("flux-system", "podinfo", &tags).unwrap();
        assert_eq!(
            revision,
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(b"6.2.0\n6.1.1\n6.1.0\n"))
            )
        );
        let stored = dir.path().join("imagerepository/flux-system/podinfo");
        assert_eq!(
            std::fs::read_to_string(stored.join(PLAIN)).unwrap(),
            "6.2.0\n6.1.1\n6.1.0\n"
        );
        assert_eq!(store.get("flux-system", "podinfo").unwrap(), tags);

        let many: Vec<String> = (0..20_000).map(|i| format!("1.0.{i}")).collect();
        store.set("flux-system", "podinfo", &many).unwrap();
        assert!(stored.join(GZIPPED).exists());
        assert!(!stored.join(PLAIN).exists());
        assert_eq!(store.get("flux-system", "podinfo").unwrap(), many);

        store.set("flux-system", "podinfo", &tags).unwrap();
        assert!(!stored.join(GZIPPED).exists());
        assert_eq!(store.get("flux-system", "podinfo").unwrap(), tags);

        store.remove("flux-system", "podinfo").unwrap();
        assert!(store.get("flux-system", "podinfo").unwrap().is_empty());
        store.remove("flux-system", "podinfo").unwrap();
    }
}
