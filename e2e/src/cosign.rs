//! Cosign signatures made by the test itself, in cosign's published format (ECDSA P-256
//! over a simple-signing payload, stored under the `sha256-<hex>.sig` tag with the
//! `dev.cosignproject.cosign/signature` annotation), signed by OpenSSL: a code path that
//! shares nothing with the verifier under test.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::registry::Registry;
use crate::tls::{TestCa, ec_key, openssl};

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// An ECDSA P-256 key pair made by `openssl`.
pub struct Signer {
    dir: tempfile::TempDir,
}

impl Signer {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        ec_key(&dir.path().join("cosign.key"));
        Self { dir }
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("cosign.key")
    }

    /// The public key as PEM (`cosign.pub`).
    pub fn public_pem(&self) -> String {
        String::from_utf8(openssl(&[
            "ec",
            "-in",
            self.key().to_str().unwrap(),
            "-pubout",
        ]))
        .unwrap()
    }

    /// The simple-signing payload cosign signs for `digest` in `registry/repo`.
    pub fn payload(registry: &Registry, repo: &str, digest: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "critical": {
                "identity": {"docker-reference": format!("{}/{repo}", registry.addr)},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature"
            },
            "optional": null
        }))
        .unwrap()
    }

    /// A DER ECDSA signature of `payload`, base64-encoded as cosign stores it.
    pub fn sign(&self, payload: &[u8]) -> String {
        sign_with(self.dir.path(), &self.key(), payload)
    }
}

/// Signs `payload` with the PEM EC key at `key` (SHA-256, DER signature, base64).
fn sign_with(work: &Path, key: &Path, payload: &[u8]) -> String {
    let file = work.join("payload");
    std::fs::write(&file, payload).unwrap();
    let der = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        key.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    BASE64.encode(der)
}

/// What keyless cosign signing produces without Fulcio and Rekor servers: a certificate
/// authority (Fulcio's role) issuing short-lived code-signing certificates for an OIDC
/// identity, and a transparency-log key (Rekor's role) signing entry timestamps. All made by
/// `openssl`.
pub struct KeylessAuthority {
    ca: TestCa,
}

/// One keyless signature layer's annotations and the payload they sign.
pub struct KeylessSignature {
    pub payload: Vec<u8>,
    pub annotations: serde_json::Map<String, serde_json::Value>,
}

impl KeylessAuthority {
    pub fn generate() -> Self {
        let ca = TestCa::generate("test fulcio");
        ec_key(&ca.path("log.key"));
        Self { ca }
    }

    fn log_key_der(&self) -> Vec<u8> {
        openssl(&[
            "ec",
            "-in",
            self.ca.path("log.key").to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ])
    }

    /// The log id entries carry: the SHA-256 of the log's DER public key.
    fn log_id(&self) -> Vec<u8> {
        Sha256::digest(self.log_key_der()).to_vec()
    }

    /// Sigstore's `trusted_root.json` naming this authority and this log.
    pub fn trusted_root_json(&self) -> String {
        let ca_der = openssl(&[
            "x509",
            "-in",
            self.ca.path("ca.crt").to_str().unwrap(),
            "-outform",
            "DER",
        ]);
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.invalid",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": BASE64.encode(self.log_key_der()), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": "2020-01-01T00:00:00Z"}},
                "logId": {"keyId": BASE64.encode(self.log_id())}
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "flux-rs e2e", "commonName": "test fulcio"},
                "uri": "https://fulcio.invalid",
                "certChain": {"certificates": [{"rawBytes": BASE64.encode(ca_der)}]},
                "validFor": {"start": "2020-01-01T00:00:00Z"}
            }],
            "ctlogs": [],
            "timestampAuthorities": []
        })
        .to_string()
    }

    /// Signs `payload` keylessly as `subject` (an email or a URI) from OIDC `issuer`: a fresh
    /// key, a certificate for it, and a log entry for the signature. `logged_payload` is what
    /// the log entry claims was signed (normally `payload`).
    pub fn sign(
        &self,
        payload: &[u8],
        logged_payload: &[u8],
        issuer: &str,
        subject: &str,
    ) -> KeylessSignature {
        let san = if subject.contains('@') && !subject.contains("://") {
            format!("email:{subject}")
        } else {
            format!("URI:{subject}")
        };
        // Fulcio's legacy issuer extension holds the issuer's bytes unwrapped.
        let leaf = self.ca.issue(
            "/",
            &format!(
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName={san}\n1.3.6.1.4.1.57264.1.1=DER:{}\n",
                hex::encode(issuer)
            ),
        );
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("leaf.key"), &leaf.key_pem).unwrap();
        let certificate = leaf.cert_pem;
        let signature = sign_with(work.path(), &work.path().join("leaf.key"), payload);
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(logged_payload))}},
                "signature": {"content": signature, "publicKey": {"content": BASE64.encode(&certificate)}}
            }
        });
        let body = BASE64.encode(serde_json::to_vec(&body).unwrap());
        let integrated_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let log_id = hex::encode(self.log_id());
        // RFC 8785 canonical JSON of the entry: keys sorted, no spaces (only base64 and hex
        // strings, so nothing to escape).
        let canonical = format!(
            r#"{{"body":"{body}","integratedTime":{integrated_time},"logID":"{log_id}","logIndex":1}}"#
        );
        let entry_timestamp =
            sign_with(work.path(), &self.ca.path("log.key"), canonical.as_bytes());
        let bundle = json!({
            "SignedEntryTimestamp": entry_timestamp,
            "Payload": {"body": body, "integratedTime": integrated_time, "logIndex": 1, "logID": log_id}
        });
        let chain = self.ca.cert_pem();
        let mut annotations = serde_json::Map::new();
        annotations.insert(SIGNATURE_ANNOTATION.into(), signature.into());
        annotations.insert(CERTIFICATE_ANNOTATION.into(), certificate.into());
        annotations.insert(CHAIN_ANNOTATION.into(), chain.into());
        annotations.insert(BUNDLE_ANNOTATION.into(), bundle.to_string().into());
        KeylessSignature {
            payload: payload.to_vec(),
            annotations,
        }
    }
}

/// Uploads a signature for the artifact `digest` of `repo`: `payload` (normally
/// [`Signer::payload`]) with `signature` (normally [`Signer::sign`] of that payload), at the
/// tag cosign uses.
pub fn attach_signature(
    registry: &Registry,
    repo: &str,
    digest: &str,
    payload: &[u8],
    signature: &str,
) {
    let mut annotations = serde_json::Map::new();
    annotations.insert(SIGNATURE_ANNOTATION.into(), signature.into());
    attach_signature_layer(registry, repo, digest, payload, annotations);
}

/// Uploads a keyless signature for the artifact `digest` of `repo`.
pub fn attach_keyless_signature(
    registry: &Registry,
    repo: &str,
    digest: &str,
    signature: &KeylessSignature,
) {
    attach_signature_layer(
        registry,
        repo,
        digest,
        &signature.payload,
        signature.annotations.clone(),
    );
}

fn attach_signature_layer(
    registry: &Registry,
    repo: &str,
    digest: &str,
    payload: &[u8],
    annotations: serde_json::Map<String, serde_json::Value>,
) {
    let payload_digest = registry.upload_blob(repo, payload);
    let config = serde_json::to_vec(&json!({
        "architecture": "", "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]}, "config": {}
    }))
    .unwrap();
    let config_digest = registry.upload_blob(repo, &config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": [{
            "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
            "size": payload.len(),
            "digest": payload_digest,
            "annotations": annotations
        }]
    });
    let tag = format!("{}.sig", digest.replace(':', "-"));
    registry.upload_manifest(repo, &tag, &manifest);
}
