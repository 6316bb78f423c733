//! What this process last applied to each object, so that unchanged objects skip their
//! dry-run.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

/// What this process last applied to each object, and the object's resourceVersion then: an
/// object whose desired content and live version both match needs no dry-run to know that
/// applying it again would change nothing. Any edit on the server changes the version, so
/// drift is still detected; after a restart the cache is empty and every object is
/// dry-run as before.
#[derive(Default)]
pub struct AppliedCache {
    entries: Mutex<HashMap<String, (u64, String)>>,
}

/// Entries kept at most; past it the cache starts over (it is only an optimisation).
const APPLIED_CACHE_LIMIT: usize = 200_000;

impl AppliedCache {
    pub(super) fn unchanged(&self, key: &str, digest: u64, live_version: &str) -> bool {
        self.entries
            .lock()
            .expect("applied cache")
            .get(key)
            .is_some_and(|(d, v)| *d == digest && v == live_version)
    }

    /// Records what was applied; without a version (the server returned none) the entry
    /// is forgotten.
    pub(super) fn record(&self, key: String, digest: u64, version: Option<String>) {
        let mut entries = self.entries.lock().expect("applied cache");
        if entries.len() >= APPLIED_CACHE_LIMIT {
            entries.clear();
        }
        match version {
            Some(version) => entries.insert(key, (digest, version)),
            None => entries.remove(&key),
        };
    }
}

/// A hash of an object's desired content.
pub(super) fn digest(object: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    object.to_string().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_object_is_unchanged_while_content_and_live_version_match() {
        let cache = AppliedCache::default();
        let object = json!({"kind": "ConfigMap", "data": {"a": "1"}});
        assert!(!cache.unchanged("k", digest(&object), "7"));
        cache.record("k".into(), digest(&object), Some("7".into()));
        assert!(cache.unchanged("k", digest(&object), "7"));
        assert!(!cache.unchanged("k", digest(&object), "8"));
        let edited = json!({"kind": "ConfigMap", "data": {"a": "2"}});
        assert!(!cache.unchanged("k", digest(&edited), "7"));
        assert!(!cache.unchanged("other", digest(&object), "7"));
        cache.record("k".into(), digest(&object), None);
        assert!(!cache.unchanged("k", digest(&object), "7"));
    }

    #[test]
    fn digests_follow_content() {
        let object = json!({"kind": "ConfigMap", "data": {"a": "1"}});
        assert_eq!(digest(&object), digest(&object.clone()));
        assert_ne!(
            digest(&object),
            digest(&json!({"kind": "ConfigMap", "data": {"a": "1 "}}))
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = AppliedCache::default();
        for i in 0..APPLIED_CACHE_LIMIT {
            cache.record(i.to_string(), 1, Some("1".into()));
        }
        assert!(cache.unchanged("0", 1, "1"));
        cache.record("new".into(), 1, Some("1".into()));
        assert!(!cache.unchanged("0", 1, "1"));
        assert!(cache.unchanged("new", 1, "1"));
    }
}
