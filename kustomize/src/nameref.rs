//! Name references: once names have changed (prefixes, suffixes, hashes), fields that name
//! another object of the build follow it, as kustomize's `nameReference` configuration.

use crate::fieldspec::{POD_SPEC_PATHS, visit_path};
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

/// Renames references written against any former name to the referenced object's final name.
pub fn fix_references(resources: &mut [Resource]) {
    // (kind, former name) -> [(effective namespace, final name)]; "" for cluster-scoped.
    let mut renamed: HashMap<(String, String), Vec<(String, String)>> = HashMap::new();
    for resource in resources.iter() {
        let current = resource.name();
        let namespace = resource.id().effective_namespace().to_string();
        for (_, former) in &resource.history {
            if *former != current {
                renamed
                    .entry((resource.kind().to_string(), former.clone()))
                    .or_default()
                    .push((namespace.clone(), current.clone()));
            }
        }
    }
    if renamed.is_empty() {
        return;
    }
    let lookup = |kind: &str, name: &str, namespace: Option<&str>| -> Option<(String, String)> {
        let candidates = renamed.get(&(kind.to_string(), name.to_string()))?;
        candidates
            .iter()
            .find(|(ns, _)| ns.is_empty() || namespace.is_none_or(|wanted| ns == wanted))
            .map(|(ns, n)| (ns.clone(), n.clone()))
    };
    for resource in resources.iter_mut() {
        let kind = resource.kind().to_string();
        let namespace = resource.id().effective_namespace().to_string();
        let own_namespace = (!namespace.is_empty()).then_some(namespace.as_str());
        let pod_spec = POD_SPEC_PATHS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| *p);
        for rule in RULES {
            let mut rename = |value: &mut Value| {
                if let Some((_, new)) = value
                    .as_str()
                    .and_then(|old| lookup(rule.referenced, old, own_namespace))
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
        fix_typed_references(resource, &kind, own_namespace, &lookup);
    }
}

type Lookup<'a> = dyn Fn(&str, &str, Option<&str>) -> Option<(String, String)> + 'a;

/// References that say which kind they name (RBAC role refs and subjects, HPA scale
/// targets) and service references that carry their namespace (webhooks).
fn fix_typed_references(
    resource: &mut Resource,
    kind: &str,
    own_namespace: Option<&str>,
    lookup: &Lookup,
) {
    // Renames a `{kind, name[, namespace]}` map; `with_namespace` also moves its namespace.
    let rename = |target: &mut Value,
                  ref_kind: Option<&str>,
                  namespace: Option<&str>,
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
        if let Some((new_namespace, new_name)) = lookup(&ref_kind, name, namespace) {
            map.insert("name".into(), json!(new_name));
            if with_namespace && !new_namespace.is_empty() {
                map.insert("namespace".into(), json!(new_namespace));
            }
        }
    };
    let referenced_namespace = |target: &Value| {
        target
            .get("namespace")
            .and_then(Value::as_str)
            .map(|ns| if ns.is_empty() { "default" } else { ns })
            .map(str::to_string)
            .or_else(|| own_namespace.map(str::to_string))
    };
    match kind {
        "RoleBinding" | "ClusterRoleBinding" => {
            if let Some(role_ref) = resource.object.get_mut("roleRef") {
                rename(role_ref, None, own_namespace, false);
            }
            if let Some(Value::Array(subjects)) = resource.object.get_mut("subjects") {
                for subject in subjects {
                    if subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                        let namespace = referenced_namespace(subject);
                        rename(subject, None, namespace.as_deref(), true);
                    }
                }
            }
        }
        "HorizontalPodAutoscaler" => {
            if let Some(Value::Object(spec)) = resource.object.get_mut("spec")
                && let Some(target) = spec.get_mut("scaleTargetRef")
            {
                rename(target, None, own_namespace, false);
            }
        }
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            if let Some(Value::Array(webhooks)) = resource.object.get_mut("webhooks") {
                for webhook in webhooks {
                    if let Some(service) = webhook
                        .get_mut("clientConfig")
                        .and_then(|c| c.get_mut("service"))
                    {
                        let namespace = referenced_namespace(service);
                        rename(service, Some("Service"), namespace.as_deref(), true);
                    }
                }
            }
        }
        _ => {}
    }
}
