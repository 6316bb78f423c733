//! `create secret git` (basic auth, bearer token, or an SSH key with its known_hosts) and
//! `create source git` (a GitRepository at a branch, tag, semver range or commit), created
//! and waited for, or printed with `--export`, in flux's shapes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Value, json};

use super::common::{Kind, apply_and_wait};
use super::create_secret::export;
use crate::ui;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("method").args(["username", "bearer_token", "private_key_file"])))]
pub struct GitSecretArgs {
    name: String,
    /// The repository URL: http(s) for basic auth or a token, ssh for a key.
    #[arg(long)]
    url: String,
    #[arg(long, short = 'u', requires = "password")]
    username: Option<String>,
    /// The basic-auth password, or the passphrase of `--private-key-file`.
    #[arg(long, short = 'p')]
    password: Option<String>,
    #[arg(long)]
    bearer_token: Option<String>,
    /// An SSH private key (PEM or OpenSSH format), for ssh URLs.
    #[arg(long)]
    private_key_file: Option<PathBuf>,
    /// The server's host keys in known_hosts format, for ssh URLs (flux-rs does not scan
    /// the host for them).
    #[arg(long)]
    known_hosts_file: Option<PathBuf>,
    /// A CA certificate (PEM) for https servers.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Print the Secret as YAML instead of creating it.
    #[arg(long)]
    export: bool,
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl GitSecretArgs {
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn namespace(&self) -> &str {
        &self.namespace
    }

    pub(super) fn export(&self) -> bool {
        self.export
    }

    /// The Secret with the keys source-controller reads for this URL.
    pub(super) fn secret(&self) -> anyhow::Result<Value> {
        let Some((scheme, _)) = self.url.split_once("://") else {
            bail!("invalid --url '{}': not a URL", self.url);
        };
        let mut data = serde_json::Map::new();
        match scheme {
            "ssh" => {
                let (Some(key), Some(hosts)) = (&self.private_key_file, &self.known_hosts_file)
                else {
                    bail!("an ssh URL needs --private-key-file and --known-hosts-file");
                };
                data.insert("identity".into(), json!(read(key)?));
                data.insert("known_hosts".into(), json!(read(hosts)?));
                if let Some(passphrase) = &self.password {
                    data.insert("password".into(), json!(passphrase));
                }
            }
            "http" | "https" => {
                if let Some(token) = &self.bearer_token {
                    data.insert("bearerToken".into(), json!(token));
                } else if let (Some(username), Some(password)) = (&self.username, &self.password) {
                    data.insert("username".into(), json!(username));
                    data.insert("password".into(), json!(password));
                } else {
                    bail!("an http(s) URL needs --username and --password, or --bearer-token");
                }
                if let Some(ca) = &self.ca_file {
                    data.insert("ca.crt".into(), json!(read(ca)?));
                }
            }
            other => bail!("unsupported URL scheme '{other}': use http, https or ssh"),
        }
        Ok(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "stringData": data,
        }))
    }
}

#[derive(Subcommand, Debug)]
pub enum SourceKind {
    /// A GitRepository.
    Git(GitSourceArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("reference").args(["branch", "tag", "tag_semver", "commit"])))]
pub struct GitSourceArgs {
    name: String,
    #[arg(long)]
    url: String,
    #[arg(long)]
    branch: Option<String>,
    #[arg(long)]
    tag: Option<String>,
    #[arg(long)]
    tag_semver: Option<String>,
    #[arg(long)]
    commit: Option<String>,
    /// A Secret with the credentials (`create secret git`).
    #[arg(long)]
    secret_ref: Option<String>,
    #[arg(long, default_value = "1m")]
    interval: String,
    /// `.gitignore`-format patterns that replace the default exclusions.
    #[arg(long)]
    ignore_paths: Vec<String>,
    /// Print the GitRepository as YAML instead of creating it.
    #[arg(long)]
    export: bool,
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

impl GitSourceArgs {
    fn object(&self) -> anyhow::Result<Value> {
        let interval = api::duration::parse(&self.interval)
            .map_err(|e| anyhow::anyhow!("invalid --interval '{}': {e}", self.interval))?;
        let reference = match (&self.commit, &self.tag_semver, &self.tag) {
            (Some(commit), ..) => json!({"commit": commit}),
            (None, Some(range), _) => json!({"semver": range}),
            (None, None, Some(tag)) => json!({"tag": tag}),
            (None, None, None) => json!({"branch": self.branch.as_deref().unwrap_or("master")}),
        };
        let mut spec = json!({
            "interval": api::duration::format(interval),
            "ref": reference,
            "url": self.url,
        });
        if let Some(secret) = &self.secret_ref {
            spec["secretRef"] = json!({"name": secret});
        }
        if !self.ignore_paths.is_empty() {
            spec["ignore"] = json!(self.ignore_paths.join("\n"));
        }
        Ok(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }))
    }
}

impl SourceKind {
    pub(super) async fn run(self, timeout: Duration) -> anyhow::Result<()> {
        let SourceKind::Git(args) = self;
        let object = args.object()?;
        if args.export {
            export(&object);
            return Ok(());
        }
        let object = apply_and_wait(
            Kind::GitRepository,
            "GitRepository source",
            &object,
            timeout,
        )
        .await?;
        let revision = object
            .pointer("/status/artifact/revision")
            .and_then(Value::as_str);
        ui::success(format!(
            "fetched revision: {}",
            revision.unwrap_or_default()
        ));
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
        kind: SourceKind,
    }

    #[test]
    fn exported_sources_have_flux_shape() {
        let Wrapper {
            kind: SourceKind::Git(args),
        } = Wrapper::parse_from([
            "x",
            "git",
            "podinfo",
            "--url",
            "https://example.org/podinfo",
            "--tag-semver",
            ">=6.0.0",
            "--interval",
            "10m",
            "--secret-ref",
            "auth",
        ]);
        assert_eq!(
            args.object().unwrap(),
            json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "podinfo", "namespace": "flux-system"},
                "spec": {"interval": "10m0s", "ref": {"semver": ">=6.0.0"}, "secretRef": {"name": "auth"}, "url": "https://example.org/podinfo"},
            })
        );
        let Wrapper {
            kind: SourceKind::Git(args),
        } = Wrapper::parse_from([
            "x",
            "git",
            "podinfo",
            "--url",
            "https://example.org/podinfo",
        ]);
        assert_eq!(
            args.object().unwrap()["spec"]["ref"],
            json!({"branch": "master"})
        );
        assert!(
            Wrapper::try_parse_from(["x", "git", "p", "--url", "u", "--branch", "a", "--tag", "b"])
                .is_err(),
            "one reference only"
        );
    }

    #[test]
    fn git_secrets_hold_the_keys_source_controller_reads() {
        let args = GitSecretArgs {
            name: "auth".into(),
            url: "https://example.org/repo".into(),
            username: Some("git".into()),
            password: Some("pw".into()),
            bearer_token: None,
            private_key_file: None,
            known_hosts_file: None,
            ca_file: None,
            export: true,
            namespace: "flux-system".into(),
        };
        assert_eq!(
            args.secret().unwrap()["stringData"],
            json!({"username": "git", "password": "pw"})
        );
        let ssh = GitSecretArgs {
            url: "ssh://git@example.org/repo".into(),
            ..args
        };
        assert!(
            ssh.secret()
                .unwrap_err()
                .to_string()
                .contains("--private-key-file")
        );
    }
}
