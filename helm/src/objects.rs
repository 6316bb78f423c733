//! The host objects templates see: `.Files`, `.Capabilities` and its parts.

use std::sync::Arc;

use base64::Engine as _;
use gotemplate::{Map, Object, Value};

use crate::chart::ChartFile;

/// `.Files`: the chart's non-template files, by path.
pub struct Files {
    files: Vec<(String, Arc<[u8]>)>,
}

impl Files {
    pub fn new(files: &[ChartFile]) -> Files {
        Files {
            files: files
                .iter()
                .map(|f| (f.name.clone(), Arc::clone(&f.data)))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&Arc<[u8]>> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, data)| data)
    }

    /// Files matching a glob where `*` stays within a path segment and `**` crosses them.
    fn glob(&self, pattern: &str) -> Files {
        let regex = glob_regex(pattern);
        Files {
            files: self
                .files
                .iter()
                .filter(|(name, _)| regex.is_match(name))
                .cloned()
                .collect(),
        }
    }

    /// `AsConfig`/`AsSecrets`: a YAML map of base names to contents.
    fn as_map(&self, encode: fn(&[u8]) -> String) -> String {
        if self.files.is_empty() {
            return String::new();
        }
        let map: serde_json::Map<String, serde_json::Value> = self
            .files
            .iter()
            .map(|(name, data)| {
                let base = name.rsplit('/').next().unwrap_or(name).to_string();
                (base, serde_json::Value::String(encode(data)))
            })
            .collect();
        crate::funcs::to_yaml(&serde_json::Value::Object(map))
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "files.Files"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "AsConfig" => Some(Value::string(
                self.as_map(|d| String::from_utf8_lossy(d).into_owned()),
            )),
            "AsSecrets" => {
                Some(Value::string(self.as_map(|d| {
                    base64::engine::general_purpose::STANDARD.encode(d)
                })))
            }
            _ => None,
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let [Value::String(arg)] = args else {
            return matches!(name, "Get" | "GetBytes" | "Glob" | "Lines")
                .then(|| Err(format!("wrong number or type of args for {name}")));
        };
        Some(Ok(match name {
            "Get" => Value::string(
                self.get(arg)
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .unwrap_or_default(),
            ),
            "GetBytes" => {
                Value::Bytes(self.get(arg).cloned().unwrap_or_else(|| Arc::from(&[][..])))
            }
            "Glob" => Value::Object(Arc::new(self.glob(arg))),
            "Lines" => {
                let text = self
                    .get(arg)
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .unwrap_or_default();
                if text.is_empty() {
                    Value::list(Vec::new())
                } else {
                    Value::list(text.split('\n').map(Value::string).collect())
                }
            }
            _ => return None,
        }))
    }

    fn display(&self) -> String {
        Value::map(self.entries().unwrap_or_default().into_iter().collect()).to_string()
    }

    fn entries(&self) -> Option<Vec<(String, Value)>> {
        let mut entries: Vec<(String, Value)> = self
            .files
            .iter()
            .map(|(name, data)| (name.clone(), Value::Bytes(Arc::clone(data))))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Some(entries)
    }

    fn truthy(&self) -> bool {
        !self.files.is_empty()
    }
}

/// gobwas/glob with `/` as separator, as Helm's `Files.Glob` uses it.
fn glob_regex(pattern: &str) -> regex::Regex {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '{' => re.push_str("(?:"),
            '}' => re.push(')'),
            ',' => re.push('|'),
            '[' => {
                re.push('[');
                if chars.get(i + 1) == Some(&'!') {
                    re.push('^');
                    i += 1;
                }
            }
            ']' => re.push(']'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::Regex::new(&re).unwrap_or_else(|_| regex::Regex::new("$^").expect("valid"))
}

/// `.Capabilities`.
pub struct Capabilities {
    pub kube_version: KubeVersion,
    pub api_versions: Vec<String>,
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "*common.Capabilities"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(Value::Object(Arc::new(self.kube_version.clone()))),
            "APIVersions" => Some(Value::Object(Arc::new(ApiVersions(
                self.api_versions.clone(),
            )))),
            "HelmVersion" => Some(Value::Object(Arc::new(HelmVersion))),
            _ => None,
        }
    }

    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn display(&self) -> String {
        format!(
            "&{{{} {} {}}}",
            self.kube_version.display(),
            ApiVersions(self.api_versions.clone()).display(),
            HelmVersion.display()
        )
    }
}

/// `.Capabilities.KubeVersion`.
#[derive(Clone)]
pub struct KubeVersion {
    pub version: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// A version as `--kube-version` takes it (`1.30`, `v1.30.2`); `None` if it is not one.
    pub fn parse(text: &str) -> Option<KubeVersion> {
        let bare = text.strip_prefix('v').unwrap_or(text);
        let mut parts = bare.splitn(3, '.');
        let major: u64 = parts.next()?.parse().ok()?;
        let minor: u64 = parts.next().unwrap_or("0").parse().ok()?;
        let patch = parts.next().unwrap_or("0");
        Some(KubeVersion {
            version: format!("v{major}.{minor}.{patch}"),
            major: major.to_string(),
            minor: minor.to_string(),
        })
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "common.KubeVersion"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Version" | "GitVersion" | "String" => Some(Value::string(self.version.as_str())),
            "Major" => Some(Value::string(self.major.as_str())),
            "Minor" => Some(Value::string(self.minor.as_str())),
            _ => None,
        }
    }

    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn display(&self) -> String {
        format!(
            "{{{} {} {} {}}}",
            self.version, self.version, self.major, self.minor
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"Version": self.version, "Major": self.major, "Minor": self.minor})
    }
}

/// `.Capabilities.APIVersions`, with `Has`.
pub struct ApiVersions(Vec<String>);

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "common.VersionSet"
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "Has" {
            return None;
        }
        Some(match args {
            [Value::String(version)] => {
                Ok(Value::Bool(self.0.iter().any(|v| v == version.as_ref())))
            }
            _ => Err("wrong type for value; expected string".into()),
        })
    }

    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::from(self.0.clone())
    }
}

/// `.Capabilities.HelmVersion`: the Helm release whose rendering this one reproduces.
pub struct HelmVersion;

pub const HELM_VERSION: &str = "v4.1.4";

impl Object for HelmVersion {
    fn type_name(&self) -> &str {
        "version.BuildInfo"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Version" => Some(Value::string(HELM_VERSION)),
            "GitCommit" | "GitTreeState" => Some(Value::string("")),
            "GoVersion" => Some(Value::string("")),
            "KubeClientVersion" => Some(Value::string("v1.35")),
            _ => None,
        }
    }

    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn display(&self) -> String {
        format!("{{{HELM_VERSION}   v1.35}}")
    }
}

/// The Kubernetes version `helm template` assumes: its client library's.
pub const DEFAULT_KUBE_VERSION: &str = "v1.35.0";

/// The API versions `helm template` assumes (its client library's scheme), in its order.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// `.Chart`: the metadata with Go's field names, plus `IsRoot`.
pub fn chart_value(metadata: &serde_json::Map<String, serde_json::Value>, is_root: bool) -> Value {
    const STRINGS: &[(&str, &str)] = &[
        ("APIVersion", "apiVersion"),
        ("AppVersion", "appVersion"),
        ("Condition", "condition"),
        ("Description", "description"),
        ("Home", "home"),
        ("Icon", "icon"),
        ("KubeVersion", "kubeVersion"),
        ("Name", "name"),
        ("Tags", "tags"),
        ("Type", "type"),
        ("Version", "version"),
    ];
    const LISTS: &[(&str, &str)] = &[
        ("Dependencies", "dependencies"),
        ("Keywords", "keywords"),
        ("Maintainers", "maintainers"),
        ("Sources", "sources"),
    ];
    let mut map = Map::new();
    for (go, yaml) in STRINGS {
        let text = match metadata.get(*yaml) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        map.insert((*go).into(), Value::string(text));
    }
    for (go, yaml) in LISTS {
        let items = metadata
            .get(*yaml)
            .cloned()
            .unwrap_or(serde_json::Value::Array(Vec::new()));
        map.insert((*go).into(), Value::from(items));
    }
    let annotations = metadata
        .get("annotations")
        .cloned()
        .unwrap_or(serde_json::Value::Object(Default::default()));
    map.insert("Annotations".into(), Value::from(annotations));
    map.insert(
        "Deprecated".into(),
        Value::Bool(
            metadata
                .get("deprecated")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        ),
    );
    map.insert("IsRoot".into(), Value::Bool(is_root));
    if map.get("Type").is_some_and(|t| t.as_str() == Some("")) {
        map.insert("Type".into(), Value::string("application"));
    }
    Value::map(map)
}
