//! Helm charts rendered as `helm template` (Helm 4) renders them: a pure library, chart
//! files and values in, the printed manifests out.
//!
//! Loading ([`Chart`]), values ([`values`]), the template engine run ([`render`]) and the
//! assembly of the output ([`manifest`]) each follow Helm's own steps, so differences can be
//! traced to one of them.

pub mod chart;
mod dependencies;
mod funcs;
mod ignore;
pub mod manifest;
mod objects;
pub mod package;
pub mod release;
pub mod render;
mod schema;
pub mod values;

use std::path::PathBuf;
use std::sync::Arc;

pub use chart::Chart;
pub use funcs::Cluster;
pub use gotemplate::{Map, Value};
pub use objects::{DEFAULT_API_VERSIONS, DEFAULT_KUBE_VERSION, KubeVersion};
pub use render::Release;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {}: {}", .0.display(), .1)]
    Io(PathBuf, #[source] std::io::Error),
    #[error("reading the chart archive: {0}")]
    Archive(#[source] std::io::Error),
    #[error("{0} is larger than {1} bytes")]
    TooLarge(String, u64),
    #[error("{0}")]
    Invalid(String),
    #[error("subchart {0}: {1}")]
    Subchart(String, Box<LoadError>),
}

impl LoadError {
    fn in_subchart(self, name: &str) -> LoadError {
        LoadError::Subchart(name.to_string(), Box::new(self))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Helm's wording: `parse error at (<file>:<line>): <message>`.
    #[error("parse error at ({file}:{line}): {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    /// A `fail` or `required` message, where it was raised.
    #[error("execution error at ({location}): {message}")]
    Failed { location: String, message: String },
    /// Any other execution error, as Go words it.
    #[error("{0}")]
    Exec(String),
    #[error("YAML parse error on {file}: {message}")]
    Yaml { file: String, message: String },
    #[error(
        "chart requires kubeVersion: {constraint} which is incompatible with Kubernetes {version}"
    )]
    KubeVersion { constraint: String, version: String },
    #[error("{0}")]
    Invalid(String),
}

impl RenderError {
    /// Helm's `reformatExecErrorMsg`: a `fail`/`required` message is shown alone, with the
    /// location of the outermost template; a chain of template errors (through `include`)
    /// one location per line; anything else in Go's own words.
    fn exec(file: &str, error: &gotemplate::ExecError) -> RenderError {
        let text = error.to_string();
        let tokens: Vec<&str> = text.splitn(3, ": ").collect();
        if tokens.len() != 3 {
            return RenderError::Exec(format!("execution error in ({file}): {text}"));
        }
        if let (Some(start), Some(end)) = (
            tokens[2].find(funcs::ERROR_START),
            tokens[2].rfind(funcs::ERROR_END),
        ) && start + funcs::ERROR_START.len() <= end
        {
            return RenderError::Failed {
                location: tokens[1].to_string(),
                message: tokens[2][start + funcs::ERROR_START.len()..end].to_string(),
            };
        }
        let mut links: Vec<String> = Vec::new();
        let mut current = error;
        loop {
            let link = traceable(current);
            if links.last() != Some(&link) {
                links.push(link);
            }
            match &current.cause {
                None => break,
                Some(gotemplate::Cause::Exec(inner)) => current = inner,
                // A function's own error ends the chain Helm can read: Go's text stays.
                Some(gotemplate::Cause::Plain(_)) => return RenderError::Exec(text),
            }
        }
        RenderError::Exec(links.concat().trim().to_string())
    }
}

/// One link of Helm's `TraceableError` chain: location, what was executing, the message
/// (without the nested error that follows it).
fn traceable(error: &gotemplate::ExecError) -> String {
    let cut = |message: &str| match message.find(" template:") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    };
    if error.location.is_empty() {
        if error.message.starts_with("no template ") {
            return format!("{error}\n");
        }
        return format!("{}\n  {}\n", error.name, cut(&error.message));
    }
    format!(
        "{}\n  executing {:?} at <{}>:\n    {}\n",
        error.location,
        error.name,
        error.context,
        cut(&error.message)
    )
}

/// What `helm template` is asked to do.
#[derive(Clone)]
pub struct Options {
    pub release: Release,
    /// `--kube-version` (default: the version `helm template` assumes).
    pub kube_version: String,
    /// `--api-versions`, added to the defaults.
    pub api_versions: Vec<String>,
    pub include_crds: bool,
    pub skip_tests: bool,
    /// `--show-only`: templates (paths relative to the chart directory, globs allowed).
    pub show_only: Vec<String>,
    /// `--skip-schema-validation` (Flux: `disableSchemaValidation`).
    pub skip_schema_validation: bool,
    /// What `lookup` reads; `None` (as `helm template`): it finds nothing.
    pub cluster: Option<Arc<dyn Cluster>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            release: Release {
                name: "release-name".into(),
                namespace: "default".into(),
                is_upgrade: false,
                revision: 1,
            },
            kube_version: DEFAULT_KUBE_VERSION.into(),
            api_versions: Vec::new(),
            include_crds: false,
            skip_tests: false,
            show_only: Vec::new(),
            skip_schema_validation: false,
            cluster: None,
        }
    }
}

/// What a release renders to: the parts Helm stores and applies separately.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The manifests (hooks left out), in install order.
    pub manifests: Vec<manifest::Manifest>,
    /// Hooks, test hooks included, in Helm's order.
    pub hooks: Vec<manifest::Hook>,
    /// The root chart's rendered `NOTES.txt` (empty without one).
    pub notes: String,
    /// `crds/` files of the chart and its subcharts: (printed path, content).
    pub crds: Vec<(String, String)>,
    /// The values the templates saw (user values coalesced with the charts' defaults).
    pub values: Map,
}

impl Rendered {
    /// The release manifest Helm stores: every manifest as `---\n# Source: <path>\n<doc>`.
    pub fn manifest(&self) -> String {
        manifest::assemble(&[], &self.manifests, &[], false)
    }
}

/// Renders `chart` for a release with `user_values` (already merged from files and flags).
pub fn render(chart: &Chart, user_values: Map, options: &Options) -> Result<Rendered, RenderError> {
    let kube_version = KubeVersion::parse(&options.kube_version).ok_or_else(|| {
        RenderError::Invalid(format!("invalid kube version {:?}", options.kube_version))
    })?;
    check_kube_version(chart, &kube_version.version)?;
    let mut api_versions: Vec<String> =
        DEFAULT_API_VERSIONS.iter().map(|v| v.to_string()).collect();
    api_versions.extend(options.api_versions.iter().cloned());
    let capabilities = Arc::new(objects::Capabilities {
        kube_version,
        api_versions,
    });
    dependencies::check_present(chart)?;
    let mut chart = chart.clone();
    dependencies::process(&mut chart, &user_values);
    let chart = &chart;
    let values = values::coalesce(chart, user_values);
    if !options.skip_schema_validation {
        schema::validate(chart, &values)?;
    }
    let mut files = render::render_templates(
        chart,
        values::deep_copy_map(&values),
        &options.release,
        capabilities,
        options.cluster.clone(),
    )?;
    // Only the root chart's notes are kept; every NOTES.txt is rendered (its errors count).
    let notes = files
        .get(&format!("{}/templates/NOTES.txt", chart.name()))
        .cloned()
        .unwrap_or_default();
    files.retain(|name, _| !name.ends_with("NOTES.txt"));
    let (manifests, hooks) = manifest::sort_manifests(&files)?;
    Ok(Rendered {
        manifests,
        hooks,
        notes,
        crds: crd_files(chart, chart.name()),
        values,
    })
}

/// Renders `chart` with `user_values` (already merged from files and flags) and prints it
/// as `helm template` does.
pub fn template(chart: &Chart, user_values: Map, options: &Options) -> Result<String, RenderError> {
    let rendered = render(chart, user_values, options)?;
    let crds: &[(String, String)] = if options.include_crds {
        &rendered.crds
    } else {
        &[]
    };
    let out = manifest::assemble(
        crds,
        &rendered.manifests,
        &rendered.hooks,
        options.skip_tests,
    );
    if options.show_only.is_empty() {
        return Ok(out);
    }
    show_only(&out, &options.show_only)
}

fn check_kube_version(chart: &Chart, version: &str) -> Result<(), RenderError> {
    let Some(constraint) = chart
        .metadata
        .get("kubeVersion")
        .and_then(serde_json::Value::as_str)
    else {
        return Ok(());
    };
    if constraint.is_empty() {
        return Ok(());
    }
    match sprig::semver::check(constraint, version) {
        Ok(true) => Ok(()),
        Ok(false) => Err(RenderError::KubeVersion {
            constraint: constraint.into(),
            version: version.into(),
        }),
        Err(e) => Err(RenderError::Invalid(format!(
            "chart.metadata.kubeVersion {constraint:?}: {e}"
        ))),
    }
}

/// `crds/*.{yaml,yml,json}` of the chart and its subcharts, with their printed paths.
fn crd_files(chart: &Chart, full_path: &str) -> Vec<(String, String)> {
    let mut crds: Vec<(String, String)> = chart
        .files
        .iter()
        .filter(|f| {
            f.name.starts_with("crds/")
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|ext| f.name.ends_with(ext))
        })
        .map(|f| {
            (
                format!("{full_path}/{}", f.name),
                String::from_utf8_lossy(&f.data).into_owned(),
            )
        })
        .collect();
    for sub in &chart.dependencies {
        crds.extend(crd_files(
            sub,
            &format!("{full_path}/charts/{}", sub.name()),
        ));
    }
    crds
}

/// `--show-only`: the documents of the named templates, in the order asked for.
fn show_only(out: &str, patterns: &[String]) -> Result<String, RenderError> {
    let documents = manifest::split_documents(out);
    let mut shown = String::new();
    for pattern in patterns {
        let mut found = false;
        for document in &documents {
            let Some(source) = document.strip_prefix("# Source: ") else {
                continue;
            };
            let path = source.lines().next().unwrap_or_default();
            let Some((_, relative)) = path.split_once('/') else {
                continue;
            };
            if ignore::glob_match(pattern, relative) {
                shown.push_str(&format!("---\n{document}\n"));
                found = true;
            }
        }
        if !found {
            return Err(RenderError::Invalid(format!(
                "could not find template {pattern} in chart"
            )));
        }
    }
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::ChartFile;

    /// A cluster holding one ConfigMap, `settings` in `apps`.
    struct OneConfigMap;

    impl Cluster for OneConfigMap {
        fn lookup(
            &self,
            api_version: &str,
            kind: &str,
            namespace: &str,
            name: &str,
        ) -> Result<serde_json::Value, String> {
            Ok(match (api_version, kind, namespace, name) {
                ("v1", "ConfigMap", "apps", "settings") => {
                    serde_json::json!({"metadata": {"name": "settings"}, "data": {"replicas": "3"}, "generation": 2})
                }
                ("v1", "ConfigMap", "apps", "") => {
                    serde_json::json!({"items": [{"metadata": {"name": "settings"}}]})
                }
                ("v1", "Secret", _, _) => return Err("secrets \"x\" is forbidden".into()),
                _ => serde_json::json!({}),
            })
        }
    }

    fn chart(template: &str) -> Chart {
        let file = |name: &str, text: &str| ChartFile {
            name: name.into(),
            data: text.as_bytes().into(),
        };
        Chart::from_files(vec![
            file("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.0.0\n"),
            file("templates/cm.yaml", template),
        ])
        .unwrap()
    }

    #[test]
    fn lookup_reads_through_the_cluster_it_is_given_and_finds_nothing_without_one() {
        let demo = chart(
            "a: {{ (lookup \"v1\" \"ConfigMap\" \"apps\" \"settings\").data.replicas }}\n\
             b: {{ printf \"%T\" (lookup \"v1\" \"ConfigMap\" \"apps\" \"settings\").generation }}\n\
             c: {{ len (lookup \"v1\" \"ConfigMap\" \"apps\" \"\").items }}\n\
             d: {{ lookup \"v1\" \"ConfigMap\" \"apps\" \"other\" | len }}\n",
        );
        let mut options = Options {
            cluster: Some(Arc::new(OneConfigMap)),
            ..Options::default()
        };
        let out = template(&demo, Map::new(), &options).unwrap();
        assert_eq!(
            out,
            "---\n# Source: demo/templates/cm.yaml\na: 3\nb: int\nc: 1\nd: 0\n"
        );
        let error = template(
            &chart("{{ lookup \"v1\" \"Secret\" \"apps\" \"x\" }}"),
            Map::new(),
            &options,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("error calling lookup: secrets \"x\" is forbidden"),
            "{error}"
        );
        options.cluster = None;
        let offline = template(
            &chart("a: {{ lookup \"v1\" \"ConfigMap\" \"apps\" \"settings\" | len }}\n"),
            Map::new(),
            &options,
        );
        assert_eq!(
            offline.unwrap(),
            "---\n# Source: demo/templates/cm.yaml\na: 0\n"
        );
    }
}
