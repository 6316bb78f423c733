//! kustomize's "legacy" output order: kinds that others depend on first, webhooks last, then
//! by group/version/kind, namespace and name.

use crate::resource::{Gvk, ResId, Resource};

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// A kind's place in an ordering with lists of kinds that go first and last: negative for
/// the first ones (in order), positive for the last ones, 0 for any other kind.
pub fn kind_rank(kind: &str, first: &[&str], last: &[&str]) -> i64 {
    if let Some(i) = first.iter().position(|k| *k == kind) {
        return i as i64 - first.len() as i64;
    }
    if let Some(i) = last.iter().position(|k| *k == kind) {
        return i as i64 + 1;
    }
    0
}

/// kustomize's `Gvk.String()`: empty parts shown as `~G`, `~V`, `~K`.
fn gvk_string(gvk: &Gvk) -> String {
    let or = |s: &str, empty: &str| {
        if s.is_empty() {
            empty.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}_{}_{}",
        or(&gvk.group, "~G"),
        or(&gvk.version, "~V"),
        or(&gvk.kind, "~K")
    )
}

fn legacy_key(id: &ResId) -> String {
    let namespace = if id.namespace.is_empty() {
        "~X"
    } else {
        &id.namespace
    };
    let name = if id.name.is_empty() { "~N" } else { &id.name };
    format!("{}|{namespace}|{name}", gvk_string(&id.gvk))
}

/// Sorts in place; equal ids keep their order (kustomize sorts stably).
pub fn legacy_sort(resources: &mut [Resource]) {
    resources.sort_by_cached_key(|r| {
        let id = r.id();
        (
            kind_rank(&id.gvk.kind, ORDER_FIRST, ORDER_LAST),
            gvk_string(&id.gvk),
            legacy_key(&id),
        )
    });
}
