//! Flux's OCI artifact format and a registry client for it (`fluxcd/pkg/oci`).

mod auth;
mod bridge;
mod client;
mod format;
pub mod semver;
mod url;

pub use auth::Credentials;
pub use client::{
    ClientOptions, OciError, Progress, PulledLayer, PushedArtifact, RegistryClient, error_chain,
};
pub use format::{ArtifactMetadata, Descriptor, Manifest, config_blob, manifest_bytes};
pub use url::{ArtifactUrl, UrlError};

/// Media type of the artifact's config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
/// Media type of the artifact's single tar+gzip layer.
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
/// Media type of the manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's manifest media type, accepted when reading.
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
pub const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
pub const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";

/// Tags cosign writes next to an artifact (`sha256-<hex>.sig`, `.att`, `.sbom`).
pub fn is_cosign_tag(tag: &str) -> bool {
    [".sig", ".att", ".sbom"]
        .iter()
        .any(|suffix| tag.ends_with(suffix))
}
