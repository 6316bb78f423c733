//! A Kubernetes object in a build, with the identities it has held.

use serde_json::{Map, Value};
use std::fmt;

/// Group, version and kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// Whether objects of this kind live outside namespaces: what a custom OpenAPI document
    /// in use says of a kind outside kyaml's fixed table (`openapi::scope`), else kustomize's
    /// built-in table of (group, kind); anything else, custom resources included, is
    /// namespaced. (kustomize's schema has FlowSchema and PriorityLevelConfiguration
    /// namespaced, and so do we.)
    pub fn is_cluster_scoped(&self) -> bool {
        if let Some(cluster_scoped) =
            crate::openapi::scope::custom_cluster_scoped(&self.group, &self.version, &self.kind)
        {
            return cluster_scoped;
        }
        CLUSTER_SCOPED
            .iter()
            .any(|(group, kind)| *group == self.group && *kind == self.kind)
    }
}

const CLUSTER_SCOPED: &[(&str, &str)] = &[
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "NodeProxyOptions"),
    ("", "PersistentVolume"),
];

/// An object's identity: kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResId {
    pub gvk: Gvk,
    pub namespace: String,
    pub name: String,
}

impl ResId {
    /// The namespace used for comparisons: kustomize treats "" and "default" alike.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    pub fn same_object(&self, other: &ResId) -> bool {
        self.gvk.kind == other.gvk.kind
            && self.gvk.group == other.gvk.group
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }
}

impl fmt::Display for Gvk {
    /// As kustomize prints kinds in errors: `Kind.version.group`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |s: &'_ str, empty: &'static str| {
            if s.is_empty() {
                empty.to_string()
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "{}.{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]")
        )
    }
}

impl fmt::Display for ResId {
    /// As kustomize prints ids in errors: `Kind.version.group/name.namespace`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let namespace = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(f, "{}/{}.{}", self.gvk, self.name, namespace)
    }
}

/// How a generated object combines with one of the same name from a base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

impl Behavior {
    /// kustomize's reading: `merge` and `replace` exactly; any other text (`""`, `Merge`)
    /// and null are its "unspecified", which creates as `create` does.
    pub fn from_text(text: Option<&str>) -> Behavior {
        match text {
            Some("merge") => Behavior::Merge,
            Some("replace") => Behavior::Replace,
            _ => Behavior::Create,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Behavior {
    /// A string or null; another type is an error, as in kustomize.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: Option<String> = serde::Deserialize::deserialize(deserializer)?;
        Ok(Behavior::from_text(text.as_deref()))
    }
}

/// One object in a build.
#[derive(Clone, Debug)]
pub struct Resource {
    pub object: Map<String, Value>,
    /// Every (namespace, name) the object has had, oldest first, the current one included:
    /// references written against any of them are renamed to the final name.
    pub history: Vec<(String, String)>,
    /// The identity it was loaded or generated with.
    pub original: ResId,
    /// Generated ConfigMaps and Secrets get a content-hash name suffix at the end of the build.
    pub needs_hash: bool,
    /// For generated objects: how to combine with an existing object of the same name.
    pub behavior: Behavior,
    /// Where the object came from, for error messages.
    pub origin: String,
    /// The ids kustomize recorded before its namespace, prefix, suffix and `patches` JSON6902
    /// transformers ran on the object (its `previousNames`, `previousNamespaces` and
    /// `previousKinds` build annotations), oldest first: replacements select by them too.
    pub previous_ids: Vec<PreviousId>,
    /// kustomize has put build annotations on it by now (namespace, prefix or suffix,
    /// generator, `patches` JSON6902): JSON6902 patches find a `metadata.annotations` map.
    pub build_annotations: bool,
    /// The `vars` whose objref picked this object where they were declared: their values
    /// are read from it once the build is done, whatever it has been renamed to since.
    pub var_names: Vec<String>,
    /// The name prefixes and suffixes kustomize recorded on it, oldest first: name
    /// references prefer objects renamed alike.
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Fields its file wrote with no value (`key:`), which a strategic merge patch drops
    /// (see `smp::drop_empty_fields`); they read as null like `key: null` until then.
    pub empty_fields: Vec<crate::yaml::Path>,
}

impl Resource {
    pub fn new(object: Map<String, Value>, origin: String) -> Resource {
        let mut resource = Resource {
            object,
            history: Vec::new(),
            original: ResId {
                gvk: Gvk::from_api_version("", ""),
                namespace: String::new(),
                name: String::new(),
            },
            needs_hash: false,
            behavior: Behavior::Create,
            origin,
            previous_ids: Vec::new(),
            build_annotations: false,
            var_names: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            empty_fields: Vec::new(),
        };
        resource.original = resource.id();
        resource
            .history
            .push((resource.namespace(), resource.name()));
        resource
    }

    pub fn id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            namespace: self.namespace(),
            name: self.name(),
        }
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(str_at(&self.object, "apiVersion"), self.kind())
    }

    pub fn kind(&self) -> &str {
        str_at(&self.object, "kind")
    }

    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.object.get("metadata").and_then(Value::as_object)
    }

    /// Drops `metadata.annotations` when it is null or empty: kustomize's output never holds
    /// an empty annotations map (it keeps an empty or null `labels`).
    pub fn drop_empty_annotations(&mut self) {
        let Some(Value::Object(metadata)) = self.object.get_mut("metadata") else {
            return;
        };
        let empty = match metadata.get("annotations") {
            Some(Value::Null) => true,
            Some(Value::Object(annotations)) => annotations.is_empty(),
            _ => false,
        };
        if empty {
            metadata.remove("annotations");
        }
    }

    /// kustomize's last step on every object (removing its build annotations) reads
    /// `metadata.annotations` as strings and writes them back: numbers and booleans become
    /// their text, null `null`, a map or list an empty string.
    pub fn stringify_annotations(&mut self) {
        let Some(Value::Object(metadata)) = self.object.get_mut("metadata") else {
            return;
        };
        let Some(Value::Object(annotations)) = metadata.get_mut("annotations") else {
            return;
        };
        for value in annotations.values_mut() {
            let text = match value {
                Value::String(_) => continue,
                Value::Number(n) => crate::yaml::number_text(n),
                Value::Bool(b) => b.to_string(),
                Value::Null => "null".to_string(),
                Value::Object(_) | Value::Array(_) => String::new(),
            };
            *value = Value::String(text);
        }
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let metadata = self
            .object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        metadata.as_object_mut().expect("metadata is a map")
    }

    pub fn name(&self) -> String {
        self.metadata()
            .map(|m| str_at(m, "name").to_string())
            .unwrap_or_default()
    }

    pub fn namespace(&self) -> String {
        self.metadata()
            .map(|m| str_at(m, "namespace").to_string())
            .unwrap_or_default()
    }

    /// Sets the name, remembering the previous one.
    pub fn set_name(&mut self, name: String) {
        self.metadata_mut()
            .insert("name".to_string(), Value::String(name));
        self.remember_identity();
    }

    pub fn set_namespace(&mut self, namespace: &str) {
        self.metadata_mut().insert(
            "namespace".to_string(),
            Value::String(namespace.to_string()),
        );
        self.remember_identity();
    }

    /// Records the current (namespace, name) after an edit that may have changed them.
    pub fn remember_identity(&mut self) {
        let current = (self.namespace(), self.name());
        if self.history.last() != Some(&current) {
            self.history.push(current);
        }
    }

    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.metadata()
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
    }

    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.metadata()
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
    }

    /// kustomize's last check on every object (kyaml's `GetValidatedMetadata`): a kind, and
    /// a name unless the kind ends in `List`; numbers and booleans count as their text.
    /// Objects are loaded with both, so only a patch can take them away.
    pub fn check_identity(&self) -> Result<(), String> {
        let present = |v: Option<&Value>| match v {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Number(_) | Value::Bool(_)) => true,
            _ => false,
        };
        let kind = self.object.get("kind");
        let field = if !present(kind) {
            "kind"
        } else if kind
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            || present(self.metadata().and_then(|m| m.get("name")))
        {
            return Ok(());
        } else {
            "metadata.name"
        };
        Err(format!("{}: no {field} left after patches", self.original))
    }

    /// Whether the object has ever been named `name`, or is now (a replacement may rename it
    /// without recording the old name).
    pub fn was_named(&self, name: &str) -> bool {
        self.history.iter().any(|(_, n)| n == name) || self.name() == name
    }

    /// Records the current id as kustomize's `StorePreviousId` does, namespace made
    /// effective, before a transformer that may change it.
    pub fn store_previous_id(&mut self) {
        let name = self.name();
        self.store_previous_id_named(name);
    }

    /// Records the current kind and namespace with `name`: kustomize's suffix transformer
    /// records the name its prefix transformer has just written.
    pub fn store_previous_id_named(&mut self, name: String) {
        let namespace = if self.gvk().is_cluster_scoped() {
            NOT_A_NAMESPACE.to_string()
        } else {
            match self.namespace().as_str() {
                "" | "default" => "default".to_string(),
                ns => ns.to_string(),
            }
        };
        self.previous_ids.push(PreviousId {
            kind: self.kind().to_string(),
            namespace,
            name,
        });
    }

    /// The current id (its namespace as written) and then the previous ids, as kustomize
    /// lists them for selection; previous ids take the current group and version.
    pub fn all_ids(&self) -> Vec<ResId> {
        let current = self.id();
        let mut ids = vec![current.clone()];
        ids.extend(self.previous_ids.iter().map(|p| ResId {
            gvk: Gvk {
                kind: p.kind.clone(),
                ..current.gvk.clone()
            },
            namespace: p.namespace.clone(),
            name: p.name.clone(),
        }));
        ids
    }
}

/// kustomize's namespace for cluster-scoped objects in recorded ids.
pub const NOT_A_NAMESPACE: &str = "_non_namespaceable_";

/// One id from kustomize's previous-id build annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousId {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

pub fn str_at<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generator_behaviors_read_as_kustomize_reads_them() {
        let read = |v: serde_json::Value| serde_json::from_value::<Behavior>(v);
        assert_eq!(read(json!("merge")).unwrap(), Behavior::Merge);
        assert_eq!(read(json!("replace")).unwrap(), Behavior::Replace);
        for unspecified in [json!("create"), json!(""), json!("Merge"), json!(null)] {
            assert_eq!(read(unspecified).unwrap(), Behavior::Create);
        }
        assert!(read(json!(1)).is_err());
        assert!(read(json!(true)).is_err());
    }

    #[test]
    fn annotations_end_as_strings() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "a",
            "annotations": {"n": 3, "b": true, "z": null, "m": {"k": "v"}, "s": "x"},
            "labels": {"n": 3}}});
        let mut resource = Resource::new(object.as_object().unwrap().clone(), "test".into());
        resource.stringify_annotations();
        assert_eq!(
            resource.object["metadata"],
            json!({"name": "a", "annotations": {"n": "3", "b": "true", "z": "null", "m": "",
                "s": "x"}, "labels": {"n": 3}})
        );
    }

    #[test]
    fn previous_ids_are_recorded_with_effective_namespaces() {
        let object = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "r"}});
        let mut role = Resource::new(object.as_object().unwrap().clone(), "test".into());
        role.store_previous_id();
        let object = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
        let mut service = Resource::new(object.as_object().unwrap().clone(), "test".into());
        service.store_previous_id_named("p-s".into());
        service.set_name("p-s-x".into());
        assert_eq!(role.previous_ids[0].namespace, NOT_A_NAMESPACE);
        let ids: Vec<(String, String)> = service
            .all_ids()
            .into_iter()
            .map(|id| (id.namespace, id.name))
            .collect();
        assert_eq!(
            ids,
            [
                ("".into(), "p-s-x".into()),
                ("default".into(), "p-s".into())
            ]
        );
    }
}
