//! Helm's release storage in the cluster: one Secret per release version, written so the
//! `helm` CLI lists, reads and continues our releases (and we continue its).

use std::collections::BTreeMap;

use helm::release::{self, Release};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("reading the releases of '{name}' in '{namespace}': {source}")]
    List {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("release Secret '{secret}' is not a Helm release: {source}")]
    Decode {
        secret: String,
        source: release::ReleaseError,
    },
    #[error("encoding release '{name}' v{version}: {source}")]
    Encode {
        name: String,
        version: u32,
        source: release::ReleaseError,
    },
    #[error("writing release Secret '{secret}': {source}")]
    Write { secret: String, source: kube::Error },
}

/// The release Secrets of one storage namespace.
pub struct ReleaseStore {
    secrets: Api<Secret>,
    namespace: String,
}

impl ReleaseStore {
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            secrets: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
        }
    }

    /// Every stored version of release `name`, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<Release>, StoreError> {
        let selector = format!("owner=helm,name={name}");
        let list = self
            .secrets
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|source| StoreError::List {
                namespace: self.namespace.clone(),
                name: name.to_owned(),
                source,
            })?;
        let mut releases = Vec::new();
        for secret in list.items {
            let secret_name = secret.metadata.name.clone().unwrap_or_default();
            let data = secret
                .data
                .as_ref()
                .and_then(|d| d.get("release"))
                .map(|b| b.0.as_slice())
                .unwrap_or_default();
            let decoded = release::decode(data).map_err(|source| StoreError::Decode {
                secret: secret_name,
                source,
            })?;
            releases.push(decoded);
        }
        releases.sort_by_key(|r| r.version);
        Ok(releases)
    }

    /// Stores a new release version (`createdAt` set).
    pub async fn create(&self, release: &Release) -> Result<(), StoreError> {
        let secret = self.secret(release, Some(now()), None)?;
        let name = secret.metadata.name.clone().unwrap_or_default();
        self.secrets
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|source| StoreError::Write {
                secret: name,
                source,
            })?;
        Ok(())
    }

    /// Rewrites a stored release version (`modifiedAt` set, `createdAt` kept).
    pub async fn update(&self, release: &Release) -> Result<(), StoreError> {
        let secret = self.secret(release, None, Some(now()))?;
        let name = secret.metadata.name.clone().unwrap_or_default();
        self.secrets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&secret))
            .await
            .map_err(|source| StoreError::Write {
                secret: name,
                source,
            })?;
        Ok(())
    }

    pub async fn delete(&self, name: &str, version: u32) -> Result<(), StoreError> {
        let secret = release::secret_name(name, version);
        match self.secrets.delete(&secret, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(source) => Err(StoreError::Write { secret, source }),
        }
    }

    fn secret(
        &self,
        release: &Release,
        created_at: Option<i64>,
        modified_at: Option<i64>,
    ) -> Result<Secret, StoreError> {
        let encoded = release::encode(release).map_err(|source| StoreError::Encode {
            name: release.name.clone(),
            version: release.version,
            source,
        })?;
        let mut secret = Secret::default();
        secret.metadata.name = Some(release::secret_name(&release.name, release.version));
        secret.metadata.namespace = Some(self.namespace.clone());
        secret.metadata.labels = Some(release::labels(release, created_at, modified_at));
        secret.type_ = Some(release::STORAGE_TYPE.to_owned());
        secret.data = Some(BTreeMap::from([(
            "release".to_owned(),
            ByteString(encoded),
        )]));
        Ok(secret)
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
