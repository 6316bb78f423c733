//! Any YAML we can read must come back unchanged after we write it (and nothing panics).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(documents) = kustomize::yaml::parse_stream(text) else { return };
    let maps: Vec<&serde_json::Map<String, serde_json::Value>> =
        documents.iter().filter_map(|d| d.as_object()).collect();
    if maps.len() != documents.len() {
        return;
    }
    let written = kustomize::yaml::to_stream(maps.iter().copied());
    let again = kustomize::yaml::parse_stream(&written)
        .unwrap_or_else(|e| panic!("our own output does not parse: {e}\n{written}"));
    assert_eq!(documents, again, "round trip changed the documents:\n{written}");
});
