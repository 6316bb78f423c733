//! A built resource made ready to apply: its kind's API found, placed in a namespace,
//! labelled with its owner, native defaults filled in.

use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kustomize::Resource;
use serde_json::{Value, json};

use super::{Applier, ApplyError, Manager, api_reason};
use crate::inventory::ObjectRef;

/// One object prepared for apply.
pub(super) struct Prepared {
    pub(super) object: Value,
    pub(super) reference: ObjectRef,
    pub(super) resource: ApiResource,
    pub(super) namespaced: bool,
}

impl Prepared {
    /// Where the object lives: `<apiVersion>/<plural>/<namespace>`.
    pub(super) fn collection(&self) -> String {
        let namespace = if self.namespaced {
            self.reference.namespace.as_str()
        } else {
            ""
        };
        format!(
            "{}/{}/{namespace}",
            self.resource.api_version, self.resource.plural
        )
    }

    /// The object's key in the applied cache.
    pub(super) fn cache_key(&self) -> String {
        format!("{}/{}", self.collection(), self.reference.name)
    }
}

impl Applier<'_> {
    pub(super) fn api(&self, prepared: &Prepared) -> Api<DynamicObject> {
        self.api_in(
            &prepared.resource,
            prepared.namespaced,
            &prepared.reference.namespace,
        )
    }

    pub(super) async fn prepare_owned(&self, resource: Resource) -> Result<Prepared, ApplyError> {
        self.prepare(&resource).await
    }

    async fn prepare(&self, resource: &Resource) -> Result<Prepared, ApplyError> {
        let mut reference = ObjectRef::of(resource);
        let mut object = Value::Object(resource.object.clone());
        let (api_resource, namespaced) = self.resolve(&reference).await.map_err(|e| {
            let (reason, message) = api_reason(&e);
            ApplyError::DryRun {
                object: reference.display(),
                reason,
                message: format!(
                    "no matches for kind \"{}\" in version \"{}\": {message}",
                    reference.kind,
                    reference.api_version()
                ),
            }
        })?;
        place(&mut object, &mut reference, namespaced);
        label(
            &mut object,
            self.manager,
            &self.owner_name,
            &self.owner_namespace,
        );
        set_native_defaults(&mut object);
        Ok(Prepared {
            object,
            reference,
            resource: api_resource,
            namespaced,
        })
    }
}

/// A namespaced object without a namespace goes to `default`; a cluster-scoped one loses
/// any namespace it names.
fn place(object: &mut Value, reference: &mut ObjectRef, namespaced: bool) {
    if namespaced && reference.namespace.is_empty() {
        reference.namespace = "default".into();
        object["metadata"]["namespace"] = json!("default");
    } else if !namespaced && !reference.namespace.is_empty() {
        reference.namespace.clear();
        if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
            metadata.remove("namespace");
        }
    }
}

/// The owner labels prune and the inventory rely on.
fn label(object: &mut Value, manager: Manager, owner_name: &str, owner_namespace: &str) {
    let labels = object["metadata"]
        .as_object_mut()
        .expect("metadata is a map")
        .entry("labels")
        .or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[manager.name_label] = json!(owner_name);
    labels[manager.namespace_label] = json!(owner_namespace);
}

/// Fills in `protocol: TCP` on Service and container ports, as Flux's
/// `SetNativeKindsDefaults`: server-side apply on older API servers refuses ports without
/// it (the protocol is part of the list's key).
fn set_native_defaults(object: &mut Value) {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let default_protocol = |ports: Option<&mut Value>| {
        for port in ports.and_then(Value::as_array_mut).into_iter().flatten() {
            if let Value::Object(port) = port {
                port.entry("protocol").or_insert_with(|| json!("TCP"));
            }
        }
    };
    if kind == "Service" {
        default_protocol(object.pointer_mut("/spec/ports"));
        return;
    }
    let pod_spec = match kind.as_str() {
        "Pod" => "/spec",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return,
    };
    for list in ["containers", "initContainers"] {
        let containers = object.pointer_mut(&format!("{pod_spec}/{list}"));
        for container in containers
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_protocol(container.get_mut("ports"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::reference;
    use super::*;
    use crate::KUSTOMIZE_CONTROLLER;

    #[test]
    fn namespaced_objects_default_to_default_and_cluster_scoped_ones_have_none() {
        let mut object = json!({"kind": "Deployment", "metadata": {"name": "a"}});
        let mut deployment = reference("Deployment", "", "a");
        place(&mut object, &mut deployment, true);
        assert_eq!(deployment.namespace, "default");
        assert_eq!(object["metadata"]["namespace"], "default");

        let mut object =
            json!({"kind": "ClusterRole", "metadata": {"name": "r", "namespace": "x"}});
        let mut role = reference("ClusterRole", "x", "r");
        place(&mut object, &mut role, false);
        assert_eq!(role.namespace, "");
        assert_eq!(
            object,
            json!({"kind": "ClusterRole", "metadata": {"name": "r"}})
        );

        let mut object = json!({"metadata": {"name": "a", "namespace": "apps"}});
        let mut kept = reference("Deployment", "apps", "a");
        place(&mut object, &mut kept, true);
        assert_eq!(
            (kept.namespace.as_str(), &object["metadata"]["namespace"]),
            ("apps", &json!("apps"))
        );
    }

    #[test]
    fn owner_labels_join_or_replace_the_labels() {
        let mut object = json!({"metadata": {"labels": {"app": "a"}}});
        label(&mut object, KUSTOMIZE_CONTROLLER, "podinfo", "flux-system");
        assert_eq!(
            object["metadata"]["labels"],
            json!({"app": "a", "kustomize.toolkit.fluxcd.io/name": "podinfo", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"})
        );
        let mut object = json!({"metadata": {"labels": null}});
        label(&mut object, KUSTOMIZE_CONTROLLER, "podinfo", "flux-system");
        assert_eq!(
            object["metadata"]["labels"],
            json!({"kustomize.toolkit.fluxcd.io/name": "podinfo", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"})
        );
    }

    #[test]
    fn ports_get_tcp_unless_they_name_a_protocol() {
        let mut service = json!({"kind": "Service", "spec": {"ports": [
            {"port": 80}, {"port": 53, "protocol": "UDP"}]}});
        set_native_defaults(&mut service);
        assert_eq!(service["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(service["spec"]["ports"][1]["protocol"], "UDP");

        let mut cron = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"ports": [{"containerPort": 8080}]}],
            "initContainers": [{"ports": [{"containerPort": 9090}]}]}}}}}});
        set_native_defaults(&mut cron);
        let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["initContainers"][0]["ports"][0]["protocol"], "TCP");

        let other = json!({"kind": "ConfigMap", "spec": {"ports": [{"port": 80}]}});
        let mut unchanged = other.clone();
        set_native_defaults(&mut unchanged);
        assert_eq!(unchanged, other);
    }

    #[test]
    fn collections_and_cache_keys_leave_out_the_namespace_of_cluster_scoped_kinds() {
        let deployments = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
        };
        let prepared = |namespaced| Prepared {
            object: json!({}),
            reference: reference("Deployment", "apps", "a"),
            resource: deployments.clone(),
            namespaced,
        };
        assert_eq!(prepared(true).collection(), "apps/v1/deployments/apps");
        assert_eq!(prepared(true).cache_key(), "apps/v1/deployments/apps/a");
        assert_eq!(prepared(false).cache_key(), "apps/v1/deployments//a");
    }
}
