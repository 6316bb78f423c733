//! Who applies (a client per impersonated service account) and which API serves a kind
//! (discovery, cached).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};

use super::Applier;
use crate::inventory::ObjectRef;

/// API resources by group/version/kind, looked up on first use; a miss is looked up again,
/// since a revision may have just created the CRD.
#[derive(Default)]
pub struct Discovery {
    cache: Mutex<HashMap<GroupVersionKindKey, (ApiResource, bool)>>,
}

/// (group, version, kind).
type GroupVersionKindKey = (String, String, String);

impl Discovery {
    pub async fn resolve(
        &self,
        client: &Client,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), kube::Error> {
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(found) = self.cache.lock().expect("discovery cache").get(&key) {
            return Ok(found.clone());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities): (ApiResource, ApiCapabilities) =
            kube::discovery::pinned_kind(client, &gvk).await?;
        let namespaced = capabilities.scope == Scope::Namespaced;
        self.cache
            .lock()
            .expect("discovery cache")
            .insert(key, (resource.clone(), namespaced));
        Ok((resource, namespaced))
    }
}

/// Client factory for impersonation: one client per service account, built from the
/// controller's own configuration.
pub struct Impersonation {
    config: kube::Config,
    clients: Mutex<HashMap<String, Client>>,
}

impl Impersonation {
    pub fn new(config: kube::Config) -> Self {
        Self {
            config,
            clients: Mutex::default(),
        }
    }

    /// A client acting as `system:serviceaccount:<namespace>:<name>`.
    pub fn client_for(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<Client, kube::Error> {
        let user = format!("system:serviceaccount:{namespace}:{service_account}");
        let mut clients = self.clients.lock().expect("client cache");
        if let Some(client) = clients.get(&user) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.clone());
        let client = Client::try_from(config)?;
        clients.insert(user, client.clone());
        Ok(client)
    }
}

impl Applier<'_> {
    /// The API resource of an object's kind and whether it is namespaced.
    pub(super) async fn resolve(
        &self,
        reference: &ObjectRef,
    ) -> Result<(ApiResource, bool), kube::Error> {
        self.discovery
            .resolve(
                &self.discovery_client,
                &reference.group,
                &reference.version,
                &reference.kind,
            )
            .await
    }

    /// The API of an inventory object's kind, in its namespace.
    pub(super) async fn api_for(
        &self,
        reference: &ObjectRef,
    ) -> Result<Api<DynamicObject>, kube::Error> {
        let (resource, namespaced) = self.resolve(reference).await?;
        Ok(self.api_in(&resource, namespaced, &reference.namespace))
    }

    /// The applying client's API of `resource`: in `namespace` for a namespaced kind, else
    /// cluster-wide.
    pub(super) fn api_in(
        &self,
        resource: &ApiResource,
        namespaced: bool,
        namespace: &str,
    ) -> Api<DynamicObject> {
        if namespaced {
            Api::namespaced_with(self.client.clone(), namespace, resource)
        } else {
            Api::all_with(self.client.clone(), resource)
        }
    }
}
