//! What an object's Secrets say about reaching its OCI registry (OCIRepository, HelmRepository,
//! ImageRepository): credentials (`secretRef`, the ServiceAccount's image pull secrets), CA and
//! client certificates (`certSecretRef`) and a proxy (`proxySecretRef`).

use api::image::v1::ImageRepositorySpec;
use api::source::v1::{HelmRepositorySpec, OCIRepositorySpec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use artifacts::oci::{ClientOptions, Credentials, OciError, RegistryClient};
use artifacts::transport::{ClientCertificate, Proxy, TlsMaterial, TransportError};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Client;
use kube::api::Api;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("auth secret '{0}' not found")]
    SecretNotFound(String),
    #[error("service account '{0}' not found")]
    ServiceAccountNotFound(String),
    #[error("secret '{name}': {reason}")]
    Invalid { name: String, reason: String },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("reading secret '{name}': {source}")]
    Api { name: String, source: kube::Error },
}

/// How the controller reaches a registry for one object.
#[derive(Debug, Default)]
pub struct Access {
    pub credentials: Credentials,
    pub ca_pem: Option<Vec<u8>>,
    pub proxy: Option<String>,
    pub client_certificate: Option<ClientCertificate>,
}

impl Access {
    /// The registry client options for this access.
    pub fn client_options(&self, insecure: bool, timeout: std::time::Duration) -> ClientOptions {
        ClientOptions {
            credentials: self.credentials.clone(),
            insecure,
            timeout,
            ca_pem: self.ca_pem.clone(),
            proxy: self.proxy.clone(),
            client_certificate: self.client_certificate.clone(),
            ..ClientOptions::default()
        }
    }
}

async fn secret(api: &Api<Secret>, name: &str) -> Result<Secret, CredentialsError> {
    api.get_opt(name)
        .await
        .map_err(|source| CredentialsError::Api {
            name: name.to_owned(),
            source,
        })?
        .ok_or_else(|| CredentialsError::SecretNotFound(name.to_owned()))
}

fn key<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    secret.data.as_ref()?.get(key).map(|v| v.0.as_slice())
}

/// Credentials in a `secretRef`: a docker config for `registry`, or (HelmRepository) a
/// basic-auth Secret with `username` and `password`.
fn secret_credentials(
    secret: &Secret,
    registry: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    if let (Some(username), Some(password)) = (key(secret, "username"), key(secret, "password")) {
        return Ok(Some(Credentials::Basic {
            username: String::from_utf8_lossy(username).into_owned(),
            password: String::from_utf8_lossy(password).into_owned(),
        }));
    }
    docker_config_credentials(secret, registry)
}

/// Credentials for `registry` in a `kubernetes.io/dockerconfigjson` (or legacy
/// `.dockercfg`-free `config.json` shaped) Secret.
pub fn docker_config_credentials(
    secret: &Secret,
    registry: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let Some(config) = key(secret, ".dockerconfigjson") else {
        return Err(CredentialsError::Invalid {
            name,
            reason: "has no '.dockerconfigjson' key".to_owned(),
        });
    };
    match docker_credential::get_credential_from_reader(config, registry) {
        Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
            Ok(Some(Credentials::Basic { username, password }))
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            Ok(Some(Credentials::Token(token)))
        }
        Err(docker_credential::CredentialRetrievalError::NoCredentialConfigured) => Ok(None),
        Err(e) => Err(CredentialsError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

/// The Secrets (and ServiceAccount) a source names for reaching its registry.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessSpec<'a> {
    pub secret_ref: Option<&'a str>,
    pub service_account_name: Option<&'a str>,
    pub cert_secret_ref: Option<&'a str>,
    pub proxy_secret_ref: Option<&'a str>,
}

impl<'a> From<&'a OCIRepositorySpec> for AccessSpec<'a> {
    fn from(spec: &'a OCIRepositorySpec) -> Self {
        AccessSpec {
            secret_ref: spec.secret_ref.as_ref().map(|r| r.name.as_str()),
            service_account_name: spec.service_account_name.as_deref(),
            cert_secret_ref: spec.cert_secret_ref.as_ref().map(|r| r.name.as_str()),
            proxy_secret_ref: spec.proxy_secret_ref.as_ref().map(|r| r.name.as_str()),
        }
    }
}

impl<'a> From<&'a HelmRepositorySpec> for AccessSpec<'a> {
    fn from(spec: &'a HelmRepositorySpec) -> Self {
        AccessSpec {
            secret_ref: spec.secret_ref.as_ref().map(|r| r.name.as_str()),
            service_account_name: None,
            cert_secret_ref: spec.cert_secret_ref.as_ref().map(|r| r.name.as_str()),
            proxy_secret_ref: None,
        }
    }
}

impl<'a> From<&'a ImageRepositorySpec> for AccessSpec<'a> {
    fn from(spec: &'a ImageRepositorySpec) -> Self {
        AccessSpec {
            secret_ref: spec.secret_ref.as_ref().map(|r| r.name.as_str()),
            service_account_name: spec.service_account_name.as_deref(),
            cert_secret_ref: spec.cert_secret_ref.as_ref().map(|r| r.name.as_str()),
            proxy_secret_ref: spec.proxy_secret_ref.as_ref().map(|r| r.name.as_str()),
        }
    }
}

/// Everything the spec says about reaching `registry`.
pub async fn resolve(
    client: &Client,
    namespace: &str,
    spec: &AccessSpec<'_>,
    registry: &str,
) -> Result<Access, CredentialsError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut access = Access::default();
    if let Some(name) = spec.secret_ref {
        let secret = secret(&secrets, name).await?;
        access.credentials = secret_credentials(&secret, registry)?.unwrap_or_default();
    } else if let Some(sa_name) = spec.service_account_name {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
        let account = accounts
            .get_opt(sa_name)
            .await
            .map_err(|source| CredentialsError::Api {
                name: sa_name.to_owned(),
                source,
            })?
            .ok_or_else(|| CredentialsError::ServiceAccountNotFound(sa_name.to_owned()))?;
        for pull_secret in account.image_pull_secrets.unwrap_or_default() {
            let secret = secret(&secrets, &pull_secret.name).await?;
            if let Some(credentials) = docker_config_credentials(&secret, registry)? {
                access.credentials = credentials;
                break;
            }
        }
    }
    if let Some(name) = spec.cert_secret_ref {
        let secret = secret(&secrets, name).await?;
        let tls = TlsMaterial::from_secret(name, &secret.data.unwrap_or_default())?;
        access.ca_pem = tls.ca_pem;
        access.client_certificate = tls.client;
    }
    if let Some(name) = spec.proxy_secret_ref {
        let secret = secret(&secrets, name).await?;
        let proxy = Proxy::from_secret(name, &secret.data.unwrap_or_default())?;
        access.proxy = Some(proxy.url_with_credentials());
    }
    Ok(access)
}

/// Registry clients by registry and options, so objects that reach a registry the same way
/// share connections and tokens. Bounded: past 256 entries it starts over.
#[derive(Default)]
pub struct ClientCache {
    clients: Mutex<HashMap<(String, ClientOptions), Arc<RegistryClient>>>,
}

impl ClientCache {
    pub fn client(
        &self,
        registry: &str,
        options: ClientOptions,
    ) -> Result<Arc<RegistryClient>, OciError> {
        let mut clients = self.clients.lock().expect("registry client cache");
        let key = (registry.to_owned(), options);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        if clients.len() >= 256 {
            clients.clear();
        }
        let client = Arc::new(RegistryClient::new(registry, key.1.clone())?);
        clients.insert(key, client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn docker_secret(json: &str) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some("regcred".into());
        secret.data = Some(
            [(
                ".dockerconfigjson".to_owned(),
                ByteString(json.as_bytes().to_vec()),
            )]
            .into(),
        );
        secret
    }

    #[test]
    fn dockerconfigjson_secrets_give_basic_credentials_for_their_registry() {
        // "flux:s3cret" in base64.
        let secret = docker_secret(r#"{"auths":{"127.0.0.1:5000":{"auth":"Zmx1eDpzM2NyZXQ="}}}"#);
        assert_eq!(
            docker_config_credentials(&secret, "127.0.0.1:5000").unwrap(),
            Some(Credentials::Basic {
                username: "flux".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(docker_config_credentials(&secret, "ghcr.io").unwrap(), None);
        let mut empty = Secret::default();
        empty.metadata.name = Some("x".into());
        assert!(docker_config_credentials(&empty, "ghcr.io").is_err());
    }
}
