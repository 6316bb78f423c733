//! source-controller serving an HTTP Helm repository (charts packaged and indexed by the real
//! `helm`, served by Python's file server) to HelmCharts, and helm-controller releasing from
//! it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use api::helm::v2::{HelmRelease, HelmReleaseStatus};
use api::meta::{Condition, ConditionStatus};
use api::source::v1::{HelmChart, HelmChartStatus, HelmRepository, HelmRepositoryStatus};
use e2e::bin::helm;
use e2e::cluster::{apply, events_for, wait_for, with_temp_ns};
use e2e::controllers::{HelmController, SourceController};
use e2e::process::{Guarded, free_port, wait_for_port};
use e2e::registry::sha256;
use kube::api::Api;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// A directory served on the loopback by `python3 -m http.server`, stopped on drop.
struct FileServer {
    _process: Guarded,
    url: String,
}

impl FileServer {
    fn start(dir: &Path) -> Self {
        let port = free_port().to_string();
        let mut command = Command::new("python3");
        command
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let process = Guarded::spawn("python3 -m http.server", &mut command).unwrap();
        let address = format!("127.0.0.1:{port}");
        wait_for_port(&address, Duration::from_secs(10)).unwrap();
        Self {
            _process: process,
            url: format!("http://{address}"),
        }
    }
}

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/charts/podinfo")
}

/// Packages the test chart at each version into `repository` and indexes it for `url`.
fn publish(home: &Path, repository: &Path, url: &str, versions: &[&str]) {
    let chart = chart_dir();
    for version in versions {
        helm(
            home,
            &[
                "package",
                chart.to_str().unwrap(),
                "--version",
                version,
                "--destination",
                repository.to_str().unwrap(),
            ],
        );
    }
    helm(
        home,
        &["repo", "index", repository.to_str().unwrap(), "--url", url],
    );
}

fn helm_repository(name: &str, url: &str) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": name}, "spec": {"interval": "10m", "url": url}})
}

fn helm_chart(name: &str, chart: &str, version: &str) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "metadata": {"name": name},
        "spec": {"chart": chart, "version": version, "interval": "10m",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}})
}

fn condition(
    conditions: &Option<Vec<Condition>>,
    type_: &str,
) -> Option<(ConditionStatus, String, String)> {
    conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}

fn is_true(conditions: &Option<Vec<Condition>>, type_: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.0 == ConditionStatus::True)
}

async fn repository_status(
    api: &Api<HelmRepository>,
    name: &str,
    what: &str,
    done: impl Fn(&HelmRepositoryStatus) -> bool,
) -> HelmRepositoryStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

async fn chart_status(
    api: &Api<HelmChart>,
    name: &str,
    what: &str,
    done: impl Fn(&HelmChartStatus) -> bool,
) -> HelmChartStatus {
    let fetch = || async { Ok(api.get(name).await?.status.unwrap_or_default()) };
    wait_for(what, WAIT, fetch, done).await.unwrap()
}

#[tokio::test]
async fn http_helm_repositories_serve_their_index_and_charts_to_charts_and_releases() {
    with_temp_ns(|client, ns| async move {
        let home = tempfile::tempdir().unwrap();
        let served = tempfile::tempdir().unwrap();
        let server = FileServer::start(served.path());
        publish(home.path(), served.path(), &server.url, &["6.1.0", "6.2.0"]);
        let index = std::fs::read(served.path().join("index.yaml")).unwrap();
        let source = SourceController::start(&ns, None);
        let repositories: Api<HelmRepository> = Api::namespaced(client.clone(), &ns);
        let charts: Api<HelmChart> = Api::namespaced(client.clone(), &ns);

        // The index is fetched and stored as served, named by its digest.
        apply(&client, &ns, helm_repository("charts", &server.url)).await;
        let status = repository_status(&repositories, "charts", "the index stored", |s| is_true(&s.conditions, "Ready")).await;
        let digest = sha256(&index);
        let hex = digest.trim_start_matches("sha256:");
        let artifact = status.artifact.clone().unwrap();
        assert_eq!(artifact.revision, digest);
        assert_eq!(artifact.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(artifact.size, Some(index.len() as i64));
        assert_eq!(artifact.path, format!("helmrepository/{ns}/charts/index-{hex}.yaml"));
        let stored = std::fs::read(source.storage_dir.path().join("data").join(&artifact.path)).unwrap();
        assert_eq!(stored, index);
        assert_eq!(
            condition(&status.conditions, "Ready").unwrap(),
            (ConditionStatus::True, "Succeeded".into(), format!("stored artifact: revision '{digest}'"))
        );
        assert_eq!(status.observed_generation, Some(1));
        assert!(status.url.unwrap().starts_with(&format!("http://{}/helmrepository/{ns}/charts/", source.storage_addr)));
        let repository = repositories.get("charts").await.unwrap();
        assert_eq!(repository.metadata.finalizers.unwrap(), ["finalizers.fluxcd.io"]);
        let events = events_for::<HelmRepository>(&client, &ns, "charts").await.unwrap();
        let new_artifact = events.iter().find(|e| e.reason.as_deref() == Some("NewArtifact")).expect("a NewArtifact event");
        let message = new_artifact.message.clone().unwrap();
        assert!(message.starts_with("stored fetched index of size ") && message.ends_with(&format!(" from '{}'", server.url)), "{message}");

        // A range picks the newest matching chart, downloaded from the index's URL.
        apply(&client, &ns, helm_chart("podinfo", "podinfo", "6.1.x")).await;
        let status = chart_status(&charts, "podinfo", "the chart pulled", |s| is_true(&s.conditions, "Ready")).await;
        assert_eq!(
            condition(&status.conditions, "Ready").unwrap(),
            (ConditionStatus::True, "ChartPullSucceeded".into(), "pulled 'podinfo' chart with version '6.1.0'".into())
        );
        let artifact = status.artifact.clone().unwrap();
        assert_eq!(artifact.revision, "6.1.0");
        assert_eq!(artifact.path, format!("helmchart/{ns}/podinfo/podinfo-6.1.0.tgz"));
        let package = std::fs::read(served.path().join("podinfo-6.1.0.tgz")).unwrap();
        assert_eq!(artifact.digest, Some(sha256(&package)));
        assert_eq!(status.observed_source_artifact_revision.as_deref(), Some(digest.as_str()));

        // What the index does not have is named, and waits for a spec change.
        apply(&client, &ns, helm_chart("missing-version", "podinfo", "9.x")).await;
        let status = chart_status(&charts, "missing-version", "the missing version", |s| is_true(&s.conditions, "Stalled")).await;
        assert_eq!(
            condition(&status.conditions, "Ready").unwrap(),
            (ConditionStatus::False, "InvalidChartReference".into(),
                "invalid chart reference: failed to get chart version for remote reference: no 'podinfo' chart with version matching '9.x' found".into())
        );
        apply(&client, &ns, helm_chart("missing-chart", "nginx", "*")).await;
        let status = chart_status(&charts, "missing-chart", "the missing chart", |s| is_true(&s.conditions, "Stalled")).await;
        assert_eq!(
            condition(&status.conditions, "Ready").unwrap().2,
            "invalid chart reference: failed to get chart version for remote reference: no chart name found"
        );

        // A repository without an index, and an OCI URL on a default repository.
        apply(&client, &ns, helm_repository("no-index", &format!("{}/missing/", server.url))).await;
        let status = repository_status(&repositories, "no-index", "the failed fetch", |s| is_true(&s.conditions, "FetchFailed")).await;
        assert_eq!(
            condition(&status.conditions, "FetchFailed").unwrap(),
            (ConditionStatus::True, "IndexationFailed".into(),
                format!("failed to fetch Helm repository index: failed to fetch {}/missing/index.yaml : 404 Not Found", server.url))
        );
        apply(&client, &ns, helm_repository("oci", "oci://127.0.0.1:5000/charts")).await;
        let status = repository_status(&repositories, "oci", "the OCI URL refused", |s| is_true(&s.conditions, "Stalled")).await;
        assert_eq!(
            condition(&status.conditions, "Ready").unwrap(),
            (ConditionStatus::False, "URLInvalid".into(),
                "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type".into())
        );

        // helm-controller releases the newest chart from the repository.
        let _helm_controller = HelmController::start(&ns, None, &[]);
        apply(&client, &ns, json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo"},
            "spec": {"interval": "10m", "chart": {"spec": {"chart": "podinfo", "version": "*",
                "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}})).await;
        let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
        let fetch = || async { Ok(releases.get("podinfo").await?.status.unwrap_or_default()) };
        let installed = |s: &HelmReleaseStatus| {
            condition(&s.conditions, "Ready").is_some_and(|c| c.0 == ConditionStatus::True && c.2.contains("Helm install succeeded"))
        };
        let status = wait_for("the release installed", WAIT, fetch, installed).await.unwrap();
        let message = condition(&status.conditions, "Ready").unwrap().2;
        assert_eq!(message, format!("Helm install succeeded for release {ns}/podinfo.v1 with chart podinfo@6.2.0"));

        // Deleting the repository removes what it stored.
        repositories.delete("charts", &Default::default()).await.unwrap();
        wait_for("the repository to go", WAIT, || async { Ok(repositories.get_opt("charts").await?) }, Option::is_none)
            .await
            .unwrap();
        assert!(!source.storage_dir.path().join(format!("data/helmrepository/{ns}/charts")).exists());
    })
    .await;
}
