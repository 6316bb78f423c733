//! A connection to the cluster under test, with the flux-rs CRDs installed once per run and
//! a namespace per test.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::FutureExt;
use k8s_openapi::api::core::v1::{Event, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Resource};
use serde_json::json;
use tokio::sync::OnceCell;

/// Field manager of everything the harness applies.
pub const FIELD_MANAGER: &str = "flux-rs-e2e";
/// Label on every namespace the harness creates, so leftovers can be found.
pub const TEMP_NAMESPACE_LABEL: &str = "flux-rs.test/e2e";

static CRDS: OnceCell<()> = OnceCell::const_new();

/// A client for `KUBECONFIG`, with the CRDs installed and Established.
pub async fn client() -> Result<Client> {
    if std::env::var_os("KUBECONFIG").is_none() {
        bail!("KUBECONFIG is not set: start the local control plane with `just cluster-up`");
    }
    let client = Client::try_default()
        .await
        .context("connecting with KUBECONFIG")?;
    CRDS.get_or_try_init(|| install_crds(client.clone()))
        .await?;
    Ok(client)
}

async fn install_crds(client: Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (_, crd) in api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not Established within 30s"))??;
    }
    Ok(())
}

/// Runs `test` with a fresh namespace, deleted afterwards whether the test passes or panics.
pub async fn with_temp_ns<F, Fut>(test: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let client = client().await.expect("cluster under test");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let name = format!("e2e-{}", random_suffix());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {TEMP_NAMESPACE_LABEL: "true"}}
    }))
    .expect("namespace object");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("creating the test namespace");
    let outcome = AssertUnwindSafe(test(client.clone(), name.clone()))
        .catch_unwind()
        .await;
    release_finalizers(&client, &name).await;
    let _ = namespaces.delete(&name, &DeleteParams::background()).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Drops the finalizers of the Flux objects left in a test namespace: their controllers are
/// gone with the test, and the namespace would otherwise hang in Terminating.
async fn release_finalizers(client: &Client, namespace: &str) {
    for (_, crd) in api::crds() {
        let Some(version) = crd.spec.versions.iter().find(|v| v.storage) else {
            continue;
        };
        let api_version = format!("{}/{}", crd.spec.group, version.name);
        let resource = api::api_resource(&api_version, &crd.spec.names.kind);
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &resource);
        let Ok(objects) = api.list(&ListParams::default()).await else {
            continue;
        };
        let patch = json!({"metadata": {"finalizers": null}});
        for object in objects.items {
            if let Some(name) = object.metadata.name {
                let _ = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await;
            }
        }
    }
}

fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
}

/// Polls `get` until `done` holds for its result, or fails after `timeout` with the last
/// value seen.
pub async fn wait_for<T, G, Fut>(
    what: &str,
    timeout: Duration,
    mut get: G,
    done: impl Fn(&T) -> bool,
) -> Result<T>
where
    T: std::fmt::Debug,
    G: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match get().await {
            Ok(value) if done(&value) => return Ok(value),
            Ok(value) => format!("{value:?}"),
            Err(e) => format!("error: {e:#}"),
        };
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Kubernetes events recorded for an object, oldest first.
pub async fn events_for<K: Resource<DynamicType = ()>>(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<Event>> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let selector = format!(
        "involvedObject.name={name},involvedObject.kind={}",
        K::kind(&())
    );
    let mut events = api
        .list(&ListParams::default().fields(&selector))
        .await?
        .items;
    events.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
    Ok(events)
}

/// Server-side applies `object` (a Flux type or a core/RBAC kind) in namespace `ns`.
pub async fn apply(client: &Client, ns: &str, object: serde_json::Value) {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind");
    let resource = api::api_resource(api_version, kind);
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let name = object["metadata"]["name"]
        .as_str()
        .expect("metadata.name")
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {kind} {ns}/{name}: {e}"));
}
