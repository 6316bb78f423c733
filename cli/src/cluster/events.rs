//! `events`: the Kubernetes events of Flux objects, oldest first.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kube::api::{Api, ListParams};

use super::common::{Scope, client};
use crate::ui;

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
