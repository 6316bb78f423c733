//! A build of one resource file and one patch (strategic merge or JSON6902, with and without
//! a target), both from the fuzzer: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, "\n%%\n");
    let (Some(resource), Some(patch)) = (parts.next(), parts.next()) else { return };
    let target = parts.next().unwrap_or("");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("resource.yaml"), resource).expect("write");
    std::fs::write(dir.path().join("patch.yaml"), patch).expect("write");
    let target = if target.is_empty() {
        String::new()
    } else {
        format!("  target:\n    kind: {}\n", serde_json::to_string(target).expect("json"))
    };
    let kustomization = format!(
        "resources:\n- resource.yaml\nnamePrefix: p-\ncommonLabels:\n  app: x\npatches:\n- path: patch.yaml\n{target}"
    );
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization).expect("write");
    if let Ok(resources) = kustomize::build(dir.path()) {
        let _ = kustomize::to_yaml(&resources);
    }
});
