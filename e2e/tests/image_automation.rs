//! Image automation end to end: the real image-reflector-controller and
//! image-automation-controller (with source-, kustomize- and helm-controller where the flow
//! goes on to the cluster) against the local control plane, a real registry and a real Git
//! server; artifacts pushed with `flux-rs push artifact`, charts with `helm push`, and the
//! repositories read back with the real `git`.

use std::time::Duration;

use api::helm::v2::HelmRelease;
use api::image::v1::{
    ImagePolicy, ImageRepository, ImageUpdateAutomation, ImageUpdateAutomationStatus,
};
use api::meta::ConditionStatus;
use api::source::v1::OCIRepository;
use base64::Engine;
use e2e::bin::{push_artifact, push_chart};
use e2e::cluster::{apply, events_for, wait_for, with_temp_ns};
use e2e::controllers::{
    HelmController, ImageAutomationController, ImageReflectorController, KustomizeController,
    SourceController,
};
use e2e::git_server::{GitAuth, GitServer, Repo, git};
use e2e::gpg::GpgKey;
use e2e::registry::Registry;
use e2e::ssh_server::{KeyPair, SshServer};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// The seed objects as users write them (old API version included); only the registry
/// address and the namespace are the test's.
const SEED: &str = r#"
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageUpdateAutomation
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m
  sourceRef: {kind: GitRepository, name: flux-system}
  git:
    push: {branch: main}
    commit:
      author: {email: fluxcdbot@users.noreply.github.com, name: fluxcdbot}
      messageTemplate: '{{range .Updated.Images}}{{println .}}{{end}}'
  update: {path: ./clusters/my-cluster, strategy: Setters}
---
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageRepository
metadata: {name: podinfo-oci, namespace: flux-system}
spec: {image: <registry>/manifests/podinfo, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImagePolicy
metadata: {name: podinfo-oci, namespace: flux-system}
spec:
  imageRepositoryRef: {name: podinfo-oci}
  policy: {semver: {range: 6.1.x}}
"#;

/// An OCIRepository as it sits in Git: comments, blank lines, a block scalar, and the marker.
const OCI_REPOSITORY_IN_GIT: &str = r#"---
# The podinfo manifests, as an OCI artifact.
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata:
  name: podinfo
  namespace: <ns>
  annotations:
    note: |
      Bumped by image automation;
        keep this block as it is.

spec:
  interval: 10m
  url: oci://<registry>/manifests/podinfo
  ref:
    tag: 6.1.0 # {"$imagepolicy": "<ns>:podinfo-oci:tag"}
  insecure: true   # a plain HTTP registry
"#;

/// The Helm OCI objects as they sit in Git, the chart version marked.
/// The bootstrap layout's other half: a Kustomization applying what the OCIRepository serves.
const KUSTOMIZATION_IN_GIT: &str = r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: <ns>
spec:
  interval: 10m
  prune: true
  targetNamespace: <ns>
  sourceRef:
    kind: OCIRepository
    name: podinfo
"#;

const HELM_RELEASE_IN_GIT: &str = r#"apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmRepository
metadata: {name: podinfo, namespace: <ns>}
spec: {interval: 10m, type: oci, url: "oci://<registry>/charts"}
---
apiVersion: helm.toolkit.fluxcd.io/v2beta1
kind: HelmRelease
metadata: {name: podinfo, namespace: <ns>}
spec:
  interval: 10m
  targetNamespace: <ns>
  chart:
    spec:
      chart: podinfo
      version: 6.1.0 # {"$imagepolicy": "<ns>:podinfo-chart:tag"}
      sourceRef: {kind: HelmRepository, name: podinfo}
"#;

const CONFIG_MAP_IN_GIT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  tag: 1.0.0 # {\"$imagepolicy\": \"<ns>:app:tag\"}\n";

fn filled(template: &str, ns: &str, registry: &Registry) -> String {
    template
        .replace("<ns>", ns)
        .replace("<registry>", &registry.addr)
}

/// Applies each document of `yaml` in namespace `ns`.
async fn apply_yaml(client: &Client, ns: &str, yaml: &str) {
    let documents: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap();
    for mut document in documents {
        document["metadata"]["namespace"] = json!(ns);
        apply(client, ns, document).await;
    }
}

async fn request_reconcile<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let now = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": now}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn ready_status(
    conditions: Option<&Vec<api::meta::Condition>>,
) -> Option<(ConditionStatus, String)> {
    conditions?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status, c.message.clone()))
}

async fn latest_tag(api: &Api<ImagePolicy>, name: &str, tag: &str) -> ImagePolicy {
    let fetch = || async { Ok(api.get(name).await?) };
    wait_for(
        &format!("policy {name} at {tag}"),
        WAIT,
        fetch,
        |p: &ImagePolicy| {
            p.status
                .as_ref()
                .and_then(|s| s.latest_ref.as_ref())
                .is_some_and(|r| r.tag == tag)
        },
    )
    .await
    .unwrap()
}

async fn automation_where(
    api: &Api<ImageUpdateAutomation>,
    name: &str,
    what: &str,
    done: impl Fn(&ImageUpdateAutomationStatus) -> bool,
) -> ImageUpdateAutomationStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

fn pushed(status: &ImageUpdateAutomationStatus) -> bool {
    status.last_push_commit.is_some()
}

fn up_to_date(status: &ImageUpdateAutomationStatus) -> bool {
    status.observed_source_revision.is_some()
        && ready_status(status.conditions.as_ref())
            == Some((ConditionStatus::True, "repository up-to-date".to_owned()))
}

/// The message of a commit, as stored.
fn commit_message(repo: &Repo, commit: &str) -> String {
    let raw = repo.git(&["cat-file", "commit", commit]);
    raw.split_once("\n\n").unwrap().1.to_owned()
}

/// A GitRepository named `name` following `main` of `url`.
async fn git_repository(client: &Client, ns: &str, name: &str, url: &str, secret: Option<&str>) {
    let mut spec = json!({"url": url, "interval": "10m", "ref": {"branch": "main"}});
    if let Some(secret) = secret {
        spec["secretRef"] = json!({"name": secret});
    }
    apply(
        client,
        ns,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": name, "namespace": ns}, "spec": spec,
        }),
    )
    .await;
}

/// An ImageRepository, a semver ImagePolicy and an ImageUpdateAutomation pushing to `main`
/// of the GitRepository `fleet`, all named `app`.
struct AppAutomation<'a> {
    registry: &'a str,
    pull_secret: Option<&'a str>,
    /// The Secret and type (`ssh`, `gpg`) of the signing key.
    signing_key: Option<(&'a str, &'a str)>,
}

impl AppAutomation<'_> {
    fn yaml(&self) -> String {
        let secret = self
            .pull_secret
            .map(|s| format!(", secretRef: {{name: {s}}}"))
            .unwrap_or_default();
        let signing = self
            .signing_key
            .map(|(s, t)| format!("\n      signingKey: {{secretRef: {{name: {s}}}, type: {t}}}"))
            .unwrap_or_default();
        format!(
            r#"
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: app}}
spec: {{image: {registry}/app, interval: 5m{secret}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: app}}
spec:
  imageRepositoryRef: {{name: app}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: app}}
spec:
  interval: 10m
  sourceRef: {{kind: GitRepository, name: fleet}}
  git:
    push: {{branch: main}}
    commit:
      author: {{email: bot@example.org, name: bot}}{signing}
"#,
            registry = self.registry
        )
    }
}

/// The GitRepository `flux-system` of `url` and the Kustomization `flux-system` applying its
/// `clusters/my-cluster`, as `flux bootstrap` leaves them.
async fn bootstrap(client: &Client, ns: &str, url: &str) {
    git_repository(client, ns, "flux-system", url, None).await;
    apply(
        client,
        ns,
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": ns},
            "spec": {"interval": "10m", "path": "./clusters/my-cluster", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        }),
    )
    .await;
}

fn artifact_dir(content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("configmap.yaml"), content).unwrap();
    dir
}

fn push_podinfo(registry: &Registry, tag: &str) {
    let manifests = artifact_dir(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo\ndata:\n  version: {tag}\n"
    ));
    push_artifact(
        &format!("{}:{tag}", registry.oci_url("manifests/podinfo")),
        manifests.path(),
        &[],
    );
}

#[tokio::test]
async fn the_seed_automation_bumps_an_oci_tag_in_git_and_the_cluster_follows() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let _kustomize = KustomizeController::start(&ns, None);
        let _reflector = ImageReflectorController::start(&ns, None, &[]);
        let _automation = ImageAutomationController::start(&ns, None, &[]);
        push_podinfo(&registry, "6.1.0");

        let repo = server.create_repo("fleet");
        let original = filled(OCI_REPOSITORY_IN_GIT, &ns, &registry);
        // The bootstrap layout: the cluster directory holds the OCIRepository and a
        // Kustomization applying it.
        let kustomization = filled(KUSTOMIZATION_IN_GIT, &ns, &registry);
        repo.commit(
            &[
                ("clusters/my-cluster/podinfo.yaml", &original),
                ("clusters/my-cluster/podinfo-kustomization.yaml", &kustomization),
            ],
            "podinfo",
        );
        repo.push(&["main"]);
        bootstrap(&client, &ns, &server.url("fleet")).await;
        let oci: Api<OCIRepository> = Api::namespaced(client.clone(), &ns);
        let serves = || {
            let oci = oci.clone();
            move || {
                let oci = oci.clone();
                async move {
                    Ok(oci.get_opt("podinfo").await?.and_then(|o| o.status?.artifact).map(|a| a.revision))
                }
            }
        };
        wait_for("the OCIRepository at 6.1.0", WAIT, serves(), |r| {
            r.as_deref().is_some_and(|r| r.starts_with("6.1.0@sha256:"))
        })
        .await
        .unwrap();
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let version = || {
            let config_maps = config_maps.clone();
            async move {
                Ok(config_maps
                    .get_opt("podinfo")
                    .await?
                    .and_then(|c| c.data?.get("version").cloned()))
            }
        };
        wait_for("podinfo 6.1.0 applied", WAIT, version, |v| v.as_deref() == Some("6.1.0"))
            .await
            .unwrap();

        // The seed, exactly as users write it.
        apply_yaml(&client, &ns, &filled(SEED, &ns, &registry)).await;
        let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &ns);
        latest_tag(&policies, "podinfo-oci", "6.1.0").await;
        let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), &ns);
        let status = automation_where(&automations, "flux-system", "up to date, nothing to push", up_to_date).await;
        assert_eq!(status.last_push_commit, None);
        let seed_head = repo.head();

        push_podinfo(&registry, "6.1.1");
        push_podinfo(&registry, "6.2.0");
        let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), &ns);
        request_reconcile(&repositories, "podinfo-oci").await;
        let policy = latest_tag(&policies, "podinfo-oci", "6.1.1").await;
        let ready = ready_status(policy.status.as_ref().unwrap().conditions.as_ref()).unwrap();
        assert_eq!(
            ready.1,
            format!(
                "Latest image tag for {0}/manifests/podinfo resolved to 6.1.1 (previously {0}/manifests/podinfo:6.1.0)",
                registry.addr
            )
        );
        let status = automation_where(&automations, "flux-system", "the bump pushed", pushed).await;
        let commit = status.last_push_commit.clone().unwrap();
        assert_eq!(status.observed_source_revision, Some(format!("main@sha1:{commit}")));

        // One commit by fluxcdbot on main, the template's message, one line changed.
        repo.git(&["fetch", "-q", "origin"]);
        assert_eq!(repo.git(&["rev-parse", "origin/main"]).trim(), commit);
        assert_eq!(repo.git(&["rev-parse", "origin/main~1"]).trim(), seed_head);
        assert_eq!(
            repo.git(&["log", "-1", "--format=%an <%ae>", "origin/main"]).trim(),
            "fluxcdbot <fluxcdbot@users.noreply.github.com>"
        );
        assert_eq!(commit_message(&repo, &commit), format!("{}/manifests/podinfo:6.1.1\n", registry.addr));
        let updated = repo.git(&["show", "origin/main:clusters/my-cluster/podinfo.yaml"]);
        assert_eq!(updated, original.replace("tag: 6.1.0 #", "tag: 6.1.1 #"));
        assert_eq!(
            repo.git(&["diff", "--numstat", &seed_head, "origin/main"]).trim(),
            "1\t1\tclusters/my-cluster/podinfo.yaml"
        );
        let events = events_for::<ImageUpdateAutomation>(&client, &ns, "flux-system").await.unwrap();
        let short = &commit[..7];
        assert!(
            events.iter().any(|e| e.message.as_deref().is_some_and(|m| m.starts_with(&format!("pushed commit '{short}' to branch 'main'\n")))),
            "{events:?}"
        );

        // The cluster follows Git.
        let sources: Api<api::source::v1::GitRepository> = Api::namespaced(client.clone(), &ns);
        request_reconcile(&sources, "flux-system").await;
        wait_for("the OCIRepository at 6.1.1", WAIT, serves(), |r| {
            r.as_deref().is_some_and(|r| r.starts_with("6.1.1@sha256:"))
        })
        .await
        .unwrap();
        wait_for("podinfo 6.1.1 applied", WAIT, version, |v| v.as_deref() == Some("6.1.1"))
            .await
            .unwrap();

        // Nothing new: nothing committed.
        request_reconcile(&automations, "flux-system").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        repo.git(&["fetch", "-q", "origin"]);
        assert_eq!(repo.git(&["rev-parse", "origin/main"]).trim(), commit);
    })
    .await;
}

#[tokio::test]
async fn helm_chart_versions_are_bumped_in_git_and_upgraded() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let helm_home = tempfile::tempdir().unwrap();
        push_chart(helm_home.path(), &registry.oci_url("charts"), "6.1.0");
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let _kustomize = KustomizeController::start(&ns, None);
        let _helm = HelmController::start(&ns, None, &[]);
        let _reflector = ImageReflectorController::start(&ns, None, &[]);
        let _automation = ImageAutomationController::start(&ns, None, &[]);

        let repo = server.create_repo("fleet");
        let original = filled(HELM_RELEASE_IN_GIT, &ns, &registry);
        repo.commit(
            &[("clusters/my-cluster/podinfo.yaml", &original)],
            "podinfo",
        );
        repo.push(&["main"]);
        bootstrap(&client, &ns, &server.url("fleet")).await;
        let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
        let released = || {
            let releases = releases.clone();
            move || {
                let releases = releases.clone();
                async move { Ok(releases.get_opt("podinfo").await?.and_then(|r| r.status)) }
            }
        };
        let at = |version: &'static str| {
            move |s: &Option<api::helm::v2::HelmReleaseStatus>| {
                s.as_ref().is_some_and(|s| {
                    s.last_attempted_revision.as_deref() == Some(version)
                        && ready_status(s.conditions.as_ref())
                            .is_some_and(|r| r.0 == ConditionStatus::True)
                })
            }
        };
        wait_for("installed at 6.1.0", WAIT, released(), at("6.1.0"))
            .await
            .unwrap();

        apply_yaml(
            &client,
            &ns,
            &format!(
                r#"
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {{name: podinfo-chart}}
spec: {{image: {}/charts/podinfo, interval: 5m}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {{name: podinfo-chart}}
spec:
  imageRepositoryRef: {{name: podinfo-chart}}
  policy: {{semver: {{range: 6.1.x}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: charts}}
spec:
  interval: 10m
  sourceRef: {{kind: GitRepository, name: flux-system}}
  git:
    commit:
      author: {{email: fluxcdbot@users.noreply.github.com, name: fluxcdbot}}
      messageTemplate: |-
        {{{{ range .Changed.Changes }}}}{{{{ .OldValue }}}} -> {{{{ .NewValue }}}}{{{{ end }}}}
  update: {{path: ./clusters/my-cluster}}
"#,
                registry.addr
            ),
        )
        .await;
        let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &ns);
        latest_tag(&policies, "podinfo-chart", "6.1.0").await;
        push_chart(helm_home.path(), &registry.oci_url("charts"), "6.1.1");
        let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), &ns);
        request_reconcile(&repositories, "podinfo-chart").await;
        latest_tag(&policies, "podinfo-chart", "6.1.1").await;
        let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), &ns);
        let status =
            automation_where(&automations, "charts", "the chart bump pushed", pushed).await;
        let commit = status.last_push_commit.unwrap();
        repo.git(&["fetch", "-q", "origin"]);
        assert_eq!(commit_message(&repo, &commit), "6.1.0 -> 6.1.1");
        assert_eq!(
            repo.git(&["show", "origin/main:clusters/my-cluster/podinfo.yaml"]),
            original.replace("version: 6.1.0 #", "version: 6.1.1 #")
        );

        let sources: Api<api::source::v1::GitRepository> = Api::namespaced(client.clone(), &ns);
        request_reconcile(&sources, "flux-system").await;
        wait_for("upgraded to 6.1.1", WAIT, released(), at("6.1.1"))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_push_that_loses_the_race_lands_on_top_of_the_winner() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        registry.upload_flux_artifact("app", "1.0.0", b"one");
        registry.upload_flux_artifact("app", "1.0.1", b"two");
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _reflector = ImageReflectorController::start(&ns, None, &[]);
        let automation = ImageAutomationController::start(&ns, None, &[]);
        let repo = server.create_repo("fleet");
        let original = CONFIG_MAP_IN_GIT.replace("<ns>", &ns);
        repo.commit(&[("apps/app.yaml", &original)], "app");
        repo.push(&["main"]);
        git_repository(&client, &ns, "fleet", &server.url("fleet"), None).await;

        // Someone else pushes to main just before the automation does.
        let bare = server.bare_path("fleet");
        server.before_next_push(move || {
            let other = tempfile::tempdir().unwrap();
            git(other.path(), &["clone", "-q", bare.to_str().unwrap(), "."]);
            std::fs::write(other.path().join("README.md"), "hello\n").unwrap();
            git(other.path(), &["add", "README.md"]);
            git(other.path(), &["commit", "-q", "-m", "someone else"]);
            git(other.path(), &["push", "-q", "origin", "HEAD:main"]);
        });
        // Commits signed with an OpenPGP key, made by the real gpg.
        let key = GpgKey::generate("bot@example.org");
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "gpg", "namespace": ns},
                "stringData": {"git.asc": key.secret},
            }),
        )
        .await;
        let objects = AppAutomation {
            registry: &registry.addr,
            pull_secret: None,
            signing_key: Some(("gpg", "gpg")),
        };
        apply_yaml(&client, &ns, &objects.yaml()).await;
        let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), &ns);
        let status = automation_where(&automations, "app", "pushed after the race", pushed).await;
        let commit = status.last_push_commit.unwrap();
        repo.git(&["fetch", "-q", "origin"]);
        assert_eq!(repo.git(&["rev-parse", "origin/main"]).trim(), commit);
        assert_eq!(
            repo.git(&["log", "--format=%s", "-3", "origin/main"]),
            "Update from image update automation\nsomeone else\napp\n"
        );
        assert_eq!(
            repo.git(&["show", "origin/main:apps/app.yaml"]),
            original.replace("tag: 1.0.0 #", "tag: 1.0.1 #")
        );
        let verified = std::process::Command::new("git")
            .args(["verify-commit", &commit])
            .current_dir(repo.path())
            .env("GNUPGHOME", key.home.path())
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        assert!(
            automation.process.logs().contains("push rejected"),
            "the first push was refused"
        );
    })
    .await;
}

#[tokio::test]
async fn registry_credentials_and_git_over_ssh_with_a_signed_commit() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start_with_auth("flux", "s3cret");
        registry.upload_flux_artifact("app", "1.0.0", b"one");
        registry.upload_flux_artifact("app", "1.0.1", b"two");
        let server = GitServer::start(GitAuth::Anonymous).await;
        let keys = tempfile::tempdir().unwrap();
        let user = KeyPair::generate(keys.path(), "flux");
        let signing = KeyPair::generate(keys.path(), "signing");
        let sshd = SshServer::start(&user);
        let _reflector = ImageReflectorController::start(&ns, None, &[]);
        let _automation = ImageAutomationController::start(&ns, None, &[]);
        let repo = server.create_repo("fleet");
        let original = CONFIG_MAP_IN_GIT.replace("<ns>", &ns);
        repo.commit(&[("apps/app.yaml", &original)], "app");
        repo.push(&["main"]);

        let auth = base64::engine::general_purpose::STANDARD.encode("flux:s3cret");
        let docker = json!({"auths": {registry.addr.clone(): {"auth": auth}}}).to_string();
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": "regcred", "namespace": ns},
                "stringData": {".dockerconfigjson": docker},
            }),
        )
        .await;
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "ssh", "namespace": ns},
                "stringData": {"identity": user.private_pem(), "known_hosts": sshd.known_hosts()},
            }),
        )
        .await;
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "signing", "namespace": ns},
                "stringData": {"identity": signing.private_pem()},
            }),
        )
        .await;
        git_repository(
            &client,
            &ns,
            "fleet",
            &sshd.url(&server.bare_path("fleet")),
            Some("ssh"),
        )
        .await;
        let objects = AppAutomation {
            registry: &registry.addr,
            pull_secret: Some("regcred"),
            signing_key: Some(("signing", "ssh")),
        };
        apply_yaml(&client, &ns, &objects.yaml()).await;
        let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), &ns);
        let scanned = wait_for(
            "the private repository scanned",
            WAIT,
            || async { Ok(repositories.get("app").await?.status.unwrap_or_default()) },
            |s| {
                s.last_scan_result
                    .as_ref()
                    .is_some_and(|r| r.tag_count == 2)
            },
        )
        .await
        .unwrap();
        assert_eq!(
            scanned.canonical_image_name,
            Some(format!("{}/app", registry.addr))
        );
        let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), &ns);
        let status = automation_where(&automations, "app", "pushed over ssh", pushed).await;
        let commit = status.last_push_commit.unwrap();
        repo.git(&["fetch", "-q", "origin"]);
        assert_eq!(repo.git(&["rev-parse", "origin/main"]).trim(), commit);
        let allowed = keys.path().join("allowed_signers");
        std::fs::write(&allowed, format!("bot@example.org {}\n", signing.public)).unwrap();
        repo.git(&[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-commit",
            &commit,
        ]);

        // Without the pull secret, the scan is refused with the registry's answer.
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                "metadata": {"name": "anonymous", "namespace": ns},
                "spec": {"image": format!("{}/app", registry.addr), "interval": "5m"},
            }),
        )
        .await;
        let refused = wait_for(
            "the anonymous scan refused",
            WAIT,
            || async {
                Ok(repositories
                    .get("anonymous")
                    .await?
                    .status
                    .unwrap_or_default())
            },
            |s| ready_status(s.conditions.as_ref()).is_some_and(|r| r.0 == ConditionStatus::False),
        )
        .await
        .unwrap();
        let message = ready_status(refused.conditions.as_ref()).unwrap().1;
        assert!(message.starts_with("scan failed: "), "{message}");
    })
    .await;
}

#[tokio::test]
async fn alphabetical_numerical_extracted_timestamps_and_digests() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        for tag in ["main-abc1234-1606234201", "main-def5678-1606364286", "main-9999999-1606334092",
                    "feature-x-1700000000", "1.0.0", "2.0.0", "latest", "sha256-0123.sig"] {
            registry.upload_flux_artifact("app", tag, tag.as_bytes());
        }
        let digest = registry.manifest_digest("app", "2.0.0");
        let _reflector = ImageReflectorController::start(&ns, None, &[]);
        let image = format!("{}/app", registry.addr);
        apply(&client, &ns, json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "metadata": {"name": "app", "namespace": ns}, "spec": {"image": image, "interval": "5m"},
        }))
        .await;
        let policy = |name: &str, spec: Value| {
            let mut spec = spec;
            spec["imageRepositoryRef"] = json!({"name": "app"});
            json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                   "metadata": {"name": name, "namespace": ns}, "spec": spec})
        };
        apply(&client, &ns, policy("timestamps", json!({
            "policy": {"numerical": {"order": "asc"}},
            "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "extract": "$ts"},
        }))).await;
        apply(&client, &ns, policy("first-alphabetically", json!({"policy": {"alphabetical": {"order": "desc"}}}))).await;
        apply(&client, &ns, policy("last-alphabetically", json!({"policy": {"alphabetical": {}}}))).await;
        apply(&client, &ns, policy("digest", json!({"policy": {"semver": {"range": ">=1.0.0"}}, "digestReflectionPolicy": "IfNotPresent"}))).await;
        apply(&client, &ns, policy("not-numbers", json!({"policy": {"numerical": {}}}))).await;

        let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), &ns);
        let scanned = wait_for("scanned", WAIT, || async { Ok(repositories.get("app").await?.status.unwrap_or_default()) },
            |s| s.last_scan_result.is_some()).await.unwrap();
        let result = scanned.last_scan_result.unwrap();
        assert_eq!(result.tag_count, 7, "the .sig tag is excluded");
        assert_eq!(
            result.latest_tags.unwrap(),
            ["main-def5678-1606364286", "main-abc1234-1606234201", "main-9999999-1606334092", "latest", "feature-x-1700000000", "2.0.0", "1.0.0"]
        );
        let revision = result.revision.unwrap();
        assert_eq!(
            ready_status(scanned.conditions.as_ref()).unwrap().1,
            format!("successful scan: found 7 tags with checksum {revision}")
        );

        let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &ns);
        latest_tag(&policies, "timestamps", "main-def5678-1606364286").await;
        latest_tag(&policies, "first-alphabetically", "1.0.0").await;
        latest_tag(&policies, "last-alphabetically", "main-def5678-1606364286").await;
        let with_digest = latest_tag(&policies, "digest", "2.0.0").await;
        let status = with_digest.status.unwrap();
        assert_eq!(status.latest_ref.unwrap().digest, Some(digest.clone()));
        assert_eq!(status.latest_image, Some(format!("{image}:2.0.0")));
        assert_eq!(
            ready_status(status.conditions.as_ref()).unwrap().1,
            format!("Latest image tag for {image} resolved to 2.0.0 with digest {digest}")
        );
        let failing = wait_for("not numbers", WAIT, || async { Ok(policies.get("not-numbers").await?.status.unwrap_or_default()) },
            |s| ready_status(s.conditions.as_ref()).is_some_and(|r| r.0 == ConditionStatus::False)).await.unwrap();
        let message = ready_status(failing.conditions.as_ref()).unwrap().1;
        assert!(message.starts_with("failed to parse invalid numeric value '"), "{message}");
        let events = events_for::<ImagePolicy>(&client, &ns, "timestamps").await.unwrap();
        assert!(
            events.iter().any(|e| e.message.as_deref() == Some(format!("Latest image tag for {image} resolved to main-def5678-1606364286").as_str())),
            "{events:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_repository_with_more_tags_than_a_listing_page_is_scanned_whole() {
    with_temp_ns(|client, ns| async move {
        // Debian's registry answers every page with the whole list: the scan must end anyway.
        let registry = Registry::start();
        registry.upload_flux_artifact("many", "0.0.0", b"0");
        let tags: Vec<String> = (1..2500)
            .map(|i| format!("{}.{}.{}", i / 100, (i / 10) % 10, i % 10))
            .collect();
        registry.add_tags("many", "0.0.0", &tags);
        let _reflector = ImageReflectorController::start(&ns, None, &[]);
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                "metadata": {"name": "many", "namespace": ns},
                "spec": {"image": format!("{}/many", registry.addr), "interval": "5m"},
            }),
        )
        .await;
        let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), &ns);
        let scanned = wait_for(
            "scanned",
            WAIT,
            || async { Ok(repositories.get("many").await?.status.unwrap_or_default()) },
            |s| s.last_scan_result.is_some(),
        )
        .await
        .unwrap();
        let result = scanned.last_scan_result.unwrap();
        assert_eq!(result.tag_count, 2500);
        assert_eq!(result.latest_tags.unwrap()[0], "9.9.9");
    })
    .await;
}
