//! Helm's `ProcessDependencies`: which subcharts take part (`condition`, `tags`), under
//! which name (`alias`), and the values they export to their parent (`import-values`).

use gotemplate::{Map, Value};
use serde_json::Value as Json;

use crate::RenderError;
use crate::chart::Chart;
use crate::values;

/// Prunes and renames `chart`'s subcharts for `user` values, then imports values.
pub fn process(chart: &mut Chart, user: &Map) {
    enable(chart, user, "");
    import_values(chart);
}

/// Helm's `CheckDependencies`: every dependency the chart declares must be in `charts/`.
pub fn check_present(chart: &Chart) -> Result<(), RenderError> {
    let Some(requirements) = requirements(chart) else {
        return Ok(());
    };
    let missing: Vec<&str> = requirements
        .iter()
        .filter(|r| !chart.dependencies.iter().any(|sub| sub.name() == r.name))
        .map(|r| r.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(RenderError::Invalid(format!(
        "an error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {}",
        missing.join(", ")
    )))
}

/// A dependency of `Chart.yaml` (or `requirements.yaml`).
struct Requirement {
    name: String,
    version: String,
    alias: String,
    condition: String,
    tags: Vec<String>,
    enabled: bool,
}

fn requirements(chart: &Chart) -> Option<Vec<Requirement>> {
    let specs = chart.dependency_specs()?;
    let text = |spec: &serde_json::Map<String, Json>, key: &str| {
        spec.get(key)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(
        specs
            .iter()
            .map(|spec| Requirement {
                name: text(spec, "name"),
                version: text(spec, "version"),
                alias: text(spec, "alias"),
                condition: text(spec, "condition"),
                tags: spec
                    .get("tags")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
                enabled: true,
            })
            .collect(),
    )
}

/// Whether a subchart's version satisfies the dependency's range (an empty or invalid
/// range never does, as in Helm).
fn compatible(range: &str, version: &str) -> bool {
    sprig::semver::check(range, version).unwrap_or(false)
}

/// `processDependencyEnabled`.
fn enable(chart: &mut Chart, values: &Map, path: &str) {
    let Some(mut requirements) = requirements(chart) else {
        return;
    };
    let existing = std::mem::take(&mut chart.dependencies);
    let mut kept: Vec<Chart> = existing
        .iter()
        .filter(|sub| {
            !requirements
                .iter()
                .any(|r| r.name == sub.name() && compatible(&r.version, &sub.version()))
        })
        .cloned()
        .collect();
    for requirement in &mut requirements {
        if let Some(sub) = existing.iter().find(|sub| {
            sub.name() == requirement.name && compatible(&requirement.version, &sub.version())
        }) {
            let mut sub = sub.clone();
            if !requirement.alias.is_empty() {
                sub.metadata
                    .insert("name".into(), Json::String(requirement.alias.clone()));
            }
            kept.push(sub);
        }
        if !requirement.alias.is_empty() {
            requirement.name = requirement.alias.clone();
        }
    }
    chart.dependencies = kept;
    let coalesced = values::coalesce(chart, values.clone());
    apply_tags(&mut requirements, &coalesced);
    apply_conditions(&mut requirements, &coalesced, path);
    let disabled: Vec<&str> = requirements
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.as_str())
        .collect();
    chart
        .dependencies
        .retain(|sub| !disabled.contains(&sub.name()));
    for sub in &mut chart.dependencies {
        let sub_path = format!("{path}{}.", sub.name());
        enable(sub, &coalesced, &sub_path);
    }
    let enabled: Vec<String> = requirements
        .iter()
        .filter(|r| r.enabled)
        .map(|r| r.name.clone())
        .collect();
    if let Some(Json::Array(specs)) = chart.metadata.get_mut("dependencies") {
        // Pruned and renamed to their aliases, as Helm leaves `.Chart.Dependencies`.
        specs.retain(|spec| enabled.contains(&requirements_name(spec)));
        for spec in specs.iter_mut() {
            let name = requirements_name(spec);
            if let Json::Object(spec) = spec {
                spec.insert("name".into(), Json::String(name));
            }
        }
    }
}

/// A dependency spec's name after its alias.
fn requirements_name(spec: &Json) -> String {
    let alias = spec.get("alias").and_then(Json::as_str).unwrap_or_default();
    if alias.is_empty() {
        spec.get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    } else {
        alias.to_string()
    }
}

/// `tags.<t>`: a false tag disables a dependency unless another of its tags is true.
fn apply_tags(requirements: &mut [Requirement], values: &Map) {
    let Some(Value::Map(tags)) = values.get("tags") else {
        return;
    };
    let tags = tags.read();
    for requirement in requirements {
        let (mut any_true, mut any_false) = (false, false);
        for tag in &requirement.tags {
            match tags.get(tag) {
                Some(Value::Bool(true)) => any_true = true,
                Some(Value::Bool(false)) => any_false = true,
                _ => {}
            }
        }
        requirement.enabled = any_true || !any_false;
    }
}

/// `condition`: the first of its comma-separated paths that holds a bool decides.
fn apply_conditions(requirements: &mut [Requirement], values: &Map, path: &str) {
    for requirement in requirements {
        for condition in requirement.condition.trim().split(',') {
            if condition.is_empty() {
                continue;
            }
            if let Some(Value::Bool(enabled)) = path_value(values, &format!("{path}{condition}")) {
                requirement.enabled = enabled;
                break;
            }
        }
    }
}

/// A non-table value at a dotted path.
fn path_value(values: &Map, path: &str) -> Option<Value> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop()?;
    let mut table = values.clone();
    for part in parts {
        match table.get(part) {
            Some(Value::Map(inner)) => table = inner.to_map(),
            _ => return None,
        }
    }
    match table.get(last) {
        Some(Value::Map(_)) | None => None,
        Some(value) => Some(value.clone()),
    }
}

/// `processDependencyImportValues`: children first; a chart whose dependencies import
/// values gets them under its own (which win).
fn import_values(chart: &mut Chart) {
    for sub in &mut chart.dependencies {
        import_values(sub);
    }
    let Some(specs) = chart.dependency_specs() else {
        return;
    };
    let imports: Vec<(String, Vec<Json>)> = specs
        .iter()
        .filter_map(|spec| {
            let list = spec.get("import-values").and_then(Json::as_array)?;
            Some((requirements_name(&Json::Object(spec.clone())), list.clone()))
        })
        .filter(|(_, list)| !list.is_empty())
        .collect();
    if imports.is_empty() {
        return;
    }
    let merged = values::merge_defaults(chart);
    let mut imported = Map::new();
    for (name, list) in imports {
        for import in list {
            let (child, parent) = match &import {
                Json::String(export) => (format!("exports.{export}"), ".".to_string()),
                Json::Object(map) => (go_string(map.get("child")), go_string(map.get("parent"))),
                _ => continue,
            };
            let Some(Value::Map(table)) = table_at(&merged, &format!("{name}.{child}")) else {
                continue;
            };
            let table = if parent == "." {
                table.to_map()
            } else {
                nest(&parent, table.to_map())
            };
            values::merge_tables(&mut imported, table);
        }
    }
    let mut result = merged;
    values::merge_tables(&mut result, imported);
    chart.values = result.into_iter().map(|(k, v)| (k, v.to_json())).collect();
}

fn go_string(value: Option<&Json>) -> String {
    match value {
        Some(Json::String(s)) => s.clone(),
        None | Some(Json::Null) => "<nil>".into(),
        Some(other) => other.to_string(),
    }
}

/// The table at a dotted path.
fn table_at(values: &Map, path: &str) -> Option<Value> {
    let mut current = Value::map(values.clone());
    for part in path.split('.') {
        let Value::Map(map) = &current else {
            return None;
        };
        let next = map.get(part)?;
        current = next;
    }
    matches!(current, Value::Map(_)).then_some(current)
}

/// `{a: {b: table}}` for the path `a.b`.
fn nest(path: &str, table: Map) -> Map {
    let mut current = table;
    for part in path.split('.').rev() {
        let mut outer = Map::new();
        outer.insert(part.to_string(), Value::map(current));
        current = outer;
    }
    current
}
