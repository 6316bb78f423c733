//! Name references: once names have changed (prefixes, suffixes, hashes), fields that name
//! another object of the build follow it, as kustomize's `nameReference` configuration.

use crate::config::NameBackReference;
use crate::fieldspec::{POD_SPEC_PATHS, visit_path, walkable};
use crate::resource::Resource;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Where one kind is referenced from: pod-spec-relative paths (for every workload) and
/// (referrer kind, path) pairs.
struct Rule {
    referenced: &'static str,
    pod_paths: &'static [&'static str],
    paths: &'static [(&'static str, &'static str)],
}

const RULES: &[Rule] = &[
    Rule {
        referenced: "ConfigMap",
        pod_paths: &[
            "volumes/configMap/name",
            "volumes/projected/sources/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
        ],
        paths: &[],
    },
    Rule {
        referenced: "Secret",
        pod_paths: &[
            "volumes/secret/secretName",
            "volumes/projected/sources/secret/name",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
        ],
        paths: &[
            ("ServiceAccount", "imagePullSecrets/name"),
            ("ServiceAccount", "secrets/name"),
            ("Ingress", "spec/tls/secretName"),
        ],
    },
    Rule {
        referenced: "ServiceAccount",
        pod_paths: &["serviceAccountName"],
        paths: &[],
    },
    Rule {
        referenced: "PersistentVolumeClaim",
        pod_paths: &["volumes/persistentVolumeClaim/claimName"],
        paths: &[],
    },
    Rule {
        referenced: "PersistentVolume",
        pod_paths: &[],
        paths: &[("PersistentVolumeClaim", "spec/volumeName")],
    },
    Rule {
        referenced: "PriorityClass",
        pod_paths: &["priorityClassName"],
        paths: &[],
    },
    Rule {
        referenced: "StorageClass",
        pod_paths: &[],
        paths: &[
            ("PersistentVolumeClaim", "spec/storageClassName"),
            ("PersistentVolume", "spec/storageClassName"),
            (
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
            ),
        ],
    },
    Rule {
        referenced: "Service",
        pod_paths: &[],
        paths: &[
            ("StatefulSet", "spec/serviceName"),
            ("Ingress", "spec/rules/http/paths/backend/service/name"),
            ("Ingress", "spec/defaultBackend/service/name"),
            ("Ingress", "spec/rules/http/paths/backend/serviceName"),
            ("Ingress", "spec/backend/serviceName"),
            ("APIService", "spec/service/name"),
        ],
    },
];

/// Paths kustomize's name-reference pass walks besides pod specs, by referrer group ("":
/// any) and kind. Only the fields before the last matter here (see `check_walked_paths`),
/// so one path stands for all that share them.
const WALKED: &[(&str, &str, &str)] = &[
    ("", "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    (
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates/spec/storageClassName",
    ),
    ("", "Ingress", "metadata/annotations/auth-secret"),
    ("", "Ingress", "spec/backend/serviceName"),
    ("", "Ingress", "spec/defaultBackend/service/name"),
    ("", "Ingress", "spec/rules/http/paths/backend/service/name"),
    ("", "Ingress", "spec/tls/secretName"),
    ("apiregistration.k8s.io", "APIService", "spec/service/name"),
    ("", "Role", "rules/resourceNames"),
    ("", "ClusterRole", "rules/resourceNames"),
    ("rbac.authorization.k8s.io", "RoleBinding", "roleRef/name"),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "roleRef/name",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "webhooks/clientConfig/service",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "webhooks/clientConfig/service",
    ),
    ("", "Node", "spec/configSource/configMap"),
    ("", "PersistentVolume", "spec/azureFile/secretName"),
    ("", "PersistentVolumeClaim", "spec/volumeName"),
    (
        "serving.knative.dev",
        "Service",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
    ),
    ("", "ServiceAccount", "imagePullSecrets/name"),
    ("", "StorageClass", "parameters/secretName"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
        "spec/policyName",
    ),
];

/// The referenced kinds whose pod-spec paths kustomize walks in a workload kind.
fn walked_pod_references(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" | "Deployment" | "DaemonSet" | "StatefulSet" | "Job" | "CronJob" => &[
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "PersistentVolumeClaim",
            "PriorityClass",
        ],
        "ReplicaSet" | "PodTemplate" => &["ConfigMap", "Secret"],
        "ReplicationController" => &["ServiceAccount", "PersistentVolumeClaim", "PriorityClass"],
        _ => &[],
    }
}

/// kustomize's name-reference pass walks all its paths in every object, by the kind it was
/// loaded with, renamed or not, and fails the build where one runs into a scalar before its
/// last field (a string where a volume should be, say) or where the object's `apiVersion`
/// is null (its metadata reads it as empty, its id as `null`).
pub fn check_walked_paths(resources: &[Resource]) -> Result<(), crate::Error> {
    for resource in resources {
        let paths = walked_paths(resource);
        let problem = if paths.is_empty() {
            None
        } else if resource
            .object
            .get("apiVersion")
            .is_some_and(Value::is_null)
        {
            Some("a null apiVersion does not match its id in kustomize's name references".into())
        } else {
            paths.iter().find(|p| !walkable(&resource.object, p)).map(|path| {
                format!("'{path}' runs into a scalar, where kustomize's name references need a map or a list")
            })
        };
        if let Some(problem) = problem {
            return Err(crate::Error::new(
                &resource.origin,
                format!("{}: {problem}", resource.original),
            ));
        }
    }
    Ok(())
}

/// The paths kustomize's name-reference pass walks in `resource`.
fn walked_paths(resource: &Resource) -> Vec<String> {
    let gvk = &resource.original.gvk;
    let kind = gvk.kind.as_str();
    let mut paths = Vec::new();
    if let Some((_, root)) = POD_SPEC_PATHS.iter().find(|(k, _)| *k == kind) {
        for rule in RULES
            .iter()
            .filter(|rule| walked_pod_references(kind).contains(&rule.referenced))
        {
            paths.extend(rule.pod_paths.iter().map(|p| format!("{root}/{p}")));
        }
    }
    paths.extend(
        WALKED
            .iter()
            .filter(|(g, k, _)| *k == kind && (g.is_empty() || *g == gvk.group))
            .map(|(_, _, p)| p.to_string()),
    );
    paths
}

/// Renames references written against any former name to the referenced object's final name:
/// kustomize's built-in references, then those `configurations` added.
pub fn fix_references(resources: &mut [Resource], added: &[NameBackReference]) {
    // Objects whose name or namespace changed, by (kind, any name they had).
    let mut moved: HashMap<(String, String), Vec<Candidate>> = HashMap::new();
    for resource in resources.iter().filter(|r| r.history.len() > 1) {
        let gvk = resource.gvk();
        let candidate = Candidate {
            group: gvk.group,
            version: gvk.version,
            history: effective_history(resource),
            namespace: resource.namespace(),
            name: resource.name(),
        };
        let mut names: Vec<&String> = resource.history.iter().map(|(_, n)| n).collect();
        names.dedup();
        for name in names {
            moved
                .entry((resource.kind().to_string(), name.clone()))
                .or_default()
                .push(candidate.clone());
        }
    }
    if moved.is_empty() {
        return;
    }
    // The referrer's namespaces are tried newest first: an object in `prod` that once was in
    // `default` means the `prod` one before any other that was also in `default`. A
    // configured reference may name the group and version of what it refers to.
    let lookup_in = |(group, version): (&str, &str),
                     kind: &str,
                     name: &str,
                     namespaces: &[String]|
     -> Option<(String, String)> {
        let all = moved.get(&(kind.to_string(), name.to_string()))?;
        let candidates: Vec<&Candidate> = all
            .iter()
            .filter(|c| group.is_empty() || c.group == group)
            .filter(|c| version.is_empty() || c.version == version)
            .collect();
        let had = |c: &Candidate, wanted: &str| {
            c.history
                .iter()
                .any(|(ns, n)| n == name && (ns.is_empty() || ns == wanted))
        };
        // A cluster-scoped referrer (a ClusterRoleBinding's subject without a namespace)
        // names an object in any namespace, when only one fits.
        if namespaces.iter().all(String::is_empty) {
            let mut named = candidates
                .iter()
                .filter(|c| c.history.iter().any(|(_, n)| n == name));
            return match (named.next(), named.next()) {
                (Some(only), None) => Some((only.namespace.clone(), only.name.clone())),
                _ => None,
            };
        }
        namespaces
            .iter()
            .rev()
            .find_map(|ns| candidates.iter().find(|c| had(c, ns)))
            .map(|c| (c.namespace.clone(), c.name.clone()))
    };
    let lookup =
        |kind: &str, name: &str, namespaces: &[String]| lookup_in(("", ""), kind, name, namespaces);
    for resource in resources.iter_mut() {
        let kind = resource.kind().to_string();
        let namespaces: Vec<String> = effective_history(resource)
            .into_iter()
            .map(|(ns, _)| ns)
            .collect();
        let pod_spec = POD_SPEC_PATHS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| *p);
        for rule in RULES {
            let mut rename = |value: &mut Value| {
                if let Some((_, new)) = value
                    .as_str()
                    .and_then(|old| lookup(rule.referenced, old, &namespaces))
                {
                    *value = json!(new);
                }
            };
            if let Some(pod_spec) = pod_spec {
                for path in rule.pod_paths {
                    visit_path(
                        &mut resource.object,
                        &format!("{pod_spec}/{path}"),
                        false,
                        &mut rename,
                    );
                }
            }
            for (_, path) in rule.paths.iter().filter(|(k, _)| *k == kind) {
                visit_path(&mut resource.object, path, false, &mut rename);
            }
        }
        fix_typed_references(resource, &kind, &namespaces, &lookup);
        let gvk = resource.gvk();
        for reference in added {
            let group_version = (reference.group.as_str(), reference.version.as_str());
            let lookup = |kind: &str, name: &str, namespaces: &[String]| {
                lookup_in(group_version, kind, name, namespaces)
            };
            for spec in reference.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                visit_path(&mut resource.object, &spec.path, false, &mut |value| {
                    rename_reference(value, &reference.kind, &namespaces, &lookup)
                });
            }
        }
    }
}

/// A configured reference: a name, a `{name, namespace}` map, or a list of either.
fn rename_reference(value: &mut Value, kind: &str, own_namespaces: &[String], lookup: &Lookup) {
    match value {
        Value::String(old) => {
            if let Some((_, new)) = lookup(kind, old, own_namespaces) {
                *old = new;
            }
        }
        Value::Object(map) => {
            let namespaces = match map.get("namespace").and_then(Value::as_str) {
                Some("") | Some("default") => vec!["default".to_string()],
                Some(ns) => vec![ns.to_string()],
                None => own_namespaces.to_vec(),
            };
            let Some(name) = map.get("name").and_then(Value::as_str) else {
                return;
            };
            if let Some((new_namespace, new_name)) = lookup(kind, name, &namespaces) {
                map.insert("name".into(), json!(new_name));
                if !new_namespace.is_empty() {
                    map.insert("namespace".into(), json!(new_namespace));
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rename_reference(item, kind, own_namespaces, lookup)),
        _ => {}
    }
}

#[derive(Clone)]
struct Candidate {
    group: String,
    version: String,
    /// (effective namespace, name) pairs it has had.
    history: Vec<(String, String)>,
    namespace: String,
    name: String,
}

/// A resource's past identities with kustomize's effective namespaces ("" and "default"
/// alike; none for cluster-scoped kinds).
fn effective_history(resource: &Resource) -> Vec<(String, String)> {
    let cluster_scoped = resource.gvk().is_cluster_scoped();
    resource
        .history
        .iter()
        .map(|(ns, name)| {
            let ns = match (cluster_scoped, ns.as_str()) {
                (true, _) => "",
                (false, "") => "default",
                (false, ns) => ns,
            };
            (ns.to_string(), name.clone())
        })
        .collect()
}

type Lookup<'a> = dyn Fn(&str, &str, &[String]) -> Option<(String, String)> + 'a;

/// References that say which kind they name (RBAC role refs and subjects, HPA scale
/// targets) and service references that carry their namespace (webhooks).
fn fix_typed_references(
    resource: &mut Resource,
    kind: &str,
    own_namespaces: &[String],
    lookup: &Lookup,
) {
    // Renames a `{kind, name[, namespace]}` map; `with_namespace` also moves its namespace.
    let rename = |target: &mut Value,
                  ref_kind: Option<&str>,
                  namespaces: &[String],
                  with_namespace: bool| {
        let Value::Object(map) = target else { return };
        let Some(ref_kind) = ref_kind
            .or(map.get("kind").and_then(Value::as_str))
            .map(str::to_string)
        else {
            return;
        };
        let Some(name) = map.get("name").and_then(Value::as_str) else {
            return;
        };
        if let Some((new_namespace, new_name)) = lookup(&ref_kind, name, namespaces) {
            map.insert("name".into(), json!(new_name));
            if with_namespace && !new_namespace.is_empty() {
                map.insert("namespace".into(), json!(new_namespace));
            }
        }
    };
    // A reference's own namespace when it has one, else the referrer's.
    let referenced_namespaces = |target: &Value| -> Vec<String> {
        match target.get("namespace").and_then(Value::as_str) {
            Some("") | Some("default") => vec!["default".to_string()],
            Some(ns) => vec![ns.to_string()],
            None => own_namespaces.to_vec(),
        }
    };
    match kind {
        "RoleBinding" | "ClusterRoleBinding" => {
            if let Some(role_ref) = resource.object.get_mut("roleRef") {
                rename(role_ref, None, own_namespaces, false);
            }
            if let Some(Value::Array(subjects)) = resource.object.get_mut("subjects") {
                for subject in subjects {
                    if subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                        let namespaces = referenced_namespaces(subject);
                        rename(subject, None, &namespaces, true);
                    }
                }
            }
        }
        "HorizontalPodAutoscaler" => {
            if let Some(Value::Object(spec)) = resource.object.get_mut("spec")
                && let Some(target) = spec.get_mut("scaleTargetRef")
            {
                rename(target, None, own_namespaces, false);
            }
        }
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            if let Some(Value::Array(webhooks)) = resource.object.get_mut("webhooks") {
                for webhook in webhooks {
                    if let Some(service) = webhook
                        .get_mut("clientConfig")
                        .and_then(|c| c.get_mut("service"))
                    {
                        let namespaces = referenced_namespaces(service);
                        rename(service, Some("Service"), &namespaces, true);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(object: Value) -> Result<(), crate::Error> {
        let resource = Resource::new(object.as_object().unwrap().clone(), "r.yaml".into());
        check_walked_paths(&[resource])
    }

    #[test]
    fn scalars_on_walked_paths_fail() {
        let deployment = |volumes: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                   "spec": {"template": {"spec": {"volumes": volumes}}}})
        };
        assert!(walked(deployment(json!([{"name": "v", "emptyDir": {}}, null]))).is_ok());
        assert!(walked(deployment(json!(null))).is_ok());
        let error = walked(deployment(json!(["text"]))).unwrap_err();
        assert!(
            error.to_string().contains("volumes/configMap/name"),
            "{error}"
        );
        // Services are not walked: only Knative's, in kustomize's configuration.
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                             "spec": 5});
        assert!(walked(service).is_ok());
        let null_version = json!({"apiVersion": null, "kind": "Deployment",
                                  "metadata": {"name": "d"}});
        assert!(walked(null_version).is_err());
    }
}
