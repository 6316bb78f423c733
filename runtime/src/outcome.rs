//! How a reconcile ended, and the one mapping every controller uses from that to conditions,
//! the event to record and when to reconcile again (what Flux's `summarize` helper and
//! result finalisation do for its controllers).

use std::time::Duration;

use kube::runtime::controller::Action;

use crate::conditions::Conditions;
use crate::events::{EventRecord, Severity};
use crate::requeue::{Backoff, jittered};
use api::meta::{READY, RECONCILING, STALLED};

/// Why a failed reconcile ended, which decides when it runs again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Only a change to the object can help (an invalid URL, an unsupported kind): not
    /// retried until the spec changes.
    Stalled,
    /// Something else has to happen first (a dependency, a source's first artifact):
    /// retried after a set delay, without a warning event.
    Waiting,
    /// Anything else: retried after a set delay or with the per-object backoff, with a
    /// warning event.
    Retryable,
}

/// The condition besides Ready that a failure marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marks {
    /// A condition that is present only while something is wrong (`FetchFailed`): set True.
    Abnormal(&'static str),
    /// A condition that is True when all is well (`SourceVerified`, `Healthy`): set False.
    Normal(&'static str),
}

/// A reconcile that did not succeed: its kind, Flux's reason, and a message naming the object
/// and the cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub reason: &'static str,
    pub message: String,
    pub marks: Option<Marks>,
    /// When to try again; `None` is the backoff (or, when stalled, never).
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn stalled(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(FailureKind::Stalled, reason, message)
    }

    pub fn retryable(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(FailureKind::Retryable, reason, message)
    }

    pub fn waiting(reason: &'static str, message: impl Into<String>, after: Duration) -> Self {
        Self::new(FailureKind::Waiting, reason, message).retry_after(after)
    }

    fn new(kind: FailureKind, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            reason,
            message: message.into(),
            marks: None,
            retry_after: None,
        }
    }

    /// The failure also marks this condition.
    pub fn marking(mut self, marks: Marks) -> Self {
        self.marks = Some(marks);
        self
    }

    /// Retried after `after` instead of the backoff.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
}

/// When to reconcile again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// After the object's interval (jittered); the backoff starts over.
    Interval,
    After(Duration),
    /// After the object's next backoff delay.
    Backoff,
    /// Only when the object changes.
    AwaitChange,
}

impl Requeue {
    /// The controller action; `key` is the object's backoff key (`namespace/name`).
    pub fn action(
        self,
        interval: Duration,
        jitter_percent: u8,
        backoff: &Backoff,
        key: &str,
    ) -> Action {
        match self {
            Requeue::Interval => {
                backoff.reset(key);
                Action::requeue(jittered(interval, jitter_percent))
            }
            Requeue::After(delay) => Action::requeue(delay),
            Requeue::Backoff => Action::requeue(backoff.next_delay(key)),
            Requeue::AwaitChange => Action::await_change(),
        }
    }
}

/// What the mapping decided besides the conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conclusion {
    /// The warning event to record, if any (the caller may add metadata).
    pub event: Option<EventRecord>,
    pub requeue: Requeue,
    /// Whether `status.observedGeneration` takes the object's generation: the generation was
    /// fully handled (applied, or found unusable).
    pub observed: bool,
}

/// A reconcile that succeeded: `Stalled`, `Reconciling` and the abnormal conditions in
/// `abnormal` are removed; Ready is the caller's (a summary, or its own message).
pub fn succeeded(conditions: &mut Conditions, abnormal: &[&str]) -> Conclusion {
    for type_ in abnormal.iter().copied().chain([STALLED, RECONCILING]) {
        conditions.delete(type_);
    }
    Conclusion {
        event: None,
        requeue: Requeue::Interval,
        observed: true,
    }
}

/// A reconcile that failed: Ready is False with the failure's reason and message, the
/// condition it marks is set, `Reconciling` is removed, and `Stalled` is set or removed.
pub fn failed(conditions: &mut Conditions, failure: &Failure) -> Conclusion {
    let (reason, message) = (failure.reason, failure.message.as_str());
    match failure.marks {
        Some(Marks::Abnormal(type_)) => conditions.mark_true(type_, reason, message),
        Some(Marks::Normal(type_)) => conditions.mark_false(type_, reason, message),
        None => {}
    }
    conditions.mark_false(READY, reason, message);
    conditions.delete(RECONCILING);
    let warning = || Some(EventRecord::new(Severity::Error, reason, message));
    match failure.kind {
        FailureKind::Stalled => {
            conditions.mark_true(STALLED, reason, message);
            Conclusion {
                event: warning(),
                requeue: Requeue::AwaitChange,
                observed: true,
            }
        }
        FailureKind::Retryable => {
            conditions.delete(STALLED);
            Conclusion {
                event: warning(),
                requeue: failure.retry_after.map_or(Requeue::Backoff, Requeue::After),
                observed: false,
            }
        }
        FailureKind::Waiting => {
            conditions.delete(STALLED);
            Conclusion {
                event: None,
                requeue: failure.retry_after.map_or(Requeue::Backoff, Requeue::After),
                observed: false,
            }
        }
    }
}

/// Logs a failure in the reconcile's span: waiting is news, the rest is an error.
pub fn log_failure(failure: &Failure) {
    match failure.kind {
        FailureKind::Waiting => {
            tracing::info!(reason = failure.reason, "{}", failure.message);
        }
        FailureKind::Stalled | FailureKind::Retryable => {
            tracing::error!(reason = failure.reason, error = %failure.message, "reconciliation failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::meta::ConditionStatus;

    fn conditions() -> Conditions {
        Conditions::new(None, Some(4), "t")
    }

    fn status_of(c: &Conditions, type_: &str) -> Option<(ConditionStatus, String, String)> {
        c.get(type_)
            .map(|c| (c.status, c.reason.clone(), c.message.clone()))
    }

    #[test]
    fn stalled_sets_stalled_and_ready_false_and_waits_for_a_change() {
        let mut c = conditions();
        c.mark_true(RECONCILING, "Progressing", "fetching");
        let failure = Failure::stalled("URLInvalid", "URL must not contain a tag; remove ':v1'")
            .marking(Marks::Abnormal("FetchFailed"));
        let conclusion = failed(&mut c, &failure);
        let expected = Some((
            ConditionStatus::True,
            "URLInvalid".to_owned(),
            "URL must not contain a tag; remove ':v1'".to_owned(),
        ));
        assert_eq!(status_of(&c, STALLED), expected);
        assert_eq!(status_of(&c, "FetchFailed"), expected);
        assert_eq!(status_of(&c, READY).unwrap().0, ConditionStatus::False);
        assert_eq!(status_of(&c, RECONCILING), None);
        assert_eq!(conclusion.requeue, Requeue::AwaitChange);
        assert!(conclusion.observed);
        let event = conclusion.event.unwrap();
        assert_eq!(
            (event.severity, event.reason.as_str()),
            (Severity::Error, "URLInvalid")
        );
    }

    #[test]
    fn retryable_failures_clear_stalled_warn_and_back_off() {
        let mut c = conditions();
        c.mark_true(STALLED, "URLInvalid", "old");
        let failure = Failure::retryable("OCIArtifactPullFailed", "failed to pull artifact")
            .marking(Marks::Abnormal("FetchFailed"));
        let conclusion = failed(&mut c, &failure);
        assert_eq!(status_of(&c, STALLED), None);
        assert_eq!(status_of(&c, READY).unwrap().1, "OCIArtifactPullFailed");
        assert_eq!(conclusion.requeue, Requeue::Backoff);
        assert!(!conclusion.observed);
        assert!(conclusion.event.is_some());

        let health = Failure::retryable("HealthCheckFailed", "timeout")
            .marking(Marks::Normal("Healthy"))
            .retry_after(Duration::from_secs(60));
        let conclusion = failed(&mut c, &health);
        assert_eq!(status_of(&c, "Healthy").unwrap().0, ConditionStatus::False);
        assert_eq!(conclusion.requeue, Requeue::After(Duration::from_secs(60)));
    }

    #[test]
    fn waiting_is_quiet_and_retried_after_its_delay() {
        let mut c = conditions();
        let failure = Failure::waiting(
            "DependencyNotReady",
            "dependency 'ns/a' is not ready",
            Duration::from_secs(30),
        );
        let conclusion = failed(&mut c, &failure);
        assert_eq!(conclusion.event, None);
        assert_eq!(conclusion.requeue, Requeue::After(Duration::from_secs(30)));
        assert_eq!(status_of(&c, READY).unwrap().1, "DependencyNotReady");
        assert_eq!(status_of(&c, STALLED), None);
    }

    #[test]
    fn success_clears_what_was_wrong() {
        let mut c = conditions();
        for type_ in [STALLED, RECONCILING, "FetchFailed", "ArtifactOutdated"] {
            c.mark_true(type_, "x", "y");
        }
        c.mark_true("ArtifactInStorage", "Succeeded", "stored");
        let conclusion = succeeded(&mut c, &["FetchFailed", "ArtifactOutdated"]);
        let types: Vec<&str> = c.items.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["ArtifactInStorage"]);
        assert_eq!(conclusion.requeue, Requeue::Interval);
        assert!(conclusion.observed);
    }

    #[test]
    fn requeues_become_actions_and_success_resets_the_backoff() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let interval = Duration::from_secs(600);
        assert_eq!(
            Requeue::Backoff.action(interval, 0, &backoff, "ns/a"),
            Action::requeue(Duration::from_secs(1))
        );
        assert_eq!(
            Requeue::Backoff.action(interval, 0, &backoff, "ns/a"),
            Action::requeue(Duration::from_secs(2))
        );
        assert_eq!(
            Requeue::Interval.action(interval, 0, &backoff, "ns/a"),
            Action::requeue(interval)
        );
        assert_eq!(
            Requeue::Backoff.action(interval, 0, &backoff, "ns/a"),
            Action::requeue(Duration::from_secs(1))
        );
        assert_eq!(
            Requeue::AwaitChange.action(interval, 0, &backoff, "ns/a"),
            Action::await_change()
        );
    }
}
