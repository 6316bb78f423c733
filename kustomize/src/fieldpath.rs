//! Field paths as kustomize's replacements read them (kyaml's `SmarterPathSplitter`, its
//! `PathGetter` for sources and its `PathMatcher` for targets), over JSON values.
//!
//! The two walkers differ on purpose, as kyaml's do: a source path takes the first list
//! element whose field equals the given text exactly, allows `-` (the last element) and
//! refuses `*`; a target path matches list elements with an unanchored regular expression,
//! allows `*` over a list, and can create what is missing.

use crate::yaml;
use regex::Regex;
use serde_json::{Map, Value};

/// Splits a path on dots: `\.` is a dot inside a part, a bracketed run cut by dots
/// (`[a.b/c]`) is one part, its brackets dropped unless it holds `=` (`[name=a.b]` stays a
/// list element selector). One leading dot is ignored.
pub fn split(path: &str) -> Vec<String> {
    let mut pieces: Vec<&str> = path.split('.').collect();
    if pieces.len() > 1 && pieces[0].is_empty() {
        pieces.remove(0);
    }
    let mut unescaped: Vec<String> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match unescaped.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => unescaped.push(piece.to_string()),
        }
    }
    let mut parts = Vec::with_capacity(unescaped.len());
    let mut i = 0;
    while i < unescaped.len() {
        let part = &unescaped[i];
        if part.starts_with('[') && !part.ends_with(']') {
            let mut run = vec![part.as_str()];
            while i + 1 < unescaped.len() {
                i += 1;
                run.push(&unescaped[i]);
                if unescaped[i].ends_with(']') {
                    break;
                }
            }
            let joined = run.join(".");
            if joined.contains('=') {
                parts.push(joined);
            } else {
                parts.push(joined.trim_matches(['[', ']']).to_string());
            }
        } else {
            parts.push(part.clone());
        }
        i += 1;
    }
    parts
}

/// One step into a value, to find the same place again for writing.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Field(String),
    Index(usize),
}

pub fn get<'a>(root: &'a Value, keys: &[Key]) -> Option<&'a Value> {
    keys.iter().try_fold(root, |node, key| match key {
        Key::Field(name) => node.get(name),
        Key::Index(i) => node.get(*i),
    })
}

pub fn get_mut<'a>(root: &'a mut Value, keys: &[Key]) -> Option<&'a mut Value> {
    keys.iter().try_fold(root, |node, key| match key {
        Key::Field(name) => node.get_mut(name),
        Key::Index(i) => node.get_mut(*i),
    })
}

/// kyaml's `PathGetter`: where `parts` lead in `root`, `None` when something is missing.
/// Parts are trimmed and empty ones skipped, as kyaml cleans the path first.
pub fn lookup(root: &Value, parts: &[String]) -> Result<Option<Vec<Key>>, String> {
    let mut keys = Vec::new();
    let mut node = root;
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let key = if let Some(index) = go_atoi(part) {
            if index < 0 {
                return Err(format!("array index {index} cannot be negative"));
            }
            let len = elements(node)?.len();
            usize::try_from(index)
                .ok()
                .filter(|i| *i < len)
                .map(Key::Index)
        } else if part == "-" {
            // kyaml takes the last element (and crashes on an empty list).
            elements(node)?.len().checked_sub(1).map(Key::Index)
        } else if part == "*" {
            return Err("wildcard is not supported in PathGetter".into());
        } else if is_list_selector(part) {
            let (field, wanted) = split_list_selector(part)?;
            find_element(node, field, wanted)?.map(Key::Index)
        } else {
            match node {
                Value::Null => None,
                Value::Object(map) => map.contains_key(part).then(|| Key::Field(part.into())),
                other => return Err(wrong_kind("MappingNode", other)),
            }
        };
        let Some(key) = key else { return Ok(None) };
        node = get(node, std::slice::from_ref(&key)).expect("the key was just found");
        keys.push(key);
    }
    Ok(Some(keys))
}

/// The first element equal to `wanted` (a scalar, `field` empty) or holding `field: wanted`,
/// compared as text.
fn find_element(node: &Value, field: &str, wanted: &str) -> Result<Option<usize>, String> {
    let items = elements(node)?;
    Ok(items.iter().position(|item| {
        if field.is_empty() {
            scalar_text(item) == wanted
        } else {
            item.get(field).is_some_and(|v| scalar_text(v) == wanted)
        }
    }))
}

/// A list's elements; null is an empty list, anything else is kyaml's node-kind error.
fn elements(node: &Value) -> Result<&[Value], String> {
    match node {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(&[]),
        other => Err(wrong_kind("SequenceNode", other)),
    }
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits that fit 64 bits.
fn go_atoi(part: &str) -> Option<i64> {
    let digits = part.strip_prefix(['+', '-']).unwrap_or(part);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn is_list_selector(part: &str) -> bool {
    part.starts_with('[') && part.ends_with(']')
}

/// `[field=value]` as (field, value); `[=value]` selects scalar elements.
fn split_list_selector(part: &str) -> Result<(&str, &str), String> {
    let inner = part.strip_suffix(']').unwrap_or(part);
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    inner.split_once('=').ok_or_else(|| {
        "list path element must contain fieldName=fieldValue for element to match".to_string()
    })
}

/// A scalar's text as kyaml holds it (numbers as printed, null as `null`); maps and lists
/// have none.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => yaml::number_text(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Object(_) | Value::Array(_) => String::new(),
    }
}

pub fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

/// A value printed as a YAML document, as kyaml shows node contents.
pub fn node_text(value: &Value) -> String {
    let mut out = String::new();
    yaml::write_document(value, &mut out);
    out
}

fn wrong_kind(expected: &str, node: &Value) -> String {
    let got = match node {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    };
    format!(
        "wrong node kind: expected {expected} but got {got}: node contents:\n{}",
        node_text(node)
    )
}

/// The kind of node a target walk creates where its path is missing: the source value's
/// kind at the end of the path, maps and lists on the way as the next part asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    Scalar,
    Map,
    List,
}

/// Why a target walk stopped: the path (kustomize says it cannot find the field), or the
/// value could not be written.
#[derive(Debug, PartialEq)]
pub enum WalkError {
    Path(String),
    Set(String),
}

/// Called on each field a target path reaches. `untagged` marks a scalar the walk created
/// (kyaml makes it without a type, so the text written decides it).
pub type Visit<'a> = dyn FnMut(&mut Value, bool) -> Result<(), String> + 'a;

/// kyaml's `PathMatcher`: visits every field `parts` reach under a node, creating missing
/// ones when `create` is set.
pub struct Walker<'a, 'b> {
    pub create: Option<Create>,
    pub visit: &'a mut Visit<'b>,
    /// How many fields were visited: none means kustomize's "unable to find field".
    pub visited: usize,
}

impl Walker<'_, '_> {
    pub fn walk(&mut self, node: &mut Value, parts: &[String]) -> Result<(), WalkError> {
        self.walk_from(node, parts, false)
    }

    fn walk_from(
        &mut self,
        node: &mut Value,
        parts: &[String],
        untagged: bool,
    ) -> Result<(), WalkError> {
        let Some((part, rest)) = parts.split_first() else {
            self.visited += 1;
            return (self.visit)(node, untagged).map_err(WalkError::Set);
        };
        if go_atoi(part).is_some_and(|i| i >= 0) {
            self.index(node, part, rest)
        } else if is_list_selector(part) {
            self.select(node, part, rest)
        } else if part == "*" {
            self.every(node, rest)
        } else {
            self.field(node, part, rest)
        }
    }

    /// A missing node for the part after `rest`'s parent: a list before an index or list
    /// selector, the source's kind at the end, a map otherwise. Scalars start as null.
    fn new_node(&self, rest: &[String]) -> (Value, bool) {
        let kind = match rest.first() {
            Some(next) if is_list_selector(next) || go_atoi(next).is_some_and(|i| i >= 0) => {
                Create::List
            }
            Some(_) => Create::Map,
            None => self.create.unwrap_or(Create::Scalar),
        };
        match kind {
            Create::List => (Value::Array(Vec::new()), false),
            Create::Map => (Value::Object(Map::new()), false),
            Create::Scalar => (Value::Null, true),
        }
    }

    fn field(&mut self, node: &mut Value, part: &str, rest: &[String]) -> Result<(), WalkError> {
        if node.is_null() && self.create.is_some() {
            *node = Value::Object(Map::new());
        }
        let map = match node {
            Value::Null => return Ok(()),
            Value::Object(map) if !part.is_empty() => map,
            other if part.is_empty() => {
                // kyaml compares an empty field name with a scalar's value.
                return match other {
                    Value::Object(_) | Value::Array(_) => {
                        Err(WalkError::Path(wrong_kind("ScalarNode", other)))
                    }
                    _ => Ok(()),
                };
            }
            other => return Err(WalkError::Path(wrong_kind("MappingNode", other))),
        };
        let mut untagged = false;
        if !map.contains_key(part) {
            if self.create.is_none() {
                return Ok(());
            }
            let (created, is_untagged) = self.new_node(rest);
            untagged = is_untagged;
            map.insert(part.to_string(), created);
        }
        let child = map.get_mut(part).expect("present or just created");
        if is_scalar(child) && !rest.is_empty() {
            return self.inside_scalar(child, rest);
        }
        self.walk_from(child, rest, untagged)
    }

    /// A scalar with path left: kyaml reads its text as YAML and walks on in that copy, so
    /// what is found there is visited but nothing written to it is kept.
    fn inside_scalar(&mut self, scalar: &Value, rest: &[String]) -> Result<(), WalkError> {
        let mut copy = parse_embedded(&scalar_text(scalar)).map_err(WalkError::Path)?;
        self.walk_from(&mut copy, rest, false)
    }

    fn index(&mut self, node: &mut Value, part: &str, rest: &[String]) -> Result<(), WalkError> {
        let index = go_atoi(part)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or_default();
        if node.is_null() && self.create.is_some() && index == 0 {
            *node = Value::Array(Vec::new());
        }
        let len = elements(node).map_err(WalkError::Path)?.len();
        let mut untagged = false;
        if len == index && self.create.is_some() {
            let (created, is_untagged) = self.new_node(rest);
            untagged = is_untagged;
            if let Value::Array(items) = node {
                items.push(created);
            }
        }
        match node {
            Value::Array(items) if index < items.len() => {
                self.walk_from(&mut items[index], rest, untagged)
            }
            _ => Err(WalkError::Path(format!(
                "index {index} specified but only {len} elements found"
            ))),
        }
    }

    fn every(&mut self, node: &mut Value, rest: &[String]) -> Result<(), WalkError> {
        elements(node).map_err(WalkError::Path)?;
        if let Value::Array(items) = node {
            for item in items {
                self.walk_from(item, rest, false)?;
            }
        }
        Ok(())
    }

    /// `[field=regex]`/`[=regex]`: every element whose field (or itself) matches, the regex
    /// unanchored. A scalar element is visited itself, whatever path follows.
    fn select(&mut self, node: &mut Value, part: &str, rest: &[String]) -> Result<(), WalkError> {
        let (field, pattern) = split_list_selector(part).map_err(WalkError::Path)?;
        let regex = Regex::new(pattern).map_err(|e| {
            WalkError::Path(format!(
                "error parsing regexp: {}",
                crate::replacement::last_line(&e.to_string())
            ))
        })?;
        elements(node).map_err(WalkError::Path)?;
        let before = self.visited;
        if let Value::Array(items) = node {
            for item in items.iter_mut() {
                self.select_one(item, field, &regex, rest, false)?;
            }
        }
        if self.visited > before || self.create.is_none() {
            return Ok(());
        }
        // Nothing matched: add an element made from the selector, then look again.
        let made = crate::replacement::resolve_untagged(pattern).map_err(WalkError::Path)?;
        let (created, untagged) = if field.is_empty() {
            (made, true)
        } else {
            let mut map = Map::new();
            map.insert(field.to_string(), made);
            (Value::Object(map), false)
        };
        if node.is_null() {
            *node = Value::Array(Vec::new());
        }
        let Value::Array(items) = node else {
            unreachable!("checked to be a list")
        };
        items.push(created);
        let last = items.last_mut().expect("just pushed");
        self.select_one(last, field, &regex, rest, untagged)?;
        if self.visited == before {
            // kyaml would append forever: the element it makes does not match its selector.
            return Err(WalkError::Path(format!(
                "the element created for {part} does not match it"
            )));
        }
        Ok(())
    }

    fn select_one(
        &mut self,
        item: &mut Value,
        field: &str,
        regex: &Regex,
        rest: &[String],
        untagged: bool,
    ) -> Result<(), WalkError> {
        if field.is_empty() {
            if regex.is_match(node_text(item).trim()) {
                self.visited += 1;
                (self.visit)(item, untagged).map_err(WalkError::Set)?;
            }
            return Ok(());
        }
        let matches = item
            .as_object()
            .and_then(|map| map.get(field))
            .is_some_and(|value| regex.is_match(node_text(value).trim()));
        if matches {
            self.walk_from(item, rest, false)?;
        }
        Ok(())
    }
}

/// YAML held in a string field, as kyaml reads it: the first document, null when none.
pub fn parse_embedded(text: &str) -> Result<Value, String> {
    let documents = yaml::parse_stream(text)
        .map_err(|e| format!("yaml: {}", e.to_string().lines().next().unwrap_or_default()))?;
    Ok(documents.into_iter().next().unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(path: &str) -> Vec<String> {
        split(path)
    }

    #[test]
    fn splits_as_kustomize() {
        assert_eq!(parts("spec.replicas"), ["spec", "replicas"]);
        assert_eq!(parts(".data.v"), ["data", "v"]);
        assert_eq!(
            parts("metadata.annotations.[x.io/one]"),
            ["metadata", "annotations", "x.io/one"]
        );
        assert_eq!(
            parts("metadata.annotations.x\\.io/two"),
            ["metadata", "annotations", "x.io/two"]
        );
        assert_eq!(
            parts("spec.containers.[name=a.b].image"),
            ["spec", "containers", "[name=a.b]", "image"]
        );
        // A single bracketed part keeps its brackets (and is a list selector).
        assert_eq!(parts("data.[v]"), ["data", "[v]"]);
        assert_eq!(parts("a.[b.c"), ["a", "b.c"]);
        assert_eq!(parts(""), [""]);
    }

    #[test]
    fn source_lookup() {
        let doc = json!({"spec": {"items": [{"name": "web", "v": 1}, {"name": "webapp", "v": 2}],
            "seq": ["x", "y"], "n": null}});
        let at = |path: &str| lookup(&doc, &parts(path)).map(|k| k.map(|k| get(&doc, &k).cloned()));
        assert_eq!(at("spec.items.[name=web].v"), Ok(Some(Some(json!(1)))));
        assert_eq!(at("spec.items.[name=we].v"), Ok(None));
        assert_eq!(at("spec.seq.1"), Ok(Some(Some(json!("y")))));
        assert_eq!(at("spec.seq.-"), Ok(Some(Some(json!("y")))));
        assert_eq!(at("spec.seq.[=x]"), Ok(Some(Some(json!("x")))));
        assert_eq!(at("spec.seq.5"), Ok(None));
        assert_eq!(at(" spec..seq. 0 "), Ok(Some(Some(json!("x")))));
        assert_eq!(at("spec.n.x"), Ok(None));
        assert!(
            at("spec.seq.-1")
                .unwrap_err()
                .contains("cannot be negative")
        );
        assert!(at("spec.seq.*").unwrap_err().contains("wildcard"));
        assert!(
            at("spec.seq.x")
                .unwrap_err()
                .contains("expected MappingNode")
        );
        assert!(
            at("spec.items.[name].v")
                .unwrap_err()
                .contains("fieldName=fieldValue")
        );
    }

    /// Walks `path` in `doc`, writing `"NEW"` at each field reached.
    fn write(doc: &mut Value, path: &str, create: bool) -> Result<usize, WalkError> {
        let mut visit = |node: &mut Value, _untagged: bool| {
            *node = json!("NEW");
            Ok(())
        };
        let mut walker = Walker {
            create: create.then_some(Create::Scalar),
            visit: &mut visit,
            visited: 0,
        };
        walker.walk(doc, &parts(path)).map(|()| walker.visited)
    }

    #[test]
    fn target_walk_matches_lists_by_regex_and_wildcard() {
        let mut doc = json!({"items": [{"name": "web"}, {"name": "webapp"}, {"name": "db"}],
            "prims": ["one", "two", "three"]});
        assert_eq!(write(&mut doc, "items.[name=web].v", false), Ok(0));
        assert_eq!(write(&mut doc, "items.[name=web].name", false), Ok(2));
        assert_eq!(write(&mut doc, "prims.[=t]", false), Ok(2));
        assert_eq!(doc["prims"], json!(["one", "NEW", "NEW"]));
        assert_eq!(write(&mut doc, "items.*.name", false), Ok(3));
        assert!(
            matches!(write(&mut doc, "prims.5", false), Err(WalkError::Path(e)) if e.contains("index 5 specified but only 3"))
        );
        assert!(
            matches!(write(&mut doc, "items.-", false), Err(WalkError::Path(e)) if e.contains("expected MappingNode but got SequenceNode"))
        );
    }

    #[test]
    fn target_walk_creates() {
        let mut doc = json!({"seq": ["a"], "items": [{"name": "a"}]});
        assert_eq!(write(&mut doc, "seq.1", true), Ok(1));
        assert_eq!(write(&mut doc, "fresh.0.x", true), Ok(1));
        assert_eq!(write(&mut doc, "items.[name=new].deep.x", true), Ok(1));
        assert_eq!(write(&mut doc, "prims.[=p]", true), Ok(1));
        assert_eq!(
            doc,
            json!({"seq": ["a", "NEW"], "fresh": [{"x": "NEW"}], "prims": ["NEW"],
                "items": [{"name": "a"}, {"name": "new", "deep": {"x": "NEW"}}]})
        );
        assert!(matches!(
            write(&mut doc, "items.[name=^x$]", true),
            Err(WalkError::Path(_))
        ));
    }

    #[test]
    fn target_walk_reads_into_scalars_without_writing() {
        let mut doc = json!({"conf": "{\"x\": 1}", "n": null, "s": "hello"});
        assert_eq!(write(&mut doc, "conf.x", false), Ok(1));
        assert_eq!(doc["conf"], json!("{\"x\": 1}"));
        assert_eq!(write(&mut doc, "n.x", false), Ok(0));
        assert_eq!(write(&mut doc, "n.x", true), Ok(1));
        assert!(
            matches!(write(&mut doc, "s.x", false), Err(WalkError::Path(e)) if e.contains("got ScalarNode"))
        );
    }
}
