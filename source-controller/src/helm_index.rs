//! Helm HTTP chart repositories as Helm and Flux read them: the repository URL, its
//! `index.yaml` (parsed, each chart's versions newest first, charts looked up by name and
//! version constraint), and downloads with the repository's credentials, TLS, timeout and a
//! size limit.

use std::collections::BTreeMap;
use std::time::Duration;

use api::source::v1::HelmRepositorySpec;
use artifacts::transport::{TlsMaterial, http_client};
use k8s_openapi::ByteString;
use serde_json::Value;
use sprig::semver::Version;
use url::Url;

/// The largest index accepted (Flux's `--helm-index-max-size` default).
pub const MAX_INDEX_SIZE: u64 = 50 << 20;
/// The largest chart accepted (Flux's `--helm-chart-max-size` default).
pub const MAX_CHART_SIZE: u64 = 10 << 20;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository URL as Flux normalises it (`repository.NormalizeURL`): its path ends in
/// one `/`, so that relative references resolve below it.
pub fn normalize_url(url: &str) -> Result<Url, String> {
    let mut parsed = Url::parse(url).map_err(|e| format!("parse \"{url}\": {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "scheme '{}' is not supported: use http or https",
            parsed.scheme()
        ));
    }
    let path = format!("{}/", parsed.path().trim_end_matches('/'));
    parsed.set_path(&path);
    Ok(parsed)
}

/// `reference` resolved against the repository URL (Helm's `ResolveReferenceURL`): an
/// absolute URL as it is, a relative one below the repository path and with its query.
pub fn resolve_reference(repository: &Url, reference: &str) -> Result<Url, String> {
    match Url::parse(reference) {
        Ok(absolute) => return Ok(absolute),
        Err(url::ParseError::RelativeUrlWithoutBase) => {}
        Err(e) => return Err(format!("invalid chart URL format '{reference}': {e}")),
    }
    let mut resolved = repository
        .join(reference)
        .map_err(|e| format!("invalid chart URL format '{reference}': {e}"))?;
    resolved.set_query(repository.query());
    Ok(resolved)
}

/// `<repository>/index.yaml`.
pub fn index_url(repository: &Url) -> Url {
    resolve_reference(repository, "index.yaml").expect("a relative file name resolves")
}

/// The URL for messages: a password in it is masked, as Go's `url.Redacted` does.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("xxxxx"));
    }
    shown.to_string()
}

/// One version of a chart in an index.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartVersion {
    pub name: String,
    pub version: String,
    pub urls: Vec<String>,
    pub created: Option<jiff::Timestamp>,
    parsed: Version,
}

/// A repository index: chart versions by chart name, newest first.
#[derive(Debug, Default)]
pub struct Index {
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
}

/// Loads an index as Helm does (`repo.loadIndex`): it must name its `apiVersion`; entries
/// Helm refuses (no name, a version that is not SemVer) are left out, and each chart's
/// versions are sorted newest first.
pub fn parse_index(bytes: &[u8]) -> Result<Index, String> {
    if bytes.is_empty() {
        return Err("empty index.yaml file".to_owned());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("index is not UTF-8: {e}"))?;
    let document = goyaml::parse_stream(text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("empty index.yaml file")?;
    let Value::Object(mut fields) = document else {
        return Err("the index is not a YAML mapping".to_owned());
    };
    if fields
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("no API version specified".to_owned());
    }
    let entries = match fields.remove("entries") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(entries)) => entries,
        Some(_) => return Err("'entries' is not a mapping of chart names".to_owned()),
    };
    let mut index = Index::default();
    for (name, versions) in entries {
        let versions = match versions {
            Value::Null => Vec::new(),
            Value::Array(items) => items,
            _ => return Err(format!("the entries of chart '{name}' are not a list")),
        };
        let mut loaded = Vec::with_capacity(versions.len());
        for item in versions {
            match item {
                Value::Null => {}
                Value::Object(fields) => loaded.extend(chart_version(&fields)),
                _ => return Err(format!("an entry of chart '{name}' is not a mapping")),
            }
        }
        loaded.sort_by(|a, b| b.parsed.compare(&a.parsed));
        index.entries.insert(name, loaded);
    }
    Ok(index)
}

/// An index entry, unless Helm's validation would leave it out.
fn chart_version(fields: &serde_json::Map<String, Value>) -> Option<ChartVersion> {
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let name = text("name").filter(|n| !n.is_empty())?;
    let version = text("version")?;
    let parsed = Version::parse(version).ok()?;
    let urls = fields
        .get("urls")
        .and_then(Value::as_array)
        .map(|urls| {
            urls.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some(ChartVersion {
        name: name.to_owned(),
        version: version.to_owned(),
        urls,
        created: text("created").and_then(|c| c.parse().ok()),
        parsed,
    })
}

impl Index {
    /// The version of chart `name` that `wanted` names (Flux's `GetChartVersion`): an exact
    /// match, else the highest version in the constraint (`*` and empty: the latest stable);
    /// of versions differing only in build metadata, the newest created.
    pub fn chart_version(&self, name: &str, wanted: &str) -> Result<&ChartVersion, String> {
        let versions = self.entries.get(name).ok_or("no chart name found")?;
        if versions.is_empty() {
            return Err("no chart version found".to_owned());
        }
        if let Some(exact) = versions
            .iter()
            .find(|v| !wanted.is_empty() && v.version == wanted)
        {
            return Ok(exact);
        }
        let mut candidates: Vec<&ChartVersion> = versions
            .iter()
            .filter(|v| is_full_version(&v.version))
            .collect();
        // Oldest first: pick_version keeps the last of equal versions.
        candidates.sort_by_key(|v| v.created);
        let pairs: Vec<(String, Version)> = candidates
            .iter()
            .map(|v| (v.version.clone(), v.parsed.clone()))
            .collect();
        match pick_version(&pairs, wanted)? {
            Some(position) => Ok(candidates[position]),
            None => Err(format!(
                "no '{name}' chart with version matching '{wanted}' found"
            )),
        }
    }
}

/// Flux's `version.ParseVersion`: three dot-separated numbers, `v` prefix allowed.
pub fn is_full_version(text: &str) -> bool {
    let core = text.trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    core.split('.').count() == 3
        && core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The position in `versions` of the one `wanted` names: an exact match, else the highest
/// in the constraint (`*` and empty: the latest stable), the last of equal ones. `Ok(None)`:
/// none matches; `Err`: `wanted` is not a constraint.
pub fn pick_version(versions: &[(String, Version)], wanted: &str) -> Result<Option<usize>, String> {
    if let Some(exact) = versions.iter().position(|(v, _)| v == wanted) {
        return Ok(Some(exact));
    }
    let constraint = if wanted.is_empty() { "*" } else { wanted };
    let constraints = sprig::semver::parse_constraints(constraint)?;
    Ok(versions
        .iter()
        .enumerate()
        .filter(|(_, (_, version))| constraints.check(version))
        .max_by(|a, b| a.1.1.compare(&b.1.1))
        .map(|(position, _)| position))
}

/// The URL a chart version is downloaded from: its first `urls` entry, as Flux takes it.
pub fn chart_download_url(repository: &Url, chart: &ChartVersion) -> Result<Url, String> {
    let first = chart
        .urls
        .first()
        .ok_or_else(|| format!("chart '{}' has no downloadable URLs", chart.name))?;
    resolve_reference(repository, first)
}

/// A size as docker's `units.HumanSize` writes it (Flux's events): decimal units, four
/// significant digits, e.g. `1.2kB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let integer_digits = if size < 1.0 {
        1
    } else {
        size.log10().floor() as usize + 1
    };
    let decimals = 4usize.saturating_sub(integer_digits);
    let mut text = format!("{size:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", UNITS[unit])
}

/// How to reach one repository: a client trusting its `certSecretRef`, its `secretRef`
/// credentials, and its timeout.
pub struct Access {
    client: reqwest::Client,
    basic: Option<(String, String)>,
    pass_credentials: bool,
    repository: Url,
    timeout: Duration,
}

/// Reads the repository's Secrets and builds its client. `repository` is the normalised URL.
pub async fn connect(
    client: &kube::Client,
    namespace: &str,
    spec: &HelmRepositorySpec,
    repository: Url,
) -> Result<Access, String> {
    let mut basic = None;
    let mut tls = None;
    if let Some(reference) = &spec.secret_ref {
        let data = secret(client, namespace, &reference.name, "authentication").await?;
        basic = basic_auth(&reference.name, &data)?;
        // Deprecated by Flux, still read: TLS material in secretRef without certSecretRef.
        let has_tls = ["ca.crt", "tls.crt", "caFile", "certFile"]
            .iter()
            .any(|k| data.contains_key(*k));
        if spec.cert_secret_ref.is_none() && has_tls {
            tls = Some(tls_material(&reference.name, &data)?);
        }
    }
    if let Some(reference) = &spec.cert_secret_ref {
        let data = secret(client, namespace, &reference.name, "TLS").await?;
        tls = Some(tls_material(&reference.name, &data)?);
    }
    let timeout = spec
        .timeout
        .as_deref()
        .and_then(|t| api::duration::parse(t).ok())
        .unwrap_or(DEFAULT_TIMEOUT);
    let client = http_client(tls.as_ref(), None)
        .map_err(|e| format!("failed to construct Helm client: {e}"))?;
    Ok(Access {
        client,
        basic,
        pass_credentials: spec.pass_credentials,
        repository,
        timeout,
    })
}

async fn secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    what: &str,
) -> Result<BTreeMap<String, ByteString>, String> {
    let failed =
        |detail: String| format!("failed to get {what} secret '{namespace}/{name}': {detail}");
    runtime::secret_data(client, namespace, name)
        .await
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed(format!("secrets \"{name}\" not found")))
}

fn tls_material(name: &str, data: &BTreeMap<String, ByteString>) -> Result<TlsMaterial, String> {
    TlsMaterial::from_secret(name, data)
        .map_err(|e| format!("failed to construct Helm client's TLS config: {e}"))
}

/// `username` and `password` of a `secretRef` (Flux's `basicAuthFromSecret`): both or neither.
fn basic_auth(
    name: &str,
    data: &BTreeMap<String, ByteString>,
) -> Result<Option<(String, String)>, String> {
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .unwrap_or_default()
    };
    match (text("username"), text("password")) {
        (username, password) if username.is_empty() && password.is_empty() => Ok(None),
        (username, password) if username.is_empty() || password.is_empty() => Err(format!(
            "invalid '{name}' secret data: required fields 'username' and 'password'"
        )),
        (username, password) => Ok(Some((username, password))),
    }
}

/// Whether credentials go with a request to `target`: with `passCredentials` always, else
/// only to the repository's own scheme, host and port (Helm's HTTP getter).
fn sends_credentials(pass_all: bool, repository: &Url, target: &Url) -> bool {
    pass_all
        || (repository.scheme() == target.scheme()
            && repository.host_str() == target.host_str()
            && repository.port_or_known_default() == target.port_or_known_default())
}

/// GETs `url` with the repository's access, refusing a body larger than `limit` bytes.
pub async fn get(access: &Access, url: &Url, limit: u64) -> Result<Vec<u8>, String> {
    let shown = redacted(url);
    let mut request = access.client.get(url.clone()).timeout(access.timeout);
    if let Some((username, password)) = &access.basic
        && sends_credentials(access.pass_credentials, &access.repository, url)
    {
        request = request.basic_auth(username, Some(password));
    }
    let failed = |e: reqwest::Error| {
        format!(
            "Get \"{shown}\": {}",
            artifacts::oci::error_chain(&e.without_url())
        )
    };
    let mut response = request.send().await.map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("failed to fetch {shown} : {status}"));
    }
    let too_large = || format!("size of '{shown}' exceeds '{limit}' bytes limit");
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  podinfo:
  - name: podinfo
    version: 6.1.0
    urls: [podinfo-6.1.0.tgz]
    created: "2024-01-01T00:00:00Z"
  - name: podinfo
    version: 6.2.0
    urls: ["https://charts.example.com/podinfo-6.2.0.tgz"]
  - name: podinfo
    version: 7.0.0-rc.1
    urls: [podinfo-7.0.0-rc.1.tgz]
  - name: podinfo
    version: 6.1.1+b
    created: "2024-01-02T00:00:00Z"
    urls: [b.tgz]
  - name: podinfo
    version: 6.1.1+a
    created: "2024-01-03T00:00:00Z"
    urls: [a.tgz]
  - name: podinfo
    version: not-semver
  - name: ""
    version: 1.0.0
  - null
  empty: []
generated: "2024-01-03T00:00:00Z"
"#;

    fn versions(index: &Index, chart: &str) -> Vec<String> {
        index.entries[chart]
            .iter()
            .map(|v| v.version.clone())
            .collect()
    }

    #[test]
    fn indexes_load_as_helm_loads_them() {
        let index = parse_index(INDEX.as_bytes()).unwrap();
        assert_eq!(
            versions(&index, "podinfo"),
            ["7.0.0-rc.1", "6.2.0", "6.1.1+b", "6.1.1+a", "6.1.0"]
        );
        assert!(index.entries["empty"].is_empty());
        let first = &index.entries["podinfo"][4];
        assert_eq!(first.urls, ["podinfo-6.1.0.tgz"]);
        assert_eq!(first.created, Some("2024-01-01T00:00:00Z".parse().unwrap()));

        let json =
            br#"{"apiVersion": "v1", "entries": {"a": [{"name": "a", "version": "1.0.0"}]}}"#;
        assert_eq!(versions(&parse_index(json).unwrap(), "a"), ["1.0.0"]);
        assert!(parse_index(b"apiVersion: v1\n").unwrap().entries.is_empty());
        assert_eq!(parse_index(b"").unwrap_err(), "empty index.yaml file");
        assert_eq!(
            parse_index(b"entries: {}\n").unwrap_err(),
            "no API version specified"
        );
        assert_eq!(
            parse_index(b"<html>not found</html>").unwrap_err(),
            "the index is not a YAML mapping"
        );
        assert_eq!(
            parse_index(b"apiVersion: v1\nentries: {a: 1}\n").unwrap_err(),
            "the entries of chart 'a' are not a list"
        );
        assert!(parse_index(b"apiVersion: v1\nentries: [\n").is_err());
    }

    #[test]
    fn charts_are_looked_up_as_flux_looks_them_up() {
        let index = parse_index(INDEX.as_bytes()).unwrap();
        let pick = |wanted| {
            index
                .chart_version("podinfo", wanted)
                .map(|v| v.version.as_str())
        };
        assert_eq!(pick(""), Ok("6.2.0"));
        assert_eq!(pick("*"), Ok("6.2.0"));
        assert_eq!(pick("6.1.0"), Ok("6.1.0"));
        assert_eq!(pick("6.1.x"), Ok("6.1.1+a"), "the newest of equal versions");
        assert_eq!(pick("7.0.0-rc.1"), Ok("7.0.0-rc.1"));
        assert_eq!(pick(">=7.0.0-0"), Ok("7.0.0-rc.1"));
        assert_eq!(
            pick("^8"),
            Err("no 'podinfo' chart with version matching '^8' found".to_owned())
        );
        assert_eq!(
            pick("not a range").unwrap_err(),
            "improper constraint: not a range"
        );
        assert_eq!(
            index.chart_version("nginx", "*").unwrap_err(),
            "no chart name found"
        );
        assert_eq!(
            index.chart_version("empty", "*").unwrap_err(),
            "no chart version found"
        );
    }

    #[test]
    fn versions_are_picked_by_exact_match_then_constraint() {
        let all: Vec<(String, Version)> = ["6.0.0", "6.1.0", "6.2.0", "7.0.0-rc.1", "5.9.9"]
            .iter()
            .map(|v| (v.to_string(), Version::parse(v).unwrap()))
            .collect();
        let pick = |wanted| {
            pick_version(&all, wanted)
                .unwrap()
                .map(|i| all[i].0.as_str())
        };
        assert_eq!(pick("*"), Some("6.2.0"));
        assert_eq!(pick(""), Some("6.2.0"));
        assert_eq!(pick("6.1.x"), Some("6.1.0"));
        assert_eq!(pick(">=6.0.0 <6.2.0"), Some("6.1.0"));
        assert_eq!(pick("7.0.0-rc.1"), Some("7.0.0-rc.1"));
        assert_eq!(pick("^8"), None);
        assert!(is_full_version("6.1.0"));
        assert!(is_full_version("v6.1.0+abc"));
        assert!(!is_full_version("6.1"));
        assert!(!is_full_version(">=6.1.0"));
        assert!(!is_full_version("*"));
    }

    #[test]
    fn urls_normalise_and_resolve_as_helm_resolves_them() {
        let repository = normalize_url("https://charts.example.com/stable//").unwrap();
        assert_eq!(repository.as_str(), "https://charts.example.com/stable/");
        assert_eq!(
            index_url(&repository).as_str(),
            "https://charts.example.com/stable/index.yaml"
        );
        let bare = normalize_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            index_url(&bare).as_str(),
            "http://127.0.0.1:8080/index.yaml"
        );
        let with_query = normalize_url("https://h/charts?token=t").unwrap();
        assert_eq!(
            index_url(&with_query).as_str(),
            "https://h/charts/index.yaml?token=t"
        );
        let resolve = |reference| {
            resolve_reference(&with_query, reference)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            resolve("podinfo-6.1.0.tgz"),
            "https://h/charts/podinfo-6.1.0.tgz?token=t"
        );
        assert_eq!(resolve("/root.tgz"), "https://h/root.tgz?token=t");
        assert_eq!(
            resolve("https://cdn/podinfo.tgz"),
            "https://cdn/podinfo.tgz"
        );
        assert!(
            normalize_url("oci://r/charts")
                .unwrap_err()
                .contains("scheme 'oci'")
        );
        assert!(normalize_url("not a url").is_err());
        let secret = Url::parse("https://user:pw@h/i").unwrap();
        assert_eq!(redacted(&secret), "https://user:xxxxx@h/i");

        let index = parse_index(INDEX.as_bytes()).unwrap();
        let chart = index.chart_version("podinfo", "6.1.0").unwrap();
        assert_eq!(
            chart_download_url(&repository, chart).unwrap().as_str(),
            "https://charts.example.com/stable/podinfo-6.1.0.tgz"
        );
        let mut no_urls = chart.clone();
        no_urls.urls.clear();
        assert_eq!(
            chart_download_url(&repository, &no_urls).unwrap_err(),
            "chart 'podinfo' has no downloadable URLs"
        );
    }

    #[test]
    fn credentials_stay_with_the_repository_host_unless_passed() {
        let repository = Url::parse("https://charts.example.com/").unwrap();
        let same = Url::parse("https://charts.example.com:443/a.tgz").unwrap();
        let other = Url::parse("https://cdn.example.com/a.tgz").unwrap();
        let plain = Url::parse("http://charts.example.com/a.tgz").unwrap();
        assert!(sends_credentials(false, &repository, &same));
        assert!(!sends_credentials(false, &repository, &other));
        assert!(!sends_credentials(false, &repository, &plain));
        assert!(sends_credentials(true, &repository, &other));

        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, ByteString> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect()
        };
        assert_eq!(basic_auth("s", &data(&[])).unwrap(), None);
        assert_eq!(
            basic_auth("s", &data(&[("username", "u"), ("password", "p")])).unwrap(),
            Some(("u".to_owned(), "p".to_owned()))
        );
        assert_eq!(
            basic_auth("s", &data(&[("username", "u")])).unwrap_err(),
            "invalid 's' secret data: required fields 'username' and 'password'"
        );
    }

    #[test]
    fn sizes_read_as_docker_writes_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.234kB");
        assert_eq!(human_size(1200), "1.2kB");
        assert_eq!(human_size(12_345_678), "12.35MB");
        assert_eq!(human_size(999_999), "1000kB");
    }
}
