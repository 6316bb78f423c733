//! A HelmRelease's values as Flux composes them (`fluxcd/pkg/chartutil`): the `valuesFrom`
//! references in order, then the inline `values`; a reference with `targetPath` sets one
//! path over everything before it. And the digest Flux records of them.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One `valuesFrom` entry as read from its ConfigMap or Secret.
pub struct ReferencedValues<'a> {
    /// How the reference is named in errors (`ConfigMap 'ns/name' key 'values.yaml'`).
    pub description: String,
    pub text: &'a str,
    pub target_path: Option<&'a str>,
}

/// Maps merge key by key; anything else in `overlay` replaces (`MergeMaps`).
pub fn merge_maps(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                merge_maps(existing, incoming);
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The values a release is rendered with.
pub fn compose(
    references: &[ReferencedValues<'_>],
    inline: Option<&Map<String, Value>>,
) -> Result<Map<String, Value>, String> {
    let empty = Map::new();
    let inline = inline.unwrap_or(&empty);
    let mut result = Map::new();
    for reference in references {
        match reference.target_path {
            None => {
                let parsed = parse_yaml_map(reference.text).map_err(|e| {
                    format!("unable to read values from {}: {e}", reference.description)
                })?;
                merge_maps(&mut result, &parsed);
            }
            Some(path) => {
                merge_maps(&mut result, inline);
                set_path(&mut result, path, reference.text.trim_end_matches('\n')).map_err(
                    |e| format!("unable to merge value from {}: {e}", reference.description),
                )?;
            }
        }
    }
    merge_maps(&mut result, inline);
    Ok(result)
}

/// A YAML document that must be a map (empty text: an empty map).
fn parse_yaml_map(text: &str) -> Result<Map<String, Value>, String> {
    let documents = goyaml::parse_stream(text).map_err(|e| e.to_string())?;
    match documents.into_iter().next() {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(format!("expected a map, got {other}")),
    }
}

/// `strvals.ParseInto("<path>=<value>")`; a value in quotes is set as a string.
fn set_path(values: &mut Map<String, Value>, path: &str, value: &str) -> Result<(), String> {
    let quoted = value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')));
    let (value, string_only) = if quoted {
        (&value[1..value.len() - 1], true)
    } else {
        (value, false)
    };
    let mut target = to_template_map(values);
    helm::values::parse_set(&format!("{path}={value}"), &mut target, string_only)?;
    *values = from_template_map(&target);
    Ok(())
}

pub fn to_template_map(values: &Map<String, Value>) -> gotemplate::Map {
    match gotemplate::Value::from(Value::Object(values.clone())) {
        gotemplate::Value::Map(map) => map.to_map(),
        _ => gotemplate::Map::new(),
    }
}

fn from_template_map(values: &gotemplate::Map) -> Map<String, Value> {
    match gotemplate::Value::map(values.clone()).to_json() {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `chartutil.DigestValues`: sha256 over the go-yaml encoding of the values with every map's
/// keys sorted; no values hash the empty string.
pub fn digest(values: &Map<String, Value>) -> String {
    let text = if values.is_empty() {
        String::new()
    } else {
        let mut out = String::new();
        goyaml::write_document(&sorted(&Value::Object(values.clone())), &mut out);
        out
    };
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn reference<'a>(text: &'a str, target_path: Option<&'a str>) -> ReferencedValues<'a> {
        ReferencedValues {
            description: "ConfigMap 'ns/values' key 'values.yaml'".into(),
            text,
            target_path,
        }
    }

    #[test]
    fn references_merge_in_order_then_inline_values_win() {
        let inline = map(json!({"replicaCount": 3, "image": {"tag": "6.1.0"}}));
        let values = compose(
            &[
                reference("replicaCount: 1\nimage:\n  repository: a\n  tag: x\n", None),
                reference("image:\n  repository: b\n", None),
            ],
            Some(&inline),
        )
        .unwrap();
        assert_eq!(
            Value::Object(values),
            json!({"replicaCount": 3, "image": {"repository": "b", "tag": "6.1.0"}})
        );
    }

    #[test]
    fn a_target_path_overrides_everything_before_it_including_inline_values() {
        let inline = map(json!({"auth": {"password": "inline"}, "other": true}));
        let values = compose(
            &[
                reference("s3cret\n", Some("auth.password")),
                reference("'0123'", Some("auth.pin")),
            ],
            Some(&inline),
        )
        .unwrap();
        assert_eq!(
            Value::Object(values),
            json!({"auth": {"password": "inline", "pin": "0123"}, "other": true})
        );
        let values = compose(&[reference("s3cret", Some("auth.password"))], None).unwrap();
        assert_eq!(
            Value::Object(values),
            json!({"auth": {"password": "s3cret"}})
        );
    }

    #[test]
    fn values_that_are_not_a_map_are_refused_with_their_source() {
        let error = compose(&[reference("- a\n- b\n", None)], None).unwrap_err();
        assert!(
            error.starts_with("unable to read values from ConfigMap 'ns/values'"),
            "{error}"
        );
    }

    #[test]
    fn digests_are_flux_digests() {
        assert_eq!(
            digest(&Map::new()),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Key order does not matter: maps are sorted before encoding.
        let a = digest(&map(json!({"b": 1, "a": {"d": 2, "c": 3}})));
        let b = digest(&map(json!({"a": {"c": 3, "d": 2}, "b": 1})));
        assert_eq!(a, b);
        assert_eq!(
            a,
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(b"a:\n  c: 3\n  d: 2\nb: 1\n"))
            )
        );
    }
}
