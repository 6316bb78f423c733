//! The bytes of a Flux artifact's config blob and manifest, laid out as go-containerregistry
//! writes them so that the same inputs give the same digests as `flux push artifact`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    CONFIG_MEDIA_TYPE, CREATED_ANNOTATION, MANIFEST_MEDIA_TYPE, REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
};

/// What a push records about an artifact, stored as manifest annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArtifactMetadata {
    /// RFC 3339 creation time.
    pub created: String,
    pub source: Option<String>,
    pub revision: Option<String>,
    /// Every other annotation.
    pub annotations: BTreeMap<String, String>,
}

impl ArtifactMetadata {
    pub fn to_annotations(&self) -> BTreeMap<String, String> {
        let mut out = self.annotations.clone();
        out.insert(CREATED_ANNOTATION.to_owned(), self.created.clone());
        if let Some(source) = &self.source {
            out.insert(SOURCE_ANNOTATION.to_owned(), source.clone());
        }
        if let Some(revision) = &self.revision {
            out.insert(REVISION_ANNOTATION.to_owned(), revision.clone());
        }
        out
    }

    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Self {
        let mut rest = annotations.clone();
        Self {
            created: rest.remove(CREATED_ANNOTATION).unwrap_or_default(),
            source: rest.remove(SOURCE_ANNOTATION),
            revision: rest.remove(REVISION_ANNOTATION),
            annotations: rest,
        }
    }
}

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub size: i64,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest (also read from Docker v2 manifests).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// go-containerregistry's `ConfigFile` as `empty.Image` plus one appended layer gives it.
#[derive(Serialize)]
struct ConfigFile<'a> {
    architecture: &'a str,
    created: &'a str,
    history: [History; 1],
    os: &'a str,
    rootfs: RootFs<'a>,
    config: Empty,
}

#[derive(Serialize)]
struct History {
    created: &'static str,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    diff_ids: [&'a str; 1],
}

#[derive(Serialize)]
struct Empty {}

/// The config blob for a layer whose uncompressed digest is `diff_id`.
pub fn config_blob(created: &str, diff_id: &str) -> Vec<u8> {
    let config = ConfigFile {
        architecture: "",
        created,
        // The appended layer's history entry, whose zero time Go prints in full.
        history: [History {
            created: "0001-01-01T00:00:00Z",
        }],
        os: "",
        rootfs: RootFs {
            type_: "layers",
            diff_ids: [diff_id],
        },
        config: Empty {},
    };
    serde_json::to_vec(&config).expect("config serialises")
}

/// The manifest bytes for a config blob and one layer.
pub fn manifest_bytes(config: &[u8], layer: Descriptor, metadata: &ArtifactMetadata) -> Vec<u8> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_owned(),
            size: config.len() as i64,
            digest: crate::archive::sha256_digest(config).expect("hashing memory"),
            annotations: None,
        },
        layers: vec![layer],
        annotations: metadata.to_annotations(),
    };
    serde_json::to_vec(&manifest).expect("manifest serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_manifest_have_go_containerregistry_layout() {
        let diff_id = format!("sha256:{}", "1".repeat(64));
        let config = config_blob("1970-01-01T00:00:00Z", &diff_id);
        assert_eq!(
            String::from_utf8(config.clone()).unwrap(),
            format!(
                r#"{{"architecture":"","created":"1970-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"config":{{}}}}"#
            )
        );
        let metadata = ArtifactMetadata {
            created: "1970-01-01T00:00:00Z".into(),
            source: Some("https://github.com/org/repo".into()),
            revision: Some("main@sha1:abc".into()),
            annotations: [("team".to_owned(), "a".to_owned())].into(),
        };
        let layer = Descriptor {
            media_type: super::super::CONTENT_MEDIA_TYPE.into(),
            size: 10,
            digest: format!("sha256:{}", "2".repeat(64)),
            annotations: None,
        };
        let manifest = String::from_utf8(manifest_bytes(&config, layer, &metadata)).unwrap();
        assert!(manifest.starts_with(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.flux.config.v1+json","size":"#
        ));
        assert!(manifest.ends_with(
            r#""annotations":{"org.opencontainers.image.created":"1970-01-01T00:00:00Z","org.opencontainers.image.revision":"main@sha1:abc","org.opencontainers.image.source":"https://github.com/org/repo","team":"a"}}"#
        ));
        let parsed: Manifest = serde_json::from_str(&manifest).unwrap();
        assert_eq!(
            ArtifactMetadata::from_annotations(&parsed.annotations),
            metadata
        );
    }
}
