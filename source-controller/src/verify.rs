//! Signature verification of OCI artifacts (`spec.verify`). Cosign with public keys, by the
//! `sha256-<hex>.sig` tag in cosign's simple-signing format; the sigstore crate does the
//! cryptography. The provider is a trait so notation (or keyless) can be added beside it.

use std::future::Future;

use shared::oci::{ArtifactUrl, Credentials, is_local_registry};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no matching signatures were found for '{0}'")]
    NoMatchingSignature(String),
    #[error("no public keys (*.pub) found in secret '{0}'")]
    NoKeys(String),
    #[error("invalid public key '{name}': {reason}")]
    InvalidKey { name: String, reason: String },
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
}

/// Cosign verification with the `*.pub` keys of a Secret: one valid signature by any key is
/// enough, as in Flux.
pub struct CosignKeys {
    /// PEM public keys by Secret key name, checked to parse when loaded.
    keys: Vec<(String, Vec<u8>)>,
}

impl CosignKeys {
    /// Parses every `*.pub` entry of a Secret's data.
    pub fn from_secret(secret_name: &str, data: &[(String, Vec<u8>)]) -> Result<Self, VerifyError> {
        let mut keys = Vec::new();
        for (name, pem) in data.iter().filter(|(name, _)| name.ends_with(".pub")) {
            PublicKeyVerifier::try_from(pem).map_err(|e| VerifyError::InvalidKey {
                name: name.clone(),
                reason: e.to_string(),
            })?;
            keys.push((name.clone(), pem.clone()));
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
        let digest = image
            .digest()
            .expect("verification runs on a pinned reference");
        let reference = OciReference::with_digest(
            image.registry().to_owned(),
            image.reference().repository().to_owned(),
            digest.to_owned(),
        );
        let protocol = if access.insecure {
            ClientProtocol::Http
        } else if is_local_registry(image.registry()) {
            ClientProtocol::HttpsExcept(vec![image.registry().to_owned()])
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
            http_proxy: access.proxy.clone(),
            ..ClientConfig::default()
        };
        let mut client = ClientBuilder::default()
            .with_oci_client_config(config)
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
        // sigstore reports a missing signature, a digest mismatch or a wrong media type only
        // as a log line and an empty list: no trusted layer is a failure.
        if layers.is_empty() {
            return Err(VerifyError::NoMatchingSignature(reference.whole()));
        }
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
            if verify_constraints(&layers, std::iter::once(&verifier)).is_ok() {
                tracing::debug!(key = %name, image = %reference.whole(), "signature verified");
                return Ok(());
            }
        }
        Err(VerifyError::NoMatchingSignature(reference.whole()))
    }
}
