//! `create secret oci|git` and `create source git`: Secrets and sources, created or printed.

use anyhow::Context;
use clap::{Args, Subcommand};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::common::client;
use crate::ui;

#[derive(Subcommand, Debug)]
pub enum CreateCommand {
    /// Secrets: `create secret oci|git`.
    #[command(subcommand)]
    Secret(SecretKind),
    /// Sources: `create source git`.
    #[command(subcommand)]
    Source(super::create_git::SourceKind),
    /// Image automation: `create image repository|policy|update`.
    #[command(subcommand)]
    Image(super::create_image::ImageKind),
}

#[derive(Subcommand, Debug)]
pub enum SecretKind {
    /// A registry login Secret (`kubernetes.io/dockerconfigjson`) for OCIRepositories.
    Oci(OciSecretArgs),
    /// Credentials for GitRepositories: basic auth, a bearer token, or an SSH key.
    Git(super::create_git::GitSecretArgs),
}

#[derive(Args, Debug)]
pub struct OciSecretArgs {
    name: String,
    /// The registry host, e.g. `registry.example.com:5000`.
    #[arg(long)]
    url: String,
    #[arg(long, short = 'u')]
    username: String,
    #[arg(long, short = 'p')]
    password: String,
    /// Print the Secret as YAML instead of creating it.
    #[arg(long)]
    export: bool,
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

impl CreateCommand {
    pub async fn run(self, timeout: std::time::Duration) -> anyhow::Result<()> {
        match self {
            CreateCommand::Secret(SecretKind::Oci(args)) => {
                let secret = oci_secret(&args);
                apply_secret(secret, "oci", &args.name, &args.namespace, args.export).await
            }
            CreateCommand::Secret(SecretKind::Git(args)) => {
                let secret = args.secret()?;
                apply_secret(secret, "git", args.name(), args.namespace(), args.export()).await
            }
            CreateCommand::Source(kind) => kind.run(timeout).await,
            CreateCommand::Image(kind) => kind.run(timeout).await,
        }
    }
}

/// Prints `object` as a YAML document (`--export`).
pub(super) fn export(object: &Value) {
    let map = object.as_object().expect("a map");
    print!("---\n{}", kustomize::yaml::to_stream([map]));
}

/// Creates (or updates) the Secret, or prints it with `export`.
async fn apply_secret(
    secret: Value,
    kind: &str,
    name: &str,
    namespace: &str,
    export_only: bool,
) -> anyhow::Result<()> {
    if export_only {
        export(&secret);
        return Ok(());
    }
    ui::action(format!("generating {kind} secret"));
    let client = client().await?;
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, namespace);
    api.patch(
        name,
        &PatchParams::apply("flux-rs").force(),
        &Patch::Apply(&secret),
    )
    .await
    .with_context(|| format!("creating secret {namespace}/{name}"))?;
    ui::success(format!(
        "{kind} secret '{name}' created in '{namespace}' namespace"
    ));
    Ok(())
}

/// The Docker config Secret flux writes for a registry login.
fn oci_secret(args: &OciSecretArgs) -> Value {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", args.username, args.password));
    let config = json!({"auths": {args.url.clone(): {"username": args.username, "password": args.password, "auth": auth}}});
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": args.name, "namespace": args.namespace},
        "stringData": {".dockerconfigjson": config.to_string()},
        "type": "kubernetes.io/dockerconfigjson",
    })
}
