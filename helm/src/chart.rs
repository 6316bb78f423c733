//! Charts as Helm loads them: from a directory (with `.helmignore`) or a `.tgz` archive,
//! into metadata, default values, templates, other files and subcharts.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use serde_json::{Map, Value as Json};

use crate::LoadError;
use crate::ignore::IgnoreRules;

/// Limits on what a chart archive may hold, so a hostile archive cannot exhaust memory.
pub const MAX_ARCHIVE_BYTES: u64 = 100 * 1024 * 1024;
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
pub const MAX_FILES: usize = 20_000;

/// A file of a chart, by its path relative to the chart root. Shared: charts are cloned
/// while dependencies are processed, and `.Files` hands out the same bytes.
#[derive(Debug, Clone)]
pub struct ChartFile {
    pub name: String,
    pub data: std::sync::Arc<[u8]>,
}

#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`, as read (JSON keys as written: `name`, `appVersion`, …).
    pub metadata: Map<String, Json>,
    /// `values.yaml`.
    pub values: Map<String, Json>,
    pub schema: Option<Vec<u8>>,
    /// Files under `templates/`, in path order.
    pub templates: Vec<ChartFile>,
    /// Everything else a template can read through `.Files`.
    pub files: Vec<ChartFile>,
    /// Subcharts from `charts/`, in path order.
    pub dependencies: Vec<Chart>,
    /// `requirements.yaml` of an apiVersion v1 chart, as its dependency list.
    pub requirements: Option<Map<String, Json>>,
}

impl Chart {
    pub fn name(&self) -> &str {
        self.metadata
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
    }

    pub fn is_library(&self) -> bool {
        self.metadata.get("type").and_then(Json::as_str) == Some("library")
    }

    pub fn version(&self) -> String {
        match self.metadata.get("version") {
            Some(Json::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }

    /// The dependency list (`requirements.yaml`'s for v1 charts is moved here on load);
    /// `None` when the chart declares none.
    pub fn dependency_specs(&self) -> Option<Vec<Map<String, Json>>> {
        let list = self.metadata.get("dependencies")?.as_array()?;
        Some(list.iter().filter_map(|d| d.as_object().cloned()).collect())
    }

    /// Loads a chart directory; files `.helmignore` names are left out.
    pub fn load_dir(dir: &Path) -> Result<Chart, LoadError> {
        let rules = match std::fs::read_to_string(dir.join(".helmignore")) {
            Ok(text) => IgnoreRules::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => IgnoreRules::default(),
            Err(e) => return Err(LoadError::Io(dir.join(".helmignore"), e)),
        };
        let mut files = Vec::new();
        collect_dir(dir, dir, &rules, &mut files)?;
        Chart::from_files(files)
    }

    /// Loads a chart archive (`.tgz`): one top directory, stripped.
    pub fn load_archive(bytes: &[u8]) -> Result<Chart, LoadError> {
        if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
            return Err(LoadError::TooLarge(
                "chart archive".into(),
                MAX_ARCHIVE_BYTES,
            ));
        }
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let mut files = Vec::new();
        let mut total = 0u64;
        for entry in archive.entries().map_err(LoadError::Archive)? {
            let mut entry = entry.map_err(LoadError::Archive)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(LoadError::Archive)?.into_owned();
            let name = archive_name(&path)?;
            let Some(name) = name else { continue };
            let size = entry.header().size().map_err(LoadError::Archive)?;
            if size > MAX_FILE_BYTES {
                return Err(LoadError::TooLarge(name, MAX_FILE_BYTES));
            }
            total += size;
            if total > MAX_ARCHIVE_BYTES * 2 || files.len() >= MAX_FILES {
                return Err(LoadError::TooLarge(
                    "chart archive content".into(),
                    MAX_ARCHIVE_BYTES * 2,
                ));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry
                .by_ref()
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut data)
                .map_err(LoadError::Archive)?;
            files.push(ChartFile {
                name,
                data: data.into(),
            });
        }
        Chart::from_files(files)
    }

    /// Sorts loaded files into a chart, as Helm's `LoadFiles` does.
    pub fn from_files(files: Vec<ChartFile>) -> Result<Chart, LoadError> {
        let mut chart = Chart {
            metadata: Map::new(),
            values: Map::new(),
            schema: None,
            templates: Vec::new(),
            files: Vec::new(),
            dependencies: Vec::new(),
            requirements: None,
        };
        let mut has_chart_yaml = false;
        let mut subcharts: BTreeMap<String, Vec<ChartFile>> = BTreeMap::new();
        for file in files {
            match file.name.as_str() {
                "Chart.yaml" => {
                    chart.metadata = yaml_map(&file)?;
                    has_chart_yaml = true;
                }
                "values.yaml" => chart.values = yaml_map(&file)?,
                "values.schema.json" => chart.schema = Some(file.data.to_vec()),
                "requirements.yaml" => chart.requirements = Some(yaml_map(&file)?),
                "Chart.lock" | "requirements.lock" => {}
                name if name.starts_with("templates/") => chart.templates.push(file),
                name if name.starts_with("charts/") && !name.ends_with(".prov") => {
                    let rest = &name["charts/".len()..];
                    let sub = rest.split('/').next().unwrap_or_default().to_string();
                    subcharts.entry(sub).or_default().push(file);
                }
                _ => chart.files.push(file),
            }
        }
        if !has_chart_yaml {
            return Err(LoadError::Invalid("Chart.yaml file is missing".into()));
        }
        // A v1 chart lists its dependencies in requirements.yaml.
        if chart.metadata.get("apiVersion").and_then(Json::as_str) == Some("v1")
            && let Some(dependencies) = chart
                .requirements
                .as_ref()
                .and_then(|r| r.get("dependencies"))
        {
            chart
                .metadata
                .insert("dependencies".into(), dependencies.clone());
        }
        validate_metadata(&chart.metadata)?;
        for (name, files) in subcharts {
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let prefix = format!("charts/{name}/");
            if files.iter().all(|f| f.name.starts_with(&prefix)) {
                let inner = files
                    .into_iter()
                    .map(|f| ChartFile {
                        name: f.name[prefix.len()..].to_string(),
                        data: f.data,
                    })
                    .collect();
                chart
                    .dependencies
                    .push(Chart::from_files(inner).map_err(|e| e.in_subchart(&name))?);
            } else if let Some(archive) = files
                .iter()
                .find(|f| f.name.ends_with(".tgz") || f.name.ends_with(".tar.gz"))
            {
                chart
                    .dependencies
                    .push(Chart::load_archive(&archive.data).map_err(|e| e.in_subchart(&name))?);
            }
        }
        chart.templates.sort_by(|a, b| a.name.cmp(&b.name));
        chart.files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(chart)
    }
}

/// An archive path without its top directory; `None` for the directory entry itself.
/// Paths that could leave the chart are refused.
fn archive_name(path: &Path) -> Result<Option<String>, LoadError> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(LoadError::Invalid(format!(
                    "chart archive entry {} leaves the chart",
                    path.display()
                )));
            }
        }
    }
    if parts.len() < 2 {
        return Ok(None);
    }
    Ok(Some(parts[1..].join("/")))
}

fn collect_dir(
    root: &Path,
    dir: &Path,
    rules: &IgnoreRules,
    out: &mut Vec<ChartFile>,
) -> Result<(), LoadError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| LoadError::Io(dir.to_path_buf(), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| LoadError::Io(dir.to_path_buf(), e))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        // Follows links, as Helm does, but only to what stays a file or directory.
        let meta = std::fs::metadata(&path).map_err(|e| LoadError::Io(path.clone(), e))?;
        if rules.ignored(&name, meta.is_dir()) {
            continue;
        }
        if meta.is_dir() {
            collect_dir(root, &path, rules, out)?;
        } else if meta.is_file() {
            if meta.len() > MAX_FILE_BYTES {
                return Err(LoadError::TooLarge(name, MAX_FILE_BYTES));
            }
            let data = std::fs::read(&path).map_err(|e| LoadError::Io(path.clone(), e))?;
            out.push(ChartFile {
                name,
                data: data.into(),
            });
        }
    }
    Ok(())
}

/// A YAML file that must hold a map (empty files give an empty one).
fn yaml_map(file: &ChartFile) -> Result<Map<String, Json>, LoadError> {
    let text = String::from_utf8_lossy(&file.data);
    let documents = goyaml::parse_yaml11(&text)
        .map_err(|e| LoadError::Invalid(format!("cannot load {}: {e}", file.name)))?;
    match documents.into_iter().next() {
        None | Some(Json::Null) => Ok(Map::new()),
        Some(Json::Object(map)) => Ok(map),
        Some(_) => Err(LoadError::Invalid(format!(
            "cannot load {}: not a map",
            file.name
        ))),
    }
}

/// Helm's `Metadata.Validate`: a name that is a plain file name, an API version, a
/// semantic version, a known type, and dependencies with distinct names (or aliases).
fn validate_metadata(metadata: &Map<String, Json>) -> Result<(), LoadError> {
    let field = |key: &str| match metadata.get(key) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let invalid = |message: String| Err(LoadError::Invalid(format!("validation: {message}")));
    let (name, version) = (field("name"), field("version"));
    if field("apiVersion").is_empty() {
        return invalid("chart.metadata.apiVersion is required".into());
    }
    if name.is_empty() {
        return invalid("chart.metadata.name is required".into());
    }
    if name == "." || name == ".." {
        return invalid(format!("chart.metadata.name {name:?} is not allowed"));
    }
    if name.contains('/') {
        return invalid(format!("chart.metadata.name {name:?} is invalid"));
    }
    if version.is_empty() {
        return invalid("chart.metadata.version is required".into());
    }
    if sprig::semver::Version::parse(&version).is_err() {
        return invalid(format!("chart.metadata.version {version:?} is invalid"));
    }
    if !matches!(field("type").as_str(), "" | "application" | "library") {
        return invalid("chart.metadata.type must be application or library".into());
    }
    let mut seen = Vec::new();
    for dependency in metadata
        .get("dependencies")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let text = |key: &str| {
            dependency
                .get(key)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let key = if text("alias").is_empty() {
            text("name")
        } else {
            text("alias")
        };
        if seen.contains(&key) {
            return invalid(format!(
                "more than one dependency with name or alias {key:?}"
            ));
        }
        seen.push(key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzipped tar of `(raw entry name, content)`, names written as given.
    fn archive(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, content) in entries {
            let mut header = tar::Header::new_gnu();
            let raw = &mut header.as_gnu_mut().expect("a GNU header").name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder.append(&header, content.as_bytes()).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    const CHART_YAML: &str = "apiVersion: v2\nname: demo\nversion: 1.0.0\n";

    #[test]
    fn an_archive_loads_without_its_top_directory() {
        let chart = Chart::load_archive(&archive(&[
            ("demo/Chart.yaml", CHART_YAML),
            ("demo/values.yaml", "a: 1\n"),
            ("demo/templates/x.yaml", "x: {{ .Values.a }}\n"),
            ("demo/files/f.txt", "f\n"),
        ]))
        .unwrap();
        assert_eq!(chart.name(), "demo");
        assert_eq!(chart.templates[0].name, "templates/x.yaml");
        assert_eq!(chart.files[0].name, "files/f.txt");
    }

    #[test]
    fn archive_entries_that_leave_the_chart_are_refused() {
        let error = Chart::load_archive(&archive(&[
            ("demo/Chart.yaml", CHART_YAML),
            ("demo/../../etc/passwd", "x"),
        ]))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "chart archive entry demo/../../etc/passwd leaves the chart"
        );
        assert!(Chart::load_archive(b"not gzip").is_err());
    }

    #[test]
    fn chart_yaml_is_validated_as_helm_validates_it() {
        let load = |chart_yaml: &str| {
            Chart::from_files(vec![ChartFile {
                name: "Chart.yaml".into(),
                data: chart_yaml.as_bytes().into(),
            }])
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert_eq!(load(CHART_YAML), Ok(()));
        assert_eq!(
            load("apiVersion: v2\nname: demo\nversion: one\n"),
            Err("validation: chart.metadata.version \"one\" is invalid".into())
        );
        assert_eq!(
            load("apiVersion: v2\nname: ../x\nversion: 1.0.0\n"),
            Err("validation: chart.metadata.name \"../x\" is invalid".into())
        );
        assert_eq!(
            load("apiVersion: v2\nname: demo\nversion: 1.0.0\ntype: Library\n"),
            Err("validation: chart.metadata.type must be application or library".into())
        );
        assert_eq!(
            load("name: demo\n"),
            Err("validation: chart.metadata.apiVersion is required".into())
        );
    }
}
