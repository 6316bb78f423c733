//! Health of applied objects, computed as kstatus does (`sigs.k8s.io/cli-utils/pkg/kstatus`):
//! built-in rules for workloads, PVCs, Services, CRDs and Namespaces, and the
//! `observedGeneration` + Ready/Reconciling/Stalled conditions convention for everything else.

use api::kustomize::CustomHealthCheck;
use cel_eval::{CelError, Expression};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Current,
    InProgress,
    Failed,
    NotFound,
}

impl Status {
    /// kstatus' names, as Flux prints them.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "Current",
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::NotFound => "NotFound",
        }
    }
}

fn int(value: &Value, path: &[&str]) -> Option<i64> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))
        .and_then(Value::as_i64)
}

fn string<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

/// The condition of `type_` in `status.conditions`: (status, reason, message).
fn condition<'a>(object: &'a Value, type_: &str) -> Option<(&'a str, &'a str, &'a str)> {
    object
        .get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| {
            (
                c.get("status").and_then(Value::as_str).unwrap_or(""),
                c.get("reason").and_then(Value::as_str).unwrap_or(""),
                c.get("message").and_then(Value::as_str).unwrap_or(""),
            )
        })
}

/// The status of one live object, with a message when it is not Current.
pub fn compute(object: &Value) -> (Status, String) {
    if object
        .get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some()
    {
        return (Status::InProgress, "Resource scheduled for deletion".into());
    }
    let generation = int(object, &["metadata", "generation"]);
    let observed = int(object, &["status", "observedGeneration"]);
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed < generation
    {
        return (
            Status::InProgress,
            format!(
                "{kind} generation is {generation}, but latest observed generation is {observed}",
                kind = string(object, &["kind"]).unwrap_or("")
            ),
        );
    }
    let kind = string(object, &["kind"]).unwrap_or("");
    let group = string(object, &["apiVersion"])
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(g, _)| g);
    match (group, kind) {
        ("apps", "Deployment") => deployment(object, generation, observed),
        ("apps", "StatefulSet") => stateful_set(object, observed),
        ("apps", "DaemonSet") => daemon_set(object, observed),
        ("apps", "ReplicaSet") => replica_set(object),
        ("batch", "Job") => job(object),
        ("", "PersistentVolumeClaim") => match string(object, &["status", "phase"]) {
            Some("Bound") => (Status::Current, String::new()),
            _ => (Status::InProgress, "PVC is not Bound".into()),
        },
        ("", "Service") => {
            let is_lb = string(object, &["spec", "type"]) == Some("LoadBalancer");
            let has_ingress = object
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .is_some_and(|i| !i.is_empty());
            if is_lb && !has_ingress {
                (Status::InProgress, "Pending external IP".into())
            } else {
                (Status::Current, String::new())
            }
        }
        ("", "Namespace") => match string(object, &["status", "phase"]) {
            Some("Terminating") => (Status::InProgress, "Namespace is terminating".into()),
            _ => (Status::Current, String::new()),
        },
        ("", "Pod") => pod(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(("False", reason, message)) = condition(object, "NamesAccepted") {
                return (Status::Failed, format!("{reason}: {message}"));
            }
            match condition(object, "Established") {
                Some(("True", _, _)) => (Status::Current, String::new()),
                _ => (Status::InProgress, "CRD is not established".into()),
            }
        }
        _ => generic(object, generation, observed),
    }
}

/// Any other object: Stalled/Reconciling/Ready conditions if it has them.
fn generic(object: &Value, generation: Option<i64>, observed: Option<i64>) -> (Status, String) {
    if let Some(("True", reason, message)) = condition(object, "Stalled") {
        return (Status::Failed, format!("{reason}: {message}"));
    }
    if let Some(("True", reason, message)) = condition(object, "Reconciling") {
        return (Status::InProgress, format!("{reason}: {message}"));
    }
    match condition(object, "Ready") {
        Some(("True", _, _)) => match (generation, observed, ready_generation(object)) {
            // Without `status.observedGeneration`, a Ready condition stamped with an older
            // generation says nothing about this one: the object has not caught up yet.
            (Some(generation), None, Some(stamped)) if stamped < generation => (
                Status::InProgress,
                format!(
                    "Ready condition is for generation {stamped}, but the generation is {generation}"
                ),
            ),
            _ => (Status::Current, String::new()),
        },
        Some((_, reason, message)) => (Status::InProgress, format!("{reason}: {message}")),
        None => (Status::Current, String::new()),
    }
}

/// The `observedGeneration` the Ready condition carries, if any.
fn ready_generation(object: &Value) -> Option<i64> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?
        .get("observedGeneration")?
        .as_i64()
}

fn deployment(object: &Value, generation: Option<i64>, observed: Option<i64>) -> (Status, String) {
    if generation.is_some() && observed.is_none() {
        return (Status::InProgress, "Deployment not yet observed".into());
    }
    if let Some(("False", "ProgressDeadlineExceeded", _)) = condition(object, "Progressing") {
        return (Status::Failed, "Progress deadline exceeded".into());
    }
    let wanted = int(object, &["spec", "replicas"]).unwrap_or(1);
    let replicas = int(object, &["status", "replicas"]).unwrap_or(0);
    let updated = int(object, &["status", "updatedReplicas"]).unwrap_or(0);
    let ready = int(object, &["status", "readyReplicas"]).unwrap_or(0);
    let available = int(object, &["status", "availableReplicas"]).unwrap_or(0);
    if updated < wanted {
        return (Status::InProgress, format!("Updated: {updated}/{wanted}"));
    }
    if replicas > updated {
        return (
            Status::InProgress,
            format!("Pending termination: {}", replicas - updated),
        );
    }
    if available < wanted {
        return (
            Status::InProgress,
            format!("Available: {available}/{wanted}"),
        );
    }
    if ready < wanted {
        return (Status::InProgress, format!("Ready: {ready}/{wanted}"));
    }
    (Status::Current, String::new())
}

fn stateful_set(object: &Value, observed: Option<i64>) -> (Status, String) {
    if observed.is_none() {
        return (Status::InProgress, "StatefulSet not yet observed".into());
    }
    let wanted = int(object, &["spec", "replicas"]).unwrap_or(1);
    let ready = int(object, &["status", "readyReplicas"]).unwrap_or(0);
    let current = int(object, &["status", "currentReplicas"]).unwrap_or(0);
    if ready < wanted {
        return (Status::InProgress, format!("Ready: {ready}/{wanted}"));
    }
    let rolling =
        string(object, &["spec", "updateStrategy", "type"]).is_none_or(|t| t == "RollingUpdate");
    if rolling && wanted > 0 {
        let update = string(object, &["status", "updateRevision"]);
        if update.is_some() && update != string(object, &["status", "currentRevision"]) {
            return (Status::InProgress, "Rolling update in progress".into());
        }
        if current < wanted {
            return (Status::InProgress, format!("Current: {current}/{wanted}"));
        }
    }
    (Status::Current, String::new())
}

fn daemon_set(object: &Value, observed: Option<i64>) -> (Status, String) {
    if observed.is_none() {
        return (Status::InProgress, "DaemonSet not yet observed".into());
    }
    let desired = int(object, &["status", "desiredNumberScheduled"]).unwrap_or(0);
    let updated = int(object, &["status", "updatedNumberScheduled"]).unwrap_or(0);
    let available = int(object, &["status", "numberAvailable"]).unwrap_or(0);
    let ready = int(object, &["status", "numberReady"]).unwrap_or(0);
    if updated < desired || available < desired || ready < desired {
        return (
            Status::InProgress,
            format!("Available: {available}/{desired}"),
        );
    }
    (Status::Current, String::new())
}

fn replica_set(object: &Value) -> (Status, String) {
    let wanted = int(object, &["spec", "replicas"]).unwrap_or(1);
    let available = int(object, &["status", "availableReplicas"]).unwrap_or(0);
    let ready = int(object, &["status", "readyReplicas"]).unwrap_or(0);
    if available < wanted || ready < wanted {
        return (
            Status::InProgress,
            format!("Available: {available}/{wanted}"),
        );
    }
    (Status::Current, String::new())
}

fn job(object: &Value) -> (Status, String) {
    if let Some(("True", _, message)) = condition(object, "Failed") {
        return (Status::Failed, format!("Job Failed: {message}"));
    }
    if let Some(("True", _, _)) = condition(object, "Complete") {
        return (Status::Current, String::new());
    }
    (Status::InProgress, "Job in progress".into())
}

fn pod(object: &Value) -> (Status, String) {
    match string(object, &["status", "phase"]) {
        Some("Succeeded") => (Status::Current, String::new()),
        Some("Failed") => (Status::Failed, "Pod has failed".into()),
        Some("Running") if matches!(condition(object, "Ready"), Some(("True", _, _))) => {
            (Status::Current, String::new())
        }
        _ => (Status::InProgress, "Pod is not ready".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_checks_follow_fluxs_order() {
        let check = CustomCheck::parse(&CustomHealthCheck {
            api_version: "example.com/v1".into(),
            kind: Some("Widget".into()),
            current: "status.phase == 'Ready'".into(),
            in_progress: Some("status.phase == 'Starting'".into()),
            failed: Some("status.phase == 'Broken' || status.phase == 'Starting'".into()),
        })
        .unwrap();
        assert!(check.applies_to("example.com/v1", "Widget"));
        assert!(!check.applies_to("example.com/v2", "Widget"));
        let widget = |phase: &str, observed: i64| {
            serde_json::json!({"metadata": {"generation": 2},
                "status": {"phase": phase, "observedGeneration": observed}})
        };
        assert_eq!(check.evaluate(&widget("Ready", 2)), Ok(Status::Current));
        assert_eq!(check.evaluate(&widget("Ready", 1)), Ok(Status::InProgress));
        assert_eq!(check.evaluate(&widget("Broken", 2)), Ok(Status::Failed));
        // inProgress wins over failed.
        assert_eq!(
            check.evaluate(&widget("Starting", 2)),
            Ok(Status::InProgress)
        );
        assert_eq!(check.evaluate(&widget("Other", 2)), Ok(Status::InProgress));
        let broken = CustomHealthCheck {
            api_version: "v1".into(),
            kind: None,
            current: "status ==".into(),
            in_progress: None,
            failed: None,
        };
        assert!(CustomCheck::parse(&broken).is_err());
    }
    use serde_json::json;

    #[test]
    fn deployments() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1}});
        assert_eq!(compute(&d).0, Status::InProgress);
        d["status"] = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 1, "availableReplicas": 1});
        assert_eq!(compute(&d), (Status::InProgress, "Available: 1/2".into()));
        d["status"]["readyReplicas"] = json!(2);
        d["status"]["availableReplicas"] = json!(2);
        assert_eq!(compute(&d).0, Status::Current);
        let zero = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": 1}, "spec": {"replicas": 0},
            "status": {"observedGeneration": 1}});
        assert_eq!(compute(&zero).0, Status::Current);
        let stuck = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}});
        assert_eq!(compute(&stuck).0, Status::Failed);
    }

    #[test]
    fn a_ready_condition_from_an_older_generation_is_in_progress() {
        let widget = |stamped: i64| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"generation": 3}, "status": {"conditions": [
                    {"type": "Ready", "status": "True", "observedGeneration": stamped}]}})
        };
        assert_eq!(
            compute(&widget(2)),
            (
                Status::InProgress,
                "Ready condition is for generation 2, but the generation is 3".into()
            )
        );
        assert_eq!(compute(&widget(3)).0, Status::Current);
        let unstamped = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"generation": 3},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(compute(&unstamped).0, Status::Current);
    }

    #[test]
    fn conditions_convention_and_builtins() {
        let cr = |conditions: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": conditions}})
        };
        assert_eq!(
            compute(&cr(json!([{"type": "Ready", "status": "True"}]))).0,
            Status::Current
        );
        assert_eq!(
            compute(&cr(json!([{"type": "Ready", "status": "False"}]))).0,
            Status::InProgress
        );
        assert_eq!(
            compute(&cr(json!([{"type": "Stalled", "status": "True"}]))).0,
            Status::Failed
        );
        assert_eq!(
            compute(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).0,
            Status::Current
        );
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(compute(&crd).0, Status::Current);
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {}});
        assert_eq!(compute(&job).0, Status::InProgress);
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}});
        assert_eq!(compute(&pvc).0, Status::Current);
    }
}

/// `spec.healthCheckExprs`: CEL over the object's fields for the objects of one kind.
#[derive(Debug)]
pub struct CustomCheck {
    api_version: String,
    kind: Option<String>,
    in_progress: Option<Expression>,
    failed: Option<Expression>,
    current: Expression,
}

impl CustomCheck {
    /// Parses the expressions of one entry; the error names the expression.
    pub fn parse(check: &CustomHealthCheck) -> Result<Self, CelError> {
        let optional = |source: &Option<String>| {
            source
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(Expression::parse)
                .transpose()
        };
        Ok(Self {
            api_version: check.api_version.clone(),
            kind: check.kind.clone(),
            in_progress: optional(&check.in_progress)?,
            failed: optional(&check.failed)?,
            current: Expression::parse(&check.current)?,
        })
    }

    pub fn applies_to(&self, api_version: &str, kind: &str) -> bool {
        self.api_version == api_version && self.kind.as_deref().is_none_or(|k| k == kind)
    }

    /// Flux's order: an observedGeneration behind the generation is InProgress; then the
    /// first of inProgress, failed, current that holds; InProgress when none does.
    pub fn evaluate(&self, object: &Value) -> Result<Status, CelError> {
        if let (Some(observed), Some(generation)) = (
            int(object, &["status", "observedGeneration"]),
            int(object, &["metadata", "generation"]),
        ) && observed != generation
        {
            return Ok(Status::InProgress);
        }
        let checks = [
            (self.in_progress.as_ref(), Status::InProgress),
            (self.failed.as_ref(), Status::Failed),
            (Some(&self.current), Status::Current),
        ];
        for (expression, status) in checks {
            if let Some(expression) = expression
                && expression.evaluate_bool_on_fields(object)?
            {
                return Ok(status);
            }
        }
        Ok(Status::InProgress)
    }
}
