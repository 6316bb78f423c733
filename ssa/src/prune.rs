//! Deleting what a revision no longer has: only objects this Kustomization owns and that
//! have not opted out.

use kube::api::{DeleteParams, DynamicObject};

use super::{Action, Applier, Change, Manager, api_reason, is_not_found, policy};
use crate::inventory::ObjectRef;

impl Applier<'_> {
    /// Deletes objects no longer in the revision, in the given (reverse apply) order, only if
    /// they carry this Kustomization's owner labels and have not opted out. Returns what was
    /// deleted and what failed (to stay in the inventory).
    pub async fn prune(&self, stale: &[ObjectRef]) -> (Vec<Change>, Vec<(ObjectRef, String)>) {
        self.delete_each(stale, true).await
    }

    /// Deletes the objects whoever labelled them (Helm deletes what a release names, hooks
    /// included), skipping those that opted out of pruning.
    pub async fn delete(&self, objects: &[ObjectRef]) -> (Vec<Change>, Vec<(ObjectRef, String)>) {
        self.delete_each(objects, false).await
    }

    async fn delete_each(
        &self,
        objects: &[ObjectRef],
        owned_only: bool,
    ) -> (Vec<Change>, Vec<(ObjectRef, String)>) {
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for reference in objects {
            match self.delete_one(reference, owned_only).await {
                Ok(true) => deleted.push(Change {
                    object: reference.clone(),
                    action: Action::Deleted,
                }),
                Ok(false) => {}
                Err(e) => failed.push((reference.clone(), e)),
            }
        }
        (deleted, failed)
    }

    async fn delete_one(&self, reference: &ObjectRef, owned_only: bool) -> Result<bool, String> {
        let api = match self.api_for(reference).await {
            Ok(api) => api,
            // The kind is gone (its CRD was deleted): so are its objects.
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(format!("{} delete failed: {e}", reference.display())),
        };
        let live = match api.get_opt(&reference.name).await {
            Ok(Some(live)) => live,
            Ok(None) => return Ok(false),
            Err(e) => return Err(format!("{} delete failed: {e}", reference.display())),
        };
        let deletable = if owned_only {
            prunable(&live, self.manager, &self.owner_name, &self.owner_namespace)
        } else {
            let annotations = live.metadata.annotations.clone().unwrap_or_default();
            !policy::prune_skips(&annotations) && live.metadata.deletion_timestamp.is_none()
        };
        if !deletable {
            return Ok(false);
        }
        match api
            .delete(&reference.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => {
                let (reason, message) = api_reason(&e);
                Err(format!(
                    "{} delete failed ({reason}): {message}",
                    reference.display()
                ))
            }
        }
    }
}

/// A live object prune may delete: labelled as the owner's, not opted out, not already
/// being deleted.
fn prunable(
    live: &DynamicObject,
    manager: Manager,
    owner_name: &str,
    owner_namespace: &str,
) -> bool {
    let labels = live.metadata.labels.clone().unwrap_or_default();
    let owned = labels.get(manager.name_label).map(String::as_str) == Some(owner_name)
        && labels.get(manager.namespace_label).map(String::as_str) == Some(owner_namespace);
    let annotations = live.metadata.annotations.clone().unwrap_or_default();
    owned && !policy::prune_skips(&annotations) && live.metadata.deletion_timestamp.is_none()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::test_support::live;
    use super::*;
    use crate::KUSTOMIZE_CONTROLLER;

    fn owned_by(name: &str, namespace: &str) -> Value {
        json!({"kustomize.toolkit.fluxcd.io/name": name, "kustomize.toolkit.fluxcd.io/namespace": namespace})
    }

    #[test]
    fn only_objects_the_owner_labels_name_are_pruned() {
        let object = live(json!({"name": "a", "labels": owned_by("apps", "flux-system")}));
        assert!(prunable(
            &object,
            KUSTOMIZE_CONTROLLER,
            "apps",
            "flux-system"
        ));
        assert!(!prunable(&object, KUSTOMIZE_CONTROLLER, "apps", "other"));
        assert!(!prunable(
            &object,
            KUSTOMIZE_CONTROLLER,
            "infra",
            "flux-system"
        ));
        assert!(!prunable(
            &live(json!({"name": "a"})),
            KUSTOMIZE_CONTROLLER,
            "apps",
            "flux-system"
        ));
    }

    #[test]
    fn opted_out_and_terminating_objects_are_not_pruned() {
        let opted_out = live(
            json!({"name": "a", "labels": owned_by("apps", "flux-system"),
            "annotations": {"kustomize.toolkit.fluxcd.io/prune": "disabled"}}),
        );
        assert!(!prunable(
            &opted_out,
            KUSTOMIZE_CONTROLLER,
            "apps",
            "flux-system"
        ));
        let terminating = live(
            json!({"name": "a", "labels": owned_by("apps", "flux-system"),
            "deletionTimestamp": "2026-01-01T00:00:00Z"}),
        );
        assert!(!prunable(
            &terminating,
            KUSTOMIZE_CONTROLLER,
            "apps",
            "flux-system"
        ));
    }
}
