//! `status.history`: what the HelmRelease saw of each release it made, and the digest that
//! tells a release it made from one changed behind its back.

use api::helm::Snapshot;
use helm::release::{Release, StoredHook};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Flux keeps at most this many snapshots when no deployed release bounds them.
const MAX_SNAPSHOTS: usize = 5;

/// What the digest covers (Flux's `Observation`): everything but test hooks' runs.
#[derive(Serialize)]
struct Observation<'a> {
    name: &'a str,
    version: u32,
    info: &'a helm::release::Info,
    chart_metadata: &'a serde_json::Map<String, serde_json::Value>,
    config: &'a serde_json::Map<String, serde_json::Value>,
    manifest: &'a str,
    hooks: Vec<&'a StoredHook>,
    namespace: &'a str,
}

/// `sha256:<hex>` of the release's observation. Not byte-identical to Go's (see
/// docs/compatibility.md): a release recorded by Flux's controller reads as unmanaged once
/// and is upgraded.
pub fn digest(release: &Release) -> String {
    let observation = Observation {
        name: &release.name,
        version: release.version,
        info: &release.info,
        chart_metadata: &release.chart.metadata,
        config: &release.config,
        manifest: &release.manifest,
        hooks: release
            .hooks
            .iter()
            .filter(|h| !h.events.iter().any(|e| e == "test"))
            .collect(),
        namespace: &release.namespace,
    };
    let json = serde_json::to_vec(&observation).expect("observations serialise");
    format!("sha256:{}", hex::encode(Sha256::digest(json)))
}

fn time(t: Option<jiff::Timestamp>) -> String {
    t.map(|t| t.to_string()).unwrap_or_default()
}

/// The snapshot of `release`, made by `action` (`install`, `upgrade`, `rollback`).
pub fn of(release: &Release, action: Option<&str>, oci_digest: Option<&str>) -> Snapshot {
    let metadata = &release.chart.metadata;
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    Snapshot {
        api_version: Some("v2".into()),
        digest: digest(release),
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        version: i64::from(release.version),
        status: release.info.status.as_str().to_owned(),
        chart_name: text("name"),
        chart_version: text("version"),
        app_version: Some(text("appVersion")).filter(|v| !v.is_empty()),
        config_digest: crate::values::digest(&release.config),
        first_deployed: time(release.info.first_deployed),
        last_deployed: time(release.info.last_deployed),
        deleted: release.info.deleted.map(|t| t.to_string()),
        test_hooks: None,
        oci_digest: oci_digest.map(str::to_owned),
        action: action.map(str::to_owned),
    }
}

/// Records `snapshot` as the newest (replacing one of the same version), then keeps history
/// up to the previous deployed release, or at most five.
pub fn record(history: &mut Vec<Snapshot>, snapshot: Snapshot) {
    history.retain(|s| s.version != snapshot.version || s.name != snapshot.name);
    history.insert(0, snapshot);
    let keep = history
        .iter()
        .skip(1)
        .position(|s| s.status == "deployed" || s.status == "superseded")
        .map_or(MAX_SNAPSHOTS, |i| i + 2)
        .min(MAX_SNAPSHOTS);
    history.truncate(keep);
}

/// Updates the snapshot of `release` in place (a status change: superseded, uninstalled).
pub fn update_status(history: &mut [Snapshot], release: &Release) {
    for snapshot in history
        .iter_mut()
        .filter(|s| s.version == i64::from(release.version) && s.name == release.name)
    {
        snapshot.status = release.info.status.as_str().to_owned();
        snapshot.digest = digest(release);
        snapshot.deleted = release.info.deleted.map(|t| t.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(version: i64, status: &str) -> Snapshot {
        Snapshot {
            name: "podinfo".into(),
            version,
            status: status.into(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn history_keeps_back_to_the_previous_deployed_release() {
        let mut history = vec![snapshot(1, "superseded")];
        record(&mut history, snapshot(2, "failed"));
        record(&mut history, snapshot(3, "failed"));
        let versions: Vec<i64> = history.iter().map(|s| s.version).collect();
        assert_eq!(versions, [3, 2, 1]);
        record(&mut history, snapshot(4, "deployed"));
        record(&mut history, snapshot(5, "deployed"));
        let versions: Vec<i64> = history.iter().map(|s| s.version).collect();
        assert_eq!(versions, [5, 4]);
        record(&mut history, snapshot(5, "failed"));
        assert_eq!(history.len(), 2);
    }

    #[test]
    fn digests_change_with_what_was_released() {
        let release = Release {
            name: "podinfo".into(),
            version: 1,
            manifest: "a".into(),
            ..Release::default()
        };
        let mut other = release.clone();
        other.manifest = "b".into();
        assert_ne!(digest(&release), digest(&other));
        assert_eq!(digest(&release), digest(&release.clone()));
    }
}
