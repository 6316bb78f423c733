//! A custom OpenAPI (Swagger 2.0) document, read as kyaml reads the file named by a
//! kustomization's `openapi: {path: ...}`: JSON when it starts with `{`, else YAML (1.1, the
//! first document). What kustomize uses of it: `definitions` (schemas, found for an object by
//! their `x-kubernetes-group-version-kind`, and reached from each other by `$ref`) and the
//! `x-kubernetes-group-version-kind` of `paths` with a `get` (whether a kind is namespaced).

use super::scope::Namespaced;
use crate::yaml;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::rc::Rc;

const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";

pub struct Document {
    /// `{"definitions": {...}}`: the root `$ref` pointers walk from, as kyaml's global schema.
    root: Value,
    /// (apiVersion, kind) → definition name.
    types: HashMap<(String, String), String>,
    pub namespaced: Rc<Namespaced>,
}

/// An OpenAPI file as kustomize reads one: JSON when it starts with `{`, else YAML (1.1
/// scalars, the first document); `None` when it is empty.
pub fn json_or_yaml(text: &str) -> Result<Option<Value>, String> {
    if text.starts_with('{') {
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| e.to_string())
    } else if text.is_empty() {
        Ok(None)
    } else {
        let documents = yaml::parse_yaml11(text).map_err(|e| e.to_string())?;
        Ok(Some(documents.into_iter().next().unwrap_or(Value::Null)))
    }
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, String> {
        let value = json_or_yaml(text)?.ok_or("unexpected end of JSON input")?;
        let mut document = match value {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => return Err(format!("expected a map, found {}", type_name(&other))),
        };
        let definitions = match document.remove("definitions") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(format!(
                    "'definitions' must be a map, not {}",
                    type_name(&other)
                ));
            }
        };
        let mut types = HashMap::new();
        for (name, definition) in &definitions {
            check_schema(definition, &format!("/definitions/{name}"))?;
            for type_meta in definition_types(definition, name)? {
                types.insert(type_meta, name.clone());
            }
        }
        let namespaced = namespaceability(document.get("paths"))?;
        let mut root = Map::new();
        root.insert("definitions".into(), Value::Object(definitions));
        Ok(Document {
            root: Value::Object(root),
            types,
            namespaced: Rc::new(namespaced),
        })
    }

    /// The definition serving objects of this apiVersion and kind, as written (a `$ref` at
    /// its top is not followed, as kyaml does not).
    pub fn type_schema(&self, api_version: &str, kind: &str) -> Option<&Map<String, Value>> {
        let name = self
            .types
            .get(&(api_version.to_string(), kind.to_string()))?;
        self.root["definitions"].get(name)?.as_object()
    }

    /// Whether the document has a definition of this name.
    pub fn has_definition(&self, name: &str) -> bool {
        self.root["definitions"].get(name).is_some()
    }

    /// What a `$ref` points at: its fragment is a JSON pointer from the root (a reference
    /// without one is the root itself, as go-openapi resolves it); `None` when nothing is
    /// there or it is not a schema.
    pub fn resolve(&self, reference: &str) -> Option<&Map<String, Value>> {
        let pointer = reference.split_once('#').map_or("", |(_, p)| p);
        let mut at = &self.root;
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            at = match at {
                Value::Object(map) => map.get(&token)?,
                Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        at.as_object()
    }
}

/// The definition name a `$ref` names when it is `#/definitions/<name>`.
pub fn definition_name(reference: &str) -> Option<&str> {
    let name = reference.strip_prefix("#/definitions/")?;
    (!name.contains('/')).then_some(name)
}

/// The types a definition serves: its `x-kubernetes-group-version-kind` list. kyaml skips
/// what is not a list, and list items that are not maps; a map without a string version or
/// kind makes it panic, an error here.
fn definition_types(definition: &Value, name: &str) -> Result<Vec<(String, String)>, String> {
    let Some(Value::Array(entries)) = definition.get(GVK_EXTENSION) else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .filter_map(Value::as_object)
        .map(|entry| {
            type_meta(entry)
                .ok_or_else(|| format!("definition '{name}': {GVK_EXTENSION} {NEEDS_VERSION_KIND}"))
        })
        .collect()
}

const NEEDS_VERSION_KIND: &str = "entries need a string 'version' and 'kind'";

/// apiVersion and kind of one `x-kubernetes-group-version-kind` entry.
fn type_meta(entry: &Map<String, Value>) -> Option<(String, String)> {
    let version = entry.get("version")?.as_str()?;
    let kind = entry.get("kind")?.as_str()?;
    let api_version = match entry.get("group").and_then(Value::as_str) {
        Some(group) if !group.is_empty() => format!("{group}/{version}"),
        _ => version.to_string(),
    };
    Some((api_version, kind.to_string()))
}

/// kyaml's reading of `paths`: a type served under `namespaces/{namespace}` is namespaced,
/// one served only elsewhere is not.
fn namespaceability(paths: Option<&Value>) -> Result<Namespaced, String> {
    let mut namespaced = Namespaced::new();
    let paths = match paths {
        None | Some(Value::Null) => return Ok(namespaced),
        Some(Value::Object(paths)) => paths,
        Some(other) => return Err(format!("'paths' must be a map, not {}", type_name(other))),
    };
    for (path, item) in paths {
        let Some(gvk) = item.get("get").and_then(|get| get.get(GVK_EXTENSION)) else {
            continue;
        };
        let Some(entry) = gvk.as_object() else {
            continue;
        };
        let type_meta = type_meta(entry)
            .ok_or_else(|| format!("path '{path}': {GVK_EXTENSION} {NEEDS_VERSION_KIND}"))?;
        if path.contains("namespaces/{namespace}") {
            namespaced.insert(type_meta, true);
        } else {
            namespaced.entry(type_meta).or_insert(false);
        }
    }
    Ok(namespaced)
}

/// The shape checks kube-openapi's decoding makes of the schema fields kustomize reads:
/// a schema is a map, `properties` a map of schemas, `items` a schema or a list of them,
/// `additionalProperties` a boolean or a schema, `type` a string or a list of strings.
pub fn check_schema(schema: &Value, at: &str) -> Result<(), String> {
    let map = match schema {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        other => {
            return Err(format!(
                "{at}: a schema must be a map, not {}",
                type_name(other)
            ));
        }
    };
    match map.get("type") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Array(types)) if types.iter().all(Value::is_string) => {}
        Some(other) => {
            return Err(format!(
                "{at}/type: expected string or array, not {}",
                type_name(other)
            ));
        }
    }
    match map.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(properties)) => {
            for (name, property) in properties {
                check_schema(property, &format!("{at}/properties/{name}"))?;
            }
        }
        Some(other) => {
            return Err(format!(
                "{at}/properties: expected a map, not {}",
                type_name(other)
            ));
        }
    }
    match map.get("items") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_schema(item, &format!("{at}/items/{i}"))?;
            }
        }
        Some(items) => check_schema(items, &format!("{at}/items"))?,
        None => {}
    }
    match map.get("additionalProperties") {
        None | Some(Value::Bool(_)) => Ok(()),
        Some(schema) => check_schema(schema, &format!("{at}/additionalProperties")),
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_paths_and_references() {
        let text = r##"
definitions:
  a.W:
    x-kubernetes-group-version-kind:
    - {group: example.com, version: v1, kind: W}
    - {group: "", version: v1, kind: W}
    properties:
      spec: {$ref: "#/definitions/a.Spec"}
  a.Spec:
    properties:
      items: {type: array}
paths:
  /apis/example.com/v1/ws/{name}:
    get:
      x-kubernetes-group-version-kind: {group: example.com, version: v1, kind: W}
  /apis/example.com/v1/namespaces/{namespace}/gs/{name}:
    get:
      x-kubernetes-group-version-kind: {group: example.com, version: v1, kind: G}
"##;
        let document = Document::parse(text).unwrap();
        assert!(document.type_schema("example.com/v1", "W").is_some());
        assert!(document.type_schema("v1", "W").is_some());
        assert!(document.type_schema("v2", "W").is_none());
        let spec = document.resolve("#/definitions/a.Spec").unwrap();
        assert!(spec.contains_key("properties"));
        assert!(document.resolve("#/definitions/none").is_none());
        let key = |kind: &str| ("example.com/v1".to_string(), kind.to_string());
        assert_eq!(document.namespaced.get(&key("W")), Some(&false));
        assert_eq!(document.namespaced.get(&key("G")), Some(&true));
    }

    #[test]
    fn malformed_documents_fail() {
        assert!(Document::parse("").is_err());
        assert!(Document::parse("- a").is_err());
        assert!(Document::parse("definitions: 5").is_err());
        assert!(Document::parse("definitions: {a: {properties: 5}}").is_err());
        assert!(Document::parse("definitions: {a: {type: 5}}").is_err());
        let no_kind = "definitions: {a: {x-kubernetes-group-version-kind: [{version: v1}]}}";
        assert!(Document::parse(no_kind).is_err());
        assert!(Document::parse("{\"definitions\": {}}").is_ok());
    }
}
