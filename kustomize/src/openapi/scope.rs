//! Which kinds are namespaced, as far as a custom OpenAPI document says. kustomize answers
//! from a fixed table of built-in kinds first, then from the schema in use: a custom
//! document's API paths (`.../namespaces/{namespace}/...` or not) decide for the kinds it
//! serves. The answer is read where object identities are compared, all over the build, so
//! the document in use is published here for the build running on this thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// (apiVersion, kind) → namespaced, from a custom document's paths.
pub type Namespaced = HashMap<(String, String), bool>;

thread_local! {
    static CUSTOM: RefCell<Option<Rc<Namespaced>>> = const { RefCell::new(None) };
}

/// Publishes a custom document's scopes until dropped (the end of the build).
pub struct Published {
    previous: Option<Rc<Namespaced>>,
}

impl Published {
    pub fn new(scopes: Rc<Namespaced>) -> Published {
        let previous = CUSTOM.with(|c| c.borrow_mut().replace(scopes));
        Published { previous }
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CUSTOM.with(|c| *c.borrow_mut() = previous);
    }
}

/// What the custom document in use says of a kind kustomize has no fixed answer for:
/// `Some(true)` cluster-scoped, `Some(false)` namespaced, `None` it does not say.
pub fn custom_cluster_scoped(group: &str, version: &str, kind: &str) -> Option<bool> {
    CUSTOM.with(|c| {
        let custom = c.borrow();
        let scopes = custom.as_ref().filter(|s| !s.is_empty())?;
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        if is_precomputed(&api_version, kind) {
            return None;
        }
        scopes
            .get(&(api_version, kind.to_string()))
            .map(|namespaced| !namespaced)
    })
}

/// Whether kustomize knows this type's scope without reading any schema (kyaml's
/// precomputed table). Other types make it read the schema in use.
pub fn is_precomputed(api_version: &str, kind: &str) -> bool {
    PRECOMPUTED
        .iter()
        .any(|(v, k)| *v == api_version && *k == kind)
}

/// kyaml's `precomputedIsNamespaceScoped` keys.
const PRECOMPUTED: &[(&str, &str)] = &[
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("apps/v1", "ControllerRevision"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"),
    ("autoscaling/v1", "Scale"),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"),
    ("batch/v1", "CronJob"),
    ("batch/v1", "Job"),
    ("batch/v1beta1", "CronJob"),
    ("certificates.k8s.io/v1", "CertificateSigningRequest"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
    ("coordination.k8s.io/v1", "Lease"),
    ("coordination.k8s.io/v1beta1", "Lease"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("discovery.k8s.io/v1beta1", "EndpointSlice"),
    ("events.k8s.io/v1", "Event"),
    ("events.k8s.io/v1beta1", "Event"),
    ("extensions/v1beta1", "Ingress"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "PriorityLevelConfiguration",
    ),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("networking.k8s.io/v1beta1", "Ingress"),
    ("networking.k8s.io/v1beta1", "IngressClass"),
    ("node.k8s.io/v1", "RuntimeClass"),
    ("node.k8s.io/v1beta1", "RuntimeClass"),
    ("policy/v1", "PodDisruptionBudget"),
    ("policy/v1beta1", "PodDisruptionBudget"),
    ("policy/v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "Role"),
    ("rbac.authorization.k8s.io/v1beta1", "RoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("storage.k8s.io/v1", "CSINode"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("storage.k8s.io/v1", "VolumeAttachment"),
    ("storage.k8s.io/v1beta1", "CSIDriver"),
    ("storage.k8s.io/v1beta1", "CSINode"),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"),
    ("storage.k8s.io/v1beta1", "StorageClass"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment"),
    ("v1", "ComponentStatus"),
    ("v1", "ConfigMap"),
    ("v1", "Endpoints"),
    ("v1", "Event"),
    ("v1", "LimitRange"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "NodeProxyOptions"),
    ("v1", "PersistentVolume"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Pod"),
    ("v1", "PodAttachOptions"),
    ("v1", "PodExecOptions"),
    ("v1", "PodPortForwardOptions"),
    ("v1", "PodProxyOptions"),
    ("v1", "PodTemplate"),
    ("v1", "ReplicationController"),
    ("v1", "ResourceQuota"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "ServiceProxyOptions"),
];
