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
        let reference = parse_reference(rest).map_err(|reason| UrlError::Invalid {
            url: url.to_owned(),
            reason: reason.to_owned(),
        })?;
        let last_segment = rest.rsplit('/').next().unwrap_or_default();
        let explicit_tag = last_segment.contains(':') && reference.digest().is_none();
        Ok(Self {
            reference,
            explicit_tag,
        })
    }
}

/// Parses `[domain/]path[:tag][@digest]` with the grammar of the distribution project's
/// reference package, ASCII as in Go. Written out by hand because the regular expression
/// oci-spec compiles for it (Unicode `\w` repeated 128 times) costs about 15 MiB of heap for
/// the life of the process.
fn parse_reference(text: &str) -> Result<Reference, &'static str> {
    if text.is_empty() {
        return Err("repository name must have at least one component");
    }
    let (name_and_tag, digest) = match text.split_once('@') {
        Some((before, digest)) => (before, Some(digest)),
        None => (text, None),
    };
    let last_slash = name_and_tag.rfind('/');
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        _ => (name_and_tag, None),
    };
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        return Err("invalid reference format");
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    let path_is_valid = |path: &str| path.split('/').all(is_path_component);
    let valid = path_is_valid(name)
        || name
            .split_once('/')
            .is_some_and(|(domain, path)| is_domain(domain) && path_is_valid(path));
    if !valid {
        return Err("invalid reference format");
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > 255 {
        return Err("repository name must not be more than 255 characters");
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.to_owned(), digest.to_owned())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.to_owned()),
        (tag, None) => {
            Reference::with_tag(registry, repository, tag.unwrap_or("latest").to_owned())
        }
    })
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= 128
        && tag.chars().next().is_some_and(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// `algorithm:hex` with a supported algorithm and its hex length.
fn check_digest(digest: &str) -> Result<(), &'static str> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or("invalid checksum digest format")?;
    let component_ok = |part: &str| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric())
    };
    if !algorithm.split(['-', '_', '+', '.']).all(component_ok)
        || hex.len() < 32
        || !hex.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err("invalid reference format");
    }
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm"),
    };
    if hex.len() != expected {
        return Err("invalid checksum digest length");
    }
    Ok(())
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    component
        .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        .all(|separator| {
            matches!(separator, "" | "." | "_" | "__") || separator.bytes().all(|b| b == b'-')
        })
}

/// Host components (`[a-zA-Z0-9]`, inner `-`) joined by `.`, then an optional `:port`.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let label = |label: &str| {
        let bytes = label.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    };
    host.split('.').all(label)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The registry and repository of a name, as Docker normalises it: the first component is a
/// registry when it has a `.` or `:` or is `localhost`; Docker Hub otherwise, with
/// `library/` for single-component names.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_owned(), rest.to_owned())
        }
        _ => ("docker.io".to_owned(), name.to_owned()),
    };
    if domain == "index.docker.io" {
        domain = "docker.io".to_owned();
    }
    if domain == "docker.io" && !path.contains('/') {
        path = format!("library/{path}");
    }
    (domain, path)
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

    /// The same answers as oci-spec's regular-expression parser (which these cases came
    /// through), without its cost.
    #[test]
    fn references_parse_as_the_distribution_grammar_says() {
        let cases = [
            "busybox",
            "test.com:tag",
            "test.com:5000",
            "test.com/repo:tag",
            "test:5000/repo",
            "test:5000/repo:tag",
            "lowercase:Uppercase",
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "xn--n3h.com/myimage:xn--n3h.com",
            "foo_bar.com:8080",
            "foo/foo_bar.com:8080",
            "localhost/a__b/c-----d/e.f:v1.2_3",
            "index.docker.io/podinfo",
            "127.0.0.1:5000/apps/podinfo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "127.0.0.1:5000/apps/podinfo:v1@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ];
        for case in cases {
            let ours = parse_reference(case).unwrap();
            let theirs = Reference::from_str(case).unwrap();
            assert_eq!(ours, theirs, "{case}");
        }
        let invalid = [
            "",
            ":justtag",
            "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "Uppercase:tag",
            "repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "repo@md5:ffffffffffffffffffffffffffffffff",
            "aa/asdf$$^/aa",
            "a..b/c",
            "a/b___c",
            "a/-b",
            "a/b:-tag",
            "-host.com/a",
            "host.com:/a",
        ];
        for case in invalid {
            assert!(parse_reference(case).is_err(), "{case} must be refused");
            assert!(
                Reference::from_str(case).is_err(),
                "oci-spec refuses {case} too"
            );
        }
        // Go's `\w` (and go-containerregistry's tag alphabet) is ASCII; oci-spec's is Unicode.
        assert!(parse_reference("a/b:t\u{e9}g").is_err());
        let long = format!("a/{}", "b".repeat(260));
        assert!(parse_reference(&long).is_err());
    }
}
