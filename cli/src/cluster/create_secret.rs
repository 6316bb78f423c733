//! `create secret oci`: a registry login Secret for OCIRepositories, created or printed.

use anyhow::Context;
use clap::{Args, Subcommand};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::common::client;
use crate::ui;

#[derive(Subcommand, Debug)]
pub enum CreateCommand {
    /// Secrets: `create secret oci`.
    #[command(subcommand)]
    Secret(SecretKind),
}

#[derive(Subcommand, Debug)]
pub enum SecretKind {
    /// A registry login Secret (`kubernetes.io/dockerconfigjson`) for OCIRepositories.
    Oci(OciSecretArgs),
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
    pub async fn run(self) -> anyhow::Result<()> {
        let CreateCommand::Secret(SecretKind::Oci(args)) = self;
        let secret = oci_secret(&args);
        if args.export {
            let map = secret.as_object().expect("a map");
            print!("---\n{}", kustomize::yaml::to_stream([map]));
            return Ok(());
        }
        ui::action("generating OCI secret");
        let client = client().await?;
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, &args.namespace);
        api.patch(
            &args.name,
            &PatchParams::apply("flux-rs").force(),
            &Patch::Apply(&secret),
        )
        .await
        .with_context(|| format!("creating secret {}/{}", args.namespace, args.name))?;
        ui::success(format!(
            "oci secret '{}' created in '{}' namespace",
            args.name, args.namespace
        ));
        Ok(())
    }
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
