//! The generated CRDs and the Flux documentation's examples against a real API server.

use e2e::cluster::{FIELD_MANAGER, client, with_temp_ns};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

#[tokio::test]
async fn generated_crds_install_and_are_established() {
    let client = client().await.unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(client);
    for (_, crd) in api::crds() {
        let name = crd.metadata.name.unwrap();
        let live = api.get(&name).await.unwrap();
        let established = live
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is not Established");
        let served: Vec<String> = live
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.clone())
            .collect();
        let expected: Vec<String> = crd.spec.versions.iter().map(|v| v.name.clone()).collect();
        assert_eq!(served, expected, "{name} serves every version");
    }
}

fn doc(file: &str) -> Value {
    let path = format!(
        "{}/../api/tests/flux-docs/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn api_for(client: &Client, namespace: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &api::api_resource(api_version, kind),
    )
}

async fn apply(client: &Client, namespace: &str, object: &Value) -> kube::Result<DynamicObject> {
    let api = api_for(
        client,
        namespace,
        object["apiVersion"].as_str().unwrap(),
        object["kind"].as_str().unwrap(),
    );
    let name = object["metadata"]["name"].as_str().unwrap();
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
}

#[tokio::test]
async fn flux_doc_examples_read_back_whole_through_the_storage_version() {
    with_temp_ns(|client, ns| async move {
        let cases = [
            (
                "ocirepository-tag-verify.yaml",
                "source.toolkit.fluxcd.io/v1",
            ),
            ("ocirepository-semver.yaml", "source.toolkit.fluxcd.io/v1"),
            ("helmrepository-oci.yaml", "source.toolkit.fluxcd.io/v1"),
            (
                "kustomization-staging.yaml",
                "kustomize.toolkit.fluxcd.io/v1",
            ),
            (
                "alert-v1beta1.yaml",
                "notification.toolkit.fluxcd.io/v1beta3",
            ),
        ];
        for (file, storage_version) in cases {
            let mut object = doc(file);
            // One object per case: the semver example reuses the tag example's name.
            object["metadata"]["name"] = json!(file.trim_end_matches(".yaml"));
            object["metadata"]["namespace"] = json!(ns);
            apply(&client, &ns, &object)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let kind = object["kind"].as_str().unwrap();
            let stored = api_for(&client, &ns, storage_version, kind)
                .get(object["metadata"]["name"].as_str().unwrap())
                .await
                .unwrap();
            let stored = serde_json::to_value(stored).unwrap();
            let dropped = e2e::fields::dropped_fields(&object["spec"], &stored["spec"]);
            assert!(
                dropped.is_empty(),
                "{file} read back as {storage_version} lost {dropped:?}"
            );
        }
    })
    .await;
}

async fn rejection(client: &Client, ns: &str, spec: Value) -> String {
    let object = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "invalid", "namespace": ns},
        "spec": spec,
    });
    match apply(client, ns, &object).await {
        Ok(_) => panic!("the API server accepted {spec}"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
async fn invalid_objects_are_rejected_with_a_message_naming_the_field() {
    with_temp_ns(|client, ns| async move {
        let message = rejection(
            &client,
            &ns,
            json!({"url": "https://ghcr.io/org/app", "interval": "5m"}),
        )
        .await;
        assert!(
            message.contains("spec.url") && message.contains("^oci://"),
            "{message}"
        );

        let message = rejection(
            &client,
            &ns,
            json!({"url": "oci://ghcr.io/org/app", "interval": "5m", "provider": "digitalocean"}),
        )
        .await;
        assert!(
            message.contains("spec.provider") && message.contains("digitalocean"),
            "{message}"
        );

        let message = rejection(
            &client,
            &ns,
            json!({"url": "oci://ghcr.io/org/app", "interval": "-5m"}),
        )
        .await;
        assert!(message.contains("spec.interval"), "{message}");

        // Nothing was stored.
        let api = api_for(&client, &ns, "source.toolkit.fluxcd.io/v1", "OCIRepository");
        assert!(api.get_opt("invalid").await.unwrap().is_none());
    })
    .await;
}
