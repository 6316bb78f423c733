//! `image.toolkit.fluxcd.io`: ImageRepository, ImagePolicy and ImageUpdateAutomation, served
//! as `v1` (storage), `v1beta2` and `v1beta1`. The versions share one schema (a superset: the
//! older status fields such as `latestImage` stay), so objects written against any of them
//! apply unchanged and no conversion webhook is needed.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{
    Condition, DURATION_PATTERN, LocalObjectReference, NamespacedObjectReference, TIMEOUT_PATTERN,
};
use super::source::{AccessFrom, CloudProvider, GitRepositoryRef};

pub const GROUP: &str = "image.toolkit.fluxcd.io";
/// The default `exclusionList`: cosign's signature tags.
pub const DEFAULT_EXCLUSION: &str = r"^.*\.sig$";

/// Reasons (`image-reflector-controller/api/v1`, `image-automation-controller/api/v1`).
pub mod reason {
    pub const IMAGE_URL_INVALID: &str = "ImageURLInvalid";
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    pub const READ_OPERATION_FAILED: &str = "ReadOperationFailed";
    /// `metav1.StatusFailure`.
    pub const FAILURE: &str = "Failure";
    pub const ACCESS_DENIED: &str = "AccessDenied";
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    pub const INVALID_POLICY: &str = "InvalidPolicy";
    pub const INTERVAL_NOT_CONFIGURED: &str = "IntervalNotConfigured";
    pub const FEATURE_GATE_DISABLED: &str = "FeatureGateDisabled";
    // ImageUpdateAutomation.
    pub const INVALID_SOURCE_CONFIGURATION: &str = "InvalidSourceConfiguration";
    pub const INVALID_UPDATE_STRATEGY: &str = "InvalidUpdateStrategy";
    pub const INVALID_POLICY_SELECTOR: &str = "InvalidPolicySelector";
    pub const REMOVED_TEMPLATE_FIELD: &str = "RemovedTemplateField";
    pub const SOURCE_MANAGER_FAILED: &str = "SourceManagerFailed";
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    pub const UPDATE_FAILED: &str = "UpdateFailed";
}

fn default_exclusion_list() -> Option<Vec<String>> {
    Some(vec![DEFAULT_EXCLUSION.to_owned()])
}

fn default_observed_generation() -> i64 {
    -1
}

/// What the last scan found.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// The checksum of the stored tag list (`sha256:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub tag_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_time: Option<String>,
    /// The first ten tags in descending byte order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_tags: Option<Vec<String>>,
}

/// An image reference as policies resolve it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl std::fmt::Display for ImageRef {
    /// `name:tag`, with `@digest` when reflected (Flux's `ImageRef.String()`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)?;
        match self.digest.as_deref().filter(|d| !d.is_empty()) {
            Some(digest) => write!(f, "@{digest}"),
            None => Ok(()),
        }
    }
}

/// How an ImagePolicy chooses among tags: exactly one of the three.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImagePolicyChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemVerPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<OrderPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<OrderPolicy>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SemVerPolicy {
    pub range: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OrderPolicy {
    #[serde(default)]
    pub order: SortOrder,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TagFilter {
    /// A regular expression (RE2 syntax) a tag must match, unanchored.
    pub pattern: String,
    /// What the policy compares instead of the tag: `$name`, `${name}` and `$1` expand to
    /// the pattern's groups.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extract: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DigestReflectionPolicy {
    #[default]
    Never,
    IfNotPresent,
    Always,
}

/// Where an ImageUpdateAutomation commits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default = "git_repository_kind")]
    #[schemars(extend("enum" = ["GitRepository"]))]
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

fn git_repository_kind() -> String {
    "GitRepository".to_owned()
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UpdateStrategyName {
    #[default]
    Setters,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct UpdateStrategy {
    #[serde(default)]
    pub strategy: UpdateStrategyName,
    /// The directory updated, relative to the repository root (default: the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<GitCheckoutSpec>,
    pub commit: CommitSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitCheckoutSpec {
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitSpec {
    pub author: CommitUser,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_values: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommitUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    pub secret_ref: LocalObjectReference,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub key_type: Option<SigningKeyType>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyType {
    #[default]
    Gpg,
    Ssh,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PushSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refspec: Option<String>,
    /// `git push -o` options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

macro_rules! image_kinds {
    ($version:tt, $storage:tt) => {
        /// A container image repository whose tags the image-reflector-controller scans.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "image.toolkit.fluxcd.io",
            version = $version,
            kind = "ImageRepository",
            plural = "imagerepositories",
            shortname = "imgrepo",
            shortname = "imagerepo",
            namespaced,
            storage = $storage,
            status = "ImageRepositoryStatus",
            category = "fluxcd",
            category = "fluxcd-images",
            printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image"}"#,
            printcolumn = r#"{"name":"Tags","type":"integer","jsonPath":".status.lastScanResult.tagCount"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
            printcolumn = r#"{"name":"Last scan","type":"string","priority":1,"jsonPath":".status.lastScanResult.scanTime"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct ImageRepositorySpec {
            /// The repository, without scheme or tag (`ghcr.io/org/app`).
            pub image: String,
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(TIMEOUT_PATTERN))]
            pub timeout: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_account_name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub cert_secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub access_from: Option<AccessFrom>,
            /// Regular expressions of tags left out of the scan.
            #[serde(default = "default_exclusion_list", skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 25))]
            pub exclusion_list: Option<Vec<String>>,
            #[serde(default)]
            pub provider: CloudProvider,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub insecure: bool,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct ImageRepositoryStatus {
            #[serde(default = "default_observed_generation")]
            pub observed_generation: i64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub canonical_image_name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_scan_result: Option<ScanResult>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_exclusion_list: Option<Vec<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
        }

        /// Which tag of an ImageRepository is the latest, by a policy.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "image.toolkit.fluxcd.io",
            version = $version,
            kind = "ImagePolicy",
            plural = "imagepolicies",
            shortname = "imgpol",
            shortname = "imagepol",
            namespaced,
            storage = $storage,
            status = "ImagePolicyStatus",
            category = "fluxcd",
            category = "fluxcd-images",
            printcolumn = r#"{"name":"Image","type":"string","jsonPath":".status.latestRef.name"}"#,
            printcolumn = r#"{"name":"Tag","type":"string","jsonPath":".status.latestRef.tag"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct ImagePolicySpec {
            pub image_repository_ref: NamespacedObjectReference,
            pub policy: ImagePolicyChoice,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub filter_tags: Option<TagFilter>,
            #[serde(default)]
            pub digest_reflection_policy: DigestReflectionPolicy,
            /// How often the digest is read again (`digestReflectionPolicy: Always` only).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct ImagePolicyStatus {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub latest_ref: Option<ImageRef>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_previous_ref: Option<ImageRef>,
            /// `name:tag` of `latestRef`, for readers of the older versions.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub latest_image: Option<String>,
            /// `name:tag` of `observedPreviousRef`, for readers of the older versions.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_previous_image: Option<String>,
            #[serde(default = "default_observed_generation")]
            pub observed_generation: i64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
        }

        /// Commits the latest images of ImagePolicies into a Git repository.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[kube(
            group = "image.toolkit.fluxcd.io",
            version = $version,
            kind = "ImageUpdateAutomation",
            plural = "imageupdateautomations",
            shortname = "iua",
            shortname = "imgupd",
            shortname = "imgauto",
            namespaced,
            storage = $storage,
            status = "ImageUpdateAutomationStatus",
            category = "fluxcd",
            category = "fluxcd-images",
            annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
            printcolumn = r#"{"name":"Last run","type":"string","priority":1,"jsonPath":".status.lastAutomationRunTime"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct ImageUpdateAutomationSpec {
            pub source_ref: CrossNamespaceSourceReference,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub git: Option<GitSpec>,
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: String,
            /// The ImagePolicies (of the automation's namespace) taken into account; all of
            /// them without a selector.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub policy_selector: Option<LabelSelector>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub update: Option<UpdateStrategy>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct ImageUpdateAutomationStatus {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_automation_run_time: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_push_commit: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_push_time: Option<String>,
            #[serde(default = "default_observed_generation")]
            pub observed_generation: i64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_policies: Option<BTreeMap<String, ImageRef>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub observed_source_revision: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub conditions: Option<Vec<Condition>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_handled_reconcile_at: Option<String>,
        }
    };
}

pub mod v1 {
    use super::*;
    image_kinds!("v1", true);
}

pub mod v1beta2 {
    use super::*;
    image_kinds!("v1beta2", false);
}

pub mod v1beta1 {
    use super::*;
    image_kinds!("v1beta1", false);
}

/// `StatusObject` for a v1 kind; `$interval` computes its requeue interval.
macro_rules! status_object {
    ($kind:ident, $status:ident, $interval:expr) => {
        impl crate::StatusObject for v1::$kind {
            const KIND: &'static str = stringify!($kind);
            type Status = v1::$status;

            fn status(&self) -> Option<&Self::Status> {
                self.status.as_ref()
            }
            fn conditions(status: &mut Self::Status) -> &mut Option<Vec<Condition>> {
                &mut status.conditions
            }
            fn last_handled_reconcile_at(status: &mut Self::Status) -> &mut Option<String> {
                &mut status.last_handled_reconcile_at
            }
            fn observe(status: &mut Self::Status, generation: i64) {
                status.observed_generation = generation;
            }
            fn observed_generation(status: &Self::Status) -> i64 {
                status.observed_generation
            }
            fn suspended(&self) -> bool {
                self.spec.suspend
            }
            fn interval(&self) -> std::time::Duration {
                let interval: fn(&v1::$kind) -> Option<&str> = $interval;
                interval(self)
                    .and_then(|i| crate::duration::parse(i).ok())
                    .unwrap_or(DEFAULT_INTERVAL)
            }
        }
    };
}

/// The interval of an object whose own does not parse (or, for an ImagePolicy that reflects
/// digests `Always`, is not set).
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

status_object!(ImageRepository, ImageRepositoryStatus, |o| Some(
    &o.spec.interval
));
status_object!(ImagePolicy, ImagePolicyStatus, |o| o
    .spec
    .interval
    .as_deref());
status_object!(
    ImageUpdateAutomation,
    ImageUpdateAutomationStatus,
    |o| Some(&o.spec.interval)
);
