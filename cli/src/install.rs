//! `flux-rs install --export`: the install manifests of `config/` (with the CRDs of `crds/`),
//! built by the kustomize engine exactly as `kubectl kustomize config/` prints them.

use anyhow::Context;
use clap::Args;
use std::io::Write;

/// The files of `config/` and `crds/`, compiled in so the binary installs its own version.
const FILES: &[(&str, &str)] = &[
    (
        "config/kustomization.yaml",
        include_str!("../../config/kustomization.yaml"),
    ),
    (
        "config/namespace.yaml",
        include_str!("../../config/namespace.yaml"),
    ),
    ("config/rbac.yaml", include_str!("../../config/rbac.yaml")),
    (
        "config/source-controller.yaml",
        include_str!("../../config/source-controller.yaml"),
    ),
    (
        "config/kustomize-controller.yaml",
        include_str!("../../config/kustomize-controller.yaml"),
    ),
    (
        "config/helm-controller.yaml",
        include_str!("../../config/helm-controller.yaml"),
    ),
    (
        "config/notification-controller.yaml",
        include_str!("../../config/notification-controller.yaml"),
    ),
    (
        "config/image-reflector-controller.yaml",
        include_str!("../../config/image-reflector-controller.yaml"),
    ),
    (
        "config/image-automation-controller.yaml",
        include_str!("../../config/image-automation-controller.yaml"),
    ),
    (
        "crds/image.toolkit.fluxcd.io_imagepolicies.yaml",
        include_str!("../../crds/image.toolkit.fluxcd.io_imagepolicies.yaml"),
    ),
    (
        "crds/image.toolkit.fluxcd.io_imagerepositories.yaml",
        include_str!("../../crds/image.toolkit.fluxcd.io_imagerepositories.yaml"),
    ),
    (
        "crds/image.toolkit.fluxcd.io_imageupdateautomations.yaml",
        include_str!("../../crds/image.toolkit.fluxcd.io_imageupdateautomations.yaml"),
    ),
    (
        "crds/kustomization.yaml",
        include_str!("../../crds/kustomization.yaml"),
    ),
    (
        "crds/helm.toolkit.fluxcd.io_helmreleases.yaml",
        include_str!("../../crds/helm.toolkit.fluxcd.io_helmreleases.yaml"),
    ),
    (
        "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        include_str!("../../crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
    ),
    (
        "crds/notification.toolkit.fluxcd.io_alerts.yaml",
        include_str!("../../crds/notification.toolkit.fluxcd.io_alerts.yaml"),
    ),
    (
        "crds/notification.toolkit.fluxcd.io_providers.yaml",
        include_str!("../../crds/notification.toolkit.fluxcd.io_providers.yaml"),
    ),
    (
        "crds/notification.toolkit.fluxcd.io_receivers.yaml",
        include_str!("../../crds/notification.toolkit.fluxcd.io_receivers.yaml"),
    ),
    (
        "crds/source.toolkit.fluxcd.io_gitrepositories.yaml",
        include_str!("../../crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
    ),
    (
        "crds/source.toolkit.fluxcd.io_helmcharts.yaml",
        include_str!("../../crds/source.toolkit.fluxcd.io_helmcharts.yaml"),
    ),
    (
        "crds/source.toolkit.fluxcd.io_helmrepositories.yaml",
        include_str!("../../crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
    ),
    (
        "crds/source.toolkit.fluxcd.io_ocirepositories.yaml",
        include_str!("../../crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
    ),
];

#[derive(Args, Debug)]
pub struct InstallCommand {
    /// Print the manifests instead of applying them.
    #[arg(long)]
    export: bool,
}

impl InstallCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let text = manifests()?;
        if self.export {
            std::io::stdout().lock().write_all(text.as_bytes())?;
            return Ok(());
        }
        apply(&text).await
    }
}

/// Server-side applies the manifests in their order (CRDs and the namespace come first),
/// waiting for each CRD to be established before the objects after it.
async fn apply(text: &str) -> anyhow::Result<()> {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    let client = kube::Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG)")?;
    let documents = kustomize::yaml::parse_stream(text)?;
    crate::ui::action("installing components in flux-system namespace");
    for document in documents {
        let object: DynamicObject = serde_json::from_value(document)?;
        let types = object
            .types
            .clone()
            .context("an object without apiVersion/kind")?;
        let (group, version) = types
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", &types.api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&client, &gvk)
            .await
            .with_context(|| format!("looking up {}", types.kind))?;
        let name = object.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> = match (&capabilities.scope, &object.metadata.namespace) {
            (kube::discovery::Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(client.clone(), ns, &resource)
            }
            _ => Api::all_with(client.clone(), &resource),
        };
        api.patch(
            &name,
            &PatchParams::apply("flux-rs").force(),
            &Patch::Apply(&object),
        )
        .await
        .with_context(|| format!("applying {}/{name}", types.kind))?;
        if types.kind == "CustomResourceDefinition" {
            let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
                Api::all(client.clone());
            let established = kube::runtime::wait::conditions::is_crd_established();
            tokio::time::timeout(
                std::time::Duration::from_secs(60),
                kube::runtime::wait::await_condition(crds, &name, established),
            )
            .await
            .with_context(|| format!("CRD {name} not established within 60s"))??;
        }
        crate::ui::success(format!("{}/{name} applied", types.kind));
    }
    crate::ui::success("install finished");
    Ok(())
}

/// The built install manifests.
pub fn manifests() -> anyhow::Result<String> {
    let dir = tempfile::tempdir().context("creating a working directory")?;
    for (path, content) in FILES {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent directory"))?;
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    let resources = kustomize::build(&dir.path().join("config")).context("building config/")?;
    Ok(kustomize::to_yaml(&resources))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_config_and_crd_file_is_compiled_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for dir in ["config", "crds"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
                assert!(
                    super::FILES.iter().any(|(f, _)| *f == name),
                    "{name} is not in FILES"
                );
            }
        }
    }
}

#[derive(Args, Debug)]
pub struct UninstallCommand {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    silent: bool,
    /// Keep the flux-system namespace.
    #[arg(long)]
    keep_namespace: bool,
}

impl UninstallCommand {
    /// Deletes what `install` created, in reverse order, after releasing the finalizers of
    /// every Flux object so that deleting the CRDs cannot hang. Applied workloads stay.
    pub async fn run(self) -> anyhow::Result<()> {
        use std::io::BufRead;
        if !self.silent {
            eprint!(
                "? Are you sure you want to delete flux-rs and its custom resource definitions? [y/N] "
            );
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                anyhow::bail!("aborting");
            }
        }
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG)")?;
        crate::ui::action("releasing the finalizers of Flux objects");
        for (_, crd) in api::crds() {
            let Some(version) = crd.spec.versions.iter().find(|v| v.storage) else {
                continue;
            };
            let resource = api::api_resource(
                &format!("{}/{}", crd.spec.group, version.name),
                &crd.spec.names.kind,
            );
            let api: kube::Api<kube::api::DynamicObject> =
                kube::Api::all_with(client.clone(), &resource);
            let Ok(objects) = api.list(&Default::default()).await else {
                continue;
            };
            for object in objects.items {
                let (Some(name), Some(ns)) = (object.metadata.name, object.metadata.namespace)
                else {
                    continue;
                };
                let namespaced: kube::Api<kube::api::DynamicObject> =
                    kube::Api::namespaced_with(client.clone(), &ns, &resource);
                let patch = serde_json::json!({"metadata": {"finalizers": null}});
                namespaced
                    .patch(
                        &name,
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await
                    .with_context(|| format!("releasing {} {ns}/{name}", crd.spec.names.kind))?;
            }
        }
        let documents = kustomize::yaml::parse_stream(&manifests()?)?;
        for document in documents.into_iter().rev() {
            let object: kube::api::DynamicObject = serde_json::from_value(document)?;
            let types = object
                .types
                .clone()
                .context("an object without apiVersion/kind")?;
            if self.keep_namespace && types.kind == "Namespace" {
                continue;
            }
            let (group, version) = types
                .api_version
                .rsplit_once('/')
                .unwrap_or(("", &types.api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
            let Ok((resource, capabilities)) = kube::discovery::pinned_kind(&client, &gvk).await
            else {
                continue;
            };
            let name = object.metadata.name.clone().unwrap_or_default();
            let api: kube::Api<kube::api::DynamicObject> =
                match (&capabilities.scope, &object.metadata.namespace) {
                    (kube::discovery::Scope::Namespaced, Some(ns)) => {
                        kube::Api::namespaced_with(client.clone(), ns, &resource)
                    }
                    _ => kube::Api::all_with(client.clone(), &resource),
                };
            match api
                .delete(&name, &kube::api::DeleteParams::background())
                .await
            {
                Ok(_) => crate::ui::success(format!("{}/{name} deleted", types.kind)),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e).with_context(|| format!("deleting {}/{name}", types.kind)),
            }
        }
        crate::ui::success("uninstall finished");
        Ok(())
    }
}
