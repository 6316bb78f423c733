//! Receivers: webhook endpoints at `/hook/<sha256(token+name+namespace)>` that ask for an
//! immediate reconcile of the objects they name (`internal/server/receiver_handlers.go`), and
//! the reconciler that publishes each Receiver's path in its status.

use std::sync::Arc;
use std::time::Duration;

use api::meta::{READY, RECONCILE_REQUEST_ANNOTATION, reason};
use api::notification::v1::Receiver;
use api::notification::{CrossNamespaceObjectReference, ReceiverType};
use artifacts::transport::constant_time_eq;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use runtime::conditions::Conditions;
use runtime::now_rfc3339;
use runtime::outcome::{self, Failure};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::filter::ResourceFilter;
use crate::notifiers::hmac_sha256;

/// Webhook bodies beyond this are refused.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// `/hook/` + hex(sha256(token + name + namespace)), as Flux computes it.
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    format!(
        "/hook/{}",
        hex::encode(Sha256::digest(
            format!("{token}{name}{namespace}").as_bytes()
        ))
    )
}

/// Why a webhook call is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the signature or token does not match, or the event is not wanted.
    Invalid(String),
    /// 200 without action (GitHub's ping).
    Ignored,
}

/// Checks a call against the Receiver's type and token. Pure.
pub fn validate(
    kind: ReceiverType,
    token: &str,
    events: &[String],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let event_allowed =
        |event: &str| events.is_empty() || events.iter().any(|e| e.eq_ignore_ascii_case(event));
    let signed = |value: &str| -> Result<(), Refusal> {
        let (algorithm, signature) = value.split_once('=').unwrap_or(("", value));
        let expected = match algorithm {
            "sha256" => hmac_sha256(token.as_bytes(), body),
            other => {
                return Err(Refusal::Invalid(format!(
                    "unsupported signature algorithm '{other}'"
                )));
            }
        };
        if constant_time_eq(
            expected.as_bytes(),
            signature.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(Refusal::Invalid("the signature does not match".to_owned()))
        }
    };
    match kind {
        ReceiverType::Generic => Ok(()),
        ReceiverType::GenericHmac => signed(header("X-Signature")),
        ReceiverType::GitHub => {
            let event = header("X-GitHub-Event");
            signed(header("X-Hub-Signature-256"))?;
            if event == "ping" {
                return Err(Refusal::Ignored);
            }
            if !event_allowed(event) {
                return Err(Refusal::Invalid(format!(
                    "GitHub event '{event}' is not in spec.events"
                )));
            }
            Ok(())
        }
        ReceiverType::GitLab => {
            if !constant_time_eq(header("X-Gitlab-Token").as_bytes(), token.as_bytes()) {
                return Err(Refusal::Invalid(
                    "the GitLab token does not match".to_owned(),
                ));
            }
            let event = header("X-Gitlab-Event");
            if !event_allowed(event) {
                return Err(Refusal::Invalid(format!(
                    "GitLab event '{event}' is not in spec.events"
                )));
            }
            Ok(())
        }
        ReceiverType::Bitbucket => signed(header("X-Hub-Signature")),
        ReceiverType::Harbor => {
            if constant_time_eq(header("Authorization").as_bytes(), token.as_bytes()) {
                Ok(())
            } else {
                Err(Refusal::Invalid(
                    "the Harbor token does not match".to_owned(),
                ))
            }
        }
        // The token in the path is their only secret (as in Flux).
        ReceiverType::DockerHub | ReceiverType::Quay | ReceiverType::Nexus | ReceiverType::Acr => {
            Ok(())
        }
        other => Err(Refusal::Invalid(format!(
            "receiver type '{other}' is not supported by flux-rs yet"
        ))),
    }
}

pub struct ReceiverServer {
    pub client: Client,
    pub receivers: Store<Receiver>,
}

pub fn router(server: Arc<ReceiverServer>) -> axum::Router {
    axum::Router::new()
        .route("/hook/{digest}", axum::routing::post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(server)
}

async fn receive(
    State(server): State<Arc<ReceiverServer>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = format!("/hook/{digest}");
    let Some(receiver) =
        server.receivers.state().into_iter().find(|r| {
            r.status.as_ref().and_then(|s| s.webhook_path.as_deref()) == Some(path.as_str())
        })
    else {
        return (StatusCode::NOT_FOUND, "receiver not found\n".to_owned());
    };
    let namespace = receiver.namespace().unwrap_or_default();
    let ready = receiver
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == READY && c.status == api::meta::ConditionStatus::True)
        });
    if receiver.spec.suspend || !ready {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "receiver is suspended or not ready\n".to_owned(),
        );
    }
    let token = match receiver_token(&server.client, &receiver).await {
        Ok(token) => token,
        Err(message) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{message}\n")),
    };
    let events = receiver.spec.events.clone().unwrap_or_default();
    match validate(receiver.spec.type_, &token, &events, &headers, &body) {
        Ok(()) => {}
        Err(Refusal::Ignored) => return (StatusCode::OK, "ignored\n".to_owned()),
        Err(Refusal::Invalid(message)) => {
            tracing::info!(receiver = %receiver.name_any(), namespace, reason = %message, "webhook refused");
            return (StatusCode::BAD_REQUEST, format!("{message}\n"));
        }
    }
    let filter = match compiled_filter(&receiver) {
        Ok(filter) => filter,
        Err(message) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{message}\n")),
    };
    // The request body as `req` for the filter; a body that is not JSON is an empty object.
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    let mut targets = Vec::new();
    let mut failures = Vec::new();
    for resource in &receiver.spec.resources {
        match resolve_targets(&server.client, resource, &namespace, filter.is_some()).await {
            Ok(found) => targets.extend(found),
            Err(e) => failures.push(e),
        }
    }
    if let Some(filter) = &filter {
        // Every verdict first: a filter error requests nothing rather than half the set.
        let mut accepted = Vec::new();
        for target in targets {
            let object = serde_json::to_value(&target.object).unwrap_or_default();
            match filter.accepts(&object, &request) {
                Ok(true) => accepted.push(target),
                Ok(false) => {}
                Err(e) => {
                    let message = format!(
                        "{} '{}/{}': {e}",
                        target.kind, target.namespace, target.name
                    );
                    return (StatusCode::BAD_REQUEST, format!("{message}\n"));
                }
            }
        }
        targets = accepted;
    }
    let requested = go_time_string(jiff::Timestamp::now());
    let patch = json!({"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: requested}}});
    for target in &targets {
        if let Err(e) = target
            .api
            .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            failures.push(format!(
                "failed to annotate {} '{}/{}': {e}",
                target.kind, target.namespace, target.name
            ));
        }
    }
    if failures.is_empty() {
        tracing::info!(receiver = %receiver.name_any(), namespace, requested = targets.len(), "reconcile requested");
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}\n", failures.join("; ")),
        )
    }
}

/// The time as Go's `metav1.Now().String()` prints it, which Flux writes into the annotation.
pub fn go_time_string(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC").to_string()
}

async fn receiver_token(client: &Client, receiver: &Receiver) -> Result<String, String> {
    let Some(reference) = &receiver.spec.secret_ref else {
        return Ok(String::new());
    };
    let namespace = receiver.namespace().unwrap_or_default();
    crate::events::secret_data(client, &namespace, &reference.name)
        .await?
        .get("token")
        .map(|t| String::from_utf8_lossy(&t.0).trim().to_owned())
        .ok_or_else(|| format!("secret '{}' has no 'token' key", reference.name))
}

/// One object a webhook call may request a reconcile of.
struct Target {
    api: Api<DynamicObject>,
    kind: String,
    namespace: String,
    name: String,
    /// The object itself, when a filter needs to see it.
    object: Option<DynamicObject>,
}

/// The named object (or every object of the kind matching `matchLabels` for `*`); read from
/// the API when `with_objects` (listed objects always come with their content).
async fn resolve_targets(
    client: &Client,
    resource: &CrossNamespaceObjectReference,
    receiver_ns: &str,
    with_objects: bool,
) -> Result<Vec<Target>, String> {
    let kind = resource.kind.as_str();
    let api_version = resource
        .api_version
        .clone()
        .unwrap_or_else(|| default_api_version(kind).to_owned());
    let namespace = resource.namespace.as_deref().unwrap_or(receiver_ns);
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &api::api_resource(&api_version, kind),
    );
    let target = |name: String, object: Option<DynamicObject>| Target {
        api: api.clone(),
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name,
        object,
    };
    if resource.name == "*" {
        let selector = resource
            .match_labels
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| format!("listing {kind}: {e}"))?;
        return Ok(list
            .items
            .into_iter()
            .map(|object| target(object.name_any(), Some(object)))
            .collect());
    }
    let object = if with_objects {
        let object = api
            .get(&resource.name)
            .await
            .map_err(|e| format!("failed to get {kind} '{namespace}/{}': {e}", resource.name))?;
        Some(object)
    } else {
        None
    };
    Ok(vec![target(resource.name.clone(), object)])
}

fn default_api_version(kind: &str) -> &'static str {
    match kind {
        "Kustomization" => "kustomize.toolkit.fluxcd.io/v1",
        "HelmRelease" => "helm.toolkit.fluxcd.io/v2",
        "ImageRepository" | "ImagePolicy" | "ImageUpdateAutomation" => "image.toolkit.fluxcd.io/v1",
        _ => "source.toolkit.fluxcd.io/v1",
    }
}

/// The Receiver reconciler: publishes `status.webhookPath` and Ready.
pub struct ReceiverContext {
    pub client: Client,
    pub recorder: runtime::events::Recorder,
    pub backoff: runtime::requeue::Backoff,
}

#[derive(Debug, thiserror::Error)]
#[error("updating Receiver {namespace}/{name}: {source}")]
pub struct ReceiverError {
    namespace: String,
    name: String,
    source: kube::Error,
}

pub async fn reconcile_receiver(
    receiver: Arc<Receiver>,
    ctx: Arc<ReceiverContext>,
) -> Result<Action, ReceiverError> {
    let span = runtime::reconcile_span("Receiver", receiver.as_ref());
    reconcile_receiver_object(receiver, ctx)
        .instrument(span)
        .await
}

async fn reconcile_receiver_object(
    receiver: Arc<Receiver>,
    ctx: Arc<ReceiverContext>,
) -> Result<Action, ReceiverError> {
    let namespace = receiver.namespace().unwrap_or_default();
    let name = receiver.name_any();
    let mut status = receiver.status.clone().unwrap_or_default();
    let mut conditions = Conditions::new(
        status.conditions.take(),
        receiver.metadata.generation,
        now_rfc3339(),
    );
    let outcome = match receiver_token(&ctx.client, &receiver).await {
        Ok(token) => {
            let path = webhook_path(&token, &name, &namespace);
            status.webhook_path = Some(path.clone());
            match compiled_filter(&receiver) {
                Ok(_) => Ok(path),
                // A filter that does not compile would fail every call: say so, take none.
                Err(message) => Err(Failure::stalled("InvalidCELExpression", message)),
            }
        }
        Err(message) => {
            status.webhook_path = None;
            Err(Failure::retryable("TokenNotFound", message).retry_after(TOKEN_RETRY))
        }
    };
    let conclusion = match &outcome {
        Ok(path) => {
            let conclusion = outcome::succeeded(&mut conditions, &[]);
            conditions.mark_true(
                READY,
                reason::SUCCEEDED,
                format!("Receiver initialized for path: {path}"),
            );
            conclusion
        }
        Err(failure) => {
            outcome::log_failure(failure);
            outcome::failed(&mut conditions, failure)
        }
    };
    if let Some(event) = conclusion.event {
        ctx.recorder.record(receiver.as_ref(), event).await;
    }
    if let Some(requested) = runtime::requested_at(receiver.as_ref()) {
        status.last_handled_reconcile_at = Some(requested);
    }
    status.observed_generation = receiver.metadata.generation.unwrap_or(-1);
    status.conditions = Some(conditions.into_vec());
    let api: Api<Receiver> = Api::namespaced(ctx.client.clone(), &namespace);
    runtime::StatusWriter::new(&receiver.status)
        .write(&api, &name, &status)
        .await
        .map_err(|source| ReceiverError {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
    let interval =
        api::duration::parse(&receiver.spec.interval).unwrap_or(Duration::from_secs(600));
    let key = format!("{namespace}/{name}");
    Ok(conclusion.requeue.action(interval, 0, &ctx.backoff, &key))
}

/// How soon a Receiver whose token Secret is missing looks again.
const TOKEN_RETRY: Duration = Duration::from_secs(30);

/// The Receiver's `resourceFilter`, compiled, if it has one.
fn compiled_filter(receiver: &Receiver) -> Result<Option<ResourceFilter>, String> {
    match receiver.spec.resource_filter.as_deref().map(str::trim) {
        Some(expression) if !expression.is_empty() => ResourceFilter::compile(expression).map(Some),
        _ => Ok(None),
    }
}

pub fn receiver_error_policy(
    _: Arc<Receiver>,
    error: &ReceiverError,
    _: Arc<ReceiverContext>,
) -> Action {
    tracing::error!(error = %error, "receiver reconcile failed");
    Action::requeue(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn webhook_paths_are_fluxs() {
        let path = webhook_path("token", "app", "flux-system");
        assert_eq!(
            path,
            format!(
                "/hook/{}",
                hex::encode(Sha256::digest(b"tokenappflux-system"))
            )
        );
    }

    #[test]
    fn generic_hmac_and_github_signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = format!("sha256={}", hmac_sha256(b"s3cret", body));
        assert_eq!(
            validate(
                ReceiverType::GenericHmac,
                "s3cret",
                &[],
                &headers(&[("X-Signature", &good)]),
                body
            ),
            Ok(())
        );
        assert!(matches!(
            validate(
                ReceiverType::GenericHmac,
                "s3cret",
                &[],
                &headers(&[("X-Signature", "sha256=00")]),
                body
            ),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            validate(
                ReceiverType::GenericHmac,
                "s3cret",
                &[],
                &HeaderMap::new(),
                body
            ),
            Err(Refusal::Invalid(_))
        ));

        let push = headers(&[("X-Hub-Signature-256", &good), ("X-GitHub-Event", "push")]);
        assert_eq!(
            validate(
                ReceiverType::GitHub,
                "s3cret",
                &["push".to_owned()],
                &push,
                body
            ),
            Ok(())
        );
        assert!(matches!(
            validate(
                ReceiverType::GitHub,
                "s3cret",
                &["release".to_owned()],
                &push,
                body
            ),
            Err(Refusal::Invalid(_))
        ));
        let ping = headers(&[("X-Hub-Signature-256", &good), ("X-GitHub-Event", "ping")]);
        assert_eq!(
            validate(ReceiverType::GitHub, "s3cret", &[], &ping, body),
            Err(Refusal::Ignored)
        );
    }

    #[test]
    fn gitlab_and_harbor_tokens() {
        let ok = headers(&[
            ("X-Gitlab-Token", "s3cret"),
            ("X-Gitlab-Event", "Push Hook"),
        ]);
        assert_eq!(
            validate(ReceiverType::GitLab, "s3cret", &[], &ok, b"{}"),
            Ok(())
        );
        let bad = headers(&[("X-Gitlab-Token", "nope")]);
        assert!(matches!(
            validate(ReceiverType::GitLab, "s3cret", &[], &bad, b"{}"),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(
            validate(
                ReceiverType::Harbor,
                "s3cret",
                &[],
                &headers(&[("Authorization", "s3cret")]),
                b"{}"
            ),
            Ok(())
        );
    }
}
