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
            ui::failure(format!(
                "no {} objects found in {} namespace",
                kind.name(),
                args.scope.namespace
            ));
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
            Kind::Kustomization => text("/status/lastAppliedRevision"),
            // The chart version of the newest release, else the one last attempted.
            Kind::HelmRelease => Some(text("/status/history/0/chartVersion"))
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| text("/status/lastAttemptedRevision")),
            _ => text("/status/artifact/revision"),
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
}
