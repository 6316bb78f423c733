//! The per-object opt-outs Flux reads from annotations; values compare without case.

use std::collections::BTreeMap;

use serde_json::Value;

const SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
const RECONCILE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/reconcile";
const FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";
const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";

/// How an object is applied (`kustomize.toolkit.fluxcd.io/ssa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SsaPolicy {
    /// The default: applied, taking over what older tools (kubectl) own or left behind.
    Override,
    /// Applied, leaving what older tools own or left behind.
    Merge,
    /// Created when missing, never updated.
    IfNotPresent,
    /// Neither applied nor pruned.
    Ignore,
}

impl SsaPolicy {
    /// The policy of a desired object.
    pub(super) fn of(object: &Value) -> Self {
        Self::parse(annotation(object, SSA_ANNOTATION))
    }

    fn parse(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("merge") => SsaPolicy::Merge,
            Some("ifnotpresent") => SsaPolicy::IfNotPresent,
            Some("ignore") => SsaPolicy::Ignore,
            _ => SsaPolicy::Override,
        }
    }
}

/// A desired object apply leaves alone: `ssa: Ignore` or `reconcile: disabled`.
pub(super) fn apply_skips(object: &Value) -> bool {
    SsaPolicy::of(object) == SsaPolicy::Ignore || disabled(annotation(object, RECONCILE_ANNOTATION))
}

/// A desired object to delete and create again when an immutable field changed
/// (`force: enabled`).
pub(super) fn forced(object: &Value) -> bool {
    annotation(object, FORCE_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
}

/// A live object (by its annotations) prune leaves alone: `prune: disabled`,
/// `reconcile: disabled` or `ssa: Ignore`.
pub(super) fn prune_skips(annotations: &BTreeMap<String, String>) -> bool {
    let value = |key: &str| annotations.get(key).map(String::as_str);
    disabled(value(PRUNE_ANNOTATION))
        || disabled(value(RECONCILE_ANNOTATION))
        || SsaPolicy::parse(value(SSA_ANNOTATION)) == SsaPolicy::Ignore
}

fn disabled(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

fn annotation<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn annotated(key: &str, value: &str) -> Value {
        json!({"metadata": {"annotations": {key: value}}})
    }

    #[test]
    fn ssa_policies_are_read_without_case_and_default_to_override() {
        let policy = |value| SsaPolicy::of(&annotated(SSA_ANNOTATION, value));
        assert_eq!(SsaPolicy::of(&json!({"metadata": {}})), SsaPolicy::Override);
        assert_eq!(policy("Override"), SsaPolicy::Override);
        assert_eq!(policy("Merge"), SsaPolicy::Merge);
        assert_eq!(policy("IfNotPresent"), SsaPolicy::IfNotPresent);
        assert_eq!(policy("IGNORE"), SsaPolicy::Ignore);
        assert_eq!(policy("sometimes"), SsaPolicy::Override);
        assert_eq!(
            SsaPolicy::of(&json!({"metadata": {"annotations": {SSA_ANNOTATION: 1}}})),
            SsaPolicy::Override
        );
    }

    #[test]
    fn apply_skips_ignored_and_disabled_objects() {
        assert!(apply_skips(&annotated(SSA_ANNOTATION, "Ignore")));
        assert!(apply_skips(&annotated(RECONCILE_ANNOTATION, "Disabled")));
        assert!(!apply_skips(&annotated(RECONCILE_ANNOTATION, "enabled")));
        assert!(!apply_skips(&annotated(SSA_ANNOTATION, "Merge")));
        assert!(!apply_skips(&annotated(PRUNE_ANNOTATION, "disabled")));
        assert!(!apply_skips(&json!({"metadata": {"name": "a"}})));
    }

    #[test]
    fn force_is_per_object_and_enabled_only() {
        assert!(forced(&annotated(FORCE_ANNOTATION, "Enabled")));
        assert!(!forced(&annotated(FORCE_ANNOTATION, "true")));
        assert!(!forced(&json!({"metadata": {}})));
    }

    #[test]
    fn prune_skips_disabled_and_ignored_objects() {
        let annotations = |key: &str, value: &str| BTreeMap::from([(key.into(), value.into())]);
        assert!(prune_skips(&annotations(PRUNE_ANNOTATION, "disabled")));
        assert!(prune_skips(&annotations(RECONCILE_ANNOTATION, "DISABLED")));
        assert!(prune_skips(&annotations(SSA_ANNOTATION, "ignore")));
        assert!(!prune_skips(&annotations(SSA_ANNOTATION, "IfNotPresent")));
        assert!(!prune_skips(&annotations(PRUNE_ANNOTATION, "enabled")));
        assert!(!prune_skips(&annotations(FORCE_ANNOTATION, "disabled")));
        assert!(!prune_skips(&BTreeMap::new()));
    }
}
