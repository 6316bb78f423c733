//! The install manifests (`config/`): `flux-rs install --export` prints what
//! `kubectl kustomize config/` prints, and `kubectl apply -k config/` creates every object on
//! the local control plane with Flux's names, ports and Services.

use e2e::bin::{flux_rs, kubectl};
use e2e::cluster::client;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::Api;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `kubectl apply --server-side -k config/` against the cluster under test.
fn apply_config() {
    let out = Command::new(kubectl())
        .args(["apply", "--server-side", "--force-conflicts", "-k"])
        .arg(root().join("config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn export_prints_what_kubectl_kustomize_prints() {
    let ours = flux_rs(&["install", "--export"]);
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = Command::new(kubectl())
        .arg("kustomize")
        .arg(root().join("config"))
        .output()
        .unwrap();
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert_eq!(
        String::from_utf8(ours.stdout).unwrap(),
        String::from_utf8(theirs.stdout).unwrap()
    );
}

#[tokio::test]
async fn kubectl_apply_k_config_creates_every_object() {
    let client = client().await.expect("cluster under test");
    apply_config();

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "flux-system");
    for name in [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
        "image-reflector-controller",
        "image-automation-controller",
    ] {
        let deployment = deployments.get(name).await.unwrap();
        let pod = deployment.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some(name));
        let container = &pod.containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some(format!("flux-rs/{name}:0.1.0").as_str())
        );
        let security = container.security_context.clone().unwrap();
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(security.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let ports: Vec<(String, i32)> = container
            .ports
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|p| (p.name.clone().unwrap(), p.container_port))
            .collect();
        assert!(
            ports.contains(&("http-prom".into(), 8080))
                && ports.contains(&("healthz".into(), 9440)),
            "{ports:?}"
        );
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "flux-system");
        assert!(accounts.get_opt(name).await.unwrap().is_some());
    }
    let source_args = deployments
        .get("source-controller")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .args
        .clone()
        .unwrap();
    assert!(
        source_args.contains(
            &"--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."
                .to_owned()
        ),
        "{source_args:?}"
    );

    let services: Api<Service> = Api::namespaced(client.clone(), "flux-system");
    for (name, target) in [
        ("source-controller", "http"),
        ("notification-controller", "http"),
        ("webhook-receiver", "http-webhook"),
    ] {
        let spec = services.get(name).await.unwrap().spec.unwrap();
        let port = &spec.ports.unwrap()[0];
        assert_eq!(port.port, 80, "{name}");
        assert_eq!(
            format!("{:?}", port.target_port),
            format!(
                "{:?}",
                Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                        target.into()
                    )
                )
            ),
            "{name}"
        );
    }
    let bindings: Api<ClusterRoleBinding> = Api::all(client);
    assert!(
        bindings
            .get_opt("flux-rs-source-controller")
            .await
            .unwrap()
            .is_some()
    );
}

/// Each controller runs as its own ServiceAccount from `config/` (impersonated), and the
/// whole loop still works: the RBAC of config/ is enough for what the controllers do.
#[tokio::test]
async fn controllers_work_with_the_rbac_of_config() {
    use api::kustomize::v1::Kustomization;
    use e2e::bin::push_artifact;
    use e2e::cluster::{apply, wait_for, with_temp_ns};
    use e2e::controllers::{KustomizeController, NotificationController, SourceController};
    use e2e::registry::Registry;
    use e2e::webhook::Webhook;
    use serde_json::json;
    use std::time::Duration;

    client().await.expect("cluster under test");
    apply_config();
    with_temp_ns(|client, ns| async move {
        let configs = tempfile::tempdir().unwrap();
        let flag = |sa: &str| format!("--kubeconfig={}", e2e::controllers::kubeconfig_as(configs.path(), sa).display());
        let hook = Webhook::start(None).await;
        let notification = NotificationController::start_with(&ns, &[&flag("notification-controller")]);
        let registry = Registry::start();
        let mut source = SourceController::start_with(&ns, Some(&notification.events_url()), &[&flag("source-controller")]);
        source.process.wait_for_log("starting the GitRepository, OCIRepository, HelmChart and HelmRepository controllers", Duration::from_secs(30)).unwrap();
        let _kustomize = KustomizeController::start_with(&ns, Some(&notification.events_url()), &[&flag("kustomize-controller")]);

        apply(&client, &ns, json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": "hook"}, "spec": {"type": "generic", "address": format!("{}/hook", hook.base)}})).await;
        apply(&client, &ns, json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": "all"}, "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "info",
            "eventSources": [{"kind": "Kustomization", "name": "*"}, {"kind": "OCIRepository", "name": "*"}]}})).await;
        tokio::time::sleep(Duration::from_secs(2)).await;

        let url = registry.oci_url("apps/rbac");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rbac\ndata:\n  a: \"1\"\n").unwrap();
        let digest = push_artifact(&format!("{url}:latest"), dir.path(), &[]);
        apply(&client, &ns, json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "rbac"}, "spec": {"url": url, "interval": "10m", "ref": {"tag": "latest"}}})).await;
        apply(&client, &ns, json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "rbac"}, "spec": {"interval": "10m", "prune": true, "targetNamespace": ns,
            "sourceRef": {"kind": "OCIRepository", "name": "rbac"}}})).await;
        let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
        let revision = format!("latest@{digest}");
        wait_for("applied as the controllers' own accounts", Duration::from_secs(90),
            || async { Ok(api.get("rbac").await?.status.and_then(|s| s.last_applied_revision)) },
            |r| r.as_deref() == Some(revision.as_str())).await.unwrap();
        let applied = hook.wait_for(1, Duration::from_secs(60), |r| r.body["message"].as_str().is_some_and(|m| m.contains("Reconciliation finished"))).await;
        assert_eq!(applied[0].body["involvedObject"]["kind"], "Kustomization");
        let stored = hook.wait_for(1, Duration::from_secs(60), |r| r.body["message"].as_str().is_some_and(|m| m.starts_with("stored artifact"))).await;
        assert_eq!(stored[0].body["involvedObject"]["kind"], "OCIRepository");
    })
    .await;
}
