//! Flux's post-renderers: `postRenderers[].kustomize` (patches and images, through the
//! kustomize engine, as Flux runs kustomize over the rendered objects), `commonMetadata`,
//! and the origin labels, always last. As under Helm 4, each document keeps the template
//! file it came from (carried through kustomize in an annotation).

use api::helm::PostRenderer;
use api::kustomize::CommonMetadata;
use serde_json::{Map, Value, json};

/// The annotation Helm 4 carries a document's file name in through a post-renderer.
const FILENAME_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";

/// `(template path, object)` of each rendered document, post-rendered.
pub fn post_render(
    documents: Vec<(String, Value)>,
    renderers: &[PostRenderer],
    common: Option<&CommonMetadata>,
    owner: (&str, &str),
) -> Result<Vec<(String, Value)>, String> {
    let mut documents = if renderers.iter().any(|r| r.kustomize.is_some()) {
        kustomize(documents, renderers)?
    } else {
        documents
    };
    for (_, document) in &mut documents {
        if let Some(common) = common {
            for (key, value) in common.labels.iter().flatten() {
                set(document, "labels", key, value);
            }
            for (key, value) in common.annotations.iter().flatten() {
                set(document, "annotations", key, value);
            }
        }
        // Origin labels win over commonMetadata.
        set(document, "labels", ssa::HELM_CONTROLLER.name_label, owner.0);
        set(
            document,
            "labels",
            ssa::HELM_CONTROLLER.namespace_label,
            owner.1,
        );
    }
    Ok(documents)
}

fn set(document: &mut Value, field: &str, key: &str, value: &str) {
    let Some(object) = document.as_object_mut() else {
        return;
    };
    let metadata = object
        .entry("metadata".to_owned())
        .or_insert_with(|| json!({}));
    if !metadata.is_object() {
        *metadata = json!({});
    }
    let entry = metadata
        .as_object_mut()
        .expect("metadata is a map")
        .entry(field.to_owned())
        .or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry[key] = json!(value);
}

/// Runs the kustomize post-renderers over the documents (in a scratch directory, as one
/// kustomization) and gives each result back its file.
fn kustomize(
    documents: Vec<(String, Value)>,
    renderers: &[PostRenderer],
) -> Result<Vec<(String, Value)>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("post-render: {e}"))?;
    let paths: Vec<String> = documents.iter().map(|(path, _)| path.clone()).collect();
    let mut stream = String::new();
    for (path, mut document) in documents {
        set(&mut document, "annotations", FILENAME_ANNOTATION, &path);
        stream.push_str("---\n");
        goyaml::write_document(&document, &mut stream);
    }
    std::fs::write(dir.path().join("resources.yaml"), stream)
        .map_err(|e| format!("post-render: {e}"))?;
    let kustomization = kustomization(renderers);
    let mut text = String::new();
    goyaml::write_document(&kustomization, &mut text);
    std::fs::write(dir.path().join("kustomization.yaml"), text)
        .map_err(|e| format!("post-render: {e}"))?;
    let options = kustomize::BuildOptions {
        root: Some(dir.path().to_path_buf()),
        unsorted: true,
        flux: None,
    };
    let resources = kustomize::build_with(dir.path(), &options)
        .map_err(|e| format!("post-render failed: {}", e.message))?;
    // A patch may replace the annotations map, file annotation included: objects keep
    // their order (the build is unsorted and patches add none), so position tells.
    Ok(resources
        .into_iter()
        .enumerate()
        .map(|(index, resource)| {
            let mut object = Value::Object(resource.object);
            let path = take_filename(&mut object)
                .or_else(|| paths.get(index).cloned())
                .unwrap_or_else(|| "generated-by-postrender.yaml".to_owned());
            (path, object)
        })
        .collect())
}

/// The kustomization of every `kustomize` post-renderer, in order.
fn kustomization(renderers: &[PostRenderer]) -> Value {
    let mut patches = Vec::new();
    let mut images = Vec::new();
    let mut strategic = Vec::new();
    let mut json6902 = Vec::new();
    for renderer in renderers.iter().filter_map(|r| r.kustomize.as_ref()) {
        patches.extend(renderer.patches.iter().flatten().map(|p| json!(p)));
        images.extend(renderer.images.iter().flatten().map(|i| json!(i)));
        strategic.extend(renderer.patches_strategic_merge.iter().flatten().cloned());
        json6902.extend(renderer.patches_json6902.iter().flatten().map(|p| {
            let mut text = String::new();
            goyaml::write_document(&json!(p.patch), &mut text);
            json!({"target": p.target, "patch": text})
        }));
    }
    let mut kustomization = Map::new();
    kustomization.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    kustomization.insert("kind".into(), json!("Kustomization"));
    kustomization.insert("resources".into(), json!(["resources.yaml"]));
    for (key, list) in [
        ("patches", patches),
        ("images", images),
        ("patchesStrategicMerge", strategic),
        ("patchesJson6902", json6902),
    ] {
        if !list.is_empty() {
            kustomization.insert(key.into(), Value::Array(list));
        }
    }
    Value::Object(kustomization)
}

/// Removes the file annotation (and the annotations map it leaves empty).
fn take_filename(object: &mut Value) -> Option<String> {
    let annotations = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)?;
    let path = annotations
        .remove(FILENAME_ANNOTATION)
        .and_then(|v| v.as_str().map(str::to_owned));
    if annotations.is_empty()
        && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.remove("annotations");
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renderers(value: Value) -> Vec<PostRenderer> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn patches_and_images_apply_and_documents_keep_their_files() {
        let documents = vec![
            (
                "podinfo/templates/deployment.yaml".to_owned(),
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "podinfo"},
                    "spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.1.0"}]}}}}),
            ),
            (
                "podinfo/templates/service.yaml".to_owned(),
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo"}}),
            ),
        ];
        let renderers = renderers(json!([{"kustomize": {
            "patches": [{"target": {"kind": "Deployment"}, "patch": "- op: add\n  path: /metadata/annotations\n  value:\n    env: staging\n"}],
            "images": [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.2.0"}]}}]));
        let common = CommonMetadata {
            labels: Some([("team".to_owned(), "a".to_owned())].into()),
            annotations: None,
        };
        let out = post_render(
            documents,
            &renderers,
            Some(&common),
            ("podinfo", "flux-system"),
        )
        .unwrap();
        assert_eq!(out[0].0, "podinfo/templates/deployment.yaml");
        assert_eq!(out[1].0, "podinfo/templates/service.yaml");
        let deployment = &out[0].1;
        assert_eq!(
            deployment["metadata"]["annotations"],
            json!({"env": "staging"})
        );
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/stefanprodan/podinfo:6.2.0"
        );
        assert_eq!(
            out[1].1["metadata"],
            json!({"name": "podinfo", "labels": {"team": "a",
                "helm.toolkit.fluxcd.io/name": "podinfo", "helm.toolkit.fluxcd.io/namespace": "flux-system"}})
        );
    }

    #[test]
    fn without_kustomize_renderers_documents_only_get_labels() {
        let documents = vec![(
            "a.yaml".to_owned(),
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}}),
        )];
        let out = post_render(documents, &[], None, ("r", "ns")).unwrap();
        assert_eq!(
            out[0].1["metadata"]["labels"],
            json!({"helm.toolkit.fluxcd.io/name": "r", "helm.toolkit.fluxcd.io/namespace": "ns"})
        );
    }
}
