//! The HelmRepository reconciler. A repository of `type: oci` is a static object, as in Flux
//! since source-controller v1.2: no artifact, no finalizer, an empty status; the HelmCharts
//! that name it read its URL and Secrets themselves. Anything it stored before (or another
//! controller did) is removed once.

use std::sync::Arc;

use api::meta::{FINALIZER, reason};
use api::source::HelmRepositoryType;
use api::source::v1::{HelmRepository, HelmRepositoryStatus};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use runtime::conditions::Conditions;
use runtime::events::{EventRecord, Severity};
use runtime::{StatusWriter, now_rfc3339};
use tracing::Instrument;

use crate::source::{Context, Error, SourceObject, blocking, labels};

const KIND: &str = HelmRepository::KIND;

pub async fn reconcile(object: Arc<HelmRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = runtime::reconcile_span(KIND, object.as_ref());
    reconcile_object(object, ctx).instrument(span).await
}

async fn reconcile_object(object: Arc<HelmRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<HelmRepository> = Api::namespaced(ctx.client.clone(), &namespace);
    let kube_err = |source| Error::Kube {
        kind: KIND,
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let deleting = object.metadata.deletion_timestamp.is_some();
    if object.spec.suspend && !deleting {
        tracing::info!("reconciliation is suspended for this object");
        return Ok(Action::await_change());
    }
    if object.spec.type_ != Some(HelmRepositoryType::Oci) {
        return refuse_http(&object, &ctx, &api).await.map_err(kube_err);
    }
    // To static: stored artifacts, the finalizer and the status go.
    let storage = ctx.storage.clone();
    let (ns_dir, name_dir) = (namespace.clone(), name.clone());
    blocking(move || storage.remove_object(KIND, &ns_dir, &name_dir))
        .await
        .map_err(|source| Error::Cleanup {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
    if object.finalizers().iter().any(|f| f == FINALIZER) {
        runtime::remove_finalizer(&api, object.as_ref(), FINALIZER)
            .await
            .map_err(kube_err)?;
    }
    if !deleting
        && object
            .status
            .as_ref()
            .is_some_and(|s| s != &HelmRepositoryStatus::default())
    {
        StatusWriter::new(&object.status)
            .write(&api, &name, &HelmRepositoryStatus::default())
            .await
            .map_err(kube_err)?;
    }
    ctx.metrics.forget(&labels(object.as_ref()));
    Ok(Action::await_change())
}

/// An HTTP repository: flux-rs does not index those yet, and says so on the object instead
/// of leaving it without a status.
async fn refuse_http(
    object: &HelmRepository,
    ctx: &Context,
    api: &Api<HelmRepository>,
) -> Result<Action, kube::Error> {
    if object.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let message = "HelmRepository of type 'default' (HTTP index) is not supported by flux-rs yet: use type 'oci'";
    let mut status = object.status.clone().unwrap_or_default();
    let mut conditions = Conditions::new(
        status.conditions.take(),
        object.metadata.generation,
        now_rfc3339(),
    );
    let newly = !conditions.is_true(api::meta::STALLED);
    conditions.mark_true(api::meta::STALLED, reason::FAILED, message);
    conditions.mark_false(api::meta::READY, reason::FAILED, message);
    status.conditions = Some(conditions.into_vec());
    status.observed_generation = object.metadata.generation;
    StatusWriter::new(&object.status)
        .write(api, &object.name_any(), &status)
        .await?;
    if newly {
        let event = EventRecord::new(Severity::Error, reason::FAILED, message);
        ctx.recorder.record(object, event).await;
    }
    Ok(Action::await_change())
}
