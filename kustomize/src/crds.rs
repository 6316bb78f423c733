//! A kustomization's `crds` files: OpenAPI definitions of custom types (a map of type name to
//! `{Schema, Dependencies}`, the output of Kubernetes' openapi-gen), whose extensions tell
//! kustomize's transformers about the types' fields, as kustomize's `LoadConfigFromCRDs`
//! reads them:
//!
//! - `x-kubernetes-object-ref-kind` with `x-kubernetes-object-ref-api-version` (and the
//!   optional `x-kubernetes-object-ref-name-key`, default `name`): a name reference,
//! - `x-kubernetes-annotation`: a field that gets `commonAnnotations`,
//! - `x-kubernetes-label-selector`: a field that gets `commonLabels`,
//! - `x-kubernetes-identity`: a field that gets `namePrefix` (only the prefix).
//!
//! Only string extension values count. A definition is a type when its properties have
//! `kind`, `apiVersion` and `metadata`; its kind is the last dot-separated part of its name
//! (group and version are not known). Properties whose `$ref` names another definition of
//! the file (by its exact name) are read on into it.

use crate::config::{NameBackReference, TransformerConfig};
use crate::fieldspec::FieldSpec;
use crate::openapi::document::{check_schema, json_or_yaml, type_name};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The transformer configuration one `crds` file adds (merged into the build's by the
/// caller, which skips duplicates and refuses conflicts with what is there).
pub fn parse(text: &str) -> Result<TransformerConfig, String> {
    let definitions = definitions(text)?;
    let mut config = TransformerConfig::default();
    for (name, schema) in &definitions {
        let properties = properties(schema);
        let is_type = ["kind", "apiVersion", "metadata"]
            .iter()
            .all(|p| properties.is_some_and(|props| props.contains_key(*p)));
        if !is_type {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        let mut walk = Walk {
            definitions: &definitions,
            kind,
            config: &mut config,
            chain: vec![name.as_str()],
        };
        walk.properties(schema, &[])?;
    }
    Ok(config)
}

/// The file's definitions: type name → schema (null when there is none).
fn definitions(text: &str) -> Result<Map<String, Value>, String> {
    // An empty file makes kustomize crash.
    let value = json_or_yaml(text)?.ok_or("the file is empty")?;
    let entries = match value {
        Value::Null => return Ok(Map::new()),
        Value::Object(entries) => entries,
        other => {
            return Err(format!(
                "expected a map of type names to definitions, found {}",
                type_name(&other)
            ));
        }
    };
    let mut definitions = Map::new();
    for (name, entry) in entries {
        let schema = definition_schema(entry).map_err(|e| format!("'{name}': {e}"))?;
        check_schema(&schema, &format!("'{name}'"))?;
        definitions.insert(name, schema);
    }
    Ok(definitions)
}

/// One definition's `Schema` (Go matches the field names `Schema` and `Dependencies` in
/// any case; other fields are ignored).
fn definition_schema(entry: Value) -> Result<Value, String> {
    let fields = match entry {
        Value::Null => return Ok(Value::Null),
        Value::Object(fields) => fields,
        other => {
            return Err(format!(
                "a definition must be a map, not {}",
                type_name(&other)
            ));
        }
    };
    let mut schema = Value::Null;
    for (key, value) in fields {
        if key.eq_ignore_ascii_case("dependencies") {
            let strings = match &value {
                Value::Null => true,
                Value::Array(items) => items.iter().all(Value::is_string),
                _ => false,
            };
            if !strings {
                return Err("'Dependencies' must be a list of strings".into());
            }
        } else if key.eq_ignore_ascii_case("schema") {
            schema = value;
        }
    }
    Ok(schema)
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties")?.as_object()
}

/// A string extension of a property (kustomize ignores other values).
fn extension<'a>(property: &'a Value, name: &str) -> Option<&'a str> {
    property.get(name)?.as_str()
}

/// The walk through one type's properties.
struct Walk<'a> {
    definitions: &'a Map<String, Value>,
    kind: &'a str,
    config: &'a mut TransformerConfig,
    /// The definitions being read, to stop where a `$ref` leads back (kustomize recurses
    /// until its stack overflows).
    chain: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn properties(&mut self, schema: &'a Value, path: &[&'a str]) -> Result<(), String> {
        let Some(properties) = properties(schema) else {
            return Ok(());
        };
        for (name, property) in properties {
            let mut at = path.to_vec();
            at.push(name);
            self.property(property, &at)?;
        }
        Ok(())
    }

    fn property(&mut self, property: &'a Value, path: &[&'a str]) -> Result<(), String> {
        let spec = |path: &[&str]| FieldSpec {
            group: Cow::Borrowed(""),
            version: Cow::Borrowed(""),
            kind: Cow::Owned(self.kind.to_string()),
            path: Cow::Owned(path.join("/")),
            create: false,
        };
        let found = &mut *self.config;
        if extension(property, "x-kubernetes-annotation").is_some() {
            found.common_annotations.push(spec(path));
        }
        if extension(property, "x-kubernetes-label-selector").is_some() {
            found.common_labels.push(spec(path));
        }
        if extension(property, "x-kubernetes-identity").is_some() {
            found.name_prefix.push(spec(path));
        }
        if let (Some(version), Some(kind)) = (
            extension(property, "x-kubernetes-object-ref-api-version"),
            extension(property, "x-kubernetes-object-ref-kind"),
        ) {
            let key = extension(property, "x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut referrer = path.to_vec();
            referrer.push(key);
            found.name_reference.push(NameBackReference {
                group: String::new(),
                version: version.to_string(),
                kind: kind.to_string(),
                field_specs: vec![spec(&referrer)],
            });
        }
        let Some(reference) = property.get("$ref").and_then(Value::as_str) else {
            return Ok(());
        };
        let Some((name, target)) = self.definitions.get_key_value(reference) else {
            return Ok(());
        };
        if self.chain.contains(&name.as_str()) {
            return Err(format!(
                "'{}' refers back to '{name}' ($ref cycle)",
                self.chain.join("' -> '")
            ));
        }
        self.chain.push(name);
        let result = self.properties(target, path);
        self.chain.pop();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
example.com/v1.Widget:
  Schema:
    properties:
      apiVersion: {type: string}
      kind: {type: string}
      metadata: {type: object}
      spec: {$ref: example.com/v1.WidgetSpec}
example.com/v1.WidgetSpec:
  Schema:
    properties:
      configRef:
        x-kubernetes-object-ref-api-version: v1
        x-kubernetes-object-ref-kind: ConfigMap
      keyed:
        x-kubernetes-object-ref-api-version: v1
        x-kubernetes-object-ref-kind: Secret
        x-kubernetes-object-ref-name-key: secret
      selector: {x-kubernetes-label-selector: ""}
      notes: {x-kubernetes-annotation: ""}
      ignored: {x-kubernetes-annotation: true}
      id: {x-kubernetes-identity: ""}
"#;

    #[test]
    fn extensions_become_field_specs() {
        let config = parse(FILE).unwrap();
        let paths = |specs: &[FieldSpec]| -> Vec<String> {
            specs
                .iter()
                .map(|s| format!("{}:{}", s.kind, s.path))
                .collect()
        };
        assert_eq!(paths(&config.common_annotations), ["Widget:spec/notes"]);
        assert_eq!(paths(&config.common_labels), ["Widget:spec/selector"]);
        assert_eq!(paths(&config.name_prefix), ["Widget:spec/id"]);
        assert!(config.name_suffix.is_empty());
        let references: Vec<String> = config
            .name_reference
            .iter()
            .map(|r| format!("{}/{}:{:?}", r.version, r.kind, paths(&r.field_specs)))
            .collect();
        assert_eq!(
            references,
            [
                "v1/ConfigMap:[\"Widget:spec/configRef/name\"]",
                "v1/Secret:[\"Widget:spec/keyed/secret\"]"
            ]
        );
    }

    #[test]
    fn malformed_files_fail() {
        assert!(parse("").is_err());
        assert!(parse("- a").is_err());
        assert!(parse("a: 1").is_err());
        assert!(parse("a: {Schema: {properties: 5}}").is_err());
        assert!(parse("a: {Dependencies: 5}").is_err());
        let cycle = "a: {Schema: {properties: {kind: {}, apiVersion: {}, metadata: {}, \
                     x: {$ref: a}}}}";
        assert!(parse(cycle).unwrap_err().contains("cycle"));
        assert!(parse("a: null").unwrap().name_reference.is_empty());
    }
}
