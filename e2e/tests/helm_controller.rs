//! helm-controller and source-controller against the real API server and registry, with
//! charts pushed by the real `helm` (v4.1.4), and the releases read back by it: the Helm OCI
//! example as users write it, upgrades, remediation, take-over, deletion and hooks.

use std::path::Path;
use std::time::Duration;

use api::helm::v2::{HelmRelease, HelmReleaseStatus};
use api::meta::ConditionStatus;
use e2e::bin::{helm, push_chart};
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

/// A registry with the test chart pushed by the real helm, and helm's own directories.
struct Charts {
    home: tempfile::TempDir,
    registry: Registry,
}

impl Charts {
    fn pushed(versions: &[&str]) -> Self {
        let charts = Charts {
            home: tempfile::tempdir().unwrap(),
            registry: Registry::start(),
        };
        for version in versions {
            push_chart(
                charts.home.path(),
                &charts.registry.oci_url("charts"),
                version,
            );
        }
        charts
    }
}

/// Applies the OCI HelmRepository and a HelmRelease `podinfo` with `spec`, and waits until
/// it is installed.
async fn install(client: &Client, ns: &str, registry: &Registry, spec: Value) -> Api<HelmRelease> {
    apply(client, ns, oci_helm_repository(registry)).await;
    apply(client, ns, helm_release("podinfo", spec)).await;
    let api: Api<HelmRelease> = Api::namespaced(client.clone(), ns);
    release_status(
        &api,
        "podinfo",
        "the release installed",
        is_ready_with("Helm install succeeded"),
    )
    .await;
    api
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

fn is_ready_with(message: &str) -> impl Fn(&HelmReleaseStatus) -> bool + '_ {
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
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
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
        push_chart(home.path(), &registry.oci_url("charts"), "6.2.0");
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

/// A HelmRelease of the test chart from an OCI HelmRepository, released in its own namespace.
fn helm_release(name: &str, spec: Value) -> Value {
    let mut base = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "podinfo", "version": "6.1.0",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
    });
    base.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name}, "spec": base})
}

fn oci_helm_repository(registry: &Registry) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "charts"},
        "spec": {"interval": "10m", "type": "oci", "url": registry.oci_url("charts")}})
}

/// `(revision, status, description)` of each row of `helm history`.
fn history_rows(home: &Path, release: &str, ns: &str) -> Vec<(i64, String, String)> {
    helm_json(home, &["history", release, "-n", ns])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
                r["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_upgrade_that_fails_its_wait_is_rolled_back_and_slack_is_told() {
    use e2e::controllers::NotificationController;
    use e2e::webhook::Webhook;
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let notification = NotificationController::start(&ns);
        let slack = Webhook::start(None).await;
        apply(&client, &ns, json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": "slack"}, "spec": {"type": "slack", "address": format!("{}/services/T0/B0/x", slack.base)}})).await;
        apply(&client, &ns, json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": "releases"}, "spec": {"providerRef": {"name": "slack"}, "eventSeverity": "error",
            "eventSources": [{"kind": "HelmRelease", "name": "*"}]}})).await;
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, Some(&notification.events_url()), &[]);
        let api = install(&client, &ns, registry, json!({
            "timeout": "8s",
            "upgrade": {"remediation": {"retries": 1}},
        })).await;

        // One replica never becomes ready here (no kubelet): the upgrade's wait fails.
        let patch = json!({"spec": {"values": {"replicaCount": 1}}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        let expected = format!("Helm rollback to previous release {ns}/podinfo.v1 with chart podinfo@6.1.0 succeeded");
        let status = release_status(&api, "podinfo", "the rollback", |s| {
            ready(s).is_some_and(|(status, reason, message)| {
                status == ConditionStatus::False && reason == "RollbackSucceeded" && message == expected
            })
        })
        .await;
        assert!(status.upgrade_failures.unwrap_or(0) >= 1, "{status:?}");
        let rows = history_rows(home.path(), "podinfo", &ns);
        assert_eq!(rows[0], (1, "superseded".to_owned(), "Install complete".to_owned()));
        assert_eq!((rows[1].0, rows[1].1.as_str()), (2, "failed"));
        assert!(rows[1].2.starts_with("Upgrade \"podinfo\" failed: "), "{rows:?}");
        assert_eq!((rows[2].0, rows[2].2.as_str()), (3, "Rollback to 1"));

        // The retries run out: stalled, Ready keeps the upgrade failure.
        let status = release_status(&api, "podinfo", "retries exhausted", |s| {
            s.conditions.iter().flatten().any(|c| c.type_ == "Stalled" && c.reason == "RetriesExceeded")
        })
        .await;
        let stalled = status.conditions.iter().flatten().find(|c| c.type_ == "Stalled").unwrap();
        assert_eq!(stalled.message, "Failed to upgrade after 2 attempt(s)");

        let failures = slack
            .wait_for(1, WAIT, |r| r.body.to_string().contains("Helm upgrade failed for release"))
            .await;
        assert!(!failures.is_empty(), "no upgrade failure reached Slack: {:?}", slack.received());
    })
    .await;
}

#[tokio::test]
async fn a_release_installed_by_helm_is_taken_over() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let chart = format!("{}/podinfo", registry.oci_url("charts"));
        helm(
            home.path(),
            &[
                "install",
                "podinfo",
                &chart,
                "--version",
                "6.1.0",
                "-n",
                &ns,
                "--plain-http",
            ],
        );
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        apply(&client, &ns, oci_helm_repository(registry)).await;
        apply(
            &client,
            &ns,
            helm_release("podinfo", json!({"values": {"ui": {"message": "flux"}}})),
        )
        .await;
        let api: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
        release_status(
            &api,
            "podinfo",
            "the take-over",
            is_ready_with(&format!(
                "Helm upgrade succeeded for release {ns}/podinfo.v2 with chart podinfo@6.1.0"
            )),
        )
        .await;
        let rows = history_rows(home.path(), "podinfo", &ns);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(
            (rows[0].1.as_str(), rows[0].2.as_str()),
            ("superseded", "Install complete")
        );
        assert_eq!(
            (rows[1].1.as_str(), rows[1].2.as_str()),
            ("deployed", "Upgrade complete")
        );
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        let labels = deployments
            .get("podinfo")
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap();
        assert_eq!(labels["helm.toolkit.fluxcd.io/name"], "podinfo");
        // And the real helm continues ours: its upgrade is revision 3.
        helm(
            home.path(),
            &[
                "upgrade",
                "podinfo",
                &chart,
                "--version",
                "6.1.0",
                "-n",
                &ns,
                "--plain-http",
                "--reuse-values",
            ],
        );
        assert_eq!(history_rows(home.path(), "podinfo", &ns).len(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_controller_killed_mid_upgrade_leaves_no_pending_release() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let _source = SourceController::start(&ns, None);
        let mut helm_controller = HelmController::start(&ns, None, &[]);
        let api = install(&client, &ns, registry, json!({"timeout": "5m"})).await;

        // An upgrade that waits (one replica never becomes ready), killed while it waits.
        let patch = json!({"spec": {"values": {"replicaCount": 1}}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        wait_for(
            "the upgrade to be pending",
            WAIT,
            || async { Ok(helm_json(home.path(), &["list", "-n", &ns, "--pending"])) },
            |list| list.as_array().is_some_and(|l| !l.is_empty()),
        )
        .await
        .unwrap();
        helm_controller.process.kill();
        assert_eq!(
            history_rows(home.path(), "podinfo", &ns)[1].1,
            "pending-upgrade"
        );

        // A fix lands while it is down; the next controller unlocks and releases it.
        let patch = json!({"spec": {"values": {"replicaCount": 0, "ui": {"message": "fixed"}}}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        helm_controller.process.restart();
        release_status(
            &api,
            "podinfo",
            "the release after the restart",
            is_ready_with("Helm upgrade succeeded"),
        )
        .await;
        let rows = history_rows(home.path(), "podinfo", &ns);
        assert_eq!(
            rows[1],
            (
                2,
                "failed".to_owned(),
                "Release unlocked from stale 'pending-upgrade' state".to_owned()
            )
        );
        assert_eq!((rows[2].0, rows[2].1.as_str()), (3, "deployed"));
        assert!(
            rows.iter()
                .all(|(_, status, _)| !status.starts_with("pending")),
            "{rows:?}"
        );
    })
    .await;
}

/// Asks for a reconcile as `flux reconcile` does.
async fn request_reconcile(api: &Api<HelmRelease>, name: &str, at: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": at}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn drift_is_corrected_when_enabled_and_only_reported_with_warn() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        let api = install(
            &client,
            &ns,
            registry,
            json!({"driftDetection": {"mode": "enabled"}}),
        )
        .await;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        let edit = |replicas: i32| {
            let deployments = deployments.clone();
            async move {
                let patch = json!({"spec": {"replicas": replicas}});
                deployments
                    .patch(
                        "podinfo",
                        &PatchParams {
                            field_manager: Some("someone".into()),
                            ..Default::default()
                        },
                        &Patch::Merge(&patch),
                    )
                    .await
                    .unwrap();
            }
        };
        let replicas = || async { Ok(deployments.get("podinfo").await?.spec.unwrap().replicas) };

        edit(3).await;
        request_reconcile(&api, "podinfo", "1").await;
        wait_for("the drift corrected", WAIT, replicas, |r| *r == Some(0))
            .await
            .unwrap();
        let events = e2e::cluster::events_for::<HelmRelease>(&client, &ns, "podinfo")
            .await
            .unwrap();
        let reasons: Vec<String> = events.iter().filter_map(|e| e.reason.clone()).collect();
        assert!(
            reasons.contains(&"DriftDetected".to_owned())
                && reasons.contains(&"DriftCorrected".to_owned()),
            "{reasons:?}"
        );
        let detected = events
            .iter()
            .find(|e| e.reason.as_deref() == Some("DriftDetected"))
            .unwrap();
        assert!(
            detected
                .message
                .as_deref()
                .unwrap()
                .contains(&format!("Deployment/{ns}/podinfo changed")),
            "{detected:?}"
        );

        let patch = json!({"spec": {"driftDetection": {"mode": "warn"}}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        release_status(&api, "podinfo", "no drift", |s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Drifted" && c.reason == "NoDriftDetected")
                && s.observed_generation == Some(2)
        })
        .await;
        edit(3).await;
        request_reconcile(&api, "podinfo", "2").await;
        let status = release_status(&api, "podinfo", "the drift reported", |s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Drifted" && c.status == ConditionStatus::True)
        })
        .await;
        assert_eq!(ready(&status).unwrap().0, ConditionStatus::True);
        assert_eq!(replicas().await.unwrap(), Some(3), "warn leaves the edit");
        assert_eq!(
            history_rows(home.path(), "podinfo", &ns).len(),
            1,
            "no new revision"
        );
    })
    .await;
}

fn helm_chart(name: &str, version: &str, verify: Option<Value>) -> Value {
    let mut spec = json!({"chart": "podinfo", "version": version, "interval": "10m",
        "sourceRef": {"kind": "HelmRepository", "name": "charts"}});
    if let Some(verify) = verify {
        spec["verify"] = verify;
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "metadata": {"name": name}, "spec": spec})
}

async fn chart_status(
    api: &Api<api::source::v1::HelmChart>,
    name: &str,
    what: &str,
    done: impl Fn(&api::source::v1::HelmChartStatus) -> bool,
) -> api::source::v1::HelmChartStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

fn chart_condition(
    status: &api::source::v1::HelmChartStatus,
    type_: &str,
) -> Option<(ConditionStatus, String, String)> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}

#[tokio::test]
async fn helm_charts_are_cosign_verified_and_missing_versions_named() {
    use e2e::cosign::{Signer, attach_signature};
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        push_chart(home.path(), &registry.oci_url("charts"), "6.2.0");
        let _source = SourceController::start(&ns, None);
        apply(&client, &ns, oci_helm_repository(registry)).await;
        let signer = Signer::generate();
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
        let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
            "metadata": {"name": "cosign-pub"}, "stringData": {"cosign.pub": signer.public_pem()}
        }))
        .unwrap();
        secrets.create(&Default::default(), &secret).await.unwrap();
        let verify = json!({"provider": "cosign", "secretRef": {"name": "cosign-pub"}});
        let charts: Api<api::source::v1::HelmChart> = Api::namespaced(client.clone(), &ns);

        // Unsigned: refused, nothing stored.
        apply(&client, &ns, helm_chart("signed", "6.1.0", Some(verify.clone()))).await;
        let status = chart_status(&charts, "signed", "verification refused", |s| {
            chart_condition(s, "SourceVerified").is_some_and(|c| c.0 == ConditionStatus::False)
        })
        .await;
        let (_, reason, message) = chart_condition(&status, "SourceVerified").unwrap();
        assert_eq!(reason, "VerificationError");
        assert!(message.starts_with("failed to verify the signature using provider 'cosign': no matching signatures"), "{message}");
        assert!(status.artifact.is_none());

        // Signed with the key: pulled and stored as Flux names it.
        let digest = registry.manifest_digest("charts/podinfo", "6.1.0");
        let payload = Signer::payload(registry, "charts/podinfo", &digest);
        attach_signature(registry, "charts/podinfo", &digest, &payload, &signer.sign(&payload));
        let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "1"}}});
        charts.patch("signed", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        let status = chart_status(&charts, "signed", "the verified chart stored", |s| {
            chart_condition(s, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
        })
        .await;
        assert_eq!(
            chart_condition(&status, "Ready").unwrap(),
            (ConditionStatus::True, "ChartPullSucceeded".into(), "pulled 'podinfo' chart with version '6.1.0'".into())
        );
        assert_eq!(chart_condition(&status, "SourceVerified").unwrap().2, "verified signature of version 6.1.0");
        let artifact = status.artifact.unwrap();
        assert_eq!(artifact.revision, "6.1.0");
        assert_eq!(artifact.path, format!("helmchart/{ns}/signed/podinfo-6.1.0.tgz"));

        // 6.2.0 carries no signature by this key: refused, 6.1.0 stays.
        let patch = json!({"spec": {"version": "6.2.0"}});
        charts.patch("signed", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        let status = chart_status(&charts, "signed", "6.2.0 refused", |s| {
            chart_condition(s, "SourceVerified").is_some_and(|c| c.0 == ConditionStatus::False)
                && s.observed_generation == Some(1)
        })
        .await;
        assert_eq!(status.artifact.unwrap().revision, "6.1.0");

        // A version the repository does not have, exact and as a range.
        apply(&client, &ns, helm_chart("missing", "9.9.9", None)).await;
        let status = chart_status(&charts, "missing", "the missing version", |s| {
            chart_condition(s, "Ready").is_some_and(|c| c.0 == ConditionStatus::False)
        })
        .await;
        let (_, reason, message) = chart_condition(&status, "Ready").unwrap();
        assert_eq!(reason, "ChartPullError");
        assert!(message.starts_with(&format!(
            "chart pull error: failed to download chart for remote reference: failed to get '{}/podinfo:9.9.9'",
            registry.oci_url("charts").trim_start_matches("oci://")
        )), "{message}");
        apply(&client, &ns, helm_chart("no-match", "^9.0.0", None)).await;
        let status = chart_status(&charts, "no-match", "the range without a match", |s| {
            chart_condition(s, "Stalled").is_some()
        })
        .await;
        assert_eq!(
            chart_condition(&status, "Ready").unwrap().2,
            "invalid chart reference: failed to get chart version for remote reference: could not locate a version matching provided version string ^9.0.0"
        );
    })
    .await;
}

#[tokio::test]
async fn a_chart_ref_to_an_oci_repository_releases_the_chart_with_its_digest() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        apply(&client, &ns, json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"interval": "10m", "url": format!("{}/podinfo", registry.oci_url("charts")),
                "ref": {"tag": "6.1.0"},
                "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "operation": "copy"}}}))
        .await;
        apply(&client, &ns, json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo"},
            "spec": {"interval": "10m", "chartRef": {"kind": "OCIRepository", "name": "podinfo"}}}))
        .await;
        let digest = registry.manifest_digest("charts/podinfo", "6.1.0");
        let short = &digest["sha256:".len().."sha256:".len() + 12];
        let api: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
        let status = release_status(&api, "podinfo", "the release installed", is_ready_with(&format!(
            "Helm install succeeded for release {ns}/podinfo.v1 with chart podinfo@6.1.0+{short}"
        )))
        .await;
        assert_eq!(status.last_attempted_revision_digest.as_deref(), Some(digest.as_str()));
        assert!(status.helm_chart.is_none());
        let list = helm_json(home.path(), &["list", "-n", &ns]);
        assert_eq!(list[0]["chart"], format!("podinfo-6.1.0+{short}"));
    })
    .await;
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let out = e2e::bin::flux_rs(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn columns(line: &str) -> Vec<&str> {
    line.split('\t').map(str::trim).collect()
}

#[tokio::test]
async fn the_cli_gets_reconciles_suspends_and_traces_helm_releases() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        let api = install(&client, &ns, registry, json!({})).await;

        let (ok, out, err) = cli(&["get", "helmreleases", "-n", &ns]);
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            columns(lines[0]),
            ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
        );
        assert_eq!(
            columns(lines[1]),
            [
                "podinfo",
                "6.1.0",
                "False",
                "True",
                &format!(
                    "Helm install succeeded for release {ns}/podinfo.v1 with chart podinfo@6.1.0"
                )
            ]
        );
        let (ok, out, err) = cli(&["get", "sources", "chart", "-n", &ns, "--no-header"]);
        assert!(ok, "{err}");
        assert_eq!(
            columns(out.lines().next().unwrap()),
            [
                format!("{ns}-podinfo").as_str(),
                "6.1.0",
                "False",
                "True",
                "pulled 'podinfo' chart with version '6.1.0'"
            ]
        );
        let (ok, out, _) = cli(&["get", "sources", "helm", "-n", &ns, "--no-header"]);
        assert!(ok && out.starts_with("charts"), "{out}");

        // --force upgrades though nothing changed.
        let (ok, _, err) = cli(&[
            "reconcile",
            "helmrelease",
            "podinfo",
            "-n",
            &ns,
            "--with-source",
            "--force",
        ]);
        assert!(ok, "{err}");
        assert!(
            err.contains("✔ fetched revision 6.1.0") && err.contains("✔ applied revision 6.1.0"),
            "{err}"
        );
        assert_eq!(history_rows(home.path(), "podinfo", &ns).len(), 2);

        let (ok, _, err) = cli(&["suspend", "hr", "podinfo", "-n", &ns]);
        assert!(ok, "{err}");
        assert!(api.get("podinfo").await.unwrap().spec.suspend);
        let (ok, _, err) = cli(&["resume", "hr", "podinfo", "-n", &ns]);
        assert!(ok, "{err}");
        assert!(!api.get("podinfo").await.unwrap().spec.suspend);

        let (ok, out, err) = cli(&["trace", "deployment", "podinfo", "-n", &ns]);
        assert!(ok, "{err}");
        for expected in [
            "Object:          deployment/podinfo",
            "HelmRelease:     podinfo",
            &format!("HelmChart:       {ns}-podinfo"),
            "HelmRepository:  charts",
            &format!("URL:             {}", registry.oci_url("charts")),
        ] {
            assert!(out.contains(expected), "{expected} in {out}");
        }
        let (ok, out, err) = cli(&["events", "-n", &ns, "--for", "HelmRelease/podinfo"]);
        assert!(ok, "{err}");
        assert!(
            out.contains("InstallSucceeded") && out.contains("UpgradeSucceeded"),
            "{out}"
        );
    })
    .await;
}

#[tokio::test]
async fn post_renderers_common_metadata_and_created_namespaces_shape_the_release() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        let target = format!("{ns}-apps");
        apply(&client, &ns, oci_helm_repository(registry)).await;
        apply(&client, &ns, helm_release("podinfo", json!({
            "targetNamespace": target,
            "install": {"createNamespace": true},
            "commonMetadata": {"labels": {"team": "a"}},
            "postRenderers": [{"kustomize": {
                "patches": [{"target": {"kind": "Deployment"},
                    "patch": "- op: add\n  path: /metadata/annotations/env\n  value: staging\n"}],
                "images": [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.2.0"}]}}],
        })))
        .await;
        let api: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
        let release = format!("{target}-podinfo");
        release_status(
            &api,
            "podinfo",
            "the release installed",
            is_ready_with("Helm install succeeded"),
        )
        .await;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &target);
        let deployment = deployments.get(&release).await.unwrap();
        assert_eq!(
            deployment.metadata.annotations.as_ref().unwrap()["env"],
            "staging"
        );
        assert_eq!(deployment.metadata.labels.as_ref().unwrap()["team"], "a");
        let image = deployment.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        assert_eq!(image, "ghcr.io/stefanprodan/podinfo:6.2.0");
        let manifest = helm(home.path(), &["get", "manifest", &release, "-n", &ns]);
        assert!(
            manifest.contains("# Source: podinfo/templates/deployment.yaml")
                && manifest.contains("env: staging"),
            "{manifest}"
        );

        // Changing only the common metadata re-renders: an upgrade.
        let patch = json!({"spec": {"commonMetadata": {"labels": {"team": "b"}}}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        release_status(
            &api,
            "podinfo",
            "the metadata upgrade",
            is_ready_with("Helm upgrade succeeded"),
        )
        .await;
        let deployment = deployments.get(&release).await.unwrap();
        assert_eq!(deployment.metadata.labels.as_ref().unwrap()["team"], "b");
        api.delete("podinfo", &DeleteParams::default())
            .await
            .unwrap();
        wait_for(
            "the HelmRelease to go",
            WAIT,
            || async { Ok(api.get_opt("podinfo").await?) },
            Option::is_none,
        )
        .await
        .unwrap();
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let _ = namespaces.delete(&target, &DeleteParams::default()).await;
    })
    .await;
}

#[tokio::test]
async fn test_hooks_run_after_a_release_when_tests_are_enabled() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        apply(&client, &ns, oci_helm_repository(registry)).await;
        apply(&client, &ns, helm_release("podinfo", json!({"test": {"enable": true}}))).await;
        let api: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
        let expected = format!(
            "Helm test succeeded for release {ns}/podinfo.v1 with chart podinfo@6.1.0: 1 test hook(s) completed successfully"
        );
        let status = release_status(&api, "podinfo", "the release tested", is_ready_with(&expected)).await;
        let tested = status.history.unwrap()[0].test_hooks.clone().unwrap();
        assert_eq!(tested["podinfo-smoke"].phase.as_deref(), Some("Succeeded"));
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        assert!(config_maps.get_opt("podinfo-smoke").await.unwrap().is_some());
        // helm reads the recorded test run.
        let status_text = helm(home.path(), &["status", "podinfo", "-n", &ns]);
        assert!(status_text.contains("podinfo-smoke"), "{status_text}");
    })
    .await;
}

#[tokio::test]
async fn a_new_release_name_uninstalls_the_old_release() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let (home, registry) = (&charts.home, &charts.registry);
        let _source = SourceController::start(&ns, None);
        let _helm_controller = HelmController::start(&ns, None, &[]);
        let api = install(&client, &ns, registry, json!({})).await;
        let patch = json!({"spec": {"releaseName": "renamed"}});
        api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        release_status(
            &api,
            "podinfo",
            "the renamed release",
            is_ready_with(&format!(
                "Helm install succeeded for release {ns}/renamed.v1 with chart podinfo@6.1.0"
            )),
        )
        .await;
        let list = helm_json(home.path(), &["list", "-n", &ns]);
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["renamed"]);
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        assert!(deployments.get_opt("podinfo").await.unwrap().is_none());
        assert!(
            deployments
                .get_opt("renamed-podinfo")
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn values_files_are_merged_into_a_packaged_chart() {
    with_temp_ns(|client, ns| async move {
        let charts = Charts::pushed(&["6.1.0"]);
        let registry = &charts.registry;
        let _source = SourceController::start(&ns, None);
        apply(&client, &ns, oci_helm_repository(registry)).await;
        let mut chart = helm_chart("packaged", "6.1.0", None);
        chart["spec"]["valuesFiles"] = json!(["values.yaml", "values-prod.yaml"]);
        apply(&client, &ns, chart).await;
        let api: Api<api::source::v1::HelmChart> = Api::namespaced(client.clone(), &ns);
        let status = chart_status(&api, "packaged", "the packaged chart", |s| {
            chart_condition(s, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
        })
        .await;
        assert_eq!(
            chart_condition(&status, "Ready").unwrap(),
            (ConditionStatus::True, "ChartPackageSucceeded".into(),
             "packaged 'podinfo' chart with version '6.1.0+1' and merged values files [values.yaml values-prod.yaml]".into())
        );
        let artifact = status.artifact.unwrap();
        assert_eq!(artifact.path, format!("helmchart/{ns}/packaged/podinfo-6.1.0+1.tgz"));
        assert_eq!(artifact.revision, "6.1.0+1");

        // A file the chart does not have: stalled, unless missing files may be skipped.
        let mut missing = helm_chart("missing", "6.1.0", None);
        missing["spec"]["valuesFiles"] = json!(["values-prod.yaml", "values-staging.yaml"]);
        apply(&client, &ns, missing.clone()).await;
        let status = chart_status(&api, "missing", "the missing values file", |s| chart_condition(s, "Stalled").is_some()).await;
        let (_, reason, message) = chart_condition(&status, "Ready").unwrap();
        assert_eq!(reason, "ValuesFilesError");
        assert_eq!(message, "values files error: no values file found at path 'values-staging.yaml'");
        missing["spec"]["ignoreMissingValuesFiles"] = json!(true);
        apply(&client, &ns, missing).await;
        let status = chart_status(&api, "missing", "the missing file skipped", |s| {
            chart_condition(s, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
        })
        .await;
        assert_eq!(status.observed_values_files, Some(vec!["values-prod.yaml".to_owned()]));
    })
    .await;
}
