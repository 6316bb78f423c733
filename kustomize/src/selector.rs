//! Patch targets: group/version/kind, name and namespace regular expressions, label and
//! annotation selectors (Kubernetes' selector syntax).

use crate::kustomization::Selector;
use crate::resource::Resource;
use regex::Regex;
use serde_json::{Map, Value};

/// A parsed `target`.
#[derive(Debug)]
pub struct Target {
    selector: Selector,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<Vec<Requirement>>,
    annotations: Option<Vec<Requirement>>,
}

impl Target {
    pub fn parse(selector: &Selector) -> Result<Target, String> {
        let anchored = |field: &str, pattern: &str| {
            if pattern.is_empty() {
                Ok(None)
            } else {
                Regex::new(&format!("^(?:{pattern})$"))
                    .map(Some)
                    .map_err(|e| format!("target.{field}: invalid regular expression: {e}"))
            }
        };
        Ok(Target {
            name: anchored("name", &selector.name)?,
            namespace: anchored("namespace", &selector.namespace)?,
            labels: selector
                .label_selector
                .as_deref()
                .map(parse_requirements)
                .transpose()
                .map_err(|e| format!("target.labelSelector: {e}"))?,
            annotations: selector
                .annotation_selector
                .as_deref()
                .map(parse_requirements)
                .transpose()
                .map_err(|e| format!("target.annotationSelector: {e}"))?,
            selector: selector.clone(),
        })
    }

    /// kustomize matches names and namespaces against both the original and current ids.
    pub fn matches(&self, resource: &Resource) -> bool {
        let gvk = resource.gvk();
        let s = &self.selector;
        if (!s.group.is_empty() && s.group != gvk.group)
            || (!s.version.is_empty() && s.version != gvk.version)
            || (!s.kind.is_empty() && s.kind != gvk.kind)
        {
            return false;
        }
        let current = resource.id();
        if let Some(name) = &self.name
            && !name.is_match(&resource.original.name)
            && !name.is_match(&current.name)
        {
            return false;
        }
        if let Some(namespace) = &self.namespace
            && !namespace.is_match(resource.original.effective_namespace())
            && !namespace.is_match(current.effective_namespace())
        {
            return false;
        }
        let empty = Map::new();
        if let Some(labels) = &self.labels
            && !labels
                .iter()
                .all(|r| r.matches(resource.labels().unwrap_or(&empty)))
        {
            return false;
        }
        if let Some(annotations) = &self.annotations
            && !annotations
                .iter()
                .all(|r| r.matches(resource.annotations().unwrap_or(&empty)))
        {
            return false;
        }
        true
    }
}

/// One term of a label or annotation selector.
#[derive(Debug, PartialEq)]
pub(crate) enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    pub(crate) fn matches(&self, map: &Map<String, Value>) -> bool {
        let get = |k: &str| map.get(k).and_then(Value::as_str);
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => map.contains_key(k),
            Requirement::NotExists(k) => !map.contains_key(k),
        }
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

pub(crate) fn parse_requirements(text: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    for part in split_top_level(text) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let values = |list: &str| -> Result<Vec<String>, String> {
            let inner = list
                .trim()
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| format!("expected a parenthesised value list in {part:?}"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let requirement = if let Some(key) = part.strip_prefix('!') {
            Requirement::NotExists(key.trim().to_string())
        } else if let Some((key, v)) = part.split_once("!=") {
            Requirement::NotEquals(key.trim().to_string(), v.trim().to_string())
        } else if let Some((key, v)) = part.split_once("==") {
            Requirement::Equals(key.trim().to_string(), v.trim().to_string())
        } else if let Some((key, v)) = part.split_once('=') {
            Requirement::Equals(key.trim().to_string(), v.trim().to_string())
        } else if let Some((key, list)) = part.split_once(" notin ") {
            Requirement::NotIn(key.trim().to_string(), values(list)?)
        } else if let Some((key, list)) = part.split_once(" in ") {
            Requirement::In(key.trim().to_string(), values(list)?)
        } else if part.contains(char::is_whitespace) {
            return Err(format!("cannot parse requirement {part:?}"));
        } else {
            Requirement::Exists(part.to_string())
        };
        out.push(requirement);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_syntax() {
        let reqs = parse_requirements("app=web, tier in (a, b),!legacy,env!=prod,team").unwrap();
        let labels = json!({"app": "web", "tier": "b", "env": "dev", "team": "x"});
        assert!(reqs.iter().all(|r| r.matches(labels.as_object().unwrap())));
        let other = json!({"app": "web", "tier": "c"});
        assert!(!reqs.iter().all(|r| r.matches(other.as_object().unwrap())));
        assert!(parse_requirements("a in b").is_err());
    }
}
