//! Waiting on live objects: until they are healthy (kstatus or custom checks) or gone.

use std::time::Duration;

use serde_json::Value;

use super::{Applier, ApplyError};
use crate::health;
use crate::inventory::ObjectRef;

impl Applier<'_> {
    /// Waits until every object is Current (stages 0 and 1: CRDs established, namespaces
    /// active) before the next stage is applied.
    pub(super) async fn wait_current(
        &self,
        refs: &[ObjectRef],
        timeout: Duration,
    ) -> Result<(), ApplyError> {
        self.wait_healthy(refs, timeout, Duration::from_millis(500))
            .await
            .map_err(ApplyError::Wait)
    }

    /// Waits until discovery serves every kind `kinds` names. The API server marks a CRD
    /// Established before its discovery document lists the kind, so a custom resource in
    /// the next stage could otherwise fail to resolve right after its CRD was created.
    pub(super) async fn wait_discoverable(
        &self,
        kinds: &[DefinedKind],
        timeout: Duration,
    ) -> Result<(), ApplyError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for (group, version, kind) in kinds {
            loop {
                let found = self
                    .discovery
                    .resolve(&self.discovery_client, group, version, kind)
                    .await;
                match found {
                    Ok(_) => break,
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(ApplyError::Wait(format!(
                            "timeout waiting for the API server to serve {group}/{version} {kind}: {e}"
                        )));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        }
        Ok(())
    }

    /// Polls until every object is Current; fails early once only Failed and Current
    /// remain, with Flux's messages.
    pub async fn wait_healthy(
        &self,
        refs: &[ObjectRef],
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), String> {
        self.wait_until(refs, timeout, poll, Progress::healthy)
            .await
    }

    /// Waits until none of `refs` exists any more; past `timeout`, fails naming those left.
    pub async fn wait_terminated(
        &self,
        refs: &[ObjectRef],
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), String> {
        self.wait_until(refs, timeout, poll, Progress::terminated)
            .await
    }

    /// Reads the statuses of `refs` until `progress` says they are done or failed; past
    /// `timeout`, what is still pending is the error. The first read after 100 ms, then twice
    /// as long each time up to `poll`: most objects are ready within a second of their apply,
    /// and a worker waiting serves nothing else meanwhile.
    async fn wait_until(
        &self,
        refs: &[ObjectRef],
        timeout: Duration,
        poll: Duration,
        progress: fn(&[(&ObjectRef, health::Status)]) -> Progress,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(100).min(poll);
        loop {
            let mut statuses = Vec::with_capacity(refs.len());
            for reference in refs {
                statuses.push((reference, self.status_of(reference).await.0));
            }
            match progress(&statuses) {
                Progress::Done => return Ok(()),
                Progress::Failed(message) => return Err(message),
                Progress::Pending(message) if tokio::time::Instant::now() >= deadline => {
                    return Err(message);
                }
                Progress::Pending(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(poll);
                }
            }
        }
    }

    /// The kstatus of one live object.
    pub async fn status_of(&self, reference: &ObjectRef) -> (health::Status, String) {
        let Ok(api) = self.api_for(reference).await else {
            return (health::Status::NotFound, "kind not found".into());
        };
        match api.get_opt(&reference.name).await {
            Ok(Some(object)) => {
                let value = serde_json::to_value(&object).unwrap_or_default();
                status_by_checks(&value, self.custom_checks)
            }
            Ok(None) => (health::Status::NotFound, "not found".into()),
            Err(e) => (health::Status::InProgress, e.to_string()),
        }
    }
}

/// (group, version, kind) of a custom resource a CRD defines.
pub(super) type DefinedKind = (String, String, String);

/// The kinds a CustomResourceDefinition serves: one per served version.
pub(super) fn defined_kinds(crd: &serde_json::Map<String, Value>) -> Vec<DefinedKind> {
    let spec = &crd.get("spec").cloned().unwrap_or_default();
    let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str()) else {
        return Vec::new();
    };
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|version| version["served"].as_bool() != Some(false))
        .filter_map(|version| version["name"].as_str())
        .map(|version| (group.to_string(), version.to_string(), kind.to_string()))
        .collect()
}

/// Where the objects waited for stand, with the message a wait ends with if it ends here.
#[derive(Debug, PartialEq)]
enum Progress {
    Done,
    /// Waiting longer will not help.
    Failed(String),
    Pending(String),
}

impl Progress {
    /// Toward every object Current; only Failed objects left (besides Current ones) fail it
    /// early.
    fn healthy(statuses: &[(&ObjectRef, health::Status)]) -> Self {
        let mut pending = Vec::new();
        let mut failed = 0;
        for (reference, status) in statuses {
            if *status != health::Status::Current {
                failed += usize::from(*status == health::Status::Failed);
                pending.push(format!(
                    "{} status: '{}'",
                    reference.display(),
                    status.as_str()
                ));
            }
        }
        if pending.is_empty() {
            Progress::Done
        } else if failed == pending.len() {
            Progress::Failed(format!(
                "failed early due to stalled resources: [{}]",
                pending.join(", ")
            ))
        } else {
            Progress::Pending(format!("timeout waiting for: [{}]", pending.join(", ")))
        }
    }

    /// Toward every object gone.
    fn terminated(statuses: &[(&ObjectRef, health::Status)]) -> Self {
        let left: Vec<String> = statuses
            .iter()
            .filter(|(_, status)| *status != health::Status::NotFound)
            .map(|(reference, _)| reference.display())
            .collect();
        if left.is_empty() {
            Progress::Done
        } else {
            Progress::Pending(format!(
                "timeout waiting for termination of: [{}]",
                left.join(", ")
            ))
        }
    }
}

/// The status of a live object: by the first custom check for its kind, else kstatus.
fn status_by_checks(
    object: &Value,
    custom_checks: &[health::CustomCheck],
) -> (health::Status, String) {
    let type_of = |field: &str| object.get(field).and_then(|v| v.as_str()).unwrap_or("");
    let custom = custom_checks
        .iter()
        .find(|check| check.applies_to(type_of("apiVersion"), type_of("kind")));
    match custom.map(|check| check.evaluate(object)) {
        Some(Ok(status)) => (status, String::new()),
        Some(Err(e)) => (health::Status::InProgress, e.to_string()),
        None => health::compute(object),
    }
}

#[cfg(test)]
mod tests {
    use api::kustomize::CustomHealthCheck;
    use serde_json::json;

    use super::super::test_support::reference;
    use super::*;
    use crate::health::{CustomCheck, Status};

    #[test]
    fn a_crd_defines_one_kind_per_served_version() {
        let crd = json!({"kind": "CustomResourceDefinition", "spec": {
            "group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true}, {"name": "v1beta1", "served": false},
                {"name": "v2"}]}});
        let kinds = defined_kinds(crd.as_object().unwrap());
        let names: Vec<_> = kinds
            .iter()
            .map(|(g, v, k)| format!("{g}/{v} {k}"))
            .collect();
        assert_eq!(names, ["example.com/v1 Widget", "example.com/v2 Widget"]);
        assert!(defined_kinds(json!({"spec": {}}).as_object().unwrap()).is_empty());
    }

    #[test]
    fn health_waits_end_when_all_are_current_or_only_failed_ones_are_left() {
        let a = reference("Deployment", "apps", "a");
        let b = reference("Deployment", "apps", "b");
        assert_eq!(
            Progress::healthy(&[(&a, Status::Current), (&b, Status::Current)]),
            Progress::Done
        );
        assert_eq!(Progress::healthy(&[]), Progress::Done);
        assert_eq!(
            Progress::healthy(&[(&a, Status::Failed), (&b, Status::Current)]),
            Progress::Failed(
                "failed early due to stalled resources: [Deployment/apps/a status: 'Failed']"
                    .into()
            )
        );
        assert_eq!(
            Progress::healthy(&[(&a, Status::Failed), (&b, Status::InProgress)]),
            Progress::Pending(
                "timeout waiting for: [Deployment/apps/a status: 'Failed', Deployment/apps/b status: 'InProgress']"
                    .into()
            )
        );
        assert_eq!(
            Progress::healthy(&[(&a, Status::NotFound)]),
            Progress::Pending("timeout waiting for: [Deployment/apps/a status: 'NotFound']".into())
        );
    }

    #[test]
    fn termination_waits_end_when_nothing_is_found() {
        let a = reference("Deployment", "apps", "a");
        let b = reference("Namespace", "", "b");
        assert_eq!(
            Progress::terminated(&[(&a, Status::NotFound), (&b, Status::NotFound)]),
            Progress::Done
        );
        assert_eq!(
            Progress::terminated(&[(&a, Status::Failed), (&b, Status::InProgress)]),
            Progress::Pending(
                "timeout waiting for termination of: [Deployment/apps/a, Namespace/b]".into()
            )
        );
    }

    #[test]
    fn custom_checks_decide_for_their_kind_and_kstatus_for_the_rest() {
        let checks = [CustomCheck::parse(&CustomHealthCheck {
            api_version: "example.com/v1".into(),
            kind: Some("Widget".into()),
            current: "status.phase == 'Ready'".into(),
            in_progress: None,
            failed: Some("status.phase == 'Broken'".into()),
        })
        .unwrap()];
        let widget = |phase: &str| json!({"apiVersion": "example.com/v1", "kind": "Widget", "status": {"phase": phase}});
        assert_eq!(
            status_by_checks(&widget("Ready"), &checks),
            (Status::Current, String::new())
        );
        assert_eq!(
            status_by_checks(&widget("Broken"), &checks).0,
            Status::Failed
        );
        let (status, message) = status_by_checks(
            &json!({"apiVersion": "example.com/v1", "kind": "Widget"}),
            &checks,
        );
        assert_eq!(status, Status::InProgress);
        assert!(!message.is_empty());
        let terminating = json!({"apiVersion": "example.com/v2", "kind": "Widget",
            "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Ready"}});
        assert_eq!(
            status_by_checks(&terminating, &checks),
            health::compute(&terminating)
        );
        assert_eq!(
            status_by_checks(&terminating, &checks).0,
            Status::InProgress
        );
    }
}
