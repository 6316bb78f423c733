//! Cosign signatures made by the test itself, in cosign's published format (ECDSA P-256
//! over a simple-signing payload, stored under the `sha256-<hex>.sig` tag with the
//! `dev.cosignproject.cosign/signature` annotation), signed by OpenSSL: a code path that
//! shares nothing with the verifier under test.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::registry::Registry;

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// An ECDSA P-256 key pair made by `openssl`.
pub struct Signer {
    dir: tempfile::TempDir,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Signer {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("cosign.key");
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            key.to_str().unwrap(),
        ]);
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
        let file = self.dir.path().join("payload");
        std::fs::write(&file, payload).unwrap();
        let der = openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            self.key().to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        let sig = self.dir.path().join("sig");
        std::fs::write(&sig, der).unwrap();
        let out = Command::new("base64")
            .arg("-w0")
            .arg(&sig)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
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
            "annotations": {SIGNATURE_ANNOTATION: signature}
        }]
    });
    let tag = format!("{}.sig", digest.replace(':', "-"));
    registry.upload_manifest(repo, &tag, &manifest);
}
