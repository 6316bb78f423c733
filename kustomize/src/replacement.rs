//! kustomize's `replacements`: a value read from one object's field (or given as
//! `sourceValue`) written into fields of the objects each target selects. They run after the
//! other built-in transformers of their kustomization, one after the other.
//!
//! Types follow kyaml: a scalar written over a scalar keeps the target's type (the text is
//! re-read as that type, and kustomize fails when it cannot be), a created field takes the
//! type its text reads as, and a value replacing a map or list keeps the source's type.

use crate::fieldpath::{self, Create, Key, WalkError, Walker, is_scalar, scalar_text};
use crate::kustomization::{
    FieldOptions, Replacement, ReplacementSource, ReplacementTarget, Selector,
};
use crate::resource::{ResId, Resource};
use crate::selector::{Requirement, parse_requirements};
use crate::yaml;
use regex::Regex;
use serde_json::{Map, Value};

/// kustomize's source and target path when none is given.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// A replacement ready to run, with how errors name it.
#[derive(Debug)]
pub struct Loaded {
    label: String,
    replacement: Replacement,
}

/// Reads the `replacements` entries, loading `path` ones with `read`. kustomize does this
/// before any transformer runs, so a bad file fails the build before a bad patch does.
pub fn load(
    entries: &[Replacement],
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<Loaded>, String> {
    let mut loaded = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let label = format!("replacements[{i}]");
        let path = entry.path.as_deref().unwrap_or("");
        let inline_targets = entry.targets.as_ref().is_some_and(|t| !t.is_empty());
        if !path.is_empty() && (entry.source.is_some() || inline_targets) {
            return Err(format!(
                "{label}: cannot specify both path and inline replacement"
            ));
        }
        if path.is_empty() {
            let mut replacement = entry.clone();
            // kustomize passes inline entries on through YAML that drops empty lists.
            replacement.targets = replacement.targets.filter(|t| !t.is_empty());
            loaded.push(Loaded { label, replacement });
            continue;
        }
        let text = read(path).map_err(|e| format!("{label}: {e}"))?;
        let file_entries =
            parse_file(&text).map_err(|e| format!("{label}: replacement file '{path}': {e}"))?;
        for (j, replacement) in file_entries.into_iter().enumerate() {
            loaded.push(Loaded {
                label: format!("{label} ('{path}' entry {j})"),
                replacement,
            });
        }
    }
    Ok(loaded)
}

/// A replacements file: a list of replacements or a single one. Like kustomize, only the
/// first YAML document counts and unknown fields are ignored.
fn parse_file(text: &str) -> Result<Vec<Replacement>, String> {
    let documents = yaml::parse_yaml11(text).map_err(|e| {
        let message = e.to_string();
        format!(
            "invalid YAML: {}",
            message.lines().next().unwrap_or_default()
        )
    })?;
    let document = documents.into_iter().next().unwrap_or(Value::Null);
    let one = |value: &Value| -> Result<Replacement, String> {
        if !value.is_object() {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type types.Replacement",
                crate::kustomization::type_name(value)
            ));
        }
        serde_json::from_value(known_fields(value, REPLACEMENT_FIELDS)).map_err(|e| e.to_string())
    };
    match &document {
        Value::Array(items) => items.iter().map(one).collect(),
        Value::Object(_) => Ok(vec![one(&document)?]),
        other => Err(format!(
            "unsupported replacement type encountered within replacement path: {}",
            go_kind(other)
        )),
    }
}

/// A field kustomize reads in a replacements file, by its spelling there, with the fields
/// of its value when that is a map or a list of maps.
struct Field {
    name: &'static str,
    inner: &'static [Field],
}

const fn field(name: &'static str) -> Field {
    Field { name, inner: &[] }
}

const SELECTOR_FIELDS: &[Field] = &[
    field("group"),
    field("version"),
    field("kind"),
    field("name"),
    field("namespace"),
    field("labelSelector"),
    field("annotationSelector"),
];
const OPTION_FIELDS: &[Field] = &[
    field("delimiter"),
    field("index"),
    field("encoding"),
    field("create"),
];
const SOURCE_FIELDS: &[Field] = &[
    field("group"),
    field("version"),
    field("kind"),
    field("name"),
    field("namespace"),
    field("fieldPath"),
    Field {
        name: "options",
        inner: OPTION_FIELDS,
    },
];
const TARGET_FIELDS: &[Field] = &[
    Field {
        name: "select",
        inner: SELECTOR_FIELDS,
    },
    Field {
        name: "reject",
        inner: SELECTOR_FIELDS,
    },
    field("fieldPaths"),
    Field {
        name: "options",
        inner: OPTION_FIELDS,
    },
];
const REPLACEMENT_FIELDS: &[Field] = &[
    Field {
        name: "source",
        inner: SOURCE_FIELDS,
    },
    Field {
        name: "targets",
        inner: TARGET_FIELDS,
    },
    field("sourceValue"),
];

/// `value` with only the fields kustomize knows, names matched without regard to case as
/// Go's JSON decoding does.
fn known_fields(value: &Value, fields: &[Field]) -> Value {
    match value {
        Value::Object(map) if !fields.is_empty() => {
            let mut out = Map::new();
            for (key, item) in map {
                if let Some(field) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)) {
                    out.insert(field.name.to_string(), known_fields(item, field.inner));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) if !fields.is_empty() => Value::Array(
            items
                .iter()
                .map(|item| known_fields(item, fields))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The Go kind of a decoded YAML value, as kustomize's error names it.
fn go_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// Runs the replacements in order over `resources`; on error nothing is changed.
pub fn apply(replacements: &[Loaded], resources: &mut [Resource]) -> Result<(), String> {
    if replacements.is_empty() {
        return Ok(());
    }
    let mut work = resources.to_vec();
    for loaded in replacements {
        apply_one(&loaded.replacement, &mut work).map_err(|e| format!("{}: {e}", loaded.label))?;
    }
    resources.clone_from_slice(&work);
    Ok(())
}

fn apply_one(replacement: &Replacement, resources: &mut [Resource]) -> Result<(), String> {
    let targets = match (
        &replacement.source,
        &replacement.source_value,
        &replacement.targets,
    ) {
        (None, None, _) | (_, _, None) => {
            return Err("replacements must specify a source and at least one target".into());
        }
        (Some(_), Some(_), _) => {
            return Err("value and resource selectors are mutually exclusive".into());
        }
        (_, _, Some(targets)) => targets,
    };
    let value = match (&replacement.source, &replacement.source_value) {
        (_, Some(given)) => SourceValue {
            node: Node::Scalar(Tag::Untagged),
            text: given.clone(),
        },
        (Some(source), None) => source_value(source, resources)?,
        (None, None) => unreachable!("refused above"),
    };
    for target in targets {
        apply_target(target, &value, resources)?;
    }
    Ok(())
}

/// The value a source selects: exactly one object (by any id it has had), its field.
fn source_value(source: &ReplacementSource, resources: &[Resource]) -> Result<SourceValue, String> {
    let mut selected = resources
        .iter()
        .filter(|r| r.all_ids().iter().any(|id| source_selects(source, id)));
    let resource = match (selected.next(), selected.next()) {
        (Some(one), None) => one,
        (Some(_), Some(_)) => {
            return Err(format!(
                "multiple matches for selector {}",
                source_text(source)
            ));
        }
        (None, _) => return Err(format!("nothing selected by {}", source_text(source))),
    };
    let field_path = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let root = Value::Object(resource.object.clone());
    let found = fieldpath::lookup(&root, &fieldpath::split(field_path))
        .map_err(|e| format!("error looking up replacement source: {e}"))?
        .and_then(|keys| fieldpath::get(&root, &keys));
    let value = match found {
        Some(v) if !is_nil_or_empty(v) => v,
        _ => {
            return Err(format!(
                "fieldPath `{field_path}` is missing for replacement source {}",
                id_text(
                    &source.group,
                    &source.version,
                    &source.kind,
                    &source.name,
                    &source.namespace
                )
            ));
        }
    };
    refine(SourceValue::of(value), source.options.as_ref())
}

/// The last line of a multi-line error (the regex and YAML parsers draw the input first).
pub fn last_line(message: &str) -> &str {
    message.trim_end().lines().last().unwrap_or(message).trim()
}

/// kyaml's "nil or empty": null, an empty map or an empty list.
fn is_nil_or_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// A source's `options`: with a delimiter, the value is the `index`th piece of its text.
fn refine(mut value: SourceValue, options: Option<&FieldOptions>) -> Result<SourceValue, String> {
    let Some(options) = options.filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value);
    };
    if !matches!(value.node, Node::Scalar(_)) {
        return Err("delimiter option can only be used with scalar nodes".into());
    }
    let pieces: Vec<&str> = value.text.split(options.delimiter.as_str()).collect();
    let piece = usize::try_from(options.index)
        .ok()
        .and_then(|i| pieces.get(i))
        .ok_or_else(|| {
            format!(
                "options.index {} is out of bounds for value {}",
                options.index, value.text
            )
        })?;
    value.text = piece.to_string();
    Ok(value)
}

/// kustomize's id matching for sources: exact names, namespaces compared as effective
/// ("" is "default"), each given part of the group/version/kind equal.
fn source_selects(source: &ReplacementSource, id: &ResId) -> bool {
    let effective = |ns: &str| if ns.is_empty() { "default" } else { ns }.to_string();
    (source.name.is_empty() || source.name == id.name)
        && (source.namespace.is_empty() || effective(&source.namespace) == effective(&id.namespace))
        && (source.group.is_empty() || source.group == id.gvk.group)
        && (source.version.is_empty() || source.version == id.gvk.version)
        && (source.kind.is_empty() || source.kind == id.gvk.kind)
}

/// An id as kustomize prints it: `Kind.version.group/name.namespace`, placeholders for
/// the parts not given.
fn id_text(group: &str, version: &str, kind: &str, name: &str, namespace: &str) -> String {
    let or = |s: &str, none: &'static str| if s.is_empty() { none } else { s }.to_string();
    format!(
        "{}.{}.{}/{}.{}",
        or(kind, "[noKind]"),
        or(version, "[noVer]"),
        or(group, "[noGrp]"),
        or(name, "[noName]"),
        or(namespace, "[noNs]")
    )
}

/// A source as kustomize prints it: its id, then its field path and options if given.
fn source_text(source: &ReplacementSource) -> String {
    let mut parts = vec![id_text(
        &source.group,
        &source.version,
        &source.kind,
        &source.name,
        &source.namespace,
    )];
    if !source.field_path.is_empty() {
        parts.push(source.field_path.clone());
    }
    if let Some(o) = source
        .options
        .as_ref()
        .filter(|o| !o.delimiter.is_empty() || o.create)
    {
        parts.push(format!("{}({}), create={}", o.delimiter, o.index, o.create));
    }
    parts.join(":")
}

/// A target's `select` or one of its `reject`s, ready to match.
struct Matcher {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
    /// Whether any of group, version, kind, name or namespace is given.
    has_id: bool,
    has_metadata_selector: bool,
}

impl Matcher {
    fn new(selector: &Selector) -> Result<Matcher, String> {
        let anchored = |pattern: &str| -> Result<Option<Regex>, String> {
            if pattern.is_empty() {
                return Ok(None);
            }
            Regex::new(&format!("^(?:{pattern})$"))
                .map(Some)
                .map_err(|e| {
                    format!(
                        "error creating target selector: invalid regular expression {pattern:?}: {}",
                        last_line(&e.to_string())
                    )
                })
        };
        let requirements = |field: &str, text: &Option<String>| {
            parse_requirements(text.as_deref().unwrap_or(""))
                .map_err(|e| format!("{field} {:?}: {e}", text.as_deref().unwrap_or("")))
        };
        let s = selector;
        Ok(Matcher {
            group: anchored(&s.group)?,
            version: anchored(&s.version)?,
            kind: anchored(&s.kind)?,
            name: anchored(&s.name)?,
            namespace: anchored(&s.namespace)?,
            labels: requirements("labelSelector", &s.label_selector)?,
            annotations: requirements("annotationSelector", &s.annotation_selector)?,
            has_id: [&s.group, &s.version, &s.kind, &s.name, &s.namespace]
                .iter()
                .any(|p| !p.is_empty()),
            has_metadata_selector: s.label_selector.as_deref().is_some_and(|l| !l.is_empty())
                || s.annotation_selector
                    .as_deref()
                    .is_some_and(|a| !a.is_empty()),
        })
    }

    /// Group, version, kind, name and namespace (as written, not made effective).
    fn matches_id(&self, id: &ResId) -> bool {
        let ok =
            |regex: &Option<Regex>, text: &str| regex.as_ref().is_none_or(|r| r.is_match(text));
        ok(&self.group, &id.gvk.group)
            && ok(&self.version, &id.gvk.version)
            && ok(&self.kind, &id.gvk.kind)
            && ok(&self.name, &id.name)
            && ok(&self.namespace, &id.namespace)
    }

    fn matches_metadata(&self, resource: &Resource) -> bool {
        let empty = Map::new();
        let labels = resource.labels().unwrap_or(&empty);
        let annotations = resource.annotations().unwrap_or(&empty);
        self.labels.iter().all(|r| r.matches(labels))
            && self.annotations.iter().all(|r| r.matches(annotations))
    }
}

/// Whether a target takes `resource`. As in kustomize, a `reject` entry rejects an object
/// its label/annotation selectors match, and also one any of its ids match: the two are
/// not combined.
fn target_takes(select: &Matcher, rejects: &[Matcher], resource: &Resource) -> bool {
    if !select.matches_metadata(resource) {
        return false;
    }
    if rejects
        .iter()
        .any(|r| r.has_metadata_selector && r.matches_metadata(resource))
    {
        return false;
    }
    let ids = resource.all_ids();
    if rejects
        .iter()
        .any(|r| r.has_id && ids.iter().any(|id| r.matches_id(id)))
    {
        return false;
    }
    ids.iter().any(|id| select.matches_id(id))
}

fn apply_target(
    target: &ReplacementTarget,
    value: &SourceValue,
    resources: &mut [Resource],
) -> Result<(), String> {
    let select = target
        .select
        .as_ref()
        .ok_or("target must specify resources to select")?;
    let select = Matcher::new(select)?;
    let rejects = target
        .reject
        .iter()
        .map(Matcher::new)
        .collect::<Result<Vec<_>, _>>()?;
    let default_paths = [DEFAULT_FIELD_PATH.to_string()];
    let field_paths = if target.field_paths.is_empty() {
        &default_paths[..]
    } else {
        &target.field_paths[..]
    };
    for resource in resources
        .iter_mut()
        .filter(|r| target_takes(&select, &rejects, r))
    {
        copy_to_resource(resource, value, field_paths, target.options.as_ref())
            .map_err(|e| format!("target {}: {e}", resource.id()))?;
    }
    Ok(())
}

fn copy_to_resource(
    resource: &mut Resource,
    value: &SourceValue,
    field_paths: &[String],
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    // kustomize keeps its build annotations in `metadata.annotations` during the build, so
    // that map exists for a target path on any object they were put on.
    if resource.build_annotations {
        let metadata = resource.metadata_mut();
        if !metadata.get("annotations").is_some_and(Value::is_object) {
            metadata.insert("annotations".into(), Value::Object(Map::new()));
        }
    }
    let before = (resource.namespace(), resource.name());
    let mut root = Value::Object(std::mem::take(&mut resource.object));
    let result = field_paths
        .iter()
        .try_for_each(|path| copy_to_field(&mut root, value, path, options));
    if let Value::Object(map) = root {
        resource.object = map;
    }
    resource.drop_empty_annotations();
    if (resource.namespace(), resource.name()) != before {
        note_new_identity(resource, &before);
    }
    result
}

/// A replacement that renames or moves an object records no previous id in kustomize, so
/// references to the identity it replaced are not renamed later, unless a transformer had
/// recorded that identity before.
fn note_new_identity(resource: &mut Resource, before: &(String, String)) {
    let effective = |ns: &str| if ns.is_empty() { "default" } else { ns }.to_string();
    let recorded = resource
        .previous_ids
        .iter()
        .any(|p| p.name == before.1 && effective(&p.namespace) == effective(&before.0));
    if !recorded && resource.history.last() == Some(before) {
        resource.history.pop();
    }
    resource.remember_identity();
}

/// Writes `value` at `path` in one object: first into YAML or JSON held in a string field
/// on the way (kustomize's structured data), else along the path itself.
fn copy_to_field(
    root: &mut Value,
    value: &SourceValue,
    path: &str,
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    let parts = fieldpath::split(path);
    let create = options.filter(|o| o.create).map(|_| value.create_kind());
    // kustomize v5.8.1 ignores the delimiter inside structured data.
    let mut whole = |node: &mut Value, untagged: bool| set_field(node, untagged, value, None);
    if set_in_embedded(root, &parts, create, &mut whole) {
        return Ok(());
    }
    let mut visit = |node: &mut Value, untagged: bool| set_field(node, untagged, value, options);
    let not_found = match create {
        Some(_) => format!("unable to find or create field {path:?} in replacement target"),
        None => format!("unable to find field {path:?} in replacement target"),
    };
    let mut walker = Walker {
        create,
        visit: &mut visit,
        visited: 0,
    };
    match walker.walk(root, &parts) {
        Err(WalkError::Path(e)) => Err(format!("{not_found}: {e}")),
        Err(WalkError::Set(e)) => Err(format!("field {path:?}: {e}")),
        Ok(()) if walker.visited == 0 => Err(not_found),
        Ok(()) => Ok(()),
    }
}

/// kustomize's structured data: the first field on `parts` that is a string holding a YAML
/// or JSON map or list is parsed, the rest of the path written inside, and the text
/// rewritten (JSON as Go prints it, pretty if it was; YAML as kustomize prints it). Any
/// failure leaves the object as it was: the caller then walks the path as usual.
fn set_in_embedded(
    root: &mut Value,
    parts: &[String],
    create: Option<Create>,
    visit: &mut fieldpath::Visit<'_>,
) -> bool {
    if parts.len() < 2 {
        return false;
    }
    let Some((keys, at)) = embedded_field(root, parts) else {
        return false;
    };
    let Some(Value::String(text)) = fieldpath::get(root, &keys) else {
        return false;
    };
    let Ok(mut document) = fieldpath::parse_embedded(text) else {
        return false;
    };
    let mut walker = Walker {
        create,
        visit,
        visited: 0,
    };
    if walker.walk(&mut document, &parts[at..]).is_err() || walker.visited == 0 {
        return false;
    }
    let rewritten = if text.trim_start().starts_with(['{', '[']) {
        let pretty = text.contains('\n') && text.contains("  ");
        go_json(&document, pretty)
    } else {
        fieldpath::node_text(&document).trim().to_string()
    };
    if let Some(field) = fieldpath::get_mut(root, &keys) {
        *field = Value::String(rewritten);
    }
    true
}

/// The first path prefix (source-style lookup) reaching a scalar with path left whose text
/// reads as YAML; only a map or list there can take the rest of the path.
fn embedded_field(root: &Value, parts: &[String]) -> Option<(Vec<Key>, usize)> {
    for at in 1..parts.len() {
        let Ok(Some(keys)) = fieldpath::lookup(root, &parts[..at]) else {
            continue;
        };
        let node = fieldpath::get(root, &keys)?;
        if is_scalar(node) && fieldpath::parse_embedded(&scalar_text(node)).is_ok() {
            // kustomize stops at this field whatever it holds; null never takes a path.
            return (!node.is_null()).then_some((keys, at));
        }
    }
    None
}

/// kyaml's `setFieldValue`: the delimiter option splices the value into the target's text;
/// a scalar target keeps its type, anything else is replaced by the value.
fn set_field(
    target: &mut Value,
    untagged: bool,
    value: &SourceValue,
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    let mut text = value.text.clone();
    if let Some(options) = options.filter(|o| !o.delimiter.is_empty()) {
        if !is_scalar(target) {
            return Err("delimiter option can only be used with scalar nodes".into());
        }
        let current = if untagged {
            String::new()
        } else {
            scalar_text(target)
        };
        let mut pieces: Vec<&str> = current.split(options.delimiter.as_str()).collect();
        match usize::try_from(options.index) {
            Err(_) => pieces.insert(0, &value.text),
            Ok(i) if i >= pieces.len() => pieces.push(&value.text),
            Ok(i) => pieces[i] = &value.text,
        }
        text = pieces.join(&options.delimiter);
    }
    *target = if untagged {
        resolve_untagged(&text)?
    } else if is_scalar(target) {
        decode(Tag::of(target), &text)?
    } else {
        value.as_node(&text)?
    };
    Ok(())
}

/// The replacement value: a scalar (its YAML type and text) or a map or list.
#[derive(Clone, Debug)]
struct SourceValue {
    node: Node,
    /// A scalar's text; empty for maps and lists, as kyaml's node value is.
    text: String,
}

#[derive(Clone, Debug)]
enum Node {
    Scalar(Tag),
    Tree(Value),
}

impl SourceValue {
    fn of(value: &Value) -> SourceValue {
        let node = if is_scalar(value) {
            Node::Scalar(Tag::of(value))
        } else {
            Node::Tree(value.clone())
        };
        SourceValue {
            node,
            text: scalar_text(value),
        }
    }

    fn create_kind(&self) -> Create {
        match &self.node {
            Node::Scalar(_) => Create::Scalar,
            Node::Tree(Value::Array(_)) => Create::List,
            Node::Tree(_) => Create::Map,
        }
    }

    /// The value where it replaces a map or list: itself, a scalar of its own type.
    fn as_node(&self, text: &str) -> Result<Value, String> {
        match &self.node {
            Node::Scalar(tag) => decode(*tag, text),
            Node::Tree(tree) => Ok(tree.clone()),
        }
    }
}

/// A scalar's YAML type; `Untagged` is text whose type is read from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Str,
    Int,
    Float,
    Bool,
    Null,
    Untagged,
}

impl Tag {
    fn of(value: &Value) -> Tag {
        match value {
            Value::String(_) => Tag::Str,
            Value::Number(n) if n.is_f64() => Tag::Float,
            Value::Number(_) => Tag::Int,
            Value::Bool(_) => Tag::Bool,
            _ => Tag::Null,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tag::Str | Tag::Untagged => "!!str",
            Tag::Int => "!!int",
            Tag::Float => "!!float",
            Tag::Bool => "!!bool",
            Tag::Null => "!!null",
        }
    }
}

/// `text` read as a scalar of type `tag`, as go-yaml decodes a tagged node: the text must
/// read as that type (an integer does for a float).
fn decode(tag: Tag, text: &str) -> Result<Value, String> {
    match tag {
        Tag::Str => Ok(Value::String(text.to_string())),
        Tag::Untagged => resolve_untagged(text),
        tag => match resolve(text) {
            (found, value) if found == tag || (tag == Tag::Float && found == Tag::Int) => value,
            (found, _) => Err(format!(
                "yaml: cannot decode {} `{text}` as a {}",
                found.name(),
                tag.name()
            )),
        },
    }
}

/// Untyped text as kustomize's output reads it (go-yaml v3): `true`, `3`, `0755` and `~`
/// are not strings.
pub fn resolve_untagged(text: &str) -> Result<Value, String> {
    resolve(text).1
}

/// go-yaml v3's plain-scalar resolution, to a JSON value; infinities and NaN are errors.
fn resolve(text: &str) -> (Tag, Result<Value, String>) {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return (Tag::Null, Ok(Value::Null)),
        "true" | "True" | "TRUE" => return (Tag::Bool, Ok(Value::Bool(true))),
        "false" | "False" | "FALSE" => return (Tag::Bool, Ok(Value::Bool(false))),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return float(f64::NAN),
        _ => {}
    }
    let string = (Tag::Str, Ok(Value::String(text.to_string())));
    match text.as_bytes()[0] {
        b'.' => match text.parse::<f64>() {
            Ok(f) if f.is_finite() && go_float_syntax(text) => float(f),
            _ => string,
        },
        b'0'..=b'9' | b'+' | b'-' => {
            // go-yaml reads dates as timestamps, which kustomize prints in RFC 3339; flux-rs
            // keeps them as written (docs/compatibility.md), here as everywhere.
            let plain = text.replace('_', "");
            if let Some(n) = go_parse_int(&plain) {
                return (Tag::Int, Ok(n));
            }
            match plain.parse::<f64>() {
                Ok(f) if f.is_finite() && float_pattern().is_match(&plain) => float(f),
                _ => string,
            }
        }
        _ => string,
    }
}

/// A float; JSON has no infinities or NaN, so kustomize fails on them when it prints.
fn float(f: f64) -> (Tag, Result<Value, String>) {
    let value = serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| {
            let go = if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            format!("json: unsupported value: {go}")
        });
    (Tag::Float, value)
}

/// Decimal digits with an optional point and exponent, as Go's ParseFloat reads them
/// after a leading dot.
fn go_float_syntax(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

fn float_pattern() -> &'static Regex {
    static PATTERN: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid")
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: a sign, `0x`/`0o`/`0b` or a
/// leading `0` (octal) prefix.
fn go_parse_int(text: &str) -> Option<Value> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(-(i128::from(magnitude))).ok()?;
        Some(Value::from(value))
    } else {
        Some(Value::from(magnitude))
    }
}

/// JSON as Go's `encoding/json` writes a decoded YAML document: keys sorted, `<`, `>` and
/// `&` escaped, floats in Go's form; `pretty` as `MarshalIndent` with two spaces.
fn go_json(value: &Value, pretty: bool) -> String {
    let mut out = String::new();
    write_go_json(value, pretty.then_some(0), &mut out);
    out
}

fn write_go_json(value: &Value, indent: Option<usize>, out: &mut String) {
    let newline = |out: &mut String, level: usize| {
        if indent.is_some() {
            out.push('\n');
            out.push_str(&"  ".repeat(level));
        }
    };
    let level = indent.unwrap_or(0);
    let inner = indent.map(|l| l + 1);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                out.push_str(&go_json_string(key));
                out.push_str(if indent.is_some() { ": " } else { ":" });
                write_go_json(&map[key], inner, out);
            }
            newline(out, level);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                write_go_json(item, inner, out);
            }
            newline(out, level);
            out.push(']');
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        Value::String(s) => out.push_str(&go_json_string(s)),
        Value::Number(n) if n.is_f64() => out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0))),
        other => out.push_str(&other.to_string()),
    }
}

fn go_json_string(s: &str) -> String {
    serde_json::to_string(s)
        .expect("a string serialises")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Go's JSON float: shortest decimal, exponent form below 1e-6 and from 1e21.
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let scientific = format!("{f:e}");
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        let digits = exponent.unsigned_abs();
        return if exponent < 0 {
            format!("{mantissa}e{sign}{digits}")
        } else {
            format!("{mantissa}e{sign}{digits:02}")
        };
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources(text: &str) -> Vec<Resource> {
        yaml::parse_stream(text)
            .unwrap()
            .into_iter()
            .map(|v| Resource::new(v.as_object().unwrap().clone(), "test".into()))
            .collect()
    }

    fn inline(text: &str) -> Vec<Loaded> {
        let entries: Vec<Replacement> =
            serde_json::from_value(yaml::parse_stream(text).unwrap().remove(0)).unwrap();
        load(&entries, &|_| Err("no files".into())).unwrap()
    }

    const OBJECTS: &str = "
apiVersion: v1
kind: ConfigMap
metadata: {name: src}
data: {v: a-b-c, n: '7', list: 'x,y'}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec: {replicas: 1, template: {spec: {containers: [{name: web, image: nginx}]}}}
";

    /// Runs one inline replacement with `source`, writing to the Deployment at `path`.
    fn run(source: &str, path: &str, options: &str) -> Result<Value, String> {
        let mut objects = resources(OBJECTS);
        let text = format!(
            "- source: {source}\n  targets: [{{select: {{kind: Deployment}}, fieldPaths: ['{path}'], options: {options}}}]"
        );
        apply(&inline(&text), &mut objects)?;
        let root = Value::Object(objects[1].object.clone());
        let keys = fieldpath::lookup(&root, &fieldpath::split(path))?.ok_or("not written")?;
        Ok(fieldpath::get(&root, &keys).cloned().unwrap_or_default())
    }

    #[test]
    fn source_options_pick_a_piece() {
        let src = "{kind: ConfigMap, fieldPath: data.v, options: {delimiter: '-', index: 2}}";
        assert_eq!(run(src, "metadata.labels.app", "{}"), Ok(json!("c")));
        let out = "{kind: ConfigMap, fieldPath: data.v, options: {delimiter: '-', index: 3}}";
        let err = run(out, "metadata.labels.app", "{}").unwrap_err();
        assert!(
            err.contains("options.index 3 is out of bounds for value a-b-c"),
            "{err}"
        );
    }

    #[test]
    fn target_options_splice_with_delimiter() {
        let src = "{kind: ConfigMap, fieldPath: data.list}";
        let at = |index: i64| {
            let options = format!("{{delimiter: ':', index: {index}}}");
            run(src, "spec.template.spec.containers.0.image", &options)
        };
        let image = "spec.template.spec.containers.0.image";
        assert_eq!(
            run(src, image, "{delimiter: 'i', index: 0}"),
            Ok(json!("x,yinx"))
        );
        assert_eq!(at(-1), Ok(json!("x,y:nginx")));
        assert_eq!(at(1), Ok(json!("nginx:x,y")));
    }

    #[test]
    fn create_makes_missing_fields_typed_by_their_text() {
        let src = "{kind: ConfigMap, fieldPath: data.n}";
        assert_eq!(run(src, "spec.extra.count", "{create: true}"), Ok(json!(7)));
        let err = run(src, "spec.extra.count", "{}").unwrap_err();
        assert!(
            err.contains("unable to find field \"spec.extra.count\""),
            "{err}"
        );
        // An existing scalar keeps its type: the text is read as a number.
        assert_eq!(run(src, "spec.replicas", "{}"), Ok(json!(7)));
        let err = run(
            "{kind: ConfigMap, fieldPath: data.v}",
            "spec.replicas",
            "{}",
        );
        assert!(
            err.unwrap_err()
                .contains("cannot decode !!str `a-b-c` as a !!int")
        );
    }

    #[test]
    fn maps_and_lists_are_copied_whole() {
        let containers = "{kind: Deployment, fieldPath: spec.template.spec.containers}";
        let copied = run(containers, "spec.copy", "{create: true}").unwrap();
        assert_eq!(copied, json!([{"name": "web", "image": "nginx"}]));
        let err = run(containers, "spec.template", "{delimiter: '-'}").unwrap_err();
        assert!(err.contains("delimiter option can only be used with scalar nodes"));
        // A map's text is empty: written over a number, it cannot be one.
        let err = run(containers, "spec.replicas", "{}").unwrap_err();
        assert!(err.contains("cannot decode !!null `` as a !!int"), "{err}");
    }

    #[test]
    fn source_must_be_one_object() {
        let err = run("{fieldPath: metadata.name}", "spec.x", "{}").unwrap_err();
        assert!(err.contains("multiple matches for selector [noKind].[noVer].[noGrp]/[noName].[noNs]:metadata.name"), "{err}");
        let err = run("{kind: Secret}", "spec.x", "{}").unwrap_err();
        assert!(err.contains("nothing selected by Secret.[noVer].[noGrp]/[noName].[noNs]"));
        let err = run("{kind: ConfigMap, fieldPath: data.none}", "spec.x", "{}").unwrap_err();
        assert!(err.contains("fieldPath `data.none` is missing for replacement source ConfigMap.[noVer].[noGrp]/[noName].[noNs]"));
    }

    #[test]
    fn errors_change_nothing() {
        let mut objects = resources(OBJECTS);
        let before: Vec<_> = objects.iter().map(|r| r.object.clone()).collect();
        let text = "
- source: {kind: ConfigMap, fieldPath: data.v}
  targets: [{select: {kind: Deployment}, fieldPaths: [metadata.labels.app]}]
- source: {kind: ConfigMap, fieldPath: data.v}
  targets: [{select: {kind: Deployment}, fieldPaths: [spec.none]}]";
        let err = apply(&inline(text), &mut objects).unwrap_err();
        assert!(
            err.starts_with(
                "replacements[1]: target Deployment.v1.apps/web.[noNs]: unable to find field"
            ),
            "{err}"
        );
        let after: Vec<_> = objects.iter().map(|r| r.object.clone()).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn reject_by_labels_or_by_id() {
        let select = |reject: &str| {
            let text = format!("{{select: {{}}, reject: {reject}}}");
            let target: ReplacementTarget =
                serde_json::from_value(yaml::parse_stream(&text).unwrap().remove(0)).unwrap();
            let select = Matcher::new(target.select.as_ref().unwrap()).unwrap();
            let rejects: Vec<Matcher> = target
                .reject
                .iter()
                .map(|r| Matcher::new(r).unwrap())
                .collect();
            resources(OBJECTS)
                .iter()
                .filter(|r| target_takes(&select, &rejects, r))
                .map(|r| r.name())
                .collect::<Vec<_>>()
        };
        assert_eq!(select("[{labelSelector: app=web}]"), ["src"]);
        assert_eq!(select("[{kind: Deployment}]"), ["src"]);
        // Not combined: the id rejects the ConfigMap, the labels the Deployment.
        assert_eq!(
            select("[{kind: ConfigMap, labelSelector: app=web}]"),
            Vec::<String>::new()
        );
        assert_eq!(select("[{}]"), ["src", "web"]);
    }

    #[test]
    fn files_hold_a_list_or_one_replacement() {
        let one = "source: {kind: ConfigMap, unknown: 1}\ntargets: [{select: {kind: X}}]";
        assert_eq!(parse_file(one).unwrap().len(), 1);
        let list = "- source: {kind: ConfigMap}\n  targets: []\n- sourceValue: x";
        let parsed = parse_file(list).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].targets.as_ref().map(Vec::len), Some(0));
        let err = parse_file("42").unwrap_err();
        assert!(
            err.contains(
                "unsupported replacement type encountered within replacement path: float64"
            )
        );
        let both = [Replacement {
            path: Some("r.yaml".into()),
            source: Some(ReplacementSource::default()),
            ..Replacement::default()
        }];
        let err = load(&both, &|_| Ok(String::new())).unwrap_err();
        assert!(err.contains("cannot specify both path and inline replacement"));
    }

    #[test]
    fn untagged_text_resolves_as_go_yaml_v3() {
        let r = |text: &str| resolve_untagged(text);
        assert_eq!(r("3"), Ok(json!(3)));
        assert_eq!(r("0755"), Ok(json!(493)));
        assert_eq!(r("08"), Ok(json!(8.0)));
        assert_eq!(r("0x10"), Ok(json!(16)));
        assert_eq!(r("1_000"), Ok(json!(1000)));
        assert_eq!(r("1e3"), Ok(json!(1000.0)));
        assert_eq!(r(".5"), Ok(json!(0.5)));
        assert_eq!(r("true"), Ok(json!(true)));
        assert_eq!(r("yes"), Ok(json!("yes")));
        assert_eq!(r(""), Ok(Value::Null));
        assert_eq!(r("~"), Ok(Value::Null));
        assert_eq!(r("1:20"), Ok(json!("1:20")));
        assert!(r(".inf").unwrap_err().contains("unsupported value: +Inf"));
        assert_eq!(decode(Tag::Float, "2"), Ok(json!(2)));
        assert!(
            decode(Tag::Bool, "5")
                .unwrap_err()
                .contains("cannot decode !!int `5` as a !!bool")
        );
        assert!(
            decode(Tag::Null, "x")
                .unwrap_err()
                .contains("cannot decode !!str `x` as a !!null")
        );
        assert_eq!(decode(Tag::Str, "5"), Ok(json!("5")));
    }

    #[test]
    fn embedded_json_is_rewritten_as_go_prints_it() {
        let doc = json!({"z": 1, "a": {"b": "<&>", "f": 2.5e-7, "g": 1e21}, "l": [], "m": {}});
        assert_eq!(
            go_json(&doc, false),
            r#"{"a":{"b":"\u003c\u0026\u003e","f":2.5e-7,"g":1e+21},"l":[],"m":{},"z":1}"#
        );
        assert_eq!(
            go_json(&json!({"a": [1, {"b": null}]}), true),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ]\n}"
        );
    }
}
