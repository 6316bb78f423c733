//! GitRepository end to end: the real source-controller against the local control plane and
//! a real Git server (`git http-backend`), repositories made with the real `git` CLI; and a
//! Kustomization built from a GitRepository by the real kustomize-controller.

use std::time::Duration;

use api::kustomize::v1::Kustomization;
use api::meta::ConditionStatus;
use api::source::v1::{GitRepository, GitRepositoryStatus};
use e2e::cluster::{FIELD_MANAGER, apply, events_for, wait_for, with_temp_ns};
use e2e::commit_status::CommitStatusApi;
use e2e::controllers::{KustomizeController, NotificationController, SourceController};
use e2e::git_server::{GitAuth, GitServer, git};
use e2e::gpg::GpgKey;
use e2e::registry::sha256;
use e2e::ssh_server::{KeyPair, SshServer};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

async fn git_repository(client: &Client, ns: &str, name: &str, spec: Value) -> Api<GitRepository> {
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns);
    let object = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns}, "spec": spec,
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap();
    api
}

async fn secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let string_data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    apply(
        client,
        ns,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns}, "stringData": string_data,
        }),
    )
    .await;
}

async fn status_where(
    api: &Api<GitRepository>,
    name: &str,
    what: &str,
    done: impl Fn(&GitRepositoryStatus) -> bool,
) -> GitRepositoryStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

fn condition<'a>(status: &'a GitRepositoryStatus, type_: &str) -> Option<&'a api::meta::Condition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn ready_at(revision: String) -> impl Fn(&GitRepositoryStatus) -> bool {
    move |s| {
        condition(s, "Ready").is_some_and(|c| c.status == ConditionStatus::True)
            && s.artifact.as_ref().is_some_and(|a| a.revision == revision)
    }
}

fn failing(reason: &'static str) -> impl Fn(&GitRepositoryStatus) -> bool {
    move |s| {
        condition(s, "Ready")
            .is_some_and(|c| c.status == ConditionStatus::False && c.reason == reason)
    }
}

async fn request_reconcile(api: &Api<GitRepository>, name: &str) -> String {
    let token = format!("{}", jiff::Timestamp::now());
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    token
}

/// The names in the served artifact, after checking its digest.
fn artifact_names(status: &GitRepositoryStatus) -> Vec<String> {
    let artifact = status.artifact.as_ref().unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sf", &artifact.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {}", artifact.url);
    assert_eq!(Some(sha256(&out.stdout)), artifact.digest);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(out.stdout.as_slice()));
    let mut names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  marker: one\n";

#[tokio::test]
async fn branches_tags_semver_and_commits_resolve_with_flux_revisions() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let repo = server.create_repo("app");
        let first = repo.commit(
            &[("deploy/configmap.yaml", CONFIG_MAP), ("logo.png", "png"), (".github/workflows/ci.yaml", "on: push"), ("README.md", "app")],
            "first",
        );
        repo.git(&["tag", "v1.0.0"]);
        let second = repo.commit(&[("deploy/extra.yaml", CONFIG_MAP)], "second: a subject longer than fifty characters, cut by Flux");
        repo.git(&["tag", "-a", "v1.1.0", "-m", "release 1.1.0"]);
        repo.push(&["main", "--tags"]);
        let url = server.url("app");

        let api = git_repository(&client, &ns, "main", json!({"url": url, "interval": "10m", "ref": {"branch": "main"}})).await;
        let status = status_where(&api, "main", "Ready at main", ready_at(format!("main@sha1:{second}"))).await;
        let artifact = status.artifact.clone().unwrap();
        assert_eq!(artifact.path, format!("gitrepository/{ns}/main/{second}.tar.gz"));
        let ready = condition(&status, "Ready").unwrap();
        assert_eq!(ready.reason, "Succeeded");
        assert_eq!(ready.message, format!("stored artifact for revision 'main@sha1:{second}'"));
        // No spec.ignore and no .sourceignore: the default exclusions apply.
        assert_eq!(artifact_names(&status), [".", "README.md", "deploy", "deploy/configmap.yaml", "deploy/extra.yaml"]);
        let events = events_for::<GitRepository>(&client, &ns, "main").await.unwrap();
        let new_artifact = events.iter().find(|e| e.reason.as_deref() == Some("NewArtifact")).expect("NewArtifact");
        assert_eq!(new_artifact.message.as_deref(), Some("stored artifact for commit 'second: a subject longer than fifty characters, cu...'"));

        for (name, reference, revision) in [
            ("tag", json!({"tag": "v1.0.0"}), format!("v1.0.0@sha1:{first}")),
            ("annotated", json!({"tag": "v1.1.0"}), format!("v1.1.0@sha1:{second}")),
            ("semver", json!({"semver": ">=1.0.0 <2.0.0"}), format!("v1.1.0@sha1:{second}")),
            ("pinned", json!({"commit": first}), format!("sha1:{first}")),
            ("pinned-in-branch", json!({"branch": "main", "commit": first}), format!("main@sha1:{first}")),
            ("by-name", json!({"name": "refs/heads/main"}), format!("refs/heads/main@sha1:{second}")),
        ] {
            let api = git_repository(&client, &ns, name, json!({"url": url, "interval": "10m", "ref": reference})).await;
            status_where(&api, name, name, ready_at(revision)).await;
        }

        // An unchanged remote is listed, not cloned again.
        let packs = server.pack_requests();
        let token = request_reconcile(&api, "main").await;
        status_where(&api, "main", "the request handled", |s| s.last_handled_reconcile_at.as_deref() == Some(token.as_str())).await;
        assert_eq!(server.pack_requests(), packs, "no clone for an unchanged remote");
        let events = events_for::<GitRepository>(&client, &ns, "main").await.unwrap();
        assert!(events.iter().any(|e| e.message.as_deref() == Some(format!("no changes since last reconcilation: observed revision 'main@sha1:{second}'").as_str())), "{events:?}");

        // A force-pushed branch with new history is followed.
        repo.git(&["checkout", "-q", "--orphan", "rewritten"]);
        let rewritten = repo.commit(&[("deploy/extra.yaml", ""), ("logo.png", ""), ("README.md", "rewritten")], "rewritten");
        repo.push(&["rewritten:main"]);
        request_reconcile(&api, "main").await;
        let status = status_where(&api, "main", "the rewritten history", ready_at(format!("main@sha1:{rewritten}"))).await;
        assert!(artifact_names(&status).contains(&"README.md".to_owned()));
        assert!(!artifact_names(&status).contains(&"deploy/extra.yaml".to_owned()));

        // A branch that does not exist is named.
        let missing = git_repository(&client, &ns, "missing", json!({"url": url, "interval": "10m", "ref": {"branch": "nope"}})).await;
        let status = status_where(&missing, "missing", "GitOperationFailed", failing("GitOperationFailed")).await;
        assert_eq!(
            condition(&status, "Ready").unwrap().message,
            format!("failed to checkout and determine revision: unable to clone '{url}': couldn't find remote ref \"refs/heads/nope\"")
        );
        let empty = server.create_repo("empty");
        drop(empty);
        let api = git_repository(&client, &ns, "empty", json!({"url": server.url("empty"), "interval": "10m"})).await;
        let status = status_where(&api, "empty", "EmptyGitRepository", failing("EmptyGitRepository")).await;
        assert_eq!(condition(&status, "Ready").unwrap().message, "git repository is empty");
    })
    .await;
}

#[tokio::test]
async fn basic_auth_and_bearer_tokens_from_secret_ref() {
    with_temp_ns(|client, ns| async move {
        let basic = GitServer::start(GitAuth::Basic { username: "flux".into(), password: "s3cret".into() }).await;
        let bearer = GitServer::start(GitAuth::Bearer("t0ken".into())).await;
        let _source = SourceController::start(&ns, None);
        let mut heads = Vec::new();
        for server in [&basic, &bearer] {
            let repo = server.create_repo("app");
            heads.push(repo.commit(&[("configmap.yaml", CONFIG_MAP)], "first"));
            repo.push(&["main"]);
        }

        // No credentials: refused by the server, with the cause in the message.
        let api = git_repository(&client, &ns, "basic", json!({"url": basic.url("app"), "interval": "10m", "ref": {"branch": "main"}})).await;
        let status = status_where(&api, "basic", "refused without credentials", failing("GitOperationFailed")).await;
        let message = &condition(&status, "Ready").unwrap().message;
        assert!(message.contains("authentication required"), "{message}");

        secret(&client, &ns, "wrong", &[("username", "flux"), ("password", "nope")]).await;
        git_repository(&client, &ns, "basic", json!({"url": basic.url("app"), "interval": "10m", "ref": {"branch": "main"}, "secretRef": {"name": "wrong"}})).await;
        let status = status_where(&api, "basic", "refused with a wrong password", |s| {
            failing("GitOperationFailed")(s) && condition(s, "Ready").unwrap().message.contains("refused the credentials")
        }).await;
        assert!(condition(&status, "FetchFailed").is_some());

        secret(&client, &ns, "basic-auth", &[("username", "flux"), ("password", "s3cret")]).await;
        git_repository(&client, &ns, "basic", json!({"url": basic.url("app"), "interval": "10m", "ref": {"branch": "main"}, "secretRef": {"name": "basic-auth"}})).await;
        status_where(&api, "basic", "Ready with basic auth", ready_at(format!("main@sha1:{}", heads[0]))).await;

        secret(&client, &ns, "token", &[("bearerToken", "t0ken")]).await;
        let api = git_repository(&client, &ns, "bearer", json!({"url": bearer.url("app"), "interval": "10m", "ref": {"branch": "main"}, "secretRef": {"name": "token"}})).await;
        status_where(&api, "bearer", "Ready with a bearer token", ready_at(format!("main@sha1:{}", heads[1]))).await;

        // Both kinds of credentials in one Secret is Flux's configuration error.
        secret(&client, &ns, "both", &[("username", "flux"), ("password", "s3cret"), ("bearerToken", "t0ken")]).await;
        let api = git_repository(&client, &ns, "both", json!({"url": bearer.url("app"), "interval": "10m", "secretRef": {"name": "both"}})).await;
        let status = status_where(&api, "both", "AuthenticationFailed", failing("AuthenticationFailed")).await;
        assert_eq!(
            condition(&status, "Ready").unwrap().message,
            "failed to configure authentication options: invalid 'http' auth option: basic auth and bearer token cannot be set at the same time"
        );
    })
    .await;
}

#[tokio::test]
async fn ignore_rules_sourceignore_and_include() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let app = server.create_repo("app");
        app.commit(&[("deploy/app.yaml", CONFIG_MAP), ("deploy/secret.yaml", CONFIG_MAP), ("logo.png", "png")], "app");
        app.push(&["main"]);
        let shared = server.create_repo("shared");
        let shared_head = shared.commit(&[("base/common.yaml", CONFIG_MAP), ("docs/readme.md", "docs"), (".sourceignore", "docs/\n")], "shared");
        shared.push(&["main"]);

        // spec.ignore replaces the defaults (logo.png stays) but never the VCS patterns.
        let api = git_repository(&client, &ns, "app", json!({"url": server.url("app"), "interval": "10m", "ref": {"branch": "main"}, "ignore": "deploy/secret.yaml\n"})).await;
        let status = status_where(&api, "app", "Ready", |s| condition(s, "Ready").is_some_and(|c| c.status == ConditionStatus::True)).await;
        assert_eq!(artifact_names(&status), [".", "deploy", "deploy/app.yaml", "logo.png"]);
        assert_eq!(status.observed_ignore.as_deref(), Some("deploy/secret.yaml\n"));

        // A .sourceignore in the tree applies below its directory.
        let shared_api = git_repository(&client, &ns, "shared", json!({"url": server.url("shared"), "interval": "10m", "ref": {"branch": "main"}})).await;
        let status = status_where(&shared_api, "shared", "Ready", ready_at(format!("main@sha1:{shared_head}"))).await;
        assert_eq!(artifact_names(&status), [".", ".sourceignore", "base", "base/common.yaml"]);

        // `include` copies the other repository's artifact in at toPath.
        git_repository(&client, &ns, "app", json!({
            "url": server.url("app"), "interval": "10m", "ref": {"branch": "main"}, "ignore": "deploy/secret.yaml\n",
            "include": [{"repository": {"name": "shared"}, "fromPath": "base", "toPath": "deploy/shared"}],
        })).await;
        let status = status_where(&api, "app", "the include copied", |s| s.included_artifacts.as_ref().is_some_and(|a| a.len() == 1) && condition(s, "Ready").is_some_and(|c| c.status == ConditionStatus::True)).await;
        assert!(artifact_names(&status).contains(&"deploy/shared/common.yaml".to_owned()), "{:?}", artifact_names(&status));
        assert_eq!(status.included_artifacts.unwrap()[0].revision, format!("main@sha1:{shared_head}"));

        // An include that does not exist marks IncludeUnavailable.
        let missing = git_repository(&client, &ns, "missing-include", json!({
            "url": server.url("app"), "interval": "10m", "ref": {"branch": "main"},
            "include": [{"repository": {"name": "nowhere"}}],
        })).await;
        let status = status_where(&missing, "missing-include", "IncludeUnavailable", |s| condition(s, "IncludeUnavailable").is_some()).await;
        assert!(condition(&status, "Ready").unwrap().message.contains("could not get resource for include 'nowhere'"));
    })
    .await;
}

#[tokio::test]
async fn ssh_signed_commits_are_verified_and_unsigned_ones_refused_with_nothing_stored() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("signer");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let repo = server.create_repo("signed");
        std::fs::write(repo.path().join("configmap.yaml"), CONFIG_MAP).unwrap();
        git(repo.path(), &["add", "-A"]);
        git(
            repo.path(),
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &format!("user.signingkey={}", key.display()),
                "commit",
                "-q",
                "-S",
                "-m",
                "signed",
            ],
        );
        let signed = repo.head();
        repo.push(&["main"]);
        secret(&client, &ns, "signers", &[("author.sshpub", &public)]).await;

        let api = git_repository(
            &client,
            &ns,
            "signed",
            json!({
                "url": server.url("signed"), "interval": "10m", "ref": {"branch": "main"},
                "verify": {"mode": "HEAD", "secretRef": {"name": "signers"}},
            }),
        )
        .await;
        let status = status_where(
            &api,
            "signed",
            "verified",
            ready_at(format!("main@sha1:{signed}")),
        )
        .await;
        let verified = condition(&status, "SourceVerified").unwrap();
        assert_eq!(verified.status, ConditionStatus::True);
        assert!(
            verified.message.starts_with(&format!(
                "verified signature of\n\t- commit '{signed}' with key 'SHA256:"
            )),
            "{}",
            verified.message
        );
        assert_eq!(
            status.source_verification_mode,
            Some(api::source::GitVerificationMode::Head)
        );

        // An unsigned commit on top is refused and the verified artifact stays.
        let unsigned = repo.commit(&[("extra.yaml", CONFIG_MAP)], "unsigned");
        repo.push(&["main"]);
        request_reconcile(&api, "signed").await;
        let status =
            status_where(&api, "signed", "refused", failing("InvalidCommitSignature")).await;
        assert_eq!(
            condition(&status, "Ready").unwrap().message,
            format!(
                "signature verification of commit '{unsigned}' failed: the commit is not signed"
            )
        );
        assert_eq!(
            condition(&status, "SourceVerified").unwrap().status,
            ConditionStatus::False
        );
        assert_eq!(
            status.artifact.unwrap().revision,
            format!("main@sha1:{signed}"),
            "nothing new stored"
        );
    })
    .await;
}

#[tokio::test]
async fn openpgp_signed_commits_are_verified_with_the_key_ring_of_the_secret() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let key = GpgKey::generate("signer@example.org");
        let repo = server.create_repo("pgp");
        std::fs::write(repo.path().join("configmap.yaml"), CONFIG_MAP).unwrap();
        git(repo.path(), &["add", "-A"]);
        let signed = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Signer",
                "-c",
                "user.email=signer@example.org",
            ])
            .args([
                "-c",
                "user.signingkey=signer@example.org",
                "commit",
                "-q",
                "-S",
                "-m",
                "signed",
            ])
            .current_dir(repo.path())
            .env("GNUPGHOME", key.home.path())
            .status()
            .unwrap();
        assert!(signed.success());
        let signed = repo.head();
        repo.push(&["main"]);
        secret(&client, &ns, "signers", &[("signer.asc", &key.public)]).await;
        let api = git_repository(
            &client,
            &ns,
            "pgp",
            json!({
                "url": server.url("pgp"), "interval": "10m", "ref": {"branch": "main"},
                "verify": {"mode": "HEAD", "secretRef": {"name": "signers"}},
            }),
        )
        .await;
        let status = status_where(
            &api,
            "pgp",
            "verified",
            ready_at(format!("main@sha1:{signed}")),
        )
        .await;
        assert_eq!(
            condition(&status, "SourceVerified").unwrap().message,
            format!(
                "verified signature of\n\t- commit '{signed}' with key '{}'",
                key.key_id
            )
        );
    })
    .await;
}

#[tokio::test]
async fn submodules_are_checked_out_at_their_recorded_commits_when_asked() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Basic {
            username: "flux".into(),
            password: "pw".into(),
        })
        .await;
        let _source = SourceController::start(&ns, None);
        let lib = server.create_repo("lib");
        let pinned = lib.commit(&[("lib.yaml", CONFIG_MAP)], "lib v1");
        lib.push(&["main"]);
        // A later commit the submodule does not point at.
        lib.commit(&[("later.yaml", CONFIG_MAP)], "lib v2");
        lib.push(&["main"]);
        let app = server.create_repo("app");
        app.commit(
            &[
                ("app.yaml", CONFIG_MAP),
                (
                    ".gitmodules",
                    "[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n",
                ),
            ],
            "app",
        );
        app.git(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{pinned},vendor/lib"),
        ]);
        app.git(&["commit", "-q", "-m", "vendor lib"]);
        let head = app.head();
        app.push(&["main"]);
        secret(
            &client,
            &ns,
            "auth",
            &[("username", "flux"), ("password", "pw")],
        )
        .await;
        let spec = |recurse: bool| {
            json!({"url": server.url("app"), "interval": "10m", "ref": {"branch": "main"},
            "secretRef": {"name": "auth"}, "recurseSubmodules": recurse})
        };

        let api = git_repository(&client, &ns, "app", spec(true)).await;
        let status = status_where(
            &api,
            "app",
            "Ready with the submodule",
            ready_at(format!("main@sha1:{head}")),
        )
        .await;
        let names = artifact_names(&status);
        assert!(
            names.contains(&"vendor/lib/lib.yaml".to_owned()),
            "{names:?}"
        );
        assert!(
            !names.contains(&"vendor/lib/later.yaml".to_owned()),
            "the recorded commit, not the branch head: {names:?}"
        );
        assert!(status.observed_recurse_submodules);

        let plain = git_repository(&client, &ns, "plain", spec(false)).await;
        let status = status_where(
            &plain,
            "plain",
            "Ready without",
            ready_at(format!("main@sha1:{head}")),
        )
        .await;
        assert!(
            !artifact_names(&status)
                .iter()
                .any(|n| n.ends_with("lib.yaml"))
        );
    })
    .await;
}

#[tokio::test]
async fn a_kustomization_from_a_git_repository_applies_and_prunes_through_two_commits() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let _kustomize = KustomizeController::start(&ns, None);
        let repo = server.create_repo("fleet");
        let cm = |name: &str, value: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n");
        // The bootstrap layout: a cluster directory the Kustomization points at.
        repo.commit(&[("clusters/my-cluster/one.yaml", &cm("one", "a")), ("clusters/my-cluster/two.yaml", &cm("two", "a"))], "two config maps");
        repo.push(&["main"]);
        git_repository(&client, &ns, "fleet", json!({"url": server.url("fleet"), "interval": "10m", "ref": {"branch": "main"}})).await;
        apply(&client, &ns, json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": ns},
            "spec": {"interval": "10m", "path": "./clusters/my-cluster", "prune": true, "targetNamespace": ns,
                     "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
        })).await;
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let value_of = |name: &'static str| {
            let config_maps = config_maps.clone();
            move || {
                let config_maps = config_maps.clone();
                async move { Ok(config_maps.get_opt(name).await?.and_then(|c| c.data).and_then(|d| d.get("value").cloned())) }
            }
        };
        wait_for("one applied", WAIT, value_of("one"), |v| v.as_deref() == Some("a")).await.unwrap();
        wait_for("two applied", WAIT, value_of("two"), |v| v.as_deref() == Some("a")).await.unwrap();

        // The second commit changes one and removes two: applied and pruned.
        let second = repo.commit(&[("clusters/my-cluster/one.yaml", &cm("one", "b")), ("clusters/my-cluster/two.yaml", "")], "change one, drop two");
        repo.push(&["main"]);
        let sources: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
        request_reconcile(&sources, "fleet").await;
        wait_for("one changed", WAIT, value_of("one"), |v| v.as_deref() == Some("b")).await.unwrap();
        wait_for("two pruned", WAIT, value_of("two"), |v| v.is_none()).await.unwrap();
        let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
        let status = wait_for("the revision recorded", WAIT, || async { Ok(kustomizations.get("apps").await?.status.unwrap_or_default()) },
            |s| s.last_applied_revision.as_deref() == Some(format!("main@sha1:{second}").as_str())).await.unwrap();
        assert_eq!(status.last_attempted_revision.as_deref(), Some(format!("main@sha1:{second}").as_str()));
    })
    .await;
}

#[tokio::test]
async fn ssh_keys_and_known_hosts_are_checked() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Anonymous).await;
        let _source = SourceController::start(&ns, None);
        let keys = tempfile::tempdir().unwrap();
        let user = KeyPair::generate(keys.path(), "flux");
        let stranger = KeyPair::generate(keys.path(), "stranger");
        let sshd = SshServer::start(&user);
        let repo = server.create_repo("app");
        let head = repo.commit(&[("configmap.yaml", CONFIG_MAP)], "first");
        repo.push(&["main"]);
        let url = sshd.url(&server.bare_path("app"));
        let spec = |secret: &str| json!({"url": url, "interval": "10m", "ref": {"branch": "main"}, "secretRef": {"name": secret}});

        secret(&client, &ns, "ssh", &[("identity", &user.private_pem()), ("known_hosts", &sshd.known_hosts())]).await;
        let api = git_repository(&client, &ns, "ssh", spec("ssh")).await;
        status_where(&api, "ssh", "Ready over ssh", ready_at(format!("main@sha1:{head}"))).await;

        // A key the server does not accept.
        secret(&client, &ns, "stranger", &[("identity", &stranger.private_pem()), ("known_hosts", &sshd.known_hosts())]).await;
        let api = git_repository(&client, &ns, "stranger", spec("stranger")).await;
        let status = status_where(&api, "stranger", "refused", failing("GitOperationFailed")).await;
        let message = &condition(&status, "Ready").unwrap().message;
        assert!(message.starts_with(&format!("failed to checkout and determine revision: unable to clone '{url}': ")), "{message}");
        assert!(message.contains("refused the credentials") || message.contains("authenticat"), "{message}");

        // The server presents a host key other than the one known_hosts lists.
        let other_host = format!("[127.0.0.1]:{} {}\n", sshd.port, stranger.public.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        secret(&client, &ns, "mismatch", &[("identity", &user.private_pem()), ("known_hosts", &other_host)]).await;
        let api = git_repository(&client, &ns, "mismatch", spec("mismatch")).await;
        let status = status_where(&api, "mismatch", "host key refused", failing("GitOperationFailed")).await;
        let message = &condition(&status, "Ready").unwrap().message;
        assert!(message.ends_with(&format!("ssh: handshake failed: knownhosts: key mismatch for [127.0.0.1]:{}", sshd.port)), "{message}");

        // Flux's validation of the Secret.
        secret(&client, &ns, "no-hosts", &[("identity", &user.private_pem())]).await;
        let api = git_repository(&client, &ns, "no-hosts", spec("no-hosts")).await;
        let status = status_where(&api, "no-hosts", "AuthenticationFailed", failing("AuthenticationFailed")).await;
        assert_eq!(
            condition(&status, "Ready").unwrap().message,
            "failed to configure authentication options: invalid 'ssh' auth option: 'known_hosts' is required"
        );
    })
    .await;
}

#[tokio::test]
async fn kustomization_statuses_are_posted_on_the_commits_of_github_and_gitlab() {
    with_temp_ns(|client, ns| async move {
        let server = GitServer::start(GitAuth::Anonymous).await;
        let statuses = CommitStatusApi::start("s3cret").await;
        let notification = NotificationController::start(&ns);
        let _source = SourceController::start(&ns, Some(&notification.events_url()));
        let _kustomize = KustomizeController::start(&ns, Some(&notification.events_url()));
        secret(&client, &ns, "git-token", &[("token", "s3cret")]).await;
        for (name, kind) in [("github", "github"), ("gitlab", "gitlab")] {
            apply(&client, &ns, json!({
                "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider", "metadata": {"name": name},
                "spec": {"type": kind, "address": format!("{}/org/fleet", statuses.base), "secretRef": {"name": "git-token"}},
            })).await;
            apply(&client, &ns, json!({
                "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert", "metadata": {"name": name},
                "spec": {"providerRef": {"name": name}, "eventSources": [{"kind": "Kustomization", "name": "*"}]},
            })).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await; // the controller's watch sees them
        let repo = server.create_repo("fleet");
        let head = repo.commit(&[("apps/app.yaml", CONFIG_MAP)], "app");
        repo.push(&["main"]);
        git_repository(&client, &ns, "fleet", json!({"url": server.url("fleet"), "interval": "10m", "ref": {"branch": "main"}})).await;
        apply(&client, &ns, json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "apps", "namespace": ns},
            "spec": {"interval": "10m", "path": "./apps", "prune": true, "targetNamespace": ns, "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
        })).await;

        let providers: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), &ns, &api::api_resource("notification.toolkit.fluxcd.io/v1beta3", "Provider"));
        let uid_prefix = |name: &'static str| {
            let providers = providers.clone();
            async move { providers.get(name).await.unwrap().metadata.uid.unwrap().split('-').next().unwrap().to_owned() }
        };
        let (github_uid, gitlab_uid) = (uid_prefix("github").await, uid_prefix("gitlab").await);
        let both = wait_for("a status on each service", WAIT, || async { Ok(statuses.posted()) }, |p| p.iter().any(|s| s.service == "github") && p.iter().any(|s| s.service == "gitlab")).await.unwrap();
        assert!(statuses.refused().is_empty(), "{:?}", statuses.refused());
        let github = both.iter().find(|s| s.service == "github").unwrap();
        assert_eq!((github.repository.as_str(), github.commit.as_str()), ("org/fleet", head.as_str()));
        assert_eq!(github.body, json!({"state": "success", "description": "reconciliation succeeded", "context": format!("kustomization/apps/{github_uid}")}));
        let gitlab = both.iter().find(|s| s.service == "gitlab").unwrap();
        assert_eq!(gitlab.commit, head);
        assert_eq!(gitlab.body, json!({"state": "success", "name": format!("kustomization/apps/{gitlab_uid}"), "description": "reconciliation succeeded"}));

        // Another successful reconcile of the same commit: the services already show it.
        let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
        let token = format!("{}", jiff::Timestamp::now());
        kustomizations.patch("apps", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}))).await.unwrap();
        wait_for("the second reconcile", WAIT, || async { Ok(kustomizations.get("apps").await?.status.unwrap_or_default()) },
            |s| s.last_handled_reconcile_at.as_deref() == Some(token.as_str())).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(statuses.posted().len(), 2, "no duplicate statuses: {:?}", statuses.posted());

        // A new commit gets its own status.
        let second = repo.commit(&[("apps/app.yaml", &CONFIG_MAP.replace("one", "two"))], "second");
        repo.push(&["main"]);
        let sources: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
        request_reconcile(&sources, "fleet").await;
        wait_for("statuses on the second commit", WAIT, || async { Ok(statuses.posted()) }, |p| p.iter().filter(|s| s.commit == second).count() == 2).await.unwrap();
    })
    .await;
}
