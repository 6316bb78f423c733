//! JSON6902 patches as kustomize v5.8.1 applies them, with gopkg.in/evanphx/json-patch.v4.
//!
//! That library is looser than RFC 6902 and than the json-patch crate, and kustomize's
//! output follows it: `replace` of a missing object key adds it, `copy` from a missing key
//! copies null, array indexes may be negative (counted from the end) or written with a sign
//! or leading zeros, text before a path's first `/` is ignored, `~` not followed by `0`/`1`
//! is literal, `add` at the root fails, a null `test` value matches a missing key, and
//! numbers compare by value (`1` equals `1.0`). The crate would need every pointer resolved
//! here first, so the six operations are written over serde_json instead.

use crate::yaml;
use serde_json::{Map, Value};

/// One operation as written: like kustomize, fields are only checked when it is applied.
#[derive(Clone, Debug)]
pub struct Operation(Map<String, Value>);

/// Reads a JSON6902 patch: JSON when it starts with `[`, else YAML 1.1 (sigs.k8s.io/yaml).
pub fn parse(text: &str) -> Result<Vec<Operation>, String> {
    let text = text.trim();
    let document = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?
    } else {
        yaml::parse_yaml11(text)
            .map_err(|e| format!("invalid YAML: {e}"))?
            .into_iter()
            .next()
            .unwrap_or(Value::Null)
    };
    let Value::Array(items) = document else {
        return Err("a JSON6902 patch must be a list of operations".into());
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(map) => Ok(Operation(map)),
            Value::Null => Ok(Operation(Map::new())),
            other => Err(format!("a JSON6902 operation must be a map, not {other}")),
        })
        .collect()
}

impl Operation {
    fn field(&self, name: &str) -> Result<&str, String> {
        self.0
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing '{name}' (a string)"))
    }

    /// A missing value reads as null, as in json-patch.
    fn value(&self) -> Value {
        self.0.get("value").cloned().unwrap_or(Value::Null)
    }

    /// `op path` (and `from`), for error messages.
    pub fn describe(&self) -> String {
        let text = |name: &str| self.0.get(name).and_then(Value::as_str).unwrap_or("?");
        match self.0.get("from") {
            Some(_) => format!("{} {} from {}", text("op"), text("path"), text("from")),
            None => format!("{} {}", text("op"), text("path")),
        }
    }
}

/// Applies `operations` in order; the first failure stops (the build fails anyway).
pub fn apply(doc: &mut Value, operations: &[Operation]) -> Result<(), String> {
    for (i, operation) in operations.iter().enumerate() {
        apply_one(doc, operation)
            .map_err(|e| format!("operation {} ({}): {e}", i + 1, operation.describe()))?;
    }
    Ok(())
}

fn apply_one(doc: &mut Value, operation: &Operation) -> Result<(), String> {
    let path = operation.field("path")?;
    match operation.field("op").unwrap_or("") {
        "add" => add(doc, path, operation.value()),
        "remove" => take(doc, path).map(drop),
        "replace" if path.is_empty() => match operation.value() {
            value @ Value::Object(_) => {
                *doc = value;
                Ok(())
            }
            _ => Err("the whole object can only be replaced by a map".into()),
        },
        "replace" => replace(doc, path, operation.value()),
        "move" => {
            let from = operation.field("from")?;
            let value = take(doc, from)?;
            add(doc, path, value)
        }
        "copy" => {
            let from = operation.field("from")?;
            let value = read(doc, from)?.cloned().unwrap_or(Value::Null);
            add(doc, path, value)
        }
        "test" => test(doc, path, &operation.value()),
        other => Err(format!("unknown op '{other}'")),
    }
}

/// json-patch's split of a path into its parents and last key: the text before the first
/// `/` is dropped and each token is unescaped (`~1` is `/`, `~0` is `~`, left to right).
fn split(path: &str) -> Result<(Vec<String>, String), String> {
    let mut tokens: Vec<String> = path.split('/').skip(1).map(unescape).collect();
    let key = tokens
        .pop()
        .ok_or_else(|| format!("'{path}' is not a path (no '/')"))?;
    Ok((tokens, key))
}

fn unescape(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('~', Some('1')) => {
                out.push('/');
                chars.next();
            }
            ('~', Some('0')) => {
                out.push('~');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The map or list holding a path's last key; null or scalar parents do not count.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let (parents, key) = split(path)?;
    let mut current = doc;
    for token in &parents {
        let next = match current {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => {
                let i = existing_index(token, items.len()).ok();
                i.and_then(|i| items.get_mut(i))
            }
            _ => None,
        };
        current = match next {
            Some(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => return Err(format!("'{path}': a parent does not exist")),
        };
    }
    Ok((current, key))
}

/// An index as Go's `strconv.Atoi` reads it (sign and leading zeros allowed); negative
/// ones count from the end.
fn signed_index(token: &str, len: usize, slots: usize) -> Result<usize, String> {
    let i: i64 = token
        .parse()
        .map_err(|_| format!("'{token}' is not an array index"))?;
    let resolved = if i < 0 {
        i.saturating_add(slots as i64)
    } else {
        i
    };
    usize::try_from(resolved)
        .ok()
        .filter(|&r| r < slots)
        .ok_or_else(|| format!("index {i} is out of range for {len} elements"))
}

/// The index of an element that must exist.
fn existing_index(token: &str, len: usize) -> Result<usize, String> {
    signed_index(token, len, len)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    match parent(doc, path)? {
        (Value::Object(map), key) => {
            map.insert(key, value);
        }
        (Value::Array(items), key) => {
            let i = if key == "-" {
                items.len()
            } else {
                signed_index(&key, items.len(), items.len() + 1)?
            };
            items.insert(i, value);
        }
        _ => unreachable!("parent() returns maps and lists"),
    }
    Ok(())
}

/// Removes and returns the value at `path`, which must exist (a null value does).
fn take(doc: &mut Value, path: &str) -> Result<Value, String> {
    match parent(doc, path)? {
        (Value::Object(map), key) => map
            .remove(&key)
            .ok_or_else(|| format!("'{path}': key '{key}' does not exist")),
        (Value::Array(items), key) => Ok(items.remove(existing_index(&key, items.len())?)),
        _ => unreachable!("parent() returns maps and lists"),
    }
}

/// Replaces an element or sets a key, present or not.
fn replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    match parent(doc, path)? {
        (Value::Object(map), key) => {
            map.insert(key, value);
        }
        (Value::Array(items), key) => {
            let i = existing_index(&key, items.len())?;
            items[i] = value;
        }
        _ => unreachable!("parent() returns maps and lists"),
    }
    Ok(())
}

/// The value at `path`: `None` for a missing key or a null; an error for a bad index.
fn read<'a>(doc: &'a mut Value, path: &str) -> Result<Option<&'a Value>, String> {
    let found = match parent(doc, path)? {
        (Value::Object(map), key) => map.get(&key),
        (Value::Array(items), key) => Some(&items[existing_index(&key, items.len())?]),
        _ => unreachable!("parent() returns maps and lists"),
    };
    Ok(found.filter(|v| !v.is_null()))
}

fn test(doc: &mut Value, path: &str, expected: &Value) -> Result<(), String> {
    let matched = if path.is_empty() {
        equal(doc, expected)
    } else {
        match read(doc, path)? {
            None => expected.is_null(),
            Some(found) => equal(found, expected),
        }
    };
    if matched {
        Ok(())
    } else {
        Err(format!("test failed: '{path}' is not {expected}"))
    }
}

/// JSON equality with numbers compared by value, as json-patch compares their Go encoding.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(mut doc: Value, patch: &str) -> Result<Value, String> {
        apply(&mut doc, &parse(patch)?)?;
        Ok(doc)
    }

    #[test]
    fn json_patch_v4_leniencies() {
        let doc = json!({"a": {"list": [1, 2, 3]}, "m": {}});
        let out = run(
            doc.clone(),
            r#"[{"op": "replace", "path": "/m/new", "value": 1},
                {"op": "copy", "from": "/m/absent", "path": "/m/copied"},
                {"op": "add", "path": "/a/list/-2", "value": 4},
                {"op": "remove", "path": "/a/list/-1"},
                {"op": "replace", "path": "/a/list/+00", "value": 0},
                {"op": "add", "path": "ignored/top", "value": true},
                {"op": "add", "path": "/m/a~b", "value": 2},
                {"op": "test", "path": "/m/none", "value": null},
                {"op": "test", "path": "/m/new", "value": 1.0}]"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": {"list": [0, 2, 4]}, "top": true,
                   "m": {"new": 1, "copied": null, "a~b": 2}})
        );
        for failing in [
            r#"[{"op": "add", "path": "", "value": {}}]"#,
            r#"[{"op": "add", "path": "/a/list/5", "value": 0}]"#,
            r#"[{"op": "remove", "path": "/a/list/-4"}]"#,
            r#"[{"op": "add", "path": "/missing/key", "value": 0}]"#,
            r#"[{"op": "remove", "path": "/m/absent"}]"#,
            r#"[{"op": "test", "path": "/m", "value": null}]"#,
            r#"[{"op": "Add", "path": "/x", "value": 0}]"#,
        ] {
            assert!(run(doc.clone(), failing).is_err(), "{failing}");
        }
    }

    #[test]
    fn yaml_values_are_yaml_1_1() {
        let out = run(
            json!({}),
            "- op: add\n  path: /v\n  value: [yes, off, 010, 0x10]",
        )
        .unwrap();
        assert_eq!(out, json!({"v": [true, false, 8, 16]}));
    }
}
