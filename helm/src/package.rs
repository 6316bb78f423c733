//! Re-packaging a chart archive with new default values and a new version, as Flux does for
//! a HelmChart with `valuesFiles` (its `OverwriteChartDefaultValues` and `chartutil.Save`):
//! every other file kept as it is.

use std::io::{Read, Write};

use serde_json::{Map, Value};

use crate::LoadError;
use crate::chart::{MAX_ARCHIVE_BYTES, MAX_FILE_BYTES};

/// The archive with `<chart>/values.yaml` replaced by `values` (written as YAML) and
/// `<chart>/Chart.yaml`'s `version` set to `version`.
pub fn repackage(
    archive: &[u8],
    values: &Map<String, Value>,
    version: &str,
) -> Result<Vec<u8>, LoadError> {
    if archive.len() as u64 > MAX_ARCHIVE_BYTES {
        return Err(LoadError::TooLarge(
            "chart archive".into(),
            MAX_ARCHIVE_BYTES,
        ));
    }
    let mut entries = read_entries(archive)?;
    let root = entries
        .iter()
        .find_map(|(path, _)| {
            path.strip_suffix("/Chart.yaml")
                .filter(|r| !r.contains('/'))
        })
        .ok_or_else(|| LoadError::Invalid("Chart.yaml file is missing".into()))?
        .to_owned();
    let mut values_text = String::new();
    if !values.is_empty() {
        goyaml::write_document(&Value::Object(values.clone()), &mut values_text);
    }
    let values_path = format!("{root}/values.yaml");
    match entries.iter_mut().find(|(path, _)| *path == values_path) {
        Some(entry) => entry.1 = values_text.into_bytes(),
        None => entries.push((values_path, values_text.into_bytes())),
    }
    let chart_path = format!("{root}/Chart.yaml");
    let entry = entries
        .iter_mut()
        .find(|(path, _)| *path == chart_path)
        .expect("found above");
    entry.1 = with_version(&entry.1, version)?;
    write_entries(&entries)
}

/// `Chart.yaml` with its version replaced.
fn with_version(chart_yaml: &[u8], version: &str) -> Result<Vec<u8>, LoadError> {
    let text = String::from_utf8_lossy(chart_yaml);
    let mut documents =
        goyaml::parse_stream(&text).map_err(|e| LoadError::Invalid(format!("Chart.yaml: {e}")))?;
    let Some(Value::Object(metadata)) = documents.first_mut() else {
        return Err(LoadError::Invalid("Chart.yaml is not a map".into()));
    };
    metadata.insert("version".into(), Value::String(version.to_owned()));
    let mut out = String::new();
    goyaml::write_document(&documents[0], &mut out);
    Ok(out.into_bytes())
}

fn read_entries(archive: &[u8]) -> Result<Vec<(String, Vec<u8>)>, LoadError> {
    let mut reader = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut entries = Vec::new();
    for entry in reader.entries().map_err(LoadError::Archive)? {
        let mut entry = entry.map_err(LoadError::Archive)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(LoadError::Archive)?;
        let path = path.to_string_lossy().into_owned();
        if path.starts_with('/') || path.split('/').any(|part| part == "..") {
            return Err(LoadError::Invalid(format!(
                "chart archive entry '{path}' leaves the chart"
            )));
        }
        let mut data = Vec::new();
        entry
            .by_ref()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(LoadError::Archive)?;
        if data.len() as u64 > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge(path, MAX_FILE_BYTES));
        }
        entries.push((path, data));
    }
    Ok(entries)
}

/// A gzipped tar of the entries, files only, mode 0644, as Helm packages charts.
fn write_entries(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, LoadError> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gzip);
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, data.as_slice())
            .map_err(LoadError::Archive)?;
    }
    let mut gzip = builder.into_inner().map_err(LoadError::Archive)?;
    gzip.flush().map_err(LoadError::Archive)?;
    gzip.finish().map_err(LoadError::Archive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn archive(files: &[(&str, &str)]) -> Vec<u8> {
        let entries: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(p, d)| ((*p).to_owned(), d.as_bytes().to_vec()))
            .collect();
        write_entries(&entries).unwrap()
    }

    #[test]
    fn values_and_version_change_and_everything_else_stays() {
        let original = archive(&[
            (
                "podinfo/Chart.yaml",
                "apiVersion: v2\nname: podinfo\nversion: 6.1.0\n",
            ),
            ("podinfo/values.yaml", "replicaCount: 1\n"),
            ("podinfo/templates/cm.yaml", "kind: ConfigMap\n"),
            ("podinfo/values-prod.yaml", "replicaCount: 3\n"),
        ]);
        let values = json!({"replicaCount": 3}).as_object().unwrap().clone();
        let packaged = repackage(&original, &values, "6.1.0+2").unwrap();
        let chart = crate::Chart::load_archive(&packaged).unwrap();
        assert_eq!(chart.version(), "6.1.0+2");
        assert_eq!(chart.values, values);
        assert_eq!(chart.templates.len(), 1);
        assert!(chart.files.iter().any(|f| f.name == "values-prod.yaml"));
    }

    #[test]
    fn archives_that_leave_the_chart_are_refused() {
        // The tar crate refuses to write such a name: the header is filled in by hand.
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..13].copy_from_slice(b"../Chart.yaml");
        header.set_size(8);
        header.set_mode(0o644);
        header.set_cksum();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        builder.append(&header, &b"name: x\n"[..]).unwrap();
        let bad = builder.into_inner().unwrap().finish().unwrap();
        let error = repackage(&bad, &Map::new(), "1.0.0").unwrap_err();
        assert!(error.to_string().contains("leaves the chart"), "{error}");
    }
}
