//! Cluster commands, output-compatible with the flux CLI: `get`, `reconcile`, `suspend`,
//! `resume` for OCIRepositories and Kustomizations (and `get` for Alerts and Receivers).

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::ui;

const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Where to look: `-n` (default flux-system) or `-A`.
#[derive(Args, Debug, Clone)]
pub struct Scope {
    /// The namespace of the objects.
    #[arg(short, long, global = true, default_value = "flux-system")]
    namespace: String,
    /// All namespaces (`get` only).
    #[arg(short = 'A', long, global = true)]
    all_namespaces: bool,
}

/// A Flux kind the commands handle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    OciRepository,
    Kustomization,
    Alert,
    Receiver,
}

impl Kind {
    fn resource(self) -> ApiResource {
        let (api_version, kind) = match self {
            Kind::OciRepository => ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
            Kind::Kustomization => ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
            Kind::Alert => ("notification.toolkit.fluxcd.io/v1beta3", "Alert"),
            Kind::Receiver => ("notification.toolkit.fluxcd.io/v1", "Receiver"),
        };
        api::api_resource(api_version, kind)
    }

    /// The controller that reconciles this kind.
    fn controller(self) -> &'static str {
        match self {
            Kind::OciRepository => "source-controller",
            Kind::Kustomization => "kustomize-controller",
            Kind::Alert | Kind::Receiver => "notification-controller",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::OciRepository => "OCIRepository",
            Kind::Kustomization => "Kustomization",
            Kind::Alert => "Alert",
            Kind::Receiver => "Receiver",
        }
    }

    /// Whether `get` shows a REVISION column.
    fn has_revision(self) -> bool {
        matches!(self, Kind::OciRepository | Kind::Kustomization)
    }
}

#[derive(Subcommand, Debug)]
pub enum GetCommand {
    /// Sources: `get sources oci`.
    #[command(subcommand)]
    Sources(SourceKind),
    /// Kustomizations.
    #[command(alias = "ks", alias = "kustomization")]
    Kustomizations(GetArgs),
    /// Alerts.
    #[command(alias = "alert")]
    Alerts(GetArgs),
    /// Receivers.
    #[command(alias = "receiver")]
    Receivers(GetArgs),
}

#[derive(Subcommand, Debug)]
pub enum SourceKind {
    /// OCIRepositories.
    Oci(GetArgs),
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Only this object.
    name: Option<String>,
    #[command(flatten)]
    scope: Scope,
    /// Omit the header row.
    #[arg(long)]
    no_header: bool,
    /// Only objects whose condition has this status, e.g. `ready=false`.
    #[arg(long)]
    status_selector: Option<String>,
}

impl GetCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let (kind, args) = match self {
            GetCommand::Sources(SourceKind::Oci(args)) => (Kind::OciRepository, args),
            GetCommand::Kustomizations(args) => (Kind::Kustomization, args),
            GetCommand::Alerts(args) => (Kind::Alert, args),
            GetCommand::Receivers(args) => (Kind::Receiver, args),
        };
        let client = client().await?;
        let resource = kind.resource();
        let api: Api<DynamicObject> = if args.scope.all_namespaces {
            Api::all_with(client, &resource)
        } else {
            Api::namespaced_with(client, &args.scope.namespace, &resource)
        };
        let mut objects = match &args.name {
            Some(name) => vec![api.get(name).await.with_context(|| {
                format!(
                    "{} '{name}' not found in {} namespace",
                    kind.name(),
                    args.scope.namespace
                )
            })?],
            None => api.list(&ListParams::default()).await?.items,
        };
        objects.sort_by_key(|o| (o.metadata.namespace.clone(), o.metadata.name.clone()));
        let selector = args
            .status_selector
            .as_deref()
            .map(parse_status_selector)
            .transpose()?;
        let rows: Vec<Vec<String>> = objects
            .iter()
            .map(|o| serde_json::to_value(o).unwrap_or_default())
            .filter(|o| {
                selector
                    .as_ref()
                    .is_none_or(|(t, s)| condition_status(o, t).eq_ignore_ascii_case(s))
            })
            .map(|o| row(&o, kind, args.scope.all_namespaces))
            .collect();
        if rows.is_empty() {
            ui::failure(format!(
                "no {} objects found in {} namespace",
                kind.name(),
                args.scope.namespace
            ));
            return Ok(());
        }
        let headers = headers(kind, args.scope.all_namespaces);
        let table = ui::table(&headers, &rows);
        let text = if args.no_header {
            table.lines().skip(1).map(|l| format!("{l}\n")).collect()
        } else {
            table
        };
        print!("{text}");
        Ok(())
    }
}

fn parse_status_selector(text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((t, s)) if !t.is_empty() && !s.is_empty() => Ok((capitalise(t), s.to_string())),
        _ => bail!("--status-selector must be of the form type=status, e.g. ready=false"),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn headers(kind: Kind, all: bool) -> Vec<&'static str> {
    let mut headers = Vec::new();
    if all {
        headers.push("NAMESPACE");
    }
    headers.push("NAME");
    if kind.has_revision() {
        headers.push("REVISION");
    }
    headers.extend(["SUSPENDED", "READY", "MESSAGE"]);
    headers
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

/// "Reason: message" of a condition.
fn condition_text(condition: &Value) -> String {
    format!(
        "{}: {}",
        condition["reason"].as_str().unwrap_or(""),
        condition["message"].as_str().unwrap_or("")
    )
}

fn ready(object: &Value) -> Option<&Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

fn condition_status(object: &Value, type_: &str) -> String {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("False")
        .to_string()
}

fn row(object: &Value, kind: Kind, all: bool) -> Vec<String> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut row = Vec::new();
    if all {
        row.push(text("/metadata/namespace"));
    }
    row.push(text("/metadata/name"));
    if kind.has_revision() {
        let revision = match kind {
            Kind::OciRepository => text("/status/artifact/revision"),
            _ => text("/status/lastAppliedRevision"),
        };
        row.push(truncate_hex(&revision));
    }
    let suspended = object
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    row.push(if suspended { "True" } else { "False" }.to_string());
    match ready(object) {
        Some(c) => {
            row.push(c["status"].as_str().unwrap_or("Unknown").to_string());
            row.push(truncate_hex(c["message"].as_str().unwrap_or("")));
        }
        None => {
            row.push("False".into());
            row.push("waiting to be reconciled".into());
        }
    }
    row
}

/// Runs of 40 to 128 hex digits cut to 8, as flux's `TruncateHex`.
pub fn truncate_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if (40..=128).contains(&run.len()) {
            out.push_str(&run[..8]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// A source: `source oci NAME`.
    #[command(subcommand)]
    Source(SourceTarget),
    /// A Kustomization.
    #[command(alias = "ks")]
    Kustomization(KustomizationTarget),
}

#[derive(Subcommand, Debug)]
pub enum SourceTarget {
    Oci(NameArgs),
}

#[derive(Args, Debug)]
pub struct NameArgs {
    name: String,
    #[command(flatten)]
    scope: Scope,
}

#[derive(Args, Debug)]
pub struct KustomizationTarget {
    #[command(flatten)]
    target: NameArgs,
    /// Reconcile the Kustomization's source first (`reconcile` only).
    #[arg(long)]
    with_source: bool,
}

impl TargetCommand {
    fn parts(&self) -> (Kind, &NameArgs, bool) {
        match self {
            TargetCommand::Source(SourceTarget::Oci(args)) => (Kind::OciRepository, args, false),
            TargetCommand::Kustomization(k) => (Kind::Kustomization, &k.target, k.with_source),
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
        if with_source {
            let source = object
                .data
                .pointer("/spec/sourceRef/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let source_ns = object
                .data
                .pointer("/spec/sourceRef/namespace")
                .and_then(Value::as_str)
                .unwrap_or(ns)
                .to_string();
            let sources: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &source_ns, &Kind::OciRepository.resource());
            request_and_wait(&sources, Kind::OciRepository, &source, &source_ns, timeout).await?;
        }
        request_and_wait(&api, kind, &args.name, ns, timeout).await
    }

    /// `suspend` / `resume`: sets `spec.suspend`; resuming also reconciles.
    pub async fn set_suspended(self, suspend: bool, timeout: Duration) -> anyhow::Result<()> {
        let (kind, args, _) = self.parts();
        let client = client().await?;
        let ns = &args.scope.namespace;
        let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &kind.resource());
        let verb = if suspend { "suspending" } else { "resuming" };
        ui::action(format!(
            "{verb} {} {} in {ns} namespace",
            kind.name(),
            args.name
        ));
        api.patch(
            &args.name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"suspend": suspend}})),
        )
        .await
        .with_context(|| format!("{} '{}' in {ns} namespace", kind.name(), args.name))?;
        if suspend {
            ui::success(format!("{} suspended", kind.name()));
            return Ok(());
        }
        ui::success(format!("{} resumed", kind.name()));
        request_and_wait(&api, kind, &args.name, ns, timeout).await
    }
}

async fn request_and_wait(
    api: &Api<DynamicObject>,
    kind: Kind,
    name: &str,
    ns: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    ui::action(format!(
        "annotating {} {name} in {ns} namespace",
        kind.name()
    ));
    let token = jiff::Timestamp::now().to_string();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {REQUESTED_AT: token}}})),
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
    match kind {
        Kind::OciRepository => ui::success(format!(
            "fetched revision {}",
            object
                .pointer("/status/artifact/revision")
                .and_then(Value::as_str)
                .unwrap_or("")
        )),
        _ => ui::success(format!(
            "applied revision {}",
            object
                .pointer("/status/lastAppliedRevision")
                .and_then(Value::as_str)
                .unwrap_or("")
        )),
    }
    Ok(())
}

async fn client() -> anyhow::Result<Client> {
    Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG)")
}

#[cfg(test)]
mod tests {

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

    use super::*;

    #[test]
    fn hex_runs_are_shortened_like_flux() {
        let digest = "3b6cdcc7adf9dcb7e2a4ac4e7f0e8e9f31a4ad4bd2f2c0f4f8a5d7e0c1b2a3d4";
        assert_eq!(
            truncate_hex(&format!("latest@sha256:{digest}")),
            "latest@sha256:3b6cdcc7"
        );
        assert_eq!(
            truncate_hex("main@sha1:0123456789abcdef"),
            "main@sha1:0123456789abcdef"
        );
        assert_eq!(
            truncate_hex(&format!(
                "stored artifact for digest 'latest@sha256:{digest}'"
            )),
            "stored artifact for digest 'latest@sha256:3b6cdcc7'"
        );
    }

    #[test]
    fn rows_follow_flux_columns() {
        let object = json!({"metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"suspend": false},
            "status": {"lastAppliedRevision": "v1", "conditions": [{"type": "Ready", "status": "True", "message": "Applied revision: v1"}]}});
        assert_eq!(
            row(&object, Kind::Kustomization, true),
            [
                "flux-system",
                "podinfo",
                "v1",
                "False",
                "True",
                "Applied revision: v1"
            ]
        );
        let fresh = json!({"metadata": {"name": "new"}});
        assert_eq!(
            row(&fresh, Kind::Alert, false),
            ["new", "False", "False", "waiting to be reconciled"]
        );
        assert_eq!(
            headers(Kind::OciRepository, false),
            ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
        );
    }
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The kind of the object (`deployment`, `configmap`, `Service`, …).
    kind: String,
    /// Its name.
    name: String,
    /// The object's namespace.
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

impl TraceArgs {
    /// `trace`: the object, the Kustomization that applied it, and its source.
    pub async fn run(self) -> anyhow::Result<()> {
        let client = client().await?;
        let discovery = kube::Discovery::new(client.clone()).run().await?;
        let wanted = self.kind.to_ascii_lowercase();
        let (resource, capabilities) = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(r, _)| r.kind.to_ascii_lowercase() == wanted || r.plural == wanted)
            .with_context(|| format!("unknown kind '{}'", self.kind))?;
        let api: Api<DynamicObject> = if capabilities.scope == kube::discovery::Scope::Namespaced {
            Api::namespaced_with(client.clone(), &self.namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let object = api.get(&self.name).await.with_context(|| {
            format!(
                "{} '{}' not found in {} namespace",
                resource.kind, self.name, self.namespace
            )
        })?;
        let labels = object.metadata.labels.clone().unwrap_or_default();
        let (Some(owner), Some(owner_ns)) = (
            labels.get("kustomize.toolkit.fluxcd.io/name"),
            labels.get("kustomize.toolkit.fluxcd.io/namespace"),
        ) else {
            bail!("object not managed by Flux");
        };
        let mut out = String::new();
        field(
            &mut out,
            "Object",
            &format!("{}/{}", resource.kind.to_ascii_lowercase(), self.name),
        );
        if let Some(ns) = &object.metadata.namespace {
            field(&mut out, "Namespace", ns);
        }
        field(&mut out, "Status", "Managed by Flux");
        out.push_str("---\n");
        let kustomizations: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), owner_ns, &Kind::Kustomization.resource());
        let ks = serde_json::to_value(
            kustomizations
                .get(owner)
                .await
                .with_context(|| format!("Kustomization {owner_ns}/{owner}"))?,
        )?;
        let text = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        field(&mut out, "Kustomization", owner);
        field(&mut out, "Namespace", owner_ns);
        if let Some(target) = ks.pointer("/spec/targetNamespace").and_then(Value::as_str) {
            field(&mut out, "Target", target);
        }
        field(&mut out, "Path", &text(&ks, "/spec/path"));
        field(
            &mut out,
            "Revision",
            &text(&ks, "/status/lastAppliedRevision"),
        );
        status_fields(&mut out, &ks);
        let source_name = text(&ks, "/spec/sourceRef/name");
        let source_ns = ks
            .pointer("/spec/sourceRef/namespace")
            .and_then(Value::as_str)
            .unwrap_or(owner_ns)
            .to_string();
        if text(&ks, "/spec/sourceRef/kind") == "OCIRepository" {
            let sources: Api<DynamicObject> =
                Api::namespaced_with(client, &source_ns, &Kind::OciRepository.resource());
            if let Ok(source) = sources.get(&source_name).await {
                let source = serde_json::to_value(source)?;
                out.push_str("---\n");
                field(&mut out, "OCIRepository", &source_name);
                field(&mut out, "Namespace", &source_ns);
                field(&mut out, "URL", &text(&source, "/spec/url"));
                if let Some(tag) = source.pointer("/spec/ref/tag").and_then(Value::as_str) {
                    field(&mut out, "Tag", tag);
                } else if let Some(semver) =
                    source.pointer("/spec/ref/semver").and_then(Value::as_str)
                {
                    field(&mut out, "Tag", semver);
                } else if let Some(digest) =
                    source.pointer("/spec/ref/digest").and_then(Value::as_str)
                {
                    field(&mut out, "Digest", digest);
                }
                field(
                    &mut out,
                    "Revision",
                    &text(&source, "/status/artifact/revision"),
                );
                let origin = |key: &str| {
                    text(
                        &source,
                        &format!("/status/artifact/metadata/{}", key.replace('/', "~1")),
                    )
                };
                let origin_source = origin("org.opencontainers.image.source");
                if !origin_source.is_empty() {
                    field(&mut out, "Origin Source", &origin_source);
                }
                let origin_revision = origin("org.opencontainers.image.revision");
                if !origin_revision.is_empty() {
                    field(&mut out, "Origin Revision", &origin_revision);
                }
                status_fields(&mut out, &source);
            }
        }
        print!("{out}");
        Ok(())
    }
}

/// One `Label:` line of the trace block, values aligned at column 17.
fn field(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("{:<17}{value}\n", format!("{label}:")));
}

/// The `Status:` and `Message:` lines from the Ready condition.
fn status_fields(out: &mut String, object: &Value) {
    match ready(object) {
        Some(c) => {
            let time = c["lastTransitionTime"].as_str().unwrap_or("");
            let status = if c["status"] == "False" {
                format!("Last reconciliation failed at {time}")
            } else {
                format!("Last reconciled at {time}")
            };
            field(out, "Status", &status);
            field(out, "Message", c["message"].as_str().unwrap_or(""));
        }
        None => field(out, "Status", "Unknown"),
    }
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Only the events of this object, as `Kind/name`.
    #[arg(long = "for")]
    for_object: Option<String>,
    #[command(flatten)]
    scope: Scope,
}

impl EventsArgs {
    /// `events`: the Kubernetes events of Flux objects (or of one), oldest first.
    pub async fn run(self) -> anyhow::Result<()> {
        let client = client().await?;
        let api: Api<k8s_openapi::api::core::v1::Event> = if self.scope.all_namespaces {
            Api::all(client)
        } else {
            Api::namespaced(client, &self.scope.namespace)
        };
        let mut params = ListParams::default();
        if let Some(target) = &self.for_object {
            let (kind, name) = target
                .split_once('/')
                .context("--for takes Kind/name, e.g. Kustomization/podinfo")?;
            params = params.fields(&format!(
                "involvedObject.kind={kind},involvedObject.name={name}"
            ));
        }
        let mut events = api.list(&params).await?.items;
        events.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
        let now = jiff::Timestamp::now();
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                let age = e
                    .last_timestamp
                    .as_ref()
                    .and_then(|t| jiff::Timestamp::from_second(t.0.as_second()).ok())
                    .map(|t| {
                        api::duration::format(Duration::from_secs(
                            now.duration_since(t).as_secs().max(0) as u64,
                        ))
                    })
                    .unwrap_or_else(|| "<unknown>".into());
                let object = format!(
                    "{}/{}",
                    e.involved_object.kind.clone().unwrap_or_default(),
                    e.involved_object.name.clone().unwrap_or_default()
                );
                vec![
                    age,
                    e.type_.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                    object,
                    e.message.clone().unwrap_or_default().replace('\n', " "),
                ]
            })
            .collect();
        print!(
            "{}",
            ui::table(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], &rows)
        );
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
pub enum CreateCommand {
    /// Secrets: `create secret oci`.
    #[command(subcommand)]
    Secret(SecretKind),
}

#[derive(Subcommand, Debug)]
pub enum SecretKind {
    /// A registry login Secret (`kubernetes.io/dockerconfigjson`) for OCIRepositories.
    Oci(OciSecretArgs),
}

#[derive(Args, Debug)]
pub struct OciSecretArgs {
    name: String,
    /// The registry host, e.g. `registry.example.com:5000`.
    #[arg(long)]
    url: String,
    #[arg(long, short = 'u')]
    username: String,
    #[arg(long, short = 'p')]
    password: String,
    /// Print the Secret as YAML instead of creating it.
    #[arg(long)]
    export: bool,
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

impl CreateCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let CreateCommand::Secret(SecretKind::Oci(args)) = self;
        let secret = oci_secret(&args);
        if args.export {
            let map = secret.as_object().expect("a map");
            print!("---\n{}", kustomize::yaml::to_stream([map]));
            return Ok(());
        }
        ui::action("generating OCI secret");
        let client = client().await?;
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, &args.namespace);
        api.patch(
            &args.name,
            &PatchParams::apply("flux-rs").force(),
            &Patch::Apply(&secret),
        )
        .await
        .with_context(|| format!("creating secret {}/{}", args.namespace, args.name))?;
        ui::success(format!(
            "oci secret '{}' created in '{}' namespace",
            args.name, args.namespace
        ));
        Ok(())
    }
}

/// The Docker config Secret flux writes for a registry login.
fn oci_secret(args: &OciSecretArgs) -> Value {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", args.username, args.password));
    let config = json!({"auths": {args.url.clone(): {"username": args.username, "password": args.password, "auth": auth}}});
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": args.name, "namespace": args.namespace},
        "stringData": {".dockerconfigjson": config.to_string()},
        "type": "kubernetes.io/dockerconfigjson",
    })
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only the prerequisites (the cluster's version).
    #[arg(long)]
    pre: bool,
    /// The namespace the controllers are installed in.
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

/// The oldest API server the controllers are tested against.
const MINIMUM_KUBERNETES: (u64, u64) = (1, 20);

impl CheckArgs {
    /// `check`: the cluster version, the controllers' Deployments and the CRDs.
    pub async fn run(self) -> anyhow::Result<()> {
        let client = client().await?;
        let mut failed = false;
        ui::action("checking prerequisites");
        let version = client.apiserver_version().await?;
        let minor: u64 = version.minor.trim_end_matches('+').parse().unwrap_or(0);
        let major: u64 = version.major.parse().unwrap_or(0);
        let (min_major, min_minor) = MINIMUM_KUBERNETES;
        let text = format!(
            "Kubernetes {} >={min_major}.{min_minor}.0-0",
            version.git_version.trim_start_matches('v')
        );
        if (major, minor) >= MINIMUM_KUBERNETES {
            ui::success(text);
        } else {
            ui::failure(text);
            failed = true;
        }
        if !self.pre {
            ui::action("checking controllers");
            let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
                Api::namespaced(client.clone(), &self.namespace);
            for name in [
                "source-controller",
                "kustomize-controller",
                "notification-controller",
            ] {
                match deployments.get_opt(name).await? {
                    Some(deployment) => {
                        let wanted = deployment
                            .spec
                            .as_ref()
                            .and_then(|s| s.replicas)
                            .unwrap_or(1);
                        let ready = deployment
                            .status
                            .as_ref()
                            .and_then(|s| s.ready_replicas)
                            .unwrap_or(0);
                        if wanted > 0 && ready >= wanted {
                            ui::success(format!("{name}: deployment ready"));
                        } else {
                            ui::failure(format!("{name}: deployment not ready"));
                            failed = true;
                        }
                        let image = deployment
                            .spec
                            .and_then(|s| s.template.spec)
                            .and_then(|p| p.containers.first().and_then(|c| c.image.clone()));
                        ui::action(image.unwrap_or_default());
                    }
                    None => {
                        ui::failure(format!(
                            "{name}: deployment not found in {} namespace",
                            self.namespace
                        ));
                        failed = true;
                    }
                }
            }
            ui::action("checking crds");
            let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
                Api::all(client);
            for (_, expected) in api::crds() {
                let name = expected.metadata.name.clone().unwrap_or_default();
                let storage = expected
                    .spec
                    .versions
                    .iter()
                    .find(|v| v.storage)
                    .map(|v| v.name.clone())
                    .unwrap_or_default();
                let established = crds.get_opt(&name).await?.is_some_and(|crd| {
                    crd.status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        && crd
                            .spec
                            .versions
                            .iter()
                            .any(|v| v.storage && v.name == storage)
                });
                if established {
                    ui::success(format!("{name}/{storage}"));
                } else {
                    ui::failure(format!(
                        "{name}/{storage}: not installed or not established"
                    ));
                    failed = true;
                }
            }
        }
        if failed {
            bail!("check failed");
        }
        ui::success("all checks passed");
        Ok(())
    }
}
