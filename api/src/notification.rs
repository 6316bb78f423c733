//! `notification.toolkit.fluxcd.io`: Provider and Alert (`v1beta3` storage, `v1beta2`,
//! `v1beta1`) and Receiver (`v1`). Every version of a kind shares the newest schema (a superset
//! of the older ones), so manifests written for any of them apply unchanged.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{Condition, DURATION_PATTERN, LocalObjectReference, TIMEOUT_PATTERN};

pub const GROUP: &str = "notification.toolkit.fluxcd.io";

/// A string-valued API enum with its wire names and `as_str`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)*
        }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire,)* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// Every notifier type Flux's Provider API accepts.
    pub enum ProviderType {
        Slack = "slack", Discord = "discord", MsTeams = "msteams", Rocket = "rocket",
        Generic = "generic", GenericHmac = "generic-hmac", GitHub = "github", GitLab = "gitlab",
        Gitea = "gitea", GiteaPullRequestComment = "giteapullrequestcomment",
        BitbucketServer = "bitbucketserver", Bitbucket = "bitbucket",
        AzureDevOps = "azuredevops", GoogleChat = "googlechat", GooglePubSub = "googlepubsub",
        Webex = "webex", Sentry = "sentry", AzureEventHub = "azureeventhub",
        Telegram = "telegram", Lark = "lark", Matrix = "matrix", Opsgenie = "opsgenie",
        Alertmanager = "alertmanager", Grafana = "grafana", GitHubDispatch = "githubdispatch",
        GitHubPullRequestComment = "githubpullrequestcomment",
        GitLabMergeRequestComment = "gitlabmergerequestcomment", PagerDuty = "pagerduty",
        DataDog = "datadog", Nats = "nats", Zulip = "zulip", Otel = "otel", Zoom = "zoom",
        IncidentIo = "incident.io",
    }
}

wire_enum! {
    /// Kinds an Alert can listen to and a Receiver can trigger.
    pub enum EventSourceKind {
        Bucket = "Bucket", GitRepository = "GitRepository", Kustomization = "Kustomization",
        HelmRelease = "HelmRelease", HelmChart = "HelmChart", HelmRepository = "HelmRepository",
        ImageRepository = "ImageRepository", ImagePolicy = "ImagePolicy",
        ImageUpdateAutomation = "ImageUpdateAutomation", OCIRepository = "OCIRepository",
        ArtifactGenerator = "ArtifactGenerator", ExternalArtifact = "ExternalArtifact",
    }
}

wire_enum! {
    /// Webhook flavours a Receiver understands.
    pub enum ReceiverType {
        Generic = "generic", GenericHmac = "generic-hmac", GenericOidc = "generic-oidc",
        GitHub = "github", GitLab = "gitlab", Bitbucket = "bitbucket", Harbor = "harbor",
        DockerHub = "dockerhub", Quay = "quay", Gcr = "gcr", Nexus = "nexus", Acr = "acr",
        CdEvents = "cdevents",
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    #[default]
    Info,
    Error,
}

/// An object (or, with name `*`, every object of a kind) in a namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: EventSourceKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// Status of the older Alert and Provider versions, which Flux still serves.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegacyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

macro_rules! provider_spec_fields {
    ($(#[$kube:meta])*) => {
        /// Where and how notifications are sent.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        $(#[$kube])*
        #[serde(rename_all = "camelCase")]
        pub struct ProviderSpec {
            #[serde(rename = "type")]
            pub type_: ProviderType,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(DURATION_PATTERN))]
            pub interval: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 2048))]
            pub channel: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 2048))]
            pub username: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 2048))]
            pub address: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern(TIMEOUT_PATTERN))]
            pub timeout: Option<String>,
            /// Deprecated: use `proxySecretRef`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 2048), pattern(r"^(http|https)://.*$"))]
            pub proxy: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_account_name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub cert_secret_ref: Option<LocalObjectReference>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub commit_status_expr: Option<String>,
        }
    };
}

macro_rules! alert_spec_fields {
    ($(#[$kube:meta])*) => {
        /// Which events are forwarded to a Provider.
        #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        $(#[$kube])*
        #[serde(rename_all = "camelCase")]
        pub struct AlertSpec {
            pub provider_ref: LocalObjectReference,
            #[serde(default)]
            pub event_severity: EventSeverity,
            pub event_sources: Vec<CrossNamespaceObjectReference>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub inclusion_list: Option<Vec<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub exclusion_list: Option<Vec<String>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub event_metadata: Option<BTreeMap<String, String>>,
            /// Deprecated: use `eventMetadata`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 255))]
            pub summary: Option<String>,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub suspend: bool,
        }
    };
}

/// The storage version: no status subresource, as in Flux.
pub mod v1beta3 {
    use super::*;
    provider_spec_fields!(#[kube(
        group = "notification.toolkit.fluxcd.io", version = "v1beta3", kind = "Provider",
        plural = "providers", namespaced, storage = true, category = "fluxcd",
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
    )]);
    alert_spec_fields!(#[kube(
        group = "notification.toolkit.fluxcd.io", version = "v1beta3", kind = "Alert",
        plural = "alerts", namespaced, storage = true, category = "fluxcd",
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
    )]);
}

macro_rules! legacy_notification_version {
    ($module:ident, $version:tt) => {
        pub mod $module {
            use super::*;
            provider_spec_fields!(#[kube(
                group = "notification.toolkit.fluxcd.io", version = $version, kind = "Provider",
                plural = "providers", namespaced, storage = false, category = "fluxcd",
                status = "LegacyStatus",
                printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
                printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
                printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
            )]);
            alert_spec_fields!(#[kube(
                group = "notification.toolkit.fluxcd.io", version = $version, kind = "Alert",
                plural = "alerts", namespaced, storage = false, category = "fluxcd",
                status = "LegacyStatus",
                printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
                printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
                printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
            )]);
        }
    };
}

legacy_notification_version!(v1beta2, "v1beta2");
legacy_notification_version!(v1beta1, "v1beta1");

fn default_receiver_interval() -> String {
    "10m".to_owned()
}

fn default_observed_generation() -> i64 {
    -1
}

pub mod v1 {
    use super::*;

    /// A webhook endpoint that asks for an immediate reconcile of the objects it names.
    #[derive(kube::CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
    #[kube(
        group = "notification.toolkit.fluxcd.io",
        version = "v1",
        kind = "Receiver",
        plural = "receivers",
        namespaced,
        storage = true,
        status = "ReceiverStatus",
        category = "fluxcd",
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
        printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
        printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
    )]
    #[serde(rename_all = "camelCase")]
    pub struct ReceiverSpec {
        #[serde(rename = "type")]
        pub type_: ReceiverType,
        #[serde(default = "default_receiver_interval")]
        #[schemars(pattern(DURATION_PATTERN))]
        pub interval: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub events: Option<Vec<String>>,
        pub resources: Vec<CrossNamespaceObjectReference>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub resource_filter: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub secret_ref: Option<LocalObjectReference>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub suspend: bool,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ReceiverStatus {
        #[serde(default = "default_observed_generation")]
        pub observed_generation: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub conditions: Option<Vec<Condition>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub webhook_path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_handled_reconcile_at: Option<String>,
    }
}
