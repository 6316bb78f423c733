//! `patches`, `patchesStrategicMerge` and `patchesJson6902`.

use crate::json6902;
use crate::kustomization::{Patch, Selector};
use crate::openapi::OpenApi;
use crate::resource::Resource;
use crate::selector::Target;
use crate::smp::{self, Schema};
use crate::yaml;
use serde_json::{Map, Value};

/// A patch's content once read: strategic merge documents or JSON6902 operations.
pub enum PatchBody {
    StrategicMerge(Vec<Map<String, Value>>),
    Json6902(Vec<json6902::Operation>),
}

/// Reads patch text: a YAML/JSON list is JSON6902, maps are strategic merge patches.
pub fn parse(text: &str) -> Result<PatchBody, String> {
    let documents = yaml::parse_stream(text).map_err(|e| format!("invalid YAML: {e}"))?;
    if let [Value::Array(_)] = documents.as_slice() {
        // Read again as kustomize reads JSON6902 patches (YAML 1.1 scalars).
        return json6902::parse(text)
            .map(PatchBody::Json6902)
            .map_err(|e| format!("invalid JSON6902 patch: {e}"));
    }
    let mut maps = Vec::with_capacity(documents.len());
    for document in documents {
        match document {
            Value::Object(map) => maps.push(map),
            other => return Err(format!("a patch must be a map or a list, not {other}")),
        }
    }
    if maps.is_empty() {
        return Err("the patch is empty".into());
    }
    Ok(PatchBody::StrategicMerge(maps))
}

/// The text of a patch entry: its file (read by `read`, which enforces the load rules) or
/// the patch written inline. kustomize trims an inline patch and takes an empty one, or an
/// empty path, as not given.
pub fn entry_text(
    entry: &Patch,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let path = entry.path.as_deref().filter(|p| !p.is_empty());
    let inline = entry
        .patch
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    match (path, inline) {
        (Some(path), None) => read(path),
        (None, Some(inline)) => Ok(inline.to_string()),
        (None, None) => Err("each patch needs one of 'path' or 'patch'".into()),
        (Some(_), Some(_)) => Err("a patch cannot have both 'path' and 'patch'".into()),
    }
}

/// Applies a patch and drops the objects a `$patch: delete` patch emptied, as kustomize
/// drops empty objects after each transformer.
pub fn apply_dropping_deleted(
    resources: &mut Vec<Resource>,
    body: &PatchBody,
    target: Option<&Selector>,
    field: Field,
    openapi: &mut OpenApi,
) -> Result<(), Failure> {
    let result = apply(resources, body, target, field, openapi);
    resources.retain(|r| !r.object.is_empty());
    result
}

/// The kustomization field a patch entry is from: kustomize runs each with its own
/// transformer, and they differ in small ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Patches,
    PatchesStrategicMerge,
    PatchesJson6902,
}

/// Why a patch entry failed: the patch itself, or the custom OpenAPI document it needed
/// (an error of the kustomization that named the document).
pub enum Failure {
    Patch(String),
    Schema(crate::Error),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Patch(message)
    }
}

/// Applies one patch entry. With a target, every match is patched (none is fine); without,
/// each strategic merge document patches the object it names, which must exist.
/// Strategic merge patches read the schema in use (`openapi`) as they run.
pub fn apply(
    resources: &mut [Resource],
    body: &PatchBody,
    target: Option<&Selector>,
    field: Field,
    openapi: &mut OpenApi,
) -> Result<(), Failure> {
    match (body, target) {
        (PatchBody::Json6902(_), None) => Err(Failure::Patch(
            "a JSON6902 patch needs a target (group, version, kind, name)".into(),
        )),
        (body, Some(selector)) => {
            let target = Target::parse(selector)?;
            for resource in resources.iter_mut().filter(|r| target.matches(r)) {
                match body {
                    PatchBody::Json6902(operations) => apply_json6902(resource, operations, field)?,
                    PatchBody::StrategicMerge(documents) => {
                        for document in documents {
                            apply_smp(resource, document, true, true, openapi)?;
                        }
                    }
                }
            }
            Ok(())
        }
        (PatchBody::StrategicMerge(documents), None) => {
            let copies_metadata = field == Field::PatchesStrategicMerge;
            for document in documents {
                let resource = find_named(resources, document)?;
                apply_smp(resource, document, false, copies_metadata, openapi)?;
            }
            Ok(())
        }
    }
}

/// The object a target-less strategic merge patch names by apiVersion, kind, name and
/// namespace. kustomize compares group, version and kind exactly: a patch without
/// `apiVersion` names no `apps/v1` Deployment.
fn find_named<'a>(
    resources: &'a mut [Resource],
    patch: &Map<String, Value>,
) -> Result<&'a mut Resource, String> {
    let probe = Resource::new(patch.clone(), String::new());
    let wanted = probe.id();
    let namespace_given = !wanted.namespace.is_empty();
    let matches = |r: &Resource| {
        r.gvk() == wanted.gvk
            && r.was_named(&wanted.name)
            && (!namespace_given
                || r.history.iter().any(|(ns, _)| {
                    ns == &wanted.namespace || (ns.is_empty() && wanted.namespace == "default")
                }))
    };
    let count = resources.iter().filter(|r| matches(r)).count();
    if count != 1 {
        let what = if count == 0 {
            "no matches"
        } else {
            "multiple matches"
        };
        return Err(format!(
            "{what} for Id {wanted}; failed to find unique target for patch {wanted}"
        ));
    }
    Ok(resources
        .iter_mut()
        .find(|r| matches(r))
        .expect("counted one match"))
}

/// `copies_metadata`: kustomize merges through a copy of the patch whose labels and
/// annotations it read and wrote back as strings (resmap's `ApplySmPatch`, used with a
/// target and by `patchesStrategicMerge`), so a null there is the string `null`.
fn apply_smp(
    resource: &mut Resource,
    patch: &Map<String, Value>,
    targeted: bool,
    copies_metadata: bool,
    openapi: &mut OpenApi,
) -> Result<(), Failure> {
    // kyaml looks the schema up before anything else, even for a `$patch: delete`.
    let types = openapi.types().map_err(Failure::Schema)?;
    let mut patch = patch.clone();
    if let Some(Value::Object(metadata)) = patch.get_mut("metadata") {
        // A targeted patch's own name and namespace only describe it, they rename nothing.
        if targeted {
            metadata.remove("name");
            metadata.remove("namespace");
        }
        if copies_metadata {
            for field in ["labels", "annotations"] {
                rewrite_metadata_map(metadata, field, &|n| n.to_string(), false)
                    .map_err(|e| format!("strategic merge patch on {}: {e}", resource.id()))?;
            }
        }
    }
    if patch.get("$patch").and_then(Value::as_str) == Some("delete") {
        // `$patch: delete` at the top removes the object: mark it empty for the caller.
        resource.object.clear();
        return Ok(());
    }
    patch.remove("apiVersion");
    patch.remove("kind");
    // kyaml restores the name and namespace a patch may have changed.
    let (namespace, name) = (
        resource
            .metadata()
            .and_then(|m| m.get("namespace"))
            .cloned(),
        resource.metadata().and_then(|m| m.get("name")).cloned(),
    );
    let id = resource.id();
    let schema = Schema::for_object(&types, &resource.object);
    let empty_fields = std::mem::take(&mut resource.empty_fields);
    resource.empty_fields = empty_fields
        .into_iter()
        .filter(|path| !smp::drop_empty_field(&mut resource.object, path, schema))
        .collect();
    smp::merge(&mut resource.object, &patch, schema)
        .map_err(|e| format!("strategic merge patch on {id}: {e}"))?;
    let metadata = resource.metadata_mut();
    for (key, value) in [("namespace", namespace), ("name", name)] {
        match value {
            Some(v) => metadata.insert(key.into(), v),
            None => metadata.remove(key),
        };
    }
    Ok(())
}

fn apply_json6902(
    resource: &mut Resource,
    operations: &[json6902::Operation],
    field: Field,
) -> Result<(), String> {
    // kustomize keeps its build annotations (ids, prefixes, generator options) in
    // `metadata.annotations` until the end of the build, so a patch finds that map even on an
    // object without annotations (`add /metadata/annotations/x` works). `patches` records
    // the object's id there first; `patchesJson6902` does not.
    resource.build_annotations |= field == Field::Patches;
    if field == Field::Patches {
        resource.store_previous_id();
    }
    if resource.build_annotations {
        let metadata = resource.metadata_mut();
        if !metadata.get("annotations").is_some_and(Value::is_object) {
            metadata.insert("annotations".into(), Value::Object(Map::new()));
        }
    }
    // kustomize patches the object as JSON: fields written with no value come back as
    // `null`, kept by later strategic merge patches.
    resource.empty_fields.clear();
    let id = resource.id();
    let mut document = Value::Object(std::mem::take(&mut resource.object));
    let result = json6902::apply(&mut document, operations);
    if let Value::Object(map) = document {
        resource.object = map;
    }
    result.map_err(|e| format!("JSON6902 patch on {id}: {e}"))?;
    // kustomize then rewrites the annotations as strings, numbers in Go's float form.
    if let Some(Value::Object(metadata)) = resource.object.get_mut("metadata") {
        let empty_key_fails = field == Field::PatchesJson6902;
        rewrite_metadata_map(metadata, "annotations", &go_float_text, empty_key_fails)
            .map_err(|e| format!("JSON6902 patch on {id}: {e}"))?;
    }
    resource.remember_identity();
    Ok(())
}

/// A number after kustomize's JSON round trip: a Go float.
fn go_float_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) => yaml::go_float_g(f),
        None => n.to_string(),
    }
}

/// A labels or annotations field as kyaml reads it into a `map[string]string` and writes it
/// back, as kustomize does around patches. Values become their text (null `null`, maps and
/// lists empty, numbers as `number` spells them). A list reads as key, value, key, value
/// (kyaml walks any node's children as map entries; an odd count makes kustomize panic).
/// Nothing read leaves no field. An empty key cannot be written back: the field goes, or
/// with `empty_key_fails` that is an error.
fn rewrite_metadata_map(
    metadata: &mut Map<String, Value>,
    field: &str,
    number: &dyn Fn(&serde_json::Number) -> String,
    empty_key_fails: bool,
) -> Result<(), String> {
    let text = |value: &Value| match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Number(n) => number(n),
        Value::Object(_) | Value::Array(_) => String::new(),
    };
    let entries: Vec<(String, String)> = match metadata.get(field) {
        None => return Ok(()),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(items)) if items.len() % 2 == 1 => {
            return Err(format!(
                "'{field}' is a list of {} elements, read by kustomize as key-value pairs",
                items.len()
            ));
        }
        Some(Value::Array(items)) => items
            .chunks(2)
            .map(|p| (text(&p[0]), text(&p[1])))
            .collect(),
        Some(_) => Vec::new(),
    };
    if entries.iter().any(|(key, _)| key.is_empty()) && empty_key_fails {
        return Err(format!(
            "'{field}' has an empty key, which kustomize cannot write back"
        ));
    }
    if entries.is_empty() || entries.iter().any(|(key, _)| key.is_empty()) {
        metadata.remove(field);
    } else {
        let map = entries.into_iter().map(|(k, v)| (k, Value::String(v)));
        metadata.insert(field.to_string(), Value::Object(map.collect()));
    }
    Ok(())
}
