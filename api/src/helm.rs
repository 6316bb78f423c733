//! `helm.toolkit.fluxcd.io`: HelmRelease, served as `v2` (storage), `v2beta2` and `v2beta1`.
//! The versions share one schema (Flux widened the beta versions with the v2 fields), so
//! objects written in any of them round-trip without a conversion webhook.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kustomize::{
    CommonMetadata, CustomHealthCheck, DependencyReference, IgnoreRule, Image, Patch,
    PatchJson6902, ResourceInventory,
};
use super::meta::{
    Condition, DURATION_PATTERN, KubeConfigReference, LocalObjectReference, preserve_unknown_fields,
};
use super::source::{OIDCIdentityMatch, ReconcileStrategy, VerificationProvider};

pub const GROUP: &str = "helm.toolkit.fluxcd.io";

/// Condition types (`helm-controller/api/v2/condition_types.go`).
pub mod condition {
    pub const RELEASED: &str = "Released";
    pub const TEST_SUCCESS: &str = "TestSuccess";
    pub const REMEDIATED: &str = "Remediated";
    pub const DRIFTED: &str = "Drifted";
}

/// Reasons (`helm-controller/api/v2/condition_types.go` and `internal/reconcile`).
pub mod reason {
    pub const INSTALL_SUCCEEDED: &str = "InstallSucceeded";
    pub const INSTALL_FAILED: &str = "InstallFailed";
    pub const UPGRADE_SUCCEEDED: &str = "UpgradeSucceeded";
    pub const UPGRADE_FAILED: &str = "UpgradeFailed";
    pub const TEST_SUCCEEDED: &str = "TestSucceeded";
    pub const TEST_FAILED: &str = "TestFailed";
    pub const ROLLBACK_SUCCEEDED: &str = "RollbackSucceeded";
    pub const ROLLBACK_FAILED: &str = "RollbackFailed";
    pub const UNINSTALL_SUCCEEDED: &str = "UninstallSucceeded";
    pub const UNINSTALL_FAILED: &str = "UninstallFailed";
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    pub const SOURCE_NOT_READY: &str = "SourceNotReady";
    pub const VALUES_ERROR: &str = "ValuesError";
    pub const CHART_MUTATE_ERROR: &str = "ChartMutateError";
    pub const RESTCLIENT_ERROR: &str = "RESTClientError";
    pub const PENDING_RELEASE: &str = "PendingRelease";
    pub const RETRIES_EXCEEDED: &str = "RetriesExceeded";
    pub const MISSING_ROLLBACK_TARGET: &str = "MissingRollbackTarget";
    pub const ACCESS_DENIED: &str = "AccessDenied";
    pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    pub const NO_DRIFT_DETECTED: &str = "NoDriftDetected";
    pub const HELM_CHART_CREATED: &str = "HelmChartCreated";
    pub const HELM_CHART_CONFIGURED: &str = "HelmChartConfigured";
    pub const HELM_CHART_SYNC_ERR: &str = "HelmChartSyncErr";
    pub const HELM_CHART_DELETED: &str = "HelmChartDeleted";
}

/// `spec.chart.spec.sourceRef`: a source in the chart's namespace (default: the release's).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// `spec.chart`: the HelmChart helm-controller keeps for the release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<CommonMetadata>,
    pub spec: HelmChartTemplateSpec,
}

fn default_chart_version() -> Option<String> {
    Some("*".to_owned())
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    #[schemars(length(min = 1, max = 2048))]
    pub chart: String,
    #[serde(
        default = "default_chart_version",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<String>,
    pub source_ref: CrossNamespaceObjectReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_strategy: Option<ReconcileStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_files: Option<Vec<String>>,
    /// Deprecated (v2beta1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_file: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_values_files: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<HelmChartTemplateVerification>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateVerification {
    #[serde(default)]
    pub provider: VerificationProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "matchOIDCIdentity")]
    pub match_oidc_identity: Option<Vec<OIDCIdentityMatch>>,
}

/// `spec.chartRef`: an OCIRepository or HelmChart (or ExternalArtifact) holding the chart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec.valuesFrom[]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    pub kind: ValuesKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ValuesKind {
    #[default]
    ConfigMap,
    Secret,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostRenderer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizePostRenderer>,
}

/// `postRenderers[].kustomize`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizePostRenderer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Vec<Patch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Image>>,
    /// v2beta1/v2beta2 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches_json6902: Option<Vec<PatchJson6902>>,
    /// v2beta1/v2beta2 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_fields")]
    pub patches_strategic_merge: Option<Vec<serde_json::Value>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftDetection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DriftDetectionMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Vec<IgnoreRule>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftDetectionMode {
    Enabled,
    Warn,
    #[default]
    Disabled,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
    /// Upgrade only: `rollback` (default) or `uninstall`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RemediationStrategy>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemediationStrategy {
    #[default]
    Rollback,
    Uninstall,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionStrategy {
    pub name: ActionStrategyName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub retry_interval: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ActionStrategyName {
    #[default]
    RemediateOnFailure,
    RetryOnFailure,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CrdsPolicy {
    Skip,
    #[default]
    Create,
    CreateReplace,
}

/// Options every release action shares.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ActionStrategy>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[serde(rename = "disableOpenAPIValidation")]
    pub disable_open_api_validation: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_schema_validation: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_take_ownership: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[serde(rename = "skipCRDs")]
    pub skip_crds: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<CrdsPolicy>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_namespace: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ActionStrategy>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[serde(rename = "disableOpenAPIValidation")]
    pub disable_open_api_validation: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_schema_validation: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_take_ownership: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_values: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_on_fail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<CrdsPolicy>,
    /// `enabled`, `disabled` or `auto` (the last release's apply method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_name_change_strategy: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Test {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_failures: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<TestFilter>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TestFilter {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recreate: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_on_fail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uninstall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_history: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_propagation: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct WaitStrategy {
    pub name: String,
}

/// One release in `status.history` (newest first).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub digest: String,
    pub name: String,
    pub namespace: String,
    pub version: i64,
    pub status: String,
    pub chart_name: String,
    pub chart_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    pub config_digest: String,
    pub first_deployed: String,
    pub last_deployed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_hooks: Option<BTreeMap<String, TestHookStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestHookStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_completed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

macro_rules! helm_release {
    ($version:tt, $storage:tt) => {
        /// A Helm release helm-controller installs, upgrades, tests and remediates.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "helm.toolkit.fluxcd.io",
            version = $version,
            kind = "HelmRelease",
            plural = "helmreleases",
            shortname = "hr",
            namespaced,
            storage = $storage,
            status = "HelmReleaseStatus",
            category = "fluxcd",
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct HelmReleaseSpec {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub chart: Option<HelmChartTemplate>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub chart_ref: Option<CrossNamespaceSourceReference>,
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub kube_config: Option<KubeConfigReference>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1, max = 53))]
            pub release_name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1, max = 63))]
            pub target_namespace: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(min = 1, max = 63))]
            pub storage_namespace: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub depends_on: Option<Vec<DependencyReference>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(DURATION_PATTERN))]
            pub timeout: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub max_history: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_account_name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub persistent_client: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub drift_detection: Option<DriftDetection>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub install: Option<Install>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub upgrade: Option<Upgrade>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub test: Option<Test>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub rollback: Option<Rollback>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub uninstall: Option<Uninstall>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub values_from: Option<Vec<ValuesReference>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "preserve_unknown_fields")]
            pub values: Option<serde_json::Value>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub post_renderers: Option<Vec<PostRenderer>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub common_metadata: Option<CommonMetadata>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub health_check_exprs: Option<Vec<CustomHealthCheck>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub wait_strategy: Option<WaitStrategy>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub post_render_strategy: Option<String>,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct HelmReleaseStatus {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_generation: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_post_renderers_digest: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_common_metadata_digest: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_generation: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub helm_chart: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub storage_namespace: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub history: Option<Vec<Snapshot>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub inventory: Option<ResourceInventory>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_release_action: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_release_action_duration: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub failures: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub install_failures: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub upgrade_failures: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_revision: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_revision_digest: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_values_checksum: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_release_revision: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_attempted_config_digest: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reset_at: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_force_at: Option<String>,
            /// v2beta1 only; kept so objects written by older controllers read back whole.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_applied_revision: Option<String>,
        }
    };
}

pub mod v2 {
    use super::*;
    helm_release!("v2", true);
}

pub mod v2beta2 {
    use super::*;
    helm_release!("v2beta2", false);
}

pub mod v2beta1 {
    use super::*;
    helm_release!("v2beta1", false);
}
