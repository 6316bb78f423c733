//! `spec.chart` → the HelmChart helm-controller keeps for a release (`<ns>-<name>`, in the
//! source's namespace, labelled with the release's origin), applied server-side as Flux does.

use api::helm::v2::HelmRelease;
use api::helm::{HelmChartTemplate, reason};
use api::source::v1::HelmChart;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

/// Where the HelmChart of a release lives: `(namespace, name)`.
pub fn chart_ref(object: &HelmRelease, template: &HelmChartTemplate) -> (String, String) {
    let namespace = object.namespace().unwrap_or_default();
    let chart_namespace = template
        .spec
        .source_ref
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    (
        chart_namespace,
        format!("{namespace}-{}", object.name_any()),
    )
}

/// The HelmChart for `template`, as Flux's `buildHelmChartFromTemplate` maps it.
pub fn build(object: &HelmRelease, template: &HelmChartTemplate) -> Value {
    let (namespace, name) = chart_ref(object, template);
    let spec = &template.spec;
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(
        ssa::HELM_CONTROLLER.name_label.to_owned(),
        object.name_any(),
    );
    labels.insert(
        ssa::HELM_CONTROLLER.namespace_label.to_owned(),
        object.namespace().unwrap_or_default(),
    );
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone());
    let mut chart_spec = json!({
        "chart": spec.chart,
        "version": spec.version.clone().unwrap_or_else(|| "*".into()),
        "sourceRef": {"kind": spec.source_ref.kind, "name": spec.source_ref.name},
        "interval": spec.interval.clone().unwrap_or_else(|| object.spec.interval.clone()),
        "reconcileStrategy": spec.reconcile_strategy.unwrap_or_default(),
    });
    if let Some(api_version) = &spec.source_ref.api_version {
        chart_spec["sourceRef"]["apiVersion"] = json!(api_version);
    }
    if let Some(files) = &spec.values_files {
        chart_spec["valuesFiles"] = json!(files);
    }
    if let Some(file) = &spec.values_file {
        chart_spec["valuesFile"] = json!(file);
    }
    if spec.ignore_missing_values_files {
        chart_spec["ignoreMissingValuesFiles"] = json!(true);
    }
    if let Some(verify) = &spec.verify {
        let mut v = json!({"provider": verify.provider});
        if let Some(secret) = &verify.secret_ref {
            v["secretRef"] = json!({"name": secret.name});
        }
        if let Some(identities) = &verify.match_oidc_identity {
            v["matchOIDCIdentity"] = json!(identities);
        }
        chart_spec["verify"] = v;
    }
    let mut metadata = json!({"name": name, "namespace": namespace, "labels": labels});
    if let Some(annotations) = annotations {
        metadata["annotations"] = json!(annotations);
    }
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": metadata,
        "spec": chart_spec,
    })
}

/// Applies the release's HelmChart; returns the event (reason, message) when it was created
/// or changed.
pub async fn apply(
    client: &kube::Client,
    object: &HelmRelease,
    template: &HelmChartTemplate,
) -> Result<Option<(&'static str, String)>, String> {
    let (namespace, name) = chart_ref(object, template);
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
    let desired = build(object, template);
    let existing = api.get_opt(&name).await.map_err(|e| e.to_string())?;
    let params = PatchParams::apply(ssa::HELM_CONTROLLER.field_manager).force();
    let applied = api
        .patch(&name, &params, &Patch::Apply(&desired))
        .await
        .map_err(|e| e.to_string())?;
    let source = format!(
        "{}/{namespace}/{}",
        template.spec.source_ref.kind, template.spec.source_ref.name
    );
    Ok(match existing {
        None => Some((
            reason::HELM_CHART_CREATED,
            format!("HelmChart/{namespace}/{name} created with SourceRef '{source}'"),
        )),
        Some(before) if before.metadata.generation != applied.metadata.generation => Some((
            reason::HELM_CHART_CONFIGURED,
            format!("HelmChart/{namespace}/{name} updated with SourceRef '{source}'"),
        )),
        Some(_) => None,
    })
}

/// Deletes the HelmChart `namespace/name` (absent is fine).
pub async fn delete(client: &kube::Client, namespace: &str, name: &str) -> Result<(), String> {
    let api: Api<HelmChart> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(format!(
            "failed to delete HelmChart '{namespace}/{name}': {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_named_for_the_release_and_lives_by_its_source() {
        let object: HelmRelease = serde_json::from_value(json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"interval": "10m", "chart": {"spec": {
                "chart": "podinfo", "version": "6.1.0",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}
        }))
        .unwrap();
        let template = object.spec.chart.clone().unwrap();
        let chart = build(&object, &template);
        assert_eq!(
            chart["metadata"],
            json!({"name": "flux-system-podinfo", "namespace": "flux-system", "labels": {
                "helm.toolkit.fluxcd.io/name": "podinfo",
                "helm.toolkit.fluxcd.io/namespace": "flux-system"}})
        );
        assert_eq!(
            chart["spec"],
            json!({"chart": "podinfo", "version": "6.1.0", "interval": "10m",
                "reconcileStrategy": "ChartVersion",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}})
        );
    }
}
