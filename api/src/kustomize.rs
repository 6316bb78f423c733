//! `kustomize.toolkit.fluxcd.io`: Kustomization, served as `v1` (storage) and `v1beta2`.
//! v1beta2 carries the deprecated `patchesStrategicMerge`, `patchesJson6902` and `validation`
//! fields so manifests written for older Flux releases apply unchanged.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{
    Condition, DURATION_PATTERN, KubeConfigReference, LocalObjectReference,
    NamespacedObjectKindReference, preserve_unknown_fields, preserve_unknown_object,
};

pub const GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// Ready reasons (`kustomize-controller/api/v1`).
pub mod reason {
    pub const SUCCEEDED: &str = "ReconciliationSucceeded";
    pub const FAILED: &str = "ReconciliationFailed";
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    pub const BUILD_FAILED: &str = "BuildFailed";
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    pub const PRUNE_FAILED: &str = "PruneFailed";
    pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
}

/// Where the manifests come from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: SourceKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SourceKind {
    #[default]
    OCIRepository,
    GitRepository,
    Bucket,
    ExternalArtifact,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    pub provider: DecryptionProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecryptionProvider {
    #[default]
    Sops,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    #[default]
    MirrorPrune,
    Delete,
    WaitForTermination,
    Orphan,
}

/// A CEL health check for a custom kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHealthCheck {
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// kustomize's `images` entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// kustomize's patch target selector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// A strategic merge or JSON6902 patch (YAML or JSON text) and what it applies to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Patch {
    pub patch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Drift-ignore rule: JSON pointers ignored on matching objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IgnoreRule {
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_from: Option<Vec<SubstituteReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_strategy: Option<SubstituteStrategy>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SubstituteStrategy {
    WithVariables,
    Always,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SubstituteReference {
    pub kind: SubstituteKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SubstituteKind {
    #[default]
    ConfigMap,
    Secret,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BuildMetadata {
    OriginAnnotations,
    TransformerAnnotations,
}

/// v1beta2's JSON6902 patch, given as a list of operations.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PatchJson6902 {
    pub patch: Vec<Json6902Operation>,
    pub target: Selector,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Json6902Operation {
    pub op: Json6902Op,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_fields")]
    pub value: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Json6902Op {
    #[default]
    Test,
    Remove,
    Add,
    Replace,
    Move,
    Copy,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    None,
    Client,
    Server,
}

/// What the last reconcile applied: one entry per object, `id` = `<ns>_<name>_<group>_<Kind>`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceInventory {
    pub entries: Vec<ResourceRef>,
}

#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub struct ResourceRef {
    pub id: String,
    pub v: String,
}

/// One line of `status.history` (at most 5, newest first).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub digest: String,
    pub first_reconciled: String,
    pub last_reconciled: String,
    pub last_reconciled_duration: String,
    pub last_reconciled_status: String,
    pub total_reconciliations: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

macro_rules! kustomization {
    ($version:tt, $storage:tt, { $($extra_spec:tt)* }, { $($extra_status:tt)* }) => {
        /// A set of manifests built from a source and applied to the cluster.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "kustomize.toolkit.fluxcd.io",
            version = $version,
            kind = "Kustomization",
            plural = "kustomizations",
            shortname = "ks",
            namespaced,
            storage = $storage,
            status = "KustomizationStatus",
            category = "fluxcd",
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct KustomizationSpec {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub common_metadata: Option<CommonMetadata>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub depends_on: Option<Vec<DependencyReference>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub decryption: Option<Decryption>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub deletion_policy: Option<DeletionPolicy>,
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(DURATION_PATTERN))]
            pub retry_interval: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub kube_config: Option<KubeConfigReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub path: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub post_build: Option<PostBuild>,
            pub prune: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub health_checks: Option<Vec<NamespacedObjectKindReference>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub health_check_exprs: Option<Vec<CustomHealthCheck>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub patches: Option<Vec<Patch>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub images: Option<Vec<Image>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_account_name: Option<String>,
            pub source_ref: CrossNamespaceSourceReference,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1, max = 63))]
            pub target_namespace: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 200))]
            pub name_prefix: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 200))]
            pub name_suffix: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(DURATION_PATTERN))]
            pub timeout: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub force: bool,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub wait: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub components: Option<Vec<String>>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub ignore_missing_components: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ignore: Option<Vec<IgnoreRule>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub build_metadata: Option<Vec<BuildMetadata>>,
            $($extra_spec)*
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct KustomizationStatus {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_generation: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_applied_revision: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_revision: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub inventory: Option<ResourceInventory>,
            $($extra_status)*
        }
    };
}

pub mod v1 {
    use super::*;
    kustomization!("v1", true, {}, {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_applied_origin_revision: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub history: Option<Vec<Snapshot>>,
    });
}

pub mod v1beta2 {
    use super::*;
    kustomization!("v1beta2", false, {
        /// Deprecated: use `patches`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "preserve_unknown_object_list")]
        pub patches_strategic_merge: Option<Vec<serde_json::Value>>,
        /// Deprecated: use `patches`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub patches_json6902: Option<Vec<PatchJson6902>>,
        /// Deprecated: ignored by Flux since v0.26.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub validation: Option<Validation>,
    }, {});

    fn preserve_unknown_object_list(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "array",
            "items": preserve_unknown_object(generator),
        })
    }
}
