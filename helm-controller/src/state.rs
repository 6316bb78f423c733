//! Where a release stands and what to do next, as helm-controller decides it
//! (`internal/reconcile/state.go`, `atomic_release.go`): pure functions of the release in
//! storage, the HelmRelease's history and what the spec asks for.

use api::helm::Snapshot;
use helm::release::{Release, Status};

/// The release's state against the desired chart and values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// No release, or an uninstalled one.
    Absent,
    /// The last release is `pending-*`: an action was cut short.
    Locked(Status),
    /// A release this HelmRelease has no record of (installed by `helm`, or by another
    /// controller), or whose record does not match it.
    Unmanaged,
    /// Deployed, but with another chart, version or values; the reason says which.
    OutOfSync(String),
    Failed,
    InSync,
}

/// What the spec asks the release to be.
pub struct Desired<'a> {
    pub chart_name: &'a str,
    pub chart_version: &'a str,
    pub config_digest: &'a str,
}

/// The state of `latest` (the newest release in storage) given the object's history.
pub fn determine(latest: Option<&Release>, history: &[Snapshot], desired: &Desired<'_>) -> State {
    let Some(release) = latest else {
        return State::Absent;
    };
    if release.info.status.is_pending() {
        return State::Locked(release.info.status);
    }
    let known = history.first().is_some_and(|snapshot| {
        i64::from(release.version) == snapshot.version
            && (snapshot.api_version.as_deref() != Some("v2")
                || snapshot.digest == crate::snapshot::digest(release))
    });
    if !known {
        return if release.info.status == Status::Uninstalled {
            State::Absent
        } else {
            State::Unmanaged
        };
    }
    match release.info.status {
        Status::Failed => State::Failed,
        Status::Uninstalled => State::Absent,
        Status::Deployed => {
            let chart_name = release.chart.metadata.get("name").and_then(|v| v.as_str());
            let chart_version = release
                .chart
                .metadata
                .get("version")
                .and_then(|v| v.as_str());
            if chart_name != Some(desired.chart_name)
                || chart_version != Some(desired.chart_version)
            {
                return State::OutOfSync(format!(
                    "release chart {}@{} differs from {}@{}",
                    chart_name.unwrap_or_default(),
                    chart_version.unwrap_or_default(),
                    desired.chart_name,
                    desired.chart_version
                ));
            }
            if crate::values::digest(&release.config) != desired.config_digest {
                return State::OutOfSync("release values differ from the desired values".into());
            }
            State::InSync
        }
        other => State::OutOfSync(format!("release has status '{}'", other.as_str())),
    }
}

/// A remediation policy as it applies to the last action (install or upgrade).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remediation {
    /// `remediation.retries`; negative is unlimited.
    pub retries: i64,
    pub remediate_last_failure: bool,
    pub uninstall: bool,
    /// `installFailures` or `upgradeFailures`.
    pub failures: i64,
    /// `strategy: RetryOnFailure`: a failed release is released again (after the retry
    /// interval), never remediated.
    pub retry: bool,
}

impl Remediation {
    pub fn exhausted(&self) -> bool {
        self.retries >= 0 && self.failures > self.retries
    }
}

/// Which action the last attempt was, for the remediation that applies to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LastAction {
    Install,
    Upgrade,
}

impl LastAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LastAction::Install => "install",
            LastAction::Upgrade => "upgrade",
        }
    }
}

/// The next action of a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Done,
    Unlock(Status),
    Install,
    Upgrade,
    /// Roll back to this release version.
    Rollback(i64),
    UninstallRemediation,
    /// Retries are used up: "Failed to <action> after N attempt(s)".
    RetriesExceeded(LastAction, i64),
    /// A rollback is due and nothing deployed before can be rolled back to.
    MissingRollbackTarget,
}

/// The policies `next` reads from the spec and status.
pub struct Policy {
    pub install: Remediation,
    pub upgrade: Remediation,
    pub last_action: Option<LastAction>,
    /// `reconcile.fluxcd.io/forceAt` asks for a one-off upgrade (or install).
    pub forced: bool,
}

/// The action for `state` (one per reconcile step; the caller loops until `Done`).
pub fn next(state: &State, history: &[Snapshot], policy: &Policy) -> Next {
    match state {
        State::InSync if policy.forced => Next::Upgrade,
        State::InSync => Next::Done,
        State::Locked(status) => Next::Unlock(*status),
        State::Absent => {
            if policy.install.exhausted() && !policy.forced {
                Next::RetriesExceeded(LastAction::Install, policy.install.failures)
            } else {
                Next::Install
            }
        }
        State::Unmanaged => Next::Upgrade,
        State::OutOfSync(_) => {
            if policy.upgrade.exhausted() && !policy.forced {
                Next::RetriesExceeded(LastAction::Upgrade, policy.upgrade.failures)
            } else {
                Next::Upgrade
            }
        }
        State::Failed => remediate(history, policy),
    }
}

fn remediate(history: &[Snapshot], policy: &Policy) -> Next {
    let (action, remediation) = match policy.last_action {
        Some(LastAction::Install) => (LastAction::Install, policy.install),
        Some(LastAction::Upgrade) => (LastAction::Upgrade, policy.upgrade),
        None => return Next::Upgrade,
    };
    // A new configuration reset the count: try it rather than remediate.
    if remediation.retry || remediation.failures <= 0 || policy.forced {
        return Next::Upgrade;
    }
    if remediation.exhausted() && !remediation.remediate_last_failure {
        return Next::RetriesExceeded(action, remediation.failures);
    }
    if action == LastAction::Install || remediation.uninstall {
        return Next::UninstallRemediation;
    }
    match previous(history) {
        Some(snapshot) => Next::Rollback(snapshot.version),
        None => Next::MissingRollbackTarget,
    }
}

/// The newest deployed or superseded release before the latest one.
pub fn previous(history: &[Snapshot]) -> Option<&Snapshot> {
    history
        .iter()
        .skip(1)
        .find(|s| s.status == "deployed" || s.status == "superseded")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: u32, status: Status, chart_version: &str) -> Release {
        let mut release = Release {
            name: "podinfo".into(),
            version,
            namespace: "default".into(),
            ..Release::default()
        };
        release.info.status = status;
        release.chart.metadata = serde_json::from_value(
            serde_json::json!({"name": "podinfo", "version": chart_version}),
        )
        .unwrap();
        release
    }

    fn snapshot_of(release: &Release) -> Snapshot {
        Snapshot {
            api_version: Some("v2".into()),
            digest: crate::snapshot::digest(release),
            version: i64::from(release.version),
            status: release.info.status.as_str().into(),
            ..Snapshot::default()
        }
    }

    fn desired(version: &str) -> Desired<'_> {
        Desired {
            chart_name: "podinfo",
            chart_version: version,
            config_digest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        }
    }

    #[test]
    fn states_follow_storage_and_history() {
        assert_eq!(determine(None, &[], &desired("6.1.0")), State::Absent);
        let deployed = release(1, Status::Deployed, "6.1.0");
        let history = [snapshot_of(&deployed)];
        assert_eq!(
            determine(Some(&deployed), &history, &desired("6.1.0")),
            State::InSync
        );
        assert!(matches!(
            determine(Some(&deployed), &history, &desired("6.2.0")),
            State::OutOfSync(_)
        ));
        // Installed by someone else, or changed behind the controller's back.
        assert_eq!(
            determine(Some(&deployed), &[], &desired("6.1.0")),
            State::Unmanaged
        );
        let mut edited = deployed.clone();
        edited.manifest = "changed".into();
        assert_eq!(
            determine(Some(&edited), &history, &desired("6.1.0")),
            State::Unmanaged
        );
        let pending = release(2, Status::PendingUpgrade, "6.2.0");
        assert_eq!(
            determine(Some(&pending), &history, &desired("6.2.0")),
            State::Locked(Status::PendingUpgrade)
        );
        let failed = release(2, Status::Failed, "6.2.0");
        let history = [snapshot_of(&failed), snapshot_of(&deployed)];
        assert_eq!(
            determine(Some(&failed), &history, &desired("6.2.0")),
            State::Failed
        );
    }

    fn policy(retries: i64, failures: i64, last_failure: bool) -> Policy {
        let remediation = Remediation {
            retries,
            remediate_last_failure: last_failure,
            uninstall: false,
            failures,
            retry: false,
        };
        Policy {
            install: remediation,
            upgrade: remediation,
            last_action: Some(LastAction::Upgrade),
            forced: false,
        }
    }

    #[test]
    fn failed_upgrades_roll_back_until_retries_are_used_up() {
        let old = Snapshot {
            version: 1,
            status: "superseded".into(),
            ..Snapshot::default()
        };
        let failed = Snapshot {
            version: 2,
            status: "failed".into(),
            ..Snapshot::default()
        };
        let history = [failed.clone(), old];
        assert_eq!(
            next(&State::Failed, &history, &policy(2, 1, true)),
            Next::Rollback(1)
        );
        assert_eq!(
            next(&State::Failed, &history, &policy(0, 1, false)),
            Next::RetriesExceeded(LastAction::Upgrade, 1)
        );
        // The last failure is still remediated when asked (the default with retries).
        assert_eq!(
            next(&State::Failed, &history, &policy(1, 2, true)),
            Next::Rollback(1)
        );
        // A new configuration: upgrade with it.
        assert_eq!(
            next(&State::Failed, &history, &policy(1, 0, true)),
            Next::Upgrade
        );
        assert_eq!(
            next(&State::Failed, &[failed], &policy(2, 1, true)),
            Next::MissingRollbackTarget
        );
        let mut retrying = policy(0, 5, false);
        retrying.upgrade.retry = true;
        assert_eq!(next(&State::Failed, &history, &retrying), Next::Upgrade);
        assert_eq!(
            next(
                &State::OutOfSync(String::new()),
                &history,
                &policy(1, 2, true)
            ),
            Next::RetriesExceeded(LastAction::Upgrade, 2)
        );
        let mut forced = policy(1, 2, true);
        forced.forced = true;
        assert_eq!(
            next(&State::OutOfSync(String::new()), &history, &forced),
            Next::Upgrade
        );
        assert_eq!(next(&State::InSync, &history, &forced), Next::Upgrade);
    }

    #[test]
    fn failed_installs_are_uninstalled_and_locks_released() {
        let mut install = policy(1, 1, true);
        install.last_action = Some(LastAction::Install);
        let history = [Snapshot {
            version: 1,
            status: "failed".into(),
            ..Snapshot::default()
        }];
        assert_eq!(
            next(&State::Failed, &history, &install),
            Next::UninstallRemediation
        );
        assert_eq!(
            next(&State::Locked(Status::PendingInstall), &history, &install),
            Next::Unlock(Status::PendingInstall)
        );
        assert_eq!(
            next(&State::Absent, &[], &policy(0, 0, false)),
            Next::Install
        );
        assert_eq!(
            next(&State::Absent, &[], &policy(0, 1, false)),
            Next::RetriesExceeded(LastAction::Install, 1)
        );
    }
}
