//! Name references: once names have changed (prefixes, suffixes, hashes), fields that name
//! another object of the build follow it, as kustomize's `nameReference` configuration.

use crate::config::NameBackReference;
use crate::fieldspec::{POD_SPEC_PATHS, visit_path, walkable};
use crate::resource::{Gvk, PreviousId, Resource};
use serde_json::{Value, json};

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

/// Renames references to objects whose name or namespace changed: kustomize's built-in
/// references, then those `configurations` added. A reference is followed as kustomize's
/// name-reference filter follows it: only objects with recorded previous ids can be meant,
/// in the referrer's namespace (see `Referral::select`).
pub fn fix_references(
    resources: &mut [Resource],
    added: &[NameBackReference],
) -> Result<(), crate::Error> {
    let referrals: Vec<Referral> = resources.iter().map(Referral::of).collect();
    if referrals.iter().all(|r| r.previous.is_empty()) {
        return Ok(());
    }
    for resource in resources.iter_mut() {
        let referrer = Referrer::of(resource);
        let candidates: Vec<&Referral> = referrals
            .iter()
            .filter(|r| referrer.could_reference(r))
            .collect();
        let lookup = Lookup {
            candidates: &candidates,
            referrer: &referrer,
        };
        let mut failure = None;
        let mut fix = |value: &mut Value, target: &Target| {
            if failure.is_none()
                && let Err(e) = lookup.rename(value, target)
            {
                failure = Some(e);
            }
        };
        let kind = resource.kind().to_string();
        let pod_spec = POD_SPEC_PATHS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| *p);
        for rule in RULES {
            let target = Target::kind(rule.referenced);
            if let Some(pod_spec) = pod_spec {
                for path in rule.pod_paths {
                    let path = format!("{pod_spec}/{path}");
                    visit_path(&mut resource.object, &path, false, &mut |v| fix(v, &target));
                }
            }
            for (_, path) in rule.paths.iter().filter(|(k, _)| *k == kind) {
                visit_path(&mut resource.object, path, false, &mut |v| fix(v, &target));
            }
        }
        fix_typed_references(resource, &kind, &mut fix);
        let gvk = resource.gvk();
        for reference in added {
            let target = Target {
                group: reference.group.clone(),
                version: reference.version.clone(),
                kind: reference.kind.clone(),
            };
            for spec in reference.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                visit_path(&mut resource.object, &spec.path, false, &mut |v| {
                    fix(v, &target)
                });
            }
        }
        if let Some(message) = failure {
            return Err(crate::Error::new(
                &resource.origin,
                format!("{}: {message}", resource.id()),
            ));
        }
    }
    Ok(())
}

/// The kind a reference names (empty group or version: any).
struct Target {
    group: String,
    version: String,
    kind: String,
}

impl Target {
    fn kind(kind: &str) -> Target {
        Target {
            group: String::new(),
            version: String::new(),
            kind: kind.to_string(),
        }
    }
}

/// An object a reference may name, as the name-reference pass sees it.
struct Referral {
    gvk: Gvk,
    /// Names and kinds it had before kustomize's transformers changed them.
    previous: Vec<PreviousId>,
    name: String,
    /// As written.
    namespace: String,
    effective_namespace: String,
    /// Of its first recorded id (or its current one): `None` when cluster-scoped.
    original_namespace: Option<String>,
    cluster_scoped: bool,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Referral {
    fn of(resource: &Resource) -> Referral {
        let id = resource.id();
        let cluster_scoped = id.gvk.is_cluster_scoped();
        let original_namespace = match resource.previous_ids.first() {
            _ if cluster_scoped => None,
            Some(first) => Some(first.namespace.clone()),
            None => Some(id.effective_namespace().to_string()),
        };
        Referral {
            effective_namespace: id.effective_namespace().to_string(),
            previous: resource.previous_ids.clone(),
            name: id.name,
            namespace: id.namespace,
            gvk: id.gvk,
            original_namespace,
            cluster_scoped,
            prefixes: resource.prefixes.clone(),
            suffixes: resource.suffixes.clone(),
        }
    }

    fn is(&self, target: &Target) -> bool {
        (target.group.is_empty() || target.group == self.gvk.group)
            && (target.version.is_empty() || target.version == self.gvk.version)
            && self.previous.iter().any(|p| p.kind == target.kind)
    }
}

/// What of the referring object decides which objects it can mean.
struct Referrer {
    effective_namespace: String,
    cluster_scoped: bool,
    /// A RoleBinding's ServiceAccount subjects' namespaces: it may name objects there.
    subject_namespaces: Vec<String>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Referrer {
    fn of(resource: &Resource) -> Referrer {
        let id = resource.id();
        let subject_namespaces = match (id.gvk.kind.as_str(), resource.object.get("subjects")) {
            ("RoleBinding", Some(Value::Array(subjects))) => subjects
                .iter()
                .filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
                .filter_map(|s| s.get("namespace").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Referrer {
            effective_namespace: id.effective_namespace().to_string(),
            cluster_scoped: id.gvk.is_cluster_scoped(),
            subject_namespaces,
            prefixes: resource.prefixes.clone(),
            suffixes: resource.suffixes.clone(),
        }
    }

    /// kustomize's `SubsetThatCouldBeReferencedByResource`.
    fn could_reference(&self, referral: &Referral) -> bool {
        self.cluster_scoped
            || referral.cluster_scoped
            || referral.effective_namespace == self.effective_namespace
            || self.subject_namespaces.contains(&referral.namespace)
    }

    /// kustomize's prefix and suffix test: the lists end alike (`allow_empty`: or one is
    /// empty).
    fn affixes_match(&self, referral: &Referral, allow_empty: bool) -> bool {
        let ends_alike = |a: &[String], b: &[String]| {
            let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
            if allow_empty && short.is_empty() {
                return true;
            }
            if short.is_empty() {
                return long.is_empty();
            }
            long.ends_with(short)
        };
        ends_alike(&self.prefixes, &referral.prefixes)
            && ends_alike(&self.suffixes, &referral.suffixes)
    }
}

struct Lookup<'a> {
    candidates: &'a [&'a Referral],
    referrer: &'a Referrer,
}

impl Lookup<'_> {
    /// A reference: a name, a `{name, namespace}` map, or a list of either.
    fn rename(&self, value: &mut Value, target: &Target) -> Result<(), String> {
        match value {
            Value::String(old) => {
                if let Some(referral) = self.select(old, target, self.candidates, false)? {
                    old.clone_from(&referral.name);
                }
            }
            Value::Object(map) => {
                let Some(old) = map.get("name").and_then(Value::as_str) else {
                    return Ok(());
                };
                let candidates = match map.get("namespace").and_then(Value::as_str) {
                    Some(namespace) => self.in_namespace(namespace),
                    None => self.candidates.to_vec(),
                };
                let Some(referral) = self.select(old, target, &candidates, true)? else {
                    return Ok(());
                };
                if referral.name == old && referral.namespace.is_empty() {
                    return Ok(());
                }
                map.insert("name".into(), json!(referral.name));
                if !referral.namespace.is_empty() {
                    map.insert("namespace".into(), json!(referral.namespace));
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.rename(item, target)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The candidates a map reference's namespace names: by original namespace, else by
    /// current one.
    fn in_namespace(&self, namespace: &str) -> Vec<&Referral> {
        let by_original: Vec<&Referral> = self
            .candidates
            .iter()
            .copied()
            .filter(|r| r.original_namespace.as_deref() == Some(namespace))
            .collect();
        if !by_original.is_empty() {
            return by_original;
        }
        self.candidates
            .iter()
            .copied()
            .filter(|r| r.effective_namespace == namespace)
            .collect()
    }

    /// kustomize's choice among the objects a reference may mean: those once named `old`,
    /// of the target kind, in the referrer's namespace (ServiceAccounts and cluster-scoped
    /// objects anywhere); among several, those whose prefixes and suffixes end like the
    /// referrer's; several that agree on name (and namespace, for maps) are one.
    fn select<'r>(
        &self,
        old: &str,
        target: &Target,
        candidates: &[&'r Referral],
        is_map: bool,
    ) -> Result<Option<&'r Referral>, String> {
        let referrer = self.referrer;
        let mut found: Vec<&Referral> = candidates
            .iter()
            .copied()
            .filter(|r| r.previous.iter().any(|p| p.name == old) && r.is(target))
            .filter(|r| {
                referrer.cluster_scoped
                    || r.cluster_scoped
                    || r.gvk.kind == "ServiceAccount"
                    || r.effective_namespace == referrer.effective_namespace
            })
            .collect();
        if found.len() > 1 {
            found.retain(|r| referrer.affixes_match(r, true));
            if found.len() > 1 {
                found.retain(|r| referrer.affixes_match(r, false));
            }
        }
        let Some(first) = found.first() else {
            return Ok(None);
        };
        let same =
            |r: &&Referral| r.name == first.name && (!is_map || r.namespace == first.namespace);
        if found.iter().all(same) {
            return Ok(Some(first));
        }
        let ids: Vec<String> = found
            .iter()
            .map(|r| format!("{}/{}.{}", r.gvk, r.name, r.namespace))
            .collect();
        Err(format!(
            "found multiple possible referrals: {}",
            ids.join(", ")
        ))
    }
}

/// References that say which kind they name (RBAC role refs and subjects, HPA scale
/// targets) and service references that carry their namespace (webhooks).
fn fix_typed_references(
    resource: &mut Resource,
    kind: &str,
    fix: &mut dyn FnMut(&mut Value, &Target),
) {
    // A `{kind, name}` map names an object of its kind; only its name changes.
    let mut by_own_kind = |target: &mut Value, group_key: &str| {
        let Value::Object(map) = target else { return };
        let Some(ref_kind) = map.get("kind").and_then(Value::as_str) else {
            return;
        };
        let target_kind = Target {
            group: map
                .get(group_key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            version: String::new(),
            kind: ref_kind.to_string(),
        };
        if let Some(name) = map.get_mut("name") {
            fix(name, &target_kind);
        }
    };
    match kind {
        "RoleBinding" | "ClusterRoleBinding" => {
            if let Some(role_ref) = resource.object.get_mut("roleRef") {
                by_own_kind(role_ref, "apiGroup");
            }
            // kustomize's ServiceAccount reference covers every subject, whatever its kind.
            if let Some(subjects @ Value::Array(_)) = resource.object.get_mut("subjects") {
                fix(subjects, &Target::kind("ServiceAccount"));
            }
        }
        "HorizontalPodAutoscaler" => {
            if let Some(Value::Object(spec)) = resource.object.get_mut("spec")
                && let Some(target) = spec.get_mut("scaleTargetRef")
            {
                by_own_kind(target, "");
            }
        }
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            if let Some(Value::Array(webhooks)) = resource.object.get_mut("webhooks") {
                for webhook in webhooks {
                    if let Some(service) = webhook
                        .get_mut("clientConfig")
                        .and_then(|c| c.get_mut("service"))
                    {
                        fix(service, &Target::kind("Service"));
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
