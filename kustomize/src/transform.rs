//! kustomize's built-in transformers over a list of resources.

use crate::fieldspec::{self, FieldSpec};
use crate::kustomization::Image;
use crate::resource::Resource;
use regex::Regex;
use serde_json::{Map, Value, json};

/// Which role binding subjects get the namespace (kustomize's `setRoleBindingSubjects`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subjects {
    /// Subjects named `default`, whatever their kind: the `namespace` field's behaviour.
    #[default]
    DefaultOnly,
    AllServiceAccounts,
    None,
}

/// One run of kustomize's namespace transformer.
pub struct Namespace<'a> {
    pub namespace: &'a str,
    /// The fields set besides `metadata.namespace`: the `namespace` field uses kustomize's
    /// table (Namespace names, CRD conversion webhooks, APIServices) and what
    /// `configurations` added, a NamespaceTransformer plugin its own `fieldSpecs`.
    pub specs: Vec<&'a FieldSpec>,
    /// Only fields that are missing or empty are set.
    pub unset_only: bool,
    pub subjects: Subjects,
}

/// kustomize's namespace transformer: the namespace of every namespaced object, the
/// chosen role binding subjects, then the spec'd fields. `metadata/namespace` specs are
/// left to the first rule, `metadata/name` specs only rename `v1` objects, and role binding
/// subject specs give way to `subjects`, as kustomize's filter has them.
pub fn set_namespace(resources: &mut [Resource], options: &Namespace) {
    let namespace = options.namespace;
    let mut set = |value: &mut Value| {
        let has_value = match value {
            Value::String(s) => !s.is_empty(),
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        let created = value.as_object().is_some_and(Map::is_empty);
        if (created || value.is_string() || has_value) && !(options.unset_only && has_value) {
            *value = json!(namespace);
        }
    };
    for resource in resources {
        resource.build_annotations = true;
        // kustomize records every object's id here, moved or not.
        resource.store_previous_id();
        let gvk = resource.gvk();
        let api_version = resource.object.get("apiVersion").and_then(Value::as_str);
        let renames = api_version == Some("v1");
        if !gvk.is_cluster_scoped() {
            fieldspec::visit_path(&mut resource.object, "metadata/namespace", true, &mut set);
        }
        let role_binding = is_role_binding(&gvk.kind);
        if role_binding {
            set_subject_namespaces(resource, options.subjects, &mut set);
        }
        let specs = options.specs.iter().filter(|s| {
            s.applies_to(&gvk)
                && s.path != "metadata/namespace"
                && (renames || s.path != "metadata/name")
                && !(role_binding && is_role_binding(&s.kind) && s.path == "subjects/namespace")
        });
        for spec in specs {
            fieldspec::visit_path(&mut resource.object, &spec.path, spec.create, &mut set);
        }
        resource.remember_identity();
    }
}

fn is_role_binding(kind: &str) -> bool {
    kind == "RoleBinding" || kind == "ClusterRoleBinding"
}

fn set_subject_namespaces(
    resource: &mut Resource,
    subjects: Subjects,
    set: &mut dyn FnMut(&mut Value),
) {
    let Some(list) = resource
        .object
        .get_mut("subjects")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for subject in list.iter_mut().filter_map(Value::as_object_mut) {
        let chosen = match subjects {
            Subjects::DefaultOnly => subject.get("name").and_then(Value::as_str) == Some("default"),
            Subjects::AllServiceAccounts => {
                subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
            }
            Subjects::None => false,
        };
        if chosen {
            let field = subject
                .entry("namespace")
                .or_insert_with(|| Value::Object(Map::new()));
            set(field);
        }
    }
}

/// Whether kustomize's prefix and suffix transformers leave the object alone (judged on
/// its original kind).
fn keeps_its_name(resource: &Resource) -> bool {
    let gvk = &resource.original.gvk;
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

/// The string at each of `specs`' paths that applies to `resource`, replaced by `new(old)`.
fn set_strings<'a>(
    resource: &mut Resource,
    specs: impl IntoIterator<Item = &'a FieldSpec>,
    new: impl Fn(&str) -> String,
) {
    let gvk = resource.gvk();
    for spec in specs.into_iter().filter(|s| s.applies_to(&gvk)) {
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

/// A name prefix or suffix and the fields it goes to: `namePrefix`/`nameSuffix` use
/// `metadata/name` and what `configurations` added, a plugin its own `fieldSpecs`.
#[derive(Clone, Copy)]
pub enum Affix<'a> {
    Prefix(&'a str, &'a [FieldSpec]),
    Suffix(&'a str, &'a [FieldSpec]),
}

/// kustomize's prefix and suffix transformers, one after the other. Objects of the kinds
/// they skip keep every field; a spec applies when both the original and the current kind
/// fit it. The `metadata/name` spec renames the object, recording its id first (unless the
/// affix is empty: kustomize still runs, and still creates spec'd fields).
pub fn add_name_affixes(resources: &mut [Resource], affixes: &[Affix]) {
    for resource in resources.iter_mut().filter(|r| !keeps_its_name(r)) {
        for affix in affixes {
            let (text, specs) = match *affix {
                Affix::Prefix(text, specs) | Affix::Suffix(text, specs) => (text, specs),
            };
            let original = resource.original.gvk.clone();
            for spec in specs.iter().filter(|s| s.applies_to(&original)) {
                if spec.path == "metadata/name" && !text.is_empty() {
                    resource.store_previous_id();
                    resource.build_annotations = true;
                    // Name references prefer objects renamed alike.
                    match affix {
                        Affix::Prefix(..) => resource.prefixes.push(text.to_string()),
                        Affix::Suffix(..) => resource.suffixes.push(text.to_string()),
                    }
                }
                match affix {
                    Affix::Prefix(..) => {
                        set_strings(resource, [spec], |old| format!("{text}{old}"))
                    }
                    Affix::Suffix(..) => {
                        set_strings(resource, [spec], |old| format!("{old}{text}"))
                    }
                }
            }
        }
        resource.remember_identity();
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

/// `replicas` and ReplicaCountTransformer: by current or former name, at the spec'd paths
/// (kustomize's table and what `configurations` added, or a plugin's own); false when no
/// spec fits an object of that name.
pub fn set_replicas<'a>(
    resources: &mut [Resource],
    name: &str,
    count: i64,
    specs: impl IntoIterator<Item = &'a FieldSpec> + Clone,
) -> bool {
    let mut matched = false;
    for resource in resources.iter_mut().filter(|r| r.was_named(name)) {
        let gvk = resource.gvk();
        for spec in specs.clone().into_iter().filter(|s| s.applies_to(&gvk)) {
            matched = true;
            fieldspec::visit_path(&mut resource.object, &spec.path, spec.create, &mut |v| {
                *v = json!(count)
            });
        }
    }
    matched
}

/// `images` and ImageTagTransformer, one image after the other (a later image sees what an
/// earlier one wrote), as kustomize's image transformer: the `image` of every
/// `containers`/`initContainers` element anywhere in an object (CRDs excepted), then the
/// spec'd fields (kustomize's table and what `configurations` added, or a plugin's own).
pub fn set_images<'a>(
    resources: &mut [Resource],
    images: &[Image],
    specs: impl IntoIterator<Item = &'a FieldSpec> + Clone,
) -> Result<(), String> {
    for image in images {
        let pattern = format!(
            "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
            image.name
        );
        let matcher = Regex::new(&pattern)
            .map_err(|e| format!("images: '{}': invalid name: {e}", image.name))?;
        let rule = (matcher, image);
        for resource in resources.iter_mut() {
            if resource.kind() == "CustomResourceDefinition" {
                continue;
            }
            for value in resource.object.values_mut() {
                rewrite_images(value, &rule, false);
            }
            let gvk = resource.gvk();
            // kustomize's image filter never creates a field.
            for spec in specs.clone().into_iter().filter(|s| s.applies_to(&gvk)) {
                fieldspec::visit_path(&mut resource.object, &spec.path, false, &mut |v| {
                    if let Value::String(reference) = v
                        && let Some(new) = replace_image(reference, &rule.0, rule.1)
                    {
                        *reference = new;
                    }
                });
            }
        }
    }
    Ok(())
}

fn rewrite_images(value: &mut Value, rule: &(Regex, &Image), in_container_list: bool) {
    match value {
        Value::Object(map) => {
            if in_container_list
                && let Some(Value::String(image)) = map.get_mut("image")
                && let Some(new) = replace_image(image, &rule.0, rule.1)
            {
                *image = new;
            }
            for (key, child) in map.iter_mut() {
                let is_list = key == "containers" || key == "initContainers";
                rewrite_images(child, rule, is_list && child.is_array());
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_images(item, rule, in_container_list);
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
