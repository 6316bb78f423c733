//! The install manifests (`config/`): `flux-rs install --export` prints what
//! `kubectl kustomize config/` prints, and `kubectl apply -k config/` creates every object on
//! the local control plane with Flux's names, ports and Services.

use e2e::bin::flux_rs;
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

fn kubectl() -> PathBuf {
    let cache = std::env::var_os("FLUX_RS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/flux-rs"));
    cache.join("tools/venv/bin/kubectl")
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

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "flux-system");
    for name in [
        "source-controller",
        "kustomize-controller",
        "notification-controller",
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
