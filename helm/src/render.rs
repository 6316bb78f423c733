//! Rendering every template of a chart and its subcharts, as Helm's engine does: one
//! template set, parsed deepest first so a parent's defines win, each file executed with
//! its own chart's view of the values.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotemplate::{Map, Set, Value};

use crate::RenderError;
use crate::chart::Chart;
use crate::funcs;
use crate::objects::{Capabilities, Files, chart_value};

/// The release a render is for (`.Release`).
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub is_upgrade: bool,
    pub revision: i64,
}

/// A template to execute and the data it sees.
struct Renderable {
    text: String,
    data: Map,
    base_path: String,
}

/// Every template file rendered, by its full name (`chart/templates/x.yaml`,
/// `chart/charts/sub/templates/y.yaml`), partials left out, `<no value>` removed.
pub fn render_templates(
    chart: &Chart,
    values: Map,
    release: &Release,
    capabilities: Arc<Capabilities>,
    cluster: Option<Arc<dyn funcs::Cluster>>,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut top = Map::new();
    top.insert("Values".into(), Value::map(values));
    top.insert("Release".into(), release_value(release));
    top.insert("Capabilities".into(), Value::Object(capabilities));
    let mut renderables = BTreeMap::new();
    collect(chart, &top, "", true, &mut renderables);

    let mut set = Set::new();
    set.add_funcs(sprig::functions());
    set.add_funcs(funcs::helm_funcs(cluster));
    set.add_engine_func("include", funcs::include());
    set.add_engine_func("tpl", funcs::tpl());
    let order = parse_order(renderables.keys());
    for name in &order {
        set.parse(name, &renderables[name].text)
            .map_err(|e| RenderError::Parse {
                file: name.clone(),
                line: e.line,
                message: e.message.clone(),
            })?;
    }
    let mut rendered = BTreeMap::new();
    for name in &order {
        if base_name(name).starts_with('_') {
            continue;
        }
        let renderable = &renderables[name];
        let mut data = renderable.data.clone();
        let mut template = Map::new();
        template.insert("Name".into(), Value::string(name.as_str()));
        template.insert(
            "BasePath".into(),
            Value::string(renderable.base_path.as_str()),
        );
        data.insert("Template".into(), Value::map(template));
        let out = set
            .execute(name, &Value::map(data))
            .map_err(|e| RenderError::exec(name, &e))?;
        rendered.insert(name.clone(), out.replace("<no value>", ""));
    }
    Ok(rendered)
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Helm's `recAllTpls`: each chart's templates with its data (its values scoped, its
/// subcharts' data under `.Subcharts`); returns the chart's data.
fn collect(
    chart: &Chart,
    parent: &Map,
    parent_path: &str,
    is_root: bool,
    out: &mut BTreeMap<String, Renderable>,
) -> Map {
    let full_path = if is_root {
        chart.name().to_string()
    } else {
        format!("{parent_path}/charts/{}", chart.name())
    };
    let values = if is_root {
        parent.get("Values").cloned().unwrap_or_default()
    } else {
        match parent.get("Values") {
            Some(Value::Map(values)) => match values.get(chart.name()) {
                Some(own @ Value::Map(_)) => own.clone(),
                _ => Value::map(Map::new()),
            },
            _ => Value::map(Map::new()),
        }
    };
    let mut data = Map::new();
    data.insert("Chart".into(), chart_value(&chart.metadata, is_root));
    data.insert(
        "Files".into(),
        Value::Object(Arc::new(Files::new(&chart.files))),
    );
    data.insert(
        "Release".into(),
        parent.get("Release").cloned().unwrap_or_default(),
    );
    data.insert(
        "Capabilities".into(),
        parent.get("Capabilities").cloned().unwrap_or_default(),
    );
    data.insert("Values".into(), values);
    let mut subcharts = Map::new();
    for sub in &chart.dependencies {
        let sub_data = collect(sub, &data, &full_path, false, out);
        subcharts.insert(sub.name().to_string(), Value::map(sub_data));
    }
    data.insert("Subcharts".into(), Value::map(subcharts));
    for template in &chart.templates {
        if chart.is_library() && !base_name(&template.name).starts_with('_') {
            continue;
        }
        out.insert(
            format!("{full_path}/{}", template.name),
            Renderable {
                text: String::from_utf8_lossy(&template.data).into_owned(),
                data: data.clone(),
                base_path: format!("{full_path}/templates"),
            },
        );
    }
    data
}

fn release_value(release: &Release) -> Value {
    let mut map = Map::new();
    map.insert("Name".into(), Value::string(release.name.as_str()));
    map.insert(
        "Namespace".into(),
        Value::string(release.namespace.as_str()),
    );
    map.insert("IsUpgrade".into(), Value::Bool(release.is_upgrade));
    map.insert("IsInstall".into(), Value::Bool(!release.is_upgrade));
    map.insert("Revision".into(), Value::Int(release.revision));
    map.insert("Service".into(), Value::string("Helm"));
    Value::map(map)
}

/// Helm's parse order: deepest paths first, and at one depth in reverse byte order, so that
/// the defines parsed last (the parent's, then the first file's) win.
fn parse_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    names.sort_by(|a, b| {
        let (da, db) = (a.matches('/').count(), b.matches('/').count());
        db.cmp(&da).then_with(|| b.cmp(a))
    });
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeper_templates_parse_first_then_reverse_order() {
        let names = [
            "p/templates/a.yaml",
            "p/templates/b.yaml",
            "p/charts/s/templates/a.yaml",
        ]
        .map(String::from);
        assert_eq!(
            parse_order(names.iter()),
            [
                "p/charts/s/templates/a.yaml",
                "p/templates/b.yaml",
                "p/templates/a.yaml"
            ]
        );
    }
}
