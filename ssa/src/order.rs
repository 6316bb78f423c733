//! The order objects are applied in (`fluxcd/pkg/ssa`): cluster-wide definitions first, in
//! stages that are waited on, then everything else by kind.

use kustomize::Resource;

/// Kinds applied first, in this order, and kinds applied last.
const FIRST: &[&str] = &[
    "CustomResourceDefinition",
    "Namespace",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Which stage an object is applied in: 0 for the definitions others need (CRDs,
/// Namespaces, ClusterRoles), 1 for `*Class` kinds, 2 for the rest. Stages 0 and 1 are
/// waited on before the next starts.
pub fn stage(kind: &str) -> usize {
    match kind {
        "CustomResourceDefinition" | "Namespace" | "ClusterRole" => 0,
        k if k.ends_with("Class") => 1,
        _ => 2,
    }
}

/// Sorts into apply order: by kind rank, then kind, namespace and name.
pub fn sort(resources: &mut [Resource]) {
    resources.sort_by_cached_key(|r| {
        (
            kustomize::kind_rank(r.kind(), FIRST, LAST),
            r.kind().to_string(),
            r.namespace(),
            r.name(),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(kind: &str, name: &str) -> Resource {
        let object = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
        Resource::new(object.as_object().unwrap().clone(), "test".into())
    }

    #[test]
    fn definitions_first_webhooks_last_custom_kinds_between() {
        let mut resources = vec![
            resource("ValidatingWebhookConfiguration", "v"),
            resource("Deployment", "d"),
            resource("Widget", "w"),
            resource("Service", "s"),
            resource("Namespace", "n"),
            resource("CustomResourceDefinition", "c"),
            resource("ConfigMap", "b"),
            resource("ConfigMap", "a"),
        ];
        sort(&mut resources);
        let order: Vec<String> = resources.iter().map(|r| r.name()).collect();
        assert_eq!(order, ["c", "n", "a", "b", "s", "d", "w", "v"]);
        assert_eq!(stage("Namespace"), 0);
        assert_eq!(stage("StorageClass"), 1);
        assert_eq!(stage("Deployment"), 2);
    }
}
