//! What Flux's kustomize-controller adds around a kustomize build: a generated
//! `kustomization.yaml` when the path has none, the Kustomization-level transforms, common
//! metadata, and `postBuild` variable substitution.

use crate::kustomization::{FILE_NAMES, Image, Kustomization, Patch};
use crate::resource::Resource;
use crate::{BuildOptions, Error, yaml};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The label or annotation that opts an object out of substitution.
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// The transforms a Flux Kustomization's spec asks for on top of the kustomization file.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    pub target_namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub patches: Vec<Patch>,
    pub images: Vec<Image>,
    pub components: Vec<String>,
    pub ignore_missing_components: bool,
}

impl Overlay {
    /// Folds the spec's fields into the kustomization, as Flux's generator does.
    pub fn apply(&self, mut k: Kustomization, dir: &Path) -> Result<Kustomization, String> {
        if let Some(ns) = self.target_namespace.as_ref().filter(|n| !n.is_empty()) {
            k.namespace = Some(ns.clone());
        }
        if let Some(prefix) = self.name_prefix.as_ref().filter(|n| !n.is_empty()) {
            k.name_prefix = Some(prefix.clone());
        }
        if let Some(suffix) = self.name_suffix.as_ref().filter(|n| !n.is_empty()) {
            k.name_suffix = Some(suffix.clone());
        }
        k.patches.extend(self.patches.iter().cloned());
        for component in &self.components {
            let path = Path::new(component);
            if path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
                return Err(format!(
                    "component path '{component}' must be local and relative"
                ));
            }
            if self.ignore_missing_components && !dir.join(path).exists() {
                continue;
            }
            k.components.push(component.clone());
        }
        for image in &self.images {
            match k.images.iter_mut().find(|i| i.name == image.name) {
                Some(existing) => {
                    if let Some(name) = image.new_name.as_ref().filter(|n| !n.is_empty()) {
                        existing.new_name = Some(name.clone());
                    }
                    if image.new_tag.as_ref().is_some_and(|t| !t.is_empty())
                        || image.digest.as_ref().is_some_and(|d| !d.is_empty())
                    {
                        existing.new_tag = image.new_tag.clone();
                        existing.digest = image.digest.clone();
                    }
                }
                None => k.images.push(image.clone()),
            }
        }
        Ok(k)
    }
}

/// Builds `path` inside the artifact directory `root` the way kustomize-controller does:
/// nothing outside `root` is read, objects stay in input order.
pub fn build(root: &Path, path: &str, overlay: &Overlay) -> Result<Vec<Resource>, Error> {
    let dir = secure_join(root, path);
    if !dir.is_dir() {
        return Err(Error::new(
            path,
            format!(
                "kustomization path not found: stat {}: no such file or directory",
                dir.display()
            ),
        ));
    }
    crate::build_with(
        &dir,
        &BuildOptions {
            root: Some(root.to_path_buf()),
            unsorted: true,
            flux: Some(overlay.clone()),
        },
    )
}

/// `path` under `root`, with `..` unable to climb above it (as securejoin).
fn secure_join(root: &Path, path: &str) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts
        .iter()
        .fold(root.to_path_buf(), |p, part| p.join(part))
}

/// The kustomization Flux writes for a directory without one: every parseable `*.yaml` and
/// `*.yml` below it, and subdirectories that have their own kustomization (not entered).
pub fn generate_kustomization(
    dir: &Path,
    display: &dyn Fn(&Path) -> String,
) -> Result<Kustomization, Error> {
    let mut resources = Vec::new();
    collect(dir, dir, display, &mut resources)?;
    let mut k = Kustomization::default();
    if resources.is_empty() {
        k.namespace = Some("_placeholder".into());
    }
    k.resources = resources;
    Ok(k)
}

fn collect(
    root: &Path,
    dir: &Path,
    display: &dyn Fn(&Path) -> String,
    out: &mut Vec<String>,
) -> Result<(), Error> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::new(display(dir), e.to_string()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::new(display(dir), e.to_string()))?;
    entries.sort();
    for path in entries {
        let relative = format!("./{}", path.strip_prefix(root).unwrap_or(&path).display());
        if path.is_dir() {
            if FILE_NAMES.iter().any(|n| path.join(n).is_file()) {
                out.push(relative);
            } else {
                collect(root, &path, display, out)?;
            }
            continue;
        }
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if !is_yaml {
            continue;
        }
        let shown = display(&path);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::new(&shown, e.to_string()))?;
        let documents = yaml::parse_stream(&text)
            .map_err(|e| Error::new(&shown, format!("failed to decode Kubernetes YAML: {e}")))?;
        for (i, document) in documents.iter().enumerate() {
            let kind = document.get("kind").and_then(Value::as_str);
            let name = document
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str);
            if kind.is_none_or(str::is_empty) || name.is_none_or(str::is_empty) {
                return Err(Error::new(
                    &shown,
                    format!(
                        "failed to decode Kubernetes YAML: document {} has no kind or metadata.name",
                        i + 1
                    ),
                ));
            }
        }
        out.push(relative);
    }
    Ok(())
}

/// `commonMetadata`: labels and annotations set on every object's metadata (no selectors).
pub fn set_common_metadata(
    resources: &mut [Resource],
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) {
    for resource in resources {
        for (field, pairs) in [("labels", labels), ("annotations", annotations)] {
            if pairs.is_empty() {
                continue;
            }
            let metadata = resource.metadata_mut();
            let target = metadata
                .entry(field)
                .or_insert_with(|| Value::Object(Map::new()));
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(map) = target {
                for (k, v) in pairs {
                    map.insert(k.clone(), json!(v));
                }
            }
        }
    }
}

/// `postBuild` substitution over every object not opted out, in its YAML form (so that a
/// substituted `replicas: ${N}` becomes a number, as in Flux). `strict`: a variable that is
/// not set and has no default is an error.
pub fn substitute(
    resources: &mut [Resource],
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<(), Error> {
    for name in vars.keys() {
        if !valid_var_name(name) {
            return Err(Error::new(
                "postBuild",
                format!(
                    "'{name}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
                ),
            ));
        }
    }
    let vars: BTreeMap<&str, String> = vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.replace('\n', "")))
        .collect();
    for resource in resources {
        let disabled = |m: Option<&Map<String, Value>>| {
            m.and_then(|m| m.get(SUBSTITUTE_KEY))
                .and_then(Value::as_str)
                == Some("disabled")
        };
        if disabled(resource.labels()) || disabled(resource.annotations()) {
            continue;
        }
        let fail = |message: String| {
            Error::new(
                resource.origin.clone(),
                format!(
                    "post build failed for '{}/{}': {message}",
                    resource.gvk(),
                    resource.name()
                ),
            )
        };
        let mut text = String::new();
        yaml::write_document(&Value::Object(resource.object.clone()), &mut text);
        if !text.contains('$') {
            continue;
        }
        let substituted = envsubst(&text, &vars, strict)
            .map_err(|e| fail(format!("envsubst error: variable substitution failed: {e}")))?;
        let mut documents = yaml::parse_stream(&substituted)
            .map_err(|e| fail(format!("envsubst error: YAMLToJSON: {e}")))?;
        match documents.pop() {
            Some(Value::Object(map)) if documents.is_empty() => resource.object = map,
            _ => return Err(fail("envsubst error: the result is not one object".into())),
        }
    }
    Ok(())
}

fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Flux's envsubst subset: `${var}`, defaults with `:=`, `:-`, `=`, `:+`, `:?` (all "use the
/// default when empty", as Flux's fork behaves), nested defaults, `$$` for a literal `$`.
/// A bare `$var` is left alone, as in Flux.
pub fn envsubst(text: &str, vars: &BTreeMap<&str, String>, strict: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body_and_more) = after.strip_prefix('{') {
            let end = closing_brace(body_and_more).ok_or("missing closing brace")?;
            out.push_str(&expand(&body_and_more[..end], vars, strict)?);
            rest = &body_and_more[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing a `${`, skipping nested `${...}`.
fn closing_brace(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand(body: &str, vars: &BTreeMap<&str, String>, strict: bool) -> Result<String, String> {
    let name_end = body
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(body.len());
    let (name, operator) = body.split_at(name_end);
    if name.is_empty() || !valid_var_name(name) {
        return Err("unable to parse variable name".into());
    }
    let value = vars.get(name);
    if operator.is_empty() {
        return match value {
            Some(v) => Ok(v.clone()),
            None if strict => Err(format!("variable not set (strict mode): {name:?}")),
            None => Ok(String::new()),
        };
    }
    let default = [":=", ":-", ":+", ":?", "="]
        .iter()
        .find_map(|op| operator.strip_prefix(op));
    match default {
        Some(default) => match value.filter(|v| !v.is_empty()) {
            Some(v) => Ok(v.clone()),
            None => envsubst(default, vars, strict),
        },
        None if operator.starts_with('-') => Err("missing closing brace".into()),
        None => Err(format!(
            "bad substitution: '${{{body}}}' is not supported by flux-rs (see docs/compatibility.md)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn substitution_forms() {
        let v = vars(&[("A", "x"), ("EMPTY", "")]);
        assert_eq!(
            envsubst("${A}-${B:=d}-${EMPTY:-e}", &v, false).unwrap(),
            "x-d-e"
        );
        assert_eq!(
            envsubst("$A $$ $${A} ${U:=${A}}", &v, false).unwrap(),
            "$A $ ${A} x"
        );
        assert_eq!(envsubst("${B}", &v, false).unwrap(), "");
        assert_eq!(
            envsubst("${B}", &v, true).unwrap_err(),
            "variable not set (strict mode): \"B\""
        );
        assert_eq!(envsubst("${B=z}", &v, true).unwrap(), "z");
        assert!(envsubst("${A-d}", &v, false).is_err());
        assert!(envsubst("${A", &v, false).is_err());
        assert!(envsubst("${ A}", &v, false).is_err());
    }

    #[test]
    fn substitution_types_and_opt_out() {
        let object = |name: &str, disabled: bool| {
            let mut metadata = json!({"name": name});
            if disabled {
                metadata["annotations"] = json!({SUBSTITUTE_KEY: "disabled"});
            }
            let value = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": metadata, "spec": {"replicas": "${N}", "x": "${N:=1} of ${WHO}"}});
            Resource::new(value.as_object().unwrap().clone(), "f.yaml".into())
        };
        let mut resources = vec![object("a", false), object("b", true)];
        let vars: BTreeMap<String, String> = [
            ("N".to_string(), "3".to_string()),
            ("WHO".into(), "us\n".into()),
        ]
        .into();
        substitute(&mut resources, &vars, true).unwrap();
        assert_eq!(resources[0].object["spec"]["replicas"], json!(3));
        assert_eq!(resources[0].object["spec"]["x"], json!("3 of us"));
        assert_eq!(resources[1].object["spec"]["replicas"], json!("${N}"));
        let mut strict = vec![object("c", false)];
        let err = substitute(&mut strict, &BTreeMap::new(), true).unwrap_err();
        assert!(err.to_string().contains("'Deployment.v1.apps/c'"), "{err}");
        assert!(err.to_string().contains("(strict mode): \"N\""), "{err}");
    }

    #[test]
    fn generated_kustomization_and_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("app/sub")).unwrap();
        std::fs::create_dir_all(root.join("app/kdir")).unwrap();
        std::fs::write(
            root.join("app/a.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        )
        .unwrap();
        std::fs::write(
            root.join("app/sub/b.yml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        )
        .unwrap();
        std::fs::write(root.join("app/notes.txt"), "not yaml").unwrap();
        std::fs::write(
            root.join("app/kdir/kustomization.yaml"),
            "resources: [c.yaml]\n",
        )
        .unwrap();
        std::fs::write(
            root.join("app/kdir/c.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )
        .unwrap();
        let overlay = Overlay {
            target_namespace: Some("staging".into()),
            name_prefix: Some("s-".into()),
            ..Overlay::default()
        };
        let built = build(root, "./app", &overlay).unwrap();
        let ids: Vec<(String, String)> = built.iter().map(|r| (r.namespace(), r.name())).collect();
        assert_eq!(
            ids,
            [("staging", "s-a"), ("staging", "s-c"), ("staging", "s-b")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let missing = build(root, "../../nope", &overlay).unwrap_err();
        assert!(
            missing.to_string().contains("kustomization path not found"),
            "{missing}"
        );
        std::fs::write(root.join("app/bad.yaml"), "kind: ConfigMap\n").unwrap();
        let bad = build(root, "app", &overlay).unwrap_err();
        assert!(bad.to_string().contains("app/bad.yaml"), "{bad}");
    }
}
