//! The `flux-rs` cluster commands against the real controllers: get, reconcile, suspend,
//! resume, trace, events, create secret oci|git, create source git.

use std::time::Duration;

use api::kustomize::v1::Kustomization;
use e2e::bin::{flux_rs, push_artifact};
use e2e::cluster::{apply, wait_for, with_temp_ns};
use e2e::controllers::{
    ImageAutomationController, ImageReflectorController, KustomizeController, SourceController,
};
use e2e::git_server::{GitAuth, GitServer};
use e2e::registry::Registry;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::json;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = flux_rs(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn get_reconcile_suspend_resume_trace_events_and_secrets() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let _kustomize = KustomizeController::start(&ns, None);
        let url = registry.oci_url("apps/cli");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n").unwrap();
        let digest = push_artifact(&format!("{url}:latest"), dir.path(), &[]);
        apply(&client, &ns, json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "cli"}, "spec": {"url": url, "interval": "10m", "ref": {"tag": "latest"}}})).await;
        apply(&client, &ns, json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "cli"}, "spec": {"interval": "10m", "prune": true, "targetNamespace": ns,
            "sourceRef": {"kind": "OCIRepository", "name": "cli"}}})).await;
        let api: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
        let short = &digest["sha256:".len().."sha256:".len() + 8];
        wait_for("Ready", Duration::from_secs(60), || async { Ok(api.get("cli").await?.status.and_then(|s| s.last_applied_revision)) }, |r| r.is_some()).await.unwrap();

        let (ok, out, err) = run(&["get", "kustomizations", "-n", &ns]);
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0].split('\t').map(str::trim).collect::<Vec<_>>(), ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]);
        let row: Vec<&str> = lines[1].split('\t').map(str::trim).collect();
        assert_eq!(row, ["cli", &format!("latest@sha256:{short}"), "False", "True", &format!("Applied revision: latest@sha256:{short}")]);
        let (ok, out, _) = run(&["get", "sources", "oci", "-A", "--no-header"]);
        assert!(ok && out.lines().any(|l| l.starts_with(&ns) && l.contains("cli")), "{out}");

        let (ok, _, err) = run(&["reconcile", "kustomization", "cli", "-n", &ns, "--with-source"]);
        assert!(ok, "{err}");
        assert!(err.contains("✔ fetched revision latest@sha256:") && err.contains("✔ applied revision latest@sha256:"), "{err}");

        let (ok, _, err) = run(&["suspend", "kustomization", "cli", "-n", &ns]);
        assert!(ok, "{err}");
        assert!(api.get("cli").await.unwrap().spec.suspend);
        let (ok, out, _) = run(&["get", "ks", "cli", "-n", &ns, "--no-header"]);
        assert!(ok && out.contains("True"), "{out}");
        let (ok, _, err) = run(&["reconcile", "kustomization", "cli", "-n", &ns]);
        assert!(!ok && err.contains("resource is suspended"), "{err}");
        let (ok, _, err) = run(&["resume", "kustomization", "cli", "-n", &ns]);
        assert!(ok, "{err}");
        assert!(!api.get("cli").await.unwrap().spec.suspend);

        let (ok, out, err) = run(&["trace", "configmap", "settings", "-n", &ns]);
        assert!(ok, "{err}");
        assert!(out.starts_with("Object:          configmap/settings\n"), "{out}");
        assert!(out.contains("Status:          Managed by Flux") && out.contains("Kustomization:   cli") && out.contains(&format!("URL:             {url}")), "{out}");
        assert!(out.contains("Origin Revision: main@sha1:0123456789abcdef"), "{out}");

        let (ok, out, err) = run(&["events", "-n", &ns, "--for", "Kustomization/cli"]);
        assert!(ok, "{err}");
        assert!(out.contains("ReconciliationSucceeded") && out.contains("Kustomization/cli"), "{out}");

        let (ok, out, err) = run(&["create", "secret", "oci", "regcred", "--url", "registry.example:5000", "-u", "user", "-p", "pass", "--export", "-n", &ns]);
        assert!(ok, "{err}");
        assert!(out.contains("type: kubernetes.io/dockerconfigjson") && out.contains("dXNlcjpwYXNz"), "{out}");
        let (ok, _, err) = run(&["create", "secret", "oci", "regcred", "--url", "registry.example:5000", "-u", "user", "-p", "pass", "-n", &ns]);
        assert!(ok, "{err}");
        let secret = Api::<Secret>::namespaced(client.clone(), &ns).get("regcred").await.unwrap();
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
    })
    .await;
}

#[tokio::test]
async fn a_reconcile_nobody_handles_says_why_instead_of_spinning() {
    with_temp_ns(|client, ns| async move {
        // No kustomize-controller watches this namespace.
        apply(&client, &ns, json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "orphan"}, "spec": {"interval": "10m", "prune": true,
            "sourceRef": {"kind": "OCIRepository", "name": "none"}}})).await;
        let started = std::time::Instant::now();
        let (ok, _, err) = run(&["reconcile", "kustomization", "orphan", "-n", &ns, "--timeout", "3s"]);
        assert!(!ok, "{err}");
        assert!(started.elapsed() < Duration::from_secs(20), "it gives up at the timeout");
        assert!(
            err.contains(&format!(
                "timeout waiting for Kustomization reconciliation: no controller handled the request in 3s: is kustomize-controller running and watching namespace {ns}?"
            )),
            "{err}"
        );
    })
    .await;
}

// Multi-threaded: the in-process Git server keeps serving while the CLI runs (and blocks
// the test's thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_sources_are_created_listed_reconciled_and_traced() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Basic { username: "flux".into(), password: "pw".into() }).await;
        let _source = SourceController::start(&ns, None);
        let _kustomize = KustomizeController::start(&ns, None);
        let repo = server.create_repo("fleet");
        let head = repo.commit(&[("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\ndata:\n  a: \"1\"\n")], "first");
        repo.push(&["main"]);
        let url = server.url("fleet");

        let (ok, out, err) = run(&["create", "secret", "git", "fleet-auth", "--url", &url, "-u", "flux", "-p", "pw", "-n", &ns, "--export"]);
        assert!(ok, "{err}");
        assert!(out.starts_with("---\napiVersion: v1\nkind: Secret\n") && out.contains("username: flux"), "{out}");
        let (ok, _, err) = run(&["create", "secret", "git", "fleet-auth", "--url", &url, "-u", "flux", "-p", "pw", "-n", &ns]);
        assert!(ok && err.contains("✔ git secret 'fleet-auth' created"), "{err}");

        let (ok, out, _) = run(&["create", "source", "git", "fleet", "--url", &url, "--branch", "main", "--secret-ref", "fleet-auth", "-n", &ns, "--export"]);
        assert!(ok);
        assert!(out.contains("kind: GitRepository") && out.contains("interval: 1m0s") && out.contains("branch: main"), "{out}");
        let (ok, _, err) = run(&["create", "source", "git", "fleet", "--url", &url, "--branch", "main", "--secret-ref", "fleet-auth", "-n", &ns, "--timeout", "60s"]);
        assert!(ok, "{err}");
        assert!(err.contains("✔ GitRepository source reconciliation completed") && err.contains(&format!("✔ fetched revision: main@sha1:{head}")), "{err}");

        let (ok, out, err) = run(&["get", "sources", "git", "-n", &ns]);
        assert!(ok, "{err}");
        let row: Vec<&str> = out.lines().nth(1).unwrap().split('\t').map(str::trim).collect();
        assert_eq!(row, ["fleet", &format!("main@sha1:{}", &head[..8]), "False", "True", &format!("stored artifact for revision 'main@sha1:{}'", &head[..8])]);
        let (ok, out, _) = run(&["get", "sources", "all", "-n", &ns, "--no-header"]);
        assert!(ok && out.lines().any(|l| l.starts_with("gitrepository/fleet")), "{out}");

        apply(&client, &ns, json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps"}, "spec": {"interval": "10m", "path": "./apps", "prune": true, "targetNamespace": ns,
            "sourceRef": {"kind": "GitRepository", "name": "fleet"}}})).await;
        let second = repo.commit(&[("apps/other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n")], "second");
        repo.push(&["main"]);
        let (ok, _, err) = run(&["reconcile", "kustomization", "apps", "-n", &ns, "--with-source"]);
        assert!(ok, "{err}");
        assert!(err.contains(&format!("✔ fetched revision main@sha1:{second}")) && err.contains(&format!("✔ applied revision main@sha1:{second}")), "{err}");

        let (ok, _, err) = run(&["suspend", "source", "git", "fleet", "-n", &ns]);
        assert!(ok, "{err}");
        let (ok, _, err) = run(&["resume", "source", "git", "fleet", "-n", &ns]);
        assert!(ok && err.contains("✔ fetched revision main@sha1:"), "{err}");

        let (ok, out, err) = run(&["trace", "configmap", "second", "-n", &ns]);
        assert!(ok, "{err}");
        assert!(out.contains("GitRepository:   fleet") && out.contains(&format!("URL:             {url}")) && out.contains("Branch:          main"), "{out}");
    })
    .await;
}

// Multi-threaded: the in-process Git server keeps serving while the CLI runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_objects_are_created_listed_reconciled_suspended_and_resumed() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        for tag in ["1.0.0", "1.1.0", "2.0.0"] {
            registry.upload_flux_artifact("app", tag, tag.as_bytes());
        }
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _reflector = ImageReflectorController::start(&ns, None, &[]);
        let _automation = ImageAutomationController::start(&ns, None, &[]);
        let repo = server.create_repo("fleet");
        repo.commit(&[("apps/app.yaml", &format!("image: {}/app:1.0.0 # {{\"$imagepolicy\": \"{ns}:app\"}}\n", registry.addr))], "app");
        repo.push(&["main"]);
        apply(&client, &ns, json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fleet"}, "spec": {"url": server.url("fleet"), "interval": "10m", "ref": {"branch": "main"}}})).await;
        let image = format!("{}/app", registry.addr);

        let (ok, out, err) = run(&["create", "image", "repository", "app", "--image", &image, "--interval", "5m", "-n", &ns, "--export"]);
        assert!(ok, "{err}");
        assert_eq!(out, format!("---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: {ns}\nspec:\n  image: {image}\n  interval: 5m0s\n"));
        let (ok, _, err) = run(&["create", "image", "repository", "app", "--image", &image, "--interval", "5m", "-n", &ns, "--timeout", "60s"]);
        assert!(ok && err.contains("✔ ImageRepository reconciliation completed") && err.contains("✔ scan fetched 3 tags"), "{err}");
        let (ok, _, err) = run(&["create", "image", "policy", "app", "--image-ref", "app", "--select-semver", "1.x", "-n", &ns, "--timeout", "60s"]);
        assert!(ok && err.contains(&format!("✔ selected ref {image}:1.1.0")), "{err}");
        let (ok, _, err) = run(&["create", "image", "update", "app", "--git-repo-ref", "fleet", "--checkout-branch", "main",
            "--author-name", "bot", "--author-email", "bot@example.org", "--git-repo-path", "./apps", "-n", &ns, "--timeout", "60s"]);
        assert!(ok && err.contains("✔ repository up-to-date"), "{err}");
        repo.git(&["fetch", "-q", "origin"]);
        assert_eq!(repo.git(&["show", "origin/main:apps/app.yaml"]), format!("image: {image}:1.1.0 # {{\"$imagepolicy\": \"{ns}:app\"}}\n"));

        let (ok, out, err) = run(&["get", "images", "policy", "-n", &ns]);
        assert!(ok, "{err}");
        let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').map(str::trim).collect()).collect();
        assert_eq!(lines[0], ["NAME", "IMAGE", "TAG", "READY", "MESSAGE"]);
        assert_eq!(lines[1], ["app", image.as_str(), "1.1.0", "True", &format!("Latest image tag for {image} resolved to 1.1.0")]);
        let (ok, out, _) = run(&["get", "images", "all", "-n", &ns, "--no-header"]);
        assert!(ok);
        for prefix in ["imagerepository/app", "imagepolicy/app", "imageupdateautomation/app"] {
            assert!(out.lines().any(|l| l.starts_with(prefix)), "{prefix}: {out}");
        }
        let (ok, _, err) = run(&["get", "images", "update", "-n", &format!("{ns}-none")]);
        assert!(ok && err.contains(&format!("no ImageUpdateAutomation objects found in \"{ns}-none\" namespace")), "{err}");

        registry.upload_flux_artifact("app", "1.2.0", b"1.2.0");
        let (ok, _, err) = run(&["reconcile", "image", "repository", "app", "-n", &ns]);
        assert!(ok && err.contains("► annotating ImageRepository app in") && err.contains("✔ scan fetched 4 tags"), "{err}");
        let policies: Api<api::image::v1::ImagePolicy> = Api::namespaced(client.clone(), &ns);
        wait_for("the policy at 1.2.0", Duration::from_secs(60), || async { Ok(policies.get("app").await?.status.and_then(|s| s.latest_ref)) },
            |r| r.as_ref().is_some_and(|r| r.tag == "1.2.0")).await.unwrap();
        let (ok, _, err) = run(&["reconcile", "image", "update", "app", "-n", &ns]);
        assert!(ok && err.contains("✔ repository up-to-date"), "{err}");
        repo.git(&["fetch", "-q", "origin"]);
        assert!(repo.git(&["show", "origin/main:apps/app.yaml"]).starts_with(&format!("image: {image}:1.2.0 #")));

        let (ok, _, err) = run(&["suspend", "image", "repository", "app", "-n", &ns]);
        assert!(ok && err.contains("► suspending image repository app in") && err.contains("✔ image repository suspended"), "{err}");
        let (ok, out, _) = run(&["get", "images", "repository", "app", "-n", &ns, "--no-header"]);
        assert!(ok && out.split('\t').map(str::trim).nth(2) == Some("True"), "{out}");
        let (ok, _, err) = run(&["reconcile", "image", "repository", "app", "-n", &ns]);
        assert!(!ok && err.contains("resource is suspended"), "{err}");
        let (ok, _, err) = run(&["resume", "image", "repository", "app", "-n", &ns]);
        assert!(ok && err.contains("✔ image repository resumed") && err.contains("✔ scan fetched 4 tags"), "{err}");
    })
    .await;
}
