//! notification-controller end to end: source-controller's events reach a Slack stand-in
//! through an Alert, exactly once; severities, bad input and failing endpoints.

use std::time::Duration;

use api::notification::v1beta3::Alert;
use axum::http::StatusCode;
use e2e::bin::push_artifact;
use e2e::cluster::{apply, events_for, wait_for, with_temp_ns};
use e2e::controllers::{NotificationController, SourceController};
use e2e::registry::Registry;
use e2e::webhook::{Received, Webhook};
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn provider(name: &str, type_: &str, address: &str, secret: Option<&str>) -> Value {
    let mut spec = json!({"type": type_, "address": address});
    if let Some(secret) = secret {
        spec["secretRef"] = json!({"name": secret});
    }
    json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider", "metadata": {"name": name}, "spec": spec})
}

fn alert(name: &str, provider: &str, severity: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert", "metadata": {"name": name},
        "spec": {"providerRef": {"name": provider}, "eventSeverity": severity, "eventSources": [{"kind": kind, "name": "*"}]}
    })
}

/// Posts raw bytes to the event endpoint; returns the HTTP status.
fn post(url: &str, body: &[u8]) -> u16 {
    post_with(url, body, &[])
}

/// Posts raw bytes with extra headers; returns the HTTP status.
fn post_with(url: &str, body: &[u8], headers: &[String]) -> u16 {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, body).unwrap();
    let mut command = std::process::Command::new("curl");
    command.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
    ]);
    command.arg(format!("@{}", file.display()));
    for header in headers {
        command.args(["-H", header]);
    }
    let out = command.arg(url).output().unwrap();
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

fn event(ns: &str, name: &str, severity: &str, message: &str) -> Value {
    json!({
        "involvedObject": {"kind": "Kustomization", "namespace": ns, "name": name, "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
        "severity": severity, "timestamp": "2026-11-28T00:00:00Z", "message": message,
        "reason": if severity == "error" { "ReconciliationFailed" } else { "ReconciliationSucceeded" },
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": "latest@sha256:1"},
        "reportingController": "kustomize-controller"
    })
}

async fn warnings_on_alert(client: &Client, ns: &str, name: &str, reason: &str) -> Vec<String> {
    let get = || async { events_for::<Alert>(client, ns, name).await };
    let events = wait_for("a warning on the Alert", WAIT, get, |events| {
        events.iter().any(|e| e.reason.as_deref() == Some(reason))
    })
    .await
    .unwrap();
    events
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.message)
        .collect()
}

#[tokio::test]
async fn a_new_artifact_reaches_slack_exactly_once() {
    with_temp_ns(|client, ns| async move {
        let slack = Webhook::start(None).await;
        let notification = NotificationController::start(&ns);
        let registry = Registry::start();
        let _source = SourceController::start(&ns, Some(&notification.events_url()));
        apply(&client, &ns, provider("slack", "slack", &format!("{}/services/T0/B0/x", slack.base), None)).await;
        apply(&client, &ns, alert("on-artifacts", "slack", "info", "OCIRepository")).await;
        tokio::time::sleep(Duration::from_secs(2)).await; // the controller's watch sees them

        let url = registry.oci_url("apps/notified");
        let digest = push_artifact(&format!("{url}:latest"), e2e_tree().path(), &[]);
        apply(&client, &ns, json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": "podinfo"},
            "spec": {"url": url, "interval": "10m"}
        }))
        .await;

        let is_new_artifact = |r: &Received| r.body["attachments"][0]["text"].as_str().is_some_and(|t| t.starts_with("stored artifact"));
        let messages = slack.wait_for(1, WAIT, is_new_artifact).await;
        assert_eq!(messages.len(), 1, "one Slack message: {:?}", slack.received());
        let attachment = &messages[0].body["attachments"][0];
        assert_eq!(attachment["author_name"], format!("OCIRepository/podinfo.{ns}"));
        assert_eq!(attachment["color"], "good");
        assert!(attachment["text"].as_str().unwrap().contains(&format!("latest@{digest}")));
        let fields = attachment["fields"].as_array().unwrap();
        assert!(fields.iter().any(|f| f["title"] == "revision" && f["value"] == format!("latest@{digest}")), "{fields:?}");
        assert!(!fields.iter().any(|f| f["title"] == "digest"), "digests are not shown");
        assert_eq!(messages[0].body["username"], "source-controller");
        assert_eq!(messages[0].path, "/services/T0/B0/x");

        // The same event again within the rate-limit window is refused and not sent.
        let events_url = notification.events_url();
        let duplicate = json!({
            "involvedObject": {"kind": "OCIRepository", "namespace": ns, "name": "podinfo", "apiVersion": "source.toolkit.fluxcd.io/v1"},
            "severity": "info", "timestamp": "2026-11-28T00:00:00Z", "message": attachment["text"],
            "reason": "NewArtifact",
            "metadata": {"source.toolkit.fluxcd.io/revision": format!("latest@{digest}")},
            "reportingController": "source-controller"
        });
        assert_eq!(post(&events_url, duplicate.to_string().as_bytes()), 429);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(slack.received().into_iter().filter(|r| is_new_artifact(r)).count(), 1);
        let metrics = notification.process.metrics();
        assert!(metrics.contains("gotk_event_http_request_duration_seconds_count{code=\"429\"} 1"), "{metrics}");
    })
    .await;
}

fn e2e_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn severities_generic_webhooks_and_bad_input() {
    with_temp_ns(|client, ns| async move {
        let hook = Webhook::start(Some("t0ken")).await;
        let notification = NotificationController::start(&ns);
        let url = notification.events_url();
        apply(
            &client,
            &ns,
            json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook-token"},
                "stringData": {"token": "t0ken", "address": format!("{}/hook", hook.base)}
            }),
        )
        .await;
        apply(
            &client,
            &ns,
            provider(
                "slack-bot",
                "slack",
                "http://ignored.invalid/",
                Some("hook-token"),
            ),
        )
        .await;
        apply(
            &client,
            &ns,
            alert("errors-only", "slack-bot", "error", "Kustomization"),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;

        // Info is not wanted by an error-only Alert; error is. Both are accepted (202).
        assert_eq!(
            post(
                &url,
                event(&ns, "app", "info", "applied").to_string().as_bytes()
            ),
            202
        );
        assert_eq!(
            post(
                &url,
                event(&ns, "app", "error", "health check failed")
                    .to_string()
                    .as_bytes()
            ),
            202
        );
        let delivered = hook.wait_for(1, WAIT, |_| true).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            hook.received().len(),
            1,
            "only the error: {:?}",
            hook.received()
        );
        let body = &delivered[0].body;
        assert_eq!(body["attachments"][0]["color"], "danger");
        assert_eq!(body["attachments"][0]["text"], "health check failed");
        assert_eq!(body["attachments"][0]["fields"][0]["title"], "revision");

        // Malformed and oversized bodies.
        assert_eq!(post(&url, b"{not json"), 400);
        assert_eq!(post(&url, &vec![b' '; 4 << 20]), 413);

        // The endpoint fails: retried, then a Warning on the Alert with the address masked.
        hook.fail_with(Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(
            post(
                &url,
                event(&ns, "app", "error", "second failure")
                    .to_string()
                    .as_bytes()
            ),
            202
        );
        let warnings =
            warnings_on_alert(&client, &ns, "errors-only", "NotificationDispatchFailed").await;
        assert!(warnings[0].contains("HTTP 500"), "{warnings:?}");
        assert!(
            warnings[0].contains("/***") && !warnings[0].contains("/hook"),
            "address masked: {warnings:?}"
        );
        assert!(hook.refused() >= 2, "retried");
        hook.fail_with(None);

        // A type flux-rs cannot send yet, and a missing Secret, are reported on the Alert.
        apply(
            &client,
            &ns,
            provider("sentry", "sentry", "http://127.0.0.1:9/", None),
        )
        .await;
        apply(
            &client,
            &ns,
            alert("to-sentry", "sentry", "info", "Kustomization"),
        )
        .await;
        apply(
            &client,
            &ns,
            provider(
                "no-secret",
                "generic",
                "http://127.0.0.1:9/",
                Some("missing"),
            ),
        )
        .await;
        apply(
            &client,
            &ns,
            alert("to-no-secret", "no-secret", "info", "Kustomization"),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            post(
                &url,
                event(&ns, "other", "info", "third").to_string().as_bytes()
            ),
            202
        );
        let sentry =
            warnings_on_alert(&client, &ns, "to-sentry", "NotificationDispatchFailed").await;
        assert!(
            sentry[0].contains("provider type 'sentry' is not supported"),
            "{sentry:?}"
        );
        let missing =
            warnings_on_alert(&client, &ns, "to-no-secret", "NotificationDispatchFailed").await;
        assert!(
            missing[0].contains("secret 'missing' not found"),
            "{missing:?}"
        );
    })
    .await;
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    // openssl is an implementation independent of the controller's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, body).unwrap();
    let key = String::from_utf8(key.to_vec()).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", &key, "-r"])
        .arg(&file)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_signed_webhook_triggers_an_immediate_reconcile() {
    use api::notification::v1::Receiver;
    use api::source::v1::OCIRepository;
    with_temp_ns(|client, ns| async move {
        let notification = NotificationController::start(&ns);
        let registry = Registry::start();
        let _source = SourceController::start(&ns, None);
        let url = registry.oci_url("apps/hooked");
        push_artifact(&format!("{url}:latest"), e2e_tree().path(), &[]);
        apply(&client, &ns, json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": "hooked"},
            "spec": {"url": url, "interval": "60m"}
        }))
        .await;
        apply(&client, &ns, json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "webhook-token"}, "stringData": {"token": "s3cret"}
        }))
        .await;
        apply(&client, &ns, json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "registry"},
            "spec": {"type": "generic-hmac", "secretRef": {"name": "webhook-token"},
                "resources": [{"kind": "OCIRepository", "name": "hooked"}]}
        }))
        .await;
        let receivers: Api<Receiver> = Api::namespaced(client.clone(), &ns);
        let get = || async { Ok(receivers.get("registry").await?.status.unwrap_or_default()) };
        let status = wait_for("the webhook path", WAIT, get, |s| s.webhook_path.is_some()).await.unwrap();
        let path = status.webhook_path.unwrap();
        let expected = shared_path("s3cret", "registry", &ns);
        assert_eq!(path, expected);
        let ready = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.message, format!("Receiver initialized for path: {path}"));

        let repos: Api<OCIRepository> = Api::namespaced(client.clone(), &ns);
        let handled = || async { Ok(repos.get("hooked").await?.status.unwrap_or_default().last_handled_reconcile_at) };
        let ready_repo = || async { Ok(repos.get("hooked").await?.status.unwrap_or_default()) };
        wait_for("the OCIRepository", WAIT, ready_repo, |s| s.artifact.is_some()).await.unwrap();
        let before = handled().await.unwrap();

        let hook = format!("http://{}{path}", notification.receiver_addr);
        let body = br#"{"event":"push","tag":"latest"}"#;
        assert_eq!(post_with(&hook, body, &["X-Signature: sha256=0000".to_owned()]), 400, "a wrong signature is refused");
        assert_eq!(post_with(&format!("http://{}/hook/unknown", notification.receiver_addr), body, &[]), 404);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(handled().await.unwrap(), before, "nothing was requested");

        let signature = format!("X-Signature: sha256={}", hmac_hex(b"s3cret", body));
        assert_eq!(post_with(&hook, body, &[signature]), 200);
        let after = wait_for("lastHandledReconcileAt to change", WAIT, handled, |h| h.is_some() && *h != before).await.unwrap();
        let annotation = repos.get("hooked").await.unwrap().metadata.annotations.unwrap()["reconcile.fluxcd.io/requestedAt"].clone();
        assert_eq!(after.as_deref(), Some(annotation.as_str()));

        // A CEL resourceFilter picks, among the matched resources, those the call names.
        apply(&client, &ns, json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": "other"},
            "spec": {"url": url, "interval": "60m", "suspend": true}
        }))
        .await;
        apply(&client, &ns, json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "filtered"},
            "spec": {"type": "generic", "secretRef": {"name": "webhook-token"}, "resourceFilter": "res.metadata.name == req.repository",
                "resources": [{"kind": "OCIRepository", "name": "*"}]}
        }))
        .await;
        let get = || async { Ok(receivers.get("filtered").await?.status.unwrap_or_default()) };
        let status = wait_for("the filtered Receiver", WAIT, get, |s| s.webhook_path.is_some()).await.unwrap();
        let filtered = format!("http://{}{}", notification.receiver_addr, status.webhook_path.unwrap());
        let requested_at = |name: &'static str| {
            let repos = repos.clone();
            async move {
                repos.get(name).await.unwrap().metadata.annotations.unwrap_or_default().get("reconcile.fluxcd.io/requestedAt").cloned()
            }
        };
        let (hooked_before, other_before) = (requested_at("hooked").await, requested_at("other").await);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(post_with(&filtered, br#"{"repository":"hooked"}"#, &[]), 200);
        assert_ne!(requested_at("hooked").await, hooked_before, "the named one is requested");
        assert_eq!(requested_at("other").await, other_before, "the other one is not");

        // An expression that does not compile: the Receiver says so and takes no calls.
        apply(&client, &ns, json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "broken"},
            "spec": {"type": "generic", "secretRef": {"name": "webhook-token"}, "resourceFilter": "res.metadata.name ==",
                "resources": [{"kind": "OCIRepository", "name": "*"}]}
        }))
        .await;
        let get = || async { Ok(receivers.get("broken").await?.status.unwrap_or_default()) };
        let status = wait_for("the broken Receiver", WAIT, get, |s| s.webhook_path.is_some()).await.unwrap();
        let ready = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status, ready.reason.as_str()), (api::meta::ConditionStatus::False, "InvalidCELExpression"));
        assert!(ready.message.starts_with("invalid spec.resourceFilter"), "{}", ready.message);
        let broken = format!("http://{}{}", notification.receiver_addr, status.webhook_path.unwrap());
        assert_eq!(post_with(&broken, body, &[]), 503);
    })
    .await;
}

fn shared_path(token: &str, name: &str, namespace: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{token}{name}{namespace}").as_bytes());
    format!(
        "/hook/{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[tokio::test]
async fn only_the_leader_serves_events_and_a_standby_takes_over_without_duplicates() {
    with_temp_ns(|client, ns| async move {
        let hook = Webhook::start(None).await;
        let election = [
            "--enable-leader-election",
            "--leader-election-lease-duration=4s",
            "--leader-election-renew-deadline=3s",
            "--leader-election-retry-period=1s",
        ];
        let mut leader = NotificationController::start_with(&ns, &election);
        let mut standby = NotificationController::spawn(&ns, &election);
        apply(&client, &ns, provider("hook", "generic", &format!("{}/hook", hook.base), None)).await;
        apply(&client, &ns, alert("all", "hook", "info", "Kustomization")).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let event = |message: &str| {
            json!({
                "involvedObject": {"kind": "Kustomization", "namespace": ns, "name": "app", "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
                "severity": "info", "timestamp": "2026-11-28T00:00:00Z", "message": message,
                "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller"
            })
            .to_string()
        };
        assert_eq!(post(&leader.events_url(), event("first").as_bytes()), 202);
        hook.wait_for(1, WAIT, |r| r.body["message"] == "first").await;
        assert!(std::net::TcpStream::connect(&standby.events_addr).is_err(), "a standby does not serve events");
        assert!(leader.process.ready() && !standby.process.ready(), "only the serving replica is ready");

        leader.process.kill();
        standby.process.wait_for_log("\"message\":\"serving\"", WAIT).unwrap();
        assert!(standby.process.ready());
        assert_eq!(post(&standby.events_url(), event("second").as_bytes()), 202);
        hook.wait_for(1, WAIT, |r| r.body["message"] == "second").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let messages: Vec<String> = hook.received().iter().map(|r| r.body["message"].as_str().unwrap_or("").to_owned()).collect();
        assert_eq!(messages, ["first", "second"], "each event delivered once");
    })
    .await;
}

#[tokio::test]
async fn providers_reach_endpoints_through_their_proxy_and_with_client_certificates() {
    use e2e::proxy::ForwardProxy;
    use e2e::tls::TestCa;
    with_temp_ns(|client, ns| async move {
        let ca = TestCa::generate("hook ca");
        let secure = Webhook::start_tls(&ca.server(), Some(&ca.cert_pem()), None).await;
        let plain = Webhook::start(None).await;
        let proxy = ForwardProxy::start(Some(("flux", "pr0xy"))).await;
        let notification = NotificationController::start(&ns);
        let certificate = ca.client("notification-controller");
        let secrets = [
            ("hook-ca", json!({"ca.crt": ca.cert_pem()})),
            ("hook-mtls", json!({"ca.crt": ca.cert_pem(), "tls.crt": certificate.cert_pem, "tls.key": certificate.key_pem})),
            ("proxy", json!({"address": proxy.address, "username": "flux", "password": "pr0xy"})),
        ];
        for (name, data) in secrets {
            apply(&client, &ns, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})).await;
        }
        let providers = [
            ("ca-only", format!("{}/ca-only", secure.base), json!({"certSecretRef": {"name": "hook-ca"}})),
            ("mtls", format!("{}/mtls", secure.base), json!({"certSecretRef": {"name": "hook-mtls"}})),
            ("proxied", format!("{}/proxied", plain.base), json!({"proxySecretRef": {"name": "proxy"}})),
        ];
        for (name, address, extra) in providers {
            let mut object = provider(name, "generic", &address, None);
            for (key, value) in extra.as_object().unwrap() {
                object["spec"][key] = value.clone();
            }
            apply(&client, &ns, object).await;
            apply(&client, &ns, alert(name, name, "info", "Kustomization")).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let body = event(&ns, "app", "info", "applied").to_string();
        assert_eq!(post(&notification.events_url(), body.as_bytes()), 202);

        // The client certificate opens the mutual-TLS endpoint; the CA alone does not.
        let delivered = secure.wait_for(1, WAIT, |r| r.path == "/mtls").await;
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].body["message"], "applied");
        let warnings = warnings_on_alert(&client, &ns, "ca-only", "NotificationDispatchFailed").await;
        assert!(warnings[0].contains(&format!("{}/***", secure.base)), "{warnings:?}");
        assert!(warnings[0].to_lowercase().contains("certificate"), "{warnings:?}");
        assert!(!warnings[0].contains("/ca-only"), "the address is redacted: {warnings:?}");
        assert!(secure.refused_handshakes() > 0);
        assert!(secure.received().iter().all(|r| r.path == "/mtls"));

        // The proxy of proxySecretRef carried the other one, with its credentials.
        let delivered = plain.wait_for(1, WAIT, |r| r.path == "/proxied").await;
        assert_eq!(delivered.len(), 1);
        assert_eq!(proxy.forwarded(), vec![format!("{}/proxied", plain.base)]);
        assert_eq!(proxy.refused(), 0);
    })
    .await;
}

// Multi-threaded: the Slack stand-in must answer while the test sleeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_then_back_within_the_retry_budget_gets_the_event_once() {
    with_temp_ns(|client, ns| async move {
        let slack = Webhook::start(None).await;
        let notification = NotificationController::start(&ns);
        let url = notification.events_url();
        apply(&client, &ns, provider("slack", "slack", &format!("{}/services/T0/B0/x", slack.base), None)).await;
        apply(&client, &ns, alert("all", "slack", "info", "Kustomization")).await;
        tokio::time::sleep(Duration::from_secs(2)).await;

        // Down (503) for 3 seconds: inside the budget of 5 attempts over 7.5 seconds.
        slack.fail_with(Some(StatusCode::SERVICE_UNAVAILABLE));
        let started = std::time::Instant::now();
        assert_eq!(post(&url, event(&ns, "app", "info", "while down").to_string().as_bytes()), 202);
        tokio::time::sleep(Duration::from_secs(3)).await;
        slack.fail_with(None);
        let delivered = slack.wait_for(1, Duration::from_secs(15), |_| true).await;
        let took = started.elapsed();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(slack.received().len(), 1, "delivered exactly once: {:?}", slack.received());
        assert!(delivered[0].body.to_string().contains("while down"), "{:?}", delivered[0].body);
        let refused = slack.refused();
        assert!(refused >= 2, "retried while down: {refused}");
        assert!(took < Duration::from_secs(9), "within the retry budget: {took:?}");
        eprintln!("reliability: Slack stand-in down 3s: {refused} attempts refused, delivered once {:.1}s after the event", took.as_secs_f64());
    })
    .await;
}
