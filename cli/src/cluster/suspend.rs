//! `suspend` and `resume`: set `spec.suspend`; resuming also reconciles.

use std::time::Duration;

use anyhow::Context;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

use super::common::client;
use super::reconcile::{TargetCommand, request_and_wait};
use crate::ui;

impl TargetCommand {
    /// `suspend` / `resume`: sets `spec.suspend`; resuming also reconciles.
    pub async fn set_suspended(self, suspend: bool, timeout: Duration) -> anyhow::Result<()> {
        let (kind, args, _) = self.parts();
        let client = client().await?;
        let ns = &args.scope.namespace;
        let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &kind.resource());
        let verb = if suspend { "suspending" } else { "resuming" };
        ui::action(format!(
            "{verb} {} {} in {ns} namespace",
            kind.label(),
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
            ui::success(format!("{} suspended", kind.label()));
            return Ok(());
        }
        ui::success(format!("{} resumed", kind.label()));
        request_and_wait(&api, kind, &args.name, ns, timeout, &[]).await
    }
}
