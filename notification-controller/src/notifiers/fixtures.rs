//! Events and targets the notifiers' tests share.

use api::notification::ProviderType;
use runtime::events::EventPayload;
use serde_json::json;

use super::{Request, Target, requests};

pub(super) fn event(severity: &str) -> EventPayload {
    serde_json::from_value(json!({
        "involvedObject": {"kind": "OCIRepository", "namespace": "apps", "name": "podinfo",
            "apiVersion": "source.toolkit.fluxcd.io/v1"},
        "severity": severity, "timestamp": "2026-01-01T00:00:00Z",
        "message": "stored artifact with revision 'latest@sha256:1'\nsecond line",
        "reason": "NewArtifact", "metadata": {"revision": "latest@sha256:1"},
        "reportingController": "source-controller", "reportingInstance": "pod-1"
    }))
    .unwrap()
}

pub(super) fn at(address: &str) -> Target {
    Target {
        address: address.into(),
        ..Target::default()
    }
}

/// The one request `kind` sends for `event`, and its body as JSON (null if it is not JSON).
pub(super) fn one(
    kind: ProviderType,
    target: &Target,
    event: &EventPayload,
) -> (Request, serde_json::Value) {
    let mut all = requests(kind, target, event).unwrap();
    assert_eq!(all.len(), 1, "{kind}");
    let request = all.remove(0);
    let body = serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
    (request, body)
}
