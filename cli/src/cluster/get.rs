//! `get`: a table of Flux objects with their revision, suspension and readiness, as the
//! flux CLI prints it.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::common::{Kind, Scope, client, condition_status, ready, truncate_hex};
use crate::ui;

#[derive(Subcommand, Debug)]
pub enum GetCommand {
    /// Sources: `get sources git|oci|helm|chart`.
    #[command(subcommand)]
    Sources(SourceKind),
    /// HelmReleases.
    #[command(alias = "hr", alias = "helmrelease")]
    Helmreleases(GetArgs),
    /// Kustomizations.
    #[command(alias = "ks", alias = "kustomization")]
    Kustomizations(GetArgs),
    /// Alerts.
    #[command(alias = "alert")]
    Alerts(GetArgs),
    /// Receivers.
    #[command(alias = "receiver")]
    Receivers(GetArgs),
    /// Image automation: `get images repository|policy|update|all`.
    #[command(subcommand, alias = "image")]
    Images(ImageKind),
}

#[derive(Subcommand, Debug)]
pub enum ImageKind {
    /// ImageRepositories, ImagePolicies and ImageUpdateAutomations, one table each, names
    /// prefixed with the kind.
    All(GetArgs),
    /// ImageRepositories.
    Repository(GetArgs),
    /// ImagePolicies.
    Policy(GetArgs),
    /// ImageUpdateAutomations.
    Update(GetArgs),
}

#[derive(Subcommand, Debug)]
pub enum SourceKind {
    /// Every source kind, one table each, names prefixed with the kind.
    All(GetArgs),
    /// GitRepositories.
    Git(GetArgs),
    /// OCIRepositories.
    Oci(GetArgs),
    /// HelmRepositories.
    Helm(GetArgs),
    /// HelmCharts.
    Chart(GetArgs),
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
            GetCommand::Sources(SourceKind::All(args)) => {
                let kinds = [
                    Kind::GitRepository,
                    Kind::OciRepository,
                    Kind::HelmRepository,
                    Kind::HelmChart,
                ];
                let mut first = true;
                for kind in kinds {
                    let rows = rows(kind, &args, true).await?;
                    if rows.is_empty() {
                        continue;
                    }
                    if !first {
                        println!();
                    }
                    first = false;
                    print_table(kind, &args, &rows);
                }
                if first {
                    ui::failure(format!(
                        "no source objects found in {} namespace",
                        args.scope.namespace
                    ));
                }
                return Ok(());
            }
            GetCommand::Images(ImageKind::All(args)) => {
                // flux prints a table per kind that has objects, each followed by a blank line.
                for kind in [
                    Kind::ImageRepository,
                    Kind::ImagePolicy,
                    Kind::ImageUpdateAutomation,
                ] {
                    let rows = rows(kind, &args, true).await?;
                    if !rows.is_empty() {
                        print_table(kind, &args, &rows);
                        println!();
                    }
                }
                return Ok(());
            }
            GetCommand::Images(ImageKind::Repository(args)) => (Kind::ImageRepository, args),
            GetCommand::Images(ImageKind::Policy(args)) => (Kind::ImagePolicy, args),
            GetCommand::Images(ImageKind::Update(args)) => (Kind::ImageUpdateAutomation, args),
            GetCommand::Sources(SourceKind::Git(args)) => (Kind::GitRepository, args),
            GetCommand::Sources(SourceKind::Oci(args)) => (Kind::OciRepository, args),
            GetCommand::Sources(SourceKind::Helm(args)) => (Kind::HelmRepository, args),
            GetCommand::Sources(SourceKind::Chart(args)) => (Kind::HelmChart, args),
            GetCommand::Helmreleases(args) => (Kind::HelmRelease, args),
            GetCommand::Kustomizations(args) => (Kind::Kustomization, args),
            GetCommand::Alerts(args) => (Kind::Alert, args),
            GetCommand::Receivers(args) => (Kind::Receiver, args),
        };
        let rows = rows(kind, &args, false).await?;
        if rows.is_empty() {
            let scope = if args.scope.all_namespaces {
                "any namespace".to_owned()
            } else {
                format!("{:?} namespace", args.scope.namespace)
            };
            ui::failure(format!("no {} objects found in {scope}", kind.name()));
            return Ok(());
        }
        print_table(kind, &args, &rows);
        Ok(())
    }
}

fn print_table(kind: Kind, args: &GetArgs, rows: &[Vec<String>]) {
    let headers = headers(kind, args.scope.all_namespaces);
    let table = ui::table(&headers, rows);
    let text = if args.no_header {
        table.lines().skip(1).map(|l| format!("{l}\n")).collect()
    } else {
        table
    };
    print!("{text}");
}

/// The table rows of `kind`'s objects; with `prefixed`, names read `<kind>/<name>` (flux's
/// `get sources all`).
async fn rows(kind: Kind, args: &GetArgs, prefixed: bool) -> anyhow::Result<Vec<Vec<String>>> {
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
    let name_column = usize::from(args.scope.all_namespaces);
    Ok(objects
        .iter()
        .map(|o| serde_json::to_value(o).unwrap_or_default())
        .filter(|o| {
            selector
                .as_ref()
                .is_none_or(|(t, s)| condition_status(o, t).eq_ignore_ascii_case(s))
        })
        .map(|o| {
            let mut row = row(&o, kind, args.scope.all_namespaces);
            if prefixed {
                row[name_column] = format!("{}/{}", kind.name().to_lowercase(), row[name_column]);
            }
            row
        })
        .collect())
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

/// A column between NAME and READY.
#[derive(Clone, Copy)]
enum Column {
    Revision,
    Suspended,
    LastScan,
    LastRun,
    Image,
    Tag,
}

impl Column {
    fn header(self) -> &'static str {
        match self {
            Column::Revision => "REVISION",
            Column::Suspended => "SUSPENDED",
            Column::LastScan => "LAST SCAN",
            Column::LastRun => "LAST RUN",
            Column::Image => "IMAGE",
            Column::Tag => "TAG",
        }
    }
}

/// The columns of a kind between NAME and READY, as flux prints them.
fn columns(kind: Kind) -> Vec<Column> {
    match kind {
        Kind::ImageRepository => vec![Column::LastScan, Column::Suspended],
        Kind::ImagePolicy => vec![Column::Image, Column::Tag],
        Kind::ImageUpdateAutomation => vec![Column::LastRun, Column::Suspended],
        k if k.has_revision() => vec![Column::Revision, Column::Suspended],
        _ => vec![Column::Suspended],
    }
}

fn headers(kind: Kind, all: bool) -> Vec<&'static str> {
    let mut headers = Vec::new();
    if all {
        headers.push("NAMESPACE");
    }
    headers.push("NAME");
    headers.extend(columns(kind).into_iter().map(Column::header));
    headers.extend(["READY", "MESSAGE"]);
    headers
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
    for column in columns(kind) {
        let cell = match column {
            Column::Revision => truncate_hex(&match kind {
                Kind::Kustomization => text("/status/lastAppliedRevision"),
                // The chart version of the newest release, else the one last attempted.
                Kind::HelmRelease => Some(text("/status/history/0/chartVersion"))
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| text("/status/lastAttemptedRevision")),
                _ => text("/status/artifact/revision"),
            }),
            Column::Suspended => {
                let suspended = object
                    .pointer("/spec/suspend")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if suspended { "True" } else { "False" }.to_string()
            }
            Column::LastScan => text("/status/lastScanResult/scanTime"),
            Column::LastRun => text("/status/lastAutomationRunTime"),
            Column::Image => text("/status/latestRef/name"),
            Column::Tag => text("/status/latestRef/tag"),
        };
        row.push(cell);
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
        let release = json!({"metadata": {"name": "podinfo"},
            "status": {"history": [{"chartVersion": "6.1.0"}], "lastAttemptedRevision": "6.2.0",
                "conditions": [{"type": "Ready", "status": "False", "message": "Helm upgrade failed"}]}});
        assert_eq!(
            row(&release, Kind::HelmRelease, false),
            ["podinfo", "6.1.0", "False", "False", "Helm upgrade failed"]
        );
    }

    #[test]
    fn image_tables_have_fluxs_columns() {
        assert_eq!(
            headers(Kind::ImageRepository, false),
            ["NAME", "LAST SCAN", "SUSPENDED", "READY", "MESSAGE"]
        );
        assert_eq!(
            headers(Kind::ImagePolicy, true),
            ["NAMESPACE", "NAME", "IMAGE", "TAG", "READY", "MESSAGE"]
        );
        assert_eq!(
            headers(Kind::ImageUpdateAutomation, false),
            ["NAME", "LAST RUN", "SUSPENDED", "READY", "MESSAGE"]
        );
        let policy = json!({"metadata": {"name": "podinfo"}, "spec": {"suspend": true},
            "status": {"latestRef": {"name": "ghcr.io/x", "tag": "5.0.3", "digest": "sha256:ab"},
                "conditions": [{"type": "Ready", "status": "True", "message": "Latest image tag for ghcr.io/x resolved to 5.0.3"}]}});
        assert_eq!(
            row(&policy, Kind::ImagePolicy, false),
            [
                "podinfo",
                "ghcr.io/x",
                "5.0.3",
                "True",
                "Latest image tag for ghcr.io/x resolved to 5.0.3"
            ]
        );
        let repository = json!({"metadata": {"name": "podinfo"},
            "status": {"lastScanResult": {"scanTime": "2026-12-03T15:00:00Z", "tagCount": 3}}});
        assert_eq!(
            row(&repository, Kind::ImageRepository, false),
            [
                "podinfo",
                "2026-12-03T15:00:00Z",
                "False",
                "False",
                "waiting to be reconciled"
            ]
        );
    }
}
