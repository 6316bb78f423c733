//! Writing an object's status so that what disappeared from it disappears on the server too.
//!
//! Status structs skip `None` fields when serialized, so sending the new status as a merge
//! patch could never remove a field. Like Flux's patch helper, the patch is the difference
//! between the status as read and the status as computed, with `null` for every key that is
//! gone.

use serde::Serialize;
use serde_json::{Map, Value};

/// The JSON merge patch (RFC 7386) that turns `old` into `new`: changed and added keys with
/// their new values, removed keys as `null`, nested objects diffed, anything else (arrays,
/// scalars) replaced whole. `None` when they are equal.
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            for (key, value) in new {
                match old.get(key) {
                    Some(previous) => {
                        if let Some(change) = merge_patch(previous, value) {
                            patch.insert(key.clone(), change);
                        }
                    }
                    // A null in a merge patch means "remove": an absent key stays absent.
                    None if value.is_null() => {}
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ if old == new => None,
        // `null` would mean "remove"; a value that became null is removed, which is the same.
        _ => Some(new.clone()),
    }
}

/// Writes an object's status with [`merge_patch`]es, each against what was last written (or
/// read), so a reconcile may record progress more than once.
pub struct StatusWriter {
    written: Value,
}

impl StatusWriter {
    /// Starts from the status as read from the server.
    pub fn new(as_read: &impl Serialize) -> Self {
        Self {
            written: serde_json::to_value(as_read).unwrap_or(Value::Null),
        }
    }

    /// Patches `name`'s status subresource to `status`; writes nothing when nothing changed.
    /// Returns whether it wrote.
    pub async fn write<K>(
        &mut self,
        api: &kube::Api<K>,
        name: &str,
        status: &impl Serialize,
    ) -> Result<bool, kube::Error>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let status = serde_json::to_value(status).map_err(kube::Error::SerdeError)?;
        let patch = match &self.written {
            // No status yet: the whole object (a null would remove nothing anyway).
            Value::Null => Some(status.clone()),
            written => merge_patch(written, &status),
        };
        let Some(patch) = patch else {
            return Ok(false);
        };
        let body = serde_json::json!({ "status": patch });
        api.patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&body),
        )
        .await?;
        self.written = status;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Applies a merge patch as the API server does (RFC 7386).
    fn apply(target: &mut Value, patch: &Value) {
        json_patch::merge(target, patch);
    }

    #[test]
    fn removed_fields_become_null() {
        let old = json!({"artifact": {"path": "a", "digest": "sha256:1"}, "observedIgnore": "*.txt",
            "observedGeneration": 2});
        let new = json!({"observedGeneration": 3});
        let patch = merge_patch(&old, &new).unwrap();
        assert_eq!(
            patch,
            json!({"artifact": null, "observedIgnore": null, "observedGeneration": 3})
        );
    }

    #[test]
    fn nested_objects_are_diffed_and_lists_replaced() {
        let old = json!({"artifact": {"path": "a", "metadata": {"x": "1"}},
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Stalled"}]});
        let new = json!({"artifact": {"path": "b"},
            "conditions": [{"type": "Ready", "status": "False"}]});
        assert_eq!(
            merge_patch(&old, &new).unwrap(),
            json!({"artifact": {"path": "b", "metadata": null},
                "conditions": [{"type": "Ready", "status": "False"}]})
        );
    }

    #[test]
    fn equal_statuses_need_no_write() {
        let status = json!({"a": {"b": [1, 2]}, "c": "d"});
        assert_eq!(merge_patch(&status, &status), None);
        assert_eq!(merge_patch(&json!({}), &json!({"gone": null})), None);
    }

    #[test]
    fn applying_the_patch_gives_the_new_status() {
        let cases = [
            (json!({}), json!({"a": 1, "b": {"c": [1]}})),
            (
                json!({"a": 1, "b": {"c": [1], "d": "x"}}),
                json!({"b": {"c": []}}),
            ),
            (json!({"a": {"b": {"c": 1}}}), json!({"a": {"b": {}}})),
            (json!({"a": "text"}), json!({"a": {"now": "a map"}})),
            (json!({"a": {"was": "a map"}}), json!({"a": 5})),
        ];
        for (old, new) in cases {
            let mut server = old.clone();
            if let Some(patch) = merge_patch(&old, &new) {
                apply(&mut server, &patch);
            }
            assert_eq!(server, new, "from {old}");
        }
    }
}
