//! Events as Flux's controllers record them (`fluxcd/pkg/runtime/events`): a Kubernetes Event
//! for every event, and, for all but trace events, the Flux event payload posted to the
//! notification-controller.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event as KubeEvent, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// Object annotations with this prefix are copied into the event's metadata.
pub const EVENT_ANNOTATION_PREFIX: &str = "event.toolkit.fluxcd.io/";
/// Messages are cut to this many characters, as Flux does.
pub const MAX_MESSAGE_CHARS: usize = 39000;

/// How loud an event is. Trace events only become Kubernetes events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Trace,
    Info,
    Error,
}

impl Severity {
    fn kube_type(self) -> &'static str {
        match self {
            Severity::Error => "Warning",
            Severity::Trace | Severity::Info => "Normal",
        }
    }
}

/// The involved object of a Flux event payload (`corev1.ObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvolvedObject {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
}

/// The Flux event payload (`fluxcd/pkg/apis/event/v1beta1.Event`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPayload {
    pub involved_object: InvolvedObject,
    pub severity: Severity,
    pub timestamp: String,
    pub message: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    pub reporting_controller: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

/// One event about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub severity: Severity,
    pub reason: String,
    pub message: String,
    /// Extra metadata, e.g. `source.toolkit.fluxcd.io/revision`.
    pub metadata: BTreeMap<String, String>,
}

impl EventRecord {
    pub fn new(severity: Severity, reason: &str, message: impl Into<String>) -> Self {
        Self {
            severity,
            reason: reason.to_owned(),
            message: message.into(),
            metadata: BTreeMap::new(),
        }
    }

    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// Builds the payload posted to the notification endpoint for an event about `object`.
pub fn payload<K: Resource<DynamicType = ()>>(
    object: &K,
    record: &EventRecord,
    controller: &str,
    instance: &str,
    timestamp: &str,
) -> EventPayload {
    let mut metadata = record.metadata.clone();
    for (key, value) in object.annotations() {
        if key.starts_with(EVENT_ANNOTATION_PREFIX) {
            metadata.insert(key.clone(), value.clone());
        }
    }
    EventPayload {
        involved_object: InvolvedObject {
            kind: K::kind(&()).into_owned(),
            namespace: object.namespace().unwrap_or_default(),
            name: object.name_any(),
            uid: object.uid().unwrap_or_default(),
            api_version: K::api_version(&()).into_owned(),
            resource_version: object.resource_version().unwrap_or_default(),
        },
        severity: record.severity,
        timestamp: timestamp.to_owned(),
        message: record.message.chars().take(MAX_MESSAGE_CHARS).collect(),
        reason: record.reason.clone(),
        metadata,
        reporting_controller: controller.to_owned(),
        reporting_instance: instance.to_owned(),
    }
}

/// Records events for one controller.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    webhook: Option<String>,
    http: reqwest::Client,
    /// Recent Kubernetes events: repeats bump the count.
    recent: Arc<Mutex<HashMap<EventKey, RecentEvent>>>,
}

/// (object uid, event type, reason, message).
type EventKey = (String, &'static str, String, String);
/// (event name, count, when last seen).
type RecentEvent = (String, i32, Instant);

const CORRELATION_WINDOW: Duration = Duration::from_secs(600);
const MAX_RECENT: usize = 4096;

impl Recorder {
    /// `webhook` is `--events-addr` (the notification-controller's event endpoint), if any.
    pub fn new(client: Client, controller: &str, webhook: Option<String>) -> Self {
        let instance = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| controller.to_owned());
        let webhook = webhook.filter(|w| !w.is_empty()).map(|w| {
            if w.contains("://") {
                w
            } else {
                format!("http://{w}")
            }
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("TLS backend initialises");
        Self {
            client,
            controller: controller.to_owned(),
            instance,
            webhook,
            http,
            recent: Arc::default(),
        }
    }

    pub fn controller(&self) -> &str {
        &self.controller
    }

    /// Records `record` about `object`: a Kubernetes event, and the Flux payload posted to
    /// the notification endpoint (in the background, so a slow endpoint never holds up a
    /// reconcile). Failures are logged, never returned: events are best effort, as in Flux.
    pub async fn record<K>(&self, object: &K, record: EventRecord)
    where
        K: Resource<DynamicType = ()>,
    {
        let now = jiff::Timestamp::now();
        if let Err(e) = self.kube_event(object, &record, now).await {
            tracing::warn!(error = %e, reason = %record.reason, "failed to record a Kubernetes event");
        }
        if record.severity == Severity::Trace {
            return;
        }
        let Some(webhook) = self.webhook.clone() else {
            return;
        };
        let body = payload(
            object,
            &record,
            &self.controller,
            &self.instance,
            &now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let http = self.http.clone();
        tokio::spawn(async move { post_with_retries(&http, &webhook, &body).await });
    }

    async fn kube_event<K>(
        &self,
        object: &K,
        record: &EventRecord,
        now: jiff::Timestamp,
    ) -> kube::Result<()>
    where
        K: Resource<DynamicType = ()>,
    {
        let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), &namespace);
        let kind = record.severity.kube_type();
        let message: String = record.message.chars().take(MAX_MESSAGE_CHARS).collect();
        let key = (
            object.uid().unwrap_or_default(),
            kind,
            record.reason.clone(),
            message.clone(),
        );
        let time = Time(now);
        let existing = {
            let mut recent = self.recent.lock().await;
            recent.retain(|_, (_, _, at)| at.elapsed() < CORRELATION_WINDOW);
            recent.get(&key).cloned()
        };
        if let Some((name, count, _)) = existing {
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": time});
            if api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_ok()
            {
                self.recent
                    .lock()
                    .await
                    .insert(key, (name, count + 1, Instant::now()));
                return Ok(());
            }
        }
        let name = format!("{}.{:x}", object.name_any(), now.as_nanosecond());
        let annotations: BTreeMap<String, String> = record.metadata.clone();
        let event = KubeEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(K::api_version(&()).into_owned()),
                kind: Some(K::kind(&()).into_owned()),
                name: Some(object.name_any()),
                namespace: object.namespace(),
                uid: object.uid(),
                resource_version: object.resource_version(),
                field_path: None,
            },
            reason: Some(record.reason.clone()),
            message: Some(message),
            type_: Some(kind.to_owned()),
            count: Some(1),
            first_timestamp: Some(time.clone()),
            last_timestamp: Some(time),
            source: Some(EventSource {
                component: Some(self.controller.clone()),
                host: None,
            }),
            reporting_component: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..KubeEvent::default()
        };
        api.create(&PostParams::default(), &event).await?;
        let mut recent = self.recent.lock().await;
        if recent.len() >= MAX_RECENT {
            recent.clear();
        }
        recent.insert(key, (name, 1, Instant::now()));
        Ok(())
    }
}

/// Posts an event payload; retries server errors and connection failures, but not 429
/// (the receiver's deduplication) nor other client errors.
async fn post_with_retries(http: &reqwest::Client, url: &str, body: &EventPayload) {
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=4 {
        match http.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) if response.status().is_client_error() => {
                tracing::debug!(status = %response.status(), reason = %body.reason, "event not accepted");
                return;
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), attempt, url, "posting an event failed");
            }
            Err(e) => tracing::warn!(error = %e, attempt, url, "posting an event failed"),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::source::v1::OCIRepository;

    #[test]
    fn payload_carries_the_object_and_event_annotations() {
        let mut repo: OCIRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "podinfo", "namespace": "apps", "uid": "u-1", "resourceVersion": "7",
                "annotations": {"event.toolkit.fluxcd.io/team": "a", "other": "x"}},
            "spec": {"url": "oci://r/p", "interval": "1m"}
        }))
        .unwrap();
        repo.metadata.labels = None;
        let record = EventRecord::new(Severity::Info, "NewArtifact", "stored artifact")
            .with_metadata("source.toolkit.fluxcd.io/revision", "latest@sha256:1");
        let body = payload(
            &repo,
            &record,
            "source-controller",
            "pod-1",
            "2026-01-01T00:00:00Z",
        );
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "involvedObject": {"kind": "OCIRepository", "namespace": "apps", "name": "podinfo",
                    "uid": "u-1", "apiVersion": "source.toolkit.fluxcd.io/v1", "resourceVersion": "7"},
                "severity": "info",
                "timestamp": "2026-01-01T00:00:00Z",
                "message": "stored artifact",
                "reason": "NewArtifact",
                "metadata": {"event.toolkit.fluxcd.io/team": "a", "source.toolkit.fluxcd.io/revision": "latest@sha256:1"},
                "reportingController": "source-controller",
                "reportingInstance": "pod-1"
            })
        );
    }
}
