//! Signature verification of OCI artifacts (`spec.verify`), cosign's two ways: with the
//! `*.pub` keys of a Secret, or keyless (a short-lived certificate chaining to a trusted root,
//! logged in a transparency log whose key that root names, for an OIDC identity the object
//! allows). Signatures are found by the `sha256-<hex>.sig` tag (simple signing) and as
//! Sigstore bundles (OCI referrers); the sigstore crate does the cryptography.

use std::collections::BTreeMap;
use std::future::Future;

use artifacts::oci::{ArtifactUrl, Credentials};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::ByteString;
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::signature_layers::{CertificateSubject, SignatureLayer};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::crypto::Signature;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use sigstore::trust::ManualTrustRoot;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no matching signatures were found for '{0}'")]
    NoMatchingSignature(String),
    #[error("no public keys (*.pub) found in secret '{0}'")]
    NoKeys(String),
    #[error("invalid public key '{name}': {reason}")]
    InvalidKey { name: String, reason: String },
    #[error("secret '{secret}' has no 'trusted_root.json' key")]
    NoTrustedRoot { secret: String },
    #[error("invalid trusted_root.json in secret '{secret}': {reason}")]
    InvalidTrustedRoot { secret: String, reason: String },
    #[error(
        "invalid regular expression in spec.verify.matchOIDCIdentity[{index}].{field}: {source}"
    )]
    InvalidIdentity {
        index: usize,
        field: &'static str,
        source: regex::Error,
    },
    #[error(
        "none of the expected identities matched what was in the certificate, got subjects [{subjects}] with issuers [{issuers}]"
    )]
    IdentityMismatch { subjects: String, issuers: String },
    #[error("{0}")]
    Sigstore(String),
}

/// Checks that an artifact (pinned by digest) carries a valid signature.
pub trait Verifier {
    /// The provider's name as Flux prints it in messages ("cosign", "cosign keyless", …).
    fn provider(&self) -> &'static str;
    fn verify(
        &self,
        image: &ArtifactUrl,
        access: &RegistryAccess,
    ) -> impl Future<Output = Result<(), VerifyError>> + Send;
}

/// How to reach the registry holding the signatures.
#[derive(Clone, Debug, Default)]
pub struct RegistryAccess {
    pub credentials: Credentials,
    pub insecure: bool,
    pub ca_pem: Option<Vec<u8>>,
    pub proxy: Option<String>,
    /// The registry client's client-certificate bridge (a proxy URL), when it has one.
    pub bridge: Option<String>,
    /// Plain HTTP to the registry (or the bridge), as the registry client decided.
    pub plain_http: bool,
}

/// The signature layers of `image` that sigstore could parse and, with a trust root, whose
/// certificate chains to it and whose transparency-log entry its log key signed.
async fn signature_layers(
    image: &ArtifactUrl,
    access: &RegistryAccess,
    trust_root: Option<&ManualTrustRoot<'_>>,
) -> Result<(OciReference, Vec<SignatureLayer>), VerifyError> {
    let digest = image
        .digest()
        .expect("verification runs on a pinned reference");
    let reference = OciReference::with_digest(
        image.registry().to_owned(),
        image.reference().repository().to_owned(),
        digest.to_owned(),
    );
    let protocol = if access.plain_http {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    let config = ClientConfig {
        protocol,
        accept_invalid_certificates: access.insecure,
        extra_root_certificates: access
            .ca_pem
            .iter()
            .map(|pem| sigstore::registry::Certificate {
                encoding: sigstore::registry::CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        https_proxy: access.proxy.clone(),
        http_proxy: access.bridge.clone().or_else(|| access.proxy.clone()),
        ..ClientConfig::default()
    };
    let mut builder = ClientBuilder::default().with_oci_client_config(config);
    if let Some(root) = trust_root {
        builder = builder
            .with_trust_repository(root)
            .map_err(|e| VerifyError::Sigstore(e.to_string()))?;
    }
    let mut client = builder
        .build()
        .map_err(|e| VerifyError::Sigstore(e.to_string()))?;
    let auth = match &access.credentials {
        Credentials::Anonymous => Auth::Anonymous,
        Credentials::Basic { username, password } => {
            Auth::Basic(username.clone(), password.clone())
        }
        Credentials::Token(token) => Auth::Bearer(token.clone()),
    };
    let layers = client
        .trusted_signature_layers(&auth, &reference)
        .await
        .map_err(|e| VerifyError::Sigstore(e.to_string()))?;
    // sigstore reports a missing signature, a digest mismatch or a wrong media type only as a
    // log line and an empty list: no layer is a failure.
    if layers.is_empty() {
        return Err(VerifyError::NoMatchingSignature(reference.whole()));
    }
    Ok((reference, layers))
}

/// Cosign verification with the `*.pub` keys of a Secret: one valid signature by any key is
/// enough, as in Flux.
pub struct CosignKeys {
    /// PEM public keys by Secret key name, checked to parse when loaded.
    keys: Vec<(String, Vec<u8>)>,
}

impl CosignKeys {
    /// Parses every `*.pub` entry of a Secret's data.
    pub fn from_secret(
        secret_name: &str,
        data: &BTreeMap<String, ByteString>,
    ) -> Result<Self, VerifyError> {
        let mut keys = Vec::new();
        for (name, pem) in data.iter().filter(|(name, _)| name.ends_with(".pub")) {
            PublicKeyVerifier::try_from(&pem.0).map_err(|e| VerifyError::InvalidKey {
                name: name.clone(),
                reason: e.to_string(),
            })?;
            keys.push((name.clone(), pem.0.clone()));
        }
        if keys.is_empty() {
            return Err(VerifyError::NoKeys(secret_name.to_owned()));
        }
        Ok(Self { keys })
    }
}

impl Verifier for CosignKeys {
    fn provider(&self) -> &'static str {
        "cosign"
    }

    async fn verify(
        &self,
        image: &ArtifactUrl,
        access: &RegistryAccess,
    ) -> Result<(), VerifyError> {
        let (reference, layers) = signature_layers(image, access, None).await?;
        for (name, pem) in &self.keys {
            let verifier: Box<dyn VerificationConstraint> = match PublicKeyVerifier::try_from(pem) {
                Ok(verifier) => Box::new(verifier),
                Err(e) => {
                    return Err(VerifyError::InvalidKey {
                        name: name.clone(),
                        reason: e.to_string(),
                    });
                }
            };
            // Always one constraint: sigstore accepts any layers against an empty list.
            if verify_constraints(&layers, std::iter::once(&verifier)).is_ok() {
                tracing::debug!(key = %name, image = %reference.whole(), "signature verified");
                return Ok(());
            }
        }
        Err(VerifyError::NoMatchingSignature(reference.whole()))
    }
}

/// The parts of a Sigstore `trusted_root.json` keyless verification needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustedRootDocument {
    #[serde(default)]
    tlogs: Vec<TransparencyLogInstance>,
    #[serde(default)]
    certificate_authorities: Vec<CertificateAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransparencyLogInstance {
    public_key: RawBytes,
    log_id: LogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAuthority {
    cert_chain: CertChain,
}

#[derive(Deserialize)]
struct CertChain {
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

/// Fulcio-style certificate authorities and transparency-log keys to trust.
#[derive(Debug)]
pub struct TrustRoot {
    certificates: Vec<Vec<u8>>,
    /// DER public keys by log id (hex of the key's SHA-256, as log entries name them).
    log_keys: BTreeMap<String, Vec<u8>>,
}

impl TrustRoot {
    /// Reads the `trusted_root.json` of a Secret (Sigstore's trusted-root format).
    pub fn from_secret(
        secret_name: &str,
        data: &BTreeMap<String, ByteString>,
    ) -> Result<Self, VerifyError> {
        let json = data
            .get("trusted_root.json")
            .ok_or_else(|| VerifyError::NoTrustedRoot {
                secret: secret_name.to_owned(),
            })?;
        Self::from_json(&json.0).map_err(|reason| VerifyError::InvalidTrustedRoot {
            secret: secret_name.to_owned(),
            reason,
        })
    }

    /// Reads a `trusted_root.json` document; the error says what is wrong in it.
    pub(crate) fn from_json(json: &[u8]) -> Result<Self, String> {
        let document: TrustedRootDocument =
            serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let decode = |what: &str, text: &str| {
            BASE64
                .decode(text)
                .map_err(|e| format!("{what} is not base64: {e}"))
        };
        let mut certificates = Vec::new();
        for authority in &document.certificate_authorities {
            for certificate in &authority.cert_chain.certificates {
                certificates.push(decode(
                    "certificateAuthorities[].certChain.certificates[].rawBytes",
                    &certificate.raw_bytes,
                )?);
            }
        }
        if certificates.is_empty() {
            return Err("no certificateAuthorities".to_owned());
        }
        let mut log_keys = BTreeMap::new();
        for log in &document.tlogs {
            let key_id = decode("tlogs[].logId.keyId", &log.log_id.key_id)?;
            let key = decode("tlogs[].publicKey.rawBytes", &log.public_key.raw_bytes)?;
            log_keys.insert(hex::encode(key_id), key);
        }
        if log_keys.is_empty() {
            return Err("no tlogs".to_owned());
        }
        Ok(Self {
            certificates,
            log_keys,
        })
    }

    fn manual(&self) -> ManualTrustRoot<'_> {
        ManualTrustRoot {
            fulcio_certs: self
                .certificates
                .iter()
                .map(|der| der.as_slice().into())
                .collect(),
            rekor_keys: self.log_keys.clone(),
            ctfe_keys: BTreeMap::new(),
        }
    }
}

/// An OIDC identity the certificate must name: issuer and subject regular expressions.
#[derive(Debug)]
pub struct Identity {
    issuer: Regex,
    subject: Regex,
}

impl Identity {
    /// Compiles `spec.verify.matchOIDCIdentity`; the error names the entry and field.
    pub fn compile(matches: &[(String, String)]) -> Result<Vec<Self>, VerifyError> {
        matches
            .iter()
            .enumerate()
            .map(|(index, (issuer, subject))| {
                let compile = |field, pattern: &str| {
                    Regex::new(pattern).map_err(|source| VerifyError::InvalidIdentity {
                        index,
                        field,
                        source,
                    })
                };
                Ok(Self {
                    issuer: compile("issuer", issuer)?,
                    subject: compile("subject", subject)?,
                })
            })
            .collect()
    }
}

/// Keyless cosign: a certificate chaining to the trust root, a transparency-log entry for
/// this very signature signed by a log the root names (the certificate valid when it was
/// logged), the signature made by the certificate's key, and an allowed identity (any, as in
/// Flux, when no identity is listed).
pub struct CosignKeyless {
    pub trust_root: std::sync::Arc<TrustRoot>,
    pub identities: Vec<Identity>,
}

fn subject_text(subject: &CertificateSubject) -> &str {
    match subject {
        CertificateSubject::Email(email) => email,
        CertificateSubject::Uri(uri) => uri,
    }
}

/// The legacy Rekor bundle's entry must be for this signature over this payload: the SET
/// only proves that some entry was logged.
fn entry_matches_layer(layer: &SignatureLayer) -> Result<(), String> {
    let Some(BundleContent::RekorBundle(bundle)) = &layer.bundle else {
        // Sigstore bundles are checked for body consistency by sigstore itself.
        return Ok(());
    };
    let body = BASE64
        .decode(&bundle.payload.body)
        .map_err(|e| format!("transparency log entry body is not base64: {e}"))?;
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("transparency log entry body is not JSON: {e}"))?;
    if body["kind"] != "hashedrekord" {
        return Err(format!(
            "unsupported transparency log entry kind {}",
            body["kind"]
        ));
    }
    let signature = layer.signature.as_deref().unwrap_or_default();
    if body["spec"]["signature"]["content"].as_str() != Some(signature) {
        return Err("transparency log entry is for another signature".to_owned());
    }
    let digest = hex::encode(Sha256::digest(&layer.raw_data));
    if body["spec"]["data"]["hash"]["value"].as_str() != Some(digest.as_str()) {
        return Err("transparency log entry is for another payload".to_owned());
    }
    Ok(())
}

impl Verifier for CosignKeyless {
    fn provider(&self) -> &'static str {
        "cosign keyless"
    }

    async fn verify(
        &self,
        image: &ArtifactUrl,
        access: &RegistryAccess,
    ) -> Result<(), VerifyError> {
        let trust_root = self.trust_root.manual();
        let (reference, layers) = signature_layers(image, access, Some(&trust_root)).await?;
        let mut seen = Vec::new();
        for layer in &layers {
            // Set only when the chain, the log entry's signature and the validity window hold.
            let Some(certificate) = &layer.certificate_signature else {
                continue;
            };
            let Some(signature) = &layer.signature else {
                continue;
            };
            if let Err(e) = certificate.verification_key.verify_signature(
                Signature::Base64Encoded(signature.as_bytes()),
                &layer.raw_data,
            ) {
                tracing::debug!(image = %reference.whole(), error = %e, "signature does not verify with its certificate");
                continue;
            }
            if let Err(reason) = entry_matches_layer(layer) {
                tracing::debug!(image = %reference.whole(), %reason, "transparency log entry rejected");
                continue;
            }
            let subject = subject_text(&certificate.subject);
            let issuer = certificate.issuer.as_deref().unwrap_or_default();
            if self.identities.is_empty()
                || self
                    .identities
                    .iter()
                    .any(|id| id.issuer.is_match(issuer) && id.subject.is_match(subject))
            {
                tracing::debug!(image = %reference.whole(), subject, issuer, "keyless signature verified");
                return Ok(());
            }
            seen.push((subject.to_owned(), issuer.to_owned()));
        }
        if seen.is_empty() {
            return Err(VerifyError::NoMatchingSignature(reference.whole()));
        }
        let join = |values: Vec<&str>| values.join(", ");
        Err(VerifyError::IdentityMismatch {
            subjects: join(seen.iter().map(|(s, _)| s.as_str()).collect()),
            issuers: join(seen.iter().map(|(_, i)| i.as_str()).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_roots_give_authorities_and_log_keys_by_hex_id() {
        let json = br#"{
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{"baseUrl": "https://rekor.example", "hashAlgorithm": "SHA2_256",
                       "publicKey": {"rawBytes": "AQID", "keyDetails": "PKIX_ECDSA_P256_SHA_256"},
                       "logId": {"keyId": "3q2+7w=="}}],
            "certificateAuthorities": [{"certChain": {"certificates": [{"rawBytes": "BAU="}]}}],
            "ctlogs": [], "timestampAuthorities": []
        }"#;
        let root = TrustRoot::from_json(json).unwrap();
        assert_eq!(root.certificates, vec![vec![4, 5]]);
        assert_eq!(root.log_keys["deadbeef"], vec![1, 2, 3]);
        assert!(
            TrustRoot::from_json(br#"{"tlogs": []}"#)
                .unwrap_err()
                .contains("certificateAuthorities")
        );
        let err = TrustRoot::from_secret("root", &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret 'root' has no 'trusted_root.json' key"
        );
    }

    #[test]
    fn invalid_identity_patterns_name_the_field() {
        let err =
            Identity::compile(&[("ok".into(), "ok".into()), ("(".into(), "x".into())]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid regular expression in spec.verify.matchOIDCIdentity[1].issuer"
            ),
            "{err}"
        );
    }
}
