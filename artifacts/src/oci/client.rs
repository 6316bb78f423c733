//! A registry client for Flux artifacts on top of `oci-client`: streaming pushes and pulls
//! with digest checks, size limits, timeouts and retries of transient failures.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use oci_client::Client;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::secrets::RegistryAuth;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::transport::{ClientCertificate, Proxy, TlsMaterial};

use super::bridge::IdentityBridge;
use super::format::{ArtifactMetadata, Descriptor, Manifest, config_blob, manifest_bytes};
use super::{
    ArtifactUrl, CONTENT_MEDIA_TYPE, Credentials, DOCKER_MANIFEST_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};

/// Called with the number of bytes moved since the last call.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientOptions {
    pub credentials: Credentials,
    /// Plain HTTP and unverified TLS (`--insecure-registry`, `spec.insecure`).
    pub insecure: bool,
    /// Bound on a whole operation, retries included.
    pub timeout: Duration,
    /// Bound on a manifest or layer read from the registry.
    pub max_blob_size: u64,
    /// Extra PEM CA certificates to trust (`certSecretRef`'s `ca.crt`).
    pub ca_pem: Option<Vec<u8>>,
    /// Proxy URL, credentials included (`proxySecretRef`).
    pub proxy: Option<String>,
    /// A TLS client certificate to present (`certSecretRef`'s `tls.crt` and `tls.key`).
    pub client_certificate: Option<ClientCertificate>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            credentials: Credentials::Anonymous,
            insecure: false,
            timeout: Duration::from_secs(300),
            max_blob_size: 4 << 30,
            ca_pem: None,
            proxy: None,
            client_certificate: None,
        }
    }
}

/// The most tags a repository listing returns before it is refused.
pub const MAX_TAGS: usize = 250_000;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("listing the tags of '{target}': more than {limit} tags")]
    TooManyTags { target: String, limit: usize },
    #[error("{op} '{target}' failed: {message}")]
    Registry {
        op: &'static str,
        target: String,
        message: String,
        transient: bool,
    },
    #[error("{op} '{target}' failed: 401 Unauthorized: {message}")]
    Unauthorized {
        op: &'static str,
        target: String,
        message: String,
    },
    #[error("'{target}' not found: {message}")]
    NotFound { target: String, message: String },
    #[error("digest mismatch for '{target}': expected {expected}, got {actual}")]
    DigestMismatch {
        target: String,
        expected: String,
        actual: String,
    },
    #[error("'{target}' is larger than the limit of {limit} bytes")]
    TooLarge { target: String, limit: u64 },
    #[error("'{target}' is not a Flux artifact: {reason}")]
    NotAnArtifact { target: String, reason: String },
    #[error("{op} '{target}' timed out after {after:?}")]
    Timeout {
        op: &'static str,
        target: String,
        after: Duration,
    },
    #[error("presenting the client certificate to '{registry}': {reason}")]
    ClientCertificate { registry: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl OciError {
    fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Registry {
                transient: true,
                ..
            }
        )
    }
}

/// The outcome of a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedArtifact {
    /// `sha256:<hex>` of the manifest.
    pub digest: String,
    /// `<registry>/<repository>@<digest>`.
    pub url_with_digest: String,
}

/// The layer a pull wrote, and what the manifest says about it.
#[derive(Clone, Debug)]
pub struct PulledLayer {
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub layer: Descriptor,
}

pub struct RegistryClient {
    client: Client,
    auth: RegistryAuth,
    options: ClientOptions,
    http: reqwest::Client,
    /// Carries the registry requests when a client certificate is needed.
    bridge: Option<IdentityBridge>,
    /// Whether requests to the registry are plain HTTP (to it, or to the bridge).
    plain: bool,
}

const ACCEPTED_MANIFESTS: &[&str] = &[MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE];
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

impl RegistryClient {
    /// A client for `registry` (`host[:port]`), over plain HTTP when [`plain_http`] says so.
    /// With a client certificate, requests go through an [`IdentityBridge`] (which needs a
    /// Tokio runtime).
    pub fn new(registry: &str, options: ClientOptions) -> Result<Self, OciError> {
        let bridge = match &options.client_certificate {
            Some(certificate) => Some(
                upstream_client(&options, certificate)
                    .and_then(|http| {
                        IdentityBridge::start(registry, http).map_err(|e| e.to_string())
                    })
                    .map_err(|reason| OciError::ClientCertificate {
                        registry: registry.to_owned(),
                        reason,
                    })?,
            ),
            None => None,
        };
        let plain =
            bridge.is_some() || plain_http(registry, options.insecure, options.ca_pem.is_some());

        let config = ClientConfig {
            protocol: if plain {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: options.insecure,
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(60)),
            extra_root_certificates: options
                .ca_pem
                .iter()
                .map(|pem| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            https_proxy: options.proxy.clone(),
            http_proxy: bridge
                .as_ref()
                .map(|b| b.proxy_url().to_owned())
                .or_else(|| options.proxy.clone()),
            ..ClientConfig::default()
        };
        let mut http = reqwest::Client::builder()
            .danger_accept_invalid_certs(options.insecure)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(30));
        if let Some(pem) = &options.ca_pem {
            http = http
                .tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default());
        }
        let proxy = bridge
            .as_ref()
            .map(IdentityBridge::proxy_url)
            .or(options.proxy.as_deref());
        if let Some(proxy) = proxy.and_then(|p| reqwest::Proxy::all(p).ok()) {
            http = http.proxy(proxy);
        }
        let http = http.build().expect("TLS backend initialises");
        Ok(Self {
            client: Client::new(config),
            auth: options.credentials.registry_auth(),
            options,
            http,
            bridge,
            plain,
        })
    }

    /// The proxy URL that carries this client's registry requests with its client
    /// certificate (for other clients of the same registry, such as signature checks).
    pub fn bridge_proxy(&self) -> Option<&str> {
        self.bridge.as_ref().map(IdentityBridge::proxy_url)
    }

    /// Whether this client speaks plain HTTP to its registry (or to its bridge), for other
    /// clients of the same registry.
    pub fn plain_http(&self) -> bool {
        self.plain
    }

    /// Uploads the artifact's layer (a tar.gz file), its config and its manifest, tagging the
    /// manifest with the URL's tag. Blobs the registry already holds are not sent again.
    #[allow(clippy::too_many_arguments)]
    pub async fn push(
        &self,
        url: &ArtifactUrl,
        layer_path: &Path,
        layer_digest: &str,
        layer_size: u64,
        diff_id: &str,
        metadata: &ArtifactMetadata,
        progress: &Progress,
    ) -> Result<PushedArtifact, OciError> {
        let target = url.to_string();
        self.bounded("push", &target, async {
            let reference = url.reference();
            let config = config_blob(&metadata.created, diff_id);
            let config_digest =
                crate::archive::sha256_digest(&config[..]).map_err(|source| OciError::Io {
                    path: "config".into(),
                    source,
                })?;
            if !self.blob_exists(url, &config_digest).await? {
                self.retrying("upload config", &target, || {
                    self.client
                        .push_blob(reference, config.clone(), &config_digest)
                })
                .await?;
            }
            if self.blob_exists(url, layer_digest).await? {
                progress(layer_size);
            } else {
                self.retrying("upload layer", &target, || async {
                    let file = tokio::fs::File::open(layer_path).await.map_err(|e| {
                        OciDistributionError::IoError(std::io::Error::new(
                            e.kind(),
                            format!("{}: {e}", layer_path.display()),
                        ))
                    })?;
                    let progress = progress.clone();
                    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map(
                        move |chunk| {
                            if let Ok(bytes) = &chunk {
                                progress(bytes.len() as u64);
                            }
                            chunk.map_err(OciDistributionError::IoError)
                        },
                    );
                    self.client
                        .push_blob_stream(reference, stream, layer_digest, Some(layer_size))
                        .await
                })
                .await?;
            }
            let layer = Descriptor {
                media_type: CONTENT_MEDIA_TYPE.to_owned(),
                size: layer_size as i64,
                digest: layer_digest.to_owned(),
                annotations: None,
            };
            let manifest = manifest_bytes(&config, layer, metadata);
            let digest = format!("sha256:{:x}", Sha256::digest(&manifest));
            self.retrying("push manifest", &target, || {
                self.client.push_manifest_raw(
                    reference,
                    manifest.clone(),
                    MANIFEST_MEDIA_TYPE.parse().expect("valid header value"),
                )
            })
            .await?;
            Ok(PushedArtifact {
                url_with_digest: format!("{}@{digest}", url.repository_url()),
                digest,
            })
        })
        .await
    }

    /// The manifest digest a tag points to, by a HEAD request (GET as fallback).
    pub async fn resolve_digest(&self, url: &ArtifactUrl) -> Result<String, OciError> {
        if let Some(digest) = url.digest() {
            return Ok(digest.to_owned());
        }
        let target = url.to_string();
        self.bounded("resolve", &target, async {
            self.retrying("resolve", &target, || {
                self.client
                    .fetch_manifest_digest(url.reference(), &self.auth)
            })
            .await
        })
        .await
    }

    /// The manifest at `url` and its digest, checked against the digest in the URL if any.
    pub async fn fetch_manifest(&self, url: &ArtifactUrl) -> Result<(Manifest, String), OciError> {
        let target = url.to_string();
        self.bounded("fetch manifest", &target, async {
            let (raw, digest) = self.raw_manifest(url).await?;
            let manifest: Manifest =
                serde_json::from_slice(&raw).map_err(|e| OciError::NotAnArtifact {
                    target: target.clone(),
                    reason: format!("unreadable manifest: {e}"),
                })?;
            Ok((manifest, digest))
        })
        .await
    }

    async fn raw_manifest(&self, url: &ArtifactUrl) -> Result<(Vec<u8>, String), OciError> {
        let target = url.to_string();
        let (raw, header_digest) = self
            .retrying("fetch manifest", &target, || {
                self.client
                    .pull_manifest_raw(url.reference(), &self.auth, ACCEPTED_MANIFESTS)
            })
            .await?;
        if raw.len() as u64 > self.options.max_blob_size.min(4 << 20) {
            return Err(OciError::TooLarge {
                target,
                limit: 4 << 20,
            });
        }
        let digest = format!("sha256:{:x}", Sha256::digest(&raw));
        let expected = url.digest().map(str::to_owned).unwrap_or(header_digest);
        if !expected.is_empty() && expected != digest {
            return Err(OciError::DigestMismatch {
                target,
                expected,
                actual: digest,
            });
        }
        Ok((raw.to_vec(), digest))
    }

    /// Streams the artifact's first layer (or the first with `media_type`) into `out`,
    /// verifying its digest and size. Returns what was pulled.
    pub async fn pull_layer(
        &self,
        url: &ArtifactUrl,
        media_type: Option<&str>,
        out: impl AsyncWrite + Unpin,
        progress: &Progress,
    ) -> Result<PulledLayer, OciError> {
        let target = url.to_string();
        self.bounded("pull", &target, async {
            let (manifest, manifest_digest) = self.fetch_manifest(url).await?;
            let layer = match media_type {
                None => manifest.layers.first(),
                Some(wanted) => manifest.layers.iter().find(|l| l.media_type == wanted),
            }
            .cloned()
            .ok_or_else(|| OciError::NotAnArtifact {
                target: target.clone(),
                reason: match media_type {
                    None => "the manifest has no layers".to_owned(),
                    Some(m) => format!("failed to find layer with media type '{m}'"),
                },
            })?;
            self.pull_blob(url, &layer, out, progress).await?;
            Ok(PulledLayer {
                manifest_digest,
                manifest,
                layer,
            })
        })
        .await
    }

    async fn pull_blob(
        &self,
        url: &ArtifactUrl,
        layer: &Descriptor,
        mut out: impl AsyncWrite + Unpin,
        progress: &Progress,
    ) -> Result<(), OciError> {
        let target = format!("{}@{}", url.repository_url(), layer.digest);
        let limit = self.options.max_blob_size;
        if layer.size < 0 || layer.size as u64 > limit {
            return Err(OciError::TooLarge { target, limit });
        }
        let descriptor = oci_client::manifest::OciDescriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            ..Default::default()
        };
        let mut stream = self
            .retrying("pull layer", &target, || {
                self.client.pull_blob_stream(url.reference(), &descriptor)
            })
            .await?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        let io_err = |source| OciError::Io {
            path: target.clone(),
            source,
        };
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                // oci-client checks the digest as it streams and reports a mismatch this way.
                match e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<DigestError>())
                {
                    Some(DigestError::VerificationError { expected, actual }) => {
                        OciError::DigestMismatch {
                            target: target.clone(),
                            expected: expected.clone(),
                            actual: actual.clone(),
                        }
                    }
                    _ => OciError::Registry {
                        op: "pull layer",
                        target: target.clone(),
                        message: error_chain(&e),
                        transient: false,
                    },
                }
            })?;
            received += chunk.len() as u64;
            if received > limit || received > layer.size as u64 {
                return Err(OciError::TooLarge {
                    target,
                    limit: limit.min(layer.size as u64),
                });
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(io_err)?;
            progress(chunk.len() as u64);
        }
        out.flush().await.map_err(io_err)?;
        let actual = format!("sha256:{:x}", hasher.finalize());
        if actual != layer.digest {
            return Err(OciError::DigestMismatch {
                target,
                expected: layer.digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Points `tag` at the manifest `url` refers to.
    pub async fn tag(&self, url: &ArtifactUrl, tag: &str) -> Result<ArtifactUrl, OciError> {
        let target = url.to_string();
        self.bounded("tag", &target, async {
            let (raw, _) = self.raw_manifest(url).await?;
            let media_type = serde_json::from_slice::<Manifest>(&raw)
                .ok()
                .and_then(|m| m.media_type)
                .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.to_owned());
            let tagged = url.with_tag(tag);
            self.retrying("tag", &target, || {
                self.client.push_manifest_raw(
                    tagged.reference(),
                    raw.clone(),
                    media_type.parse().expect("media types are header-safe"),
                )
            })
            .await?;
            Ok(tagged)
        })
        .await
    }

    /// Every tag of the repository, following pagination (`n` and `last`). Registries that
    /// ignore them answer every page with the whole list: a page that brings no new tag ends
    /// the listing, so it cannot loop. More than [`MAX_TAGS`] tags is an error.
    pub async fn list_tags(&self, url: &ArtifactUrl) -> Result<Vec<String>, OciError> {
        const PAGE: usize = 1000;
        let target = url.repository_url();
        self.bounded("list tags", &target, async {
            let mut tags: Vec<String> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            loop {
                let last = tags.last().cloned();
                let page = self
                    .retrying("list tags", &target, || {
                        self.client.list_tags(
                            url.reference(),
                            &self.auth,
                            Some(PAGE),
                            last.as_deref(),
                        )
                    })
                    .await?;
                let full = page.tags.len() >= PAGE;
                let before = tags.len();
                for tag in page.tags {
                    if seen.insert(tag.clone()) {
                        tags.push(tag);
                    }
                }
                if tags.len() > MAX_TAGS {
                    return Err(OciError::TooManyTags {
                        target: target.clone(),
                        limit: MAX_TAGS,
                    });
                }
                if !full || tags.len() == before {
                    return Ok(tags);
                }
            }
        })
        .await
    }

    async fn blob_exists(&self, url: &ArtifactUrl, digest: &str) -> Result<bool, OciError> {
        let target = url.to_string();
        // Authenticates for push first, so that the HEAD carries the push token.
        self.retrying("authenticate", &target, || {
            self.client.auth(
                url.reference(),
                &self.auth,
                oci_client::RegistryOperation::Push,
            )
        })
        .await?;
        self.retrying("check blob", &target, || {
            self.client.blob_exists(url.reference(), digest)
        })
        .await
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        target: &str,
        work: impl Future<Output = Result<T, OciError>>,
    ) -> Result<T, OciError> {
        let after = self.options.timeout;
        tokio::time::timeout(after, work).await.unwrap_or_else(|_| {
            Err(OciError::Timeout {
                op,
                target: target.to_owned(),
                after,
            })
        })
    }

    async fn retrying<T, F, Fut>(
        &self,
        op: &'static str,
        target: &str,
        mut call: F,
    ) -> Result<T, OciError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut delays = RETRY_DELAYS.iter();
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(e) => {
                    let err = registry_error(op, target, e);
                    let err = match err {
                        OciError::Unauthorized {
                            op,
                            target,
                            message,
                        } => OciError::Unauthorized {
                            message: self.registry_message(&target).await.unwrap_or(message),
                            op,
                            target,
                        },
                        other => other,
                    };
                    match delays.next() {
                        Some(delay) if err.is_transient() => {
                            tracing::debug!(error = %err, ?delay, "retrying");
                            tokio::time::sleep(*delay).await;
                        }
                        _ => return Err(err),
                    }
                }
            }
        }
    }

    /// The registry's own words for a refusal: `oci-client` drops the body of a 401, so the
    /// manifest endpoint is asked once more to read it.
    async fn registry_message(&self, target: &str) -> Option<String> {
        let url: ArtifactUrl = format!("oci://{target}").parse().ok()?;
        let scheme = if self.plain { "http" } else { "https" };
        let reference = url.reference();
        let tag_or_digest = reference.digest().or(reference.tag()).unwrap_or("latest");
        let endpoint = format!(
            "{scheme}://{}/v2/{}/manifests/{tag_or_digest}",
            reference.resolve_registry(),
            reference.repository()
        );
        let mut request = self.http.get(endpoint);
        if let Credentials::Basic { username, password } = &self.options.credentials {
            request = request.basic_auth(username, Some(password));
        }
        let body: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
        let errors = body.get("errors")?.as_array()?;
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("message")?.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

/// The client the bridge uses towards the registry: the identity, the CA, the proxy.
fn upstream_client(
    options: &ClientOptions,
    certificate: &ClientCertificate,
) -> Result<reqwest::Client, String> {
    let tls = TlsMaterial {
        ca_pem: options.ca_pem.clone(),
        client: Some(certificate.clone()),
    };
    let proxy = options
        .proxy
        .as_deref()
        .map(|url| Proxy::from_url("proxySecretRef", url))
        .transpose()
        .map_err(|e| e.to_string())?;
    crate::transport::http_client(Some(&tls), proxy.as_ref()).map_err(|e| e.to_string())
}

/// Whether to speak plain HTTP to `registry`: with `insecure`, and, as go-containerregistry
/// does by default, to registries on this machine or a private network, unless a CA
/// (`certSecretRef`) says the registry speaks TLS.
fn plain_http(registry: &str, insecure: bool, has_ca: bool) -> bool {
    insecure || (is_local_registry(registry) && !has_ca)
}

/// Whether a registry is on this machine or a private network (RFC 1918, `*.local`).
fn is_local_registry(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "localhost" || host.ends_with(".local") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// `oci-client`'s error, reworded with the operation and the whole cause chain.
fn registry_error(op: &'static str, target: &str, err: OciDistributionError) -> OciError {
    let target = target.to_owned();
    match err {
        OciDistributionError::UnauthorizedError { .. } => OciError::Unauthorized {
            op,
            target,
            message: "authentication required".into(),
        },
        OciDistributionError::AuthenticationFailure(message) => OciError::Unauthorized {
            op,
            target,
            message,
        },
        OciDistributionError::ImageManifestNotFoundError(message) => {
            OciError::NotFound { target, message }
        }
        OciDistributionError::ServerError {
            code: 404, message, ..
        } => OciError::NotFound { target, message },
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::NameUnknown
                        | oci_client::errors::OciErrorCode::BlobUnknown
                )
            }) =>
        {
            let message = envelope
                .errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>();
            OciError::NotFound {
                target,
                message: message.join("; "),
            }
        }
        OciDistributionError::RequestError(e)
            if e.status() == Some(reqwest::StatusCode::UNAUTHORIZED) =>
        {
            OciError::Unauthorized {
                op,
                target,
                message: "authentication required".into(),
            }
        }
        OciDistributionError::DigestError(e) => OciError::DigestMismatch {
            target,
            expected: String::new(),
            actual: e.to_string(),
        },
        other => {
            let transient = match &other {
                OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
                // Nothing listening is no blip: retrying only holds the caller (a controller
                // worker) for the whole timeout; its own backoff comes back later.
                OciDistributionError::RequestError(e) => {
                    (e.is_connect() && !connection_refused(e)) || e.is_timeout()
                }
                _ => false,
            };
            OciError::Registry {
                op,
                target,
                message: error_chain(&other),
                transient,
            }
        }
    }
}

/// Whether the connection was refused (nothing listens at the address).
fn connection_refused(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// An error and its sources joined by ": ".
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{connection_refused, is_local_registry};

    #[tokio::test]
    async fn a_refused_connection_is_told_apart_from_other_failures() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let http = reqwest::Client::new();
        let refused = http
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await
            .unwrap_err();
        assert!(
            refused.is_connect() && connection_refused(&refused),
            "{refused:?}"
        );
        let invalid = http.get("http://[::1/").send().await.unwrap_err();
        assert!(!connection_refused(&invalid), "{invalid:?}");
    }

    #[test]
    fn local_registries_are_recognised() {
        for local in [
            "localhost:5000",
            "127.0.0.1:41234",
            "10.1.2.3",
            "192.168.1.1:80",
            "reg.local",
            "[::1]:5000",
        ] {
            assert!(is_local_registry(local), "{local}");
        }
        for remote in ["ghcr.io", "8.8.8.8:5000", "registry.example.com:443"] {
            assert!(!is_local_registry(remote), "{remote}");
        }
    }
}
