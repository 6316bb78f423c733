//! One reconcile skeleton for kinds whose status is Ready plus their own fields (the image
//! kinds): finalizer, suspension, progress, the kind's phases, the shared outcome mapping, the
//! events Flux's `notify` sends, the status write and the requeue. A kind supplies its
//! phases ([`Reconciler::run`]) and its clean-up ([`Reconciler::finalize`]).

use std::sync::Arc;
use std::time::Instant;

use api::meta::{FINALIZER, READY, RECONCILING, reason};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use tracing::Instrument;

use crate::StatusWriter;
use crate::conditions::Conditions;
use crate::events::{EventRecord, Recorder, Severity};
use crate::metrics::{Metrics, ObjectLabels};
use crate::outcome::{self, Failure, Requeue};
use crate::requeue::Backoff;

pub use api::StatusObject as Kind;

/// What the controllers share.
pub struct Shared {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub backoff: Backoff,
    pub jitter_percent: u8,
}

/// A reconcile that succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// Ready's message (reason `Succeeded`).
    pub ready: String,
    pub requeue: Requeue,
    /// The message of the Normal event sent when something changed, if not Ready's (a push
    /// summary).
    pub news: Option<String>,
    /// The Trace event sent when nothing changed, if not Ready's message.
    pub trace: Option<String>,
}

impl Done {
    pub fn new(ready: impl Into<String>, requeue: Requeue) -> Self {
        Self {
            ready: ready.into(),
            requeue,
            news: None,
            trace: None,
        }
    }
}

/// A kind's phases and clean-up.
pub trait Reconciler<K: Kind>: Send + Sync + 'static {
    fn shared(&self) -> &Shared;

    /// The phases in order; the first failure ends the attempt. `progress` writes
    /// intermediate status (Reconciling) where a phase takes a while.
    fn run(
        &self,
        object: &K,
        status: &mut K::Status,
        conditions: &mut Conditions,
        progress: &mut Progress<'_, K>,
    ) -> impl Future<Output = Result<Done, Failure>> + Send;

    /// Removes what the object left behind; an error keeps the finalizer.
    fn finalize(&self, object: &K) -> impl Future<Output = Result<(), String>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("updating {kind} {namespace}/{name}: {source}")]
pub struct Error {
    kind: &'static str,
    namespace: String,
    name: String,
    source: kube::Error,
}

/// Writes a reconcile's intermediate status.
pub struct Progress<'a, K: Kind> {
    api: &'a Api<K>,
    name: &'a str,
    writer: &'a mut StatusWriter,
}

impl<K: Kind> Progress<'_, K> {
    /// Marks Reconciling with `message` and writes it; a failed write is logged only.
    pub async fn reconciling(
        &mut self,
        status: &K::Status,
        conditions: &mut Conditions,
        message: &str,
    ) {
        conditions.mark_true(RECONCILING, reason::PROGRESSING, message);
        let mut snapshot = status.clone();
        *K::conditions(&mut snapshot) = Some(conditions.items.clone());
        if let Err(e) = self.writer.write(self.api, self.name, &snapshot).await {
            tracing::warn!(error = %e, "failed to record progress");
        }
    }
}

fn backoff_key<K: Kind>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

pub async fn reconcile<K: Kind, R: Reconciler<K>>(
    object: Arc<K>,
    ctx: Arc<R>,
) -> Result<Action, Error> {
    let span = crate::reconcile_span(K::KIND, object.as_ref());
    reconcile_object(object, ctx).instrument(span).await
}

async fn reconcile_object<K: Kind, R: Reconciler<K>>(
    object: Arc<K>,
    ctx: Arc<R>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let shared = ctx.shared();
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<K> = Api::namespaced(shared.client.clone(), &namespace);
    let kube_err = |source| Error {
        kind: K::KIND,
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let labels = ObjectLabels {
        kind: K::KIND.into(),
        name: name.clone(),
        namespace: namespace.clone(),
    };
    if object.meta().deletion_timestamp.is_some() {
        if object.finalizers().iter().any(|f| f == FINALIZER) {
            if let Err(message) = ctx.finalize(&object).await {
                tracing::error!(error = %message, "finalization failed");
                return Ok(Action::requeue(
                    shared.backoff.next_delay(&backoff_key(object.as_ref())),
                ));
            }
            crate::remove_finalizer(&api, object.as_ref(), FINALIZER)
                .await
                .map_err(kube_err)?;
            shared.metrics.forget(&labels);
        }
        return Ok(Action::await_change());
    }
    crate::add_finalizer(&api, object.as_ref(), FINALIZER)
        .await
        .map_err(kube_err)?;
    shared.metrics.record_suspend(&labels, object.suspended());
    if object.suspended() {
        tracing::info!("reconciliation is suspended for this object");
        return Ok(Action::await_change());
    }

    let mut writer = StatusWriter::new(&object.status());
    let mut status = object.status().cloned().unwrap_or_default();
    let generation = object.meta().generation.unwrap_or_default();
    let mut conditions = Conditions::new(
        K::conditions(&mut status).take(),
        object.meta().generation,
        crate::now_rfc3339(),
    );
    let was_ready = conditions.is_true(READY);
    let previous_ready = conditions.get(READY).map(|c| c.message.clone());
    let observed = K::observed_generation(&status);
    if observed != generation {
        let message = format!("processing object: new generation {observed} -> {generation}");
        conditions.mark_true(RECONCILING, reason::PROGRESSING, message);
    }
    let mut progress = Progress {
        api: &api,
        name: &name,
        writer: &mut writer,
    };
    let outcome = ctx
        .run(&object, &mut status, &mut conditions, &mut progress)
        .await;
    // Only the final write says the request was handled: progress written meanwhile must
    // not make a waiting client read the old result as the answer.
    if let Some(requested) = crate::requested_at(object.as_ref()) {
        *K::last_handled_reconcile_at(&mut status) = Some(requested);
    }
    let (conclusion, event) = match outcome {
        Ok(done) => {
            let conclusion = outcome::succeeded(&mut conditions, &[]);
            conditions.mark_true(READY, reason::SUCCEEDED, &done.ready);
            let changed = previous_ready.as_deref() != Some(done.ready.as_str());
            let event = if !was_ready || changed || done.news.is_some() {
                let message = done.news.unwrap_or_else(|| done.ready.clone());
                EventRecord::new(Severity::Info, reason::SUCCEEDED, message)
            } else {
                let message = done.trace.unwrap_or_else(|| done.ready.clone());
                EventRecord::new(Severity::Trace, reason::SUCCEEDED, message)
            };
            let conclusion = outcome::Conclusion {
                requeue: done.requeue,
                ..conclusion
            };
            (conclusion, Some(event))
        }
        Err(failure) => {
            outcome::log_failure(&failure);
            let conclusion = outcome::failed(&mut conditions, &failure);
            let event = conclusion.event.clone();
            (conclusion, event)
        }
    };
    if conclusion.observed {
        K::observe(&mut status, generation);
    }
    if let Some(event) = event {
        shared.recorder.record(object.as_ref(), event).await;
    }
    let items = conditions.into_vec();
    shared.metrics.record_conditions(&labels, &items);
    *K::conditions(&mut status) = Some(items);
    writer.write(&api, &name, &status).await.map_err(kube_err)?;
    shared.metrics.record_duration(&labels, started.elapsed());
    Ok(conclusion.requeue.action(
        object.interval(),
        shared.jitter_percent,
        &shared.backoff,
        &backoff_key(object.as_ref()),
    ))
}

pub fn error_policy<K: Kind, R: Reconciler<K>>(
    object: Arc<K>,
    error: &Error,
    ctx: Arc<R>,
) -> Action {
    tracing::error!(kind = K::KIND, namespace = object.namespace().unwrap_or_default(), name = object.name_any(), error = %error, "reconcile error");
    Action::requeue(
        ctx.shared()
            .backoff
            .next_delay(&backoff_key(object.as_ref())),
    )
}
