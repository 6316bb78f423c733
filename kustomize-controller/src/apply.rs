//! Server-side apply of a built revision (`fluxcd/pkg/ssa`): staged, dry-run first, no write
//! where nothing would change, owner labels on everything, per-object opt-outs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kustomize::Resource;
use serde_json::{Value, json};

use crate::health;
use crate::inventory::ObjectRef;
use crate::order;

pub const FIELD_MANAGER: &str = "kustomize-controller";
pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
const SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
const RECONCILE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/reconcile";
const FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";
const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Annotations and labels of older tools that Flux removes (not with `ssa: Merge`).
const STALE_ANNOTATIONS: &[&str] = &[
    LAST_APPLIED,
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];
const STALE_LABELS: &[&str] = &["fluxcd.io/sync-gc-mark"];

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Skipped,
    Deleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
            Action::Deleted => "deleted",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Change {
    pub object: ObjectRef,
    pub action: Action,
}

/// The lines of Flux's change-set event: `Kind/ns/name created|configured|deleted`.
pub fn change_lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Action::Created | Action::Configured | Action::Deleted
            )
        })
        .map(|c| format!("{} {}", c.object.display(), c.action.as_str()))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The object (or its kind) could not be applied; nothing of its stage was written.
    #[error("{object} dry-run failed ({reason}): {message}")]
    DryRun {
        object: String,
        reason: String,
        message: String,
    },
    #[error("{object} apply failed ({reason}): {message}")]
    Apply {
        object: String,
        reason: String,
        message: String,
    },
    #[error("{0}")]
    Wait(String),
}

/// How long an object deleted to be recreated (an immutable field changed, with `force`)
/// may take to go away.
const RECREATE_TIMEOUT: Duration = Duration::from_secs(60);

/// API resources by group/version/kind, looked up on first use; a miss is looked up again,
/// since a revision may have just created the CRD.
#[derive(Default)]
pub struct Discovery {
    cache: Mutex<HashMap<GroupVersionKindKey, (ApiResource, bool)>>,
}

/// (group, version, kind).
type GroupVersionKindKey = (String, String, String);

impl Discovery {
    pub async fn resolve(
        &self,
        client: &Client,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), kube::Error> {
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(found) = self.cache.lock().expect("discovery cache").get(&key) {
            return Ok(found.clone());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities): (ApiResource, ApiCapabilities) =
            kube::discovery::pinned_kind(client, &gvk).await?;
        let namespaced = capabilities.scope == Scope::Namespaced;
        self.cache
            .lock()
            .expect("discovery cache")
            .insert(key, (resource.clone(), namespaced));
        Ok((resource, namespaced))
    }
}

/// Where an object lives: `<apiVersion>/<plural>/<namespace>`.
fn collection(prepared: &Prepared) -> String {
    let namespace = if prepared.namespaced {
        prepared.reference.namespace.as_str()
    } else {
        ""
    };
    format!(
        "{}/{}/{namespace}",
        prepared.resource.api_version, prepared.resource.plural
    )
}

/// Live objects by collection and name.
type Listed = HashMap<String, HashMap<String, DynamicObject>>;

/// From how many objects of a kind in one namespace a stage lists them instead of fetching
/// each: a list is one request, but it returns every object of the kind there.
const LIST_THRESHOLD: usize = 16;

/// Who owns what is applied, and how.
pub struct Applier<'a> {
    /// The client applies are made with (impersonating the Kustomization's service account).
    pub client: Client,
    /// The controller's own client, for discovery.
    pub discovery_client: Client,
    pub discovery: &'a Discovery,
    pub owner_name: String,
    pub owner_namespace: String,
    pub concurrency: usize,
    /// `spec.force`: recreate objects whose immutable fields changed.
    pub force: bool,
    pub applied: &'a AppliedCache,
    /// `spec.healthCheckExprs`, used instead of kstatus for the kinds they name.
    pub custom_checks: &'a [health::CustomCheck],
}

/// What this process last applied to each object, and the object's resourceVersion then: an
/// object whose desired content and live version both match needs no dry-run to know that
/// applying it again would change nothing. Any edit on the server changes the version, so
/// drift is still detected; after a restart the cache is empty and every object is
/// dry-run as before.
#[derive(Default)]
pub struct AppliedCache {
    entries: Mutex<HashMap<String, (u64, String)>>,
}

/// Entries kept at most; past it the cache starts over (it is only an optimisation).
const APPLIED_CACHE_LIMIT: usize = 200_000;

impl AppliedCache {
    fn unchanged(&self, key: &str, digest: u64, live_version: &str) -> bool {
        self.entries
            .lock()
            .expect("applied cache")
            .get(key)
            .is_some_and(|(d, v)| *d == digest && v == live_version)
    }

    fn record(&self, key: String, digest: u64, version: Option<String>) {
        let mut entries = self.entries.lock().expect("applied cache");
        if entries.len() >= APPLIED_CACHE_LIMIT {
            entries.clear();
        }
        match version {
            Some(version) => entries.insert(key, (digest, version)),
            None => entries.remove(&key),
        };
    }
}

fn digest(object: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    object.to_string().hash(&mut hasher);
    hasher.finish()
}

fn cache_key(prepared: &Prepared) -> String {
    format!("{}/{}", collection(prepared), prepared.reference.name)
}

/// One object prepared for apply.
struct Prepared {
    object: Value,
    reference: ObjectRef,
    resource: ApiResource,
    namespaced: bool,
}

fn annotation<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

fn api_reason(error: &kube::Error) -> (String, String) {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                match status.code {
                    400 => "BadRequest",
                    401 => "Unauthorized",
                    403 => "Forbidden",
                    404 => "NotFound",
                    409 => "Conflict",
                    422 => "Invalid",
                    _ => "InternalError",
                }
                .to_string()
            } else {
                status.reason.clone()
            };
            (reason, status.message.clone())
        }
        other => ("InternalError".into(), other.to_string()),
    }
}

/// Fills in `protocol: TCP` on Service and container ports, as Flux's
/// `SetNativeKindsDefaults`: server-side apply on older API servers refuses ports without
/// it (the protocol is part of the list's key).
fn set_native_defaults(object: &mut Value) {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let default_protocol = |ports: Option<&mut Value>| {
        for port in ports.and_then(Value::as_array_mut).into_iter().flatten() {
            if let Value::Object(port) = port {
                port.entry("protocol").or_insert_with(|| json!("TCP"));
            }
        }
    };
    if kind == "Service" {
        default_protocol(object.pointer_mut("/spec/ports"));
        return;
    }
    let pod_spec = match kind.as_str() {
        "Pod" => "/spec",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return,
    };
    for list in ["containers", "initContainers"] {
        let containers = object.pointer_mut(&format!("{pod_spec}/{list}"));
        for container in containers
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_protocol(container.get_mut("ports"));
        }
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404)
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

impl Applier<'_> {
    fn api(&self, prepared: &Prepared) -> Api<DynamicObject> {
        if prepared.namespaced {
            Api::namespaced_with(
                self.client.clone(),
                &prepared.reference.namespace,
                &prepared.resource,
            )
        } else {
            Api::all_with(self.client.clone(), &prepared.resource)
        }
    }

    async fn prepare(&self, resource: &Resource) -> Result<Prepared, ApplyError> {
        let mut reference = ObjectRef::of(resource);
        let mut object = Value::Object(resource.object.clone());
        let (api_resource, namespaced) = self.resolve(&reference).await.map_err(|e| {
            let (reason, message) = api_reason(&e);
            ApplyError::DryRun {
                object: reference.display(),
                reason,
                message: format!(
                    "no matches for kind \"{}\" in version \"{}\": {message}",
                    reference.kind,
                    reference.api_version()
                ),
            }
        })?;
        if namespaced && reference.namespace.is_empty() {
            reference.namespace = "default".into();
            object["metadata"]["namespace"] = json!("default");
        } else if !namespaced && !reference.namespace.is_empty() {
            reference.namespace.clear();
            if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
                metadata.remove("namespace");
            }
        }
        let labels = object["metadata"]
            .as_object_mut()
            .expect("metadata is a map")
            .entry("labels")
            .or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        labels[NAME_LABEL] = json!(self.owner_name);
        labels[NAMESPACE_LABEL] = json!(self.owner_namespace);
        set_native_defaults(&mut object);
        Ok(Prepared {
            object,
            reference,
            resource: api_resource,
            namespaced,
        })
    }

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
                }
                Err((e, partial)) => {
                    changes.extend(partial);
                    return Err((e, changes));
                }
            }
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

    async fn prepare_owned(&self, resource: Resource) -> Result<Prepared, ApplyError> {
        self.prepare(&resource).await
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
                .entry((collection(p), p.reference.kind.clone()))
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
        match listed.get(&collection(prepared)) {
            Some(objects) => Ok(objects.get(&prepared.reference.name).cloned()),
            None => self.api(prepared).get_opt(&prepared.reference.name).await,
        }
    }

    /// What to do with one object, decided from the live object and a dry-run.
    async fn plan(&self, prepared: &Prepared, listed: &Listed) -> Result<Plan, ApplyError> {
        let object = &prepared.object;
        let policy = annotation(object, SSA_ANNOTATION).map(str::to_ascii_lowercase);
        if policy.as_deref() == Some("ignore")
            || annotation(object, RECONCILE_ANNOTATION)
                .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
        {
            return Ok(Plan::Skip);
        }
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
        if existing.is_some() && policy.as_deref() == Some("ifnotpresent") {
            return Ok(Plan::Skip);
        }
        let live_version = existing
            .as_ref()
            .and_then(|live| live.metadata.resource_version.clone());
        if let Some(version) = &live_version
            && self
                .applied
                .unchanged(&cache_key(prepared), digest(object), version)
        {
            return Ok(Plan::Unchanged);
        }
        let cleanup = match (&existing, policy.as_deref()) {
            (Some(live), policy) if policy != Some("merge") => cleanup_patch(live),
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
                field_manager: Some(FIELD_MANAGER.to_string()),
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
        let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
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
                        .record(cache_key(prepared), digest(object), live_version);
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
                    && (self.force || forced(object))
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
                let params = PatchParams::apply(FIELD_MANAGER).force();
                let written = api
                    .patch(&reference.name, &params, &Patch::Apply(&prepared.object))
                    .await
                    .map_err(failed)?;
                self.applied.record(
                    cache_key(&prepared),
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

    /// Waits until every object is Current (stages 0 and 1: CRDs established, namespaces
    /// active) before the next stage is applied.
    async fn wait_current(&self, refs: &[ObjectRef], timeout: Duration) -> Result<(), ApplyError> {
        self.wait_healthy(refs, timeout, Duration::from_millis(500))
            .await
            .map_err(ApplyError::Wait)
    }

    /// Polls until every object is Current; fails early once only Failed and Current
    /// remain, with Flux's messages.
    pub async fn wait_healthy(
        &self,
        refs: &[ObjectRef],
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut pending = Vec::new();
            let mut failed = 0;
            for reference in refs {
                let (status, _) = self.status_of(reference).await;
                if status != health::Status::Current {
                    failed += usize::from(status == health::Status::Failed);
                    pending.push(format!(
                        "{} status: '{}'",
                        reference.display(),
                        status.as_str()
                    ));
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if failed == pending.len() {
                return Err(format!(
                    "failed early due to stalled resources: [{}]",
                    pending.join(", ")
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("timeout waiting for: [{}]", pending.join(", ")));
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The API resource of an object's kind and whether it is namespaced.
    async fn resolve(&self, reference: &ObjectRef) -> Result<(ApiResource, bool), kube::Error> {
        self.discovery
            .resolve(
                &self.discovery_client,
                &reference.group,
                &reference.version,
                &reference.kind,
            )
            .await
    }

    /// The API of an inventory object's kind, in its namespace.
    async fn api_for(&self, reference: &ObjectRef) -> Result<Api<DynamicObject>, kube::Error> {
        let (resource, namespaced) = self.resolve(reference).await?;
        Ok(if namespaced {
            Api::namespaced_with(self.client.clone(), &reference.namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        })
    }

    /// Waits until none of `refs` exists any more; past `timeout`, fails naming those left.
    pub async fn wait_terminated(
        &self,
        refs: &[ObjectRef],
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut left = Vec::new();
            for reference in refs {
                if self.status_of(reference).await.0 != health::Status::NotFound {
                    left.push(reference.display());
                }
            }
            if left.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "timeout waiting for termination of: [{}]",
                    left.join(", ")
                ));
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The kstatus of one live object.
    pub async fn status_of(&self, reference: &ObjectRef) -> (health::Status, String) {
        let Ok(api) = self.api_for(reference).await else {
            return (health::Status::NotFound, "kind not found".into());
        };
        match api.get_opt(&reference.name).await {
            Ok(Some(object)) => {
                let value = serde_json::to_value(&object).unwrap_or_default();
                let type_of = |field: &str| value.get(field).and_then(|v| v.as_str()).unwrap_or("");
                let custom = self
                    .custom_checks
                    .iter()
                    .find(|check| check.applies_to(type_of("apiVersion"), type_of("kind")));
                match custom.map(|check| check.evaluate(&value)) {
                    Some(Ok(status)) => (status, String::new()),
                    Some(Err(e)) => (health::Status::InProgress, e.to_string()),
                    None => health::compute(&value),
                }
            }
            Ok(None) => (health::Status::NotFound, "not found".into()),
            Err(e) => (health::Status::InProgress, e.to_string()),
        }
    }

    /// Deletes objects no longer in the revision, in the given (reverse apply) order, only if
    /// they carry this Kustomization's owner labels and have not opted out. Returns what was
    /// deleted and what failed (to stay in the inventory).
    pub async fn prune(&self, stale: &[ObjectRef]) -> (Vec<Change>, Vec<(ObjectRef, String)>) {
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for reference in stale {
            match self.delete_owned(reference).await {
                Ok(true) => deleted.push(Change {
                    object: reference.clone(),
                    action: Action::Deleted,
                }),
                Ok(false) => {}
                Err(e) => failed.push((reference.clone(), e)),
            }
        }
        (deleted, failed)
    }

    async fn delete_owned(&self, reference: &ObjectRef) -> Result<bool, String> {
        let api = match self.api_for(reference).await {
            Ok(api) => api,
            // The kind is gone (its CRD was deleted): so are its objects.
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(format!("{} delete failed: {e}", reference.display())),
        };
        let live = match api.get_opt(&reference.name).await {
            Ok(Some(live)) => live,
            Ok(None) => return Ok(false),
            Err(e) => return Err(format!("{} delete failed: {e}", reference.display())),
        };
        let labels = live.metadata.labels.clone().unwrap_or_default();
        let owned = labels.get(NAME_LABEL) == Some(&self.owner_name)
            && labels.get(NAMESPACE_LABEL) == Some(&self.owner_namespace);
        let annotations = live.metadata.annotations.clone().unwrap_or_default();
        let opted_out = annotations
            .get(PRUNE_ANNOTATION)
            .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
            || annotations
                .get(RECONCILE_ANNOTATION)
                .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
            || annotations
                .get(SSA_ANNOTATION)
                .is_some_and(|v| v.eq_ignore_ascii_case("ignore"));
        if !owned || opted_out || live.metadata.deletion_timestamp.is_some() {
            return Ok(false);
        }
        match api
            .delete(&reference.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => {
                let (reason, message) = api_reason(&e);
                Err(format!(
                    "{} delete failed ({reason}): {message}",
                    reference.display()
                ))
            }
        }
    }
}

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

fn forced(object: &Value) -> bool {
    annotation(object, FORCE_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
}

fn is_immutable_error(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 422
        && (s.message.contains("immutable") || s.message.contains("Forbidden: updates to")))
}

/// Removes what `kubectl` (client-side apply, edits) left on an object that is now ours:
/// the last-applied annotation, its managed-field entries, and older Flux bookkeeping.
fn cleanup_patch(live: &DynamicObject) -> Option<json_patch::Patch> {
    use json_patch::{PatchOperation, RemoveOperation, ReplaceOperation};
    let mut operations = Vec::new();
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    let annotations = live.metadata.annotations.clone().unwrap_or_default();
    for key in STALE_ANNOTATIONS
        .iter()
        .filter(|k| annotations.contains_key(**k))
    {
        operations.push(PatchOperation::Remove(RemoveOperation {
            path: format!("/metadata/annotations/{}", escape(key))
                .parse()
                .ok()?,
        }));
    }
    let labels = live.metadata.labels.clone().unwrap_or_default();
    for key in STALE_LABELS.iter().filter(|k| labels.contains_key(**k)) {
        operations.push(PatchOperation::Remove(RemoveOperation {
            path: format!("/metadata/labels/{}", escape(key)).parse().ok()?,
        }));
    }
    // As Flux: the fields kubectl (or an earlier non-apply write of ours) owns become ours,
    // so that fields later removed from the source are removed from the object too.
    let fields = live.metadata.managed_fields.clone().unwrap_or_default();
    let is_legacy = |manager: &str, operation: &str| {
        matches!(
            manager,
            "kubectl" | "kubectl-client-side-apply" | "before-first-apply"
        ) || (manager == FIELD_MANAGER && operation == "Update")
    };
    if fields.iter().any(|f| {
        is_legacy(
            f.manager.as_deref().unwrap_or(""),
            f.operation.as_deref().unwrap_or(""),
        )
    }) {
        let mut ours: Option<Value> = None;
        let mut kept = Vec::new();
        for field in &fields {
            let manager = field.manager.as_deref().unwrap_or("");
            let operation = field.operation.as_deref().unwrap_or("");
            let owned_by_us = manager == FIELD_MANAGER && operation == "Apply";
            if is_legacy(manager, operation) || owned_by_us {
                let set = field
                    .fields_v1
                    .as_ref()
                    .map(|f| f.0.clone())
                    .unwrap_or(json!({}));
                match &mut ours {
                    Some(merged) => merge_field_sets(merged, &set),
                    None => ours = Some(set),
                }
            } else {
                kept.push(serde_json::to_value(field).ok()?);
            }
        }
        let mut entry = json!({
            "manager": FIELD_MANAGER,
            "operation": "Apply",
            "apiVersion": live.types.as_ref().map(|t| t.api_version.clone()).unwrap_or_default(),
            "fieldsType": "FieldsV1",
            "fieldsV1": ours.unwrap_or(json!({})),
        });
        if let Some(time) = fields.iter().find_map(|f| f.time.clone()) {
            entry["time"] = serde_json::to_value(time).ok()?;
        }
        kept.push(entry);
        operations.push(PatchOperation::Replace(ReplaceOperation {
            path: "/metadata/managedFields".parse().ok()?,
            value: Value::Array(kept),
        }));
    }
    (!operations.is_empty()).then_some(json_patch::Patch(operations))
}

/// Unions two managed-field sets (`fieldsV1` trees).
fn merge_field_sets(into: &mut Value, other: &Value) {
    if let (Value::Object(into), Value::Object(other)) = (into, other) {
        for (key, value) in other {
            match into.get_mut(key) {
                Some(existing) => merge_field_sets(existing, value),
                None => {
                    into.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

/// Client factory for impersonation: one client per service account, built from the
/// controller's own configuration.
pub struct Impersonation {
    config: kube::Config,
    clients: Mutex<HashMap<String, Client>>,
}

impl Impersonation {
    pub fn new(config: kube::Config) -> Self {
        Self {
            config,
            clients: Mutex::default(),
        }
    }

    /// A client acting as `system:serviceaccount:<namespace>:<name>`.
    pub fn client_for(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<Client, kube::Error> {
        let user = format!("system:serviceaccount:{namespace}:{service_account}");
        let mut clients = self.clients.lock().expect("client cache");
        if let Some(client) = clients.get(&user) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.clone());
        let client = Client::try_from(config)?;
        clients.insert(user, client.clone());
        Ok(client)
    }
}
