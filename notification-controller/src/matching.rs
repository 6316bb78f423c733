//! Which Alerts an event matches, and what metadata the notification carries
//! (`notification-controller/internal/server/event_handlers.go`). Pure functions.

use std::collections::BTreeMap;

use api::notification::v1beta3::AlertSpec;
use api::notification::{CrossNamespaceObjectReference, EventSeverity};
use regex::Regex;
use runtime::events::{EVENT_ANNOTATION_PREFIX, EventPayload, Severity};

/// An Alert's message filters, compiled once.
#[derive(Debug)]
pub struct MessageFilters {
    inclusion: Vec<Regex>,
    exclusion: Vec<Regex>,
}

impl MessageFilters {
    /// Compiles the Alert's inclusion and exclusion lists; an invalid expression is reported
    /// with the list and the expression.
    pub fn compile(spec: &AlertSpec) -> Result<Self, String> {
        let compile = |list: &Option<Vec<String>>, field: &str| -> Result<Vec<Regex>, String> {
            list.iter()
                .flatten()
                .map(|expr| {
                    Regex::new(expr)
                        .map_err(|e| format!("failed to compile {field} regex '{expr}': {e}"))
                })
                .collect()
        };
        Ok(Self {
            inclusion: compile(&spec.inclusion_list, "inclusionList")?,
            exclusion: compile(&spec.exclusion_list, "exclusionList")?,
        })
    }

    pub fn allows(&self, message: &str) -> bool {
        (self.inclusion.is_empty() || self.inclusion.iter().any(|r| r.is_match(message)))
            && !self.exclusion.iter().any(|r| r.is_match(message))
    }
}

/// Whether a source reference selects the event's object. `labels` are the object's labels,
/// needed only when the source has `matchLabels` (which requires the name `*`).
pub fn source_matches(
    source: &CrossNamespaceObjectReference,
    alert_namespace: &str,
    event: &EventPayload,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let object = &event.involved_object;
    let namespace = source.namespace.as_deref().unwrap_or(alert_namespace);
    if source.kind.as_str() != object.kind || namespace != object.namespace {
        return false;
    }
    if source.name == "*" {
        return match &source.match_labels {
            Some(wanted) if !wanted.is_empty() => {
                labels.is_some_and(|have| wanted.iter().all(|(k, v)| have.get(k) == Some(v)))
            }
            _ => true,
        };
    }
    source.name == object.name
}

/// Whether the Alert wants an event of this severity: `info` takes everything, `error` only
/// errors.
pub fn severity_matches(alert: EventSeverity, event: Severity) -> bool {
    match alert {
        EventSeverity::Info => true,
        EventSeverity::Error => event == Severity::Error,
    }
}

/// The API group of an `apiVersion` (`source.toolkit.fluxcd.io/v1` → `source.toolkit.fluxcd.io`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The metadata a notification shows: event-annotation keys and the object group's keys
/// (without `checksum`, `digest` and `token`), prefixes stripped, merged in Flux's order
/// (event annotations, the Alert's `eventMetadata`, `summary`, then the object group's keys).
pub fn notification_metadata(event: &EventPayload, alert: &AlertSpec) -> BTreeMap<String, String> {
    let group_prefix = format!("{}/", group_of(&event.involved_object.api_version));
    let mut from_annotations = BTreeMap::new();
    let mut from_group = BTreeMap::new();
    for (key, value) in &event.metadata {
        if let Some(short) = key.strip_prefix(EVENT_ANNOTATION_PREFIX) {
            from_annotations.insert(short.to_owned(), value.clone());
        } else if let Some(short) = key.strip_prefix(&group_prefix)
            && !matches!(short, "checksum" | "digest" | "token")
        {
            from_group.insert(short.to_owned(), value.clone());
        }
    }
    let mut merged = from_annotations;
    if let Some(extra) = &alert.event_metadata {
        merged.extend(extra.clone());
    }
    if let Some(summary) = alert.summary.as_ref().filter(|s| !s.is_empty()) {
        merged.insert("summary".to_owned(), summary.clone());
    }
    merged.extend(from_group);
    merged
}

/// The rate-limit key of an event: the object, the message, and (when present) the revision,
/// origin revision and token metadata.
pub fn dedup_key(event: &EventPayload) -> String {
    use sha2::{Digest, Sha256};
    let object = &event.involved_object;
    let mut text = format!(
        "event/name={}/namespace={}/kind={}/message={}",
        object.name, object.namespace, object.kind, event.message
    );
    let group = group_of(&object.api_version);
    for suffix in ["originRevision", "revision", "token"] {
        if let Some(value) = event.metadata.get(&format!("{group}/{suffix}")) {
            text.push('/');
            text.push_str(value);
        }
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::notification::EventSourceKind;
    use serde_json::json;

    fn event(
        kind: &str,
        ns: &str,
        name: &str,
        severity: Severity,
        metadata: serde_json::Value,
    ) -> EventPayload {
        serde_json::from_value(json!({
            "involvedObject": {"kind": kind, "namespace": ns, "name": name, "apiVersion": "source.toolkit.fluxcd.io/v1"},
            "severity": severity, "timestamp": "2026-01-01T00:00:00Z", "message": "stored artifact",
            "reason": "NewArtifact", "metadata": metadata, "reportingController": "source-controller"
        }))
        .unwrap()
    }

    fn source(
        kind: EventSourceKind,
        name: &str,
        namespace: Option<&str>,
        labels: Option<serde_json::Value>,
    ) -> CrossNamespaceObjectReference {
        CrossNamespaceObjectReference {
            api_version: None,
            kind,
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            match_labels: labels.map(|l| serde_json::from_value(l).unwrap()),
        }
    }

    #[test]
    fn sources_match_by_kind_namespace_name_and_labels() {
        let e = event(
            "OCIRepository",
            "apps",
            "podinfo",
            Severity::Info,
            json!({}),
        );
        assert!(source_matches(
            &source(EventSourceKind::OCIRepository, "podinfo", None, None),
            "apps",
            &e,
            None
        ));
        assert!(source_matches(
            &source(EventSourceKind::OCIRepository, "*", None, None),
            "apps",
            &e,
            None
        ));
        assert!(!source_matches(
            &source(EventSourceKind::OCIRepository, "other", None, None),
            "apps",
            &e,
            None
        ));
        assert!(!source_matches(
            &source(EventSourceKind::Kustomization, "*", None, None),
            "apps",
            &e,
            None
        ));
        assert!(!source_matches(
            &source(EventSourceKind::OCIRepository, "*", None, None),
            "flux-system",
            &e,
            None
        ));
        assert!(source_matches(
            &source(EventSourceKind::OCIRepository, "*", Some("apps"), None),
            "flux-system",
            &e,
            None
        ));
        let labelled = source(
            EventSourceKind::OCIRepository,
            "*",
            None,
            Some(json!({"team": "a"})),
        );
        let labels: BTreeMap<String, String> = [("team".to_owned(), "a".to_owned())].into();
        assert!(source_matches(&labelled, "apps", &e, Some(&labels)));
        assert!(!source_matches(
            &labelled,
            "apps",
            &e,
            Some(&BTreeMap::new())
        ));
        assert!(!source_matches(&labelled, "apps", &e, None));
    }

    #[test]
    fn severity_and_message_filters() {
        assert!(severity_matches(EventSeverity::Info, Severity::Info));
        assert!(severity_matches(EventSeverity::Info, Severity::Error));
        assert!(!severity_matches(EventSeverity::Error, Severity::Info));
        let spec: AlertSpec = serde_json::from_value(json!({
            "providerRef": {"name": "slack"}, "eventSources": [],
            "inclusionList": ["^stored"], "exclusionList": ["ignored"]
        }))
        .unwrap();
        let filters = MessageFilters::compile(&spec).unwrap();
        assert!(filters.allows("stored artifact"));
        assert!(!filters.allows("stored but ignored"));
        assert!(!filters.allows("something else"));
        let bad: AlertSpec = serde_json::from_value(json!({
            "providerRef": {"name": "slack"}, "eventSources": [], "exclusionList": ["(unclosed"]
        }))
        .unwrap();
        assert!(
            MessageFilters::compile(&bad)
                .unwrap_err()
                .starts_with("failed to compile exclusionList regex '(unclosed'")
        );
    }

    #[test]
    fn metadata_is_filtered_stripped_and_merged_in_fluxs_order() {
        let e = event(
            "OCIRepository",
            "apps",
            "podinfo",
            Severity::Info,
            json!({
                "source.toolkit.fluxcd.io/revision": "latest@sha256:1",
                "source.toolkit.fluxcd.io/digest": "sha256:2",
                "source.toolkit.fluxcd.io/token": "secret",
                "event.toolkit.fluxcd.io/env": "prod",
                "event.toolkit.fluxcd.io/revision": "from-annotation",
                "unrelated.io/key": "x"
            }),
        );
        let spec: AlertSpec = serde_json::from_value(json!({
            "providerRef": {"name": "slack"}, "eventSources": [],
            "eventMetadata": {"cluster": "eu-1", "env": "from-alert"}, "summary": "deploys"
        }))
        .unwrap();
        let meta = notification_metadata(&e, &spec);
        let expected: BTreeMap<String, String> = [
            ("cluster", "eu-1"),
            ("env", "from-alert"),
            ("revision", "latest@sha256:1"),
            ("summary", "deploys"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(meta, expected);
    }

    #[test]
    fn dedup_keys_depend_on_object_message_and_revision() {
        let a = event(
            "OCIRepository",
            "apps",
            "podinfo",
            Severity::Info,
            json!({"source.toolkit.fluxcd.io/revision": "r1"}),
        );
        let b = event(
            "OCIRepository",
            "apps",
            "podinfo",
            Severity::Info,
            json!({"source.toolkit.fluxcd.io/revision": "r2"}),
        );
        let mut c = a.clone();
        c.timestamp = "2027-01-01T00:00:00Z".into();
        assert_eq!(
            dedup_key(&a),
            dedup_key(&c),
            "the timestamp does not matter"
        );
        assert_ne!(dedup_key(&a), dedup_key(&b));
    }
}
