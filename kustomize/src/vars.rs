//! kustomize's `vars` (deprecated there, still common): `$(NAME)` in a fixed set of fields
//! becomes a value read from another object. A var picks its object where it is declared
//! (after that kustomization's transformers, by any identity the object has had), and is read
//! once the whole build is done, after hash suffixes and name references, so `$(SVC)` is the
//! Service's final name.

use crate::Error;
use crate::fieldspec::FieldSpec;
use crate::kustomization::{Var, VarTarget};
use crate::resource::{Gvk, Resource};
use crate::yaml::go_float_g;
use serde_json::{Number, Value};
use std::collections::BTreeMap;

/// Where a var reads when its `fieldref` says nothing.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// The vars visible at one point of the build, by name: a kustomization's own, its
/// components' and its bases'. Names sort as kustomize sorts them, which decides which
/// failing var an error names.
#[derive(Debug, Default)]
pub struct VarSet {
    vars: BTreeMap<String, Declared>,
}

#[derive(Debug)]
struct Declared {
    var: Var,
    /// The kustomization that declared it, named in errors.
    file: String,
}

impl VarSet {
    /// Takes in a base's vars: a name seen twice is kustomize's error, whatever the vars say.
    pub fn absorb(&mut self, base: VarSet) -> Result<(), String> {
        for (name, declared) in base.vars {
            if self.vars.contains_key(&name) {
                return Err(already_encountered(&name));
            }
            self.vars.insert(name, declared);
        }
        Ok(())
    }
}

/// Declares a kustomization's `vars` once its transformers have run, as kustomize does: each
/// var marks the object its objref names (by its current or any former identity); several
/// such objects is an error, none is only an error at the end if the var is still unmarked.
pub fn declare(
    set: &mut VarSet,
    vars: &[Var],
    resources: &mut [Resource],
    file: &str,
) -> Result<(), Error> {
    // kustomize prefixes these errors with the vars as written (objref apiVersion not yet
    // applied, fieldpath not yet defaulted).
    let merging = || {
        let listed: Vec<String> = vars
            .iter()
            .map(|v| describe(v, &written_gvk(&v.objref), &v.fieldpath))
            .collect();
        format!("merging vars [{}]", listed.join(" "))
    };
    for var in vars {
        let gvk = target_gvk(&var.objref);
        let matched: Vec<usize> = (0..resources.len())
            .filter(|&i| picks(&var.objref, &gvk, &resources[i]))
            .collect();
        match matched.as_slice() {
            [] => {}
            [only] => resources[*only].var_names.push(var.name.clone()),
            many => {
                return Err(Error::new(
                    file,
                    format!(
                        "{}: found {} resId matches for var {} (unable to disambiguate)",
                        merging(),
                        many.len(),
                        describe(var, &gvk, &var.fieldpath)
                    ),
                ));
            }
        }
    }
    for var in vars {
        if set.vars.contains_key(&var.name) {
            let message = format!("{}: {}", merging(), already_encountered(&var.name));
            return Err(Error::new(file, message));
        }
        let declared = Declared {
            var: var.clone(),
            file: file.to_string(),
        };
        set.vars.insert(var.name.clone(), declared);
    }
    Ok(())
}

/// Expands `$(VAR)` in the `specs` fields of every object, once the build is done. Every
/// declared var must have a value, used or not; with no vars at all nothing is looked at.
pub fn resolve(set: &VarSet, resources: &mut [Resource], specs: &[FieldSpec]) -> Result<(), Error> {
    if set.vars.is_empty() {
        return Ok(());
    }
    let values = values(set, resources)?;
    for resource in resources.iter_mut() {
        let gvk = resource.gvk();
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            let mut root = Value::Object(std::mem::take(&mut resource.object));
            let path = split_escaped(&spec.path, '/');
            let result = walk(&mut root, &path, &values);
            if let Value::Object(object) = root {
                resource.object = object;
            }
            result.map_err(|e| {
                let message = format!(
                    "considering field '{}' of object {}: {e}",
                    spec.path,
                    resource.id()
                );
                Error::new(&resource.origin, message)
            })?;
        }
    }
    Ok(())
}

/// A var's value as kustomize reads it from a field.
#[derive(Clone, Debug, PartialEq)]
enum Primitive {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Primitive {
    /// The value a whole-string `$(VAR)` becomes: it keeps its type (a port stays a number).
    fn to_value(&self) -> Value {
        match self {
            Primitive::Text(s) => Value::String(s.clone()),
            Primitive::Int(i) => Value::Number((*i).into()),
            Primitive::Float(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(go_float_g(*f))),
            Primitive::Bool(b) => Value::Bool(*b),
        }
    }

    /// The text a `$(VAR)` inside a longer string becomes: Go's `%v`.
    fn to_text(&self) -> String {
        match self {
            Primitive::Text(s) => s.clone(),
            Primitive::Int(i) => i.to_string(),
            Primitive::Float(f) => go_float_g(*f),
            Primitive::Bool(b) => b.to_string(),
        }
    }
}

/// The values of the vars that can replace `$(NAME)`; a var holding a map or a list is left
/// out, so its references stay as written, as kustomize leaves them.
type Values = BTreeMap<String, Primitive>;

fn values(set: &VarSet, resources: &[Resource]) -> Result<Values, Error> {
    let mut values = Values::new();
    for (name, declared) in &set.vars {
        let var = &declared.var;
        let field_path = match var.fieldpath.as_str() {
            "" => DEFAULT_FIELD_PATH,
            path => path,
        };
        let shown = describe(var, &target_gvk(&var.objref), field_path);
        let Some(resource) = resources.iter().find(|r| r.var_names.contains(name)) else {
            let message =
                format!("var '{shown}' cannot be mapped to a field in the set of known resources");
            return Err(Error::new(&declared.file, message));
        };
        let root = Value::Object(resource.object.clone());
        match lookup(&root, &fieldpath_parts(field_path)).map(read) {
            Some(Ok(Some(value))) => {
                values.insert(name.clone(), value);
            }
            Some(Ok(None)) => {}
            None | Some(Err(())) => {
                let message =
                    format!("field specified in var '{shown}' not found in corresponding resource");
                return Err(Error::new(&declared.file, message));
            }
        }
    }
    Ok(values)
}

/// A field's value as kyaml's `GetFieldValue` gives it: scalars typed by their YAML tag (a
/// null is its text), `None` for a map or a list. An integer beyond 64 bits fails, as Go's
/// `Atoi` does.
fn read(value: &Value) -> Result<Option<Primitive>, ()> {
    Ok(Some(match value {
        Value::String(s) => Primitive::Text(s.clone()),
        Value::Bool(b) => Primitive::Bool(*b),
        Value::Null => Primitive::Text("null".into()),
        Value::Number(n) => match (n.as_i64(), n.is_u64()) {
            (Some(i), _) => Primitive::Int(i),
            (None, true) => return Err(()),
            (None, false) => Primitive::Float(n.as_f64().ok_or(())?),
        },
        Value::Object(_) | Value::Array(_) => return Ok(None),
    }))
}

/// The object a var's objref names: same group, version and kind (an objref without
/// `apiVersion` or `version` names nothing), the name it was given or had at any point,
/// and, when the objref has a namespace, that namespace ("" and "default" alike).
fn picks(target: &VarTarget, gvk: &Gvk, resource: &Resource) -> bool {
    let current = resource.gvk();
    if current != *gvk {
        return false;
    }
    resource.history.iter().any(|(namespace, name)| {
        let effective = if current.is_cluster_scoped() {
            // kustomize's own marker, never a namespace an objref gives in practice.
            "_non_namespaceable_"
        } else if namespace.is_empty() {
            "default"
        } else {
            namespace
        };
        *name == target.name && (target.namespace.is_empty() || target.namespace == effective)
    })
}

/// The objref's kind as written: `group` and `version` only.
fn written_gvk(target: &VarTarget) -> Gvk {
    Gvk {
        group: target.group.clone(),
        version: target.version.clone(),
        kind: target.kind.clone(),
    }
}

/// The objref's kind as kustomize reads it: `apiVersion`, when set, overrides the group and
/// version (`v1` only the version; a value with more than one slash neither).
fn target_gvk(target: &VarTarget) -> Gvk {
    let mut gvk = written_gvk(target);
    let parts: Vec<&str> = target.api_version.split('/').collect();
    match parts.as_slice() {
        [""] => {}
        [version] => gvk.version = version.to_string(),
        [group, version] => {
            gvk.group = group.to_string();
            gvk.version = version.to_string();
        }
        _ => {}
    }
    gvk
}

/// A var as kustomize prints it in errors: `{NAME Kind.version.group {fieldpath}}`.
fn describe(var: &Var, gvk: &Gvk, field_path: &str) -> String {
    format!("{{{} {gvk} {{{field_path}}}}}", var.name)
}

fn already_encountered(name: &str) -> String {
    format!("var '{name}' already encountered")
}

/// Splits a path on `delimiter` as kustomize does: a leading delimiter is ignored and a
/// backslash before one keeps it in the part.
fn split_escaped(path: &str, delimiter: char) -> Vec<String> {
    let mut parts: Vec<&str> = path.split(delimiter).collect();
    if parts.len() > 1 && parts[0].is_empty() {
        parts.remove(0);
    }
    let mut out: Vec<String> = Vec::new();
    for part in parts {
        match out.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push(delimiter);
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
    }
    out
}

/// Walks a varReference path as kustomize's fieldspec filter does (nothing created): lists
/// are walked element by element, a missing or null field ends the walk quietly, a scalar
/// before the end is an error. A null met at a `name[]` step becomes an empty list, as there.
fn walk(node: &mut Value, path: &[String], values: &Values) -> Result<(), String> {
    let Some((segment, rest)) = path.split_first() else {
        return set(node, values);
    };
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                walk(item, path, values)
                    .map_err(|e| format!("visit traversal on path: [{}]: {e}", path.join(" ")))?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (field, sequence) = match segment.strip_suffix("[]") {
                Some(field) => (field, true),
                None => (segment.as_str(), false),
            };
            if field.is_empty() {
                return Err("cannot set or create an empty field name".into());
            }
            let Some(child) = map.get_mut(field) else {
                return Ok(());
            };
            if sequence && child.is_null() {
                *child = Value::Array(Vec::new());
            }
            walk(child, rest, values)
        }
        _ => Err("expected sequence or mapping node".into()),
    }
}

/// Expands the value at the end of a path: a string; each string value of a map (others are
/// left); each item of a list, which must all be strings.
fn set(node: &mut Value, values: &Values) -> Result<(), String> {
    match node {
        Value::String(s) => {
            let expanded = expand(s, values);
            *node = expanded;
        }
        Value::Object(map) => {
            for value in map.values_mut() {
                if let Value::String(s) = value {
                    let expanded = expand(s, values);
                    *value = expanded;
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                let Value::String(s) = item else {
                    return Err("invalid value type expect a string".into());
                };
                let expanded = expand(s, values);
                *item = expanded;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// kustomize's expansion of one string. `$(NAME)` is the var's value: typed when it is the
/// whole string, its `%v` text inside a longer one; an unknown name stays as written. `$$`
/// is one `$`. Any other `$x` is kept, but Go reads the byte after `$` as a character of its
/// own, so a multi-byte character there comes out mangled (and, no longer UTF-8, is printed
/// as base64, as kustomize prints it): the walk is over bytes for that reason.
fn expand(input: &str, values: &Values) -> Value {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.extend_from_slice(&bytes[checkpoint..cursor]);
            let advance = match bytes[cursor + 1] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match bytes[cursor + 2..].iter().position(|&b| b == b')') {
                    Some(length) => {
                        let name = &input[cursor + 2..cursor + 2 + length];
                        let value = values.get(name);
                        if cursor == 0 && length + 3 == bytes.len() {
                            return value
                                .map_or_else(|| Value::String(input.into()), |v| v.to_value());
                        }
                        match value {
                            Some(value) => out.extend_from_slice(value.to_text().as_bytes()),
                            None => out.extend_from_slice(format!("$({name})").as_bytes()),
                        }
                        length + 2
                    }
                    // No closing parenthesis: `$(` is kept and the scan goes on after it.
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    out.push(b'$');
                    push_byte_as_char(&mut out, other);
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint..]);
    match String::from_utf8(out) {
        Ok(text) => Value::String(text),
        Err(e) => Value::String(crate::generator::wrapped_base64(e.as_bytes())),
    }
}

/// Go's `string(b)` for a byte: the character U+00bb, in UTF-8.
fn push_byte_as_char(out: &mut Vec<u8>, byte: u8) {
    let mut buffer = [0; 2];
    out.extend_from_slice(char::from(byte).encode_utf8(&mut buffer).as_bytes());
}

/// A var's fieldpath as kyaml splits it: on dots (a backslash escapes one), `[a.b]` one key
/// with dots, `[name=value]` a list element by field, `ports[0]` a field then an index.
fn fieldpath_parts(path: &str) -> Vec<String> {
    let split = split_escaped(path, '.');
    let mut parts = Vec::new();
    let mut i = 0;
    while i < split.len() {
        let element = &split[i];
        if element.starts_with('[') && !element.ends_with(']') {
            let mut bracketed = vec![element.clone()];
            while i + 1 < split.len() {
                i += 1;
                bracketed.push(split[i].clone());
                if split[i].ends_with(']') {
                    break;
                }
            }
            let joined = bracketed.join(".");
            if joined.contains('=') {
                parts.push(joined);
            } else {
                parts.push(joined.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            parts.push(element.clone());
        }
        i += 1;
    }
    parts
        .into_iter()
        .flat_map(split_index)
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `name[3]` is `name` then `3`; `[3]` is `3`.
fn split_index(part: String) -> Vec<String> {
    if let Some(body) = part.strip_suffix(']')
        && let Some(open) = body.rfind('[')
    {
        let digits = &body[open + 1..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let mut out = Vec::new();
            if open > 0 {
                out.push(body[..open].to_string());
            }
            out.push(digits.to_string());
            return out;
        }
    }
    vec![part]
}

/// Follows fieldpath parts as kyaml's `Lookup` does: a number indexes a list, `-` is its last
/// element, `[field=value]` its first map element with that field, `[=value]` its first
/// scalar with that text; anything else is a map key. `None`: not found or not walkable.
fn lookup<'a>(root: &'a Value, parts: &[String]) -> Option<&'a Value> {
    let mut node = root;
    for part in parts {
        node = if let Ok(index) = part.parse::<i64>() {
            node.as_array()?.get(usize::try_from(index).ok()?)?
        } else if part == "-" {
            node.as_array()?.last()?
        } else if part == "*" {
            return None;
        } else if part.starts_with('[') && part.ends_with(']') {
            let (field, wanted) = part[1..part.len() - 1].split_once('=')?;
            node.as_array()?.iter().find(|item| match (field, item) {
                ("", item) => scalar_text(item) == wanted,
                (field, Value::Object(map)) => {
                    map.get(field).is_some_and(|v| scalar_text(v) == wanted)
                }
                _ => false,
            })?
        } else {
            node.as_object()?.get(part.as_str())?
        };
    }
    Some(node)
}

/// A node's text as go-yaml holds it, for `[field=value]` matching; maps and lists have none.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Object(_) | Value::Array(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> Values {
        let mut values = Values::new();
        values.insert("SVC".into(), Primitive::Text("p-svc".into()));
        values.insert("PORT".into(), Primitive::Int(8080));
        values.insert("RATIO".into(), Primitive::Float(1e7));
        values.insert("ON".into(), Primitive::Bool(true));
        values.insert("".into(), Primitive::Text("empty".into()));
        values
    }

    fn text(input: &str) -> Value {
        expand(input, &values())
    }

    #[test]
    fn whole_string_references_keep_the_value_type() {
        assert_eq!(text("$(SVC)"), json!("p-svc"));
        assert_eq!(text("$(PORT)"), json!(8080));
        assert_eq!(text("$(RATIO)"), json!(1e7));
        assert_eq!(text("$(ON)"), json!(true));
        assert_eq!(text("$(UNKNOWN)"), json!("$(UNKNOWN)"));
    }

    #[test]
    fn references_inside_strings_are_go_text() {
        assert_eq!(text("http://$(SVC):$(PORT)/"), json!("http://p-svc:8080/"));
        assert_eq!(text("x$(RATIO)"), json!("x1e+07"));
        assert_eq!(text("$(ON)!"), json!("true!"));
        assert_eq!(text("$(SVC)$(SVC)"), json!("p-svcp-svc"));
        assert_eq!(text("a $(UNKNOWN) b"), json!("a $(UNKNOWN) b"));
    }

    #[test]
    fn dollar_escapes_and_incomplete_references() {
        assert_eq!(text("$$(SVC)"), json!("$(SVC)"));
        assert_eq!(text("$$$(SVC)"), json!("$p-svc"));
        assert_eq!(text("a$$b"), json!("a$b"));
        assert_eq!(text("$"), json!("$"));
        assert_eq!(text("$x"), json!("$x"));
        assert_eq!(text("$("), json!("$("));
        assert_eq!(text("$(SVC"), json!("$(SVC"));
        assert_eq!(text("$(SVC))"), json!("p-svc)"));
        assert_eq!(text("$(SVC $(SVC))"), json!("$(SVC $(SVC))"));
        assert_eq!(text("$()"), json!("empty"));
        assert_eq!(text("é$(SVC)é"), json!("ép-svcé"));
    }

    #[test]
    fn a_multibyte_character_after_a_dollar_is_mangled_as_kustomize_does() {
        // Go copies the byte after `$` as the character U+00C3, then the rest of `é`.
        assert_eq!(text("a$é"), json!("YSTDg6k="));
        // Past 70 characters of base64, go-yaml breaks lines (as kubectl prints it).
        let long = format!("a$é{}", "a".repeat(103));
        let a = "YWFh".repeat(17);
        let expected = format!("YSTDg6lh{}YW\nFh{}\nYWFh\n", &a[..60], &a[..68]);
        assert_eq!(text(&long), json!(expected));
    }

    #[test]
    fn fieldpaths_split_as_kyaml_splits_them() {
        assert_eq!(fieldpath_parts("metadata.name"), ["metadata", "name"]);
        assert_eq!(
            fieldpath_parts("spec.ports[0].port"),
            ["spec", "ports", "0", "port"]
        );
        assert_eq!(
            fieldpath_parts("metadata.annotations.[a.b/c]"),
            ["metadata", "annotations", "a.b/c"]
        );
        assert_eq!(
            fieldpath_parts("spec.containers.[name=web.x].image"),
            ["spec", "containers", "[name=web.x]", "image"]
        );
        assert_eq!(fieldpath_parts(r"data.a\.b"), ["data", "a.b"]);
        assert_eq!(fieldpath_parts(".spec..x"), ["spec", "x"]);
    }

    #[test]
    fn lookups_follow_lists_by_index_and_by_field() {
        let object = json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}],
            "args": ["x", "y"], "n": null}});
        let find = |path: &str| lookup(&object, &fieldpath_parts(path)).cloned();
        assert_eq!(find("spec.ports[1].port"), Some(json!(81)));
        assert_eq!(find("spec.ports.0.name"), Some(json!("a")));
        assert_eq!(find("spec.ports.-.name"), Some(json!("b")));
        assert_eq!(find("spec.ports.[name=b].port"), Some(json!(81)));
        assert_eq!(find("spec.args.[=y]"), Some(json!("y")));
        assert_eq!(find("spec.ports[2].port"), None);
        assert_eq!(find("spec.ports.name"), None);
        assert_eq!(find("spec.n.x"), None);
        assert_eq!(find("spec.n"), Some(Value::Null));
        assert_eq!(find("spec.ports.*"), None);
    }

    #[test]
    fn values_read_as_kustomize_types_them() {
        assert_eq!(read(&json!("a")), Ok(Some(Primitive::Text("a".into()))));
        assert_eq!(read(&json!(5)), Ok(Some(Primitive::Int(5))));
        assert_eq!(read(&json!(1.5)), Ok(Some(Primitive::Float(1.5))));
        assert_eq!(read(&Value::Null), Ok(Some(Primitive::Text("null".into()))));
        assert_eq!(read(&json!({"a": 1})), Ok(None));
        assert_eq!(read(&json!(u64::MAX)), Err(()));
    }

    #[test]
    fn walks_report_where_kustomize_fails() {
        let mut object = json!({"spec": {"containers": [{"args": ["$(SVC)", 5]}]}});
        let path = split_escaped("spec/containers/args", '/');
        assert_eq!(
            walk(&mut object, &path, &values()),
            Err("visit traversal on path: [args]: invalid value type expect a string".into())
        );
        let mut object = json!({"spec": {"containers": "x"}});
        assert!(walk(&mut object, &path, &values()).is_err());
        let mut object =
            json!({"spec": {"containers": [{"env": [{"value": "$(PORT)"}, {"value": 1}]}]}});
        let path = split_escaped("spec/containers/env/value", '/');
        assert_eq!(walk(&mut object, &path, &values()), Ok(()));
        assert_eq!(
            object["spec"]["containers"][0]["env"][0]["value"],
            json!(8080)
        );
        let mut object = json!({"metadata": {"labels": {"a": "$(SVC)", "b": 1}}});
        walk(
            &mut object,
            &split_escaped("metadata/labels", '/'),
            &values(),
        )
        .unwrap();
        assert_eq!(
            object,
            json!({"metadata": {"labels": {"a": "p-svc", "b": 1}}})
        );
    }

    #[test]
    fn objref_api_version_overrides_group_and_version() {
        let target = |api_version: &str, group: &str| VarTarget {
            api_version: api_version.into(),
            group: group.into(),
            kind: "Service".into(),
            ..VarTarget::default()
        };
        assert_eq!(
            target_gvk(&target("v1", "")).to_string(),
            "Service.v1.[noGrp]"
        );
        assert_eq!(
            target_gvk(&target("apps/v1", "x")).to_string(),
            "Service.v1.apps"
        );
        assert_eq!(target_gvk(&target("v1", "x")).to_string(), "Service.v1.x");
        assert_eq!(
            target_gvk(&target("", "")).to_string(),
            "Service.[noVer].[noGrp]"
        );
    }
}
