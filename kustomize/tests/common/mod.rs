//! What the tests comparing with the real kustomize share.

use std::path::{Path, PathBuf};

/// The `kubectl` to compare with: `$KUBECTL`, the one scripts/ installs, or `kubectl` on
/// the PATH.
pub fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return path.into();
    }
    let cache = std::env::var_os("FLUX_RS_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/flux-rs")))
        .expect("FLUX_RS_CACHE or HOME is set");
    let cached = cache.join("tools/venv/bin/kubectl");
    if cached.exists() {
        cached
    } else {
        "kubectl".into()
    }
}
