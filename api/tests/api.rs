//! The API types against documents written for Flux, and the committed CRDs against the types.

use std::path::Path;

use api::{kustomize, notification, source};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

fn read_doc(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/flux-docs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn round_trip<T: Serialize + DeserializeOwned>(doc: &Value) -> Value {
    let typed: T = serde_json::from_value(doc.clone()).expect("document matches the type");
    serde_json::to_value(typed).unwrap()
}

fn assert_kept(expected: &Value, actual: &Value, what: &str) {
    let dropped = api::dropped_fields(expected, actual);
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

#[test]
fn committed_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let generated = api::crd_documents().unwrap();
    for (file, yaml) in &generated {
        let committed = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("crds/{file}: {e}; run `just crds`"));
        assert!(
            committed == *yaml,
            "crds/{file} differs from the Rust types; run `just crds`"
        );
    }
    let committed_files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        committed_files,
        generated.len(),
        "crds/ holds files no type generates"
    );
}

#[test]
fn crds_carry_no_cel_rules() {
    // The 1.20 API server rejects x-kubernetes-validations as an unknown field.
    for (file, yaml) in api::crd_documents().unwrap() {
        assert!(
            !yaml.contains("x-kubernetes-validations"),
            "{file} has CEL rules"
        );
    }
}

#[test]
fn dropped_fields_names_what_is_missing_or_changed() {
    let applied = serde_json::json!({"spec": {"a": 1, "b": [1, {"c": true}]}});
    let read = serde_json::json!({"spec": {"a": 1, "b": [1, {"c": false}], "extra": 0}});
    assert_eq!(
        api::dropped_fields(&applied, &read),
        vec![".spec.b[1].c (expected true, got false)".to_owned()]
    );
    let read = serde_json::json!({"spec": {"b": [1]}});
    assert_eq!(
        api::dropped_fields(&applied, &read),
        vec![
            ".spec.a".to_owned(),
            ".spec.b (expected [1,{\"c\":true}], got [1])".to_owned()
        ]
    );
}
