//! The `kustomization.yaml` file.

use crate::resource::Behavior;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// File names kustomize looks for, in its order.
pub const FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: Vec<Labels>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub config_map_generator: Vec<Generator>,
    #[serde(default)]
    pub secret_generator: Vec<Generator>,
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub patches_json6902: Vec<Patch>,
    pub sort_options: Option<SortOptions>,
    #[serde(default)]
    pub vars: Vec<Var>,
    #[serde(default)]
    pub replacements: Vec<Replacement>,
    /// Built-in generator plugin configurations: inline YAML, files or kustomization
    /// directories (see `plugin.rs`).
    #[serde(default)]
    pub generators: Vec<String>,
    /// Built-in transformer plugin configurations, as `generators`.
    #[serde(default)]
    pub transformers: Vec<String>,
    /// OpenAPI definition files whose extensions add to the transformer configuration.
    #[serde(default)]
    pub crds: Vec<String>,
    /// The schema strategic merge patches use: `path` (a custom document) or `version`.
    #[serde(rename = "openapi")]
    pub open_api: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub configurations: Vec<String>,
    // Fields we do not build; present means a clear error (see `unsupported_fields`).
    pub validators: Option<Value>,
    pub helm_charts: Option<Value>,
    pub helm_globals: Option<Value>,
    pub helm_chart_inflation_generator: Option<Value>,
    pub build_metadata: Option<Value>,
    pub image_tags: Option<Value>,
}

impl Kustomization {
    /// The fields this engine refuses, by their YAML names.
    pub fn unsupported_fields(&self) -> Vec<&'static str> {
        let fields: [(&'static str, bool); 6] = [
            ("validators", self.validators.is_some()),
            ("helmCharts", self.helm_charts.is_some()),
            ("helmGlobals", self.helm_globals.is_some()),
            (
                "helmChartInflationGenerator",
                self.helm_chart_inflation_generator.is_some(),
            ),
            ("buildMetadata", self.build_metadata.is_some()),
            ("imageTags", self.image_tags.is_some()),
        ];
        fields
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| name)
            .collect()
    }
}

/// A `vars` entry: `$(name)` in the fields kustomize expands (see `vars.rs`) becomes the
/// value at `fieldref.fieldpath` of the object `objref` names. kustomize reads it with Go's
/// JSON decoding, which matches field names whatever their case: `objRef`, `fieldRef` and
/// `fieldPath` are common spellings, so they are read here too.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(try_from = "Value")]
pub struct Var {
    pub name: String,
    pub objref: VarTarget,
    /// Empty: `metadata.name`.
    pub fieldpath: String,
}

/// The object a var reads: its raw name (before prefixes, suffixes and namespace changes).
#[derive(Clone, Debug, Default)]
pub struct VarTarget {
    /// When set, overrides `group` and `version` (a single part sets only the version).
    pub api_version: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    /// Empty: any namespace.
    pub namespace: String,
}

impl TryFrom<Value> for Var {
    type Error = String;

    fn try_from(value: Value) -> Result<Var, String> {
        let mut var = go_fields(value, "vars entry", &["name", "objref", "fieldref"])?;
        let target = [
            "apiVersion",
            "group",
            "version",
            "kind",
            "name",
            "namespace",
        ];
        let objref = var.remove("objref").unwrap_or(Value::Null);
        let mut objref = go_fields(objref, "vars objref", &target)?;
        let fieldref = var.remove("fieldref").unwrap_or(Value::Null);
        let mut fieldref = go_fields(fieldref, "vars fieldref", &["fieldPath"])?;
        let text = |map: &mut Map<String, Value>, field: &str| go_string(map.remove(field), field);
        Ok(Var {
            name: text(&mut var, "name")?,
            objref: VarTarget {
                api_version: text(&mut objref, "apiVersion")?,
                group: text(&mut objref, "group")?,
                version: text(&mut objref, "version")?,
                kind: text(&mut objref, "kind")?,
                name: text(&mut objref, "name")?,
                namespace: text(&mut objref, "namespace")?,
            },
            fieldpath: text(&mut fieldref, "fieldPath")?,
        })
    }
}

/// A map's fields under their canonical names, found as Go's JSON decoding finds them
/// (exact name first, then any case); another field is an error, as kustomize's strict
/// decoding has it. Null is an empty map.
fn go_fields(value: Value, what: &str, names: &[&str]) -> Result<Map<String, Value>, String> {
    let fields = match value {
        Value::Null => return Ok(Map::new()),
        Value::Object(fields) => fields,
        other => {
            return Err(format!(
                "{what}: expected a map, found {}",
                type_name(&other)
            ));
        }
    };
    let mut out = Map::new();
    for (key, value) in fields {
        let canonical = names
            .iter()
            .find(|n| **n == key)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(&key)))
            .ok_or_else(|| format!("{what}: unknown field \"{key}\""))?;
        out.insert(canonical.to_string(), value);
    }
    Ok(out)
}

/// A string field: absent or null is empty, as in Go; other types are kustomize's error.
fn go_string(value: Option<Value>, field: &str) -> Result<String, String> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "vars: cannot unmarshal {} into field '{field}' of type string",
            type_name(&other)
        )),
    }
}

/// A JSON value's type as Go's JSON decoding names it in errors.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Labels {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<crate::fieldspec::FieldSpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Generator {
    pub name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub behavior: Behavior,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    pub env: Option<String>,
    /// Secrets only.
    #[serde(rename = "type")]
    pub secret_type: Option<String>,
    pub options: Option<GeneratorOptions>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

impl GeneratorOptions {
    /// Per-generator options over the file-wide ones, as kustomize merges them: local labels
    /// and annotations win, a global `true` cannot be turned off locally.
    pub fn merged(global: Option<&GeneratorOptions>, local: Option<&GeneratorOptions>) -> Self {
        let mut out = local.cloned().unwrap_or_default();
        if let Some(global) = global {
            for (k, v) in &global.labels {
                out.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &global.annotations {
                out.annotations
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            if global.disable_name_suffix_hash == Some(true) {
                out.disable_name_suffix_hash = Some(true);
            }
            if global.immutable == Some(true) {
                out.immutable = Some(true);
            }
        }
        out
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    pub options: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

/// A `replacements` entry: a file of replacements (`path`), or one replacement inline: a
/// value (from an object's field, or `sourceValue`) and the fields it goes to.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    pub path: Option<String>,
    pub source: Option<ReplacementSource>,
    pub targets: Option<Vec<ReplacementTarget>>,
    pub source_value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementSource {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementTarget {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    /// Read and ignored, as kustomize does.
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    pub order: SortOrder,
    pub legacy_sort_options: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Legacy,
    Fifo,
}
