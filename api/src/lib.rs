//! The Flux API types served by flux-rs, one module per API group and a module per version,
//! with Flux's condition types and reasons beside them; the CRDs generated from them; and Go
//! durations, as their fields are written.
#![forbid(unsafe_code)]

pub mod duration;
pub mod helm;
pub mod image;
pub mod kustomize;
pub mod meta;
pub mod notification;
pub mod source;

use serde_json::Value;

/// A namespaced kind whose status is its conditions plus its own fields: what a shared
/// reconcile skeleton needs to read and write of it.
pub trait StatusObject:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    type Status: Default + Clone + serde::Serialize + Send + Sync;

    fn status(&self) -> Option<&Self::Status>;
    fn conditions(status: &mut Self::Status) -> &mut Option<Vec<meta::Condition>>;
    fn last_handled_reconcile_at(status: &mut Self::Status) -> &mut Option<String>;
    fn observe(status: &mut Self::Status, generation: i64);
    fn observed_generation(status: &Self::Status) -> i64;
    fn suspended(&self) -> bool;
    /// How long a reconcile waits before the next one when all is well.
    fn interval(&self) -> std::time::Duration;
}

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD flux-rs installs, by the file name it is written to under `crds/`.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    let merge = |crds: Vec<CustomResourceDefinition>, storage: &str| {
        let crd = kube::core::crd::merge_crds(crds, storage)
            .expect("versions of one kind are compatible");
        without_null_enum_values(crd)
    };
    vec![
        (
            "source.toolkit.fluxcd.io_gitrepositories.yaml",
            merge(
                vec![
                    source::v1::GitRepository::crd(),
                    source::v1beta2::GitRepository::crd(),
                ],
                "v1",
            ),
        ),
        (
            "source.toolkit.fluxcd.io_ocirepositories.yaml",
            merge(
                vec![
                    source::v1::OCIRepository::crd(),
                    source::v1beta2::OCIRepository::crd(),
                ],
                "v1",
            ),
        ),
        (
            "source.toolkit.fluxcd.io_helmrepositories.yaml",
            merge(
                vec![
                    source::v1::HelmRepository::crd(),
                    source::v1beta2::HelmRepository::crd(),
                ],
                "v1",
            ),
        ),
        (
            "source.toolkit.fluxcd.io_helmcharts.yaml",
            merge(
                vec![
                    source::v1::HelmChart::crd(),
                    source::v1beta2::HelmChart::crd(),
                ],
                "v1",
            ),
        ),
        (
            "helm.toolkit.fluxcd.io_helmreleases.yaml",
            merge(
                vec![
                    helm::v2::HelmRelease::crd(),
                    helm::v2beta2::HelmRelease::crd(),
                    helm::v2beta1::HelmRelease::crd(),
                ],
                "v2",
            ),
        ),
        (
            "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
            merge(
                vec![
                    kustomize::v1::Kustomization::crd(),
                    kustomize::v1beta2::Kustomization::crd(),
                ],
                "v1",
            ),
        ),
        (
            "notification.toolkit.fluxcd.io_providers.yaml",
            merge(
                vec![
                    notification::v1beta3::Provider::crd(),
                    notification::v1beta2::Provider::crd(),
                    notification::v1beta1::Provider::crd(),
                ],
                "v1beta3",
            ),
        ),
        (
            "notification.toolkit.fluxcd.io_alerts.yaml",
            merge(
                vec![
                    notification::v1beta3::Alert::crd(),
                    notification::v1beta2::Alert::crd(),
                    notification::v1beta1::Alert::crd(),
                ],
                "v1beta3",
            ),
        ),
        (
            "image.toolkit.fluxcd.io_imagerepositories.yaml",
            merge(
                vec![
                    image::v1::ImageRepository::crd(),
                    image::v1beta2::ImageRepository::crd(),
                    image::v1beta1::ImageRepository::crd(),
                ],
                "v1",
            ),
        ),
        (
            "image.toolkit.fluxcd.io_imagepolicies.yaml",
            merge(
                vec![
                    image::v1::ImagePolicy::crd(),
                    image::v1beta2::ImagePolicy::crd(),
                    image::v1beta1::ImagePolicy::crd(),
                ],
                "v1",
            ),
        ),
        (
            "image.toolkit.fluxcd.io_imageupdateautomations.yaml",
            merge(
                vec![
                    image::v1::ImageUpdateAutomation::crd(),
                    image::v1beta2::ImageUpdateAutomation::crd(),
                    image::v1beta1::ImageUpdateAutomation::crd(),
                ],
                "v1",
            ),
        ),
        (
            "notification.toolkit.fluxcd.io_receivers.yaml",
            notification::v1::Receiver::crd(),
        ),
    ]
}

/// schemars lists `null` among the values of an optional enum; OpenAPI validation (kubectl's
/// included) rejects it, and `nullable` already says the field may be absent.
fn without_null_enum_values(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.retain(|v| !v.is_null());
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(crd).expect("CRDs serialise");
    strip(&mut value);
    serde_json::from_value(value).expect("the stripped CRD is still a CRD")
}

/// The CRDs rendered as the YAML committed under `crds/`, by file name.
pub fn crd_documents() -> Result<Vec<(&'static str, String)>, serde_saphyr::ser::Error> {
    let mut documents = crds()
        .into_iter()
        .map(|(file, crd)| Ok((file, format!("---\n{}", serde_saphyr::to_string(&crd)?))))
        .collect::<Result<Vec<_>, serde_saphyr::ser::Error>>()?;
    // A kustomization over the files, so `config/` can use the directory as a base.
    let listing: String = documents
        .iter()
        .map(|(file, _)| format!("- {file}\n"))
        .collect();
    documents.push((
        "kustomization.yaml",
        format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{listing}"),
    ));
    Ok(documents)
}

/// The API resource of a kind, for dynamic access to objects named in specs (event sources,
/// receiver resources). Plurals follow Kubernetes' rule for these kinds: a trailing `y`
/// becomes `ies`, otherwise `s` is added.
pub fn api_resource(api_version: &str, kind: &str) -> kube::api::ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let lower = kind.to_lowercase();
    let plural = match lower.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{lower}s"),
    };
    kube::api::ApiResource::from_gvk_with_plural(&gvk, &plural)
}
