//! `generators` and `transformers` entries that configure kustomize's built-in plugins
//! (`apiVersion: builtin`), read and run as kustomize v5.8.1 does. Each configuration is an
//! object: its kind names the plugin, its other fields configure it. Exec and Go plugins,
//! KRM functions and the plugins this engine does not build are refused.

use crate::fieldspec::FieldSpec;
use crate::generator::{self, GeneratedKind};
use crate::kustomization::{Generator, Image, Patch, Replacement, Replica, Selector};
use crate::openapi::OpenApi;
use crate::patch::{self, Field as PatchField, PatchBody};
use crate::replacement;
use crate::resource::Resource;
use crate::transform;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

const NOT_SUPPORTED: &str = "not supported by flux-rs (see docs/compatibility.md)";

/// The annotations that make a configuration a KRM function (current and legacy).
const FUNCTION_ANNOTATIONS: &[&str] = &["config.kubernetes.io/function", "config.k8s.io/function"];

const GENERATORS: &[&str] = &[
    "ConfigMapGenerator",
    "SecretGenerator",
    "HelmChartInflationGenerator",
    "IAMPolicyGenerator",
];

const TRANSFORMERS: &[&str] = &[
    "AnnotationsTransformer",
    "HashTransformer",
    "ImageTagTransformer",
    "LabelTransformer",
    "NamespaceTransformer",
    "PatchJson6902Transformer",
    "PatchStrategicMergeTransformer",
    "PatchTransformer",
    "PrefixSuffixTransformer",
    "PrefixTransformer",
    "SuffixTransformer",
    "ReplacementTransformer",
    "ReplicaCountTransformer",
    "ValueAddTransformer",
];

/// Built-in plugins kustomize has and this engine refuses.
const REFUSED: &[&str] = &[
    "HelmChartInflationGenerator",
    "IAMPolicyGenerator",
    "ValueAddTransformer",
];

/// One plugin configuration and the list entry it came from.
pub struct Config {
    /// `'path'` or `inline entry #n`.
    pub entry: String,
    pub object: Resource,
}

impl Config {
    /// How messages name it: the entry, the kind and the configuration's name.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} '{}')",
            self.entry,
            self.object.kind(),
            self.object.name()
        )
    }
}

/// The built-in plugin a configuration names, or why it cannot run here.
fn builtin_kind(object: &Resource) -> Result<&str, String> {
    let gvk = object.gvk();
    let kind = object.kind();
    if gvk.group.is_empty() && gvk.version == "builtin" {
        if REFUSED.contains(&kind) {
            return Err(format!("the built-in plugin {kind} is {NOT_SUPPORTED}"));
        }
        return Ok(kind);
    }
    let api_version = object
        .object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let function = object
        .annotations()
        .is_some_and(|a| FUNCTION_ANNOTATIONS.iter().any(|f| a.contains_key(*f)));
    let what = if function {
        "a KRM function"
    } else {
        "an exec or Go plugin (its apiVersion is not 'builtin')"
    };
    Err(format!(
        "{kind} (apiVersion '{api_version}') is {what}: {NOT_SUPPORTED}"
    ))
}

/// A kind that is no built-in plugin of the wanted role: kustomize's two messages.
fn wrong_role(kind: &str, wanted: &str, others: &[&str]) -> String {
    if others.contains(&kind) {
        format!("{kind} is not a {wanted}")
    } else {
        format!("{kind} is not one of kustomize's built-in plugins (unable to load builtin)")
    }
}

/// The configuration's fields among `names`, found as Go decodes them: the exact name, else
/// (`any_case`, for plugins kustomize reads through JSON) one that differs only in case.
/// Other fields are ignored, as kustomize's decoding ignores them; null is no field.
fn decode<T: DeserializeOwned>(
    object: &Resource,
    names: &[&str],
    any_case: bool,
) -> Result<T, String> {
    let mut fields = Map::new();
    for name in names {
        let value = object.object.get(*name).or_else(|| {
            let mut similar = object
                .object
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name));
            similar.next().filter(|_| any_case).map(|(_, v)| v)
        });
        if let Some(value) = value.filter(|v| !v.is_null()) {
            fields.insert(name.to_string(), value.clone());
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| format!("invalid configuration: {e}"))
}

/// A ConfigMapGenerator or SecretGenerator configuration: the fields of a
/// `configMapGenerator`/`secretGenerator` entry, its name and namespace defaulting to the
/// configuration's own. The kustomization's `generatorOptions` do not apply to it.
pub fn generator(config: &Config) -> Result<(GeneratedKind, Generator), String> {
    let kind = builtin_kind(&config.object)?;
    let generated = match kind {
        "ConfigMapGenerator" => GeneratedKind::ConfigMap,
        "SecretGenerator" => GeneratedKind::Secret,
        other => return Err(wrong_role(other, "generator", TRANSFORMERS)),
    };
    let mut names = vec![
        "name",
        "namespace",
        "behavior",
        "literals",
        "files",
        "envs",
        "env",
        "options",
    ];
    if generated == GeneratedKind::Secret {
        names.push("type");
    }
    let mut object = config.object.clone();
    // An empty behavior is kustomize's default, create.
    if object.object.get("behavior").and_then(Value::as_str) == Some("") {
        object.object.remove("behavior");
    }
    let mut args: Generator = decode(&object, &names, true)?;
    if args.name.as_deref().is_none_or(str::is_empty) {
        args.name = Some(config.object.name());
    }
    if args.namespace.as_deref().is_none_or(str::is_empty) {
        args.namespace = Some(config.object.namespace());
    }
    Ok((generated, args))
}

/// A built-in transformer, configured: its files read and its patches parsed.
pub enum Transformer {
    /// Prefix (true) or suffix, and the fields they go to.
    NameAffixes(Vec<(bool, String, Vec<FieldSpec>)>),
    Pairs(Vec<(String, String)>, Vec<FieldSpec>),
    Namespace {
        namespace: String,
        specs: Vec<FieldSpec>,
        unset_only: bool,
        subjects: transform::Subjects,
    },
    Image(Image, Vec<FieldSpec>),
    Replicas(Replica, Vec<FieldSpec>),
    Patches(Vec<(PatchBody, Option<Selector>)>, PatchField),
    Replacements(Vec<replacement::Loaded>),
    Hash,
}

/// A scalar where kustomize decodes a string: the text a number or boolean has after its
/// trip through kustomize's YAML and JSON; null is empty.
fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(crate::yaml::number_text(&n)),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, found {other}"
        ))),
    }
}

/// A map of strings, its values read as `text` reads them.
fn text_map<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Text(#[serde(deserialize_with = "text")] String);
    let map = BTreeMap::<String, Text>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(k, Text(v))| (k, v)).collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Affixes {
    #[serde(default, deserialize_with = "text")]
    prefix: String,
    #[serde(default, deserialize_with = "text")]
    suffix: String,
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pairs {
    #[serde(default, deserialize_with = "text_map")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "text_map")]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceConfig {
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
    #[serde(default)]
    unset_only: bool,
    #[serde(default)]
    set_role_binding_subjects: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageConfig {
    image_tag: Option<Image>,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaConfig {
    #[serde(default)]
    replica: ReplicaArgs,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

/// kustomize's replica: both fields may be left out.
#[derive(Default, Deserialize)]
struct ReplicaArgs {
    #[serde(default)]
    name: String,
    #[serde(default)]
    count: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StrategicMergeConfig {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Json6902Config {
    target: Option<Selector>,
    path: Option<String>,
    json_op: Option<String>,
}

#[derive(Deserialize)]
struct ReplacementConfig {
    #[serde(default)]
    replacements: Vec<Replacement>,
}

/// Configures the transformer `config` names, reading its files with `read` (from the
/// kustomization's directory, wherever the configuration was written, as kustomize).
pub fn transformer(
    config: &Config,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Transformer, String> {
    let object = &config.object;
    Ok(match builtin_kind(object)? {
        kind @ ("PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer") => {
            // kustomize reads these two through YAML, which matches names exactly.
            let affixes: Affixes = decode(object, &["prefix", "suffix", "fieldSpecs"], false)?;
            let specs = affixes
                .field_specs
                .ok_or("fieldSpecs is not expected to be nil")?;
            let mut runs = Vec::new();
            if kind != "SuffixTransformer" {
                runs.push((true, affixes.prefix, specs.clone()));
            }
            if kind != "PrefixTransformer" {
                runs.push((false, affixes.suffix, specs));
            }
            Transformer::NameAffixes(runs)
        }
        "LabelTransformer" => {
            let pairs: Pairs = decode(object, &["labels", "fieldSpecs"], true)?;
            Transformer::Pairs(transform::pairs(&pairs.labels), pairs.field_specs)
        }
        "AnnotationsTransformer" => {
            let pairs: Pairs = decode(object, &["annotations", "fieldSpecs"], true)?;
            Transformer::Pairs(transform::pairs(&pairs.annotations), pairs.field_specs)
        }
        "NamespaceTransformer" => namespace(object)?,
        "ImageTagTransformer" => {
            let image: ImageConfig = decode(object, &["imageTag", "fieldSpecs"], true)?;
            Transformer::Image(image.image_tag.unwrap_or_default(), image.field_specs)
        }
        "ReplicaCountTransformer" => {
            let config: ReplicaConfig = decode(object, &["replica", "fieldSpecs"], true)?;
            let replica = Replica {
                name: config.replica.name,
                count: config.replica.count,
            };
            Transformer::Replicas(replica, config.field_specs)
        }
        "PatchTransformer" => {
            let entry: Patch = decode(object, &["path", "patch", "target", "options"], true)?;
            let body = patch::parse(&patch::entry_text(&entry, read)?)?;
            Transformer::Patches(vec![(body, entry.target)], PatchField::Patches)
        }
        "PatchStrategicMergeTransformer" => strategic_merge(object, read)?,
        "PatchJson6902Transformer" => json6902(object, read)?,
        "ReplacementTransformer" => {
            let config: ReplacementConfig = decode(object, &["replacements"], true)?;
            Transformer::Replacements(replacement::load(&config.replacements, read)?)
        }
        "HashTransformer" => Transformer::Hash,
        other => return Err(wrong_role(other, "transformer", GENERATORS)),
    })
}

fn namespace(object: &Resource) -> Result<Transformer, String> {
    let config: NamespaceConfig = decode(
        object,
        &["fieldSpecs", "unsetOnly", "setRoleBindingSubjects"],
        true,
    )?;
    let subjects = match config.set_role_binding_subjects.as_str() {
        "" | "defaultOnly" => transform::Subjects::DefaultOnly,
        "allServiceAccounts" => transform::Subjects::AllServiceAccounts,
        "none" => transform::Subjects::None,
        other => {
            return Err(format!(
                "invalid value \"{other}\" for setRoleBindingSubjects: must be one of \
                 \"defaultOnly\", \"none\" or \"allServiceAccounts\""
            ));
        }
    };
    Ok(Transformer::Namespace {
        // The configuration's own namespace is the one it sets.
        namespace: object.namespace(),
        specs: config.field_specs,
        unset_only: config.unset_only,
        subjects,
    })
}

/// `paths` entries are patches written inline or files (tried in that order, as
/// kustomize); `patches` holds more, inline.
fn strategic_merge(
    object: &Resource,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Transformer, String> {
    let config: StrategicMergeConfig = decode(object, &["paths", "patches"], true)?;
    if config.paths.is_empty() && config.patches.is_empty() {
        return Err("empty file path and empty patch content".into());
    }
    let mut texts = Vec::new();
    for path in &config.paths {
        match patch::parse(path) {
            Ok(PatchBody::StrategicMerge(_)) => texts.push(path.clone()),
            _ => texts.push(read(path)?),
        }
    }
    if !config.patches.is_empty() {
        texts.push(config.patches);
    }
    let mut patches = Vec::new();
    for text in texts {
        match patch::parse(&text)? {
            body @ PatchBody::StrategicMerge(_) => patches.push((body, None)),
            PatchBody::Json6902(_) => {
                return Err("a strategic merge patch must be a map, not a list".into());
            }
        }
    }
    Ok(Transformer::Patches(
        patches,
        PatchField::PatchesStrategicMerge,
    ))
}

fn json6902(
    object: &Resource,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Transformer, String> {
    let config: Json6902Config = decode(object, &["target", "path", "jsonOp"], true)?;
    let target = config
        .target
        .filter(|t| !t.name.is_empty())
        .ok_or("must specify the target name")?;
    let entry = Patch {
        path: config.path,
        patch: config.json_op,
        target: Some(target),
        options: None,
    };
    match patch::parse(&patch::entry_text(&entry, read)?)? {
        body @ PatchBody::Json6902(_) => Ok(Transformer::Patches(
            vec![(body, entry.target)],
            PatchField::PatchesJson6902,
        )),
        PatchBody::StrategicMerge(_) => Err("a JSON6902 patch must be a list of operations".into()),
    }
}

/// Runs a configured transformer; kustomize then drops the objects it emptied.
pub fn apply(
    transformer: &Transformer,
    resources: &mut Vec<Resource>,
    openapi: &mut OpenApi,
) -> Result<(), String> {
    match transformer {
        Transformer::NameAffixes(runs) => {
            let affixes: Vec<transform::Affix> = runs
                .iter()
                .map(|(prefix, text, specs)| match prefix {
                    true => transform::Affix::Prefix(text, specs),
                    false => transform::Affix::Suffix(text, specs),
                })
                .collect();
            transform::add_name_affixes(resources, &affixes);
        }
        Transformer::Pairs(pairs, specs) => transform::add_pairs(resources, specs, pairs),
        Transformer::Namespace {
            namespace,
            specs,
            unset_only,
            subjects,
        } => {
            // An empty namespace runs nothing, as in kustomize.
            if !namespace.is_empty() {
                let options = transform::Namespace {
                    namespace,
                    specs: specs.iter().collect(),
                    unset_only: *unset_only,
                    subjects: *subjects,
                };
                transform::set_namespace(resources, &options);
            }
        }
        Transformer::Image(image, specs) => {
            transform::set_images(resources, std::slice::from_ref(image), specs)?
        }
        Transformer::Replicas(replica, specs) => {
            if !transform::set_replicas(resources, &replica.name, replica.count, specs) {
                let kinds: Vec<&str> = specs.iter().map(|s| s.kind.as_ref()).collect();
                return Err(format!(
                    "resource with name {} does not match a config with the following GVK [{}]",
                    replica.name,
                    kinds.join(" ")
                ));
            }
        }
        Transformer::Patches(patches, field) => {
            for (body, target) in patches {
                patch::apply(resources, body, target.as_ref(), *field, openapi).map_err(
                    |failure| match failure {
                        patch::Failure::Patch(e) => e,
                        patch::Failure::Schema(error) => error.to_string(),
                    },
                )?;
            }
        }
        Transformer::Replacements(loaded) => replacement::apply(loaded, resources)?,
        Transformer::Hash => {
            // The request stays: the build's own hashing at the end adds a second suffix,
            // as kustomize's does.
            for resource in resources.iter_mut().filter(|r| r.needs_hash) {
                let hashed = format!("{}-{}", resource.name(), generator::content_hash(resource));
                resource.store_previous_id();
                resource.set_name(hashed);
            }
        }
    }
    resources.retain(|r| !r.object.is_empty());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(object: Value) -> Config {
        let object = object.as_object().expect("a map").clone();
        Config {
            entry: "inline entry #1".into(),
            object: Resource::new(object, "kustomization.yaml".into()),
        }
    }

    fn no_files(path: &str) -> Result<String, String> {
        Err(format!("no file {path}"))
    }

    #[test]
    fn only_builtin_plugins_run() {
        let exec = config(json!({"apiVersion": "example.com/v1", "kind": "Decrypt",
            "metadata": {"name": "d"}}));
        let error = transformer(&exec, &no_files).err().unwrap();
        assert!(error.contains("exec or Go plugin"), "{error}");
        assert!(error.contains(NOT_SUPPORTED), "{error}");
        let function = config(json!({"apiVersion": "example.com/v1", "kind": "Fn",
            "metadata": {"name": "f", "annotations": {"config.k8s.io/function": "x"}}}));
        let error = generator(&function).err().unwrap();
        assert!(error.contains("KRM function"), "{error}");
        let helm = config(
            json!({"apiVersion": "builtin", "kind": "HelmChartInflationGenerator",
            "metadata": {"name": "h"}}),
        );
        assert!(generator(&helm).err().unwrap().contains(NOT_SUPPORTED));
        // `builtin/v1` is group `builtin`: not a built-in plugin.
        let grouped = config(
            json!({"apiVersion": "builtin/v1", "kind": "LabelTransformer",
            "metadata": {"name": "l"}}),
        );
        assert!(transformer(&grouped, &no_files).is_err());
    }

    #[test]
    fn roles_are_checked() {
        let labels = config(json!({"apiVersion": "builtin", "kind": "LabelTransformer",
            "metadata": {"name": "l"}}));
        assert_eq!(
            generator(&labels).err().unwrap(),
            "LabelTransformer is not a generator"
        );
        let sort = config(
            json!({"apiVersion": "builtin", "kind": "SortOrderTransformer",
            "metadata": {"name": "s"}}),
        );
        let error = transformer(&sort, &no_files).err().unwrap();
        assert!(error.contains("unable to load builtin"), "{error}");
    }

    #[test]
    fn fields_are_found_as_go_finds_them() {
        // JSON-decoded plugins match names in any case and read scalars as strings.
        let labels = config(json!({"apiVersion": "builtin", "kind": "LabelTransformer",
            "metadata": {"name": "l"}, "Labels": {"n": 1.5, "b": true, "z": null},
            "fieldSpecs": [{"path": "metadata/labels"}], "unknown": 1}));
        let Ok(Transformer::Pairs(pairs, specs)) = transformer(&labels, &no_files) else {
            panic!("a label transformer");
        };
        let expected = [("b", "true"), ("n", "1.5"), ("z", "")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expected);
        assert_eq!(specs.len(), 1);
        // The prefix transformer's YAML decoding wants exact names.
        let prefix = config(json!({"apiVersion": "builtin", "kind": "PrefixTransformer",
            "metadata": {"name": "p"}, "FieldSpecs": []}));
        let error = transformer(&prefix, &no_files).err().unwrap();
        assert_eq!(error, "fieldSpecs is not expected to be nil");
    }

    #[test]
    fn generators_default_to_their_metadata() {
        let secret = config(json!({"apiVersion": "builtin", "kind": "SecretGenerator",
            "metadata": {"name": "creds", "namespace": "web"}, "type": "Opaque",
            "literals": ["a=b"], "behavior": ""}));
        let (kind, args) = generator(&secret).unwrap();
        assert_eq!(kind, GeneratedKind::Secret);
        assert_eq!(args.name.as_deref(), Some("creds"));
        assert_eq!(args.namespace.as_deref(), Some("web"));
        assert_eq!(args.secret_type.as_deref(), Some("Opaque"));
        let named = config(
            json!({"apiVersion": "builtin", "kind": "ConfigMapGenerator",
            "metadata": {"name": "meta"}, "name": "explicit", "type": "ignored"}),
        );
        let (_, args) = generator(&named).unwrap();
        assert_eq!(args.name.as_deref(), Some("explicit"));
        assert_eq!(args.secret_type, None);
    }
}
