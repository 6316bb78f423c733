//! `create image repository|policy|update`: the image automation objects in flux's shapes,
//! applied and waited for, or printed with `--export`.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::common::{Kind, apply_and_wait};
use super::create_secret::export;
use super::reconcile::success_line;
use crate::ui;

#[derive(Subcommand, Debug)]
pub enum ImageKind {
    /// An ImageRepository whose tags image-reflector-controller scans.
    Repository(RepositoryArgs),
    /// An ImagePolicy choosing the latest tag of an ImageRepository.
    Policy(PolicyArgs),
    /// An ImageUpdateAutomation committing the latest images to a GitRepository.
    Update(UpdateArgs),
}

/// What every create command takes.
#[derive(Args, Debug)]
pub struct Common {
    name: String,
    /// Print the object as YAML instead of creating it.
    #[arg(long)]
    export: bool,
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
    /// Labels, `key=value[,key=value]`.
    #[arg(long, value_delimiter = ',')]
    label: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RepositoryArgs {
    #[command(flatten)]
    common: Common,
    /// The repository to scan, without tag (`ghcr.io/org/app`).
    #[arg(long)]
    image: Option<String>,
    #[arg(long, default_value = "1m")]
    interval: String,
    /// A `kubernetes.io/dockerconfigjson` Secret with the registry credentials.
    #[arg(long)]
    secret_ref: Option<String>,
    /// A Secret with `ca.crt`, and `tls.crt`/`tls.key` for a client certificate.
    #[arg(long)]
    cert_ref: Option<String>,
    /// How long a scan may take (default: the interval).
    #[arg(long)]
    scan_timeout: Option<String>,
}

#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(flatten)]
    common: Common,
    /// The ImageRepository (in the same namespace).
    #[arg(long)]
    image_ref: Option<String>,
    /// A semver range, e.g. `6.1.x`.
    #[arg(long)]
    select_semver: Option<String>,
    /// Alphabetical order: `asc` picks the last, `desc` the first.
    #[arg(long)]
    select_alpha: Option<String>,
    /// Numerical order: `asc` picks the greatest, `desc` the smallest.
    #[arg(long)]
    select_numeric: Option<String>,
    /// Only tags matching this regular expression.
    #[arg(long)]
    filter_regex: Option<String>,
    /// What the policy compares instead of the tag (`$1`, `$name`).
    #[arg(long)]
    filter_extract: Option<String>,
    /// Never, IfNotPresent or Always.
    #[arg(long)]
    reflect_digest: Option<String>,
    /// How often the digest is read again (with `--reflect-digest=Always` only).
    #[arg(long)]
    interval: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    common: Common,
    /// The GitRepository to commit to.
    #[arg(long)]
    git_repo_ref: Option<String>,
    #[arg(long)]
    git_repo_namespace: Option<String>,
    /// The directory updated, relative to the repository root.
    #[arg(long)]
    git_repo_path: Option<String>,
    #[arg(long)]
    checkout_branch: Option<String>,
    #[arg(long)]
    push_branch: Option<String>,
    #[arg(long)]
    author_name: Option<String>,
    #[arg(long)]
    author_email: Option<String>,
    /// A Go template for the commit message.
    #[arg(long)]
    commit_template: Option<String>,
    /// A Secret with the signing key.
    #[arg(long)]
    signing_key_secret: Option<String>,
    /// gpg or ssh.
    #[arg(long)]
    signing_key_type: Option<String>,
    #[arg(long, default_value = "1m")]
    interval: String,
}

fn duration(flag: &str, text: &str) -> anyhow::Result<String> {
    let parsed = api::duration::parse(text)
        .map_err(|e| anyhow::anyhow!("invalid --{flag} '{text}': {e}"))?;
    Ok(api::duration::format(parsed))
}

impl Common {
    /// The object's metadata; the name is checked as flux checks it (RFC 1123 label).
    fn metadata(&self) -> anyhow::Result<Value> {
        let valid = {
            let bytes = self.name.as_bytes();
            (2..=63).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        };
        if !valid {
            bail!(
                "name '{}' is invalid, it should adhere to standard defined in RFC 1123, the name can only contain alphanumeric characters or '-'",
                self.name
            );
        }
        let mut metadata = json!({"name": self.name, "namespace": self.namespace});
        if !self.label.is_empty() {
            let mut labels = serde_json::Map::new();
            for pair in &self.label {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("invalid label format '{pair}', must be key=value");
                };
                labels.insert(k.to_owned(), json!(v));
            }
            metadata["labels"] = Value::Object(labels);
        }
        Ok(metadata)
    }
}

fn object(kind: &str, metadata: Value, spec: Value) -> Value {
    json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": kind, "metadata": metadata, "spec": spec})
}

impl RepositoryArgs {
    fn object(&self) -> anyhow::Result<Value> {
        let metadata = self.common.metadata()?;
        let Some(image) = self.image.as_deref().filter(|i| !i.is_empty()) else {
            bail!("an image repository (--image) is required");
        };
        if image.contains("://")
            || image
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            bail!(
                "unable to parse image value: '{image}' must name a repository, without scheme or tag"
            );
        }
        let mut spec = json!({"image": image, "interval": duration("interval", &self.interval)?});
        if let Some(secret) = &self.secret_ref {
            spec["secretRef"] = json!({"name": secret});
        }
        if let Some(cert) = &self.cert_ref {
            spec["certSecretRef"] = json!({"name": cert});
        }
        if let Some(timeout) = &self.scan_timeout {
            spec["timeout"] = json!(duration("scan-timeout", timeout)?);
        }
        Ok(object("ImageRepository", metadata, spec))
    }
}

fn order(flag: &str, value: &str) -> anyhow::Result<Value> {
    match value {
        "asc" | "desc" => Ok(json!({"order": value})),
        _ => bail!("--{flag} must be one of [\"asc\", \"desc\"]"),
    }
}

impl PolicyArgs {
    fn object(&self) -> anyhow::Result<Value> {
        let metadata = self.common.metadata()?;
        let Some(repository) = &self.image_ref else {
            bail!("the name of an ImageRepository in the namespace is required (--image-ref)");
        };
        let choices = [
            &self.select_semver,
            &self.select_alpha,
            &self.select_numeric,
        ];
        match choices.iter().filter(|c| c.is_some()).count() {
            0 => bail!("a policy must be provided with either --select-semver or --select-alpha"),
            1 => {}
            _ => bail!(
                "only one of --select-semver, --select-alpha or --select-numeric can be specified"
            ),
        }
        let policy = match (
            &self.select_semver,
            &self.select_alpha,
            &self.select_numeric,
        ) {
            (Some(range), ..) => json!({"semver": {"range": range}}),
            (None, Some(alpha), _) => json!({"alphabetical": order("select-alpha", alpha)?}),
            (None, None, Some(numeric)) => json!({"numerical": order("select-numeric", numeric)?}),
            (None, None, None) => unreachable!("one choice is set"),
        };
        let mut spec = json!({"imageRepositoryRef": {"name": repository}, "policy": policy});
        match (&self.filter_regex, &self.filter_extract) {
            (None, Some(_)) => {
                bail!("cannot specify --filter-extract without specifying --filter-regex")
            }
            (Some(pattern), extract) => {
                let regex = regex::Regex::new(pattern)
                    .map_err(|_| anyhow::anyhow!("--filter-regex is an invalid regex pattern"))?;
                let extract = extract.clone().unwrap_or_default();
                for group in capture_names(&extract) {
                    let known = match group.parse::<usize>() {
                        Ok(index) => index < regex.captures_len(),
                        Err(_) => regex.capture_names().flatten().any(|n| n == group),
                    };
                    if !known {
                        bail!(
                            "capture group ${group} used in --filter-extract not found in --filter-regex"
                        );
                    }
                }
                spec["filterTags"] = json!({"pattern": pattern, "extract": extract});
            }
            (None, None) => {}
        }
        if let Some(reflect) = &self.reflect_digest {
            if !["Never", "IfNotPresent", "Always"].contains(&reflect.as_str()) {
                bail!(
                    "invalid value for --reflect-digest, must be one of 'Never', 'IfNotPresent', 'Always'"
                );
            }
            spec["digestReflectionPolicy"] = json!(reflect);
        }
        if let Some(interval) = &self.interval {
            if self.reflect_digest.as_deref() != Some("Always") {
                bail!(
                    "the --interval flag can only be used with the 'Always' digest reflection policy, use --reflect-digest=Always"
                );
            }
            spec["interval"] = json!(duration("interval", interval)?);
        }
        Ok(object("ImagePolicy", metadata, spec))
    }
}

/// The groups an `extract` template names: `$1`, `$name`, `${name}`.
fn capture_names(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let name = if let Some(braced) = rest.strip_prefix('{') {
            braced.split('}').next().unwrap_or_default()
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        };
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

impl UpdateArgs {
    fn object(&self) -> anyhow::Result<Value> {
        let metadata = self.common.metadata()?;
        let required = |value: &Option<String>, message: &str| match value {
            Some(v) if !v.is_empty() => Ok(v.clone()),
            _ => Err(anyhow::anyhow!("{message}")),
        };
        let repository = required(
            &self.git_repo_ref,
            "a reference to a GitRepository is required (--git-repo-ref)",
        )?;
        let branch = required(
            &self.checkout_branch,
            "the Git repository branch is required (--checkout-branch)",
        )?;
        let author_name = required(
            &self.author_name,
            "the author name is required (--author-name)",
        )?;
        let author_email = required(
            &self.author_email,
            "the author email is required (--author-email)",
        )?;
        let mut commit = json!({"author": {"email": author_email, "name": author_name}});
        if let Some(template) = self.commit_template.as_deref().filter(|t| !t.is_empty()) {
            commit["messageTemplate"] = json!(template);
        }
        match (&self.signing_key_secret, &self.signing_key_type) {
            (None, Some(_)) => bail!("--signing-key-type requires --signing-key-secret"),
            (Some(secret), key_type) => {
                let mut key = json!({"secretRef": {"name": secret}});
                if let Some(key_type) = key_type {
                    if !["gpg", "ssh"].contains(&key_type.as_str()) {
                        bail!("--signing-key-type must be one of: gpg, ssh");
                    }
                    key["type"] = json!(key_type);
                }
                commit["signingKey"] = key;
            }
            (None, None) => {}
        }
        let mut git = json!({"checkout": {"ref": {"branch": branch}}, "commit": commit});
        if let Some(push) = self.push_branch.as_deref().filter(|p| !p.is_empty()) {
            git["push"] = json!({"branch": push});
        }
        let mut source = json!({"kind": "GitRepository", "name": repository});
        if let Some(namespace) = self.git_repo_namespace.as_deref().filter(|n| !n.is_empty()) {
            source["namespace"] = json!(namespace);
        }
        let mut spec = json!({
            "git": git,
            "interval": duration("interval", &self.interval)?,
            "sourceRef": source,
        });
        if let Some(path) = self.git_repo_path.as_deref().filter(|p| !p.is_empty()) {
            spec["update"] = json!({"path": path, "strategy": "Setters"});
        }
        Ok(object("ImageUpdateAutomation", metadata, spec))
    }
}

impl ImageKind {
    pub(super) async fn run(self, timeout: Duration) -> anyhow::Result<()> {
        let (kind, object, export_only) = match &self {
            ImageKind::Repository(args) => {
                (Kind::ImageRepository, args.object()?, args.common.export)
            }
            ImageKind::Policy(args) => (Kind::ImagePolicy, args.object()?, args.common.export),
            ImageKind::Update(args) => (
                Kind::ImageUpdateAutomation,
                args.object()?,
                args.common.export,
            ),
        };
        if export_only {
            export(&object);
            return Ok(());
        }
        let object = apply_and_wait(kind, kind.name(), &object, timeout).await?;
        ui::success(success_line(kind, &object));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(subcommand)]
        kind: ImageKind,
    }

    fn exported(args: &[&str]) -> anyhow::Result<Value> {
        let Wrapper { kind } =
            Wrapper::try_parse_from(std::iter::once("x").chain(args.iter().copied()))?;
        match kind {
            ImageKind::Repository(a) => a.object(),
            ImageKind::Policy(a) => a.object(),
            ImageKind::Update(a) => a.object(),
        }
    }

    #[test]
    fn repositories_policies_and_updates_have_fluxs_shape() {
        assert_eq!(
            exported(&[
                "repository",
                "podinfo",
                "--image=ghcr.io/stefanprodan/podinfo",
                "--interval=5m"
            ])
            .unwrap(),
            json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                "metadata": {"name": "podinfo", "namespace": "flux-system"},
                "spec": {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m0s"}})
        );
        assert_eq!(
            exported(&[
                "policy",
                "podinfo",
                "--image-ref=podinfo",
                "--select-semver=5.0.x"
            ])
            .unwrap()["spec"],
            json!({"imageRepositoryRef": {"name": "podinfo"}, "policy": {"semver": {"range": "5.0.x"}}})
        );
        assert_eq!(
            exported(&[
                "policy",
                "ts",
                "--image-ref=podinfo",
                "--select-numeric=asc",
                "--filter-regex=^main-[a-f0-9]+-(?P<ts>[0-9]+)",
                "--filter-extract=$ts"
            ])
            .unwrap()["spec"],
            json!({"filterTags": {"extract": "$ts", "pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)"},
                "imageRepositoryRef": {"name": "podinfo"}, "policy": {"numerical": {"order": "asc"}}})
        );
        assert_eq!(
            exported(&[
                "update",
                "flux-system",
                "--git-repo-ref=flux-system",
                "--git-repo-path=./clusters/my-cluster",
                "--checkout-branch=main",
                "--push-branch=image-updates",
                "--author-name=flux",
                "--author-email=flux@example.com",
                "--commit-template={{range .Updated.Images}}{{println .}}{{end}}",
                "--interval=30m"
            ])
            .unwrap()["spec"],
            json!({"git": {"checkout": {"ref": {"branch": "main"}},
                    "commit": {"author": {"email": "flux@example.com", "name": "flux"},
                        "messageTemplate": "{{range .Updated.Images}}{{println .}}{{end}}"},
                    "push": {"branch": "image-updates"}},
                "interval": "30m0s", "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                "update": {"path": "./clusters/my-cluster", "strategy": "Setters"}})
        );
    }

    #[test]
    fn bad_flags_get_fluxs_errors() {
        let error = |args: &[&str]| exported(args).unwrap_err().to_string();
        assert_eq!(
            error(&["repository", "podinfo"]),
            "an image repository (--image) is required"
        );
        assert_eq!(
            error(&["policy", "pp", "--image-ref=r", "--select-alpha=up"]),
            "--select-alpha must be one of [\"asc\", \"desc\"]"
        );
        assert_eq!(
            error(&[
                "policy",
                "pp",
                "--image-ref=r",
                "--select-semver=1.x",
                "--select-numeric=asc"
            ]),
            "only one of --select-semver, --select-alpha or --select-numeric can be specified"
        );
        assert_eq!(
            error(&[
                "policy",
                "pp",
                "--image-ref=r",
                "--select-numeric=asc",
                "--filter-regex=^v(\\d+)",
                "--filter-extract=$ts"
            ]),
            "capture group $ts used in --filter-extract not found in --filter-regex"
        );
        assert_eq!(
            error(&[
                "update",
                "uu",
                "--git-repo-ref=r",
                "--author-name=a",
                "--author-email=e"
            ]),
            "the Git repository branch is required (--checkout-branch)"
        );
        assert!(error(&["repository", "Bad_Name", "--image=x/y"]).contains("RFC 1123"));
    }
}
