//! Rendered files into what `helm template` prints: documents split and trimmed, hooks
//! apart, manifests in Helm's install order, each under a `# Source:` line.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::RenderError;

/// Helm 4's install order (Helm 3's plus the webhook configurations at the end).
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The hook events Helm knows.
const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One document of a rendered file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it came from (`chart/templates/x.yaml`).
    pub path: String,
    pub content: String,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Hook {
    pub manifest: Manifest,
    pub events: Vec<String>,
    pub weight: i64,
    pub delete_policies: Vec<String>,
}

impl Hook {
    pub fn is_test(&self) -> bool {
        self.events
            .iter()
            .any(|e| e == "test" || e == "test-success")
    }
}

/// Helm's `SplitManifests`: documents of a file, trimmed, empty ones dropped.
pub fn split_documents(text: &str) -> Vec<String> {
    static SEPARATOR: OnceLock<Regex> = OnceLock::new();
    let separator =
        SEPARATOR.get_or_init(|| Regex::new(r"(?:^|\s*\n)---\s*").expect("valid pattern"));
    separator
        .split(text.trim())
        .filter(|d| !d.is_empty())
        .map(|d| d.trim().to_string())
        .collect()
}

/// Helm's `SortManifests`: files in path order (partials and blank files skipped), each
/// document a manifest or a hook; both then stable-sorted by kind.
pub fn sort_manifests(
    files: &BTreeMap<String, String>,
) -> Result<(Vec<Manifest>, Vec<Hook>), RenderError> {
    let mut manifests = Vec::new();
    let mut hooks = Vec::new();
    for (path, content) in files {
        if path
            .rsplit('/')
            .next()
            .is_some_and(|base| base.starts_with('_'))
            || content.trim().is_empty()
        {
            continue;
        }
        for document in split_documents(content) {
            let head = head(&document).map_err(|message| RenderError::Yaml {
                file: path.clone(),
                message,
            })?;
            let manifest = Manifest {
                path: path.clone(),
                content: document,
                kind: head.kind,
                name: head.name,
            };
            let Some(hook_events) = head.annotations.get("helm.sh/hook") else {
                manifests.push(manifest);
                continue;
            };
            let events: Vec<String> = hook_events
                .split(',')
                .map(|e| e.trim().to_lowercase())
                .collect();
            if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
                // Helm skips a hook with an unknown event.
                continue;
            }
            let weight = head
                .annotations
                .get("helm.sh/hook-weight")
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(0);
            let delete_policies = head
                .annotations
                .get("helm.sh/hook-delete-policy")
                .map(|p| {
                    p.split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            hooks.push(Hook {
                manifest,
                events,
                weight,
                delete_policies,
            });
        }
    }
    manifests.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    hooks.sort_by(|a, b| kind_order(&a.manifest.kind, &b.manifest.kind));
    Ok((manifests, hooks))
}

/// Known kinds in install order, then unknown kinds by name; equal keeps file order.
fn kind_order(a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |kind: &str| INSTALL_ORDER.iter().position(|k| *k == kind);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// What Helm reads of each document: kind, name and annotations.
struct Head {
    kind: String,
    name: String,
    annotations: BTreeMap<String, String>,
}

fn head(document: &str) -> Result<Head, String> {
    let parsed = goyaml::parse_yaml11(document)
        .map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    let object = match parsed.into_iter().next() {
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map,
        Some(other) => {
            return Err(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type releaseutil.SimpleHead",
                match other {
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Bool(_) => "bool",
                    _ => "number",
                }
            ));
        }
    };
    let text = |value: Option<&serde_json::Value>| match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let metadata = object
        .get("metadata")
        .and_then(serde_json::Value::as_object);
    let annotations = metadata
        .and_then(|m| m.get("annotations"))
        .and_then(serde_json::Value::as_object)
        .map(|a| a.iter().map(|(k, v)| (k.clone(), text(Some(v)))).collect())
        .unwrap_or_default();
    Ok(Head {
        kind: text(object.get("kind")),
        name: text(metadata.and_then(|m| m.get("name"))),
        annotations,
    })
}

/// `helm template`'s output: CRDs (when asked), manifests, then hooks (tests unless
/// skipped), each as `---\n# Source: <path>\n<document>\n`; the manifest part trimmed.
pub fn assemble(
    crds: &[(String, String)],
    manifests: &[Manifest],
    hooks: &[Hook],
    skip_tests: bool,
) -> String {
    let mut body = String::new();
    for (path, content) in crds {
        body.push_str(&format!("---\n# Source: {path}\n{content}\n"));
    }
    for manifest in manifests {
        body.push_str(&format!(
            "---\n# Source: {}\n{}\n",
            manifest.path, manifest.content
        ));
    }
    let mut out = body.trim().to_string();
    out.push('\n');
    for hook in hooks {
        if skip_tests && hook.is_test() {
            continue;
        }
        out.push_str(&format!(
            "---\n# Source: {}\n{}\n",
            hook.manifest.path, hook.manifest.content
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_as_helm_splits_them() {
        assert_eq!(
            split_documents("a: 1\n---\nb: 2\n--- \n\n"),
            ["a: 1", "b: 2"]
        );
        // The separator's trailing spaces take the line break a following `---` needs.
        assert_eq!(split_documents("a: 1\n--- \n\n---\n"), ["a: 1", "---"]);
        assert_eq!(
            split_documents("---\n# only a comment\n"),
            ["# only a comment"]
        );
        assert_eq!(split_documents("a: |\n  ---x\n"), ["a: |\n  ---x"]);
    }

    #[test]
    fn kinds_sort_in_install_order_then_by_name() {
        let mut kinds = [
            "Zeta",
            "Deployment",
            "Alpha",
            "Namespace",
            "ValidatingWebhookConfiguration",
            "APIService",
        ];
        kinds.sort_by(|a, b| kind_order(a, b));
        assert_eq!(
            kinds,
            [
                "Namespace",
                "Deployment",
                "APIService",
                "ValidatingWebhookConfiguration",
                "Alpha",
                "Zeta"
            ]
        );
    }
}
