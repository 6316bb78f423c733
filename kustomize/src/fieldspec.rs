//! Field specifications: "this path in objects of this kind", the way kustomize's built-in
//! transformer configurations address fields. Sequences met on the way are walked through.

use crate::resource::Gvk;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// One spec'd field. Built-in tables borrow their strings; `configurations` files own theirs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Empty: any group.
    #[serde(default)]
    pub group: Cow<'static, str>,
    /// Empty: any version.
    #[serde(default)]
    pub version: Cow<'static, str>,
    /// Empty: any kind.
    #[serde(default)]
    pub kind: Cow<'static, str>,
    /// Slash-separated; a `[]` suffix marks a sequence (walked through either way).
    pub path: Cow<'static, str>,
    /// Create the field (as an empty map) when it is missing.
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    pub const fn new(kind: &'static str, path: &'static str, create: bool) -> FieldSpec {
        FieldSpec {
            group: Cow::Borrowed(""),
            version: Cow::Borrowed(""),
            kind: Cow::Borrowed(kind),
            path: Cow::Borrowed(path),
            create,
        }
    }

    pub const fn in_group(
        group: &'static str,
        kind: &'static str,
        path: &'static str,
        create: bool,
    ) -> FieldSpec {
        FieldSpec {
            group: Cow::Borrowed(group),
            version: Cow::Borrowed(""),
            kind: Cow::Borrowed(kind),
            path: Cow::Borrowed(path),
            create,
        }
    }

    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        (self.kind.is_empty() || self.kind == gvk.kind)
            && (self.group.is_empty() || self.group == gvk.group)
            && (self.version.is_empty() || self.version == gvk.version)
    }

    /// kustomize's "same spec" test when merging tables: the same path, and every part of
    /// this spec's kind that is set equals `existing`'s.
    fn duplicates(&self, existing: &FieldSpec) -> bool {
        let same = |mine: &str, theirs: &str| mine.is_empty() || mine == theirs;
        self.path == existing.path
            && same(&self.group, &existing.group)
            && same(&self.version, &existing.version)
            && same(&self.kind, &existing.kind)
    }
}

/// Adds `incoming` to `specs` unless `specs` or `builtin` has it already, as kustomize
/// merges field spec tables; the same spec with a different `create` is an error.
pub fn merge_spec(
    specs: &mut Vec<FieldSpec>,
    builtin: &[FieldSpec],
    incoming: FieldSpec,
) -> Result<(), String> {
    match builtin
        .iter()
        .chain(specs.iter())
        .find(|s| incoming.duplicates(s))
    {
        Some(existing) if existing.create != incoming.create => Err(format!(
            "conflicting fieldspecs: '{}' (create: {}) and (create: {})",
            incoming.path, existing.create, incoming.create
        )),
        Some(_) => Ok(()),
        None => {
            specs.push(incoming);
            Ok(())
        }
    }
}

/// Calls `visit` on every value at `path` inside `object`, creating missing maps on the way
/// when `create` is set (only where the parents exist up to the last segment, as kustomize).
pub fn visit_path(
    object: &mut Map<String, Value>,
    path: &str,
    create: bool,
    visit: &mut dyn FnMut(&mut Value),
) {
    let segments: Vec<&str> = path.split('/').collect();
    visit_segments_in_map(object, &segments, create, visit);
}

fn visit_segments_in_map(
    map: &mut Map<String, Value>,
    segments: &[&str],
    create: bool,
    visit: &mut dyn FnMut(&mut Value),
) {
    let Some((segment, rest)) = segments.split_first() else {
        return;
    };
    // A sequence (`[]`) that is missing is never created: there is no element to walk into.
    let (field, sequence) = match segment.strip_suffix("[]") {
        Some(field) => (field, true),
        None => (*segment, false),
    };
    if !map.contains_key(field) || map.get(field).is_some_and(Value::is_null) {
        if !create || sequence {
            return;
        }
        map.insert(field.to_string(), Value::Object(Map::new()));
    }
    let child = map.get_mut(field).expect("present");
    if rest.is_empty() {
        visit(child);
    } else {
        visit_segments(child, rest, create, visit);
    }
}

fn visit_segments(
    value: &mut Value,
    segments: &[&str],
    create: bool,
    visit: &mut dyn FnMut(&mut Value),
) {
    match value {
        Value::Object(map) => visit_segments_in_map(map, segments, create, visit),
        Value::Array(items) => {
            for item in items {
                visit_segments(item, segments, create, visit);
            }
        }
        _ => {}
    }
}

/// Whether kustomize's walk of `path` gets through `object`: it fails where a field before
/// the last is a scalar; a missing or null field ends the walk quietly, lists are walked
/// element by element.
pub fn walkable(object: &Map<String, Value>, path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    walkable_in_map(object, &segments)
}

fn walkable_in_map(map: &Map<String, Value>, segments: &[&str]) -> bool {
    match segments.split_first() {
        Some((first, rest)) => map
            .get(*first)
            .is_none_or(|child| walkable_value(child, rest)),
        None => true,
    }
}

fn walkable_value(value: &Value, segments: &[&str]) -> bool {
    match value {
        _ if segments.is_empty() => true,
        Value::Null => true,
        Value::Object(map) => walkable_in_map(map, segments),
        Value::Array(items) => items.iter().all(|item| walkable_value(item, segments)),
        _ => false,
    }
}

/// Merges string pairs into the map at every spec'd path of `object`.
pub fn merge_string_map<'a>(
    object: &mut Map<String, Value>,
    gvk: &Gvk,
    specs: impl IntoIterator<Item = &'a FieldSpec>,
    pairs: &[(String, String)],
) {
    for spec in specs.into_iter().filter(|s| s.applies_to(gvk)) {
        visit_path(object, &spec.path, spec.create, &mut |target| {
            if let Value::Object(map) = target {
                for (k, v) in pairs {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
        });
    }
}

/// Paths of pod specs inside each workload kind.
pub const POD_SPEC_PATHS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("PodTemplate", "template/spec"),
];

/// kustomize's `commonLabels` configuration: metadata, and selectors/templates that must
/// keep matching.
pub const COMMON_LABELS: &[FieldSpec] = &[
    FieldSpec::new("", "metadata/labels", true),
    FieldSpec::new("Service", "spec/selector", true),
    FieldSpec::new("ReplicationController", "spec/selector", true),
    FieldSpec::new(
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    FieldSpec::new("Deployment", "spec/selector/matchLabels", true),
    FieldSpec::new("Deployment", "spec/template/metadata/labels", true),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new("ReplicaSet", "spec/selector/matchLabels", true),
    FieldSpec::new("ReplicaSet", "spec/template/metadata/labels", true),
    FieldSpec::new("DaemonSet", "spec/selector/matchLabels", true),
    FieldSpec::new("DaemonSet", "spec/template/metadata/labels", true),
    FieldSpec::new("StatefulSet", "spec/selector/matchLabels", true),
    FieldSpec::new("StatefulSet", "spec/template/metadata/labels", true),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    FieldSpec::new("Job", "spec/selector/matchLabels", false),
    FieldSpec::new("Job", "spec/template/metadata/labels", true),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    FieldSpec::new("CronJob", "spec/jobTemplate/metadata/labels", true),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
    FieldSpec::new("PodDisruptionBudget", "spec/selector/matchLabels", false),
    FieldSpec::new("NetworkPolicy", "spec/podSelector/matchLabels", false),
    FieldSpec::new(
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    FieldSpec::new(
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

/// The pod-template label paths that `labels[].includeTemplates` adds.
pub const TEMPLATE_LABELS: &[FieldSpec] = &[
    FieldSpec::new(
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    FieldSpec::new("Deployment", "spec/template/metadata/labels", true),
    FieldSpec::new("ReplicaSet", "spec/template/metadata/labels", true),
    FieldSpec::new("DaemonSet", "spec/template/metadata/labels", true),
    FieldSpec::new("StatefulSet", "spec/template/metadata/labels", true),
    FieldSpec::in_group(
        "apps",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    FieldSpec::new("Job", "spec/template/metadata/labels", true),
    FieldSpec::new("CronJob", "spec/jobTemplate/metadata/labels", true),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

pub const METADATA_LABELS: &[FieldSpec] = &[FieldSpec::new("", "metadata/labels", true)];

/// kustomize's `commonAnnotations` configuration.
pub const COMMON_ANNOTATIONS: &[FieldSpec] = &[
    FieldSpec::new("", "metadata/annotations", true),
    FieldSpec::new(
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    FieldSpec::new("Deployment", "spec/template/metadata/annotations", true),
    FieldSpec::new("ReplicaSet", "spec/template/metadata/annotations", true),
    FieldSpec::new("DaemonSet", "spec/template/metadata/annotations", true),
    FieldSpec::new("StatefulSet", "spec/template/metadata/annotations", true),
    FieldSpec::new("Job", "spec/template/metadata/annotations", true),
    FieldSpec::new("CronJob", "spec/jobTemplate/metadata/annotations", true),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// kustomize's `replicas` configuration.
pub const REPLICAS: &[FieldSpec] = &[
    FieldSpec::new("Deployment", "spec/replicas", true),
    FieldSpec::new("ReplicationController", "spec/replicas", true),
    FieldSpec::new("ReplicaSet", "spec/replicas", true),
    FieldSpec::new("StatefulSet", "spec/replicas", true),
];

/// kustomize's `namePrefix`/`nameSuffix` configuration.
pub const NAME: &[FieldSpec] = &[FieldSpec::new("", "metadata/name", false)];

/// kustomize's `namespace` configuration besides every object's `metadata/namespace` (the
/// namespace transformer treats these itself).
pub const NAMESPACE: &[FieldSpec] = &[
    FieldSpec::new("Namespace", "metadata/name", true),
    FieldSpec::in_group(
        "apiregistration.k8s.io",
        "APIService",
        "spec/service/namespace",
        true,
    ),
    FieldSpec::in_group(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "spec/conversion/webhook/clientConfig/service/namespace",
        false,
    ),
];

/// kustomize's `images` configuration (its image transformer also rewrites `containers`
/// and `initContainers` anywhere, which covers these).
pub const IMAGES: &[FieldSpec] = &[
    FieldSpec::new("", "spec/containers[]/image", true),
    FieldSpec::new("", "spec/initContainers[]/image", true),
    FieldSpec::new("", "spec/volumes[]/image/reference", true),
    FieldSpec::new("", "spec/template/spec/containers[]/image", true),
    FieldSpec::new("", "spec/template/spec/initContainers[]/image", true),
    FieldSpec::new("", "spec/template/spec/volumes[]/image/reference", true),
];

/// kustomize's `varReference` configuration: the only fields where `$(VAR)` is expanded, in
/// its order (errors name the first field that fails).
pub const VAR_REFERENCE: &[FieldSpec] = &[
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/containers/args",
        false,
    ),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/containers/command",
        false,
    ),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/containers/env/value",
        false,
    ),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/initContainers/args",
        false,
    ),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/initContainers/command",
        false,
    ),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/initContainers/env/value",
        false,
    ),
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath",
        false,
    ),
    // kustomize's path as it is written: without the pod template's `spec/`, so it never
    // matches and a CronJob's NFS server is not expanded.
    FieldSpec::new(
        "CronJob",
        "spec/jobTemplate/spec/template/volumes/nfs/server",
        false,
    ),
    FieldSpec::new("DaemonSet", "spec/template/spec/containers/args", false),
    FieldSpec::new("DaemonSet", "spec/template/spec/containers/command", false),
    FieldSpec::new(
        "DaemonSet",
        "spec/template/spec/containers/env/value",
        false,
    ),
    FieldSpec::new(
        "DaemonSet",
        "spec/template/spec/containers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new("DaemonSet", "spec/template/spec/initContainers/args", false),
    FieldSpec::new(
        "DaemonSet",
        "spec/template/spec/initContainers/command",
        false,
    ),
    FieldSpec::new(
        "DaemonSet",
        "spec/template/spec/initContainers/env/value",
        false,
    ),
    FieldSpec::new(
        "DaemonSet",
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new("DaemonSet", "spec/template/spec/volumes/nfs/server", false),
    FieldSpec::new("Deployment", "spec/template/spec/containers/args", false),
    FieldSpec::new("Deployment", "spec/template/spec/containers/command", false),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/containers/env/value",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/containers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/initContainers/args",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/initContainers/command",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/initContainers/env/value",
        false,
    ),
    FieldSpec::new(
        "Deployment",
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new("Deployment", "spec/template/spec/volumes/nfs/server", false),
    FieldSpec::new("Deployment", "spec/template/metadata/annotations", false),
    FieldSpec::new("Ingress", "spec/rules/host", false),
    FieldSpec::new("Ingress", "spec/tls/hosts", false),
    FieldSpec::new("Ingress", "spec/tls/secretName", false),
    FieldSpec::new("Job", "spec/template/spec/containers/args", false),
    FieldSpec::new("Job", "spec/template/spec/containers/command", false),
    FieldSpec::new("Job", "spec/template/spec/containers/env/value", false),
    FieldSpec::new(
        "Job",
        "spec/template/spec/containers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new("Job", "spec/template/spec/initContainers/args", false),
    FieldSpec::new("Job", "spec/template/spec/initContainers/command", false),
    FieldSpec::new("Job", "spec/template/spec/initContainers/env/value", false),
    FieldSpec::new(
        "Job",
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new("Job", "spec/template/spec/volumes/nfs/server", false),
    FieldSpec::new("Pod", "spec/containers/args", false),
    FieldSpec::new("Pod", "spec/containers/command", false),
    FieldSpec::new("Pod", "spec/containers/env/value", false),
    FieldSpec::new("Pod", "spec/containers/volumeMounts/mountPath", false),
    FieldSpec::new("Pod", "spec/initContainers/args", false),
    FieldSpec::new("Pod", "spec/initContainers/command", false),
    FieldSpec::new("Pod", "spec/initContainers/env/value", false),
    FieldSpec::new("Pod", "spec/initContainers/volumeMounts/mountPath", false),
    FieldSpec::new("Pod", "spec/volumes/nfs/server", false),
    FieldSpec::new("ReplicaSet", "spec/template/spec/containers/args", false),
    FieldSpec::new("ReplicaSet", "spec/template/spec/containers/command", false),
    FieldSpec::new(
        "ReplicaSet",
        "spec/template/spec/containers/env/value",
        false,
    ),
    FieldSpec::new(
        "ReplicaSet",
        "spec/template/spec/containers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new(
        "ReplicaSet",
        "spec/template/spec/initContainers/args",
        false,
    ),
    FieldSpec::new(
        "ReplicaSet",
        "spec/template/spec/initContainers/command",
        false,
    ),
    FieldSpec::new(
        "ReplicaSet",
        "spec/template/spec/initContainers/env/value",
        false,
    ),
    FieldSpec::new(
        "ReplicaSet",
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new("ReplicaSet", "spec/template/spec/volumes/nfs/server", false),
    FieldSpec::new("Service", "spec/ports/port", false),
    FieldSpec::new("Service", "spec/ports/targetPort", false),
    FieldSpec::new("StatefulSet", "spec/template/spec/containers/args", false),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/containers/command",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/containers/env/value",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/containers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/initContainers/args",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/initContainers/command",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/initContainers/env/value",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/template/spec/initContainers/volumeMounts/mountPath",
        false,
    ),
    FieldSpec::new(
        "StatefulSet",
        "spec/volumeClaimTemplates/spec/nfs/server",
        false,
    ),
    FieldSpec::new("PersistentVolume", "spec/nfs/server", false),
    FieldSpec::new("", "metadata/labels", false),
    FieldSpec::new("", "metadata/annotations", false),
];
