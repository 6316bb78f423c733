//! kustomize-controller end to end: the real binaries (flux-rs, source-controller,
//! kustomize-controller) against the local control plane and a real registry.

use std::collections::BTreeMap;
use std::time::Duration;

use api::kustomize::v1::{Kustomization, KustomizationStatus};
use api::meta::ConditionStatus;
use api::source::v1::OCIRepository;
use e2e::bin::push_artifact;
use e2e::cluster::{apply, events_for, wait_for, with_temp_ns};
use e2e::controllers::{KustomizeController, SourceController};
use e2e::registry::Registry;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 0
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
      - name: podinfo
        image: podinfo:6.5.0
        ports:
        - containerPort: 9898
          name: http
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: podinfo
spec:
  selector:
    app: podinfo
  ports:
  - name: http
    port: 9898
    targetPort: http
";

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A directory with these files.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

async fn oci_repository(
    client: &Client,
    ns: &str,
    name: &str,
    url: &str,
    reference: Value,
) -> Api<OCIRepository> {
    apply(
        client,
        ns,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"url": url, "interval": "10m", "ref": reference},
        }),
    )
    .await;
    Api::namespaced(client.clone(), ns)
}

async fn kustomization(client: &Client, ns: &str, name: &str, spec: Value) -> Api<Kustomization> {
    apply(
        client,
        ns,
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }),
    )
    .await;
    Api::namespaced(client.clone(), ns)
}

async fn request_reconcile<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let token = format!("{}", jiff::Timestamp::now());
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn ready(status: &KustomizationStatus) -> Option<&api::meta::Condition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

fn ready_is(status: &KustomizationStatus, value: ConditionStatus, reason: &str) -> bool {
    ready(status).is_some_and(|c| c.status == value && c.reason == reason)
}

async fn ks_status(
    api: &Api<Kustomization>,
    name: &str,
    what: &str,
    done: impl Fn(&KustomizationStatus) -> bool,
) -> KustomizationStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

fn applied(revision: &str) -> impl Fn(&KustomizationStatus) -> bool + '_ {
    move |s| {
        ready_is(s, ConditionStatus::True, "ReconciliationSucceeded")
            && s.last_applied_revision.as_deref() == Some(revision)
    }
}

fn inventory_ids(status: &KustomizationStatus) -> Vec<String> {
    let mut ids: Vec<String> = status
        .inventory
        .iter()
        .flat_map(|i| i.entries.iter().map(|e| e.id.clone()))
        .collect();
    ids.sort();
    ids
}

/// Everything a test needs: a registry, source-controller and kustomize-controller.
struct Stack {
    registry: Registry,
    _source: SourceController,
    kustomize: KustomizeController,
}

fn stack(ns: &str) -> Stack {
    Stack {
        registry: Registry::start(),
        _source: SourceController::start(ns, None),
        kustomize: KustomizeController::start(ns, None),
    }
}

#[tokio::test]
async fn staging_flow_applies_prunes_and_recovers_from_a_broken_revision() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/podinfo");
        let v1 = tree(&[("deploy/deployment.yaml", DEPLOYMENT), ("deploy/service.yaml", SERVICE), ("deploy/config.yaml", &config_map("podinfo-config", "v1"))]);
        let digest1 = push_artifact(&format!("{url}:latest"), v1.path(), &[]);
        let sources = oci_repository(&client, &ns, "podinfo", &url, json!({"tag": "latest"})).await;
        let api = kustomization(&client, &ns, "podinfo", json!({
            "interval": "10m", "path": "./deploy", "prune": true, "wait": true, "timeout": "2m",
            "targetNamespace": ns,
            "sourceRef": {"kind": "OCIRepository", "name": "podinfo"},
            "patches": [{"patch": "- op: add\n  path: /metadata/annotations\n  value:\n    env: staging\n", "target": {"kind": "Deployment"}}],
        })).await;

        let revision1 = format!("latest@{digest1}");
        let status = ks_status(&api, "podinfo", "the first revision applied", applied(&revision1)).await;
        assert_eq!(ready(&status).unwrap().message, format!("Applied revision: {revision1}"));
        assert_eq!(status.last_attempted_revision.as_deref(), Some(revision1.as_str()));
        assert_eq!(status.last_applied_origin_revision.as_deref(), Some("main@sha1:0123456789abcdef"));
        assert_eq!(
            inventory_ids(&status),
            [format!("{ns}_podinfo-config__ConfigMap"), format!("{ns}_podinfo__Service"), format!("{ns}_podinfo_apps_Deployment")]
        );
        let history = status.history.clone().unwrap();
        assert_eq!(history.len(), 1);
        assert!(history[0].digest.starts_with("sha256:"));
        assert_eq!(history[0].last_reconciled_status, "ReconciliationSucceeded");
        let healthy = status.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Healthy").unwrap();
        assert_eq!(healthy.status, ConditionStatus::True);

        let deployment = Api::<Deployment>::namespaced(client.clone(), &ns).get("podinfo").await.unwrap();
        assert_eq!(deployment.metadata.annotations.unwrap()["env"], "staging");
        let labels = deployment.metadata.labels.unwrap();
        assert_eq!(labels[NAME_LABEL], "podinfo");
        assert_eq!(labels[NAMESPACE_LABEL], ns);
        let managers: Vec<String> = deployment.metadata.managed_fields.unwrap().iter().filter_map(|f| f.manager.clone()).collect();
        assert!(managers.contains(&"kustomize-controller".to_owned()), "{managers:?}");

        let events = events_for::<Kustomization>(&client, &ns, "podinfo").await.unwrap();
        let messages: Vec<String> = events.iter().filter_map(|e| e.message.clone()).collect();
        assert!(
            messages.iter().any(|m| m.contains(&format!("Deployment/{ns}/podinfo created")) && m.contains(&format!("Service/{ns}/podinfo created"))),
            "{messages:?}"
        );
        assert!(messages.iter().any(|m| m.starts_with("Reconciliation finished in")), "{messages:?}");

        // A second revision without the Service: it is pruned, the rest stays.
        let v2 = tree(&[("deploy/deployment.yaml", DEPLOYMENT), ("deploy/config.yaml", &config_map("podinfo-config", "v2"))]);
        let digest2 = push_artifact(&format!("{url}:latest"), v2.path(), &[]);
        request_reconcile(&sources, "podinfo").await;
        let revision2 = format!("latest@{digest2}");
        let status = ks_status(&api, "podinfo", "the second revision applied", applied(&revision2)).await;
        assert_eq!(inventory_ids(&status).len(), 2);
        assert!(Api::<Service>::namespaced(client.clone(), &ns).get_opt("podinfo").await.unwrap().is_none(), "the Service is pruned");
        let config = Api::<ConfigMap>::namespaced(client.clone(), &ns).get("podinfo-config").await.unwrap();
        assert_eq!(config.data.unwrap()["value"], "v2");
        let messages: Vec<String> = events_for::<Kustomization>(&client, &ns, "podinfo").await.unwrap().iter().filter_map(|e| e.message.clone()).collect();
        assert!(messages.iter().any(|m| m.contains(&format!("Service/{ns}/podinfo deleted"))), "{messages:?}");

        // A broken third revision changes nothing and says which file is at fault.
        let v3 = tree(&[("deploy/deployment.yaml", DEPLOYMENT), ("deploy/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n")]);
        let digest3 = push_artifact(&format!("{url}:latest"), v3.path(), &[]);
        request_reconcile(&sources, "podinfo").await;
        let revision3 = format!("latest@{digest3}");
        let status = ks_status(&api, "podinfo", "the broken revision refused", |s| {
            ready_is(s, ConditionStatus::False, "BuildFailed") && s.last_attempted_revision.as_deref() == Some(revision3.as_str())
        })
        .await;
        let message = &ready(&status).unwrap().message;
        assert!(message.contains("deploy/config.yaml"), "{message}");
        assert_eq!(status.last_applied_revision.as_deref(), Some(revision2.as_str()));
        let config = Api::<ConfigMap>::namespaced(client.clone(), &ns).get("podinfo-config").await.unwrap();
        assert_eq!(config.data.unwrap()["value"], "v2", "the cluster stays at the previous revision");

        // Fixing it recovers.
        let v4 = tree(&[("deploy/deployment.yaml", DEPLOYMENT), ("deploy/config.yaml", &config_map("podinfo-config", "v4"))]);
        let digest4 = push_artifact(&format!("{url}:latest"), v4.path(), &[]);
        request_reconcile(&sources, "podinfo").await;
        ks_status(&api, "podinfo", "the fixed revision applied", applied(&format!("latest@{digest4}"))).await;
        let metrics = stack.kustomize.process.metrics();
        assert!(metrics.contains(&format!("gotk_reconcile_duration_seconds_count{{kind=\"Kustomization\",name=\"podinfo\",namespace=\"{ns}\"}}")), "{metrics}");
    })
    .await;
}

#[tokio::test]
async fn semver_reference_rolls_forward() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/production");
        for version in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
            let files = tree(&[("config.yaml", &config_map("app", version))]);
            push_artifact(&format!("{url}:{version}"), files.path(), &[]);
        }
        let sources = oci_repository(&client, &ns, "app", &url, json!({"semver": ">=1.0.0"})).await;
        let api = kustomization(
            &client,
            &ns,
            "app",
            json!({
                "interval": "10m", "prune": true, "targetNamespace": ns,
                "sourceRef": {"kind": "OCIRepository", "name": "app"},
            }),
        )
        .await;
        let configs = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        let status = ks_status(&api, "app", "1.1.0 applied", |s| {
            s.last_applied_revision
                .as_deref()
                .is_some_and(|r| r.starts_with("1.1.0@"))
        })
        .await;
        assert!(ready_is(
            &status,
            ConditionStatus::True,
            "ReconciliationSucceeded"
        ));
        assert_eq!(
            configs.get("app").await.unwrap().data.unwrap()["value"],
            "1.1.0"
        );

        let files = tree(&[("config.yaml", &config_map("app", "1.2.0"))]);
        push_artifact(&format!("{url}:1.2.0"), files.path(), &[]);
        request_reconcile(&sources, "app").await;
        ks_status(&api, "app", "1.2.0 applied", |s| {
            s.last_applied_revision
                .as_deref()
                .is_some_and(|r| r.starts_with("1.2.0@"))
        })
        .await;
        assert_eq!(
            configs.get("app").await.unwrap().data.unwrap()["value"],
            "1.2.0"
        );
    })
    .await;
}

fn crd(group: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names:
    kind: Widget
    plural: widgets
    singular: widget
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"
    )
}

#[tokio::test]
async fn one_revision_with_crd_namespace_and_per_object_policies() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/platform");
        let group = format!("{ns}.e2e.flux-rs.test");
        let extra_ns = format!("{ns}-apps");
        let widget = format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: gadget\n  namespace: {extra_ns}\nspec:\n  size: 3\n");
        let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {extra_ns}\n");
        let in_extra = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {extra_ns}\ndata:\n  value: \"1\"\n");
        let once = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: once\n  namespace: {ns}\n  annotations:\n    kustomize.toolkit.fluxcd.io/ssa: IfNotPresent\ndata:\n  value: \"original\"\n");
        let kept = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: {ns}\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\ndata:\n  value: \"1\"\n");
        let drifting = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: drifting\n  namespace: {ns}\ndata:\n  value: desired\n");
        let v1 = tree(&[
            ("widget.yaml", &widget), ("crd.yaml", &crd(&group)), ("namespace.yaml", &namespace),
            ("settings.yaml", &in_extra), ("once.yaml", &once), ("kept.yaml", &kept), ("drifting.yaml", &drifting),
        ]);
        let digest1 = push_artifact(&format!("{url}:latest"), v1.path(), &[]);
        let sources = oci_repository(&client, &ns, "platform", &url, json!({"tag": "latest"})).await;
        let api = kustomization(&client, &ns, "platform", json!({
            "interval": "10m", "prune": true, "deletionPolicy": "Delete",
            "sourceRef": {"kind": "OCIRepository", "name": "platform"},
        })).await;
        // The CRD and the Namespace are applied (and established) before what needs them.
        let status = ks_status(&api, "platform", "the platform applied", applied(&format!("latest@{digest1}"))).await;
        assert_eq!(inventory_ids(&status).len(), 7, "{:?}", inventory_ids(&status));
        assert!(inventory_ids(&status).contains(&format!("_widgets.{group}_apiextensions.k8s.io_CustomResourceDefinition")));
        let gvk = GroupVersionKind::gvk(&group, "v1", "Widget");
        let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &extra_ns, &ApiResource::from_gvk(&gvk));
        assert_eq!(widgets.get("gadget").await.unwrap().data["spec"]["size"], 3);
        assert!(Api::<Namespace>::all(client.clone()).get_opt(&extra_ns).await.unwrap().is_some());

        // Someone edits what we applied, and changes the IfNotPresent object: the next
        // reconcile restores the first and leaves the second alone.
        let configs = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        let edit = json!({"data": {"value": "edited"}});
        configs.patch("drifting", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
        configs.patch("once", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
        request_reconcile(&api, "platform").await;
        wait_for("drift corrected", WAIT, || async { Ok(configs.get("drifting").await?.data.unwrap_or_default()) }, |d: &BTreeMap<String, String>| d.get("value").map(String::as_str) == Some("desired")).await.unwrap();
        assert_eq!(configs.get("once").await.unwrap().data.unwrap()["value"], "edited");

        // A revision without `kept` and `drifting`: only `drifting` is pruned.
        let v2 = tree(&[("widget.yaml", &widget), ("crd.yaml", &crd(&group)), ("namespace.yaml", &namespace), ("settings.yaml", &in_extra), ("once.yaml", &once)]);
        let digest2 = push_artifact(&format!("{url}:latest"), v2.path(), &[]);
        request_reconcile(&sources, "platform").await;
        let status = ks_status(&api, "platform", "the second revision applied", applied(&format!("latest@{digest2}"))).await;
        assert_eq!(inventory_ids(&status).len(), 5);
        assert!(configs.get_opt("drifting").await.unwrap().is_none());
        assert!(configs.get_opt("kept").await.unwrap().is_some(), "prune: disabled is respected");

        // Deleting the Kustomization with deletionPolicy Delete removes what it applied.
        api.delete("platform", &DeleteParams::default()).await.unwrap();
        wait_for("the Kustomization gone", WAIT, || async { Ok(api.get_opt("platform").await?.is_none()) }, |gone| *gone).await.unwrap();
        assert!(configs.get_opt("once").await.unwrap().is_none());
        let crds: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::from_gvk(&GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition")));
        wait_for("the CRD deleted", WAIT, || async { Ok(crds.get_opt(&format!("widgets.{group}")).await?.is_none()) }, |gone| *gone).await.unwrap();
        let _ = Api::<Namespace>::all(client.clone()).delete(&extra_ns, &DeleteParams::default()).await;
    })
    .await;
}

#[tokio::test]
async fn depends_on_waits_for_the_dependency() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/layers");
        let files = tree(&[
            ("infra/config.yaml", &config_map("infra", "1")),
            ("apps/config.yaml", &config_map("app", "1")),
        ]);
        let digest = push_artifact(&format!("{url}:latest"), files.path(), &[]);
        oci_repository(&client, &ns, "layers", &url, json!({"tag": "latest"})).await;
        let revision = format!("latest@{digest}");
        let apps = kustomization(
            &client,
            &ns,
            "apps",
            json!({
                "interval": "10m", "prune": true, "path": "./apps", "targetNamespace": ns,
                "sourceRef": {"kind": "OCIRepository", "name": "layers"},
                "dependsOn": [{"name": "infra"}],
            }),
        )
        .await;
        let status = ks_status(&apps, "apps", "waiting for infra", |s| {
            ready_is(s, ConditionStatus::False, "DependencyNotReady")
        })
        .await;
        assert!(
            ready(&status)
                .unwrap()
                .message
                .contains(&format!("dependency '{ns}/infra' is not ready")),
            "{:?}",
            ready(&status)
        );
        let configs = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        assert!(
            configs.get_opt("app").await.unwrap().is_none(),
            "nothing applied before the dependency is ready"
        );

        kustomization(
            &client,
            &ns,
            "infra",
            json!({
                "interval": "10m", "prune": true, "path": "./infra", "targetNamespace": ns,
                "sourceRef": {"kind": "OCIRepository", "name": "layers"},
            }),
        )
        .await;
        ks_status(
            &apps,
            "apps",
            "apps applied after infra",
            applied(&revision),
        )
        .await;
        let infra = Api::<Kustomization>::namespaced(client.clone(), &ns)
            .get("infra")
            .await
            .unwrap();
        assert!(applied(&revision)(&infra.status.unwrap()));
        assert!(configs.get_opt("app").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn impersonation_applies_as_the_service_account_and_reports_denials() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        // `deployer` may manage ConfigMaps in the namespace, and nothing else.
        apply(&client, &ns, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": ns}})).await;
        apply(&client, &ns, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "configmaps", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]})).await;
        apply(&client, &ns, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "deployer", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]})).await;

        let url = stack.registry.oci_url("apps/tenant");
        let allowed = tree(&[("config.yaml", &config_map("tenant", "1"))]);
        let digest = push_artifact(&format!("{url}:allowed"), allowed.path(), &[]);
        let denied = tree(&[("config.yaml", &config_map("tenant", "1")), ("service.yaml", SERVICE)]);
        push_artifact(&format!("{url}:denied"), denied.path(), &[]);
        oci_repository(&client, &ns, "allowed", &url, json!({"tag": "allowed"})).await;
        oci_repository(&client, &ns, "denied", &url, json!({"tag": "denied"})).await;

        let api = kustomization(&client, &ns, "allowed", json!({
            "interval": "10m", "prune": true, "targetNamespace": ns, "serviceAccountName": "deployer",
            "sourceRef": {"kind": "OCIRepository", "name": "allowed"},
        })).await;
        ks_status(&api, "allowed", "applied as deployer", applied(&format!("allowed@{digest}"))).await;
        let config = Api::<ConfigMap>::namespaced(client.clone(), &ns).get("tenant").await.unwrap();
        let managers: Vec<String> = config.metadata.managed_fields.unwrap().iter().filter_map(|f| f.manager.clone()).collect();
        assert!(managers.contains(&"kustomize-controller".to_owned()));

        kustomization(&client, &ns, "denied", json!({
            "interval": "10m", "prune": true, "targetNamespace": ns, "serviceAccountName": "deployer",
            "sourceRef": {"kind": "OCIRepository", "name": "denied"},
        })).await;
        let status = ks_status(&api, "denied", "refused by RBAC", |s| ready_is(s, ConditionStatus::False, "ReconciliationFailed")).await;
        let message = &ready(&status).unwrap().message;
        assert!(message.contains(&format!("Service/{ns}/podinfo")), "{message}");
        assert!(message.contains("Forbidden") && message.contains(&format!("system:serviceaccount:{ns}:deployer")), "{message}");
        assert!(Api::<Service>::namespaced(client.clone(), &ns).get_opt("podinfo").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn killed_mid_apply_converges_with_a_complete_inventory() {
    with_temp_ns(|client, ns| async move {
        let mut stack = stack(&ns);
        let url = stack.registry.oci_url("apps/many");
        let objects: Vec<(String, String)> = (0..150)
            .map(|i| {
                (
                    format!("cm-{i:03}.yaml"),
                    config_map(&format!("cm-{i:03}"), "1"),
                )
            })
            .collect();
        let files: Vec<(&str, &str)> = objects
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let digest = push_artifact(&format!("{url}:latest"), tree(&files).path(), &[]);
        oci_repository(&client, &ns, "many", &url, json!({"tag": "latest"})).await;
        let api = kustomization(
            &client,
            &ns,
            "many",
            json!({
                "interval": "10m", "prune": true, "targetNamespace": ns,
                "sourceRef": {"kind": "OCIRepository", "name": "many"},
            }),
        )
        .await;
        let configs = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        let owned = ListParams::default().labels(&format!("{NAME_LABEL}=many"));
        wait_for(
            "the first objects applied",
            WAIT,
            || async { Ok(configs.list(&owned).await?.items.len()) },
            |n| *n > 0,
        )
        .await
        .unwrap();
        stack.kustomize.process.kill();
        let partial = configs.list(&owned).await.unwrap().items.len();
        stack.kustomize.process.restart();
        let status = ks_status(
            &api,
            "many",
            "applied after the restart",
            applied(&format!("latest@{digest}")),
        )
        .await;
        assert_eq!(
            inventory_ids(&status).len(),
            150,
            "killed after {partial} objects"
        );
        let live: Vec<String> = configs
            .list(&owned)
            .await
            .unwrap()
            .items
            .iter()
            .map(|c| format!("{ns}_{}__ConfigMap", c.metadata.name.clone().unwrap()))
            .collect();
        let mut live = live;
        live.sort();
        assert_eq!(
            live,
            inventory_ids(&status),
            "every owned object is in the inventory, and only those"
        );
    })
    .await;
}

#[tokio::test]
async fn force_recreates_immutable_objects_and_kubectl_leftovers_are_removed() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let configs = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        // An object kubectl applied client-side before Flux took over.
        let legacy = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  namespace: {ns}\ndata:\n  value: old\n");
        let file = tree(&[("legacy.yaml", &legacy)]);
        let kubectl = e2e::bin::kubectl();
        let out = std::process::Command::new(kubectl).args(["apply", "-f"]).arg(file.path().join("legacy.yaml")).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(configs.get("legacy").await.unwrap().metadata.annotations.unwrap().contains_key("kubectl.kubernetes.io/last-applied-configuration"));

        let frozen = |value: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n  annotations:\n    kustomize.toolkit.fluxcd.io/force: Enabled\nimmutable: true\ndata:\n  value: {value}\n");
        let url = stack.registry.oci_url("apps/frozen");
        let v1 = tree(&[("frozen.yaml", &frozen("one")), ("legacy.yaml", &legacy.replace("old", "new"))]);
        let digest1 = push_artifact(&format!("{url}:latest"), v1.path(), &[]);
        let sources = oci_repository(&client, &ns, "frozen", &url, json!({"tag": "latest"})).await;
        let api = kustomization(&client, &ns, "frozen", json!({
            "interval": "10m", "prune": true, "targetNamespace": ns,
            "sourceRef": {"kind": "OCIRepository", "name": "frozen"},
        })).await;
        ks_status(&api, "frozen", "the first revision", applied(&format!("latest@{digest1}"))).await;
        let legacy_now = configs.get("legacy").await.unwrap();
        assert_eq!(legacy_now.data.unwrap()["value"], "new");
        assert!(!legacy_now.metadata.annotations.unwrap_or_default().contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        let managers: Vec<String> = legacy_now.metadata.managed_fields.unwrap().iter().filter_map(|f| f.manager.clone()).collect();
        assert!(!managers.iter().any(|m| m.starts_with("kubectl")), "{managers:?}");
        let uid1 = configs.get("frozen").await.unwrap().metadata.uid.unwrap();

        let v2 = tree(&[("frozen.yaml", &frozen("two")), ("legacy.yaml", &legacy.replace("old", "new"))]);
        let digest2 = push_artifact(&format!("{url}:latest"), v2.path(), &[]);
        request_reconcile(&sources, "frozen").await;
        ks_status(&api, "frozen", "the immutable object recreated", applied(&format!("latest@{digest2}"))).await;
        let recreated = configs.get("frozen").await.unwrap();
        assert_eq!(recreated.data.unwrap()["value"], "two");
        assert_ne!(recreated.metadata.uid.unwrap(), uid1, "deleted and created again");
    })
    .await;
}

/// Log lines of a controller reporting a finished reconcile of `name`.
fn finished_reconciles(logs: &str, name: &str) -> usize {
    logs.lines()
        .filter(|l| {
            l.contains("reconciliation finished") && l.contains(&format!("\"name\":\"{name}\""))
        })
        .count()
}

#[tokio::test]
async fn only_the_leader_applies_and_a_standby_takes_over() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let election = [
            "--enable-leader-election",
            "--leader-election-lease-duration=4s",
            "--leader-election-renew-deadline=3s",
            "--leader-election-retry-period=1s",
        ];
        let mut leader = KustomizeController::start_with(&ns, None, &election);
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(client.clone(), &ns);
        let lease_name = "kustomize-controller-leader-election";
        wait_for(
            "the first leader",
            WAIT,
            || async { Ok(leases.get_opt(lease_name).await?.is_some()) },
            |held| *held,
        )
        .await
        .unwrap();
        let standby = KustomizeController::spawn(&ns, None, &election);
        let first_holder = leases
            .get(lease_name)
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .unwrap();

        let url = registry.oci_url("apps/ha");
        let digest1 = push_artifact(
            &format!("{url}:latest"),
            tree(&[("config.yaml", &config_map("ha", "1"))]).path(),
            &[],
        );
        let sources = oci_repository(&client, &ns, "ha", &url, json!({"tag": "latest"})).await;
        let api = kustomization(
            &client,
            &ns,
            "ha",
            json!({
                "interval": "10m", "prune": true, "targetNamespace": ns,
                "sourceRef": {"kind": "OCIRepository", "name": "ha"},
            }),
        )
        .await;
        ks_status(
            &api,
            "ha",
            "applied by the leader",
            applied(&format!("latest@{digest1}")),
        )
        .await;
        assert!(finished_reconciles(&leader.process.logs(), "ha") >= 1);
        assert_eq!(
            finished_reconciles(&standby.process.logs(), "ha"),
            0,
            "the standby does not apply"
        );

        leader.process.kill();
        wait_for(
            "a new leader",
            WAIT,
            || async {
                Ok(leases
                    .get(lease_name)
                    .await?
                    .spec
                    .unwrap_or_default()
                    .holder_identity)
            },
            |holder| holder.as_ref().is_some_and(|h| *h != first_holder),
        )
        .await
        .unwrap();
        let digest2 = push_artifact(
            &format!("{url}:latest"),
            tree(&[("config.yaml", &config_map("ha", "2"))]).path(),
            &[],
        );
        request_reconcile(&sources, "ha").await;
        ks_status(
            &api,
            "ha",
            "applied by the new leader",
            applied(&format!("latest@{digest2}")),
        )
        .await;
        assert!(finished_reconciles(&standby.process.logs(), "ha") >= 1);
        let config = Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get("ha")
            .await
            .unwrap();
        assert_eq!(config.data.unwrap()["value"], "2");
    })
    .await;
}

#[tokio::test]
async fn shards_reconcile_only_their_own_kustomizations() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let election = ["--enable-leader-election", "--leader-election-lease-duration=4s",
            "--leader-election-renew-deadline=3s", "--leader-election-retry-period=1s"];
        let shard = |key: &str| {
            let mut flags: Vec<String> = election.iter().map(|f| (*f).to_owned()).collect();
            flags.push(format!("--watch-label-selector=sharding.fluxcd.io/key={key}"));
            flags
        };
        let one_flags = shard("shard1");
        let two_flags = shard("shard2");
        let one = KustomizeController::start_with(&ns, None, &one_flags.iter().map(String::as_str).collect::<Vec<_>>());
        let two = KustomizeController::start_with(&ns, None, &two_flags.iter().map(String::as_str).collect::<Vec<_>>());

        let url = registry.oci_url("apps/shards");
        let digest = push_artifact(&format!("{url}:latest"), tree(&[("a/config.yaml", &config_map("a", "1")), ("b/config.yaml", &config_map("b", "1"))]).path(), &[]);
        oci_repository(&client, &ns, "shards", &url, json!({"tag": "latest"})).await;
        for (name, key) in [("a", "shard1"), ("b", "shard2")] {
            apply(&client, &ns, json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": ns, "labels": {"sharding.fluxcd.io/key": key}},
                "spec": {"interval": "10m", "prune": true, "path": format!("./{name}"), "targetNamespace": ns,
                         "sourceRef": {"kind": "OCIRepository", "name": "shards"}},
            })).await;
        }
        let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
        for name in ["a", "b"] {
            ks_status(&api, name, "applied by its shard", applied(&format!("latest@{digest}"))).await;
        }
        assert!(finished_reconciles(&one.process.logs(), "a") >= 1);
        assert_eq!(finished_reconciles(&one.process.logs(), "b"), 0);
        assert!(finished_reconciles(&two.process.logs(), "b") >= 1);
        assert_eq!(finished_reconciles(&two.process.logs(), "a"), 0);
        // One lease per shard, so both shards lead at once.
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), &ns);
        let names: Vec<String> = leases.list(&ListParams::default()).await.unwrap().items.iter().filter_map(|l| l.metadata.name.clone()).collect();
        assert_eq!(names.iter().filter(|n| n.starts_with("kustomize-controller")).count(), 2, "{names:?}");
    })
    .await;
}

#[tokio::test]
async fn cel_health_checks_and_dependency_expressions() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/cel");
        let group = format!("{ns}.e2e.flux-rs.test");
        let widget = format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: gadget\n  namespace: {ns}\nspec:\n  size: 3\n");
        let files = tree(&[
            ("widgets/crd.yaml", &crd(&group)),
            ("widgets/widget.yaml", &widget),
            ("extra/config.yaml", &config_map("extra", "1")),
        ]);
        let digest = push_artifact(&format!("{url}:latest"), files.path(), &[]);
        let revision = format!("latest@{digest}");
        oci_repository(&client, &ns, "cel", &url, json!({"tag": "latest"})).await;
        let source = json!({"kind": "OCIRepository", "name": "cel"});

        // The Widget is healthy when the expression says so, not by kstatus' generic rules.
        let exprs = json!([{"apiVersion": format!("{group}/v1"), "kind": "Widget",
            "current": "status.phase == 'Ready'", "failed": "status.phase == 'Broken'"}]);
        let api = kustomization(&client, &ns, "widgets", json!({
            "interval": "10m", "prune": true, "wait": true, "timeout": "90s", "path": "./widgets",
            "sourceRef": source, "healthCheckExprs": exprs,
        }))
        .await;
        let gvk = GroupVersionKind::gvk(&group, "v1", "Widget");
        let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ApiResource::from_gvk(&gvk));
        wait_for("the Widget applied", WAIT, || async { Ok(widgets.get_opt("gadget").await?) }, Option::is_some).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let status = api.get("widgets").await.unwrap().status.unwrap_or_default();
        assert!(ready(&status).is_none_or(|c| c.status != ConditionStatus::True), "not healthy before its phase: {status:?}");
        let phase = json!({"status": {"phase": "Ready"}});
        widgets.patch("gadget", &PatchParams::default(), &Patch::Merge(&phase)).await.unwrap();
        let status = ks_status(&api, "widgets", "healthy by CEL", applied(&revision)).await;
        let healthy = status.conditions.iter().flatten().find(|c| c.type_ == "Healthy").unwrap();
        assert_eq!(healthy.status, ConditionStatus::True);

        // readyExpr replaces the built-in readiness: the dependency is never Ready (suspended
        // before its first reconcile), and the expression lets the dependent go ahead.
        kustomization(&client, &ns, "never", json!({
            "interval": "10m", "prune": true, "suspend": true, "path": "./extra", "sourceRef": source,
        }))
        .await;
        let dependent = kustomization(&client, &ns, "dependent", json!({
            "interval": "10m", "prune": true, "path": "./extra", "targetNamespace": ns, "sourceRef": source,
            "dependsOn": [{"name": "never", "readyExpr": "dep.spec.suspend == true && self.metadata.name == 'dependent'"}],
        }))
        .await;
        ks_status(&dependent, "dependent", "applied through readyExpr", applied(&revision)).await;

        // An expression that does not parse stops the Kustomization before anything is done.
        let broken = kustomization(&client, &ns, "broken", json!({
            "interval": "10m", "prune": true, "path": "./extra", "targetNamespace": ns, "sourceRef": source,
            "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap", "current": "status.phase =="}],
        }))
        .await;
        let status = ks_status(&broken, "broken", "InvalidCELExpression", |s| {
            ready_is(s, ConditionStatus::False, "InvalidCELExpression")
        })
        .await;
        assert!(ready(&status).unwrap().message.starts_with("failed to parse the CEL expression 'status.phase =='"));
        assert!(status.conditions.iter().flatten().any(|c| c.type_ == "Stalled" && c.status == ConditionStatus::True));
    })
    .await;
}

#[tokio::test]
async fn applies_to_the_cluster_its_kube_config_names_as_its_credentials() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        // The local control plane serves a self-signed certificate.
        let _kustomize = KustomizeController::start_with(&ns, None, &["--insecure-kubeconfig-tls"]);
        // The "remote" cluster is this one reached with another identity: what gets applied
        // shows which credentials were used.
        apply(&client, &ns, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "remote-applier", "namespace": ns}})).await;
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}})).unwrap();
        let issued: TokenRequest = accounts
            .create_subresource("token", "remote-applier", &Default::default(), &request)
            .await
            .unwrap();
        let token = issued.status.unwrap().token;
        let local: Value = serde_saphyr::from_str(&std::fs::read_to_string(std::env::var("KUBECONFIG").unwrap()).unwrap()).unwrap();
        let cluster = local["clusters"][0]["cluster"].clone();
        let kubeconfig = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "remote", "cluster": cluster}],
            "users": [{"name": "remote-applier", "user": {"token": token}}],
            "contexts": [{"name": "remote", "context": {"cluster": "remote", "user": "remote-applier"}}],
            "current-context": "remote"
        });
        apply(&client, &ns, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "remote-kubeconfig", "namespace": ns},
            "stringData": {"value": kubeconfig.to_string()}})).await;

        let url = registry.oci_url("apps/remote");
        let digest = push_artifact(&format!("{url}:latest"), tree(&[("config.yaml", &config_map("remote", "1"))]).path(), &[]);
        oci_repository(&client, &ns, "remote", &url, json!({"tag": "latest"})).await;
        let api = kustomization(&client, &ns, "remote", json!({
            "interval": "10m", "prune": true, "targetNamespace": ns, "kubeConfig": {"secretRef": {"name": "remote-kubeconfig"}},
            "sourceRef": {"kind": "OCIRepository", "name": "remote"},
        }))
        .await;
        // The kubeconfig's identity may do nothing yet: refused, in its name.
        let status = ks_status(&api, "remote", "refused as the kubeconfig's user", |s| ready_is(s, ConditionStatus::False, "ReconciliationFailed")).await;
        let message = &ready(&status).unwrap().message;
        assert!(message.contains(&format!("system:serviceaccount:{ns}:remote-applier")), "{message}");
        let configs = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        assert!(configs.get_opt("remote").await.unwrap().is_none());

        // Allowed: applied through the kubeconfig.
        apply(&client, &ns, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "configmaps", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]})).await;
        apply(&client, &ns, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "remote-applier", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
            "subjects": [{"kind": "ServiceAccount", "name": "remote-applier", "namespace": ns}]})).await;
        request_reconcile(&api, "remote").await;
        ks_status(&api, "remote", "applied through the kubeconfig", applied(&format!("latest@{digest}"))).await;
        assert_eq!(configs.get("remote").await.unwrap().data.unwrap()["value"], "1");

        // A kubeconfig that would run a command is refused before anything is done.
        let exec = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "remote", "cluster": {"server": "https://127.0.0.1:1"}}],
            "users": [{"name": "plugin", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/true"}}}],
            "contexts": [{"name": "remote", "context": {"cluster": "remote", "user": "plugin"}}],
            "current-context": "remote"
        });
        apply(&client, &ns, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "exec-kubeconfig", "namespace": ns},
            "stringData": {"value.yaml": exec.to_string()}})).await;
        let refused = kustomization(&client, &ns, "exec", json!({
            "interval": "10m", "prune": true, "targetNamespace": ns, "kubeConfig": {"secretRef": {"name": "exec-kubeconfig"}},
            "sourceRef": {"kind": "OCIRepository", "name": "remote"},
        }))
        .await;
        let status = ks_status(&refused, "exec", "exec refused", |s| ready_is(s, ConditionStatus::False, "ReconciliationFailed")).await;
        assert!(ready(&status).unwrap().message.contains("users[plugin].user.exec is not allowed"), "{:?}", ready(&status));
    })
    .await;
}

#[tokio::test]
async fn wait_for_termination_keeps_the_finalizer_until_the_objects_are_gone() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/held");
        let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - example.com/hold\ndata:\n  value: x\n";
        let digest = push_artifact(&format!("{url}:latest"), tree(&[("held.yaml", held)]).path(), &[]);
        oci_repository(&client, &ns, "held", &url, json!({"tag": "latest"})).await;
        let api = kustomization(&client, &ns, "held", json!({
            "interval": "10m", "retryInterval": "2s", "timeout": "30s", "path": "./", "prune": true,
            "targetNamespace": ns, "deletionPolicy": "WaitForTermination",
            "sourceRef": {"kind": "OCIRepository", "name": "held"},
        }))
        .await;
        ks_status(&api, "held", "applied", applied(&format!("latest@{digest}"))).await;

        // The ConfigMap cannot go while its finalizer stays: neither can the Kustomization.
        api.delete("held", &DeleteParams::default()).await.unwrap();
        let expected = format!("failed to wait for objects deletion: timeout waiting for termination of: [ConfigMap/{ns}/held]");
        let fetch = || async { Ok(events_for::<Kustomization>(&client, &ns, "held").await.unwrap()) };
        wait_for("the timeout reported", WAIT, fetch, |events: &Vec<k8s_openapi::api::core::v1::Event>| {
            events.iter().any(|e| e.message.as_deref() == Some(expected.as_str()) && e.type_.as_deref() == Some("Warning"))
        })
        .await
        .unwrap();
        assert!(api.get_opt("held").await.unwrap().is_some(), "the Kustomization waits for its objects");

        // Once the ConfigMap is gone, so is the Kustomization.
        let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        let release = json!({"metadata": {"finalizers": null}});
        config_maps.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
        let gone = || async { Ok(api.get_opt("held").await?.is_none()) };
        wait_for("the Kustomization deleted", WAIT, gone, |gone: &bool| *gone).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn one_invalid_object_leaves_every_object_of_its_revision_unwritten() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/atomic");
        let v1 = tree(&[("config.yaml", &config_map("settings", "v1"))]);
        let digest1 = push_artifact(&format!("{url}:latest"), v1.path(), &[]);
        let sources = oci_repository(&client, &ns, "atomic", &url, json!({"tag": "latest"})).await;
        let api = kustomization(&client, &ns, "atomic", json!({
            "interval": "10m", "path": "./", "prune": true, "targetNamespace": ns,
            "sourceRef": {"kind": "OCIRepository", "name": "atomic"},
        }))
        .await;
        ks_status(&api, "atomic", "the first revision applied", applied(&format!("latest@{digest1}"))).await;

        // The next revision changes the ConfigMap and adds a Service the API server refuses.
        let invalid = "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n  - port: 70000\n";
        let v2 = tree(&[("config.yaml", &config_map("settings", "v2")), ("service.yaml", invalid)]);
        let digest2 = push_artifact(&format!("{url}:latest"), v2.path(), &[]);
        request_reconcile(&sources, "atomic").await;
        let revision2 = format!("latest@{digest2}");
        let status = ks_status(&api, "atomic", "the invalid revision refused", |s| {
            ready_is(s, ConditionStatus::False, "ReconciliationFailed") && s.last_attempted_revision.as_deref() == Some(revision2.as_str())
        })
        .await;
        let message = &ready(&status).unwrap().message;
        assert!(message.contains(&format!("Service/{ns}/bad dry-run failed")), "{message}");
        let config = Api::<ConfigMap>::namespaced(client.clone(), &ns).get("settings").await.unwrap();
        assert_eq!(config.data.unwrap()["value"], "v1", "nothing of the refused revision is written");
        assert!(Api::<Service>::namespaced(client.clone(), &ns).get_opt("bad").await.unwrap().is_none());
        assert_eq!(status.last_applied_revision, Some(format!("latest@{digest1}")));
    })
    .await;
}

#[tokio::test]
async fn a_sops_encrypted_secret_is_refused_and_nothing_is_applied() {
    with_temp_ns(|client, ns| async move {
        let stack = stack(&ns);
        let url = stack.registry.oci_url("apps/sops");
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: ENC[AES256_GCM,data:abc=,type:str]\nsops:\n  version: 3.8.1\n";
        let files = tree(&[("config.yaml", &config_map("plain", "v1")), ("secret.yaml", secret)]);
        push_artifact(&format!("{url}:latest"), files.path(), &[]);
        oci_repository(&client, &ns, "sops", &url, json!({"tag": "latest"})).await;
        let api = kustomization(&client, &ns, "sops", json!({
            "interval": "10m", "path": "./", "prune": true, "targetNamespace": ns,
            "sourceRef": {"kind": "OCIRepository", "name": "sops"},
        }))
        .await;
        let status = ks_status(&api, "sops", "the encrypted Secret refused", |s| ready_is(s, ConditionStatus::False, "BuildFailed")).await;
        let message = &ready(&status).unwrap().message;
        assert!(message.contains(&format!("Secret/{ns}/creds is SOPS-encrypted")), "{message}");
        assert!(Api::<ConfigMap>::namespaced(client.clone(), &ns).get_opt("plain").await.unwrap().is_none(), "nothing of the revision applied");
    })
    .await;
}
