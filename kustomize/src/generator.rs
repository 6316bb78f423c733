//! `configMapGenerator` and `secretGenerator`, and the content-hash name suffix.

use crate::kustomization::{Generator, GeneratorOptions};
use crate::resource::Resource;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GeneratedKind {
    ConfigMap,
    Secret,
}

/// A source of generator data, read by the caller (which enforces the load restrictions).
pub trait FileSource {
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// Builds the object a generator entry describes.
pub fn generate(
    kind: GeneratedKind,
    entry: &Generator,
    global: Option<&GeneratorOptions>,
    files: &dyn FileSource,
    origin: &str,
) -> Result<Resource, String> {
    let name = entry
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| "a generator needs a name".to_string())?;
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for path in entry.envs.iter().chain(entry.env.iter()) {
        let content = files.read(path)?;
        let text = String::from_utf8(content)
            .map_err(|_| format!("env file '{path}' is not valid UTF-8"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        pairs.extend(text.split('\n').filter_map(parse_env_line));
    }
    for literal in &entry.literals {
        match literal.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                pairs.push((key.to_string(), unquote(value).as_bytes().to_vec()))
            }
            _ => {
                return Err(format!(
                    "invalid literal source {literal}, expected key=value"
                ));
            }
        }
    }
    for spec in &entry.files {
        let (key, path) = match spec.split('=').collect::<Vec<_>>().as_slice() {
            [path] => (path.rsplit('/').next().unwrap_or(path).to_string(), *path),
            [key, path] if !key.is_empty() && !path.is_empty() => (key.to_string(), *path),
            _ => {
                return Err(format!("file source '{spec}' must be a path or key=path"));
            }
        };
        pairs.push((key, files.read(path)?));
    }
    let mut seen = std::collections::HashSet::new();
    for (key, _) in &pairs {
        if !seen.insert(key.clone()) {
            let what = match kind {
                GeneratedKind::ConfigMap => "configmap",
                GeneratedKind::Secret => "secret",
            };
            return Err(format!("{what} {name} illegally repeats the key `{key}`"));
        }
    }

    let options = GeneratorOptions::merged(global, entry.options.as_ref());
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(namespace) = entry.namespace.as_ref().filter(|n| !n.is_empty()) {
        metadata.insert("namespace".into(), json!(namespace));
    }
    if !options.labels.is_empty() {
        metadata.insert("labels".into(), json!(options.labels));
    }
    if !options.annotations.is_empty() {
        metadata.insert("annotations".into(), json!(options.annotations));
    }
    let mut object = Map::new();
    object.insert("apiVersion".into(), json!("v1"));
    object.insert(
        "kind".into(),
        json!(match kind {
            GeneratedKind::ConfigMap => "ConfigMap",
            GeneratedKind::Secret => "Secret",
        }),
    );
    object.insert("metadata".into(), Value::Object(metadata));
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, bytes) in pairs {
        match kind {
            GeneratedKind::Secret => {
                data.insert(key, json!(wrapped_base64(&bytes)));
            }
            GeneratedKind::ConfigMap => match String::from_utf8(bytes) {
                Ok(text) => {
                    data.insert(key, json!(text));
                }
                // Wrapped as Secret values are: kustomize encodes both alike, and hashes the
                // wrapped text.
                Err(e) => {
                    binary.insert(key, json!(wrapped_base64(&e.into_bytes())));
                }
            },
        }
    }
    if !data.is_empty() || kind == GeneratedKind::Secret {
        object.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        object.insert("binaryData".into(), Value::Object(binary));
    }
    if kind == GeneratedKind::Secret {
        object.insert(
            "type".into(),
            json!(entry.secret_type.as_deref().unwrap_or("Opaque")),
        );
    }
    if options.immutable == Some(true) {
        object.insert("immutable".into(), json!(true));
    }
    let mut resource = Resource::new(object, origin.to_string());
    resource.needs_hash = options.disable_name_suffix_hash != Some(true);
    resource.behavior = entry.behavior;
    resource.build_annotations = true;
    Ok(resource)
}

/// One line of an env file, as kustomize reads it: leading space trimmed, blank lines and
/// `#` comments skipped, split at the first `=` with nothing else trimmed or unquoted; a
/// bare `KEY` has an empty value.
fn parse_env_line(line: &str) -> Option<(String, Vec<u8>)> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (key, value) = line.split_once('=').unwrap_or((line, ""));
    Some((key.to_string(), value.as_bytes().to_vec()))
}

/// Bytes as go-yaml writes what is not UTF-8 (Secret and binaryData values, strings that
/// are not text): base64 in 70-column lines, each ending in a newline once there is more
/// than one.
pub(crate) fn wrapped_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Literal values lose one pair of surrounding quotes, as in kustomize.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// Combines a generated object with an existing one of the same id: `replace` takes the new
/// content, `merge` adds the new data over the old; labels and annotations are merged either
/// way and the name and namespace stay the existing object's; the name gets a hash suffix
/// only when both asked for one.
pub fn combine(existing: &mut Resource, generated: &Resource, replace: bool) {
    let mut metadata = existing.metadata().cloned().unwrap_or_default();
    for field in ["labels", "annotations"] {
        if let Some(map) = generated
            .metadata()
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
        {
            let target = metadata
                .entry(field)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(target) = target {
                target.extend(map.clone());
            }
        }
    }
    if replace {
        let mut object = generated.object.clone();
        object.insert("metadata".into(), Value::Object(metadata));
        existing.object = object;
    } else {
        existing
            .object
            .insert("metadata".into(), Value::Object(metadata));
        for field in ["data", "binaryData"] {
            if let Some(map) = generated.object.get(field).and_then(Value::as_object) {
                let target = existing
                    .object
                    .entry(field)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(target) = target {
                    target.extend(map.clone());
                }
            }
        }
        if let Some(immutable) = generated.object.get("immutable") {
            existing
                .object
                .insert("immutable".into(), immutable.clone());
        }
    }
    // kustomize keeps the hash request only when both had it: build annotations come from
    // the existing object, and the new one's absence removes it.
    existing.needs_hash &= generated.needs_hash;
    existing.build_annotations = true;
}

/// kustomize's name suffix: sha256 over a Go-JSON encoding of kind, type, data and
/// binaryData (the name field is always empty there, a quirk of kustomize's lookup), first
/// ten hex digits with some digits swapped for letters so the suffix never spells words.
pub fn content_hash(resource: &Resource) -> String {
    let field = |name: &str| -> Value {
        match resource.object.get(name) {
            Some(Value::Object(map)) => {
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                json!(sorted)
            }
            Some(other) => other.clone(),
            None => json!(""),
        }
    };
    let mut fields: BTreeMap<&str, Value> = BTreeMap::new();
    fields.insert("kind", json!(resource.kind()));
    fields.insert("name", json!(""));
    fields.insert("data", field("data"));
    if resource.kind() == "Secret" {
        fields.insert("type", field("type"));
        if resource
            .object
            .get("stringData")
            .is_some_and(Value::is_object)
        {
            fields.insert("stringData", field("stringData"));
        }
    } else if resource
        .object
        .get("binaryData")
        .is_some_and(Value::is_object)
    {
        fields.insert("binaryData", field("binaryData"));
    }
    let encoded = go_json(&serde_json::to_string(&fields).expect("serialisable"));
    let digest = hex::encode(Sha256::digest(encoded.as_bytes()));
    digest[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Go's encoding/json escapes HTML-significant characters; the hash must see the same bytes.
fn go_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoFiles;
    impl FileSource for NoFiles {
        fn read(&self, path: &str) -> Result<Vec<u8>, String> {
            Err(format!("no file {path}"))
        }
    }

    fn generated(kind: GeneratedKind, name: &str, literals: &[&str]) -> Resource {
        let entry = Generator {
            name: Some(name.into()),
            literals: literals.iter().map(|l| l.to_string()).collect(),
            ..Generator::default()
        };
        generate(kind, &entry, None, &NoFiles, "test").unwrap()
    }

    /// Suffixes printed by kustomize v5.8.1 for the same generators.
    #[test]
    fn hashes_match_kustomize() {
        let cm = generated(GeneratedKind::ConfigMap, "cm", &["a=1", "b=<&>"]);
        assert_eq!(content_hash(&cm), "f986b78m9b");
        let secret = generated(GeneratedKind::Secret, "sec", &["k=v"]);
        assert_eq!(content_hash(&secret), "ftgtgc4t9f");
        let empty = generated(GeneratedKind::ConfigMap, "e", &[]);
        assert_eq!(content_hash(&empty), "6ct58987ht");
    }

    struct Bytes;
    impl FileSource for Bytes {
        fn read(&self, _: &str) -> Result<Vec<u8>, String> {
            Ok([0xff].repeat(60))
        }
    }

    #[test]
    fn binary_data_is_wrapped_as_secret_data() {
        let entry = Generator {
            name: Some("bin".into()),
            files: vec!["blob".into()],
            ..Generator::default()
        };
        let cm = generate(GeneratedKind::ConfigMap, &entry, None, &Bytes, "test").unwrap();
        let value = cm.object["binaryData"]["blob"].as_str().unwrap();
        assert_eq!(value, wrapped_base64(&[0xff].repeat(60)));
        assert_eq!(value.lines().map(str::len).collect::<Vec<_>>(), [70, 10]);
        assert!(cm.object.get("data").is_none());
    }

    #[test]
    fn env_lines_and_literals() {
        assert_eq!(parse_env_line("  # c"), None);
        assert_eq!(
            parse_env_line("  SPACED = val  "),
            Some(("SPACED ".into(), b" val  ".to_vec()))
        );
        assert_eq!(parse_env_line("NOEQ"), Some(("NOEQ".into(), vec![])));
        assert_eq!(unquote("\"quoted\""), "quoted");
        assert_eq!(wrapped_base64(&[b'x'; 60]).lines().count(), 2);
        assert!(wrapped_base64(&[b'x'; 60]).ends_with('\n'));
    }
}
