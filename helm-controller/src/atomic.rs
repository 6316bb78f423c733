//! The release loop (Flux's `AtomicRelease`): read the release from storage, decide its
//! state, run the one action it calls for, record it (history, counters, conditions,
//! events), and again, until the release is in sync, an action failed for good, or a
//! remediation ran.

use api::helm::v2::{HelmRelease, HelmReleaseStatus};
use api::helm::{DriftDetectionMode, condition, reason as reasons};
use api::kustomize::ResourceInventory;
use api::meta::{ConditionStatus, READY, RECONCILING, STALLED, reason};
use helm::release::Release;
use kube::ResourceExt;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::outcome::Failure;
use sha2::{Digest, Sha256};
use ssa::inventory::ObjectRef;

use crate::actions::{ActionError, Executor};
use crate::helmrelease::{Context, Progress, release_options};
use crate::state::{self, Desired, LastAction, Next, Policy, Remediation, State};
use crate::{snapshot, values};

/// Actions one reconcile may run before it stops (unlock, upgrade, remediation, ...).
const MAX_STEPS: usize = 6;

/// The chart and values to release.
pub struct Request<'a> {
    pub chart: &'a helm::Chart,
    pub config: &'a serde_json::Map<String, serde_json::Value>,
    pub oci_digest: Option<&'a str>,
}

/// Flux's event annotations: the chart version, the values digest, the app version.
pub fn annotate(event: EventRecord, status: &HelmReleaseStatus) -> EventRecord {
    let group = api::helm::GROUP;
    let mut event = event;
    if let Some(revision) = &status.last_attempted_revision {
        event = event.with_metadata(format!("{group}/revision"), revision);
    }
    if let Some(digest) = &status.last_attempted_config_digest {
        event = event.with_metadata(format!("{group}/token"), digest);
    }
    if let Some(digest) = &status.last_attempted_revision_digest {
        event = event.with_metadata(format!("{group}/oci-digest"), digest);
    }
    event
}

fn chart_text(chart: &helm::Chart, key: &str) -> String {
    chart
        .metadata
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The remediation settings that apply to the last action.
fn policy(object: &HelmRelease, status: &HelmReleaseStatus) -> Policy {
    let install = object
        .spec
        .install
        .as_ref()
        .and_then(|i| i.remediation.clone())
        .unwrap_or_default();
    let upgrade = object
        .spec
        .upgrade
        .as_ref()
        .and_then(|u| u.remediation.clone())
        .unwrap_or_default();
    let install_retries = install.retries.unwrap_or(0);
    let upgrade_retries = upgrade.retries.unwrap_or(0);
    let forced = forced(object, status);
    Policy {
        install: Remediation {
            retries: install_retries,
            remediate_last_failure: install.remediate_last_failure.unwrap_or(false),
            uninstall: true,
            failures: status.install_failures.unwrap_or(0),
            retry: retry_interval(object, false).is_some(),
        },
        upgrade: Remediation {
            retries: upgrade_retries,
            remediate_last_failure: upgrade
                .remediate_last_failure
                .unwrap_or(upgrade_retries > 0),
            uninstall: upgrade.strategy == Some(api::helm::RemediationStrategy::Uninstall),
            failures: status.upgrade_failures.unwrap_or(0),
            retry: retry_interval(object, true).is_some(),
        },
        last_action: match status.last_attempted_release_action.as_deref() {
            Some("install") => Some(LastAction::Install),
            Some("upgrade") => Some(LastAction::Upgrade),
            _ => None,
        },
        forced,
    }
}

/// With `strategy: RetryOnFailure` for the action, the delay before it is tried again
/// (`retryInterval`, default 5m).
fn retry_interval(object: &HelmRelease, upgrade: bool) -> Option<std::time::Duration> {
    let strategy = if upgrade {
        object.spec.upgrade.as_ref()?.strategy.as_ref()?
    } else {
        object.spec.install.as_ref()?.strategy.as_ref()?
    };
    (strategy.name == api::helm::ActionStrategyName::RetryOnFailure).then(|| {
        strategy
            .retry_interval
            .as_deref()
            .and_then(|i| api::duration::parse(i).ok())
            .unwrap_or(std::time::Duration::from_secs(300))
    })
}

const FORCE_ANNOTATION: &str = "reconcile.fluxcd.io/forceAt";
const RESET_ANNOTATION: &str = "reconcile.fluxcd.io/resetAt";

/// A force (or reset) is asked for when its annotation equals `requestedAt` and it was not
/// handled yet.
fn requested(object: &HelmRelease, annotation: &str, handled: Option<&String>) -> Option<String> {
    let annotations = object.annotations();
    let value = annotations.get(annotation)?;
    (annotations.get(api::meta::RECONCILE_REQUEST_ANNOTATION) == Some(value)
        && handled != Some(value))
    .then(|| value.clone())
}

fn forced(object: &HelmRelease, status: &HelmReleaseStatus) -> bool {
    requested(
        object,
        FORCE_ANNOTATION,
        status.last_handled_force_at.as_ref(),
    )
    .is_some()
}

/// Failure counters go back to zero for a new generation, chart version or values, or when
/// a reset is requested.
fn reset_failures(
    object: &HelmRelease,
    status: &mut HelmReleaseStatus,
    chart_version: &str,
    config_digest: &str,
) {
    let reset = requested(
        object,
        RESET_ANNOTATION,
        status.last_handled_reset_at.as_ref(),
    );
    let changed = status.last_attempted_generation != object.metadata.generation
        || status.last_attempted_revision.as_deref() != Some(chart_version)
        || status.last_attempted_config_digest.as_deref() != Some(config_digest);
    if changed || reset.is_some() {
        status.failures = None;
        status.install_failures = None;
        status.upgrade_failures = None;
    }
    if let Some(reset) = reset {
        status.last_handled_reset_at = Some(reset);
    }
}

fn bump(counter: &mut Option<i64>) {
    *counter = Some(counter.unwrap_or(0) + 1);
}

/// Runs the release loop; Ok when the release is in sync with the spec.
pub async fn reconcile(
    object: &HelmRelease,
    ctx: &Context,
    executor: &Executor<'_>,
    request: &Request<'_>,
    progress: &mut Progress<'_>,
    status: &mut HelmReleaseStatus,
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    let chart_name = chart_text(request.chart, "name");
    let chart_version = request.chart.version();
    let config_digest = values::digest(request.config);
    runtime::record_revision(&chart_version);
    reset_failures(object, status, &chart_version, &config_digest);
    status.last_attempted_generation = object.metadata.generation;
    status.last_attempted_revision = Some(chart_version.clone());
    status.last_attempted_revision_digest = request.oci_digest.map(str::to_owned);
    status.last_attempted_config_digest = Some(config_digest.clone());
    status.last_attempted_values_checksum = None;
    status.last_release_revision = None;
    let desired = Desired {
        chart_name: &chart_name,
        chart_version: &chart_version,
        config_digest: &config_digest,
    };
    let rendering = RenderingDigests::of(object);
    let mut step = Step {
        object,
        ctx,
        executor,
        request,
        chart: format!("{chart_name}@{chart_version}"),
        acted: None,
    };
    for _ in 0..MAX_STEPS {
        let history = executor.store.history(executor.name).await.map_err(|e| {
            Failure::retryable("StateError", format!("failed to read release storage: {e}"))
        })?;
        step.record_history(&history, status);
        let latest = history.last();
        let snapshots = status.history.clone().unwrap_or_default();
        let mut state = state::determine(latest, &snapshots, &desired);
        if state == State::InSync
            && let Some(reason) = post_render_changed(object, status, &rendering)
        {
            state = State::OutOfSync(reason.to_owned());
        }
        if state == State::Unmanaged {
            status.history = None;
        }
        let next = state::next(&state, &snapshots, &policy(object, status));
        tracing::info!(state = ?state, next = ?next, "release state");
        match next {
            Next::Done => {
                step.in_sync(latest, status, conditions);
                status.observed_post_renderers_digest = rendering.post_renderers.clone();
                status.observed_common_metadata_digest = rendering.common_metadata.clone();
                if let Some(release) = latest {
                    step.test_if_due(release, status, conditions).await?;
                    step.detect_drift(release, status, conditions).await?;
                }
                return Ok(());
            }
            Next::Unlock(previous) => step.unlock(latest, previous, conditions).await?,
            Next::Install | Next::Upgrade => {
                let upgrade = next == Next::Upgrade && latest.is_some();
                if forced(object, status) {
                    status.last_handled_force_at = requested(object, FORCE_ANNOTATION, None);
                }
                // What this release is rendered with, so the next step sees it in sync.
                status.observed_post_renderers_digest = rendering.post_renderers.clone();
                status.observed_common_metadata_digest = rendering.common_metadata.clone();
                step.release(&history, upgrade, progress, status, conditions)
                    .await?;
            }
            Next::Rollback(version) => {
                return Err(step.rollback(&history, version, status, conditions).await);
            }
            Next::UninstallRemediation => {
                return Err(step
                    .uninstall_remediation(&history, status, conditions)
                    .await);
            }
            Next::RetriesExceeded(action, attempts) => {
                return Err(retries_exceeded(action, attempts));
            }
            Next::MissingRollbackTarget => {
                return Err(Failure::stalled(
                    reasons::MISSING_ROLLBACK_TARGET,
                    "failed to determine the release to roll back to: no previous deployed release in history",
                ));
            }
        }
    }
    Err(Failure::retryable(
        "ReconcileError",
        format!("the release did not settle after {MAX_STEPS} actions"),
    ))
}

/// Digests of how releases are post-rendered (Flux: sha256 of the JSON of the spec
/// fields, newline included); `None` when the field is not set.
struct RenderingDigests {
    post_renderers: Option<String>,
    common_metadata: Option<String>,
}

impl RenderingDigests {
    fn of(object: &HelmRelease) -> Self {
        fn digest<T: serde::Serialize>(value: Option<&T>) -> Option<String> {
            let json = serde_json::to_string(value?).ok()?;
            Some(format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{json}\n")))
            ))
        }
        RenderingDigests {
            post_renderers: digest(object.spec.post_renderers.as_ref()),
            common_metadata: digest(object.spec.common_metadata.as_ref()),
        }
    }
}

/// A new generation that changed the post-renderers or common metadata makes an in-sync
/// release out of sync: its objects would be rendered differently.
fn post_render_changed(
    object: &HelmRelease,
    status: &HelmReleaseStatus,
    rendering: &RenderingDigests,
) -> Option<&'static str> {
    if status.observed_generation == object.metadata.generation {
        return None;
    }
    if status.observed_post_renderers_digest != rendering.post_renderers {
        return Some("postrenderers digest has changed");
    }
    if status.observed_common_metadata_digest != rendering.common_metadata {
        return Some("common metadata digest has changed");
    }
    None
}

/// Stalled: "Failed to <action> after N attempt(s)"; Ready keeps Released's failure (the
/// reconciler's conclusion reads it from there).
fn retries_exceeded(action: LastAction, attempts: i64) -> Failure {
    Failure::stalled(
        reasons::RETRIES_EXCEEDED,
        format!("Failed to {} after {attempts} attempt(s)", action.as_str()),
    )
}

/// One reconcile's view of the release for running its actions.
struct Step<'a> {
    object: &'a HelmRelease,
    ctx: &'a Context,
    executor: &'a Executor<'a>,
    request: &'a Request<'a>,
    /// `<chart>@<version>`.
    chart: String,
    /// The action that just ran, recorded in the next snapshot.
    acted: Option<&'static str>,
}

impl Step<'_> {
    fn full_name(&self, version: u32) -> String {
        format!(
            "{}/{}.v{version}",
            self.executor.namespace, self.executor.name
        )
    }

    async fn event(
        &self,
        status: &HelmReleaseStatus,
        severity: Severity,
        reason: &str,
        message: &str,
    ) {
        let event = annotate(EventRecord::new(severity, reason, message), status);
        let event = match self
            .request
            .chart
            .metadata
            .get("appVersion")
            .and_then(|v| v.as_str())
        {
            Some(app) => event.with_metadata(format!("{}/app-version", api::helm::GROUP), app),
            None => event,
        };
        self.ctx.recorder.record(self.object, event).await;
    }

    /// Snapshots follow storage: the newest release recorded (with the action that made
    /// it), the others' statuses updated; the inventory is the newest release's objects.
    fn record_history(&mut self, history: &[Release], status: &mut HelmReleaseStatus) {
        let Some(latest) = history.last() else {
            return;
        };
        let mut snapshots = status.history.clone().unwrap_or_default();
        if let Some(action) = self.acted.take() {
            snapshot::record(
                &mut snapshots,
                snapshot::of(latest, Some(action), self.request.oci_digest),
            );
        }
        for release in history {
            snapshot::update_status(&mut snapshots, release);
        }
        if !snapshots.is_empty() {
            status.history = Some(snapshots);
        }
        status.inventory = Some(ResourceInventory {
            entries: inventory(latest),
        });
    }

    fn in_sync(
        &self,
        latest: Option<&Release>,
        status: &mut HelmReleaseStatus,
        conditions: &mut Conditions,
    ) {
        conditions.delete(condition::REMEDIATED);
        if !conditions.is_true(condition::RELEASED)
            && let Some(release) = latest
        {
            let message = format!(
                "Helm upgrade succeeded for release {} with chart {}",
                self.full_name(release.version),
                self.chart
            );
            conditions.mark_true(condition::RELEASED, reasons::UPGRADE_SUCCEEDED, message);
        }
        conditions.delete(STALLED);
        status.last_attempted_release_action_duration = None;
    }

    /// With `spec.test.enable`, runs the test hooks of a release not tested yet (a new
    /// install or upgrade): TestSuccess, and the runs recorded in the snapshot.
    async fn test_if_due(
        &self,
        release: &Release,
        status: &mut HelmReleaseStatus,
        conditions: &mut Conditions,
    ) -> Result<(), Failure> {
        let test = self.object.spec.test.clone().unwrap_or_default();
        if !test.enable {
            conditions.delete(condition::TEST_SUCCESS);
            return Ok(());
        }
        let tested = status
            .history
            .as_ref()
            .and_then(|h| h.first())
            .is_some_and(|s| s.version == i64::from(release.version) && s.test_hooks.is_some());
        if tested {
            return Ok(());
        }
        let timeout = api::duration::parse(
            test.timeout
                .as_deref()
                .or(self.object.spec.timeout.as_deref())
                .unwrap_or("5m"),
        )
        .unwrap_or(std::time::Duration::from_secs(300));
        let filters = test.filters.clone().unwrap_or_default();
        let selected = |hook: &helm::release::StoredHook| {
            let excluded = filters.iter().any(|f| f.exclude && f.name == hook.name);
            let included: Vec<_> = filters.iter().filter(|f| !f.exclude).collect();
            !excluded && (included.is_empty() || included.iter().any(|f| f.name == hook.name))
        };
        let mut record = release.clone();
        let result = self.executor.test(&mut record, selected, timeout).await;
        if let Some(snapshot) = status.history.as_mut().and_then(|h| h.first_mut()) {
            snapshot.test_hooks = Some(
                record
                    .hooks
                    .iter()
                    .filter(|h| {
                        h.events.iter().any(|e| e == "test") && h.last_run.started_at.is_some()
                    })
                    .map(|h| {
                        let time = |t: Option<jiff::Timestamp>| t.map(|t| t.to_string());
                        (
                            h.name.clone(),
                            api::helm::TestHookStatus {
                                last_started: time(h.last_run.started_at),
                                last_completed: time(h.last_run.completed_at),
                                phase: Some(h.last_run.phase.clone()),
                            },
                        )
                    })
                    .collect(),
            );
        }
        let name = self.full_name(release.version);
        match result {
            Ok(count) => {
                let detail = if count == 0 {
                    "no test hooks".to_owned()
                } else {
                    format!("{count} test hook(s) completed successfully")
                };
                let message = format!(
                    "Helm test succeeded for release {name} with chart {}: {detail}",
                    self.chart
                );
                conditions.mark_true(condition::TEST_SUCCESS, reasons::TEST_SUCCEEDED, &message);
                self.event(status, Severity::Info, reasons::TEST_SUCCEEDED, &message)
                    .await;
                Ok(())
            }
            Err(e) => {
                let message = format!(
                    "Helm test failed for release {name} with chart {}: {e}",
                    self.chart
                );
                conditions.mark_false(condition::TEST_SUCCESS, reasons::TEST_FAILED, &message);
                self.event(status, Severity::Error, reasons::TEST_FAILED, &message)
                    .await;
                if test.ignore_failures {
                    Ok(())
                } else {
                    Err(Failure::retryable(reasons::TEST_FAILED, message))
                }
            }
        }
    }

    /// With `driftDetection`, compares the release's objects with the cluster: drift is
    /// reported (`warn`) or corrected (`enabled`).
    async fn detect_drift(
        &self,
        release: &Release,
        status: &HelmReleaseStatus,
        conditions: &mut Conditions,
    ) -> Result<(), Failure> {
        let mode = self
            .object
            .spec
            .drift_detection
            .as_ref()
            .and_then(|d| d.mode)
            .unwrap_or_default();
        if mode == DriftDetectionMode::Disabled {
            conditions.delete(condition::DRIFTED);
            return Ok(());
        }
        let name = self.full_name(release.version);
        let drifted = self.executor.drift(release).await.map_err(|e| {
            Failure::retryable(
                reasons::DRIFT_DETECTED,
                format!("failed to diff release {name}: {e}"),
            )
        })?;
        if drifted.is_empty() {
            conditions.mark_false(
                condition::DRIFTED,
                reasons::NO_DRIFT_DETECTED,
                format!("No drift detected for release {name}"),
            );
            return Ok(());
        }
        let lines = drifted
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c.object.display(),
                    if c.action == ssa::Action::Created {
                        "removed"
                    } else {
                        "changed"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let message =
            format!("Cluster state of release {name} has drifted from the desired state:\n{lines}");
        conditions.mark_true(condition::DRIFTED, reasons::DRIFT_DETECTED, &message);
        self.event(status, Severity::Error, reasons::DRIFT_DETECTED, &message)
            .await;
        if mode != DriftDetectionMode::Enabled {
            return Ok(());
        }
        match self.executor.correct_drift(release).await {
            Ok(corrected) => {
                let lines = ssa::change_lines(&corrected).join("\n");
                let message =
                    format!("Cluster state of release {name} has been corrected:\n{lines}");
                self.event(status, Severity::Info, "DriftCorrected", &message)
                    .await;
                Ok(())
            }
            Err(e) => {
                let message = format!("Failed to correct cluster state of release {name}: {e}");
                self.event(status, Severity::Error, "DriftCorrectionFailed", &message)
                    .await;
                Err(Failure::retryable("DriftCorrectionFailed", message))
            }
        }
    }

    async fn unlock(
        &mut self,
        latest: Option<&Release>,
        previous: helm::release::Status,
        conditions: &mut Conditions,
    ) -> Result<(), Failure> {
        let release = latest.expect("a locked release exists");
        self.executor.unlock(release).await.map_err(|e| {
            Failure::retryable(
                reasons::PENDING_RELEASE,
                format!("failed to unlock release: {}", e.message),
            )
        })?;
        let message = format!(
            "Unlocked Helm release {} with chart {} in {} state",
            self.full_name(release.version),
            self.chart,
            previous.as_str()
        );
        conditions.mark_false(condition::RELEASED, reasons::PENDING_RELEASE, &message);
        let event = EventRecord::new(Severity::Info, reasons::PENDING_RELEASE, &message);
        self.ctx.recorder.record(self.object, event).await;
        self.acted = Some("unlock");
        Ok(())
    }

    /// Installs or upgrades; a failure is recorded and the loop goes on to remediation.
    async fn release(
        &mut self,
        history: &[Release],
        upgrade: bool,
        progress: &mut Progress<'_>,
        status: &mut HelmReleaseStatus,
        conditions: &mut Conditions,
    ) -> Result<(), Failure> {
        let options = release_options(self.object, upgrade);
        let action = if upgrade { "upgrade" } else { "install" };
        let started = std::time::Instant::now();
        conditions.mark_true(
            RECONCILING,
            reason::PROGRESSING,
            format!(
                "Running '{action}' action with timeout of {}",
                api::duration::format(options.timeout)
            ),
        );
        conditions.set(
            READY,
            ConditionStatus::Unknown,
            reason::PROGRESSING,
            format!("Running '{action}' action"),
        );
        status.last_attempted_release_action = Some(action.to_owned());
        progress.record(status, conditions).await;
        let request = crate::actions::Request {
            chart: self.request.chart,
            config: self.request.config,
        };
        let result = if upgrade {
            self.executor.upgrade(history, &request, &options).await
        } else {
            self.executor.install(&request, &options).await
        };
        status.last_attempted_release_action_duration = Some(api::duration::format(
            std::time::Duration::from_millis(started.elapsed().as_millis() as u64),
        ));
        self.acted = Some(action);
        let (succeeded_reason, failed_reason) = if upgrade {
            (reasons::UPGRADE_SUCCEEDED, reasons::UPGRADE_FAILED)
        } else {
            (reasons::INSTALL_SUCCEEDED, reasons::INSTALL_FAILED)
        };
        let verb = if upgrade { "upgrade" } else { "install" };
        match result {
            Ok(release) => {
                let message = format!(
                    "Helm {verb} succeeded for release {} with chart {}",
                    self.full_name(release.version),
                    self.chart
                );
                conditions.mark_true(condition::RELEASED, succeeded_reason, &message);
                conditions.delete(condition::REMEDIATED);
                self.event(status, Severity::Info, succeeded_reason, &message)
                    .await;
                Ok(())
            }
            Err(ActionError {
                message: error,
                wrote_storage,
            }) => {
                bump(&mut status.failures);
                if wrote_storage {
                    bump(if upgrade {
                        &mut status.upgrade_failures
                    } else {
                        &mut status.install_failures
                    });
                }
                let message = format!(
                    "Helm {verb} failed for release {}/{} with chart {}: {error}",
                    self.executor.namespace, self.executor.name, self.chart
                );
                conditions.mark_false(condition::RELEASED, failed_reason, &message);
                self.event(status, Severity::Error, failed_reason, &message)
                    .await;
                if let Some(delay) = retry_interval(self.object, upgrade) {
                    // RetryOnFailure: no remediation, the same action again after the delay
                    // (the failure event is already recorded).
                    Err(Failure::waiting(failed_reason, message, delay))
                } else if wrote_storage {
                    Ok(())
                } else {
                    // Nothing was released (a render error): nothing to remediate.
                    Err(Failure::retryable(failed_reason, message))
                }
            }
        }
    }

    /// Rolls back to `version`; ends the reconcile either way (Ready False: remediated).
    async fn rollback(
        &mut self,
        history: &[Release],
        version: i64,
        status: &mut HelmReleaseStatus,
        conditions: &mut Conditions,
    ) -> Failure {
        let Some(target) = history.iter().find(|r| i64::from(r.version) == version) else {
            return Failure::stalled(
                reasons::MISSING_ROLLBACK_TARGET,
                format!("release version {version} to roll back to is not in storage"),
            );
        };
        let options = release_options(self.object, true);
        let result = self.executor.rollback(history, target, &options).await;
        self.acted = Some("rollback");
        if let Ok(history) = self.executor.store.history(self.executor.name).await {
            self.record_history(&history, status);
        }
        let target_chart = format!(
            "{}@{}",
            target
                .chart
                .metadata
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
            target
                .chart
                .metadata
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        );
        let name = self.full_name(target.version);
        let (reason, message, severity) = match result {
            Ok(_) => (
                reasons::ROLLBACK_SUCCEEDED,
                format!(
                    "Helm rollback to previous release {name} with chart {target_chart} succeeded"
                ),
                Severity::Info,
            ),
            Err(e) => (
                reasons::ROLLBACK_FAILED,
                format!(
                    "Helm rollback to previous release {name} with chart {target_chart} failed: {}",
                    e.message
                ),
                Severity::Error,
            ),
        };
        conditions.mark_true(condition::REMEDIATED, reason, &message);
        self.event(status, severity, reason, &message).await;
        remediated(reason, message)
    }

    async fn uninstall_remediation(
        &mut self,
        history: &[Release],
        status: &mut HelmReleaseStatus,
        conditions: &mut Conditions,
    ) -> Failure {
        let mut options = release_options(self.object, false);
        let uninstall = self.object.spec.uninstall.clone().unwrap_or_default();
        options.disable_hooks = uninstall.disable_hooks;
        let result = self
            .executor
            .uninstall(history, uninstall.keep_history, &options)
            .await;
        let name = self.full_name(history.last().map_or(0, |r| r.version));
        let (reason, message, severity) = match result {
            Ok(()) => (
                reasons::UNINSTALL_SUCCEEDED,
                format!(
                    "Helm uninstall remediation for release {name} with chart {} succeeded",
                    self.chart
                ),
                Severity::Info,
            ),
            Err(e) => (
                reasons::UNINSTALL_FAILED,
                format!(
                    "Helm uninstall remediation for release {name} with chart {} failed: {}",
                    self.chart, e.message
                ),
                Severity::Error,
            ),
        };
        if let Ok(history) = self.executor.store.history(self.executor.name).await {
            self.record_history(&history, status);
        }
        conditions.mark_true(condition::REMEDIATED, reason, &message);
        self.event(status, severity, reason, &message).await;
        remediated(reason, message)
    }
}

/// After a remediation the reconcile stops with Ready False (Remediated's reason and
/// message) and comes back after the backoff to try the spec again.
fn remediated(reason: &'static str, message: String) -> Failure {
    let mut failure = Failure::retryable(reason, message);
    failure.kind = runtime::outcome::FailureKind::Waiting;
    failure
}

/// The release's objects as inventory entries (hooks are not part of it).
fn inventory(release: &Release) -> Vec<api::kustomize::ResourceRef> {
    let Ok(documents) = goyaml::parse_stream(&release.manifest) else {
        return Vec::new();
    };
    let mut entries: Vec<api::kustomize::ResourceRef> = documents
        .into_iter()
        .filter_map(|document| match document {
            serde_json::Value::Object(map) => {
                let mut resource = kustomize::Resource::new(map, String::new());
                if resource.namespace().is_empty() {
                    resource.set_namespace(&release.namespace);
                }
                Some(ObjectRef::of(&resource).entry())
            }
            _ => None,
        })
        .collect();
    entries.sort();
    entries.dedup();
    entries
}
