//! `lookup` in templates, answered from the cluster with the identity the release is applied
//! with. Templates execute on a blocking thread, so each lookup blocks on the runtime.

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;

pub struct KubeLookup {
    pub client: kube::Client,
    pub runtime: tokio::runtime::Handle,
}

impl helm::Cluster for KubeLookup {
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<serde_json::Value, String> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        self.runtime.block_on(async {
            let (resource, capabilities) =
                match kube::discovery::pinned_kind(&self.client, &gvk).await {
                    Ok(found) => found,
                    // Helm: an unknown kind looks up as nothing.
                    Err(_) => return Ok(serde_json::json!({})),
                };
            let api: Api<DynamicObject> =
                if capabilities.scope == Scope::Namespaced && !namespace.is_empty() {
                    Api::namespaced_with(self.client.clone(), namespace, &resource)
                } else {
                    Api::all_with(self.client.clone(), &resource)
                };
            let found = if name.is_empty() {
                let list = api
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                serde_json::json!({
                    "apiVersion": "v1",
                    "kind": format!("{kind}List"),
                    "items": list.items,
                })
            } else {
                match api.get_opt(name).await.map_err(|e| e.to_string())? {
                    Some(object) => serde_json::to_value(object).map_err(|e| e.to_string())?,
                    None => serde_json::json!({}),
                }
            };
            Ok(found)
        })
    }
}
