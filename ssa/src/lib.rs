//! Server-side apply of a set of objects (`fluxcd/pkg/ssa`), shared by kustomize-controller and
//! helm-controller: staged, dry-run first, no write where nothing would change, owner labels on
//! everything, per-object opt-outs; kstatus health and inventories.
//!
//! `clients`: who applies (impersonation) and which API serves a kind (discovery);
//! `prepare`, `apply`, `cleanup` and `cache`: from built resources to applied objects;
//! `prune`: deleting what a revision no longer has; `wait`: health and termination;
//! `policy`: the opt-outs objects carry as annotations.

mod apply;
mod cache;
mod cleanup;
mod clients;
pub mod health;
pub mod inventory;
pub mod order;
mod policy;
mod prepare;
mod prune;
mod wait;

use kube::Client;

pub use cache::AppliedCache;
pub use clients::{Discovery, Impersonation};

use crate::inventory::ObjectRef;

/// The controller applying: its field manager, and the labels naming the object that owns
/// what it applies (`<group>/name`, `<group>/namespace`), as `fluxcd/pkg/ssa`'s `Owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Manager {
    pub field_manager: &'static str,
    pub name_label: &'static str,
    pub namespace_label: &'static str,
}

pub const KUSTOMIZE_CONTROLLER: Manager = Manager {
    field_manager: "kustomize-controller",
    name_label: "kustomize.toolkit.fluxcd.io/name",
    namespace_label: "kustomize.toolkit.fluxcd.io/namespace",
};

pub const HELM_CONTROLLER: Manager = Manager {
    field_manager: "helm-controller",
    name_label: "helm.toolkit.fluxcd.io/name",
    namespace_label: "helm.toolkit.fluxcd.io/namespace",
};

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Skipped,
    Deleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
            Action::Deleted => "deleted",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Change {
    pub object: ObjectRef,
    pub action: Action,
}

/// The lines of Flux's change-set event: `Kind/ns/name created|configured|deleted`.
pub fn change_lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Action::Created | Action::Configured | Action::Deleted
            )
        })
        .map(|c| format!("{} {}", c.object.display(), c.action.as_str()))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The object (or its kind) could not be applied; nothing of its stage was written.
    #[error("{object} dry-run failed ({reason}): {message}")]
    DryRun {
        object: String,
        reason: String,
        message: String,
    },
    #[error("{object} apply failed ({reason}): {message}")]
    Apply {
        object: String,
        reason: String,
        message: String,
    },
    #[error("{0}")]
    Wait(String),
}

/// Who owns what is applied, and how.
pub struct Applier<'a> {
    /// The client applies are made with (impersonating the Kustomization's service account).
    pub client: Client,
    /// The controller's own client, for discovery.
    pub discovery_client: Client,
    pub discovery: &'a Discovery,
    pub manager: Manager,
    pub owner_name: String,
    pub owner_namespace: String,
    pub concurrency: usize,
    /// `spec.force`: recreate objects whose immutable fields changed.
    pub force: bool,
    pub applied: &'a AppliedCache,
    /// `spec.healthCheckExprs`, used instead of kstatus for the kinds they name.
    pub custom_checks: &'a [health::CustomCheck],
}

/// The API server's reason for a failed request (from the status code when it gives none)
/// and its message.
fn api_reason(error: &kube::Error) -> (String, String) {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                match status.code {
                    400 => "BadRequest",
                    401 => "Unauthorized",
                    403 => "Forbidden",
                    404 => "NotFound",
                    409 => "Conflict",
                    422 => "Invalid",
                    _ => "InternalError",
                }
                .to_string()
            } else {
                status.reason.clone()
            };
            (reason, status.message.clone())
        }
        other => ("InternalError".into(), other.to_string()),
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
mod test_support {
    use kube::api::DynamicObject;
    use kube::core::Status;
    use serde_json::{Value, json};

    use crate::inventory::ObjectRef;

    /// An API error as the server sends it.
    pub fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    /// A live ConfigMap with this metadata.
    pub fn live(metadata: Value) -> DynamicObject {
        serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}),
        )
        .unwrap()
    }

    pub fn reference(kind: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{api_error, reference};
    use super::*;

    #[test]
    fn change_lines_name_created_configured_and_deleted_objects_only() {
        let changes: Vec<Change> = [
            ("a", Action::Created),
            ("b", Action::Configured),
            ("c", Action::Unchanged),
            ("d", Action::Skipped),
            ("e", Action::Deleted),
        ]
        .into_iter()
        .map(|(name, action)| Change {
            object: reference("Deployment", "apps", name),
            action,
        })
        .collect();
        assert_eq!(
            change_lines(&changes),
            [
                "Deployment/apps/a created",
                "Deployment/apps/b configured",
                "Deployment/apps/e deleted"
            ]
        );
        assert!(change_lines(&[]).is_empty());
    }

    #[test]
    fn api_reasons_come_from_the_status_or_its_code() {
        assert_eq!(
            api_reason(&api_error(422, "", "spec.selector: Invalid value")),
            ("Invalid".into(), "spec.selector: Invalid value".into())
        );
        assert_eq!(
            api_reason(&api_error(403, "Forbidden", "no")),
            ("Forbidden".into(), "no".into())
        );
        assert_eq!(
            api_reason(&api_error(409, "AlreadyExists", "exists")).0,
            "AlreadyExists"
        );
        assert_eq!(api_reason(&api_error(503, "", "down")).0, "InternalError");
        let other = kube::Error::LinesCodecMaxLineLengthExceeded;
        assert_eq!(
            api_reason(&other),
            ("InternalError".into(), other.to_string())
        );
    }

    #[test]
    fn only_a_404_is_not_found() {
        assert!(is_not_found(&api_error(404, "NotFound", "gone")));
        assert!(!is_not_found(&api_error(410, "Gone", "gone")));
        assert!(!is_not_found(&kube::Error::LinesCodecMaxLineLengthExceeded));
    }
}
