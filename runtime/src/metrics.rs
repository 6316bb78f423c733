//! The `gotk_*` metrics every Flux controller exposes (`fluxcd/pkg/runtime/metrics`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use api::meta::{Condition, ConditionStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub r#type: String,
    pub status: String,
}

/// Flux's `ExponentialBucketsRange(0.01, 1800, 10)`.
pub fn duration_buckets() -> Vec<f64> {
    let (min, max, count) = (0.01f64, 1800f64, 10);
    let factor = (max / min).powf(1.0 / f64::from(count - 1));
    (0..count).map(|i| min * factor.powi(i)).collect()
}

/// A controller's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    duration: Family<ObjectLabels, Histogram>,
    condition: Family<ConditionLabels, Gauge>,
    suspend: Family<ObjectLabels, Gauge>,
    /// The condition types each object has series for, so that series of conditions that
    /// went away (and of deleted objects) can be removed.
    condition_types: Arc<Mutex<HashMap<ObjectLabels, BTreeSet<String>>>>,
}

const CONDITION_STATUSES: [ConditionStatus; 3] = [
    ConditionStatus::True,
    ConditionStatus::False,
    ConditionStatus::Unknown,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::with_extra(|_| {})
    }

    /// The gotk metrics plus whatever `register` adds to the `gotk_` registry (a controller's
    /// own series, such as the notification-controller's HTTP metrics).
    pub fn with_extra(register: impl FnOnce(&mut Registry)) -> Self {
        let duration = Family::<ObjectLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(duration_buckets())
        });
        let condition = Family::<ConditionLabels, Gauge>::default();
        let suspend = Family::<ObjectLabels, Gauge>::default();
        let mut registry = Registry::with_prefix("gotk");
        registry.register(
            "reconcile_duration_seconds",
            "The duration in seconds of a GitOps Toolkit resource reconciliation.",
            duration.clone(),
        );
        registry.register(
            "reconcile_condition",
            "The current condition status of a GitOps Toolkit resource reconciliation.",
            condition.clone(),
        );
        registry.register(
            "suspend_status",
            "The current suspend status of a GitOps Toolkit resource.",
            suspend.clone(),
        );
        register(&mut registry);
        Self {
            registry: Arc::new(registry),
            duration,
            condition,
            suspend,
            condition_types: Arc::default(),
        }
    }

    pub fn record_duration(&self, object: &ObjectLabels, took: Duration) {
        self.duration
            .get_or_create(object)
            .observe(took.as_secs_f64());
    }

    /// Sets the condition gauges of an object: 1 for each condition's current status, 0 for
    /// the others; the series of condition types it no longer has are removed.
    pub fn record_conditions(&self, object: &ObjectLabels, conditions: &[Condition]) {
        let current: BTreeSet<String> = conditions.iter().map(|c| c.type_.clone()).collect();
        let previous = self
            .condition_types
            .lock()
            .expect("condition types lock")
            .insert(object.clone(), current.clone())
            .unwrap_or_default();
        for gone in previous.difference(&current) {
            self.remove_condition(object, gone);
        }
        for condition in conditions {
            for status in CONDITION_STATUSES {
                self.condition
                    .get_or_create(&condition_labels(object, &condition.type_, status))
                    .set(i64::from(condition.status == status));
            }
        }
    }

    fn remove_condition(&self, object: &ObjectLabels, type_: &str) {
        for status in CONDITION_STATUSES {
            self.condition
                .remove(&condition_labels(object, type_, status));
        }
    }

    pub fn record_suspend(&self, object: &ObjectLabels, suspended: bool) {
        self.suspend.get_or_create(object).set(i64::from(suspended));
    }

    /// Forgets a deleted object's series.
    pub fn forget(&self, object: &ObjectLabels) {
        self.duration.remove(object);
        self.suspend.remove(object);
        let types = self
            .condition_types
            .lock()
            .expect("condition types lock")
            .remove(object)
            .unwrap_or_default();
        for type_ in &types {
            self.remove_condition(object, type_);
        }
    }

    /// The registry in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

fn condition_labels(
    object: &ObjectLabels,
    type_: &str,
    status: ConditionStatus,
) -> ConditionLabels {
    ConditionLabels {
        kind: object.kind.clone(),
        name: object.name.clone(),
        namespace: object.namespace.clone(),
        r#type: type_.to_owned(),
        status: format!("{status:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_span_ten_milliseconds_to_half_an_hour() {
        let b = duration_buckets();
        assert_eq!(b.len(), 10);
        assert!((b[0] - 0.01).abs() < 1e-9 && (b[9] - 1800.0).abs() < 1e-6);
    }

    #[test]
    fn metrics_render_with_flux_names() {
        let m = Metrics::new();
        let o = ObjectLabels {
            kind: "OCIRepository".into(),
            name: "a".into(),
            namespace: "ns".into(),
        };
        m.record_duration(&o, Duration::from_millis(20));
        m.record_suspend(&o, true);
        let ready = Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..Condition::default()
        };
        m.record_conditions(&o, &[ready]);
        let text = m.encode();
        assert!(text.contains("gotk_reconcile_duration_seconds_count{kind=\"OCIRepository\",name=\"a\",namespace=\"ns\"} 1"), "{text}");
        assert!(
            text.contains(
                "gotk_suspend_status{kind=\"OCIRepository\",name=\"a\",namespace=\"ns\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("gotk_reconcile_condition{kind=\"OCIRepository\",name=\"a\",namespace=\"ns\",type=\"Ready\",status=\"True\"} 1"), "{text}");
        assert!(text.contains("status=\"False\"} 0"), "{text}");
    }

    #[test]
    fn series_of_gone_conditions_and_deleted_objects_are_removed() {
        let m = Metrics::new();
        let o = ObjectLabels {
            kind: "Kustomization".into(),
            name: "a".into(),
            namespace: "ns".into(),
        };
        let condition = |type_: &str| Condition {
            type_: type_.into(),
            status: ConditionStatus::True,
            ..Condition::default()
        };
        m.record_conditions(&o, &[condition("Ready"), condition("Stalled")]);
        m.record_duration(&o, Duration::from_millis(5));
        assert!(m.encode().contains("type=\"Stalled\""));
        m.record_conditions(&o, &[condition("Ready")]);
        let text = m.encode();
        assert!(!text.contains("type=\"Stalled\""), "{text}");
        assert!(text.contains("type=\"Ready\",status=\"True\"} 1"), "{text}");
        m.forget(&o);
        let text = m.encode();
        assert!(!text.contains("name=\"a\""), "{text}");
    }
}
