//! The inventory: which objects a Kustomization applied (`status.inventory.entries`), in
//! cli-utils' id format, and which of them a new revision no longer has.

use api::kustomize::ResourceRef;
use kustomize::Resource;

/// One object's identity, as the inventory records it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn of(resource: &Resource) -> ObjectRef {
        let gvk = resource.gvk();
        ObjectRef {
            group: gvk.group,
            version: gvk.version,
            kind: gvk.kind,
            namespace: resource.namespace(),
            name: resource.name(),
        }
    }

    /// `<namespace>_<name>_<group>_<Kind>`; a `:` in a name (RBAC) is written `__`.
    pub fn id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace,
            self.name.replace(':', "__"),
            self.group,
            self.kind
        )
    }

    /// `Kind/namespace/name` (or `Kind/name`), as Flux's change-set and health messages.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn entry(&self) -> ResourceRef {
        ResourceRef {
            id: self.id(),
            v: self.version.clone(),
        }
    }

    /// Parses an inventory entry back; `None` for a malformed id.
    pub fn from_entry(entry: &ResourceRef) -> Option<ObjectRef> {
        // Names may contain `__` (from `:`) but no single `_`; namespaces and groups have none.
        let (namespace, rest) = entry.id.split_once('_')?;
        let (rest, kind) = rest.rsplit_once('_')?;
        let (name, group) = rest.rsplit_once('_')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(ObjectRef {
            group: group.to_string(),
            version: entry.v.clone(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.replace("__", ":"),
        })
    }
}

/// Objects in `old` that are not in `new` (compared by id, so a version change is no removal),
/// in reverse order for deletion.
pub fn stale(old: &[ResourceRef], new: &[ObjectRef]) -> Vec<ObjectRef> {
    let current: std::collections::HashSet<String> = new.iter().map(ObjectRef::id).collect();
    old.iter()
        .filter(|e| !current.contains(&e.id))
        .filter_map(ObjectRef::from_entry)
        .rev()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, v: &str) -> ResourceRef {
        ResourceRef {
            id: id.into(),
            v: v.into(),
        }
    }

    #[test]
    fn ids_round_trip_in_cli_utils_format() {
        let cases = [
            ("default_podinfo__Service", "v1"),
            ("_podinfo_rbac.authorization.k8s.io_ClusterRole", "v1"),
            (
                "_system__controller__leader_rbac.authorization.k8s.io_ClusterRole",
                "v1",
            ),
            ("apps_podinfo_apps_Deployment", "v1"),
            (
                "_my-crd.example.com_apiextensions.k8s.io_CustomResourceDefinition",
                "v1",
            ),
        ];
        for (id, v) in cases {
            let parsed = ObjectRef::from_entry(&entry(id, v)).unwrap();
            assert_eq!(parsed.id(), id);
        }
        let rbac = ObjectRef::from_entry(&entry(cases[2].0, "v1")).unwrap();
        assert_eq!(rbac.name, "system:controller:leader");
        assert_eq!(rbac.display(), "ClusterRole/system:controller:leader");
    }

    #[test]
    fn stale_objects_in_reverse_order() {
        let old = vec![
            entry("default_a__ConfigMap", "v1"),
            entry("default_b__Service", "v1"),
            entry("default_c_apps_Deployment", "v1"),
        ];
        let keep = ObjectRef::from_entry(&entry("default_b__Service", "v1")).unwrap();
        let stale = stale(&old, &[keep]);
        let names: Vec<&str> = stale.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["c", "a"]);
    }
}
