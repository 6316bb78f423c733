//! kustomize's built-in transformers over a list of resources.

use crate::fieldspec::{self, FieldSpec};
use crate::kustomization::Image;
use crate::resource::Resource;
use regex::Regex;
use serde_json::{Value, json};

/// `namespace`: sets the namespace of every namespaced object, renames `v1` Namespace
/// objects to it, and moves the subjects named `default` of role bindings and the services
/// of CRD conversion webhooks and APIServices, as kustomize's namespace transformer; then
/// the fields `configurations` added.
pub fn set_namespace(resources: &mut [Resource], namespace: &str, added: &[FieldSpec]) {
    for resource in resources {
        resource.build_annotations = true;
        // kustomize records every object's id here, moved or not.
        resource.store_previous_id();
        let gvk = resource.gvk();
        if !gvk.is_cluster_scoped() {
            resource.set_namespace(namespace);
        }
        set_strings(resource, added, |_| namespace.to_string());
        match gvk.kind.as_str() {
            "Namespace"
                if resource.object.get("apiVersion").and_then(Value::as_str) == Some("v1") =>
            {
                resource.set_name(namespace.to_string());
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                let Some(subjects) = resource
                    .object
                    .get_mut("subjects")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
                    if subject.get("name").and_then(Value::as_str) == Some("default") {
                        subject.insert("namespace".into(), json!(namespace));
                    }
                }
            }
            "CustomResourceDefinition" => {
                fieldspec::visit_path(
                    &mut resource.object,
                    "spec/conversion/webhook/clientConfig/service/namespace",
                    false,
                    &mut |ns| *ns = json!(namespace),
                );
            }
            "APIService" if gvk.group == "apiregistration.k8s.io" => {
                fieldspec::visit_path(
                    &mut resource.object,
                    "spec/service/namespace",
                    true,
                    &mut |ns| *ns = json!(namespace),
                );
            }
            _ => {}
        }
    }
}

/// Whether `namePrefix`/`nameSuffix` leave the object alone (judged on its original kind).
fn keeps_its_name(resource: &Resource) -> bool {
    let gvk = &resource.original.gvk;
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

/// The string at each of `specs`' paths that applies to `resource`, replaced by `new(old)`.
fn set_strings(resource: &mut Resource, specs: &[FieldSpec], new: impl Fn(&str) -> String) {
    let gvk = resource.gvk();
    for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
        fieldspec::visit_path(&mut resource.object, &spec.path, spec.create, &mut |v| {
            match v {
                Value::String(old) => *old = new(old),
                // A field the spec created.
                Value::Object(map) if map.is_empty() => *v = json!(new("")),
                _ => {}
            }
        });
    }
}

/// `namePrefix` and `nameSuffix`, with the fields `configurations` added to each.
pub fn add_name_affixes(
    resources: &mut [Resource],
    (prefix, prefix_specs): (&str, &[FieldSpec]),
    (suffix, suffix_specs): (&str, &[FieldSpec]),
) {
    for resource in resources {
        if !prefix.is_empty() {
            set_strings(resource, prefix_specs, |old| format!("{prefix}{old}"));
        }
        if !suffix.is_empty() {
            set_strings(resource, suffix_specs, |old| format!("{old}{suffix}"));
        }
        if (prefix.is_empty() && suffix.is_empty()) || keeps_its_name(resource) {
            continue;
        }
        // kustomize's prefix and suffix transformers each record the id before renaming.
        let name = resource.name();
        if !prefix.is_empty() {
            resource.store_previous_id();
            resource.prefixes.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            resource.store_previous_id_named(format!("{prefix}{name}"));
            resource.suffixes.push(suffix.to_string());
        }
        resource.set_name(format!("{prefix}{name}{suffix}"));
        resource.build_annotations = true;
    }
}

/// `commonLabels`, `labels` and `commonAnnotations`: string pairs at spec'd paths.
pub fn add_pairs<'a>(
    resources: &mut [Resource],
    specs: impl IntoIterator<Item = &'a FieldSpec> + Clone,
    pairs: &[(String, String)],
) {
    if pairs.is_empty() {
        return;
    }
    for resource in resources {
        let gvk = resource.gvk();
        fieldspec::merge_string_map(&mut resource.object, &gvk, specs.clone(), pairs);
    }
}

/// `replicas`: by current or former name, at kustomize's paths and those `configurations`
/// added; false when no object of those kinds has that name.
pub fn set_replicas(
    resources: &mut [Resource],
    name: &str,
    count: i64,
    added: &[FieldSpec],
) -> bool {
    let mut matched = false;
    for resource in resources.iter_mut().filter(|r| r.was_named(name)) {
        let gvk = resource.gvk();
        for spec in fieldspec::REPLICAS
            .iter()
            .chain(added)
            .filter(|s| s.applies_to(&gvk))
        {
            matched = true;
            fieldspec::visit_path(&mut resource.object, &spec.path, spec.create, &mut |v| {
                *v = json!(count)
            });
        }
    }
    matched
}

/// `images`: each entry in turn, as kustomize runs one image transformer per entry: the
/// `image` of every `containers`/`initContainers` element anywhere in an object (CRDs
/// excepted), then the image fields of kustomize's table and those `configurations` added.
/// The two passes overlap on pod templates, which kustomize's `tagSuffix` shows: it is
/// appended twice there, in kustomize and here.
pub fn set_images(
    resources: &mut [Resource],
    images: &[Image],
    added: &[FieldSpec],
) -> Result<(), String> {
    for image in images {
        let pattern = format!(
            "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
            image.name
        );
        let matcher = Regex::new(&pattern)
            .map_err(|e| format!("images: '{}': invalid name: {e}", image.name))?;
        let rewrite = |reference: &mut String| {
            if let Some(new) = replace_image(reference, &matcher, image) {
                *reference = new;
            }
        };
        for resource in resources.iter_mut() {
            if resource.kind() == "CustomResourceDefinition" {
                continue;
            }
            for value in resource.object.values_mut() {
                rewrite_container_images(value, &rewrite, false);
            }
            let gvk = resource.gvk();
            for spec in fieldspec::IMAGES.iter().chain(added) {
                if spec.applies_to(&gvk) {
                    fieldspec::visit_path(&mut resource.object, &spec.path, false, &mut |v| {
                        if let Value::String(reference) = v {
                            rewrite(reference);
                        }
                    });
                }
            }
        }
    }
    Ok(())
}

fn rewrite_container_images(
    value: &mut Value,
    rewrite: &dyn Fn(&mut String),
    in_container_list: bool,
) {
    match value {
        Value::Object(map) => {
            if in_container_list && let Some(Value::String(image)) = map.get_mut("image") {
                rewrite(image);
            }
            for (key, child) in map.iter_mut() {
                let is_list = key == "containers" || key == "initContainers";
                rewrite_container_images(child, rewrite, is_list && child.is_array());
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_container_images(item, rewrite, in_container_list);
            }
        }
        _ => {}
    }
}

/// Splits an image reference into name, tag and digest; `:` and `@` count only after the
/// first `/`, so a registry port is not a tag.
fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let search_from = image.find('/').unwrap_or(0);
    let (rest, digest) = match image[search_from..].find('@') {
        Some(i) => (
            &image[..search_from + i],
            Some(&image[search_from + i + 1..]),
        ),
        None => (image, None),
    };
    match rest[search_from..].find(':') {
        Some(i) => (
            &rest[..search_from + i],
            Some(&rest[search_from + i + 1..]),
            digest,
        ),
        None => (rest, None, digest),
    }
}

fn replace_image(image: &str, matcher: &Regex, rule: &Image) -> Option<String> {
    if !matcher.is_match(image) {
        return None;
    }
    let (name, tag, digest) = split_image(image);
    let new_name = rule
        .new_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(name);
    let new_tag = rule.new_tag.as_deref().filter(|t| !t.is_empty());
    let new_digest = rule.digest.as_deref().filter(|d| !d.is_empty());
    let tag_suffix = rule.tag_suffix.as_deref().filter(|t| !t.is_empty());
    let suffix = match (new_tag, new_digest, tag_suffix) {
        (Some(t), Some(d), _) => format!(":{t}@{d}"),
        (Some(t), None, _) => format!(":{t}"),
        (None, Some(d), _) => format!("@{d}"),
        // `tagSuffix` extends the tag there is (or makes one) and drops the digest.
        (None, None, Some(extra)) => format!(":{}{extra}", tag.unwrap_or("")),
        (None, None, None) => match (tag, digest) {
            (Some(t), Some(d)) => format!(":{t}@{d}"),
            (Some(t), None) => format!(":{t}"),
            (None, Some(d)) => format!("@{d}"),
            (None, None) => String::new(),
        },
    };
    Some(format!("{new_name}{suffix}"))
}

/// Pairs from a map, in key order.
pub fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
            tag_suffix: None,
        }
    }

    fn apply(image: &str, rule: &Image) -> Option<String> {
        let matcher = Regex::new(&format!(
            "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
            rule.name
        ))
        .unwrap();
        replace_image(image, &matcher, rule)
    }

    #[test]
    fn image_rules() {
        let r = rule("nginx", None, Some("1.25"), None);
        assert_eq!(apply("nginx", &r).as_deref(), Some("nginx:1.25"));
        assert_eq!(apply("nginx:1.0", &r).as_deref(), Some("nginx:1.25"));
        assert_eq!(apply("nginx@sha256:old", &r).as_deref(), Some("nginx:1.25"));
        assert_eq!(apply("nginxx:1.0", &r), None);
        assert_eq!(apply("docker.io/nginx:1.0", &r), None);
        let r = rule("reg:5000/app", Some("other/app"), None, Some("sha256:abc"));
        assert_eq!(
            apply("reg:5000/app:v1", &r).as_deref(),
            Some("other/app@sha256:abc")
        );
        let r = rule(
            "localhost:5000/app",
            Some("reg/app"),
            Some("t"),
            Some("sha256:new"),
        );
        assert_eq!(
            apply("localhost:5000/app:1@sha256:abc", &r).as_deref(),
            Some("reg/app:t@sha256:new")
        );
        let r = rule("app", Some("mirror/app"), None, None);
        assert_eq!(apply("app:v2", &r).as_deref(), Some("mirror/app:v2"));
        let r = Image {
            tag_suffix: Some("-debug".into()),
            ..rule("app", None, None, None)
        };
        assert_eq!(apply("app:v2", &r).as_deref(), Some("app:v2-debug"));
        assert_eq!(apply("app", &r).as_deref(), Some("app:-debug"));
        assert_eq!(
            apply("app:v2@sha256:abc", &r).as_deref(),
            Some("app:v2-debug")
        );
    }
}
