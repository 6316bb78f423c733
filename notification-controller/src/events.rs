//! The event endpoint: Flux event payloads in, deduplicated, matched against Alerts and sent
//! to their Providers (`internal/server/event_server.go`, `event_handlers.go`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::notification::ProviderType;
use api::notification::v1beta3::{Alert, Provider};
use artifacts::transport::{self, Proxy, TlsMaterial};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use k8s_openapi::ByteString;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use runtime::events::{EventPayload, EventRecord, Recorder, Severity};

use crate::matching::{self, MessageFilters};
use crate::notifiers::{self, Target, commit_status};

/// Flux's limit on an event body.
pub const MAX_BODY_BYTES: usize = 3 << 20;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub code: String,
}

/// `gotk_event_http_request_duration_seconds{code}`.
pub type HttpDurations = Family<HttpLabels, Histogram>;

pub fn http_durations() -> HttpDurations {
    Family::new_with_constructor(|| Histogram::new(runtime::metrics::duration_buckets()))
}

pub struct EventServer {
    pub client: Client,
    pub alerts: Store<Alert>,
    pub providers: Store<Provider>,
    pub recorder: Recorder,
    pub http: reqwest::Client,
    pub rate_limit: Duration,
    pub durations: HttpDurations,
    recent: Mutex<HashMap<String, Instant>>,
    /// Bounds the events dispatched at once (`--concurrent`).
    dispatching: Arc<tokio::sync::Semaphore>,
}

impl EventServer {
    pub fn new(
        client: Client,
        alerts: Store<Alert>,
        providers: Store<Provider>,
        recorder: Recorder,
        rate_limit: Duration,
        durations: HttpDurations,
        concurrent: usize,
    ) -> Self {
        let http = reqwest::Client::builder()
            .build()
            .expect("TLS backend initialises");
        let dispatching = Arc::new(tokio::sync::Semaphore::new(concurrent));
        Self {
            client,
            alerts,
            providers,
            recorder,
            http,
            rate_limit,
            durations,
            recent: Mutex::default(),
            dispatching,
        }
    }

    /// Whether an event with this key was accepted within the rate-limit interval; records it
    /// otherwise.
    fn is_duplicate(&self, key: String) -> bool {
        let mut recent = self.recent.lock().expect("rate limiter");
        let now = Instant::now();
        if recent.len() > 100_000 {
            let window = self.rate_limit;
            recent.retain(|_, at| now.duration_since(*at) < window);
        }
        match recent.get(&key) {
            Some(at) if now.duration_since(*at) < self.rate_limit => true,
            _ => {
                recent.insert(key, now);
                false
            }
        }
    }
}

/// The router of the event endpoint: `POST` on any path.
pub fn router(server: Arc<EventServer>) -> axum::Router {
    axum::Router::new()
        .fallback(axum::routing::post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(server)
}

async fn receive(State(server): State<Arc<EventServer>>, body: Bytes) -> StatusCode {
    let started = Instant::now();
    let code = match serde_json::from_slice::<EventPayload>(&body) {
        Err(e) => {
            tracing::debug!(error = %e, "rejected an event that is not valid JSON");
            StatusCode::BAD_REQUEST
        }
        Ok(event) if server.is_duplicate(matching::dedup_key(&event)) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        Ok(event) => {
            let server = server.clone();
            tokio::spawn(async move {
                let Ok(_permit) = server.dispatching.clone().acquire_owned().await else {
                    return;
                };
                dispatch(&server, event).await;
            });
            StatusCode::ACCEPTED
        }
    };
    server
        .durations
        .get_or_create(&HttpLabels {
            code: code.as_u16().to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
    code
}

/// Sends the event to the Provider of every Alert it matches.
pub async fn dispatch(server: &EventServer, event: EventPayload) {
    let mut labels: Option<Option<BTreeMap<String, String>>> = None;
    for alert in server.alerts.state() {
        let spec = &alert.spec;
        let alert_ns = alert.namespace().unwrap_or_default();
        if spec.suspend || !matching::severity_matches(spec.event_severity, event.severity) {
            continue;
        }
        let filters = match MessageFilters::compile(spec) {
            Ok(filters) => filters,
            Err(message) => {
                warn_on_alert(server, &alert, "InvalidConfig", message).await;
                continue;
            }
        };
        let needs_labels = spec
            .event_sources
            .iter()
            .any(|s| s.match_labels.as_ref().is_some_and(|l| !l.is_empty()));
        if needs_labels && labels.is_none() {
            labels = Some(object_labels(&server.client, &event).await);
        }
        let object_labels = labels.as_ref().and_then(Option::as_ref);
        let matched = spec
            .event_sources
            .iter()
            .any(|source| matching::source_matches(source, &alert_ns, &event, object_labels));
        if !matched || !filters.allows(&event.message) {
            continue;
        }
        let provider_ref = ObjectRef::new(&spec.provider_ref.name).within(&alert_ns);
        let Some(provider) = server.providers.get(&provider_ref) else {
            let message = format!(
                "failed to get provider '{}': not found",
                spec.provider_ref.name
            );
            warn_on_alert(server, &alert, DISPATCH_FAILED, message).await;
            continue;
        };
        if provider.spec.suspend {
            continue;
        }
        if !commit_status_routing_allows(provider.spec.type_, &event) {
            tracing::debug!(alert = %alert.name_any(), "event dropped for commit status providers due to missing commit metadata key");
            continue;
        }
        let mut notification = event.clone();
        notification.metadata = matching::notification_metadata(&event, spec);
        let outcome = notify(server, &provider, &notification).await;
        if let Err(message) = outcome {
            let object = &event.involved_object;
            let message = format!(
                "failed to send notification for {}/{}/{}: {message}",
                object.kind, object.namespace, object.name
            );
            tracing::warn!(alert = %alert.name_any(), namespace = %alert_ns, error = %message, "notification failed");
            warn_on_alert(server, &alert, DISPATCH_FAILED, message).await;
        }
    }
}

const DISPATCH_FAILED: &str = "NotificationDispatchFailed";

/// Flux's routing of commit statuses: a commit-status provider takes only events that name a
/// commit (`event.toolkit.fluxcd.io/commit`), ask for a status update (`<group>/commit_status:
/// update`) or are errors; status updates go to no other provider but the generic ones.
fn commit_status_routing_allows(kind: ProviderType, event: &EventPayload) -> bool {
    let group = matching::group_of(&event.involved_object.api_version);
    let status_update = event
        .metadata
        .get(&format!("{group}/commit_status"))
        .is_some_and(|v| v == "update");
    if commit_status::is_commit_status_provider(kind) {
        let has_commit = event
            .metadata
            .get("event.toolkit.fluxcd.io/commit")
            .is_some_and(|c| !c.is_empty());
        has_commit || status_update || event.severity == Severity::Error
    } else {
        !status_update || matches!(kind, ProviderType::Generic | ProviderType::GenericHmac)
    }
}

/// A Warning event on the Alert (Kubernetes only: the controller does not notify itself).
async fn warn_on_alert(server: &EventServer, alert: &Alert, reason: &str, message: String) {
    server
        .recorder
        .record(alert, EventRecord::new(Severity::Error, reason, message))
        .await;
}

async fn notify(
    server: &EventServer,
    provider: &Provider,
    event: &EventPayload,
) -> Result<(), String> {
    let spec = &provider.spec;
    let namespace = provider.namespace().unwrap_or_default();
    let mut target = Target {
        address: spec.address.clone().unwrap_or_default(),
        channel: spec.channel.clone(),
        username: spec.username.clone(),
        timeout: spec
            .timeout
            .as_deref()
            .and_then(|t| api::duration::parse(t).ok()),
        ..Target::default()
    };
    // Flux's precedence: proxySecretRef, then the Secret's `proxy`, then `spec.proxy`.
    let mut proxy = spec
        .proxy
        .as_deref()
        .map(|url| Proxy::from_url("spec.proxy", url))
        .transpose()
        .map_err(|e| e.to_string())?;
    if let Some(reference) = &spec.secret_ref {
        let data = secret_data(&server.client, &namespace, &reference.name).await?;
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(&v.0).trim().to_owned())
        };
        if let Some(address) = text("address") {
            target.address = address;
        }
        target.token = text("token");
        if let Some(headers) = text("headers") {
            target.headers = serde_saphyr::from_str(&headers)
                .map_err(|e| format!("invalid 'headers' in secret '{}': {e}", reference.name))?;
        }
        if let Some(user) = text("username") {
            target.username = Some(user);
        }
        target.password = text("password");
        if let Some(url) = text("proxy") {
            let field = format!("secret '{}' key 'proxy'", reference.name);
            proxy = Some(Proxy::from_url(&field, &url).map_err(|e| e.to_string())?);
        }
    }
    if let Some(reference) = &spec.proxy_secret_ref {
        let data = secret_data(&server.client, &namespace, &reference.name).await?;
        proxy = Some(Proxy::from_secret(&reference.name, &data).map_err(|e| e.to_string())?);
    }
    let tls = match &spec.cert_secret_ref {
        Some(reference) => {
            let data = secret_data(&server.client, &namespace, &reference.name).await?;
            Some(TlsMaterial::from_secret(&reference.name, &data).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let http = if tls.is_none() && proxy.is_none() {
        server.http.clone()
    } else {
        transport::http_client(tls.as_ref(), proxy.as_ref()).map_err(|e| e.to_string())?
    };
    target.provider_uid = provider.uid().unwrap_or_default();
    let timeout = target.timeout.unwrap_or(Duration::from_secs(15));
    if commit_status::is_commit_status_provider(spec.type_) {
        let Some(status) = commit_status::commit_status(spec.type_, &target, event)
            .map_err(|e| format!("failed to create commit status: {e}"))?
        else {
            return Ok(());
        };
        let existing = notifiers::read_json(&http, &status.existing, timeout)
            .await
            .map_err(|e| format!("could not list commit statuses: {e}"))?;
        if status.already_posted(&existing) {
            return Ok(());
        }
        return notifiers::send(&http, &status.create, timeout)
            .await
            .map_err(|e| format!("could not create commit status: {e}"));
    }
    let requests = notifiers::requests(spec.type_, &target, event).map_err(|e| e.to_string())?;
    for request in &requests {
        notifiers::send(&http, request, timeout)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The data of the Secret `name` in `namespace`, with the messages Provider and Receiver
/// failures carry.
pub async fn secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, ByteString>, String> {
    runtime::secret_data(client, namespace, name)
        .await
        .map_err(|e| format!("failed to read secret '{name}': {e}"))?
        .ok_or_else(|| format!("secret '{name}' not found"))
}

/// The labels of the event's object (for `matchLabels`), or `None` if it cannot be read.
async fn object_labels(client: &Client, event: &EventPayload) -> Option<BTreeMap<String, String>> {
    let object = &event.involved_object;
    let resource = api::api_resource(&object.api_version, &object.kind);
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &object.namespace, &resource);
    api.get_opt(&object.name)
        .await
        .ok()
        .flatten()
        .map(|o| o.labels().clone())
}
