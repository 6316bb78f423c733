//! The committed CRDs against the types.

use std::path::Path;

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
