//! Strategic merge patch, as kustomize (kyaml) applies it.
//!
//! Lists in built-in Kubernetes kinds merge by their patch merge keys (containers by `name`,
//! container ports by `containerPort`+`protocol`, ...) or are replaced when the schema has
//! none; kyaml puts the patch's elements first. In custom resources every list is replaced.
//! Unlike kyaml, `$retainKeys` and `$deleteFromPrimitiveList` are honoured and
//! `$setElementOrder` is dropped instead of being copied into the object
//! (docs/compatibility.md).

mod keyed;

use serde_json::{Map, Value};

/// API groups whose kinds kustomize knows from the built-in OpenAPI schema.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "certificates.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "events.k8s.io",
    "extensions",
];

/// How lists are merged inside one object.
#[derive(Clone, Copy, Debug)]
pub enum Schema {
    /// A built-in kind: merge keys come from the Kubernetes API's patch metadata.
    Builtin { kind_is_service: bool },
    /// A custom resource: no schema, lists are replaced.
    Custom,
}

impl Schema {
    pub fn for_object(api_version: &str, kind: &str) -> Schema {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        if BUILTIN_GROUPS.contains(&group) {
            Schema::Builtin {
                kind_is_service: kind == "Service",
            }
        } else {
            Schema::Custom
        }
    }

    /// How the list at `field` (its own name) whose parent is `parent` merges.
    fn list_merge(self, parent: &str, field: &str) -> ListMerge {
        let Schema::Builtin { kind_is_service } = self else {
            return ListMerge::Replace;
        };
        match field {
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "env"
            | "volumes"
            | "imagePullSecrets"
            | "secrets" => ListMerge::Keys(&["name"]),
            "volumeMounts" => ListMerge::Keys(&["mountPath"]),
            "volumeDevices" => ListMerge::Keys(&["devicePath"]),
            "hostAliases" => ListMerge::Keys(&["ip"]),
            "conditions" => ListMerge::Keys(&["type"]),
            "topologySpreadConstraints" => ListMerge::Keys(&["topologyKey", "whenUnsatisfiable"]),
            "ownerReferences" => ListMerge::Keys(&["uid"]),
            "finalizers" => ListMerge::ScalarUnion,
            "ports" if kind_is_service && parent == "spec" => {
                ListMerge::Keys(&["port", "protocol"])
            }
            "ports" => ListMerge::Keys(&["containerPort", "protocol"]),
            _ => ListMerge::Replace,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ListMerge {
    Keys(&'static [&'static str]),
    ScalarUnion,
    Replace,
}

/// Applies `patch` to `target` in place. Fails, as kyaml does, where the patch and the
/// object disagree on what a field is (a map against a list or a scalar, ...).
pub fn merge(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Schema,
) -> Result<(), String> {
    merge_map(target, patch, schema, "")
}

fn directive(map: &Map<String, Value>) -> Option<&str> {
    map.get("$patch").and_then(Value::as_str)
}

fn node_kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "a map",
        Value::Array(_) => "a list",
        _ => "a scalar",
    }
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Schema,
    own_name: &str,
) -> Result<(), String> {
    if directive(patch) == Some("replace") {
        *target = strip_directives_map(patch, schema, own_name);
        return Ok(());
    }
    let mut retain: Option<Vec<String>> = None;
    for (key, value) in patch {
        if key == "$patch" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if key == "$retainKeys" {
            retain = value.as_array().map(|keys| {
                keys.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            });
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) =
                (target.get_mut(field), value.as_array())
            {
                items.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if let Some(existing) = target.get(key).filter(|v| !v.is_null())
            && !value.is_null()
            && node_kind(existing) != node_kind(value)
        {
            return Err(format!(
                "field '{key}' is {} in the object but {} in the patch",
                node_kind(existing),
                node_kind(value)
            ));
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(patch_map) if directive(patch_map) == Some("delete") => {
                target.remove(key);
            }
            Value::Object(patch_map) => match target.get_mut(key) {
                Some(Value::Object(existing)) => merge_map(existing, patch_map, schema, key)?,
                _ => {
                    let added = strip_directives_map(patch_map, schema, key);
                    target.insert(key.clone(), Value::Object(added));
                }
            },
            Value::Array(patch_items) => match target.get_mut(key) {
                Some(Value::Array(existing)) => {
                    if !merge_list(existing, patch_items, schema, own_name, key)? {
                        target.remove(key);
                    }
                }
                _ if schema.list_merge(own_name, key) != ListMerge::Replace
                    && list_directive(patch_items) == Some("delete") => {}
                _ => {
                    let added = strip_list(patch_items, schema, own_name, key);
                    target.insert(key.clone(), Value::Array(added));
                }
            },
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
    }
    if let Some(keep) = retain {
        target.retain(|k, _| keep.iter().any(|kept| kept == k));
    }
    Ok(())
}

/// `$patch: delete|replace` on a map element of a list.
fn is_directive_element(item: &Value) -> bool {
    item.as_object()
        .and_then(directive)
        .is_some_and(|d| d == "delete" || d == "replace")
}

/// kyaml reads a list's directive from the first element with `$patch`; it is for the
/// list only when that element has nothing else.
fn list_directive(patch: &[Value]) -> Option<&str> {
    let first = patch
        .iter()
        .filter_map(Value::as_object)
        .find(|m| m.contains_key("$patch"))?;
    (first.len() == 1).then(|| directive(first)).flatten()
}

/// Merges a list field; false when the whole field goes (`- $patch: delete`).
fn merge_list(
    target: &mut Vec<Value>,
    patch: &[Value],
    schema: Schema,
    parent: &str,
    field: &str,
) -> Result<bool, String> {
    let how = schema.list_merge(parent, field);
    if how == ListMerge::Replace {
        // kyaml replaces a list without merge keys with the patch's as written, directive
        // elements and nulls included.
        *target = patch.to_vec();
        return Ok(true);
    }
    match list_directive(patch) {
        Some("replace") => {
            *target = strip_list(patch, schema, parent, field);
            return Ok(true);
        }
        Some("delete") => return Ok(false),
        _ => {}
    }
    match how {
        ListMerge::Replace => unreachable!("handled above"),
        ListMerge::ScalarUnion => {
            let mut merged: Vec<Value> = Vec::with_capacity(target.len() + patch.len());
            for item in patch.iter().chain(target.iter()) {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            *target = merged;
        }
        ListMerge::Keys(keys) => keyed::merge(target, patch, keys, schema, field)?,
    }
    Ok(true)
}

/// A patch list put in place of a missing one: as written without merge keys, else without
/// directive elements and with the elements' directives applied.
fn strip_list(items: &[Value], schema: Schema, parent: &str, field: &str) -> Vec<Value> {
    if schema.list_merge(parent, field) == ListMerge::Replace {
        return items.to_vec();
    }
    items
        .iter()
        .filter(|i| !is_directive_element(i))
        .map(|item| match item {
            Value::Object(map) => Value::Object(strip_directives_map(map, schema, field)),
            other => other.clone(),
        })
        .collect()
}

/// A patch map put where the object has none: directives applied (maps marked
/// `$patch: delete` left out), directive keys and nulls dropped.
fn strip_directives_map(
    map: &Map<String, Value>,
    schema: Schema,
    own_name: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        let kept = match value {
            _ if key.starts_with('$') => None,
            Value::Null => None,
            Value::Object(inner) if directive(inner) == Some("delete") => None,
            Value::Object(inner) => Some(Value::Object(strip_directives_map(inner, schema, key))),
            Value::Array(items) => Some(Value::Array(strip_list(items, schema, own_name, key))),
            other => Some(other.clone()),
        };
        if let Some(value) = kept {
            out.insert(key.clone(), value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(target: Value, patch: Value) -> Value {
        let api_version = target["apiVersion"]
            .as_str()
            .unwrap_or("apps/v1")
            .to_string();
        let kind = target["kind"].as_str().unwrap_or("Deployment").to_string();
        let mut target = target.as_object().unwrap().clone();
        merge(
            &mut target,
            patch.as_object().unwrap(),
            Schema::for_object(&api_version, &kind),
        )
        .unwrap();
        Value::Object(target)
    }

    #[test]
    fn containers_merge_by_name_patch_elements_first() {
        let target = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Z"}]},
            {"name": "b", "image": "b:1"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "c:1"},
            {"name": "a", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}]}]}}}});
        let out = apply(target, patch);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "c", "image": "c:1"},
                {"name": "a", "image": "a:1", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}, {"name": "Z"}]},
                {"name": "b", "image": "b:1"}
            ])
        );
    }

    #[test]
    fn delete_and_replace_directives() {
        let target = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "volumes": [{"name": "v", "emptyDir": {}}],
            "tolerations": [{"key": "k"}],
            "affinity": {"nodeAffinity": {}}}}}});
        let patch = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "b", "$patch": "delete"}],
            "volumes": [{"$patch": "replace"}, {"name": "w", "secret": {"secretName": "s"}}],
            "tolerations": [{"$patch": "delete"}],
            "affinity": {"$patch": "delete"}}}}});
        let out = apply(target, patch);
        let spec = &out["spec"]["template"]["spec"];
        assert_eq!(spec["containers"], json!([{"name": "a"}]));
        assert_eq!(
            spec["volumes"],
            json!([{"name": "w", "secret": {"secretName": "s"}}])
        );
        assert!(spec.get("affinity").is_none());
        // A list without merge keys is replaced as written, directives included.
        assert_eq!(spec["tolerations"], json!([{"$patch": "delete"}]));
    }

    #[test]
    fn lists_without_merge_key_are_replaced_and_null_deletes() {
        let target = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "args": ["x", "y"], "resources": {"limits": {"cpu": "1"}}}],
            "tolerations": [{"key": "k"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "args": ["z"], "resources": null, "absent": null}],
            "tolerations": [{"key": "j"}]}}}});
        let out = apply(target, patch);
        let spec = &out["spec"]["template"]["spec"];
        assert_eq!(spec["containers"], json!([{"name": "a", "args": ["z"]}]));
        assert_eq!(spec["tolerations"], json!([{"key": "j"}]));
    }

    #[test]
    fn ports_merge_by_port_and_protocol() {
        let target = json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [
            {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "grpc", "port": 9000}]}});
        let patch =
            json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}});
        let out = apply(target, patch);
        assert_eq!(
            out["spec"]["ports"],
            json!([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}, {"name": "grpc", "port": 9000}])
        );
    }

    #[test]
    fn finalizers_union_patch_first() {
        let target = json!({"metadata": {"finalizers": ["f1", "f2"]}});
        let patch = json!({"metadata": {"finalizers": ["f3", "f1"]}});
        assert_eq!(
            apply(target, patch)["metadata"]["finalizers"],
            json!(["f3", "f1", "f2"])
        );
    }

    #[test]
    fn retain_keys_and_primitive_list_deletes() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]},
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                     "$setElementOrder/containers": [{"name": "x"}]}});
        let out = apply(target, patch);
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(out["spec"], json!({"strategy": {"type": "Recreate"}}));
    }

    #[test]
    fn custom_resources_replace_lists_and_merge_maps() {
        let target = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {
            "items": [{"name": "a", "v": 1}], "size": {"w": 1, "h": 2}}});
        let patch = json!({"spec": {"items": [{"name": "a", "v": 2}], "size": {"h": 3}}});
        let out = apply(target, patch);
        assert_eq!(out["spec"]["items"], json!([{"name": "a", "v": 2}]));
        assert_eq!(out["spec"]["size"], json!({"w": 1, "h": 3}));
    }
}
