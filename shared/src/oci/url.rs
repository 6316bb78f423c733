use std::fmt;
use std::str::FromStr;

use oci_client::Reference;

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("invalid URL {url:?}: must start with oci://")]
    MissingScheme { url: String },
    #[error("invalid URL {url:?}: {reason}")]
    Invalid { url: String, reason: String },
}

/// An `oci://<registry>/<repository>[:tag|@digest]` address as the flux CLI takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactUrl {
    reference: Reference,
    explicit_tag: bool,
}

impl ArtifactUrl {
    /// The parsed reference; a URL without tag or digest refers to `latest`.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// `<registry>/<repository>`.
    pub fn repository_url(&self) -> String {
        format!(
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        )
    }

    pub fn registry(&self) -> &str {
        self.reference.registry()
    }

    pub fn tag(&self) -> Option<&str> {
        self.reference.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.reference.digest()
    }

    /// Whether the URL itself names a tag (rather than defaulting to `latest`).
    pub fn has_explicit_tag(&self) -> bool {
        self.explicit_tag
    }

    /// The same repository at another tag.
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            reference: Reference::with_tag(
                self.reference.registry().to_owned(),
                self.reference.repository().to_owned(),
                tag.to_owned(),
            ),
            explicit_tag: true,
        }
    }

    /// The same repository at a digest.
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            reference: Reference::with_digest(
                self.reference.registry().to_owned(),
                self.reference.repository().to_owned(),
                digest.to_owned(),
            ),
            explicit_tag: false,
        }
    }
}

impl FromStr for ArtifactUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let rest = url
            .strip_prefix("oci://")
            .ok_or_else(|| UrlError::MissingScheme {
                url: url.to_owned(),
            })?;
        let reference = Reference::from_str(rest).map_err(|e| UrlError::Invalid {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let last_segment = rest.rsplit('/').next().unwrap_or_default();
        let explicit_tag = last_segment.contains(':') && reference.digest().is_none();
        Ok(Self {
            reference,
            explicit_tag,
        })
    }
}

impl fmt::Display for ArtifactUrl {
    /// `<registry>/<repository>[:tag][@digest]`, without the scheme, as Flux prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository_url())?;
        if let Some(tag) = self.reference.tag() {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = self.reference.digest() {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_defaults() {
        let url: ArtifactUrl = "oci://127.0.0.1:5000/apps/podinfo:v1".parse().unwrap();
        assert_eq!(url.registry(), "127.0.0.1:5000");
        assert_eq!(url.repository_url(), "127.0.0.1:5000/apps/podinfo");
        assert_eq!(url.tag(), Some("v1"));
        assert!(url.has_explicit_tag());

        let url: ArtifactUrl = "oci://127.0.0.1:5000/apps/podinfo".parse().unwrap();
        assert_eq!(url.tag(), Some("latest"));
        assert!(!url.has_explicit_tag());

        let digest = format!("sha256:{}", "a".repeat(64));
        let url: ArtifactUrl = format!("oci://localhost:5000/p@{digest}").parse().unwrap();
        assert_eq!(url.digest(), Some(digest.as_str()));
        assert_eq!(url.to_string(), format!("localhost:5000/p@{digest}"));
    }

    #[test]
    fn refuses_urls_without_the_scheme_or_with_junk() {
        let err = "127.0.0.1:5000/podinfo:v1"
            .parse::<ArtifactUrl>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid URL \"127.0.0.1:5000/podinfo:v1\": must start with oci://"
        );
        assert!("oci://UPPER/Case:tag".parse::<ArtifactUrl>().is_err());
    }
}
