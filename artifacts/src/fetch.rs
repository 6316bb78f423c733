//! Fetching an artifact a source advertises (`fluxcd/pkg/http/fetch`): download with retries,
//! check the digest, then extract safely. Used by the controllers that consume sources.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;

use crate::archive::{self, ArchiveError, DigestWriter, ExtractLimits};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source has no such artifact (yet): callers requeue rather than fail.
    #[error("artifact not found at '{0}'")]
    NotFound(String),
    #[error("failed to download artifact from '{url}' after {attempts} attempts: {reason}")]
    Download {
        url: String,
        attempts: u32,
        reason: String,
    },
    #[error("artifact from '{url}' is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error(
        "failed to verify artifact: computed digest doesn't match provided '{expected}' (got '{actual}')"
    )]
    DigestMismatch { expected: String, actual: String },
    #[error("failed to extract artifact: {0}")]
    Extract(#[from] ArchiveError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Copy, Debug)]
pub struct FetchOptions {
    /// Retries after the first attempt (`--http-retry`).
    pub retries: u32,
    /// Bound on the download, and on what it expands to.
    pub limits: ExtractLimits,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            retries: 9,
            limits: ExtractLimits::default(),
        }
    }
}

/// Downloads `url`, checks it against `digest` (`<algo>:<hex>`, or bare hex for sha256), and
/// extracts it into `dest`. Nothing is extracted unless the digest matches.
pub async fn fetch_and_extract(
    http: &reqwest::Client,
    url: &str,
    digest: &str,
    dest: &Path,
    options: FetchOptions,
) -> Result<(), FetchError> {
    std::fs::create_dir_all(dest)?;
    let download =
        download_verified(http, url, digest, dest.parent().unwrap_or(dest), options).await?;
    let file = download.reopen()?;
    let dest = dest.to_owned();
    let limits = options.limits;
    tokio::task::spawn_blocking(move || {
        archive::extract_tar_gz(std::io::BufReader::new(file), &dest, limits)
    })
    .await
    .map_err(|e| FetchError::Io(std::io::Error::other(e)))??;
    Ok(())
}

/// Downloads `url` and checks it against `digest`; returns the bytes (for small artifacts
/// read whole, such as Helm charts).
pub async fn fetch_verified(
    http: &reqwest::Client,
    url: &str,
    digest: &str,
    options: FetchOptions,
) -> Result<Vec<u8>, FetchError> {
    let download = download_verified(http, url, digest, &std::env::temp_dir(), options).await?;
    Ok(std::fs::read(download.path())?)
}

/// Downloads `url` into a temporary file in `dir` with retries, and checks its digest.
async fn download_verified(
    http: &reqwest::Client,
    url: &str,
    digest: &str,
    dir: &Path,
    options: FetchOptions,
) -> Result<tempfile::NamedTempFile, FetchError> {
    let expected = if digest.contains(':') {
        digest.to_owned()
    } else {
        format!("sha256:{digest}")
    };
    if !expected.starts_with("sha256:") {
        return Err(FetchError::DigestMismatch {
            expected,
            actual: "unsupported digest algorithm".to_owned(),
        });
    }
    let download = tempfile::NamedTempFile::new_in(dir)?;
    let mut delay = Duration::from_millis(500);
    let mut attempt = 0;
    let actual = loop {
        attempt += 1;
        match download_once(http, url, download.as_file(), options.limits.max_bytes).await {
            Ok(actual) => break actual,
            Err(Attempt::Final(e)) => return Err(e),
            Err(Attempt::Retry(reason)) if attempt > options.retries => {
                return Err(FetchError::Download {
                    url: url.to_owned(),
                    attempts: attempt,
                    reason,
                });
            }
            Err(Attempt::Retry(reason)) => {
                tracing::debug!(url, attempt, reason, "artifact download failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    if actual != expected {
        return Err(FetchError::DigestMismatch { expected, actual });
    }
    Ok(download)
}

enum Attempt {
    Retry(String),
    Final(FetchError),
}

async fn download_once(
    http: &reqwest::Client,
    url: &str,
    file: &std::fs::File,
    max_bytes: u64,
) -> Result<String, Attempt> {
    let mut file = file.try_clone().map_err(|e| Attempt::Final(e.into()))?;
    file.set_len(0).map_err(|e| Attempt::Final(e.into()))?;
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| Attempt::Retry(e.to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(Attempt::Final(FetchError::NotFound(url.to_owned())));
    }
    if !status.is_success() {
        return Err(Attempt::Retry(format!("HTTP {status}")));
    }
    if response.content_length().is_some_and(|len| len > max_bytes) {
        return Err(Attempt::Final(FetchError::TooLarge {
            url: url.to_owned(),
            limit: max_bytes,
        }));
    }
    let mut writer = DigestWriter::new(std::io::BufWriter::new(&mut file));
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Attempt::Retry(e.to_string()))?;
        writer
            .write_all(&chunk)
            .map_err(|e| Attempt::Final(e.into()))?;
        if writer.written() > max_bytes {
            return Err(Attempt::Final(FetchError::TooLarge {
                url: url.to_owned(),
                limit: max_bytes,
            }));
        }
    }
    let (buffered, digest, _) = writer.finish();
    buffered
        .into_inner()
        .map_err(|e| Attempt::Final(e.into_error().into()))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sourceignore::IgnoreRules;
    use crate::storage::{Retention, Storage};

    async fn serve(storage: &Storage) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new()
            .fallback_service(tower_http::services::ServeDir::new(storage.root()));
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    fn stored(storage: &Storage) -> (String, String) {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("deploy")).unwrap();
        std::fs::write(src.path().join("deploy/cm.yaml"), "kind: ConfigMap\n").unwrap();
        let path = "ocirepository/ns/app/sha256:1.tar.gz";
        let rules = IgnoreRules::new(src.path(), Vec::<String>::new()).unwrap();
        let digest = storage
            .archive_dir(path, src.path(), &rules)
            .unwrap()
            .digest;
        (path.to_owned(), digest)
    }

    #[tokio::test]
    async fn fetches_verifies_and_extracts_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::new(dir.path().join("store"), "unused", Retention::default()).unwrap();
        let (path, digest) = stored(&storage);
        let base = serve(&storage).await;
        let http = reqwest::Client::new();
        let out = dir.path().join("out");
        let options = FetchOptions {
            retries: 0,
            ..FetchOptions::default()
        };
        fetch_and_extract(&http, &format!("{base}/{path}"), &digest, &out, options)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("deploy/cm.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );

        // A bare hex digest means sha256.
        let bare = digest.trim_start_matches("sha256:");
        fetch_and_extract(
            &http,
            &format!("{base}/{path}"),
            bare,
            &dir.path().join("out2"),
            options,
        )
        .await
        .unwrap();

        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = fetch_and_extract(
            &http,
            &format!("{base}/{path}"),
            &wrong,
            &dir.path().join("out3"),
            options,
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "failed to verify artifact: computed digest doesn't match provided '{wrong}'"
            )),
            "{err}"
        );
        assert!(
            !dir.path().join("out3/deploy").exists(),
            "nothing extracted from an unverified download"
        );

        let err = fetch_and_extract(
            &http,
            &format!("{base}/missing.tar.gz"),
            &digest,
            &dir.path().join("out4"),
            options,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::NotFound(_)), "{err}");

        let tight = FetchOptions {
            retries: 0,
            limits: ExtractLimits {
                max_bytes: 10,
                ..ExtractLimits::default()
            },
        };
        let err = fetch_and_extract(
            &http,
            &format!("{base}/{path}"),
            &digest,
            &dir.path().join("out5"),
            tight,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn unreachable_sources_are_retried_then_reported() {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let http = reqwest::Client::new();
        let options = FetchOptions {
            retries: 1,
            ..FetchOptions::default()
        };
        let url = format!("http://127.0.0.1:{port}/a.tar.gz");
        let err = fetch_and_extract(&http, &url, "sha256:00", dir.path(), options)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Download { attempts: 2, .. }),
            "{err}"
        );
    }
}
