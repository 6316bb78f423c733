//! Reliability under an API server restart: kube-apiserver of the local control plane is
//! stopped and started again while 50 OCIRepositories and 50 Kustomizations reconcile. It
//! takes the API server away from every test, so scripts/test.sh runs this binary on its own,
//! after the rest of the suite (and only against the local control plane).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use api::kustomize::v1::Kustomization;
use api::meta::ConditionStatus;
use api::source::v1::OCIRepository;
use e2e::bin::push_artifact;
use e2e::cluster::{apply, wait_for, with_temp_ns};
use e2e::controllers::{KustomizeController, SourceController};
use e2e::registry::Registry;
use e2e::webhook::Webhook;
use kube::api::{Api, ListParams};
use serde_json::json;

const COUNT: usize = 50;

fn ready(conditions: Option<&Vec<api::meta::Condition>>) -> bool {
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
}

/// `scripts/cluster.sh restart-apiserver SECONDS`: the API server down that long, then back.
fn restart_api_server(seconds_down: u64) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh");
    let out = std::process::Command::new(script)
        .args(["restart-apiserver", &seconds_down.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restarting kube-apiserver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How many events with this reason, per object name, the endpoint received.
fn per_object(hook: &Webhook, reason: &str, message_contains: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for received in hook.received() {
        let body = &received.body;
        if body["reason"] == reason
            && body["message"]
                .as_str()
                .unwrap_or("")
                .contains(message_contains)
        {
            let name = body["involvedObject"]["name"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            *counts.entry(name).or_insert(0) += 1;
        }
    }
    counts
}

// Multi-threaded, and the restart off the async threads: the event endpoint must keep
// answering while the test waits, or the controllers' retried posts would count twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_loses_nothing_and_applies_nothing_twice() {
    with_temp_ns(|client, ns| async move {
        let hook = Webhook::start(None).await;
        let events = format!("{}/", hook.base);
        let registry = Registry::start();
        let source = SourceController::start(&ns, Some(&events));
        let kustomize = KustomizeController::start(&ns, Some(&events));
        let url = registry.oci_url("apps/restart");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n").unwrap();
        let digest = push_artifact(&format!("{url}:latest"), dir.path(), &[]);

        for i in 0..COUNT {
            apply(&client, &ns, json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                "metadata": {"name": format!("app{i}")}, "spec": {"url": url, "interval": "10m", "ref": {"tag": "latest"}}})).await;
            apply(&client, &ns, json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": format!("app{i}")}, "spec": {"interval": "10m", "prune": true, "targetNamespace": ns,
                "namePrefix": format!("app{i}-"), "sourceRef": {"kind": "OCIRepository", "name": format!("app{i}")}}})).await;
        }
        // While they reconcile, the API server goes away for 5 seconds.
        tokio::task::spawn_blocking(|| restart_api_server(5)).await.unwrap();
        let back = Instant::now();

        let sources: Api<OCIRepository> = Api::namespaced(client.clone(), &ns);
        let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
        let revision = format!("latest@{digest}");
        let all_ready = || async {
            let sources = sources.list(&ListParams::default()).await?;
            let applied = kustomizations.list(&ListParams::default()).await?;
            let sources_ready = sources.items.iter().filter(|s| ready(s.status.as_ref().and_then(|s| s.conditions.as_ref()))).count();
            let applied_ready = applied.items.iter().filter(|k| {
                let status = k.status.clone().unwrap_or_default();
                ready(status.conditions.as_ref()) && status.last_applied_revision.as_deref() == Some(revision.as_str())
            }).count();
            Ok((sources_ready, applied_ready))
        };
        wait_for("every object Ready after the restart", Duration::from_secs(300), all_ready, |(s, k)| *s == COUNT && *k == COUNT)
            .await
            .unwrap();
        let recovered = back.elapsed();

        // Without a controller restart.
        assert!(source.process.ready() && kustomize.process.ready(), "both controllers still serve");
        for (controller, started) in [(&source.process, "starting the GitRepository, OCIRepository, HelmChart and HelmRepository controllers"), (&kustomize.process, "starting the Kustomization controller")] {
            assert_eq!(controller.logs().matches(started).count(), 1, "started once:\n{}", controller.logs());
        }
        // Every artifact announced and every object created exactly once: nothing lost, nothing
        // applied twice.
        let stored = hook.wait_for(COUNT, Duration::from_secs(30), |r| r.body["reason"] == "NewArtifact").await;
        let created = per_object(&hook, "Progressing", "ConfigMap/");
        let new_artifacts = per_object(&hook, "NewArtifact", "stored artifact");
        let repeated: Vec<&String> = new_artifacts.iter().filter(|(_, n)| **n > 1).map(|(name, _)| name).collect();
        let logs = source.process.logs();
        let mut about_repeated: Vec<String> = logs.lines().filter(|l| l.contains("posting an event failed") || repeated.iter().any(|name| l.contains(&format!("\"name\":\"{name}\"")) && l.contains("NewArtifact"))).map(str::to_owned).collect();
        about_repeated.extend(hook.received().iter().filter(|r| r.body["reason"] == "NewArtifact" && repeated.iter().any(|n| r.body["involvedObject"]["name"] == n.as_str())).map(|r| r.body.to_string()));
        assert_eq!(stored.len(), COUNT, "{new_artifacts:?}\n{}", about_repeated.join("\n"));
        assert!(new_artifacts.values().all(|n| *n == 1), "{new_artifacts:?}");
        assert_eq!(created.len(), COUNT, "{created:?}");
        assert!(created.values().all(|n| *n == 1), "each object created once: {created:?}");
        let finished = per_object(&hook, "ReconciliationSucceeded", "Reconciliation finished");
        assert_eq!(finished.len(), COUNT, "{finished:?}");
        eprintln!(
            "reliability: API server down 5s with {COUNT}+{COUNT} objects reconciling; all Ready {:.1}s after it was back; events: {} NewArtifact, {} change sets, {} finished",
            recovered.as_secs_f64(),
            new_artifacts.values().sum::<usize>(),
            created.values().sum::<usize>(),
            finished.values().sum::<usize>()
        );
    })
    .await;
}
