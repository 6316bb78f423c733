//! kyaml's merge of a list whose elements have merge keys (containers by `name`, ports by
//! `containerPort` and `protocol`, ...), kept quirk for quirk because kustomize's output
//! follows it. Keys compare as text. With two keys, an element lacking one matches an
//! element that has it, as one: a patch port without `protocol` lands on its `TCP` twin
//! and the patch's other fields are lost, and a `$patch: delete` for a port without
//! `protocol` deletes nothing. The patch's elements come first; the object's are then put
//! back one by one, replacing what their keys match (with two keys: moved to the end).

use super::{Schema, directive, merge_map, strip_directives_map};
use serde_json::{Map, Value};

/// Merges `patch` into `dest` (kyaml's associative list walk, kustomize's prepend order);
/// `schema` is the elements'.
pub(super) fn merge(
    dest: &mut Vec<Value>,
    patch: &[Value],
    keys: &[&str],
    schema: Schema,
    field: &str,
) -> Result<(), String> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let mut values_list = element_values(patch, dest, &keys);
    if keys.len() > 1 {
        merge_values(&mut values_list);
    }
    if values_list.is_empty() {
        return Ok(());
    }
    let mut items = Vec::new();
    let mut last_keys = keys.clone();
    for values in &values_list {
        let (valid_keys, valid_values) = valid_keys(&values_list, values, &keys);
        let walked = walk_element(dest, patch, &valid_keys, &valid_values, schema, field)?;
        let value = match walked {
            Walked::Gone => None,
            Walked::Dest(i) => {
                set_missing_keys(&mut dest[i], &valid_keys, &valid_values);
                Some(dest[i].clone())
            }
            Walked::New(mut value) => {
                set_missing_keys(&mut value, &valid_keys, &valid_values);
                Some(value)
            }
        };
        match value.filter(|v| !is_empty_map(v)) {
            None => set_element(dest, None, &valid_keys, &valid_values)?,
            Some(value) => set_element(&mut items, Some(&value), &valid_keys, &valid_values)?,
        }
        last_keys = valid_keys;
    }
    put_back(&mut items, dest, &last_keys)?;
    *dest = items;
    Ok(())
}

fn is_empty_map(value: &Value) -> bool {
    value.is_null() || value.as_object().is_some_and(Map::is_empty)
}

/// A scalar's text; `None` for maps, lists and null.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as kyaml's element values read it: anything but a scalar (missing, null, a map
/// or a list) is empty.
fn key_text(element: &Value, key: &str) -> String {
    element.get(key).and_then(scalar_text).unwrap_or_default()
}

/// A present field's text as kyaml's field matcher compares it (null reads `null`).
fn field_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        other => scalar_text(other).unwrap_or_default(),
    }
}

/// The key values of every element, the patch's first, each set once.
fn element_values(patch: &[Value], dest: &[Value], keys: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for element in patch.iter().chain(dest) {
        let values: Vec<String> = keys.iter().map(|k| key_text(element, k)).collect();
        if !out.contains(&values) {
            out.push(values);
        }
    }
    out
}

/// With several keys, two elements are one when they share a value and differ only where
/// one of them has none; both take the fuller values.
fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        for j in 0..list.len() {
            if let Some(merged) = matching(&list[i], &list[j]) {
                list[i] = merged.clone();
                list[j] = merged;
            }
        }
    }
}

fn matching(a: &[String], b: &[String]) -> Option<Vec<String>> {
    let mut common = false;
    let mut merged = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            merged.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else {
            merged.push(if x.is_empty() { y.clone() } else { x.clone() });
        }
    }
    (a.len() == b.len() && common).then_some(merged)
}

/// The keys some element has a value for (all of them when none has), and `values` at
/// those keys.
fn valid_keys(
    list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let used: Vec<bool> = (0..keys.len())
        .map(|i| list.iter().any(|v| !v[i].is_empty()))
        .collect();
    if !used.contains(&true) {
        return (keys.to_vec(), values.to_vec());
    }
    let pick = |from: &[String]| -> Vec<String> {
        from.iter()
            .zip(&used)
            .filter(|(_, u)| **u)
            .map(|(v, _)| v.clone())
            .collect()
    };
    (pick(keys), pick(values))
}

enum Walked {
    Gone,
    /// The object's element at this index, merged in place.
    Dest(usize),
    New(Value),
}

/// The first map element whose fields at `keys` read exactly `values`.
fn find_element(list: &[Value], keys: &[String], values: &[String]) -> Option<usize> {
    list.iter().position(|element| {
        element.as_object().is_some_and(|map| {
            keys.iter()
                .zip(values)
                .all(|(k, v)| map.get(k).is_some_and(|f| field_text(f) == *v))
        })
    })
}

/// Merges the patch's element into the object's one found by the keys that have values.
fn walk_element(
    dest: &mut [Value],
    patch: &[Value],
    keys: &[String],
    values: &[String],
    schema: Schema,
    field: &str,
) -> Result<Walked, String> {
    let (keys, values) = valid_keys(&[values.to_vec()], values, keys);
    let target = find_element(dest, &keys, &values);
    let patch_element = find_element(patch, &keys, &values).and_then(|i| patch[i].as_object());
    Ok(match (target, patch_element) {
        (None, None) => Walked::Gone,
        // Walked all the same, for the lists inside.
        (Some(i), None) => {
            if let Value::Object(existing) = &mut dest[i] {
                merge_map(existing, &Map::new(), schema, field)?;
            }
            Walked::Dest(i)
        }
        (_, Some(p)) if directive(p) == Some("delete") => Walked::Gone,
        (Some(i), Some(p)) if directive(p) != Some("replace") => {
            if let Value::Object(existing) = &mut dest[i] {
                let schema = schema.at_map(Some(existing), p);
                merge_map(existing, p, schema, field)?;
            }
            Walked::Dest(i)
        }
        // A `$patch: replace` element is taken as written; the object's element is put
        // back over it afterwards (`put_back`), so kyaml keeps the object's.
        (_, Some(p)) => Walked::New(Value::Object(strip_directives_map(
            p,
            schema.at_map(None, p),
            field,
        )?)),
    })
}

/// kyaml writes a key value back into a merged element that lacks the field.
fn set_missing_keys(element: &mut Value, keys: &[String], values: &[String]) {
    let Value::Object(map) = element else { return };
    for (key, value) in keys.iter().zip(values) {
        if !value.is_empty() && !map.contains_key(key) {
            let scalar = match value.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) if value == "true" || value == "false" => Value::Bool(value == "true"),
                Err(_) => Value::String(value.clone()),
            };
            map.insert(key.clone(), scalar);
        }
    }
}

/// kyaml's element setter: drops null and empty elements, replaces the elements matching
/// `values` (an empty value: the field is present; only as many keys as values count, and
/// with no values nothing matches and nothing else is kept) with `element`, or deletes them
/// when there is none, and appends `element` when nothing matched.
fn set_element(
    list: &mut Vec<Value>,
    element: Option<&Value>,
    keys: &[String],
    values: &[String],
) -> Result<(), String> {
    let mapping =
        !keys.is_empty() && !keys[0].is_empty() && !values.is_empty() && !values[0].is_empty();
    let mut out = Vec::with_capacity(list.len() + 1);
    let mut matched = false;
    for item in list.drain(..) {
        if is_empty_map(&item) {
            continue;
        }
        let Some(map) = item.as_object() else {
            if mapping {
                out.push(item);
                continue;
            }
            if values.is_empty() {
                continue;
            }
            return Err(format!(
                "a list merged by '{}' has an element that is not a map",
                keys.join("', '")
            ));
        };
        let found = !values.is_empty()
            && keys.iter().zip(values).all(|(k, v)| {
                map.get(k)
                    .is_some_and(|f| v.is_empty() || field_text(f) == *v)
            });
        if !found {
            if !values.is_empty() {
                out.push(item);
            }
            continue;
        }
        matched = true;
        if let Some(element) = element {
            out.push(element.clone());
        }
    }
    if let Some(element) = element.filter(|e| !e.is_null())
        && !matched
    {
        out.push(element.clone());
    }
    *list = out;
    Ok(())
}

/// Puts the object's elements back into the merged list: an element lacking a key is first
/// appended as is, then, with several keys, what matches its values goes, and the element
/// replaces what still matches or is appended.
fn put_back(items: &mut Vec<Value>, dest: &[Value], keys: &[String]) -> Result<(), String> {
    for element in dest {
        let mut values = Vec::new();
        for key in keys {
            match element {
                Value::Null => items.push(Value::Null),
                Value::Object(map) => match map.get(key) {
                    Some(field) => values.push(field_text(field)),
                    None => items.push(element.clone()),
                },
                _ => {
                    return Err(format!(
                        "a list merged by '{key}' has an element that is not a map"
                    ));
                }
            }
        }
        if keys.len() > 1 {
            set_element(items, None, keys, &values)?;
        }
        set_element(items, Some(element), keys, &values)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PORTS: &[&str] = &["containerPort", "protocol"];

    fn with_schema(test: impl FnOnce(Schema)) {
        let types = crate::openapi::Types::builtin();
        test(Schema::for_object(
            &types,
            json!({"apiVersion": "apps/v1", "kind": "Deployment"})
                .as_object()
                .unwrap(),
        ));
    }

    #[test]
    fn single_key_merges_patch_first() {
        with_schema(|schema| {
            let mut dest = vec![json!({"name": "a", "v": 1}), json!({"name": "b"})];
            let patch = [json!({"name": "c"}), json!({"name": "a", "v": 2})];
            merge(&mut dest, &patch, &["name"], schema, "containers").unwrap();
            assert_eq!(
                dest,
                [
                    json!({"name": "c"}),
                    json!({"name": "a", "v": 2}),
                    json!({"name": "b"})
                ]
            );
        });
    }

    #[test]
    fn two_keys_a_missing_value_matches_any() {
        with_schema(|schema| {
            let tcp = json!({"containerPort": 8080, "name": "http", "protocol": "TCP"});
            let mut dest = vec![tcp.clone()];
            let patch = [json!({"containerPort": 8080, "name": "web"})];
            merge(&mut dest, &patch, PORTS, schema, "ports").unwrap();
            assert_eq!(dest, [tcp], "kyaml keeps the object's element");

            let plain = json!({"containerPort": 80, "name": "http"});
            let mut dest = vec![
                plain.clone(),
                json!({"containerPort": 90, "protocol": "UDP"}),
            ];
            let patch = [json!({"containerPort": 80, "$patch": "delete"})];
            merge(&mut dest, &patch, PORTS, schema, "ports").unwrap();
            assert_eq!(dest[0], plain, "the delete needs a protocol field to match");
        });
    }
}
