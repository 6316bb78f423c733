//! What `kubectl` (client-side apply, edits) and older Flux versions left on an object that
//! is now applied server-side by this controller.

use kube::api::DynamicObject;
use serde_json::{Value, json};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Annotations and labels of older tools that Flux removes (not with `ssa: Merge`).
const STALE_ANNOTATIONS: &[&str] = &[
    LAST_APPLIED,
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];
const STALE_LABELS: &[&str] = &["fluxcd.io/sync-gc-mark"];

/// Removes what `kubectl` (client-side apply, edits) left on an object that is now ours:
/// the last-applied annotation, its managed-field entries, and older Flux bookkeeping.
pub(super) fn cleanup_patch(
    live: &DynamicObject,
    field_manager: &str,
) -> Option<json_patch::Patch> {
    use json_patch::{PatchOperation, RemoveOperation, ReplaceOperation};
    let mut operations = Vec::new();
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    let annotations = live.metadata.annotations.clone().unwrap_or_default();
    for key in STALE_ANNOTATIONS
        .iter()
        .filter(|k| annotations.contains_key(**k))
    {
        operations.push(PatchOperation::Remove(RemoveOperation {
            path: format!("/metadata/annotations/{}", escape(key))
                .parse()
                .ok()?,
        }));
    }
    let labels = live.metadata.labels.clone().unwrap_or_default();
    for key in STALE_LABELS.iter().filter(|k| labels.contains_key(**k)) {
        operations.push(PatchOperation::Remove(RemoveOperation {
            path: format!("/metadata/labels/{}", escape(key)).parse().ok()?,
        }));
    }
    // As Flux: the fields kubectl (or an earlier non-apply write of ours) owns become ours,
    // so that fields later removed from the source are removed from the object too.
    let fields = live.metadata.managed_fields.clone().unwrap_or_default();
    let is_legacy = |manager: &str, operation: &str| {
        matches!(
            manager,
            "kubectl" | "kubectl-client-side-apply" | "before-first-apply"
        ) || (manager == field_manager && operation == "Update")
    };
    if fields.iter().any(|f| {
        is_legacy(
            f.manager.as_deref().unwrap_or(""),
            f.operation.as_deref().unwrap_or(""),
        )
    }) {
        let mut ours: Option<Value> = None;
        let mut kept = Vec::new();
        for field in &fields {
            let manager = field.manager.as_deref().unwrap_or("");
            let operation = field.operation.as_deref().unwrap_or("");
            let owned_by_us = manager == field_manager && operation == "Apply";
            if is_legacy(manager, operation) || owned_by_us {
                let set = field
                    .fields_v1
                    .as_ref()
                    .map(|f| f.0.clone())
                    .unwrap_or(json!({}));
                match &mut ours {
                    Some(merged) => merge_field_sets(merged, &set),
                    None => ours = Some(set),
                }
            } else {
                kept.push(serde_json::to_value(field).ok()?);
            }
        }
        let mut entry = json!({
            "manager": field_manager,
            "operation": "Apply",
            "apiVersion": live.types.as_ref().map(|t| t.api_version.clone()).unwrap_or_default(),
            "fieldsType": "FieldsV1",
            "fieldsV1": ours.unwrap_or(json!({})),
        });
        if let Some(time) = fields.iter().find_map(|f| f.time.clone()) {
            entry["time"] = serde_json::to_value(time).ok()?;
        }
        kept.push(entry);
        operations.push(PatchOperation::Replace(ReplaceOperation {
            path: "/metadata/managedFields".parse().ok()?,
            value: Value::Array(kept),
        }));
    }
    (!operations.is_empty()).then_some(json_patch::Patch(operations))
}

/// Unions two managed-field sets (`fieldsV1` trees).
fn merge_field_sets(into: &mut Value, other: &Value) {
    if let (Value::Object(into), Value::Object(other)) = (into, other) {
        for (key, value) in other {
            match into.get_mut(key) {
                Some(existing) => merge_field_sets(existing, value),
                None => {
                    into.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::live;
    use super::*;

    fn patch_json(live: &DynamicObject) -> Value {
        serde_json::to_value(cleanup_patch(live, "kustomize-controller").expect("a patch")).unwrap()
    }

    #[test]
    fn an_object_only_we_applied_needs_no_cleanup() {
        let ours = live(
            json!({"name": "a", "annotations": {"keep": "1"}, "managedFields": [
            {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}},
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}]}),
        );
        assert!(cleanup_patch(&ours, "kustomize-controller").is_none());
        assert!(cleanup_patch(&live(json!({"name": "a"})), "kustomize-controller").is_none());
    }

    #[test]
    fn stale_annotations_and_labels_are_removed() {
        let object = live(json!({"name": "a",
            "annotations": {LAST_APPLIED: "{}", "fluxcd.io/sync-checksum": "x", "keep": "1"},
            "labels": {"fluxcd.io/sync-gc-mark": "y", "app": "a"}}));
        assert_eq!(
            patch_json(&object),
            json!([
                {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"},
                {"op": "remove", "path": "/metadata/annotations/fluxcd.io~1sync-checksum"},
                {"op": "remove", "path": "/metadata/labels/fluxcd.io~1sync-gc-mark"}
            ])
        );
    }

    #[test]
    fn fields_kubectl_owns_become_ours_and_other_managers_keep_theirs() {
        let object = live(json!({"name": "a", "managedFields": [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
             "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "helm", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}},
            {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}}]}));
        assert_eq!(
            patch_json(&object),
            json!([{"op": "replace", "path": "/metadata/managedFields", "value": [
                {"manager": "helm", "operation": "Update", "apiVersion": "v1",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}},
                {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}},
                 "time": "2026-01-01T00:00:00Z"}
            ]}])
        );
    }

    #[test]
    fn our_own_update_writes_count_as_legacy() {
        let object = live(json!({"name": "a", "managedFields": [
            {"manager": "kustomize-controller", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]}));
        let patch = patch_json(&object);
        assert_eq!(patch[0]["value"][0]["operation"], "Apply");
        assert_eq!(patch[0]["value"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn field_sets_merge_as_a_union() {
        let mut into = json!({"f:spec": {"f:replicas": {}}, "f:data": {"f:a": {}}});
        merge_field_sets(
            &mut into,
            &json!({"f:spec": {"f:template": {"f:x": {}}}, "f:metadata": {}}),
        );
        assert_eq!(
            into,
            json!({"f:spec": {"f:replicas": {}, "f:template": {"f:x": {}}}, "f:data": {"f:a": {}}, "f:metadata": {}})
        );
    }
}
