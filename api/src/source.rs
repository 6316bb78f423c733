//! `source.toolkit.fluxcd.io`: GitRepository, OCIRepository, HelmRepository and HelmChart, served as `v1` (storage) and
//! `v1beta2`. The two versions share one schema, so no conversion webhook is needed, as in Flux.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{Artifact, Condition, DURATION_PATTERN, LocalObjectReference, TIMEOUT_PATTERN};

pub const GROUP: &str = "source.toolkit.fluxcd.io";
/// Condition types (`source-controller/api/v1`).
pub mod condition {
    pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
    pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
    pub const FETCH_FAILED: &str = "FetchFailed";
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
}

/// Reasons (`source-controller/api/v1/condition_types.go`).
pub mod reason {
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    pub const PULL_FAILED: &str = "OCIArtifactPullFailed";
    pub const LAYER_OPERATION_FAILED: &str = "OCIArtifactLayerOperationFailed";
    pub const URL_INVALID: &str = "URLInvalid";
    pub const NEW_REVISION: &str = "NewRevision";
    pub const ARCHIVE_FAILED: &str = "ArchiveOperationFailed";
    pub const STAT_FAILED: &str = "StatOperationFailed";
    pub const VERIFICATION_ERROR: &str = "VerificationError";
    pub const UNSUPPORTED_PROVIDER: &str = "UnsupportedProvider";
    pub const NEW_ARTIFACT: &str = "NewArtifact";
    pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
    pub const GARBAGE_COLLECTION_SUCCEEDED: &str = "GarbageCollectionSucceeded";
    pub const ARTIFACT_VERIFICATION_FAILED: &str = "ArtifactVerificationFailed";
    // HelmChart (`source-controller/internal/helm/chart/errors.go`, `helmchart_types.go`).
    pub const CHART_PULL_SUCCEEDED: &str = "ChartPullSucceeded";
    pub const CHART_PACKAGE_SUCCEEDED: &str = "ChartPackageSucceeded";
    pub const CHART_PULL_ERROR: &str = "ChartPullError";
    pub const CHART_PACKAGE_ERROR: &str = "ChartPackageError";
    pub const CHART_VERIFICATION_ERROR: &str = "ChartVerificationError";
    pub const INVALID_CHART_REFERENCE: &str = "InvalidChartReference";
    pub const VALUES_FILES_ERROR: &str = "ValuesFilesError";
    pub const NEW_CHART: &str = "NewChart";
    // HelmRepository (HTTP).
    pub const INDEXATION_FAILED: &str = "IndexationFailed";
    pub const INDEXATION_SUCCEEDED: &str = "IndexationSucceeded";
    // GitRepository (`source-controller/api/v1/gitrepository_types.go`, `condition_types.go`).
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    pub const GIT_OPERATION_SUCCEEDED: &str = "GitOperationSucceeded";
    pub const EMPTY_GIT_REPOSITORY: &str = "EmptyGitRepository";
    pub const INVALID_PROVIDER_CONFIGURATION: &str = "InvalidProviderConfiguration";
    pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";
    pub const INVALID_VERIFICATION_MODE: &str = "InvalidVerificationMode";
    pub const INVALID_COMMIT_SIGNATURE: &str = "InvalidCommitSignature";
    pub const INVALID_TAG_SIGNATURE: &str = "InvalidTagSignature";
    pub const INVALID_GIT_OBJECT: &str = "InvalidGitObject";
    pub const DIRECTORY_CREATION_FAILED: &str = "DirectoryCreationFailed";
}

/// GitRepository condition types besides the common ones.
pub mod git_condition {
    pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";
}

/// HelmChart condition types besides the common ones.
pub mod helm_condition {
    pub const BUILD_FAILED: &str = "BuildFailed";
}

/// Media type of the Flux artifact's content layer.
pub const OCI_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// `ref` of an OCIRepository: `digest` wins over `semver`, which wins over `tag`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCILayerSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OCILayerOperation>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCILayerOperation {
    Extract,
    Copy,
}

/// Where credentials come from besides `secretRef`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CloudProvider {
    #[default]
    Generic,
    Aws,
    Azure,
    Gcp,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryVerification {
    #[serde(default)]
    pub provider: VerificationProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "matchOIDCIdentity")]
    pub match_oidc_identity: Option<Vec<OIDCIdentityMatch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root_secret_ref: Option<LocalObjectReference>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationProvider {
    #[default]
    Cosign,
    Notation,
}

/// Regular expressions an OIDC certificate's issuer and subject must match (keyless cosign).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OIDCIdentityMatch {
    pub issuer: String,
    pub subject: String,
}

fn default_oci_timeout() -> String {
    "60s".to_owned()
}

fn default_observed_generation() -> i64 {
    -1
}

macro_rules! oci_repository {
    ($version:tt, $storage:tt, { $($extra_status:tt)* }) => {
        /// An OCI artifact the source-controller pulls, verifies and stores.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "source.toolkit.fluxcd.io",
            version = $version,
            kind = "OCIRepository",
            plural = "ocirepositories",
            shortname = "ocirepo",
            namespaced,
            storage = $storage,
            status = "OCIRepositoryStatus",
            category = "fluxcd",
            printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct OCIRepositorySpec {
            /// Address of the repository, `oci://<host>/<path>` without a tag.
            #[schemars(pattern(r"^oci://.*$"))]
            pub url: String,
            #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
            pub reference: Option<OCIRepositoryRef>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub layer_selector: Option<OCILayerSelector>,
            #[serde(default)]
            pub provider: CloudProvider,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub verify: Option<OCIRepositoryVerification>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_account_name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub cert_secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_secret_ref: Option<LocalObjectReference>,
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: String,
            #[serde(default = "default_oci_timeout")]
            #[schemars(pattern(TIMEOUT_PATTERN))]
            pub timeout: String,
            /// Extra `.sourceignore`-style patterns applied when extracting the layer.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ignore: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub insecure: bool,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct OCIRepositoryStatus {
            #[serde(default = "default_observed_generation")]
            pub observed_generation: i64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub url: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub artifact: Option<Artifact>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_ignore: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_layer_selector: Option<OCILayerSelector>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
            $($extra_status)*
        }
    };
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HelmRepositoryType {
    #[default]
    Default,
    Oci,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    pub namespace_selectors: Vec<NamespaceSelector>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

macro_rules! helm_repository {
    ($version:tt, $storage:tt) => {
        /// A Helm chart repository; with `type: oci` a static container of registry settings.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "source.toolkit.fluxcd.io",
            version = $version,
            kind = "HelmRepository",
            plural = "helmrepositories",
            shortname = "helmrepo",
            namespaced,
            storage = $storage,
            status = "HelmRepositoryStatus",
            category = "fluxcd",
            printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct HelmRepositorySpec {
            #[schemars(pattern(r"^(http|https|oci)://.*$"))]
            pub url: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub cert_secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub pass_credentials: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub insecure: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(TIMEOUT_PATTERN))]
            pub timeout: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub access_from: Option<AccessFrom>,
            #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
            pub type_: Option<HelmRepositoryType>,
            #[serde(default)]
            pub provider: CloudProvider,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct HelmRepositoryStatus {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_generation: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub url: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub artifact: Option<Artifact>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
        }
    };
}

/// What a HelmChart builds from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalHelmChartSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: HelmChartSourceKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HelmChartSourceKind {
    #[default]
    HelmRepository,
    GitRepository,
    Bucket,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReconcileStrategy {
    #[default]
    ChartVersion,
    Revision,
}

fn default_chart_version() -> String {
    "*".to_owned()
}

macro_rules! helm_chart {
    ($version:tt, $storage:tt) => {
        /// A chart pulled (or packaged) from a source and stored as an artifact.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "source.toolkit.fluxcd.io",
            version = $version,
            kind = "HelmChart",
            plural = "helmcharts",
            shortname = "hc",
            namespaced,
            storage = $storage,
            status = "HelmChartStatus",
            category = "fluxcd",
            printcolumn = r#"{"name":"Chart","type":"string","jsonPath":".spec.chart"}"#,
            printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
            printcolumn = r#"{"name":"Source Kind","type":"string","jsonPath":".spec.sourceRef.kind"}"#,
            printcolumn = r#"{"name":"Source Name","type":"string","jsonPath":".spec.sourceRef.name"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct HelmChartSpec {
            pub chart: String,
            #[serde(default = "default_chart_version")]
            pub version: String,
            pub source_ref: LocalHelmChartSourceReference,
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: String,
            #[serde(default)]
            pub reconcile_strategy: ReconcileStrategy,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub values_files: Option<Vec<String>>,
            /// Deprecated (v1beta2): one values file, merged before `valuesFiles`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub values_file: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub ignore_missing_values_files: bool,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub access_from: Option<AccessFrom>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub verify: Option<OCIRepositoryVerification>,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct HelmChartStatus {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_generation: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_source_artifact_revision: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_chart_name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_values_files: Option<Vec<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub url: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub artifact: Option<Artifact>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
        }
    };
}

/// `ref` of a GitRepository. Precedence: `commit` > `name` > `semver` > `tag` > `branch`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A full reference name, such as `refs/pull/420/head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// What `verify.mode` checks the signature of.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum GitVerificationMode {
    #[default]
    #[serde(rename = "HEAD")]
    Head,
    /// The older spelling of `HEAD`, still accepted.
    #[serde(rename = "head")]
    HeadLowercase,
    Tag,
    TagAndHEAD,
}

impl GitVerificationMode {
    pub fn verifies_head(self) -> bool {
        !matches!(self, Self::Tag)
    }

    pub fn verifies_tag(self) -> bool {
        matches!(self, Self::Tag | Self::TagAndHEAD)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    #[serde(default)]
    pub mode: GitVerificationMode,
    /// A Secret of `*.asc` PGP public keys and `*.sshpub` SSH authorized keys.
    pub secret_ref: LocalObjectReference,
}

/// Another GitRepository whose artifact is copied into this one's.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryInclude {
    pub repository: LocalObjectReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
}

/// Where a GitRepository's credentials come from besides `secretRef`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitProvider {
    #[default]
    Generic,
    Aws,
    Azure,
    Github,
}

macro_rules! git_repository {
    ($version:tt, $storage:tt) => {
        /// A Git repository the source-controller clones at a reference and stores as an
        /// artifact.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "source.toolkit.fluxcd.io",
            version = $version,
            kind = "GitRepository",
            plural = "gitrepositories",
            shortname = "gitrepo",
            namespaced,
            storage = $storage,
            status = "GitRepositoryStatus",
            category = "fluxcd",
            annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
            printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct GitRepositorySpec {
            #[schemars(pattern(r"^(http|https|ssh)://.*$"))]
            pub url: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub provider: Option<GitProvider>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_account_name: Option<String>,
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: String,
            #[serde(default = "default_oci_timeout")]
            #[schemars(pattern(TIMEOUT_PATTERN))]
            pub timeout: String,
            #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
            pub reference: Option<GitRepositoryRef>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub verify: Option<GitRepositoryVerification>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_secret_ref: Option<LocalObjectReference>,
            /// `.gitignore`-format patterns; any pattern replaces the default exclusions.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ignore: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub recurse_submodules: bool,
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub include: Vec<GitRepositoryInclude>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub sparse_checkout: Option<Vec<String>>,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct GitRepositoryStatus {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_generation: Option<i64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub artifact: Option<Artifact>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub included_artifacts: Option<Vec<Artifact>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_ignore: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub observed_recurse_submodules: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_include: Option<Vec<GitRepositoryInclude>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_sparse_checkout: Option<Vec<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub source_verification_mode: Option<GitVerificationMode>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
        }
    };
}

pub mod v1 {
    use super::*;
    git_repository!("v1", true);
    oci_repository!("v1", true, {});
    helm_repository!("v1", true);
    helm_chart!("v1", true);
}

pub mod v1beta2 {
    use super::*;
    git_repository!("v1beta2", false);
    oci_repository!("v1beta2", false, {
        /// Deprecated in Flux; kept so objects written by older controllers read back whole.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub content_config_checksum: Option<String>,
    });
    helm_repository!("v1beta2", false);
    helm_chart!("v1beta2", false);
}
