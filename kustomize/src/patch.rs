//! `patches`, `patchesStrategicMerge` and `patchesJson6902`.

use crate::kustomization::Selector;
use crate::resource::{Gvk, Resource};
use crate::selector::Target;
use crate::smp::{self, Schema};
use crate::yaml;
use serde_json::{Map, Value};

/// A patch's content once read: strategic merge documents or JSON6902 operations.
pub enum PatchBody {
    StrategicMerge(Vec<Map<String, Value>>),
    Json6902(json_patch::Patch),
}

/// Reads patch text: a YAML/JSON list is JSON6902, maps are strategic merge patches.
pub fn parse(text: &str) -> Result<PatchBody, String> {
    let documents = yaml::parse_stream(text).map_err(|e| format!("invalid YAML: {e}"))?;
    if let [Value::Array(_)] = documents.as_slice() {
        let operations: json_patch::Patch = serde_json::from_value(documents[0].clone())
            .map_err(|e| format!("invalid JSON6902 patch: {e}"))?;
        return Ok(PatchBody::Json6902(operations));
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

/// Applies one patch entry. With a target, every match is patched (none is fine); without,
/// each strategic merge document patches the object it names, which must exist.
pub fn apply(
    resources: &mut [Resource],
    body: &PatchBody,
    target: Option<&Selector>,
) -> Result<(), String> {
    match (body, target) {
        (PatchBody::Json6902(_), None) => {
            Err("a JSON6902 patch needs a target (group, version, kind, name)".into())
        }
        (body, Some(selector)) => {
            let target = Target::parse(selector)?;
            for resource in resources.iter_mut().filter(|r| target.matches(r)) {
                match body {
                    PatchBody::Json6902(operations) => apply_json6902(resource, operations)?,
                    PatchBody::StrategicMerge(documents) => {
                        for document in documents {
                            apply_smp(resource, document, true)?;
                        }
                    }
                }
            }
            Ok(())
        }
        (PatchBody::StrategicMerge(documents), None) => {
            for document in documents {
                let resource = find_named(resources, document)?;
                apply_smp(resource, document, false)?;
            }
            Ok(())
        }
    }
}

/// The object a target-less strategic merge patch names by kind, name and namespace.
fn find_named<'a>(
    resources: &'a mut [Resource],
    patch: &Map<String, Value>,
) -> Result<&'a mut Resource, String> {
    let probe = Resource::new(patch.clone(), String::new());
    let wanted = probe.id();
    let namespace_given = !wanted.namespace.is_empty();
    let matches = |r: &Resource| {
        let gvk = r.gvk();
        gvk.kind == wanted.gvk.kind
            && (wanted.gvk.group.is_empty() || gvk.group == wanted.gvk.group)
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

fn apply_smp(
    resource: &mut Resource,
    patch: &Map<String, Value>,
    targeted: bool,
) -> Result<(), String> {
    let gvk: Gvk = resource.gvk();
    let api_version = resource
        .object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut patch = patch.clone();
    if let Some(Value::Object(metadata)) = patch.get_mut("metadata") {
        // A targeted patch's own name and namespace only describe it, they rename nothing.
        if targeted {
            metadata.remove("name");
            metadata.remove("namespace");
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
    smp::merge(
        &mut resource.object,
        &patch,
        Schema::for_object(&api_version, &gvk.kind),
    );
    let metadata = resource.metadata_mut();
    for (key, value) in [("namespace", namespace), ("name", name)] {
        match value {
            Some(v) => metadata.insert(key.into(), v),
            None => metadata.remove(key),
        };
    }
    Ok(())
}

fn apply_json6902(resource: &mut Resource, operations: &json_patch::Patch) -> Result<(), String> {
    let mut document = Value::Object(std::mem::take(&mut resource.object));
    let result = json_patch::patch(&mut document, &operations.0);
    if let Value::Object(map) = document {
        resource.object = map;
    }
    result.map_err(|e| format!("applying the JSON6902 patch to {}: {e}", resource.id()))?;
    resource.remember_identity();
    Ok(())
}
