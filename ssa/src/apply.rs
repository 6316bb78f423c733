//! The staged server-side apply: per stage, every object is planned from the live object
//! and a dry-run, then those that would change are written.

use std::collections::HashMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kustomize::Resource;
use serde_json::Value;

use super::cache::digest;
use super::cleanup::cleanup_patch;
use super::policy::{self, SsaPolicy};
use super::prepare::Prepared;
use super::wait::defined_kinds;
use super::{Action, Applier, ApplyError, Change, api_reason, is_not_found};
use crate::inventory::ObjectRef;
use crate::order;

/// How long an object deleted to be recreated (an immutable field changed, with `force`)
/// may take to go away.
const RECREATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Live objects by collection and name.
type Listed = HashMap<String, HashMap<String, DynamicObject>>;

/// From how many objects of a kind in one namespace a stage lists them instead of fetching
/// each: a list is one request, but it returns every object of the kind there.
const LIST_THRESHOLD: usize = 16;

enum Plan {
    Skip,
    Unchanged,
    Apply {
        created: bool,
        /// Delete and create again: an immutable field changed and force is on.
        recreate: bool,
        /// A JSON patch removing older tools' bookkeeping, applied first.
        cleanup: Option<json_patch::Patch>,
    },
}

impl Applier<'_> {
    /// Applies every object in Flux's stages, returning what changed in apply order. On a
    /// failure, the error comes with the changes made before it.
    pub async fn apply_all(
        &self,
        mut resources: Vec<Resource>,
    ) -> Result<Vec<Change>, (ApplyError, Vec<Change>)> {
        order::sort(&mut resources);
        let mut stages: [Vec<Resource>; 3] = Default::default();
        for resource in resources {
            stages[order::stage(resource.kind())].push(resource);
        }
        let mut changes = Vec::new();
        for (stage, members) in stages.into_iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let defined: Vec<_> = members
                .iter()
                .filter(|r| r.kind() == "CustomResourceDefinition")
                .flat_map(|r| defined_kinds(&r.object))
                .collect();
            match self.apply_stage(members).await {
                Ok(stage_changes) => {
                    let waited: Vec<ObjectRef> = stage_changes
                        .iter()
                        .filter(|c| stage < 2 && c.action != Action::Skipped)
                        .map(|c| c.object.clone())
                        .collect();
                    changes.extend(stage_changes);
                    if let Err(e) = self.wait_current(&waited, Duration::from_secs(60)).await {
                        return Err((e, changes));
                    }
                    if let Err(e) = self
                        .wait_discoverable(&defined, Duration::from_secs(60))
                        .await
                    {
                        return Err((e, changes));
                    }
                }
                Err((e, partial)) => {
                    changes.extend(partial);
                    return Err((e, changes));
                }
            }
        }
        Ok(changes)
    }

    /// What applying `resources` would change, without writing: the objects missing from
    /// the cluster (Created) or differing from it (Configured). Drift detection.
    pub async fn diff(&self, resources: Vec<Resource>) -> Result<Vec<Change>, ApplyError> {
        let listed = Listed::default();
        let mut changes = Vec::new();
        for resource in resources {
            let prepared = self.prepare_owned(resource).await?;
            let action = match self.plan(&prepared, &listed).await? {
                Plan::Skip | Plan::Unchanged => continue,
                Plan::Apply { created: true, .. } => Action::Created,
                Plan::Apply { .. } => Action::Configured,
            };
            changes.push(Change {
                object: prepared.reference,
                action,
            });
        }
        Ok(changes)
    }

    /// Dry-runs every object of a stage, then writes those that would change. Nothing is
    /// written when any dry-run fails.
    async fn apply_stage(
        &self,
        members: Vec<Resource>,
    ) -> Result<Vec<Change>, (ApplyError, Vec<Change>)> {
        let concurrency = self.concurrency.max(1);
        let prepared: Vec<Prepared> = futures::stream::iter(members)
            .map(|resource| self.prepare_owned(resource))
            .buffered(concurrency)
            .try_collect()
            .await
            .map_err(|e| (e, Vec::new()))?;
        let listed = &self.list_live(&prepared).await;
        // Unordered, so one slow request does not idle the other slots; results are put back
        // in apply order afterwards.
        let mut planned: Vec<_> = futures::stream::iter(prepared)
            .enumerate()
            .map(
                |(index, prepared)| async move { (index, self.plan_owned(prepared, listed).await) },
            )
            .buffer_unordered(concurrency)
            .collect()
            .await;
        planned.sort_by_key(|(index, _)| *index);
        // The first failure in apply order is the one reported, whatever finished first.
        let planned = planned
            .into_iter()
            .map(|(index, plan)| plan.map(|plan| (index, plan)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (e, Vec::new()))?;
        let mut results: Vec<(usize, Result<Change, ApplyError>)> =
            futures::stream::iter(planned)
                .map(|(index, (prepared, plan))| async move {
                    (index, self.execute(prepared, plan).await)
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        results.sort_by_key(|(index, _)| *index);
        let results = results.into_iter().map(|(_, result)| result);
        let mut changes = Vec::with_capacity(results.len());
        let mut first_error = None;
        for result in results {
            match result {
                Ok(change) => changes.push(change),
                Err(e) if first_error.is_none() => first_error = Some(e),
                Err(_) => {}
            }
        }
        match first_error {
            Some(e) => Err((e, changes)),
            None => Ok(changes),
        }
    }

    async fn plan_owned(
        &self,
        prepared: Prepared,
        listed: &Listed,
    ) -> Result<(Prepared, Plan), ApplyError> {
        let plan = self.plan(&prepared, listed).await?;
        Ok((prepared, plan))
    }

    /// The live objects of kinds a stage applies many of in one namespace, listed once
    /// instead of fetched one by one; kinds the applying identity may not list, or that
    /// have few objects here, are fetched per object.
    async fn list_live(&self, prepared: &[Prepared]) -> Listed {
        let mut counts: HashMap<(String, String), (usize, &Prepared)> = HashMap::new();
        for p in prepared {
            counts
                .entry((p.collection(), p.reference.kind.clone()))
                .or_insert((0, p))
                .0 += 1;
        }
        let mut listed = Listed::default();
        for ((path, _), (count, sample)) in counts {
            if count < LIST_THRESHOLD {
                continue;
            }
            let Ok(objects) = self
                .api(sample)
                .list(&kube::api::ListParams::default())
                .await
            else {
                continue;
            };
            let names = objects
                .items
                .into_iter()
                .map(|o| (o.metadata.name.clone().unwrap_or_default(), o))
                .collect();
            listed.insert(path, names);
        }
        listed
    }

    /// The live object, from a listing when its kind was listed, else fetched.
    async fn live(
        &self,
        prepared: &Prepared,
        listed: &Listed,
    ) -> Result<Option<DynamicObject>, kube::Error> {
        match listed.get(&prepared.collection()) {
            Some(objects) => Ok(objects.get(&prepared.reference.name).cloned()),
            None => self.api(prepared).get_opt(&prepared.reference.name).await,
        }
    }

    /// What to do with one object, decided from the live object and a dry-run.
    async fn plan(&self, prepared: &Prepared, listed: &Listed) -> Result<Plan, ApplyError> {
        let object = &prepared.object;
        if policy::apply_skips(object) {
            return Ok(Plan::Skip);
        }
        let policy = SsaPolicy::of(object);
        let api = self.api(prepared);
        let name = &prepared.reference.name;
        let dry_run_failed = |e: &kube::Error| {
            let (reason, message) = api_reason(e);
            ApplyError::DryRun {
                object: prepared.reference.display(),
                reason,
                message,
            }
        };
        let existing = self
            .live(prepared, listed)
            .await
            .map_err(|e| dry_run_failed(&e))?;
        if existing.is_some() && policy == SsaPolicy::IfNotPresent {
            return Ok(Plan::Skip);
        }
        let live_version = existing
            .as_ref()
            .and_then(|live| live.metadata.resource_version.clone());
        if let Some(version) = &live_version
            && self
                .applied
                .unchanged(&prepared.cache_key(), digest(object), version)
        {
            return Ok(Plan::Unchanged);
        }
        let cleanup = match &existing {
            Some(live) if policy != SsaPolicy::Merge => {
                cleanup_patch(live, self.manager.field_manager)
            }
            _ => None,
        };
        if existing.is_none() {
            // A new object: a dry-run create validates it (schema, admission) for less than a
            // dry-run apply, which also computes field ownership. If it appeared meanwhile,
            // the dry-run apply below decides.
            let candidate: DynamicObject =
                serde_json::from_value(object.clone()).map_err(|e| ApplyError::DryRun {
                    object: prepared.reference.display(),
                    reason: "Invalid".into(),
                    message: e.to_string(),
                })?;
            let params = kube::api::PostParams {
                dry_run: true,
                field_manager: Some(self.manager.field_manager.to_string()),
            };
            match api.create(&params, &candidate).await {
                Ok(_) => {
                    return Ok(Plan::Apply {
                        created: true,
                        recreate: false,
                        cleanup: None,
                    });
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => return Err(dry_run_failed(&e)),
            }
        }
        let params = PatchParams::apply(self.manager.field_manager)
            .force()
            .dry_run();
        match api.patch(name, &params, &Patch::Apply(object)).await {
            Ok(dry_run) => {
                let Some(live) = existing else {
                    return Ok(Plan::Apply {
                        created: true,
                        recreate: false,
                        cleanup,
                    });
                };
                let live = serde_json::to_value(&live).unwrap_or_default();
                let after = serde_json::to_value(&dry_run).unwrap_or_default();
                if comparable(&live) == comparable(&after) && cleanup.is_none() {
                    self.applied
                        .record(prepared.cache_key(), digest(object), live_version);
                    Ok(Plan::Unchanged)
                } else {
                    Ok(Plan::Apply {
                        created: false,
                        recreate: false,
                        cleanup,
                    })
                }
            }
            Err(e)
                if is_immutable_error(&e)
                    && (self.force || policy::forced(object))
                    && existing.is_some() =>
            {
                Ok(Plan::Apply {
                    created: false,
                    recreate: true,
                    cleanup: None,
                })
            }
            Err(e) => Err(dry_run_failed(&e)),
        }
    }

    async fn execute(&self, prepared: Prepared, plan: Plan) -> Result<Change, ApplyError> {
        let reference = prepared.reference.clone();
        let action = match plan {
            Plan::Skip => Action::Skipped,
            Plan::Unchanged => Action::Unchanged,
            Plan::Apply {
                created,
                recreate,
                cleanup,
            } => {
                let api = self.api(&prepared);
                let failed = |e: kube::Error| {
                    let (reason, message) = api_reason(&e);
                    ApplyError::Apply {
                        object: reference.display(),
                        reason,
                        message,
                    }
                };
                if recreate {
                    match api
                        .delete(&reference.name, &DeleteParams::foreground())
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(failed(e)),
                    }
                    self.wait_terminated(
                        std::slice::from_ref(&reference),
                        RECREATE_TIMEOUT,
                        Duration::from_millis(500),
                    )
                    .await
                    .map_err(ApplyError::Wait)?;
                }
                if let Some(patch) = cleanup {
                    api.patch(
                        &reference.name,
                        &PatchParams::default(),
                        &Patch::<Value>::Json(patch),
                    )
                    .await
                    .map_err(failed)?;
                }
                let params = PatchParams::apply(self.manager.field_manager).force();
                let written = api
                    .patch(&reference.name, &params, &Patch::Apply(&prepared.object))
                    .await
                    .map_err(failed)?;
                self.applied.record(
                    prepared.cache_key(),
                    digest(&prepared.object),
                    written.metadata.resource_version,
                );
                if created || recreate {
                    Action::Created
                } else {
                    Action::Configured
                }
            }
        };
        Ok(Change {
            object: reference,
            action,
        })
    }
}

/// Metadata the server maintains: left out when comparing a dry-run with the live object.
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        for key in ["managedFields", "resourceVersion", "generation"] {
            metadata.remove(key);
        }
    }
    object
}

/// A dry-run refused because it would change an immutable field (what `force` recreates for).
fn is_immutable_error(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 422
        && (s.message.contains("immutable") || s.message.contains("Forbidden: updates to")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::api_error;
    use super::*;

    #[test]
    fn comparisons_leave_out_what_the_server_maintains() {
        let live = json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "7",
            "generation": 2, "managedFields": [{"manager": "x"}], "labels": {"a": "1"}},
            "data": {"k": "v"}});
        let after = json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "8",
            "generation": 3, "labels": {"a": "1"}}, "data": {"k": "v"}});
        assert_eq!(comparable(&live), comparable(&after));
        assert_eq!(
            comparable(&live),
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"a": "1"}}, "data": {"k": "v"}})
        );
        let changed = json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "w"}});
        assert_ne!(comparable(&live), comparable(&changed));
        let labelled = json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"a": "2"}}, "data": {"k": "v"}});
        assert_ne!(comparable(&live), comparable(&labelled));
    }

    #[test]
    fn immutable_field_errors_are_recognised() {
        assert!(is_immutable_error(&api_error(
            422,
            "Invalid",
            "Deployment.apps \"a\" is invalid: spec.selector: Invalid value: field is immutable"
        )));
        assert!(is_immutable_error(&api_error(
            422,
            "Invalid",
            "StatefulSet.apps \"db\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden"
        )));
        assert!(!is_immutable_error(&api_error(
            422,
            "Invalid",
            "spec.replicas: Invalid value: -1"
        )));
        assert!(!is_immutable_error(&api_error(
            409,
            "Conflict",
            "field is immutable"
        )));
        assert!(!is_immutable_error(
            &kube::Error::LinesCodecMaxLineLengthExceeded
        ));
    }
}
