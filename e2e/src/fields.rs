//! Checking that what was read back holds everything that was written.

use serde_json::Value;

/// The fields of `expected` that `actual` lacks or holds with another value, as JSON paths.
/// Fields only `actual` has (defaults) are fine: this is how a read-back object is checked
/// against what was applied.
pub fn dropped_fields(expected: &Value, actual: &Value) -> Vec<String> {
    fn walk(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
        match (expected, actual) {
            (Value::Object(e), Value::Object(a)) => {
                for (key, value) in e {
                    let path = format!("{at}.{key}");
                    match a.get(key) {
                        Some(other) => walk(value, other, &path, out),
                        None => out.push(path),
                    }
                }
            }
            (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
                for (i, (e, a)) in e.iter().zip(a).enumerate() {
                    walk(e, a, &format!("{at}[{i}]"), out);
                }
            }
            _ if expected == actual => {}
            _ => out.push(format!("{at} (expected {expected}, got {actual})")),
        }
    }
    let mut out = Vec::new();
    walk(expected, actual, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_fields_names_what_is_missing_or_changed() {
        let applied = serde_json::json!({"spec": {"a": 1, "b": [1, {"c": true}]}});
        let read = serde_json::json!({"spec": {"a": 1, "b": [1, {"c": false}], "extra": 0}});
        assert_eq!(
            dropped_fields(&applied, &read),
            vec![".spec.b[1].c (expected true, got false)".to_owned()]
        );
        let read = serde_json::json!({"spec": {"b": [1]}});
        assert_eq!(
            dropped_fields(&applied, &read),
            vec![
                ".spec.a".to_owned(),
                ".spec.b (expected [1,{\"c\":true}], got [1])".to_owned()
            ]
        );
    }
}
