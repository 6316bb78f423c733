//! helm-controller and source-controller against the real API server and registry, with
//! charts pushed by the real `helm` (v4.1.4), and the releases read back by it: the Helm OCI
//! example as users write it, upgrades, remediation, take-over, deletion and hooks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use api::helm::v2::{HelmRelease, HelmReleaseStatus};
use api::meta::ConditionStatus;
use e2e::bin::helm;
use e2e::cluster::{apply, wait_for, with_temp_ns};
use e2e::controllers::{HelmController, SourceController};
use e2e::registry::Registry;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// The example of the docs, as users write it (old API versions included); only the
/// registry address and the namespace are the test's.
const HELM_OCI_EXAMPLE: &str = r#"
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmRepository
metadata: {name: podinfo, namespace: flux-system}
spec: {interval: 10m, type: oci, url: "oci://<registry>/charts"}
---
apiVersion: helm.toolkit.fluxcd.io/v2beta1
kind: HelmRelease
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 10m
  targetNamespace: default
  chart:
    spec:
      chart: podinfo
      version: 6.1.0 # {"$imagepolicy": "flux-system:podinfo-chart:tag"}
      sourceRef: {kind: HelmRepository, name: podinfo}
"#;

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/charts/podinfo")
}

/// Packages the test chart at `version` and pushes it with `helm push`.
fn push_chart(home: &Path, registry: &Registry, version: &str) {
    let out = home.join("packages");
    std::fs::create_dir_all(&out).unwrap();
    let chart = chart_dir();
    helm(
        home,
        &[
            "package",
            chart.to_str().unwrap(),
            "--version",
            version,
            "--destination",
            out.to_str().unwrap(),
        ],
    );
    let package = out.join(format!("podinfo-{version}.tgz"));
    let url = registry.oci_url("charts");
    helm(
        home,
        &["push", package.to_str().unwrap(), &url, "--plain-http"],
    );
}

/// Applies each document of `yaml` in namespace `ns`.
async fn apply_yaml(client: &Client, ns: &str, yaml: &str) {
    let documents: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap();
    for mut document in documents {
        document["metadata"]["namespace"] = json!(ns);
        apply(client, ns, document).await;
    }
}

async fn release_status(
    api: &Api<HelmRelease>,
    name: &str,
    what: &str,
    done: impl Fn(&HelmReleaseStatus) -> bool,
) -> HelmReleaseStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

fn ready(status: &HelmReleaseStatus) -> Option<(ConditionStatus, String, String)> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}

fn is_ready_with(message: &'static str) -> impl Fn(&HelmReleaseStatus) -> bool {
    move |s| {
        ready(s)
            .is_some_and(|(status, _, m)| status == ConditionStatus::True && m.contains(message))
    }
}

/// `helm <args> -o json` as JSON.
fn helm_json(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&helm(home, &all)).unwrap()
}

#[tokio::test]
async fn the_helm_oci_example_installs_upgrades_and_uninstalls_with_helm_reading_along() {
    with_temp_ns(|client, ns| async move {
        let home = tempfile::tempdir().unwrap();
        let registry = Registry::start();
        push_chart(home.path(), &registry, "6.1.0");
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        let example = HELM_OCI_EXAMPLE.replace("oci://<registry>/charts", &registry.oci_url("charts"));
        apply_yaml(&client, &ns, &example).await;

        let api: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
        let status = release_status(&api, "podinfo", "the release installed", is_ready_with(
            "Helm install succeeded for release default/default-podinfo.v1 with chart podinfo@6.1.0",
        ))
        .await;
        assert_eq!(status.helm_chart.as_deref(), Some(format!("{ns}/{ns}-podinfo").as_str()));
        assert_eq!(status.storage_namespace.as_deref(), Some(ns.as_str()));
        let history = status.history.clone().unwrap();
        assert_eq!((history[0].version, history[0].status.as_str()), (1, "deployed"));
        assert_eq!(history[0].chart_version, "6.1.0");

        // The real helm lists and reads the release.
        let list = helm_json(home.path(), &["list", "-n", &ns]);
        assert_eq!(list[0]["name"], "default-podinfo");
        assert_eq!(list[0]["namespace"], "default");
        assert_eq!(list[0]["revision"], "1");
        assert_eq!(list[0]["status"], "deployed");
        assert_eq!(list[0]["chart"], "podinfo-6.1.0");
        let manifest = helm(home.path(), &["get", "manifest", "default-podinfo", "-n", &ns]);
        assert!(manifest.contains("# Source: podinfo/templates/deployment.yaml"), "{manifest}");
        let notes = helm(home.path(), &["get", "notes", "default-podinfo", "-n", &ns]);
        assert!(notes.contains("podinfo 6.1.0 is released as default-podinfo in default"), "{notes}");

        // The objects carry Flux's origin labels and Helm's ownership metadata.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
        let deployment = deployments.get("default-podinfo").await.unwrap();
        let labels = deployment.metadata.labels.clone().unwrap();
        assert_eq!(labels["helm.toolkit.fluxcd.io/name"], "podinfo");
        assert_eq!(labels["helm.toolkit.fluxcd.io/namespace"], ns);
        assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm");
        let annotations = deployment.metadata.annotations.clone().unwrap();
        assert_eq!(annotations["meta.helm.sh/release-name"], "default-podinfo");
        assert_eq!(annotations["meta.helm.sh/release-namespace"], "default");
        let managers: Vec<String> = deployment
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|f| f.manager.clone())
            .collect();
        assert!(managers.contains(&"helm-controller".to_owned()), "{managers:?}");

        // Hooks ran around the install, pre before post.
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let version = |cm: ConfigMap| -> u64 {
            cm.metadata.resource_version.unwrap().parse().unwrap()
        };
        let pre = version(config_maps.get("default-podinfo-pre-install").await.unwrap());
        let post = version(config_maps.get("default-podinfo-post-install").await.unwrap());
        assert!(pre < post, "pre-install {pre} post-install {post}");

        // A values change is an upgrade: revision 2, revision 1 superseded.
        let patch = json!({"spec": {"values": {"ui": {"message": "hello"}}}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        release_status(&api, "podinfo", "the values upgrade", is_ready_with(
            "Helm upgrade succeeded for release default/default-podinfo.v2 with chart podinfo@6.1.0",
        ))
        .await;
        let history = helm_json(home.path(), &["history", "default-podinfo", "-n", &ns]);
        let rows: Vec<(i64, String, String)> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["revision"].as_i64().unwrap(), r["status"].as_str().unwrap().to_owned(), r["description"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            rows,
            [
                (1, "superseded".to_owned(), "Install complete".to_owned()),
                (2, "deployed".to_owned(), "Upgrade complete".to_owned())
            ]
        );
        let values = helm(home.path(), &["get", "values", "default-podinfo", "-n", &ns]);
        assert!(values.contains("message: hello"), "{values}");

        // A semver range picks the newest chart, pushed after the release was made.
        push_chart(home.path(), &registry, "6.2.0");
        let patch = json!({"spec": {"chart": {"spec": {"version": ">=6.0.0"}}}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        release_status(&api, "podinfo", "the range upgrade", is_ready_with(
            "Helm upgrade succeeded for release default/default-podinfo.v3 with chart podinfo@6.2.0",
        ))
        .await;
        let list = helm_json(home.path(), &["list", "-n", &ns]);
        assert_eq!(list[0]["chart"], "podinfo-6.2.0");

        // Deleting the HelmRelease uninstalls: no release, no objects, no HelmChart.
        api.delete("podinfo", &DeleteParams::default()).await.unwrap();
        wait_for("the HelmRelease to go", WAIT, || async { Ok(api.get_opt("podinfo").await?) }, Option::is_none)
            .await
            .unwrap();
        let list = helm_json(home.path(), &["list", "-n", &ns]);
        assert_eq!(list, json!([]));
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
        let stored = secrets.list(&kube::api::ListParams::default().labels("owner=helm")).await.unwrap();
        assert!(stored.items.is_empty(), "release Secrets left: {}", stored.items.len());
        assert!(deployments.get_opt("default-podinfo").await.unwrap().is_none());
        let charts: Api<api::source::v1::HelmChart> = Api::namespaced(client.clone(), &ns);
        assert!(charts.get_opt(&format!("{ns}-podinfo")).await.unwrap().is_none());
        let pre_delete = config_maps.get("default-podinfo-pre-delete").await.unwrap();
        assert_eq!(pre_delete.data.unwrap()["revision"], "3");
        for event in ["pre-install", "post-install", "pre-upgrade", "post-upgrade", "pre-delete", "post-delete"] {
            let _ = config_maps.delete(&format!("default-podinfo-{event}"), &DeleteParams::default()).await;
        }
    })
    .await;
}
