//! Strategic merge patch, as kustomize (kyaml) applies it.
//!
//! kyaml walks the object and the patch together with the schema in use (`openapi`): lists
//! in built-in Kubernetes kinds merge by their patch merge keys (containers by `name`,
//! container ports by `containerPort`+`protocol`, ...), lists a custom OpenAPI document
//! gives a `merge` strategy merge by its keys, and every other list is replaced; kyaml puts
//! the patch's elements first. Where the schema says nothing, a map that names its own
//! `apiVersion` and `kind` (an object embedded in another) is looked up by those.
//! Unlike kyaml, `$retainKeys` and `$deleteFromPrimitiveList` are honoured and
//! `$setElementOrder` is dropped instead of being copied into the object
//! (docs/compatibility.md).

mod keyed;

use crate::openapi::{self, ListStrategy, TypeSchema, Types};
use crate::yaml::Step;
use serde_json::{Map, Value};

/// The schema of one node of the walk.
#[derive(Clone, Copy)]
pub struct Schema<'a> {
    types: &'a Types,
    node: TypeSchema<'a>,
}

impl<'a> Schema<'a> {
    /// The schema of an object: by its apiVersion and kind.
    pub fn for_object(types: &'a Types, object: &Map<String, Value>) -> Schema<'a> {
        Schema {
            types,
            node: TypeSchema::Unknown,
        }
        .at_map(Some(object), &Map::new())
    }

    /// kyaml's `GetSchema` at a map: the schema found so far, else the type the object's
    /// map (then the patch's) names with both `apiVersion` and `kind`.
    fn at_map(self, dest: Option<&Map<String, Value>>, patch: &Map<String, Value>) -> Schema<'a> {
        if !matches!(self.node, TypeSchema::Unknown) {
            return self;
        }
        for map in dest.into_iter().chain(std::iter::once(patch)) {
            let text = |field: &str| map.get(field).and_then(Value::as_str).unwrap_or("");
            let (api_version, kind) = (text("apiVersion"), text("kind"));
            if api_version.is_empty() || kind.is_empty() {
                continue;
            }
            let node = self.types.lookup(api_version, kind);
            if !matches!(node, TypeSchema::Unknown) {
                return Schema { node, ..self };
            }
        }
        self
    }

    /// The schema of a map's field.
    fn field(self, name: &str) -> Schema<'a> {
        let node = match self.node {
            TypeSchema::Custom(schema) => self.types.field(schema, name),
            other => other,
        };
        Schema { node, ..self }
    }

    /// The schema of a list's elements.
    fn elements(self) -> Schema<'a> {
        let node = match self.node {
            TypeSchema::Custom(schema) => self.types.elements(schema),
            other => other,
        };
        Schema { node, ..self }
    }

    /// How the list at `field` (its own name; this is its schema) whose parent is `parent`
    /// merges.
    fn list_merge(self, parent: &str, field: &str) -> Result<ListMerge<'a>, String> {
        match self.node {
            TypeSchema::Unknown => Ok(ListMerge::Replace),
            TypeSchema::Builtin { kind_is_service } => {
                Ok(builtin_list_merge(kind_is_service, parent, field))
            }
            TypeSchema::Custom(schema) => match openapi::list_strategy(schema) {
                Ok(ListStrategy::Replace) => Ok(ListMerge::Replace),
                Ok(ListStrategy::ScalarUnion) => Ok(ListMerge::ScalarUnion),
                Ok(ListStrategy::Keys(keys)) => Ok(ListMerge::Keys(keys)),
                Err(e) => Err(format!("the schema of list '{field}': {e}")),
            },
        }
    }
}

/// The built-in schema's merge keys, by field name (and, for Service ports, the parent's).
fn builtin_list_merge(kind_is_service: bool, parent: &str, field: &str) -> ListMerge<'static> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets"
        | "webhooks"
        | "drivers" => ListMerge::Keys(vec!["name"]),
        "podIPs" => ListMerge::Keys(vec!["ip"]),
        "volumeMounts" => ListMerge::Keys(vec!["mountPath"]),
        "volumeDevices" => ListMerge::Keys(vec!["devicePath"]),
        "hostAliases" => ListMerge::Keys(vec!["ip"]),
        "conditions" => ListMerge::Keys(vec!["type"]),
        "topologySpreadConstraints" => ListMerge::Keys(vec!["topologyKey", "whenUnsatisfiable"]),
        "ownerReferences" => ListMerge::Keys(vec!["uid"]),
        "finalizers" => ListMerge::ScalarUnion,
        "ports" if kind_is_service && parent == "spec" => ListMerge::Keys(vec!["port", "protocol"]),
        "ports" => ListMerge::Keys(vec!["containerPort", "protocol"]),
        _ => ListMerge::Replace,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum ListMerge<'a> {
    Keys(Vec<&'a str>),
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

/// kyaml's merge walks the whole object, patched there or not: every map, and the elements
/// of lists with merge keys that have a key value. On the way it drops the fields written
/// with no value (`key:`) and keeps those written `key: null` or `key: ~` (go-yaml gives
/// the first an empty text). Drops the field at `path` if such a walk reaches it and it is
/// still null; returns whether it did.
pub fn drop_empty_field(target: &mut Map<String, Value>, path: &[Step], schema: Schema) -> bool {
    let Some((Step::Key(last), parents)) = path.split_last() else {
        return false;
    };
    let mut map = target;
    let mut own_name = "";
    let mut schema = schema;
    let mut steps = parents.iter();
    while let Some(step) = steps.next() {
        let Step::Key(key) = step else {
            return false;
        };
        schema = schema.field(key);
        map = match map.get_mut(key) {
            Some(Value::Object(inner)) => inner,
            Some(Value::Array(items)) => {
                let Ok(ListMerge::Keys(keys)) = schema.list_merge(own_name, key) else {
                    return false;
                };
                schema = schema.elements();
                let Some(Step::Index(index)) = steps.next() else {
                    return false;
                };
                match items.get_mut(*index) {
                    Some(Value::Object(element))
                        if keys.iter().any(|k| has_key_value(element, k)) =>
                    {
                        element
                    }
                    _ => return false,
                }
            }
            _ => return false,
        };
        own_name = key;
    }
    map.get(last).is_some_and(Value::is_null) && map.remove(last).is_some()
}

/// Whether a list element has a value kyaml can match at a merge key.
fn has_key_value(element: &Map<String, Value>, key: &str) -> bool {
    match element.get(key) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(_) | Value::Bool(_)) => true,
        _ => false,
    }
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

/// Merges a patch map into the object's map; `schema` is the map's.
fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Schema,
    own_name: &str,
) -> Result<(), String> {
    if directive(patch) == Some("replace") {
        *target = strip_directives_map(patch, schema, own_name)?;
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
        merge_field(target, key, value, schema, own_name)?;
    }
    // kyaml walks the object's fields the patch does not name too: maps all the way down,
    // and lists with merge keys, merged with nothing (so duplicate keys collapse).
    for (key, value) in target.iter_mut() {
        if patch.contains_key(key) {
            continue;
        }
        let child = schema.field(key);
        match value {
            Value::Object(map) => {
                let child = child.at_map(Some(map), &Map::new());
                merge_map(map, &Map::new(), child, key)?
            }
            Value::Array(items) if child.list_merge(own_name, key)? != ListMerge::Replace => {
                merge_list(items, &[], child, own_name, key)?;
            }
            _ => {}
        }
    }
    if let Some(keep) = retain {
        target.retain(|k, _| keep.iter().any(|kept| kept == k));
    }
    Ok(())
}

/// Merges one field of a patch map into the object's map (`schema` and `own_name` are the
/// map's).
fn merge_field(
    target: &mut Map<String, Value>,
    key: &str,
    value: &Value,
    schema: Schema,
    own_name: &str,
) -> Result<(), String> {
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
    let child = schema.field(key);
    match value {
        Value::Null => {
            target.remove(key);
        }
        Value::Object(patch_map) if directive(patch_map) == Some("delete") => {
            target.remove(key);
        }
        Value::Object(patch_map) => match target.get_mut(key) {
            Some(Value::Object(existing)) => {
                let child = child.at_map(Some(existing), patch_map);
                merge_map(existing, patch_map, child, key)?;
            }
            _ => {
                let added = strip_directives_map(patch_map, child.at_map(None, patch_map), key)?;
                target.insert(key.to_string(), Value::Object(added));
            }
        },
        Value::Array(patch_items) => match target.get_mut(key) {
            Some(Value::Array(existing)) => {
                if !merge_list(existing, patch_items, child, own_name, key)? {
                    target.remove(key);
                }
            }
            _ if child.list_merge(own_name, key)? != ListMerge::Replace
                && list_directive(patch_items) == Some("delete") => {}
            _ => {
                let added = strip_list(patch_items, child, own_name, key)?;
                target.insert(key.to_string(), Value::Array(added));
            }
        },
        scalar => {
            target.insert(key.to_string(), scalar.clone());
        }
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

/// Merges a list field (`schema` is the list's); false when the whole field goes
/// (`- $patch: delete`).
fn merge_list(
    target: &mut Vec<Value>,
    patch: &[Value],
    schema: Schema,
    parent: &str,
    field: &str,
) -> Result<bool, String> {
    let how = schema.list_merge(parent, field)?;
    if how == ListMerge::Replace {
        // kyaml replaces a list without merge keys with the patch's as written, directive
        // elements and nulls included.
        *target = patch.to_vec();
        return Ok(true);
    }
    match list_directive(patch) {
        Some("replace") => {
            *target = strip_list(patch, schema, parent, field)?;
            return Ok(true);
        }
        Some("delete") => return Ok(false),
        _ => {}
    }
    match how {
        ListMerge::Replace => unreachable!("handled above"),
        ListMerge::ScalarUnion => {
            // kyaml sets such a list's elements by value: maps and lists fail there.
            if let Some(item) = patch.iter().chain(target.iter()).find(|i| is_collection(i)) {
                return Err(format!(
                    "list '{field}' merges as a set of scalars (a merge strategy without a \
                     merge key) but has {} element",
                    node_kind(item)
                ));
            }
            let mut merged: Vec<Value> = Vec::with_capacity(target.len() + patch.len());
            for item in patch.iter().chain(target.iter()) {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            *target = merged;
        }
        ListMerge::Keys(keys) => keyed::merge(target, patch, &keys, schema.elements(), field)?,
    }
    Ok(true)
}

fn is_collection(value: &Value) -> bool {
    value.is_object() || value.is_array()
}

/// A patch list put in place of a missing one (`schema` is the list's): as written without
/// merge keys, else without directive elements and with the elements' directives applied.
fn strip_list(
    items: &[Value],
    schema: Schema,
    parent: &str,
    field: &str,
) -> Result<Vec<Value>, String> {
    if schema.list_merge(parent, field)? == ListMerge::Replace {
        return Ok(items.to_vec());
    }
    let elements = schema.elements();
    items
        .iter()
        .filter(|i| !is_directive_element(i))
        .map(|item| match item {
            Value::Object(map) => {
                strip_directives_map(map, elements.at_map(None, map), field).map(Value::Object)
            }
            other => Ok(other.clone()),
        })
        .collect()
}

/// A patch map put where the object has none (`schema` is the map's): directives applied
/// (maps marked `$patch: delete` left out), directive keys and nulls dropped.
fn strip_directives_map(
    map: &Map<String, Value>,
    schema: Schema,
    own_name: &str,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (key, value) in map {
        let child = schema.field(key);
        let kept = match value {
            _ if key.starts_with('$') => None,
            Value::Null => None,
            Value::Object(inner) if directive(inner) == Some("delete") => None,
            Value::Object(inner) => Some(Value::Object(strip_directives_map(
                inner,
                child.at_map(None, inner),
                key,
            )?)),
            Value::Array(items) => Some(Value::Array(strip_list(items, child, own_name, key)?)),
            other => Some(other.clone()),
        };
        if let Some(value) = kept {
            out.insert(key.clone(), value);
        }
    }
    Ok(out)
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
        let types = Types::builtin();
        let schema = Schema {
            types: &types,
            node: types.lookup(&api_version, &kind),
        };
        merge(&mut target, patch.as_object().unwrap(), schema).unwrap();
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
    fn embedded_objects_use_the_schema_of_their_kind() {
        // kyaml looks a map naming apiVersion and kind up when the schema says nothing.
        let target = json!({"apiVersion": "example.com/v1", "kind": "Wrapper", "spec": {
            "inner": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template":
                {"spec": {"containers": [{"name": "a"}]}}}},
            "plain": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}}});
        let containers = json!({"spec": {"template": {"spec": {"containers": [{"name": "b"}]}}}});
        let patch = json!({"spec": {"inner": containers, "plain": containers}});
        let out = apply(target, patch);
        let at = |field: &str| out["spec"][field]["spec"]["template"]["spec"]["containers"].clone();
        assert_eq!(at("inner"), json!([{"name": "b"}, {"name": "a"}]));
        assert_eq!(at("plain"), json!([{"name": "b"}]));
    }

    #[test]
    fn fields_written_empty_go_where_kyaml_walks() {
        let key = |k: &str| Step::Key(k.into());
        let mut target = json!({"spec": {"replicas": null, "template": {"spec": {
            "containers": [{"name": "c", "args": null}, {"image": "x", "args": null}],
            "tolerations": [{"key": "k", "value": null}]}}}})
        .as_object()
        .unwrap()
        .clone();
        let containers = [key("spec"), key("template"), key("spec"), key("containers")];
        let path = |tail: &[Step]| {
            containers[..3]
                .iter()
                .chain(tail)
                .cloned()
                .collect::<Vec<_>>()
        };
        let types = Types::builtin();
        let schema = Schema::for_object(
            &types,
            json!({"apiVersion": "apps/v1", "kind": "Deployment"})
                .as_object()
                .unwrap(),
        );
        assert!(drop_empty_field(
            &mut target,
            &[key("spec"), key("replicas")],
            schema
        ));
        let in_element = |i| path(&[key("containers"), Step::Index(i), key("args")]);
        assert!(drop_empty_field(&mut target, &in_element(0), schema));
        // An element without its merge key, or in a list without one, is not walked.
        assert!(!drop_empty_field(&mut target, &in_element(1), schema));
        let toleration = path(&[key("tolerations"), Step::Index(0), key("value")]);
        assert!(!drop_empty_field(&mut target, &toleration, schema));
        assert!(!drop_empty_field(
            &mut target,
            &[key("spec"), key("absent")],
            schema
        ));
        assert_eq!(
            Value::Object(target),
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "c"}, {"image": "x", "args": null}],
                "tolerations": [{"key": "k", "value": null}]}}}})
        );
    }

    #[test]
    fn lists_the_patch_does_not_name_are_merged_too() {
        let target = json!({"metadata": {"finalizers": ["a", "b", "a"]},
            "spec": {"template": {"spec": {
                "containers": [{"name": "c", "env": [{"name": "X", "value": "1"},
                    {"name": "X", "value": "2"}]}],
                "tolerations": [{"key": "k"}, {"key": "k"}]}}}});
        let out = apply(target, json!({"spec": {"paused": true}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let spec = &out["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"],
            json!([{"name": "c", "env": [{"name": "X", "value": "2"}]}])
        );
        assert_eq!(spec["tolerations"], json!([{"key": "k"}, {"key": "k"}]));
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
