//! Helm's release records as its `Secrets` storage driver keeps them, so the `helm` CLI
//! (v3 and v4) reads what we write and we read what it writes. Bytes and labels only: the
//! caller talks to the API server.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::chart::{Chart, ChartFile};

/// The `type` of a release Secret.
pub const STORAGE_TYPE: &str = "helm.sh/release.v1";

/// A release is a few MiB at most; more after gunzip means a gzip bomb.
const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024;

/// Helm gunzips only what starts with these bytes (its `magicGzip`).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("encoding the release as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("compressing the release: {0}")]
    Compress(#[source] std::io::Error),
    #[error("release data is not base64: {0}")]
    Base64(#[source] base64::DecodeError),
    #[error("decompressing the release: {0}")]
    Gunzip(#[source] std::io::Error),
    #[error("decompressed release is larger than {0} bytes")]
    TooLarge(u64),
    #[error("decoding the release JSON: {0}")]
    Decode(#[source] serde_json::Error),
}

/// Helm's `release.Release`; fields in Go's order, which is the JSON's order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub info: Info,
    #[serde(default)]
    pub chart: StoredChart,
    /// The user-supplied values.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Json>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<StoredHook>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Helm 4: `ssa` or `csa`; Helm 3 neither writes nor reads it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub apply_method: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    #[serde(default, with = "go_time")]
    pub first_deployed: Option<Timestamp>,
    #[serde(default, with = "go_time")]
    pub last_deployed: Option<Timestamp>,
    #[serde(default, with = "go_time")]
    pub deleted: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Status {
    /// Also what a status this code does not know reads as.
    #[default]
    Unknown,
    Deployed,
    Uninstalled,
    Superseded,
    Failed,
    Uninstalling,
    PendingInstall,
    PendingUpgrade,
    PendingRollback,
}

impl Status {
    const ALL: [Status; 9] = [
        Status::Unknown,
        Status::Deployed,
        Status::Uninstalled,
        Status::Superseded,
        Status::Failed,
        Status::Uninstalling,
        Status::PendingInstall,
        Status::PendingUpgrade,
        Status::PendingRollback,
    ];

    /// Helm's name, as in the JSON and the `status` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Deployed => "deployed",
            Status::Uninstalled => "uninstalled",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::PendingRollback => "pending-rollback",
        }
    }

    /// An operation was started and never finished (Helm refuses to start another).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Status::PendingInstall | Status::PendingUpgrade | Status::PendingRollback
        )
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let text: String = null_default(d)?;
        Ok(Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or_default())
    }
}

/// Helm's `chart.Chart` as stored: the root chart only, subcharts are not kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredChart {
    /// `Chart.yaml`; written as Helm's `Metadata` struct would be.
    #[serde(
        default,
        serialize_with = "metadata::serialize",
        deserialize_with = "null_default"
    )]
    pub metadata: Map<String, Json>,
    /// `Chart.lock`, kept as read so a Helm-written record round-trips.
    #[serde(default)]
    pub lock: Option<Json>,
    #[serde(default, deserialize_with = "null_default")]
    pub templates: Vec<StoredFile>,
    #[serde(default, deserialize_with = "null_default")]
    pub values: Map<String, Json>,
    #[serde(default, with = "base64_schema")]
    pub schema: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "null_default")]
    pub files: Vec<StoredFile>,
}

impl StoredChart {
    pub fn from_chart(chart: &Chart) -> StoredChart {
        let stored = |files: &[ChartFile]| {
            files
                .iter()
                .map(|f| StoredFile {
                    name: f.name.clone(),
                    data: f.data.to_vec(),
                })
                .collect()
        };
        StoredChart {
            metadata: chart.metadata.clone(),
            lock: None,
            templates: stored(&chart.templates),
            values: chart.values.clone(),
            schema: chart.schema.clone(),
            files: stored(&chart.files),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredFile {
    pub name: String,
    #[serde(with = "base64_data")]
    pub data: Vec<u8>,
}

/// Helm's `release.Hook`. Events and policies stay strings so values this code does not
/// know survive a rewrite.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredHook {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "hook_events"
    )]
    pub events: Vec<String>,
    /// Go's `omitempty` never drops a struct: always written.
    #[serde(default)]
    pub last_run: HookRun,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub delete_policies: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub output_log_policies: Vec<String>,
}

/// Helm's `HookExecution`; `phase` is `Unknown`, `Running`, `Succeeded`, `Failed` or "".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    #[serde(default, with = "go_time")]
    pub started_at: Option<Timestamp>,
    #[serde(default, with = "go_time")]
    pub completed_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "null_default")]
    pub phase: String,
}

/// The bytes of the Secret's `release` key: `base64(gzip(json))`, as Helm's `encodeRelease`.
pub fn encode(release: &Release) -> Result<Vec<u8>, ReleaseError> {
    let json = serde_json::to_vec(release).map_err(ReleaseError::Encode)?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&json).map_err(ReleaseError::Compress)?;
    let zipped = gzip.finish().map_err(ReleaseError::Compress)?;
    Ok(STANDARD.encode(zipped).into_bytes())
}

/// Reads the Secret's `release` key as Helm's `decodeRelease` does.
pub fn decode(bytes: &[u8]) -> Result<Release, ReleaseError> {
    let raw = STANDARD.decode(bytes).map_err(ReleaseError::Base64)?;
    let json = if raw.len() > GZIP_MAGIC.len() && raw.starts_with(&GZIP_MAGIC) {
        gunzip(&raw, MAX_DECODED_BYTES)?
    } else {
        raw
    };
    serde_json::from_slice(&json).map_err(ReleaseError::Decode)
}

fn gunzip(raw: &[u8], limit: u64) -> Result<Vec<u8>, ReleaseError> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(limit + 1)
        .read_to_end(&mut json)
        .map_err(ReleaseError::Gunzip)?;
    if json.len() as u64 > limit {
        return Err(ReleaseError::TooLarge(limit));
    }
    Ok(json)
}

pub fn secret_name(release: &str, version: u32) -> String {
    format!("sh.helm.release.v1.{release}.v{version}")
}

/// The Secret's labels; Helm sets `createdAt` on create and `modifiedAt` on update (Unix
/// seconds), and `helm list` filters on the rest.
pub fn labels(
    release: &Release,
    created_at: Option<i64>,
    modified_at: Option<i64>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("name".to_string(), release.name.clone()),
        ("owner".to_string(), "helm".to_string()),
        (
            "status".to_string(),
            release.info.status.as_str().to_string(),
        ),
        ("version".to_string(), release.version.to_string()),
    ]);
    if let Some(at) = created_at {
        labels.insert("createdAt".into(), at.to_string());
    }
    if let Some(at) = modified_at {
        labels.insert("modifiedAt".into(), at.to_string());
    }
    labels
}

/// The newest release (highest version).
pub fn latest(history: &[Release]) -> Option<&Release> {
    history.iter().max_by_key(|r| r.version)
}

/// The newest deployed release: several can be marked deployed after a crash, Helm takes
/// the highest.
pub fn last_deployed(history: &[Release]) -> Option<&Release> {
    history
        .iter()
        .filter(|r| r.info.status == Status::Deployed)
        .max_by_key(|r| r.version)
}

/// Versions to delete, oldest first, so at most `max_history` remain (0: keep all). As
/// Helm's `removeLeastRecent`, the last deployed release is kept even past the limit, so
/// rollback keeps a target.
pub fn prune_plan(history: &[Release], max_history: usize) -> Vec<u32> {
    if max_history == 0 || history.len() <= max_history {
        return Vec::new();
    }
    let keep = last_deployed(history).map(|r| r.version);
    let mut versions: Vec<u32> = history.iter().map(|r| r.version).collect();
    versions.sort_unstable();
    versions
        .into_iter()
        .filter(|v| Some(*v) != keep)
        .take(history.len() - max_history)
        .collect()
}

/// Flux's `release.ShortenName`: Helm refuses names over 53 characters, so long ones keep a
/// prefix and gain a hash of the whole name to stay distinct.
pub fn shorten_name(name: &str) -> String {
    const MAX: usize = 53;
    const HASH: usize = 12;
    if name.len() <= MAX {
        return name.to_string();
    }
    let sum = hex::encode(Sha256::digest(name.as_bytes()));
    let mut cut = MAX - HASH - 1;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{}", &name[..cut], &sum[..HASH])
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// Go writes `null` for nil slices, maps and strings read back as empty.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Helm stored `test-success` before it became `test`.
fn hook_events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let events: Vec<String> = null_default(d)?;
    Ok(events
        .into_iter()
        .map(|e| {
            if e == "test-success" {
                "test".into()
            } else {
                e
            }
        })
        .collect())
}

/// Times as Go's RFC 3339 with nanoseconds (UTC here); the zero time is "" as Helm 3's
/// `helmtime` writes it. Reads "", null, Go's zero time or any RFC 3339 time.
mod go_time {
    use super::*;

    /// Go's zero time, `0001-01-01T00:00:00Z`: "never" from writers that print it.
    const GO_ZERO_SECONDS: i64 = -62_135_596_800;

    pub fn serialize<S: Serializer>(time: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => s.collect_str(time),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let text: String = null_default(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        let time: Timestamp = text.parse().map_err(D::Error::custom)?;
        Ok((time.as_second() != GO_ZERO_SECONDS || time.subsec_nanosecond() != 0).then_some(time))
    }
}

/// Go's `[]byte`: standard base64, `null` when nil.
mod base64_data {
    use super::*;

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = null_default(d)?;
        STANDARD.decode(text).map_err(D::Error::custom)
    }
}

/// The chart's schema: `null` when it has none.
mod base64_schema {
    use super::*;

    pub fn serialize<S: Serializer>(data: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match data {
            Some(data) => base64_data::serialize(data, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| STANDARD.decode(text).map_err(D::Error::custom))
            .transpose()
    }
}

/// `Chart.yaml` written through Helm's `Metadata` struct: its fields in Go's order, empty
/// ones left out (`omitempty`), unknown keys dropped, YAML scalars in string fields as text
/// (as `sigs.k8s.io/yaml` converts them).
mod metadata {
    use super::*;
    use serde::ser::SerializeMap;

    #[derive(Clone, Copy)]
    enum Kind {
        Text,
        Plain,
        /// A list of structs with these fields (and each of its items).
        Structs(&'static [(&'static str, Kind)]),
    }

    const MAINTAINER: &[(&str, Kind)] = &[
        ("name", Kind::Text),
        ("email", Kind::Text),
        ("url", Kind::Text),
    ];

    const DEPENDENCY: &[(&str, Kind)] = &[
        ("name", Kind::Text),
        ("version", Kind::Text),
        ("repository", Kind::Text),
        ("condition", Kind::Text),
        ("tags", Kind::Plain),
        ("enabled", Kind::Plain),
        ("import-values", Kind::Plain),
        ("alias", Kind::Text),
    ];

    const METADATA: &[(&str, Kind)] = &[
        ("name", Kind::Text),
        ("home", Kind::Text),
        ("sources", Kind::Plain),
        ("version", Kind::Text),
        ("description", Kind::Text),
        ("keywords", Kind::Plain),
        ("maintainers", Kind::Structs(MAINTAINER)),
        ("icon", Kind::Text),
        ("apiVersion", Kind::Text),
        ("condition", Kind::Text),
        ("tags", Kind::Text),
        ("appVersion", Kind::Text),
        ("deprecated", Kind::Plain),
        ("annotations", Kind::Plain),
        ("kubeVersion", Kind::Text),
        ("dependencies", Kind::Structs(DEPENDENCY)),
        ("type", Kind::Text),
    ];

    pub fn serialize<S: Serializer>(map: &Map<String, Json>, s: S) -> Result<S::Ok, S::Error> {
        Struct(map, METADATA).serialize(s)
    }

    struct Struct<'a>(&'a Map<String, Json>, &'static [(&'static str, Kind)]);

    impl Serialize for Struct<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut out = s.serialize_map(None)?;
            for (key, kind) in self.1 {
                if let Some(value) = self.0.get(*key).filter(|v| !is_empty(v, *kind)) {
                    out.serialize_entry(key, &Field(value, *kind))?;
                }
            }
            out.end()
        }
    }

    struct Field<'a>(&'a Json, Kind);

    impl Serialize for Field<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match (self.0, self.1) {
                (Json::Number(_) | Json::Bool(_), Kind::Text) => s.collect_str(self.0),
                (Json::Array(items), Kind::Structs(_)) => {
                    s.collect_seq(items.iter().map(|item| Field(item, self.1)))
                }
                (Json::Object(map), Kind::Structs(fields)) => Struct(map, fields).serialize(s),
                (value, _) => value.serialize(s),
            }
        }
    }

    fn is_empty(value: &Json, kind: Kind) -> bool {
        match value {
            Json::Null => true,
            Json::Bool(b) => !b && !matches!(kind, Kind::Text),
            Json::String(text) => text.is_empty(),
            Json::Array(items) => items.is_empty(),
            Json::Object(map) => map.is_empty(),
            Json::Number(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn time(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    fn object(value: Json) -> Map<String, Json> {
        value.as_object().unwrap().clone()
    }

    fn small_release() -> Release {
        Release {
            name: "demo".into(),
            info: Info {
                first_deployed: time("2024-05-07T04:54:21.110Z"),
                last_deployed: time("2024-05-07T04:54:22Z"),
                deleted: None,
                description: "Install complete".into(),
                status: Status::Deployed,
                notes: "hi".into(),
            },
            chart: StoredChart {
                metadata: object(json!({
                    "version": "1.0.0", "name": "demo", "apiVersion": "v2", "extra": "x",
                    "deprecated": false, "appVersion": 1.1,
                    "maintainers": [{"url": "u", "name": "me", "x": 1}]
                })),
                lock: None,
                templates: vec![StoredFile {
                    name: "templates/cm.yaml".into(),
                    data: b"a: 1\n".to_vec(),
                }],
                values: object(json!({"a": 1})),
                schema: None,
                files: Vec::new(),
            },
            config: object(json!({"a": 2})),
            manifest: "---\n".into(),
            hooks: vec![StoredHook {
                name: "t".into(),
                kind: "Pod".into(),
                path: "demo/templates/t.yaml".into(),
                manifest: "kind: Pod\n".into(),
                events: vec!["test".into()],
                last_run: HookRun {
                    started_at: time("2024-05-07T04:54:21.000000001Z"),
                    completed_at: None,
                    phase: "Succeeded".into(),
                },
                weight: 0,
                delete_policies: vec!["before-hook-creation".into()],
                output_log_policies: Vec::new(),
            }],
            version: 1,
            namespace: "apps".into(),
            apply_method: String::new(),
        }
    }

    #[test]
    fn json_follows_go_field_order_and_omitempty() {
        let json = serde_json::to_string(&small_release()).unwrap();
        let expected = concat!(
            r#"{"name":"demo","info":{"first_deployed":"2024-05-07T04:54:21.11Z","#,
            r#""last_deployed":"2024-05-07T04:54:22Z","deleted":"","description":"Install complete","#,
            r#""status":"deployed","notes":"hi"},"chart":{"metadata":{"name":"demo","version":"1.0.0","#,
            r#""maintainers":[{"name":"me","url":"u"}],"apiVersion":"v2","appVersion":"1.1"},"#,
            r#""lock":null,"templates":[{"name":"templates/cm.yaml","data":"YTogMQo="}],"#,
            r#""values":{"a":1},"schema":null,"files":[]},"config":{"a":2},"manifest":"---\n","#,
            r#""hooks":[{"name":"t","kind":"Pod","path":"demo/templates/t.yaml","manifest":"kind: Pod\n","#,
            r#""events":["test"],"last_run":{"started_at":"2024-05-07T04:54:21.000000001Z","#,
            r#""completed_at":"","phase":"Succeeded"},"delete_policies":["before-hook-creation"]}],"#,
            r#""version":1,"namespace":"apps"}"#
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let mut release = small_release();
        // Only what Helm's struct keeps survives; start from that.
        release.chart.metadata = object(json!({"name": "demo", "version": "1.0.0"}));
        release.chart.schema = Some(b"{}".to_vec());
        release.chart.lock = Some(json!({"digest": "sha256:x"}));
        release.hooks[0].weight = -5;
        release.apply_method = "ssa".into();
        let bytes = encode(&release).unwrap();
        let raw = STANDARD.decode(&bytes).unwrap();
        assert_eq!(raw[..3], GZIP_MAGIC);
        assert_eq!(decode(&bytes).unwrap(), release);
    }

    fn gzip_base64(data: &[u8]) -> Vec<u8> {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(data).unwrap();
        STANDARD.encode(gzip.finish().unwrap()).into_bytes()
    }

    #[test]
    fn decodes_what_helm_3_writes() {
        let fixture = json!({
            "name": "podinfo",
            "info": {
                "first_deployed": "2024-05-07T06:54:21.110523123+02:00",
                "last_deployed": "2024-05-07T06:54:21.110523123+02:00",
                "deleted": "",
                "description": "Install complete",
                "status": "pending-install"
            },
            "chart": {
                "metadata": {"name": "podinfo", "version": "6.5.0", "apiVersion": "v2"},
                "lock": null, "templates": null, "values": null, "schema": null, "files": null
            },
            "manifest": "---\n",
            "hooks": [{
                "name": "t", "kind": "Pod", "path": "p", "manifest": "m",
                "events": ["pre-install", "test-success"],
                "last_run": {"started_at": "", "completed_at": "", "phase": ""},
                "weight": 3,
                "delete_policies": ["hook-succeeded"]
            }],
            "version": 2,
            "namespace": "apps"
        });
        let text = fixture.to_string();
        let zipped = decode(&gzip_base64(text.as_bytes())).unwrap();
        // Helm also reads records that were never gzipped.
        assert_eq!(decode(STANDARD.encode(&text).as_bytes()).unwrap(), zipped);
        let release = zipped;
        assert_eq!(
            release.info.first_deployed,
            time("2024-05-07T04:54:21.110523123Z")
        );
        assert_eq!(release.info.deleted, None);
        assert_eq!(release.info.status, Status::PendingInstall);
        assert!(release.info.status.is_pending());
        assert_eq!(release.chart.templates, Vec::new());
        assert_eq!(release.hooks[0].events, ["pre-install", "test"]);
        assert_eq!(release.hooks[0].last_run, HookRun::default());
        assert_eq!(release.hooks[0].weight, 3);
        assert_eq!(release.version, 2);
    }

    #[test]
    fn zero_times_are_written_empty_and_go_zero_reads_as_none() {
        let json = serde_json::to_value(Info::default()).unwrap();
        assert_eq!(
            json,
            json!({"first_deployed": "", "last_deployed": "", "deleted": "", "status": "unknown"})
        );
        let info: Info =
            serde_json::from_value(json!({"deleted": "0001-01-01T00:00:00Z", "status": "new"}))
                .unwrap();
        assert_eq!(info, Info::default());
    }

    #[test]
    fn refuses_a_gzip_bomb() {
        // 64 MiB takes seconds to inflate unoptimised: the same cut at a smaller limit.
        let limit = 1024 * 1024;
        let zipped = |size: u64| {
            STANDARD
                .decode(gzip_base64(&vec![0; size as usize]))
                .unwrap()
        };
        assert_eq!(gunzip(&zipped(limit), limit).unwrap().len() as u64, limit);
        assert!(matches!(
            gunzip(&zipped(limit + 1), limit),
            Err(ReleaseError::TooLarge(_))
        ));
    }

    #[test]
    fn stores_the_root_chart_as_loaded() {
        let file = |name: &str, text: &str| ChartFile {
            name: name.into(),
            data: text.as_bytes().into(),
        };
        let chart = Chart::from_files(vec![
            file("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.0.0\n"),
            file("values.yaml", "a: 1\n"),
            file("values.schema.json", "{}"),
            file("templates/cm.yaml", "a: 1\n"),
            file("README.md", "hi"),
        ])
        .unwrap();
        let stored = StoredChart::from_chart(&chart);
        assert_eq!(stored.metadata["name"], "demo");
        assert_eq!(stored.values, object(json!({"a": 1})));
        assert_eq!(stored.schema.as_deref(), Some(&b"{}"[..]));
        assert_eq!(stored.templates[0].name, "templates/cm.yaml");
        assert_eq!(stored.files[0].data, b"hi");
        assert_eq!(stored.lock, None);
    }

    #[test]
    fn names_and_labels() {
        let release = small_release();
        assert_eq!(secret_name("demo", 3), "sh.helm.release.v1.demo.v3");
        let labels = labels(&release, Some(1700000000), None);
        let expected: BTreeMap<String, String> = [
            ("createdAt", "1700000000"),
            ("name", "demo"),
            ("owner", "helm"),
            ("status", "deployed"),
            ("version", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        assert_eq!(labels, expected);
    }

    fn history(statuses: &[Status]) -> Vec<Release> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, status)| Release {
                version: i as u32 + 1,
                info: Info {
                    status: *status,
                    ..Info::default()
                },
                ..Release::default()
            })
            .collect()
    }

    #[test]
    fn prune_plan_keeps_the_last_deployed_release() {
        use Status::*;
        let h = history(&[Superseded, Superseded, Deployed, Failed, Failed]);
        assert_eq!(latest(&h).unwrap().version, 5);
        assert_eq!(last_deployed(&h).unwrap().version, 3);
        assert_eq!(prune_plan(&h, 0), Vec::<u32>::new());
        assert_eq!(prune_plan(&h, 5), Vec::<u32>::new());
        assert_eq!(prune_plan(&h, 3), [1, 2]);
        assert_eq!(prune_plan(&h, 2), [1, 2, 4]);
        assert_eq!(prune_plan(&h, 1), [1, 2, 4, 5]);
        let failed = history(&[Failed, Failed, Failed]);
        assert_eq!(last_deployed(&failed), None);
        assert_eq!(prune_plan(&failed, 1), [1, 2]);
        let mut shuffled = history(&[Superseded, Deployed, Failed]);
        shuffled.reverse();
        assert_eq!(prune_plan(&shuffled, 1), [1, 3]);
    }

    #[test]
    fn shorten_name_keeps_a_prefix_and_hashes_the_rest() {
        let short = "a".repeat(53);
        assert_eq!(shorten_name(&short), short);
        let long = format!("{}{}", "podinfo-".repeat(7), "abcd");
        assert_eq!(long.len(), 60);
        let shortened = shorten_name(&long);
        assert_eq!(shortened.len(), 53);
        assert_eq!(shortened[..41], format!("{}-", &long[..40]));
        let sum = hex::encode(Sha256::digest(long.as_bytes()));
        assert_eq!(shortened[41..], sum[..12]);
    }
}
