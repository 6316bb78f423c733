//! The OpenAPI schema a build uses, as kustomize (kyaml) chooses and reads it: the built-in
//! Kubernetes schema (v1.21.2), or the document a kustomization's `openapi: {path: ...}`
//! names. kustomize holds one schema per process: the top kustomization's `openapi` field
//! decides first; when it has none, the first kustomization built (bases and components, in
//! build order) whose field names a path or a version does, and later ones are ignored.
//!
//! A custom document replaces the built-in schema: kinds it does not define have no merge
//! keys, built-in ones included. Except that kyaml parses the built-in schema on first use
//! and only ever adds to what it parsed: if a strategic merge patch ran before the custom
//! document was chosen, both are in use (the document's definitions win); if only an object
//! of a kind outside kyaml's fixed scope table was met, the built-in one is parsed after the
//! document and wins. `Builtin` records which.
//!
//! The schema gives strategic merge patches their list merge keys and strategies, and says
//! which custom kinds are cluster-scoped (`scope`).

pub mod document;
pub mod scope;

use document::Document;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The only built-in schema version kustomize v5.8.1 has.
pub const BUILTIN_VERSION: &str = "v1.21.2";

/// API groups whose kinds the built-in schema defines.
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

/// How the built-in schema takes part next to a custom document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Builtin {
    /// No custom document: the built-in schema alone.
    #[default]
    Alone,
    /// Parsed before the document: the document's definitions win.
    Under,
    /// Parsed after the document: the built-in definitions win.
    Over,
    /// Never parsed: the document alone.
    Absent,
}

/// The schemas in use at one moment of the build.
#[derive(Clone, Default)]
pub struct Types {
    custom: Option<Rc<Document>>,
    builtin: Builtin,
}

/// What the schema says of one node.
#[derive(Clone, Copy, Debug)]
pub enum TypeSchema<'a> {
    /// Nothing: lists are replaced.
    Unknown,
    /// Somewhere inside a built-in kind (whose merge keys `smp` knows by field name).
    Builtin { kind_is_service: bool },
    /// A schema of the custom document.
    Custom(&'a Map<String, Value>),
}

/// How the schema says a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListStrategy<'a> {
    Replace,
    /// `x-kubernetes-patch-strategy: merge` without keys: a list of scalars, merged as a set.
    ScalarUnion,
    Keys(Vec<&'a str>),
}

impl Types {
    /// Built-in schema only (no `openapi` field anywhere).
    pub fn builtin() -> Types {
        Types::default()
    }

    fn builtin_in_use(&self) -> bool {
        self.builtin != Builtin::Absent
    }

    /// The schema of objects of this apiVersion and kind.
    pub fn lookup(&self, api_version: &str, kind: &str) -> TypeSchema<'_> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let builtin = (self.builtin_in_use() && BUILTIN_GROUPS.contains(&group)).then_some(
            TypeSchema::Builtin {
                kind_is_service: kind == "Service",
            },
        );
        let custom = self
            .custom
            .as_ref()
            .and_then(|c| c.type_schema(api_version, kind));
        // When the built-in schema wins, it does for the kinds it defines: those of kyaml's
        // fixed table stand for them (a custom kind in a built-in group is not one).
        let builtin_wins = self.builtin == Builtin::Over
            && (custom.is_none() || scope::is_precomputed(api_version, kind));
        match (builtin, custom) {
            (Some(builtin), _) if builtin_wins => builtin,
            (_, Some(schema)) => TypeSchema::Custom(schema),
            (Some(builtin), None) => builtin,
            (None, None) => TypeSchema::Unknown,
        }
    }

    /// kyaml's `Field`: a property's schema, or the map's `additionalProperties` one.
    pub fn field<'a>(&'a self, schema: &'a Map<String, Value>, name: &str) -> TypeSchema<'a> {
        let found = schema
            .get("properties")
            .and_then(|p| p.get(name))
            .or_else(|| schema.get("additionalProperties"));
        match found {
            Some(Value::Object(field)) => self.resolve(field),
            _ => TypeSchema::Unknown,
        }
    }

    /// kyaml's `Elements`: the schema of a list's items, when the list is typed `array`.
    pub fn elements<'a>(&'a self, schema: &'a Map<String, Value>) -> TypeSchema<'a> {
        let is_array = match schema.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(types)) => types.len() == 1 && types[0] == "array",
            _ => false,
        };
        match schema.get("items") {
            Some(Value::Object(items)) if is_array => self.resolve(items),
            _ => TypeSchema::Unknown,
        }
    }

    /// Follows `$ref`s (kyaml loops until there is none; a cycle ends as Unknown here).
    fn resolve<'a>(&'a self, mut schema: &'a Map<String, Value>) -> TypeSchema<'a> {
        let Some(document) = &self.custom else {
            return TypeSchema::Unknown;
        };
        for _ in 0..64 {
            let Some(reference) = schema
                .get("$ref")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            else {
                return TypeSchema::Custom(schema);
            };
            if let Some(builtin) = self.builtin_definition(document, reference) {
                return builtin;
            }
            match document.resolve(reference) {
                Some(target) => schema = target,
                None => return TypeSchema::Unknown,
            }
        }
        TypeSchema::Unknown
    }

    /// A reference into the built-in schema's definitions (`io.k8s.*`), when that schema is
    /// in use and wins, or the document lacks the definition.
    fn builtin_definition(&self, document: &Document, reference: &str) -> Option<TypeSchema<'_>> {
        if !self.builtin_in_use() {
            return None;
        }
        let name = document::definition_name(reference)?;
        let wins = self.builtin == Builtin::Over || !document.has_definition(name);
        (wins && name.starts_with("io.k8s.")).then_some(TypeSchema::Builtin {
            kind_is_service: name.ends_with(".ServiceSpec"),
        })
    }
}

/// kyaml's `PatchStrategyAndKeyList` and `IsAssociative` for a list with a custom schema:
/// only a `merge` strategy merges; keys come from `x-kubernetes-list-map-keys`, else
/// `x-kubernetes-patch-merge-key`. Extensions of the wrong type make kyaml panic.
pub fn list_strategy(schema: &Map<String, Value>) -> Result<ListStrategy<'_>, String> {
    let strategy = match schema.get("x-kubernetes-patch-strategy") {
        None => return Ok(ListStrategy::Replace),
        Some(Value::String(s)) => s,
        Some(_) => return Err("x-kubernetes-patch-strategy must be a string".into()),
    };
    if !strategy.split(',').any(|s| s == "merge") {
        return Ok(ListStrategy::Replace);
    }
    let keys: Vec<&str> = match (
        schema.get("x-kubernetes-list-map-keys"),
        schema.get("x-kubernetes-patch-merge-key"),
    ) {
        (Some(Value::Array(keys)), _) => keys
            .iter()
            .map(|k| {
                k.as_str()
                    .ok_or("x-kubernetes-list-map-keys must list strings")
            })
            .collect::<Result<_, _>>()?,
        (Some(_), _) => return Err("x-kubernetes-list-map-keys must be a list".into()),
        (None, Some(Value::String(key))) => vec![key.as_str()],
        (None, Some(_)) => return Err("x-kubernetes-patch-merge-key must be a string".into()),
        (None, None) => Vec::new(),
    };
    Ok(if keys.is_empty() {
        ListStrategy::ScalarUnion
    } else {
        ListStrategy::Keys(keys)
    })
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Choice {
    #[default]
    Unset,
    Version,
    Custom,
}

/// A custom document chosen, read on first use as kyaml reads it.
struct Custom {
    text: String,
    /// The kustomization that named it, and the path as written, for errors.
    origin: String,
    path: String,
    builtin: Builtin,
    parsed: Option<Rc<Document>>,
}

/// kyaml's schema state over a build (see the module's documentation).
#[derive(Default)]
pub struct OpenApi {
    choice: Choice,
    /// The built-in schema was parsed (a strategic merge patch ran) before any choice.
    builtin_parsed: bool,
    /// An object of a kind outside the fixed scope table was met before any choice.
    builtin_delayed: bool,
    custom: Option<Custom>,
    published: Option<scope::Published>,
}

impl OpenApi {
    /// A kustomization's `openapi` field, with the text of the file its `path` names (read
    /// whether or not it is used, as kustomize does). `top`: the kustomization built.
    pub fn set(
        &mut self,
        field: &BTreeMap<String, String>,
        schema: Option<(String, &str)>,
        origin: &str,
        top: bool,
    ) -> Result<(), crate::Error> {
        if !top && self.choice != Choice::Unset {
            return Ok(());
        }
        let version = field.get("version");
        if let Some((text, path)) = schema {
            if version.is_some() {
                return Err(crate::Error::new(
                    origin,
                    "openapi: builtin version and custom schema provided, cannot use both",
                ));
            }
            let builtin = if self.builtin_parsed {
                Builtin::Under
            } else if self.builtin_delayed {
                Builtin::Over
            } else {
                Builtin::Absent
            };
            self.choice = Choice::Custom;
            self.custom = Some(Custom {
                text,
                origin: origin.to_string(),
                path: path.to_string(),
                builtin,
                parsed: None,
            });
            // Objects kustomize has met will have their scope asked again: it reads the
            // document then.
            if self.builtin_delayed {
                self.parsed()?;
            }
            return Ok(());
        }
        match version.map(String::as_str) {
            None | Some("") => Ok(()),
            Some(BUILTIN_VERSION) => {
                self.choice = Choice::Version;
                Ok(())
            }
            Some(_) => Err(crate::Error::new(
                origin,
                "openapi: the specified OpenAPI version is not built in",
            )),
        }
    }

    /// An object of this type joined the build: kustomize asks its scope, which reads the
    /// schema unless the type is in kyaml's fixed table.
    pub fn type_seen(&mut self, api_version: &str, kind: &str) -> Result<(), crate::Error> {
        if scope::is_precomputed(api_version, kind) {
            return Ok(());
        }
        match self.choice {
            Choice::Custom => self.parsed().map(|_| ()),
            _ => {
                self.builtin_delayed |= !self.builtin_parsed;
                Ok(())
            }
        }
    }

    /// The schemas a strategic merge patch about to run uses.
    pub fn types(&mut self) -> Result<Types, crate::Error> {
        if self.choice != Choice::Custom {
            self.builtin_parsed = true;
            return Ok(Types::builtin());
        }
        let document = self.parsed()?;
        let builtin = self.custom.as_ref().map_or(Builtin::Absent, |c| c.builtin);
        Ok(Types {
            custom: Some(document),
            builtin,
        })
    }

    /// The chosen document, parsed on first use; its scopes are published then.
    fn parsed(&mut self) -> Result<Rc<Document>, crate::Error> {
        let Some(custom) = self.custom.as_mut() else {
            return Err(crate::Error::new("openapi", "no custom schema chosen"));
        };
        if let Some(document) = &custom.parsed {
            return Ok(document.clone());
        }
        let document = Document::parse(&custom.text).map_err(|e| {
            crate::Error::new(
                &custom.origin,
                format!("openapi: invalid schema file '{}': {e}", custom.path),
            )
        })?;
        let document = Rc::new(document);
        custom.parsed = Some(document.clone());
        self.published = Some(scope::Published::new(document.namespaced.clone()));
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = r##"
definitions:
  W:
    x-kubernetes-group-version-kind: [{group: example.com, version: v1, kind: W}]
    properties:
      spec: {$ref: "#/definitions/Spec"}
      template: {$ref: "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"}
  Spec:
    properties:
      items:
        type: array
        x-kubernetes-patch-strategy: merge
        x-kubernetes-list-map-keys: [a, b]
        items: {$ref: "#/definitions/Item"}
      labels: {additionalProperties: {type: array}}
  Item: {properties: {x: {type: string}}}
"##;

    fn chosen(builtin_first: bool) -> OpenApi {
        let mut openapi = OpenApi::default();
        if builtin_first {
            openapi.types().unwrap();
        }
        let field = BTreeMap::from([("path".to_string(), "s.yaml".to_string())]);
        let schema = Some((DOCUMENT.to_string(), "s.yaml"));
        openapi.set(&field, schema, "k.yaml", false).unwrap();
        openapi
    }

    #[test]
    fn custom_schema_fields_elements_and_strategies() {
        let types = chosen(false).types().unwrap();
        let TypeSchema::Custom(w) = types.lookup("example.com/v1", "W") else {
            panic!("W is defined");
        };
        let TypeSchema::Custom(spec) = types.field(w, "spec") else {
            panic!("spec resolves");
        };
        let TypeSchema::Custom(items) = types.field(spec, "items") else {
            panic!("items is defined");
        };
        assert_eq!(list_strategy(items), Ok(ListStrategy::Keys(vec!["a", "b"])));
        assert!(matches!(types.elements(items), TypeSchema::Custom(_)));
        assert!(matches!(types.field(spec, "labels"), TypeSchema::Custom(_)));
        assert!(matches!(types.field(spec, "none"), TypeSchema::Unknown));
        // Without the built-in schema, built-in kinds and definitions are unknown.
        assert!(matches!(
            types.lookup("apps/v1", "Deployment"),
            TypeSchema::Unknown
        ));
        assert!(matches!(types.field(w, "template"), TypeSchema::Unknown));
    }

    #[test]
    fn builtin_schema_parsed_first_stays_in_use() {
        let types = chosen(true).types().unwrap();
        assert!(matches!(
            types.lookup("apps/v1", "Deployment"),
            TypeSchema::Builtin { .. }
        ));
        let TypeSchema::Custom(w) = types.lookup("example.com/v1", "W") else {
            panic!("W is defined");
        };
        assert!(matches!(
            types.field(w, "template"),
            TypeSchema::Builtin { .. }
        ));
    }

    #[test]
    fn builtin_schema_parsed_after_wins_for_its_kinds() {
        let mut openapi = OpenApi::default();
        openapi.type_seen("example.com/v9", "Thing").unwrap();
        let field = BTreeMap::from([("path".to_string(), "s.yaml".to_string())]);
        let document = DOCUMENT.replace("group: example.com", "group: \"\"");
        let schema = Some((document, "s.yaml"));
        openapi.set(&field, schema, "k.yaml", false).unwrap();
        let types = openapi.types().unwrap();
        assert!(matches!(
            types.lookup("apps/v1", "Deployment"),
            TypeSchema::Builtin { .. }
        ));
        // A custom kind in the core group is not the built-in schema's.
        assert!(matches!(types.lookup("v1", "W"), TypeSchema::Custom(_)));
    }

    #[test]
    fn the_first_choice_holds_below_the_top() {
        let mut openapi = chosen(false);
        let version = BTreeMap::from([("version".to_string(), "v1.0.0".to_string())]);
        assert!(openapi.set(&version, None, "b.yaml", false).is_ok());
        let error = openapi.set(&version, None, "t.yaml", true).unwrap_err();
        assert!(error.message.contains("not built in"), "{error}");
        let both = BTreeMap::from([
            ("version".to_string(), BUILTIN_VERSION.to_string()),
            ("path".to_string(), "s.yaml".to_string()),
        ]);
        let schema = Some((String::new(), "s.yaml"));
        let error = OpenApi::default()
            .set(&both, schema, "t.yaml", true)
            .unwrap_err();
        assert!(error.message.contains("cannot use both"), "{error}");
    }
}
