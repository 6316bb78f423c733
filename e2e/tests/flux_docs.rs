//! The API types against documents written for Flux: nothing a user wrote is lost when read
//! into the types (no cluster needed).

use std::path::Path;

use api::{kustomize, notification, source};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

fn read_doc(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../api/tests/flux-docs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn round_trip<T: Serialize + DeserializeOwned>(doc: &Value) -> Value {
    let typed: T = serde_json::from_value(doc.clone()).expect("document matches the type");
    serde_json::to_value(typed).unwrap()
}

fn assert_kept(expected: &Value, actual: &Value, what: &str) {
    let dropped = e2e::fields::dropped_fields(expected, actual);
    assert!(dropped.is_empty(), "{what} lost {dropped:?}");
}

#[test]
fn flux_doc_examples_round_trip_without_losing_a_field() {
    type RoundTrip = fn(&Value) -> Value;
    let cases: [(&str, RoundTrip); 5] = [
        (
            "ocirepository-tag-verify.yaml",
            round_trip::<source::v1beta2::OCIRepository>,
        ),
        (
            "ocirepository-semver.yaml",
            round_trip::<source::v1beta2::OCIRepository>,
        ),
        (
            "helmrepository-oci.yaml",
            round_trip::<source::v1beta2::HelmRepository>,
        ),
        (
            "kustomization-staging.yaml",
            round_trip::<kustomize::v1beta2::Kustomization>,
        ),
        (
            "alert-v1beta1.yaml",
            round_trip::<notification::v1beta1::Alert>,
        ),
    ];
    for (file, trip) in cases {
        let doc = read_doc(file);
        assert_kept(&doc, &trip(&doc), file);
    }
}

#[test]
fn documents_for_an_old_version_read_as_the_storage_version() {
    // No conversion webhook: the API server only rewrites apiVersion, so the storage type
    // must accept every old document once its apiVersion says v1.
    let mut doc = read_doc("kustomization-staging.yaml");
    doc["apiVersion"] = "kustomize.toolkit.fluxcd.io/v1".into();
    let trip = round_trip::<kustomize::v1::Kustomization>(&doc);
    assert_kept(&doc, &trip, "kustomization as v1");

    let mut doc = read_doc("ocirepository-tag-verify.yaml");
    doc["apiVersion"] = "source.toolkit.fluxcd.io/v1".into();
    let trip = round_trip::<source::v1::OCIRepository>(&doc);
    assert_kept(&doc, &trip, "ocirepository as v1");
}
