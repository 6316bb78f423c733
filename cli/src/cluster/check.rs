//! `check`: the cluster version, the controllers' Deployments and the CRDs.

use anyhow::bail;
use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::Api;

use super::common::client;
use crate::ui;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only the prerequisites (the cluster's version).
    #[arg(long)]
    pre: bool,
    /// The namespace the controllers are installed in.
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

/// The oldest API server the controllers are tested against.
const MINIMUM_KUBERNETES: (u64, u64) = (1, 20);

impl CheckArgs {
    /// `check`: the cluster version, the controllers' Deployments and the CRDs.
    pub async fn run(self) -> anyhow::Result<()> {
        let client = client().await?;
        ui::action("checking prerequisites");
        let mut passed = check_version(&client).await?;
        if !self.pre {
            // Every check runs and reports, whichever failed before.
            passed &= check_controllers(&client, &self.namespace).await?;
            passed &= check_crds(client).await?;
        }
        if !passed {
            bail!("check failed");
        }
        ui::success("all checks passed");
        Ok(())
    }
}

async fn check_version(client: &Client) -> anyhow::Result<bool> {
    let version = client.apiserver_version().await?;
    let minor: u64 = version.minor.trim_end_matches('+').parse().unwrap_or(0);
    let major: u64 = version.major.parse().unwrap_or(0);
    let (min_major, min_minor) = MINIMUM_KUBERNETES;
    let text = format!(
        "Kubernetes {} >={min_major}.{min_minor}.0-0",
        version.git_version.trim_start_matches('v')
    );
    let passed = (major, minor) >= MINIMUM_KUBERNETES;
    if passed {
        ui::success(text);
    } else {
        ui::failure(text);
    }
    Ok(passed)
}

/// Each controller's Deployment is ready; its image is shown.
async fn check_controllers(client: &Client, namespace: &str) -> anyhow::Result<bool> {
    ui::action("checking controllers");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let mut passed = true;
    for name in [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
        "image-reflector-controller",
        "image-automation-controller",
    ] {
        let Some(deployment) = deployments.get_opt(name).await? else {
            ui::failure(format!(
                "{name}: deployment not found in {namespace} namespace"
            ));
            passed = false;
            continue;
        };
        let wanted = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let ready = deployment
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        if wanted > 0 && ready >= wanted {
            ui::success(format!("{name}: deployment ready"));
        } else {
            ui::failure(format!("{name}: deployment not ready"));
            passed = false;
        }
        let image = deployment
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|p| p.containers.first().and_then(|c| c.image.clone()));
        ui::action(image.unwrap_or_default());
    }
    Ok(passed)
}

/// Each flux-rs CRD is established with the storage version this CLI knows.
async fn check_crds(client: Client) -> anyhow::Result<bool> {
    ui::action("checking crds");
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let mut passed = true;
    for (_, expected) in api::crds() {
        let name = expected.metadata.name.clone().unwrap_or_default();
        let storage = expected
            .spec
            .versions
            .iter()
            .find(|v| v.storage)
            .map(|v| v.name.clone())
            .unwrap_or_default();
        let established = crds.get_opt(&name).await?.is_some_and(|crd| {
            crd.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                && crd
                    .spec
                    .versions
                    .iter()
                    .any(|v| v.storage && v.name == storage)
        });
        if established {
            ui::success(format!("{name}/{storage}"));
        } else {
            ui::failure(format!(
                "{name}/{storage}: not installed or not established"
            ));
            passed = false;
        }
    }
    Ok(passed)
}
