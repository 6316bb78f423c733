//! Status conditions as Flux's runtime manages them (`fluxcd/pkg/runtime/conditions`):
//! set with a stable transition time, delete, and summarise into `Ready`.

use api::meta::{Condition, ConditionStatus, READY, RECONCILING, STALLED, reason};

/// The conditions of one object, with the generation they are observed at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    pub items: Vec<Condition>,
    generation: Option<i64>,
    now: String,
}

impl Conditions {
    /// Starts from an object's current conditions; `now` is the RFC 3339 time any change is
    /// stamped with.
    pub fn new(
        existing: Option<Vec<Condition>>,
        generation: Option<i64>,
        now: impl Into<String>,
    ) -> Self {
        Self {
            items: existing.unwrap_or_default(),
            generation,
            now: now.into(),
        }
    }

    pub fn get(&self, type_: &str) -> Option<&Condition> {
        self.items.iter().find(|c| c.type_ == type_)
    }

    pub fn is_true(&self, type_: &str) -> bool {
        self.get(type_)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    pub fn is_false(&self, type_: &str) -> bool {
        self.get(type_)
            .is_some_and(|c| c.status == ConditionStatus::False)
    }

    /// Sets a condition. The transition time changes only when the status does.
    pub fn set(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) {
        let message = truncate(message.into(), 32768);
        let observed_generation = self.generation;
        match self.items.iter_mut().find(|c| c.type_ == type_) {
            Some(existing) => {
                if existing.status != status {
                    existing.last_transition_time = self.now.clone();
                }
                existing.status = status;
                existing.reason = reason.to_owned();
                existing.message = message;
                existing.observed_generation = observed_generation;
            }
            None => self.items.push(Condition {
                type_: type_.to_owned(),
                status,
                observed_generation,
                last_transition_time: self.now.clone(),
                reason: reason.to_owned(),
                message,
            }),
        }
    }

    pub fn mark_true(&mut self, type_: &str, reason: &str, message: impl Into<String>) {
        self.set(type_, ConditionStatus::True, reason, message);
    }

    pub fn mark_false(&mut self, type_: &str, reason: &str, message: impl Into<String>) {
        self.set(type_, ConditionStatus::False, reason, message);
    }

    pub fn delete(&mut self, type_: &str) {
        self.items.retain(|c| c.type_ != type_);
    }

    /// Sets `Ready` from the others, as Flux's summarize helper does: `Stalled` first, then
    /// the first True condition of `negative` (in priority order), then any False condition
    /// of `positive`; otherwise Ready is True with the reason and message of the first True
    /// condition of `positive`. Conditions are listed with Ready first, then in the order given.
    pub fn summarize(&mut self, negative: &[&str], positive: &[&str]) {
        let pick = |c: &Condition| (c.reason.clone(), c.message.clone());
        let stalled = self
            .get(STALLED)
            .filter(|c| c.status == ConditionStatus::True)
            .map(pick);
        let failing = negative
            .iter()
            .filter_map(|t| self.get(t))
            .find(|c| c.status == ConditionStatus::True)
            .map(pick);
        let false_positive = positive
            .iter()
            .filter_map(|t| self.get(t))
            .find(|c| c.status == ConditionStatus::False)
            .map(pick);
        match stalled.or(failing).or(false_positive) {
            Some((reason, message)) => self.mark_false(READY, &reason, message),
            None => {
                let (reason, message) = positive
                    .iter()
                    .filter_map(|t| self.get(t))
                    .find(|c| c.status == ConditionStatus::True)
                    .map(pick)
                    .unwrap_or_else(|| (reason::SUCCEEDED.to_owned(), String::new()));
                self.mark_true(READY, &reason, message);
            }
        }
        let order = |c: &Condition| {
            std::iter::once(READY)
                .chain([STALLED, RECONCILING])
                .chain(negative.iter().copied())
                .chain(positive.iter().copied())
                .position(|t| t == c.type_)
                .unwrap_or(usize::MAX)
        };
        self.items.sort_by_key(order);
    }

    pub fn into_vec(self) -> Vec<Condition> {
        self.items
    }
}

/// Cuts a message to at most `max` bytes on a character boundary.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut c = Conditions::new(None, Some(3), "t1");
        c.mark_true("ArtifactInStorage", "Succeeded", "stored");
        let mut c = Conditions::new(Some(c.into_vec()), Some(4), "t2");
        c.mark_true("ArtifactInStorage", "Succeeded", "stored again");
        let cond = c.get("ArtifactInStorage").unwrap();
        assert_eq!(
            (cond.last_transition_time.as_str(), cond.observed_generation),
            ("t1", Some(4))
        );
        c.mark_false("ArtifactInStorage", "Failed", "gone");
        assert_eq!(
            c.get("ArtifactInStorage").unwrap().last_transition_time,
            "t2"
        );
    }

    #[test]
    fn ready_summarises_with_flux_priorities() {
        let negative = ["FetchFailed", "StorageOperationFailed"];
        let positive = ["ArtifactInStorage", "SourceVerified"];
        let mut c = Conditions::new(None, Some(1), "t");
        c.mark_true(
            "ArtifactInStorage",
            "Succeeded",
            "stored artifact for digest 'latest@sha256:1'",
        );
        c.summarize(&negative, &positive);
        let ready = c.get(READY).unwrap();
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::True, "Succeeded")
        );
        assert_eq!(
            ready.message,
            "stored artifact for digest 'latest@sha256:1'"
        );

        c.mark_true("FetchFailed", "OCIArtifactPullFailed", "failed to pull");
        c.summarize(&negative, &positive);
        let ready = c.get(READY).unwrap();
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::False, "OCIArtifactPullFailed")
        );

        c.mark_true(STALLED, "URLInvalid", "bad url");
        c.summarize(&negative, &positive);
        assert_eq!(c.get(READY).unwrap().reason, "URLInvalid");
        let types: Vec<&str> = c.items.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, STALLED, "FetchFailed", "ArtifactInStorage"]);

        c.delete(STALLED);
        c.delete("FetchFailed");
        c.mark_false("SourceVerified", "VerificationError", "bad signature");
        c.summarize(&negative, &positive);
        assert_eq!(c.get(READY).unwrap().reason, "VerificationError");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("ééé".to_owned(), 3), "é");
    }
}
