//! source-controller end to end: the real binary against the local control plane and a real
//! registry, one namespace (and one controller) per test.

use std::time::Duration;

use api::meta::ConditionStatus;
use api::source::v1::{OCIRepository, OCIRepositoryStatus};
use e2e::bin::push_artifact;
use e2e::cluster::{FIELD_MANAGER, events_for, wait_for, with_temp_ns};
use e2e::controllers::SourceController;
use e2e::registry::{Registry, gnu_tar_gz, sha256};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn app_tree(marker: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  marker: {marker}\n"
        ),
    )
    .unwrap();
    dir
}

async fn apply_repo(client: &Client, ns: &str, name: &str, spec: Value) -> Api<OCIRepository> {
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), ns);
    let object = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
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

async fn status_where(
    api: &Api<OCIRepository>,
    name: &str,
    what: &str,
    done: impl Fn(&OCIRepositoryStatus) -> bool,
) -> OCIRepositoryStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

fn condition<'a>(status: &'a OCIRepositoryStatus, type_: &str) -> Option<&'a api::meta::Condition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn is(status: &OCIRepositoryStatus, type_: &str, value: ConditionStatus) -> bool {
    condition(status, type_).is_some_and(|c| c.status == value)
}

fn ready_at(revision_prefix: &str) -> impl Fn(&OCIRepositoryStatus) -> bool + '_ {
    move |s| {
        is(s, "Ready", ConditionStatus::True)
            && s.artifact
                .as_ref()
                .is_some_and(|a| a.revision.starts_with(revision_prefix))
    }
}

async fn request_reconcile(api: &Api<OCIRepository>, name: &str) -> String {
    let token = format!("{}", jiff::Timestamp::now());
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    token
}

/// Downloads the artifact from the controller's file server and checks its digest.
fn fetch_verified(source: &SourceController, status: &OCIRepositoryStatus) -> Vec<u8> {
    let artifact = status.artifact.as_ref().unwrap();
    assert!(
        artifact
            .url
            .starts_with(&format!("http://{}/", source.storage_addr)),
        "{}",
        artifact.url
    );
    let out = std::process::Command::new("curl")
        .args(["-sf", &artifact.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {}", artifact.url);
    assert_eq!(
        Some(sha256(&out.stdout)),
        artifact.digest,
        "served bytes match the digest"
    );
    assert_eq!(Some(out.stdout.len() as i64), artifact.size);
    out.stdout
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[tokio::test]
async fn tag_reference_stores_serves_and_reports_the_artifact() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/podinfo");
        let tree = app_tree("v1");
        let digest = push_artifact(&format!("{url}:latest"), tree.path(), &[]);

        let api = apply_repo(&client, &ns, "podinfo", json!({"url": url, "interval": "10m", "ref": {"tag": "latest"}})).await;
        let status = status_where(&api, "podinfo", "Ready", ready_at("latest@")).await;
        let artifact = status.artifact.clone().unwrap();
        assert_eq!(artifact.revision, format!("latest@{digest}"));
        assert_eq!(artifact.path, format!("ocirepository/{ns}/podinfo/{digest}.tar.gz"));
        let metadata = artifact.metadata.unwrap();
        assert_eq!(metadata["org.opencontainers.image.source"], "https://github.com/example/app");
        assert_eq!(metadata["org.opencontainers.image.revision"], "main@sha1:0123456789abcdef");
        let ready = condition(&status, "Ready").unwrap();
        assert_eq!(ready.reason, "Succeeded");
        assert_eq!(ready.message, format!("stored artifact for digest 'latest@{digest}'"));
        assert_eq!(condition(&status, "ArtifactInStorage").unwrap().message, ready.message);
        assert_eq!(status.observed_generation, 1);
        assert_eq!(status.url.as_deref(), Some(format!("http://{}/ocirepository/{ns}/podinfo/latest.tar.gz", source.storage_addr).as_str()));

        let bytes = fetch_verified(&source, &status);
        assert_eq!(tar_names(&bytes), [".", "configmap.yaml"]);

        let events = events_for::<OCIRepository>(&client, &ns, "podinfo").await.unwrap();
        let new_artifact = events.iter().find(|e| e.reason.as_deref() == Some("NewArtifact")).expect("a NewArtifact event");
        assert_eq!(
            new_artifact.message.as_deref().unwrap(),
            format!("stored artifact with revision 'latest@{digest}' from '{url}', origin source 'https://github.com/example/app', origin revision 'main@sha1:0123456789abcdef'")
        );

        // A new revision under the same tag is picked up on request, and the old file is
        // garbage-collected.
        let tree = app_tree("v2");
        let digest2 = push_artifact(&format!("{url}:latest"), tree.path(), &[]);
        let token = request_reconcile(&api, "podinfo").await;
        let status = status_where(&api, "podinfo", "the new revision", ready_at(&format!("latest@{digest2}"))).await;
        assert_eq!(status.last_handled_reconcile_at.as_deref(), Some(token.as_str()));
        fetch_verified(&source, &status);
        assert!(!source.object_dir(&ns, "podinfo").join(format!("{digest}.tar.gz")).exists(), "old artifact collected");
        let metrics = source.process.metrics();
        assert!(metrics.contains(&format!("gotk_reconcile_duration_seconds_count{{kind=\"OCIRepository\",name=\"podinfo\",namespace=\"{ns}\"}}")), "{metrics}");
    })
    .await;
}

#[tokio::test]
async fn semver_picks_the_highest_match_and_rolls_forward() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/versions");
        let tree = app_tree("x");
        for tag in ["1.0.0", "1.1.0", "2.0.0-rc.1", "0.9.0"] {
            push_artifact(&format!("{url}:{tag}"), tree.path(), &["-a", &format!("v={tag}")]);
        }
        let api = apply_repo(&client, &ns, "app", json!({"url": url, "interval": "10m", "ref": {"semver": ">=1.0.0"}})).await;
        status_where(&api, "app", "1.1.0", ready_at("1.1.0@")).await;

        push_artifact(&format!("{url}:1.2.0"), tree.path(), &["-a", "v=1.2.0"]);
        request_reconcile(&api, "app").await;
        status_where(&api, "app", "1.2.0", ready_at("1.2.0@")).await;

        // semverFilter narrows the candidates first.
        apply_repo(&client, &ns, "app", json!({"url": url, "interval": "10m", "ref": {"semver": ">=1.0.0-0", "semverFilter": ".*-rc.*"}})).await;
        status_where(&api, "app", "the release candidate", ready_at("2.0.0-rc.1@")).await;
    })
    .await;
}

#[tokio::test]
async fn digest_reference_and_layer_copy() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/pinned");
        let tree = app_tree("pinned");
        let digest = push_artifact(&format!("{url}:v1"), tree.path(), &[]);
        let api = apply_repo(&client, &ns, "pinned", json!({"url": url, "interval": "10m", "ref": {"digest": digest}})).await;
        let status = status_where(&api, "pinned", "Ready", ready_at("sha256:")).await;
        assert_eq!(status.artifact.unwrap().revision, digest, "a digest reference gives a bare digest revision");

        let copy = apply_repo(&client, &ns, "copied", json!({
            "url": url, "interval": "10m", "ref": {"tag": "v1"},
            "layerSelector": {"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "operation": "copy"}
        }))
        .await;
        let status = status_where(&copy, "copied", "Ready", ready_at("v1@")).await;
        let bytes = fetch_verified(&source, &status);
        let manifest = e2e::bin::flux_rs(&["list", "artifacts", &url]);
        assert!(manifest.status.success());
        // Copy stores the layer blob unchanged: its digest is the layer's.
        let layer_digest = sha256(&bytes);
        assert_eq!(status.artifact.unwrap().digest.unwrap(), layer_digest);
        let blob = std::fs::read(registry.blob_path(&layer_digest)).unwrap();
        assert_eq!(blob, bytes);

        let missing = apply_repo(&client, &ns, "missing-layer", json!({
            "url": url, "interval": "10m", "ref": {"tag": "v1"},
            "layerSelector": {"mediaType": "application/vnd.example.none"}
        }))
        .await;
        let status = status_where(&missing, "missing-layer", "FetchFailed", |s| is(s, "FetchFailed", ConditionStatus::True)).await;
        let failed = condition(&status, "FetchFailed").unwrap();
        assert_eq!(failed.reason, "OCIArtifactLayerOperationFailed");
        assert!(failed.message.contains("failed to find layer with media type 'application/vnd.example.none'"), "{}", failed.message);
    })
    .await;
}

fn docker_config_secret(name: &str, registry: &str, user: &str, password: &str) -> Value {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config =
        json!({"auths": {registry: {"username": user, "password": password, "auth": auth}}});
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config.to_string()}
    })
}

async fn apply_secret(client: &Client, ns: &str, secret: Value) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let name = secret["metadata"]["name"].as_str().unwrap().to_owned();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn registry_credentials_from_a_secret_fail_clearly_and_recover() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start_with_auth("flux", "s3cret");
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("private/app");
        let tree = app_tree("private");
        let out = e2e::bin::flux_rs(&[
            "push",
            "artifact",
            &format!("{url}:latest"),
            "--path",
            tree.path().to_str().unwrap(),
            "--source",
            "s",
            "--revision",
            "r",
            "--creds",
            "flux:s3cret",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // The Secret does not exist yet.
        let api = apply_repo(
            &client,
            &ns,
            "private",
            json!({"url": url, "interval": "10m", "secretRef": {"name": "regcred"}}),
        )
        .await;
        let status = status_where(&api, "private", "FetchFailed", |s| {
            is(s, "FetchFailed", ConditionStatus::True)
        })
        .await;
        let failed = condition(&status, "FetchFailed").unwrap();
        assert_eq!(failed.reason, "AuthenticationFailed");
        assert!(
            failed.message.contains("auth secret 'regcred' not found"),
            "{}",
            failed.message
        );
        assert!(is(&status, "Ready", ConditionStatus::False));

        // Wrong password: the registry refuses.
        apply_secret(
            &client,
            &ns,
            docker_config_secret("regcred", &registry.addr, "flux", "wrong"),
        )
        .await;
        request_reconcile(&api, "private").await;
        let status = status_where(&api, "private", "a 401", |s| {
            condition(s, "FetchFailed")
                .is_some_and(|c| c.reason == "AuthenticationFailed" && c.message.contains("401"))
        })
        .await;
        assert!(status.artifact.is_none());

        // Fixed: Ready, and the failure conditions are gone.
        apply_secret(
            &client,
            &ns,
            docker_config_secret("regcred", &registry.addr, "flux", "s3cret"),
        )
        .await;
        request_reconcile(&api, "private").await;
        let status = status_where(&api, "private", "Ready", ready_at("latest@")).await;
        assert!(condition(&status, "FetchFailed").is_none());
    })
    .await;
}

#[tokio::test]
async fn registry_outage_then_recovery_with_events() {
    with_temp_ns(|client, ns| async move {
        let mut registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/flaky");
        let tree = app_tree("flaky");
        push_artifact(&format!("{url}:latest"), tree.path(), &[]);
        let api = apply_repo(
            &client,
            &ns,
            "flaky",
            json!({"url": url, "interval": "10m", "timeout": "5s"}),
        )
        .await;
        status_where(&api, "flaky", "Ready", ready_at("latest@")).await;

        registry.stop();
        request_reconcile(&api, "flaky").await;
        let status = status_where(&api, "flaky", "FetchFailed", |s| {
            is(s, "FetchFailed", ConditionStatus::True)
        })
        .await;
        assert!(is(&status, "Ready", ConditionStatus::False));
        assert!(
            is(&status, "ArtifactInStorage", ConditionStatus::True),
            "the last artifact is still served"
        );
        assert_eq!(
            condition(&status, "Ready").unwrap().reason,
            "OCIArtifactPullFailed"
        );

        // Retried with backoff, without any request: recovers once the registry is back.
        registry.restart();
        let status = status_where(&api, "flaky", "recovery", |s| {
            is(s, "Ready", ConditionStatus::True)
        })
        .await;
        assert!(condition(&status, "FetchFailed").is_none());
        let events = events_for::<OCIRepository>(&client, &ns, "flaky")
            .await
            .unwrap();
        let reasons: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
        assert!(reasons.contains(&"OCIArtifactPullFailed"), "{reasons:?}");
        assert!(
            reasons.contains(&"Succeeded"),
            "recovery event: {reasons:?}"
        );
        let warning = events
            .iter()
            .find(|e| e.reason.as_deref() == Some("OCIArtifactPullFailed"))
            .unwrap();
        assert_eq!(warning.type_.as_deref(), Some("Warning"));
    })
    .await;
}

#[tokio::test]
async fn suspend_resume_and_deletion() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/paused");
        let tree = app_tree("one");
        push_artifact(&format!("{url}:latest"), tree.path(), &[]);
        let api = apply_repo(
            &client,
            &ns,
            "paused",
            json!({"url": url, "interval": "10m"}),
        )
        .await;
        let first = status_where(&api, "paused", "Ready", ready_at("latest@")).await;

        apply_repo(
            &client,
            &ns,
            "paused",
            json!({"url": url, "interval": "10m", "suspend": true}),
        )
        .await;
        let tree = app_tree("two");
        let second_digest = push_artifact(&format!("{url}:latest"), tree.path(), &[]);
        request_reconcile(&api, "paused").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let status = api.get("paused").await.unwrap().status.unwrap();
        assert_eq!(
            status.artifact, first.artifact,
            "a suspended object is left alone"
        );

        apply_repo(
            &client,
            &ns,
            "paused",
            json!({"url": url, "interval": "10m", "suspend": false}),
        )
        .await;
        status_where(
            &api,
            "paused",
            "the resumed revision",
            ready_at(&format!("latest@{second_digest}")),
        )
        .await;

        let dir = source.object_dir(&ns, "paused");
        assert!(dir.exists());
        api.delete("paused", &DeleteParams::default())
            .await
            .unwrap();
        let gone = || async { Ok(api.get_opt("paused").await?.is_none()) };
        wait_for("deletion", WAIT, gone, |gone| *gone)
            .await
            .unwrap();
        assert!(!dir.exists(), "deleting the object removes its storage");
    })
    .await;
}

#[tokio::test]
async fn unsafe_layer_entries_are_left_out_of_the_stored_artifact() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let source = SourceController::start(&ns, None);
        let layer = gnu_tar_gz(&[
            ("app/", tar::EntryType::Directory, b""),
            ("app/cm.yaml", tar::EntryType::Regular, b"kind: ConfigMap\n"),
            ("../escape.yaml", tar::EntryType::Regular, b"kind: Secret\n"),
            (
                "/etc/absolute.yaml",
                tar::EntryType::Regular,
                b"kind: Secret\n",
            ),
            ("app/link.yaml", tar::EntryType::Symlink, b""),
        ]);
        registry.upload_flux_artifact("evil/app", "latest", &layer);
        let api = apply_repo(
            &client,
            &ns,
            "evil",
            json!({"url": registry.oci_url("evil/app"), "interval": "10m"}),
        )
        .await;
        let status = status_where(&api, "evil", "Ready", ready_at("latest@")).await;
        let names = tar_names(&fetch_verified(&source, &status));
        assert_eq!(names, [".", "app", "app/cm.yaml"]);
        assert!(!source.storage_dir.path().join("escape.yaml").exists());
    })
    .await;
}

#[tokio::test]
async fn invalid_specs_stall_with_a_clear_reason() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/x");
        let api = apply_repo(
            &client,
            &ns,
            "tagged",
            json!({"url": format!("{url}:v1"), "interval": "10m"}),
        )
        .await;
        let status = status_where(&api, "tagged", "Stalled", |s| {
            is(s, "Stalled", ConditionStatus::True)
        })
        .await;
        let stalled = condition(&status, "Stalled").unwrap();
        assert_eq!(stalled.reason, "URLInvalid");
        assert_eq!(stalled.message, "URL must not contain a tag; remove ':v1'");
        assert_eq!(condition(&status, "Ready").unwrap().reason, "URLInvalid");

        let api = apply_repo(
            &client,
            &ns,
            "aws",
            json!({"url": url, "interval": "10m", "provider": "aws"}),
        )
        .await;
        let status = status_where(&api, "aws", "Stalled", |s| {
            is(s, "Stalled", ConditionStatus::True)
        })
        .await;
        assert!(
            condition(&status, "Stalled")
                .unwrap()
                .message
                .contains("provider 'aws' is not supported")
        );

        // Verification that cannot be done fails closed: nothing is pulled or stored.
        let tree = app_tree("signed");
        push_artifact(&format!("{url}:latest"), tree.path(), &[]);
        let api = apply_repo(
            &client,
            &ns,
            "notation",
            json!({"url": url, "interval": "10m", "verify": {"provider": "notation"}}),
        )
        .await;
        let status = status_where(&api, "notation", "SourceVerified False", |s| {
            is(s, "SourceVerified", ConditionStatus::False)
        })
        .await;
        assert!(status.artifact.is_none());
        let verified = condition(&status, "SourceVerified").unwrap();
        assert_eq!(verified.reason, "VerificationError");
        assert!(
            verified
                .message
                .starts_with("failed to verify the signature using provider 'notation'"),
            "{}",
            verified.message
        );
    })
    .await;
}

#[tokio::test]
async fn cosign_signatures_are_verified_before_anything_is_stored() {
    use e2e::cosign::{Signer, attach_signature};
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let repo = "signed/app";
        let url = registry.oci_url(repo);
        let signer = Signer::generate();
        let stranger = Signer::generate();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cosign-pub"},
            "stringData": {"cosign.pub": signer.public_pem()}
        });
        apply_secret(&client, &ns, secret).await;
        let verify = json!({"provider": "cosign", "secretRef": {"name": "cosign-pub"}});
        let failed_verification = |s: &OCIRepositoryStatus| is(s, "SourceVerified", ConditionStatus::False);

        // No signature at all: nothing is stored.
        let d1 = push_artifact(&format!("{url}:latest"), app_tree("one").path(), &[]);
        let api = apply_repo(&client, &ns, "signed", json!({"url": url, "interval": "10m", "verify": verify})).await;
        let status = status_where(&api, "signed", "SourceVerified False", failed_verification).await;
        let verified = condition(&status, "SourceVerified").unwrap();
        assert_eq!(verified.reason, "VerificationError");
        assert!(verified.message.starts_with("failed to verify the signature using provider 'cosign': no matching signatures were found"), "{}", verified.message);
        assert!(status.artifact.is_none());
        assert!(is(&status, "Ready", ConditionStatus::False));

        // A good signature.
        let payload = Signer::payload(&registry, repo, &d1);
        attach_signature(&registry, repo, &d1, &payload, &signer.sign(&payload));
        request_reconcile(&api, "signed").await;
        let status = status_where(&api, "signed", "Ready", ready_at(&format!("latest@{d1}"))).await;
        assert_eq!(condition(&status, "SourceVerified").unwrap().message, format!("verified signature of revision latest@{d1}"));

        // Signed with a key the Secret does not hold.
        let d2 = push_artifact(&format!("{url}:latest"), app_tree("two").path(), &[]);
        let payload = Signer::payload(&registry, repo, &d2);
        attach_signature(&registry, repo, &d2, &payload, &stranger.sign(&payload));
        request_reconcile(&api, "signed").await;
        let status = status_where(&api, "signed", "wrong key refused", failed_verification).await;
        assert_eq!(status.artifact.as_ref().unwrap().revision, format!("latest@{d1}"), "the verified artifact stays");

        // A valid signature of another digest, placed at this digest's tag.
        let d3 = push_artifact(&format!("{url}:latest"), app_tree("three").path(), &[]);
        let other = Signer::payload(&registry, repo, &d1);
        attach_signature(&registry, repo, &d3, &other, &signer.sign(&other));
        request_reconcile(&api, "signed").await;
        let status = status_where(&api, "signed", "other digest refused", |s| {
            failed_verification(s) && condition(s, "ArtifactOutdated").is_none()
        })
        .await;
        assert_eq!(status.artifact.as_ref().unwrap().revision, format!("latest@{d1}"));

        // A payload changed after signing.
        let d4 = push_artifact(&format!("{url}:latest"), app_tree("four").path(), &[]);
        let payload = Signer::payload(&registry, repo, &d4);
        let signature = signer.sign(&payload);
        let mut tampered = payload.clone();
        tampered.push(b' ');
        attach_signature(&registry, repo, &d4, &tampered, &signature);
        let token = request_reconcile(&api, "signed").await;
        let status = status_where(&api, "signed", "tampered payload refused", |s| {
            failed_verification(s) && s.last_handled_reconcile_at.as_deref() == Some(token.as_str())
        })
        .await;
        assert_eq!(status.artifact.as_ref().unwrap().revision, format!("latest@{d1}"));

        // Signed properly at last: stored.
        attach_signature(&registry, repo, &d4, &payload, &signature);
        request_reconcile(&api, "signed").await;
        status_where(&api, "signed", "Ready at the fourth revision", ready_at(&format!("latest@{d4}"))).await;
    })
    .await;
}

#[tokio::test]
async fn keyless_signatures_must_chain_to_the_trusted_root_and_name_an_allowed_identity() {
    use e2e::cosign::{KeylessAuthority, Signer, attach_keyless_signature};
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let repo = "keyless/app";
        let url = registry.oci_url(repo);
        let authority = KeylessAuthority::generate();
        let impostor = KeylessAuthority::generate();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sigstore-root"},
            "stringData": {"trusted_root.json": authority.trusted_root_json()}
        });
        apply_secret(&client, &ns, secret).await;
        let issuer = "https://token.actions.githubusercontent.com";
        let subject = "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1.0.0";
        let verify = json!({
            "provider": "cosign",
            "trustedRootSecretRef": {"name": "sigstore-root"},
            "matchOIDCIdentity": [
                {"issuer": "^https://accounts\\.example\\.com$", "subject": ".*"},
                {"issuer": "^https://token\\.actions\\.githubusercontent\\.com$",
                 "subject": "^https://github\\.com/example/app/\\.github/workflows/release\\.yml@refs/tags/v.*$"}
            ]
        });
        let failed_verification = |s: &OCIRepositoryStatus| is(s, "SourceVerified", ConditionStatus::False);
        let keyless_failure = "failed to verify the signature using provider 'cosign keyless': ";

        // Signed by an allowed identity, certified by the trusted authority, logged: stored.
        let d1 = push_artifact(&format!("{url}:latest"), app_tree("one").path(), &[]);
        let payload = Signer::payload(&registry, repo, &d1);
        attach_keyless_signature(&registry, repo, &d1, &authority.sign(&payload, &payload, issuer, subject));
        let api = apply_repo(&client, &ns, "keyless", json!({"url": url, "interval": "10m", "verify": verify})).await;
        let status = status_where(&api, "keyless", "Ready", ready_at(&format!("latest@{d1}"))).await;
        assert_eq!(condition(&status, "SourceVerified").unwrap().message, format!("verified signature of revision latest@{d1}"));

        // The same authority, another identity.
        let d2 = push_artifact(&format!("{url}:latest"), app_tree("two").path(), &[]);
        let payload = Signer::payload(&registry, repo, &d2);
        let fork = "https://github.com/attacker/fork/.github/workflows/release.yml@refs/heads/main";
        attach_keyless_signature(&registry, repo, &d2, &authority.sign(&payload, &payload, issuer, fork));
        request_reconcile(&api, "keyless").await;
        let status = status_where(&api, "keyless", "another identity refused", failed_verification).await;
        let message = &condition(&status, "SourceVerified").unwrap().message;
        assert!(message.starts_with(&format!("{keyless_failure}none of the expected identities matched")), "{message}");
        assert!(message.contains(fork), "{message}");
        assert_eq!(status.artifact.as_ref().unwrap().revision, format!("latest@{d1}"), "the verified artifact stays");

        // A certificate from an authority the trusted root does not name.
        let d3 = push_artifact(&format!("{url}:latest"), app_tree("three").path(), &[]);
        let payload = Signer::payload(&registry, repo, &d3);
        attach_keyless_signature(&registry, repo, &d3, &impostor.sign(&payload, &payload, issuer, subject));
        let token = request_reconcile(&api, "keyless").await;
        let status = status_where(&api, "keyless", "untrusted authority refused", |s| {
            failed_verification(s) && s.last_handled_reconcile_at.as_deref() == Some(token.as_str())
        })
        .await;
        let message = &condition(&status, "SourceVerified").unwrap().message;
        assert!(message.starts_with(&format!("{keyless_failure}no matching signatures were found")), "{message}");
        assert_eq!(status.artifact.as_ref().unwrap().revision, format!("latest@{d1}"));

        // A genuine log entry, but for another payload than the one signed.
        let d4 = push_artifact(&format!("{url}:latest"), app_tree("four").path(), &[]);
        let payload = Signer::payload(&registry, repo, &d4);
        let other = Signer::payload(&registry, repo, &d1);
        attach_keyless_signature(&registry, repo, &d4, &authority.sign(&payload, &other, issuer, subject));
        let token = request_reconcile(&api, "keyless").await;
        let status = status_where(&api, "keyless", "mismatched log entry refused", |s| {
            failed_verification(s) && s.last_handled_reconcile_at.as_deref() == Some(token.as_str())
        })
        .await;
        let message = &condition(&status, "SourceVerified").unwrap().message;
        assert!(message.starts_with(&format!("{keyless_failure}no matching signatures were found")), "{message}");
        assert_eq!(status.artifact.as_ref().unwrap().revision, format!("latest@{d1}"));

        // Signed and logged properly at last: stored.
        attach_keyless_signature(&registry, repo, &d4, &authority.sign(&payload, &payload, issuer, subject));
        request_reconcile(&api, "keyless").await;
        status_where(&api, "keyless", "Ready at the fourth revision", ready_at(&format!("latest@{d4}"))).await;
    })
    .await;
}

/// The keyless YAML users write (no `secretRef`, no `trustedRootSecretRef`), with Sigstore's
/// trusted root from a real TUF repository (python-tuf) instead of the public-good one.
#[tokio::test]
async fn keyless_without_a_trusted_root_secret_follows_the_tuf_repository() {
    use e2e::cosign::{KeylessAuthority, Signer, attach_keyless_signature};
    use e2e::tuf::{Timestamp, TufRepository};
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let authority = KeylessAuthority::generate();
        let tuf = TufRepository::create(&authority.trusted_root_json());
        let mirror = format!("--tuf-mirror={}", tuf.mirror());
        let root = format!("--tuf-root={}", tuf.initial_root().display());
        let mut source = SourceController::start_with(&ns, None, &[&mirror, &root]);
        let repo = "manifests/podinfo";
        let url = registry.oci_url(repo);
        let issuer = "https://token.actions.githubusercontent.com";
        let subject = "https://github.com/stefanprodan/podinfo/.github/workflows/release.yml@refs/tags/6.7.0";
        let sign = |authority: &KeylessAuthority, digest: &str, subject: &str| {
            let payload = Signer::payload(&registry, repo, digest);
            attach_keyless_signature(&registry, repo, digest, &authority.sign(&payload, &payload, issuer, subject));
        };
        let user_yaml = format!(
            "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: {{name: podinfo, namespace: {ns}}}\nspec:\n  interval: 5m\n  url: {url}\n  ref: {{semver: \"*\"}}\n  verify:\n    provider: cosign\n"
        );
        let object: Value = serde_saphyr::from_str(&user_yaml).unwrap();
        let api: Api<OCIRepository> = Api::namespaced(client.clone(), &ns);
        let keyless_failure = "failed to verify the signature using provider 'cosign keyless': ";
        let verification_failed = |token: String| {
            move |s: &OCIRepositoryStatus| {
                is(s, "SourceVerified", ConditionStatus::False) && s.last_handled_reconcile_at.as_deref() == Some(token.as_str())
            }
        };

        // The YAML as users write it: verified against the root TUF gave, stored.
        let d1 = push_artifact(&format!("{url}:6.7.0"), app_tree("one").path(), &[]);
        sign(&authority, &d1, subject);
        e2e::cluster::apply(&client, &ns, object.clone()).await;
        let status = status_where(&api, "podinfo", "Ready", ready_at(&format!("6.7.0@{d1}"))).await;
        assert_eq!(condition(&status, "SourceVerified").unwrap().message, format!("verified signature of revision 6.7.0@{d1}"));
        fetch_verified(&source, &status);

        // matchOIDCIdentity still decides whose signatures count.
        let mut pinned = object.clone();
        pinned["spec"]["verify"]["matchOIDCIdentity"] = json!([{
            "issuer": "^https://token\\.actions\\.githubusercontent\\.com$",
            "subject": "^https://github\\.com/stefanprodan/podinfo/.*$"
        }]);
        let d2 = push_artifact(&format!("{url}:6.7.1"), app_tree("two").path(), &[]);
        let fork = "https://github.com/attacker/podinfo/.github/workflows/release.yml@refs/heads/main";
        sign(&authority, &d2, fork);
        e2e::cluster::apply(&client, &ns, pinned).await;
        let status = status_where(&api, "podinfo", "another identity refused", |s| is(s, "SourceVerified", ConditionStatus::False)).await;
        let message = &condition(&status, "SourceVerified").unwrap().message;
        assert!(message.starts_with(&format!("{keyless_failure}none of the expected identities matched")), "{message}");
        assert_eq!(status.artifact.as_ref().unwrap().revision, format!("6.7.0@{d1}"), "the verified artifact stays");
        sign(&authority, &d2, subject);
        request_reconcile(&api, "podinfo").await;
        status_where(&api, "podinfo", "Ready at 6.7.1", ready_at(&format!("6.7.1@{d2}"))).await;

        // The repository rotates its root (version 2, new root and timestamp keys, signed by
        // version 1's keys too) and publishes a trusted root naming another authority.
        let successor = KeylessAuthority::generate();
        tuf.rotate_root();
        tuf.publish(&successor.trusted_root_json());
        let d3 = push_artifact(&format!("{url}:6.7.2"), app_tree("three").path(), &[]);
        sign(&successor, &d3, subject);
        request_reconcile(&api, "podinfo").await;
        let status = status_where(&api, "podinfo", "Ready at 6.7.2 through the rotated root", ready_at(&format!("6.7.2@{d3}"))).await;
        let stored = status.artifact.clone().unwrap();
        // What TUF verified is kept on disk: a restarted controller still knows the rotated
        // root and the timestamp version it saw (the rollback below is refused after it).
        source.process.restart();
        source.wait_serving(WAIT).unwrap();
        // The restarted controller's own first reconcile is over before the next revision
        // is pushed (else it could verify that revision before the bad timestamps below).
        let token = request_reconcile(&api, "podinfo").await;
        status_where(&api, "podinfo", "reconciled after the restart", |s| {
            ready_at(&format!("6.7.2@{d3}"))(s) && s.last_handled_reconcile_at.as_deref() == Some(token.as_str())
        })
        .await;
        let stored_files = || {
            let mut files: Vec<_> = std::fs::read_dir(source.object_dir(&ns, "podinfo")).unwrap().map(|e| e.unwrap().file_name()).collect();
            files.sort();
            files
        };
        let files_before = stored_files();
        let pulls_before = blob_pulls(&registry, repo);

        // A new revision, while the mirror serves a bad timestamp: refused each time, with the
        // TUF step named, nothing pulled or stored, the verified artifact kept.
        let d4 = push_artifact(&format!("{url}:6.7.3"), app_tree("four").path(), &[]);
        sign(&successor, &d4, subject);
        let tuf_failure = format!("{keyless_failure}updating the TUF metadata from {}/: ", tuf.mirror());
        for (timestamp, cause) in [
            (Timestamp::BadSignature, "Failed to verify timestamp metadata"),
            (Timestamp::Expired, "timestamp metadata is expired"),
            (Timestamp::Rollback, "of timestamp metadata when we had previously fetched version"),
        ] {
            tuf.timestamp(timestamp);
            let token = request_reconcile(&api, "podinfo").await;
            let status = status_where(&api, "podinfo", &format!("{timestamp:?} timestamp refused"), verification_failed(token)).await;
            let verified = condition(&status, "SourceVerified").unwrap();
            assert_eq!(verified.reason, "VerificationError");
            assert!(verified.message.starts_with(&tuf_failure) && verified.message.contains(cause), "{timestamp:?}: {}", verified.message);
            let ready = condition(&status, "Ready").unwrap();
            assert_eq!((ready.status, ready.reason.as_str()), (ConditionStatus::False, "VerificationError"));
            assert_eq!(status.artifact.as_ref(), Some(&stored), "{timestamp:?}: the verified artifact stays");
            assert_eq!(stored_files(), files_before, "{timestamp:?}: nothing stored");
        }
        assert_eq!(blob_pulls(&registry, repo), pulls_before, "nothing pulled while TUF fails");

        // A good timestamp again: the new revision is verified and stored.
        tuf.timestamp(Timestamp::Good);
        request_reconcile(&api, "podinfo").await;
        status_where(&api, "podinfo", "Ready at 6.7.3", ready_at(&format!("6.7.3@{d4}"))).await;
    })
    .await;
}

#[tokio::test]
async fn a_tls_registry_is_trusted_through_cert_secret_ref() {
    use e2e::tls::TestCa;
    with_temp_ns(|client, ns| async move {
        let ca = TestCa::generate("registry ca");
        let other = TestCa::generate("other ca");
        let registry = Registry::start_tls(&ca);
        let _source = SourceController::start(&ns, None);
        let layer = gnu_tar_gz(&[("app.yaml", tar::EntryType::Regular, b"kind: ConfigMap\n")]);
        registry.upload_flux_artifact("tls/app", "latest", &layer);
        let url = registry.oci_url("tls/app");
        for (name, data) in [
            ("registry-ca", json!({"ca.crt": ca.cert_pem()})),
            ("other-ca", json!({"ca.crt": other.cert_pem()})),
        ] {
            let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data});
            apply_secret(&client, &ns, secret).await;
        }
        let fetch_failed = |s: &OCIRepositoryStatus| is(s, "FetchFailed", ConditionStatus::True);

        // A CA that did not issue the registry's certificate: refused by TLS, nothing stored.
        let api = apply_repo(&client, &ns, "untrusted", json!({"url": url, "interval": "10m", "certSecretRef": {"name": "other-ca"}})).await;
        let status = status_where(&api, "untrusted", "FetchFailed", fetch_failed).await;
        let message = &condition(&status, "FetchFailed").unwrap().message;
        assert!(message.to_lowercase().contains("certificate"), "{message}");
        assert!(status.artifact.is_none());

        // The registry's CA: pulled over HTTPS and stored.
        apply_repo(&client, &ns, "trusted", json!({"url": url, "interval": "10m", "certSecretRef": {"name": "registry-ca"}})).await;
        status_where(&api, "trusted", "Ready", ready_at("latest@sha256:")).await;

    })
    .await;
}

#[tokio::test]
async fn a_registry_requiring_client_certificates_gets_the_one_of_cert_secret_ref() {
    use e2e::cosign::{Signer, attach_signature};
    use e2e::tls::TestCa;
    with_temp_ns(|client, ns| async move {
        let ca = TestCa::generate("registry ca");
        let registry = Registry::start_mutual_tls(&ca);
        let _source = SourceController::start(&ns, None);
        let repo = "mtls/app";
        let layer = gnu_tar_gz(&[("app.yaml", tar::EntryType::Regular, b"kind: ConfigMap\n")]);
        registry.upload_flux_artifact(repo, "latest", &layer);
        let url = registry.oci_url(repo);
        let certificate = ca.client("source-controller");
        let signer = Signer::generate();
        for (name, data) in [
            ("registry-ca", json!({"ca.crt": ca.cert_pem()})),
            ("client-cert", json!({"ca.crt": ca.cert_pem(), "tls.crt": certificate.cert_pem, "tls.key": certificate.key_pem})),
            ("cosign-pub", json!({"cosign.pub": signer.public_pem()})),
        ] {
            let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data});
            apply_secret(&client, &ns, secret).await;
        }

        // Trusting the registry is not enough: it wants a certificate.
        let api = apply_repo(&client, &ns, "anonymous", json!({"url": url, "interval": "10m", "certSecretRef": {"name": "registry-ca"}})).await;
        let status = status_where(&api, "anonymous", "FetchFailed", |s| is(s, "FetchFailed", ConditionStatus::True)).await;
        let message = &condition(&status, "FetchFailed").unwrap().message;
        assert!(message.to_lowercase().contains("certificate"), "{message}");
        assert!(status.artifact.is_none());

        // With the client certificate: pulled, and its signature (read from the same registry)
        // verified.
        let digest = registry.manifest_digest(repo, "latest");
        let payload = Signer::payload(&registry, repo, &digest);
        attach_signature(&registry, repo, &digest, &payload, &signer.sign(&payload));
        apply_repo(&client, &ns, "mtls", json!({
            "url": url, "interval": "10m", "certSecretRef": {"name": "client-cert"},
            "verify": {"provider": "cosign", "secretRef": {"name": "cosign-pub"}}
        }))
        .await;
        let status = status_where(&api, "mtls", "Ready", ready_at(&format!("latest@{digest}"))).await;
        assert!(is(&status, "SourceVerified", ConditionStatus::True));
    })
    .await;
}

#[tokio::test]
async fn a_registry_is_reached_through_the_proxy_of_proxy_secret_ref() {
    use e2e::proxy::ForwardProxy;
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let proxy = ForwardProxy::start(Some(("flux", "pr0xy"))).await;
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("proxied/app");
        push_artifact(&format!("{url}:latest"), app_tree("one").path(), &[]);
        for (name, password) in [("proxy", "pr0xy"), ("wrong-proxy", "nope")] {
            let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "stringData": {"address": proxy.address, "username": "flux", "password": password}});
            apply_secret(&client, &ns, secret).await;
        }

        // Wrong proxy credentials: the proxy refuses, the object says why.
        let api = apply_repo(&client, &ns, "refused", json!({"url": url, "interval": "10m", "proxySecretRef": {"name": "wrong-proxy"}})).await;
        status_where(&api, "refused", "FetchFailed", |s| is(s, "FetchFailed", ConditionStatus::True)).await;
        assert!(proxy.refused() > 0);
        assert!(proxy.forwarded().is_empty());

        // The right ones: every registry request goes through the proxy.
        apply_repo(&client, &ns, "proxied", json!({"url": url, "interval": "10m", "proxySecretRef": {"name": "proxy"}})).await;
        status_where(&api, "proxied", "Ready", ready_at("latest@sha256:")).await;
        let forwarded = proxy.forwarded();
        assert!(forwarded.iter().any(|u| u.contains("/v2/proxied/app/manifests/")), "{forwarded:?}");
        assert!(forwarded.iter().any(|u| u.contains("/v2/proxied/app/blobs/sha256:")), "{forwarded:?}");
    })
    .await;
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let election = [
            "--enable-leader-election",
            "--leader-election-lease-duration=4s",
            "--leader-election-renew-deadline=3s",
            "--leader-election-retry-period=1s",
        ];
        let mut leader = SourceController::start_with(&ns, None, &election);
        leader.wait_serving(WAIT).unwrap();
        let standby = SourceController::start_with(&ns, None, &election);
        let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
        let lease = leases
            .get("source-controller-leader-election")
            .await
            .unwrap();
        let first_holder = lease.spec.unwrap().holder_identity.unwrap();
        // The standby neither serves artifacts nor reconciles, and says it is not ready, so a
        // Service routes no artifact download to it.
        assert!(
            e2e::process::wait_for_port(&standby.storage_addr, Duration::from_secs(2)).is_err()
        );
        assert!(leader.process.ready(), "the leader serves and is ready");
        assert!(!standby.process.ready(), "a standby is not ready");

        let url = registry.oci_url("apps/ha");
        push_artifact(&format!("{url}:latest"), app_tree("one").path(), &[]);
        let api = apply_repo(&client, &ns, "ha", json!({"url": url, "interval": "10m"})).await;
        let status = status_where(&api, "ha", "Ready", ready_at("latest@")).await;
        assert!(
            status.url.unwrap().contains(&leader.storage_addr),
            "the leader stored it"
        );

        leader.process.kill();
        standby.wait_serving(WAIT).unwrap();
        assert!(
            standby.process.ready(),
            "the new leader serves and is ready"
        );
        let lease = leases
            .get("source-controller-leader-election")
            .await
            .unwrap();
        let spec = lease.spec.unwrap();
        assert_ne!(spec.holder_identity.unwrap(), first_holder);
        assert_eq!(spec.lease_transitions, Some(1));

        let digest = push_artifact(&format!("{url}:latest"), app_tree("two").path(), &[]);
        request_reconcile(&api, "ha").await;
        let status = status_where(
            &api,
            "ha",
            "the standby's reconcile",
            ready_at(&format!("latest@{digest}")),
        )
        .await;
        assert!(
            status.url.unwrap().contains(&standby.storage_addr),
            "the new leader stored it"
        );
    })
    .await;
}

#[tokio::test]
async fn credentials_from_a_service_accounts_image_pull_secrets() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start_with_auth("flux", "s3cret");
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("private/by-sa");
        let tree = app_tree("sa");
        let out = e2e::bin::flux_rs(&["push", "artifact", &format!("{url}:latest"), "--path", tree.path().to_str().unwrap(),
            "--source", "s", "--revision", "r", "--creds", "flux:s3cret"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        apply_secret(&client, &ns, docker_config_secret("pull-secret", &registry.addr, "flux", "s3cret")).await;
        let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &ns);
        let account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "puller"},
            "imagePullSecrets": [{"name": "pull-secret"}]});
        accounts.patch("puller", &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&account)).await.unwrap();

        let api = apply_repo(&client, &ns, "by-sa", json!({"url": url, "interval": "10m", "serviceAccountName": "puller"})).await;
        status_where(&api, "by-sa", "Ready", ready_at("latest@")).await;

        // Without the pull secret the registry refuses.
        let api = apply_repo(&client, &ns, "anonymous", json!({"url": url, "interval": "10m"})).await;
        let status = status_where(&api, "anonymous", "FetchFailed", |s| is(s, "FetchFailed", ConditionStatus::True)).await;
        assert_eq!(condition(&status, "FetchFailed").unwrap().reason, "AuthenticationFailed");
    })
    .await;
}

/// GET requests for blobs of `repository` in the registry's log.
fn blob_pulls(registry: &Registry, repository: &str) -> usize {
    let log = std::fs::read_to_string(registry.log_path()).unwrap_or_default();
    let needle = format!("GET /v2/{repository}/blobs/sha256:");
    log.lines().filter(|l| l.contains(&needle)).count()
}

#[tokio::test]
async fn removed_spec_fields_leave_the_status_and_an_unchanged_artifact_is_not_pulled_again() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/observed");
        push_artifact(&format!("{url}:latest"), app_tree("observed").path(), &[]);
        let selector =
            json!({"mediaType": api::source::OCI_LAYER_MEDIA_TYPE, "operation": "extract"});
        let api = apply_repo(
            &client,
            &ns,
            "observed",
            json!({
                "url": url, "interval": "10m", "ignore": "*.md\n", "layerSelector": selector,
            }),
        )
        .await;
        status_where(&api, "observed", "Ready with the observed fields", |s| {
            ready_at("latest@")(s)
                && s.observed_ignore.is_some()
                && s.observed_layer_selector.is_some()
        })
        .await;

        // The user removes both fields: they leave the status too.
        apply_repo(
            &client,
            &ns,
            "observed",
            json!({"url": url, "interval": "10m"}),
        )
        .await;
        let status = status_where(&api, "observed", "the observed fields removed", |s| {
            s.observed_ignore.is_none()
                && s.observed_layer_selector.is_none()
                && ready_at("latest@")(s)
        })
        .await;
        let generation = api.get("observed").await.unwrap().metadata.generation;
        assert_eq!(Some(status.observed_generation), generation);

        // Nothing changed since: the next reconcile does not pull the artifact again.
        let pulls = blob_pulls(&registry, "apps/observed");
        assert!(pulls > 0, "the registry log records blob pulls");
        let token = request_reconcile(&api, "observed").await;
        status_where(&api, "observed", "the requested reconcile handled", |s| {
            s.last_handled_reconcile_at.as_deref() == Some(token.as_str())
        })
        .await;
        assert_eq!(
            blob_pulls(&registry, "apps/observed"),
            pulls,
            "an unchanged artifact is not pulled again"
        );
    })
    .await;
}

/// A Flux artifact whose layer holds one file of `size` zero bytes (gzip'd by the system's
/// tar, so it is small on the wire and large to extract, hash and re-archive).
fn large_layer(name: &str, size: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("content");
    std::fs::create_dir(&content).unwrap();
    std::fs::File::create(content.join(name))
        .unwrap()
        .set_len(size)
        .unwrap();
    let layer = dir.path().join("layer.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&layer)
        .arg("-C")
        .arg(&content)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success(), "tar");
    std::fs::read(layer).unwrap()
}

#[tokio::test]
async fn large_artifacts_delay_neither_a_small_one_nor_the_probes() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let mut source = SourceController::start_with(&ns, None, &["--concurrent=4"]);
        source.process.wait_for_log("starting the GitRepository, OCIRepository, HelmChart and HelmRepository controllers", WAIT).unwrap();
        // 16 MiB each keeps CI quick (a debug build stores ~2 MiB/s); FLUX_RS_E2E_LARGE_MIB=200 is what docs/reliability.md records.
        let mib: u64 = std::env::var("FLUX_RS_E2E_LARGE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
        let size = mib << 20;
        for i in 0..2 {
            registry.upload_flux_artifact(&format!("apps/large{i}"), "latest", &large_layer(&format!("large{i}.bin"), size));
        }
        let small_url = registry.oci_url("apps/small");
        push_artifact(&format!("{small_url}:latest"), app_tree("small").path(), &[]);

        let api: Api<OCIRepository> = Api::namespaced(client.clone(), &ns);
        for i in 0..2 {
            apply_repo(&client, &ns, &format!("large{i}"), json!({"url": registry.oci_url(&format!("apps/large{i}")), "interval": "10m"})).await;
        }
        // The large layers are small on the wire: after a second both are being extracted.
        tokio::time::sleep(Duration::from_secs(1)).await;
        apply_repo(&client, &ns, "small", json!({"url": small_url, "interval": "10m"})).await;
        let started = std::time::Instant::now();
        let ready = |name: &str| {
            let api = api.clone();
            let name = name.to_owned();
            async move {
                let status = api.get(&name).await.unwrap().status.unwrap_or_default();
                is(&status, "Ready", ConditionStatus::True)
            }
        };
        let (mut small_ready, mut large_ready) = (None, None);
        let mut slowest_probe = Duration::ZERO;
        while large_ready.is_none() && started.elapsed() < Duration::from_secs(240) {
            slowest_probe = slowest_probe.max(source.process.healthz_latency(Duration::from_secs(5)));
            if small_ready.is_none() && ready("small").await {
                small_ready = Some(started.elapsed());
            }
            if ready("large0").await && ready("large1").await {
                large_ready = Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (small_ready, large_ready) = (small_ready.expect("the small artifact stored"), large_ready.expect("the large artifacts stored"));
        eprintln!("small Ready after {small_ready:?}, large ones after {large_ready:?}, slowest /healthz {slowest_probe:?}");
        assert!(small_ready < large_ready, "the small artifact waits for the large ones: {small_ready:?} vs {large_ready:?}");
        assert!(slowest_probe < Duration::from_secs(1), "/healthz took {slowest_probe:?}");
    })
    .await;
}

#[tokio::test]
async fn a_registry_down_for_two_minutes_recovers_within_one_retry() {
    with_temp_ns(|client, ns| async move {
        const COUNT: usize = 10;
        // The harness' source-controller retries with --max-retry-delay=2s.
        const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
        let mut registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/outage");
        push_artifact(&format!("{url}:latest"), app_tree("outage").path(), &[]);
        let mut apis = Vec::new();
        for i in 0..COUNT {
            let name = format!("outage{i}");
            let api = apply_repo(&client, &ns, &name, json!({"url": url, "interval": "10m", "timeout": "5s"})).await;
            apis.push((api, name));
        }
        for (api, name) in &apis {
            status_where(api, name, "Ready", ready_at("latest@")).await;
        }

        registry.stop();
        let down = std::time::Instant::now();
        for (api, name) in &apis {
            request_reconcile(api, name).await;
        }
        for (api, name) in &apis {
            status_where(api, name, "FetchFailed", |s| is(s, "FetchFailed", ConditionStatus::True)).await;
        }
        tokio::time::sleep(Duration::from_secs(120).saturating_sub(down.elapsed())).await;
        registry.restart();
        let back = std::time::Instant::now();
        for (api, name) in &apis {
            let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
            wait_for("recovery", Duration::from_secs(60), fetch, |s| is(s, "Ready", ConditionStatus::True) && condition(s, "FetchFailed").is_none())
                .await
                .unwrap();
        }
        let recovered = back.elapsed();
        eprintln!("reliability: registry down {:.0}s with {COUNT} OCIRepositories; all Ready {:.1}s after it was back (max retry delay {MAX_RETRY_DELAY:?})", back.duration_since(down).as_secs_f64(), recovered.as_secs_f64());
        // One retry: the next backoff delay, plus the pull itself.
        assert!(recovered < MAX_RETRY_DELAY + Duration::from_secs(8), "recovered after {recovered:?}");
    })
    .await;
}

#[tokio::test]
async fn a_layer_whose_bytes_do_not_match_its_digest_is_never_stored() {
    with_temp_ns(|client, ns| async move {
        let registry = Registry::start();
        let source = SourceController::start(&ns, None);
        let layer = gnu_tar_gz(&[("app.yaml", tar::EntryType::Regular, b"kind: ConfigMap\n")]);
        let layer_digest = registry.upload_flux_artifact("apps/corrupt", "latest", &layer);
        // The registry's copy of the layer is changed after upload: its digest no longer holds.
        let mut tampered = layer.clone();
        *tampered.last_mut().unwrap() ^= 0xff;
        std::fs::write(registry.blob_path(&layer_digest), &tampered).unwrap();

        let api = apply_repo(
            &client,
            &ns,
            "corrupt",
            json!({"url": registry.oci_url("apps/corrupt"), "interval": "10m"}),
        )
        .await;
        let status = status_where(&api, "corrupt", "FetchFailed", |s| {
            is(s, "FetchFailed", ConditionStatus::True)
        })
        .await;
        let failed = condition(&status, "FetchFailed").unwrap();
        assert!(
            failed.message.contains("digest mismatch") && failed.message.contains(&layer_digest),
            "{}",
            failed.message
        );
        assert!(status.artifact.is_none(), "nothing stored");
        let stored: Vec<_> = std::fs::read_dir(source.object_dir(&ns, "corrupt"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(stored.is_empty(), "nothing in storage: {stored:?}");
    })
    .await;
}
