//! `reconcile`: requests a reconcile (`reconcile.fluxcd.io/requestedAt`) and waits until the
//! controller has handled it, saying why when it does not.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::common::{Kind, Scope, client, condition_text, ready};
use crate::ui;

const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// A source: `source oci NAME`.
    #[command(subcommand)]
    Source(SourceTarget),
    /// A Kustomization.
    #[command(alias = "ks")]
    Kustomization(KustomizationTarget),
    /// A HelmRelease.
    #[command(alias = "hr")]
    Helmrelease(HelmReleaseTarget),
    /// Image automation: `image repository|update NAME`.
    #[command(subcommand, alias = "images")]
    Image(ImageTarget),
}

#[derive(Subcommand, Debug)]
pub enum ImageTarget {
    /// An ImageRepository.
    Repository(NameArgs),
    /// An ImageUpdateAutomation.
    Update(NameArgs),
}

#[derive(Subcommand, Debug)]
pub enum SourceTarget {
    Git(NameArgs),
    Oci(NameArgs),
    Helm(NameArgs),
    Chart(NameArgs),
}

#[derive(Args, Debug)]
pub struct NameArgs {
    pub(super) name: String,
    #[command(flatten)]
    pub(super) scope: Scope,
}

#[derive(Args, Debug)]
pub struct KustomizationTarget {
    #[command(flatten)]
    target: NameArgs,
    /// Reconcile the Kustomization's source first (`reconcile` only).
    #[arg(long)]
    with_source: bool,
}

#[derive(Args, Debug)]
pub struct HelmReleaseTarget {
    #[command(flatten)]
    target: NameArgs,
    /// Reconcile the release's chart source first (`reconcile` only).
    #[arg(long)]
    with_source: bool,
    /// Upgrade the release even if nothing changed, or retries are used up.
    #[arg(long)]
    force: bool,
    /// Reset the failure counters, so exhausted retries start over.
    #[arg(long)]
    reset: bool,
}

impl TargetCommand {
    pub(super) fn parts(&self) -> (Kind, &NameArgs, bool) {
        match self {
            TargetCommand::Source(SourceTarget::Git(args)) => (Kind::GitRepository, args, false),
            TargetCommand::Source(SourceTarget::Oci(args)) => (Kind::OciRepository, args, false),
            TargetCommand::Source(SourceTarget::Helm(args)) => (Kind::HelmRepository, args, false),
            TargetCommand::Source(SourceTarget::Chart(args)) => (Kind::HelmChart, args, false),
            TargetCommand::Kustomization(k) => (Kind::Kustomization, &k.target, k.with_source),
            TargetCommand::Helmrelease(h) => (Kind::HelmRelease, &h.target, h.with_source),
            TargetCommand::Image(ImageTarget::Repository(args)) => {
                (Kind::ImageRepository, args, false)
            }
            TargetCommand::Image(ImageTarget::Update(args)) => {
                (Kind::ImageUpdateAutomation, args, false)
            }
        }
    }

    /// The annotations besides `requestedAt` a reconcile sets to the same token.
    fn also_annotate(&self) -> Vec<&'static str> {
        match self {
            TargetCommand::Helmrelease(h) => [
                (h.force, "reconcile.fluxcd.io/forceAt"),
                (h.reset, "reconcile.fluxcd.io/resetAt"),
            ]
            .into_iter()
            .filter_map(|(set, key)| set.then_some(key))
            .collect(),
            _ => Vec::new(),
        }
    }

    /// `reconcile`: sets `requestedAt` and waits until the controller has handled it.
    pub async fn reconcile(self, timeout: Duration) -> anyhow::Result<()> {
        let (kind, args, with_source) = self.parts();
        let client = client().await?;
        let ns = &args.scope.namespace;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kind.resource());
        let object = api.get(&args.name).await.with_context(|| {
            format!(
                "{} '{}' not found in {ns} namespace",
                kind.name(),
                args.name
            )
        })?;
        if object
            .data
            .pointer("/spec/suspend")
            .and_then(Value::as_bool)
            == Some(true)
        {
            bail!("resource is suspended");
        }
        if kind == Kind::HelmRepository
            && object.data.pointer("/spec/type").and_then(Value::as_str) == Some("oci")
        {
            bail!(
                "HelmRepository '{}' is of type 'oci': it has no artifact to reconcile; reconcile its HelmCharts instead",
                args.name
            );
        }
        if with_source {
            let (source_kind, source, source_ns) = source_of(&object.data, ns)
                .with_context(|| format!("{} '{}' names no source", kind.name(), args.name))?;
            let sources: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &source_ns, &source_kind.resource());
            request_and_wait(&sources, source_kind, &source, &source_ns, timeout, &[]).await?;
        }
        let also = self.also_annotate();
        request_and_wait(&api, kind, &args.name, ns, timeout, &also).await
    }
}

/// The source an object reconciles from: a Kustomization's `sourceRef`, a HelmRelease's
/// HelmChart (`status.helmChart`) or `chartRef`.
fn source_of(object: &Value, ns: &str) -> Option<(Kind, String, String)> {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    if let Some(chart) = text("/status/helmChart") {
        let (chart_ns, name) = chart.split_once('/')?;
        return Some((Kind::HelmChart, name.to_owned(), chart_ns.to_owned()));
    }
    let reference = ["/spec/sourceRef", "/spec/chartRef"]
        .into_iter()
        .find(|p| object.pointer(p).is_some())?;
    let kind = Kind::from_name(text(&format!("{reference}/kind"))?)?;
    let name = text(&format!("{reference}/name"))?.to_owned();
    let source_ns = text(&format!("{reference}/namespace"))
        .unwrap_or(ns)
        .to_owned();
    Some((kind, name, source_ns))
}

pub(super) async fn request_and_wait(
    api: &Api<DynamicObject>,
    kind: Kind,
    name: &str,
    ns: &str,
    timeout: Duration,
    also: &[&str],
) -> anyhow::Result<()> {
    ui::action(format!(
        "annotating {} {name} in {ns} namespace",
        kind.name()
    ));
    let token = jiff::Timestamp::now().to_string();
    let mut annotations = serde_json::Map::new();
    for key in std::iter::once(REQUESTED_AT).chain(also.iter().copied()) {
        annotations.insert(key.to_owned(), json!(token));
    }
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": annotations}})),
    )
    .await
    .with_context(|| format!("{} '{name}' not found in {ns} namespace", kind.name()))?;
    ui::success(format!("{} annotated", kind.name()));
    ui::action(format!("waiting for {} reconciliation", kind.name()));
    let spinner = ui::spinner(format!("waiting for {} reconciliation", kind.name()));
    let deadline = tokio::time::Instant::now() + timeout;
    let requested = serde_json::to_value(api.get(name).await?)?;
    let object = loop {
        let object = serde_json::to_value(api.get(name).await?)?;
        let handled = object
            .pointer("/status/lastHandledReconcileAt")
            .and_then(Value::as_str)
            == Some(token.as_str());
        let settled = ready(&object).is_some_and(|c| c["status"] != "Unknown");
        if handled && settled {
            break object;
        }
        let progress = WaitProgress::of(&requested, &object);
        spinner.set_message(format!(
            "waiting for {} reconciliation: {}",
            kind.name(),
            progress.describe()
        ));
        if tokio::time::Instant::now() > deadline {
            spinner.finish_and_clear();
            bail!(
                "timeout waiting for {} reconciliation: {}",
                kind.name(),
                progress.explain(kind, ns, timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    spinner.finish_and_clear();
    let condition = ready(&object).cloned().unwrap_or_default();
    if condition["status"] != "True" {
        bail!(
            "{}",
            condition["message"]
                .as_str()
                .unwrap_or("reconciliation failed")
        );
    }
    ui::success(success_line(kind, &object));
    Ok(())
}

/// The last line of a successful reconcile, as flux prints it for the kind.
pub(super) fn success_line(kind: Kind, object: &Value) -> String {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    match kind {
        Kind::GitRepository | Kind::OciRepository | Kind::HelmRepository | Kind::HelmChart => {
            format!("fetched revision {}", text("/status/artifact/revision"))
        }
        Kind::HelmRelease => format!("applied revision {}", text("/status/lastAttemptedRevision")),
        Kind::ImageRepository => format!(
            "scan fetched {} tags",
            object
                .pointer("/status/lastScanResult/tagCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        ),
        Kind::ImagePolicy => {
            let digest = text("/status/latestRef/digest");
            let at = if digest.is_empty() {
                String::new()
            } else {
                format!("@{digest}")
            };
            format!(
                "selected ref {}:{}{at}",
                text("/status/latestRef/name"),
                text("/status/latestRef/tag")
            )
        }
        Kind::ImageUpdateAutomation => ready(object)
            .and_then(|c| c["message"].as_str())
            .unwrap_or("repository up-to-date")
            .to_owned(),
        _ => format!("applied revision {}", text("/status/lastAppliedRevision")),
    }
}

/// Where a requested reconcile is while `reconcile` waits, read from the object.
#[derive(Debug, PartialEq, Eq)]
enum WaitProgress {
    /// Nothing has touched the status since the request: no controller picked it up.
    NotPickedUp,
    /// A reconcile runs (Reconciling True); the request is handled after it.
    Reconciling(String),
    /// The status moved, but the request is not handled yet; the last Ready condition.
    Pending(String),
}

impl WaitProgress {
    fn of(requested: &Value, now: &Value) -> Self {
        let reconciling = now
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|c| c["type"] == "Reconciling" && c["status"] == "True")
            });
        if let Some(condition) = reconciling {
            return WaitProgress::Reconciling(condition_text(condition));
        }
        if requested.get("status") == now.get("status") {
            return WaitProgress::NotPickedUp;
        }
        WaitProgress::Pending(ready(now).map(condition_text).unwrap_or_default())
    }

    /// A short line for the spinner.
    fn describe(&self) -> String {
        match self {
            WaitProgress::NotPickedUp => "not picked up yet".to_owned(),
            WaitProgress::Reconciling(what) => what.clone(),
            WaitProgress::Pending(ready) => format!("last status: {ready}"),
        }
    }

    /// Why the request was not handled in time.
    fn explain(&self, kind: Kind, ns: &str, timeout: Duration) -> String {
        match self {
            WaitProgress::NotPickedUp => format!(
                "no controller handled the request in {}: is {} running and watching namespace {ns}?",
                api::duration::format(timeout),
                kind.controller()
            ),
            WaitProgress::Reconciling(what) => format!(
                "an earlier reconcile is still running ({what}); the request is handled when it ends"
            ),
            WaitProgress::Pending(ready) => {
                format!("the request was not handled yet; last status: {ready}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_wait_says_why_the_request_is_not_handled() {
        let requested = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision: v1"}]}});
        assert_eq!(
            WaitProgress::of(&requested, &requested),
            WaitProgress::NotPickedUp
        );
        let explained =
            WaitProgress::NotPickedUp.explain(Kind::Kustomization, "apps", Duration::from_secs(5));
        assert_eq!(
            explained,
            "no controller handled the request in 5s: is kustomize-controller running and watching namespace apps?"
        );
        let running = json!({"status": {"conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Reconciliation in progress"},
            {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Running health checks for revision v1 with a timeout of 2m0s"}]}});
        let progress = WaitProgress::of(&requested, &running);
        assert_eq!(
            progress,
            WaitProgress::Reconciling(
                "Progressing: Running health checks for revision v1 with a timeout of 2m0s".into()
            )
        );
        assert!(
            progress
                .explain(Kind::Kustomization, "apps", Duration::from_secs(5))
                .starts_with("an earlier reconcile is still running")
        );
        let failed = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "ArtifactFailed", "message": "fetch failed"}]}});
        assert_eq!(
            WaitProgress::of(&requested, &failed).describe(),
            "last status: ArtifactFailed: fetch failed"
        );
    }
}
