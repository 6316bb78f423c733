//! Helm's release actions (install, upgrade, rollback, uninstall, unlock) as the Helm SDK
//! runs them for Flux: every version written to storage first as `pending-*` and finished
//! as `deployed`, `superseded` or `failed` with Helm's descriptions, hooks run by event and
//! weight with their delete policies, objects server-side applied by `ssa` with
//! helm-controller's field manager, waited for with kstatus, and objects a new version no
//! longer has deleted.

use std::sync::Arc;
use std::time::Duration;

use helm::release::{HookRun, Release, Status, StoredChart, StoredHook};
use kustomize::Resource;
use serde_json::{Map, Value, json};
use ssa::Applier;
use ssa::inventory::ObjectRef;

use crate::storage::{ReleaseStore, StoreError};

const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";
/// The longest pause between two reads of the objects a wait is for (the first reads come
/// sooner: see `ssa`'s waits).
const POLL: Duration = Duration::from_secs(2);

/// An action that failed: its message (Helm's), and whether it wrote to storage (only those
/// count as install or upgrade failures).
#[derive(Debug)]
pub struct ActionError {
    pub message: String,
    pub wrote_storage: bool,
}

impl ActionError {
    fn before_storage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            wrote_storage: false,
        }
    }
}

impl From<StoreError> for ActionError {
    fn from(e: StoreError) -> Self {
        ActionError::before_storage(e.to_string())
    }
}

/// How an install or upgrade runs.
#[derive(Clone, Debug, Default)]
pub struct ReleaseOptions {
    pub timeout: Duration,
    pub disable_wait: bool,
    pub disable_hooks: bool,
    pub skip_crds: bool,
    pub skip_schema_validation: bool,
    pub max_history: usize,
    /// `install.createNamespace`: the release namespace is created first.
    pub create_namespace: bool,
}

/// Runs actions for one release: where it lives, how objects are applied, where it is
/// stored, and what `lookup` reads.
pub struct Executor<'a> {
    pub applier: &'a Applier<'a>,
    pub store: &'a ReleaseStore,
    pub name: &'a str,
    pub namespace: &'a str,
    /// The HelmRelease (`<name>`, `<ns>`), whose origin labels go on every object.
    pub owner: (&'a str, &'a str),
    /// `spec.postRenderers` and `spec.commonMetadata`.
    pub post_renderers: &'a [api::helm::PostRenderer],
    pub common_metadata: Option<&'a api::kustomize::CommonMetadata>,
    /// `.Capabilities.KubeVersion`: the API server's.
    pub kube_version: String,
    pub cluster: Option<Arc<dyn helm::Cluster>>,
}

/// The chart and values an install or upgrade releases.
pub struct Request<'a> {
    pub chart: &'a helm::Chart,
    pub config: &'a Map<String, Value>,
}

impl Executor<'_> {
    /// Renders the chart for this release on the blocking pool (templates may call
    /// `lookup`, which blocks on the API).
    async fn render(
        &self,
        request: &Request<'_>,
        revision: u32,
        is_upgrade: bool,
        options: &ReleaseOptions,
    ) -> Result<helm::Rendered, ActionError> {
        let chart = request.chart.clone();
        let values = crate::values::to_template_map(request.config);
        let render_options = helm::Options {
            release: helm::Release {
                name: self.name.to_owned(),
                namespace: self.namespace.to_owned(),
                is_upgrade,
                revision: i64::from(revision),
            },
            skip_schema_validation: options.skip_schema_validation,
            cluster: self.cluster.clone(),
            kube_version: self.kube_version.clone(),
            ..helm::Options::default()
        };
        tokio::task::spawn_blocking(move || helm::render(&chart, values, &render_options))
            .await
            .map_err(|e| ActionError::before_storage(e.to_string()))?
            .map_err(|e| ActionError::before_storage(e.to_string()))
    }

    /// A new release record of `request` at `version`, as the Helm SDK fills it before the
    /// action runs.
    fn new_release(
        &self,
        request: &Request<'_>,
        rendered: &helm::Rendered,
        version: u32,
        status: Status,
        description: &str,
    ) -> Result<Release, ActionError> {
        let now = jiff::Timestamp::now();
        let mut release = Release {
            name: self.name.to_owned(),
            chart: StoredChart::from_chart(request.chart),
            config: request.config.clone(),
            manifest: self.post_render(rendered)?,
            hooks: self.stored_hooks(&rendered.hooks)?,
            version,
            namespace: self.namespace.to_owned(),
            apply_method: "ssa".into(),
            ..Release::default()
        };
        release.info.first_deployed = Some(now);
        release.info.last_deployed = Some(now);
        release.info.status = status;
        release.info.description = description.to_owned();
        release.info.notes = rendered.notes.clone();
        Ok(release)
    }

    /// The stored manifest: the rendered documents through Flux's post-renderers, each
    /// under its `# Source:` line.
    fn post_render(&self, rendered: &helm::Rendered) -> Result<String, ActionError> {
        let mut documents = Vec::new();
        for manifest in &rendered.manifests {
            let parsed = goyaml::parse_stream(&manifest.content).map_err(|e| {
                ActionError::before_storage(format!("YAML parse error on {}: {e}", manifest.path))
            })?;
            documents.extend(parsed.into_iter().map(|d| (manifest.path.clone(), d)));
        }
        let rendered = crate::postrender::post_render(
            documents,
            self.post_renderers,
            self.common_metadata,
            self.owner,
        )
        .map_err(ActionError::before_storage)?;
        let mut out = String::new();
        for (path, document) in rendered {
            out.push_str(&format!("---\n# Source: {path}\n"));
            goyaml::write_document(&document, &mut out);
        }
        Ok(out)
    }

    /// The hooks as Helm stores them, post-rendered like the manifests, runs not yet
    /// recorded.
    fn stored_hooks(&self, hooks: &[helm::manifest::Hook]) -> Result<Vec<StoredHook>, ActionError> {
        let mut stored = Vec::with_capacity(hooks.len());
        for hook in hooks {
            let documents = goyaml::parse_stream(&hook.manifest.content).map_err(|e| {
                ActionError::before_storage(format!(
                    "YAML parse error on {}: {e}",
                    hook.manifest.path
                ))
            })?;
            let documents = documents
                .into_iter()
                .map(|d| (hook.manifest.path.clone(), d))
                .collect();
            let rendered = crate::postrender::post_render(
                documents,
                self.post_renderers,
                self.common_metadata,
                self.owner,
            )
            .map_err(ActionError::before_storage)?;
            let mut manifest = String::new();
            for (_, document) in rendered {
                goyaml::write_document(&document, &mut manifest);
            }
            stored.push(StoredHook {
                name: hook.manifest.name.clone(),
                kind: hook.manifest.kind.clone(),
                path: hook.manifest.path.clone(),
                manifest,
                events: hook.events.clone(),
                last_run: HookRun::default(),
                weight: hook.weight,
                delete_policies: hook.delete_policies.clone(),
                output_log_policies: Vec::new(),
            });
        }
        Ok(stored)
    }

    pub async fn install(
        &self,
        request: &Request<'_>,
        options: &ReleaseOptions,
    ) -> Result<Release, ActionError> {
        if options.create_namespace {
            let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": self.namespace}});
            let Value::Object(object) = namespace else {
                unreachable!("a JSON object literal");
            };
            self.applier
                .apply_all(vec![Resource::new(object, String::new())])
                .await
                .map_err(|(e, _)| {
                    ActionError::before_storage(format!(
                        "failed to create namespace {}: {e}",
                        self.namespace
                    ))
                })?;
        }
        let rendered = self.render(request, 1, false, options).await?;
        let mut release = self.new_release(
            request,
            &rendered,
            1,
            Status::PendingInstall,
            "Initial install underway",
        )?;
        self.store.create(&release).await?;
        let crds = if options.skip_crds {
            Vec::new()
        } else {
            rendered.crds.clone()
        };
        let run = self
            .run_release(&mut release, "", &crds, "install", options)
            .await;
        self.finish(release, run, "Install complete", |e| {
            format!("Release \"{}\" failed: {e}", self.name)
        })
        .await
    }

    pub async fn upgrade(
        &self,
        history: &[Release],
        request: &Request<'_>,
        options: &ReleaseOptions,
    ) -> Result<Release, ActionError> {
        let last = history
            .last()
            .ok_or_else(|| ActionError::before_storage("no release to upgrade"))?;
        if last.info.status.is_pending() {
            return Err(ActionError::before_storage(
                "another operation (install/upgrade/rollback) is in progress",
            ));
        }
        let current = deployed(history).unwrap_or(last);
        let version = last.version + 1;
        let rendered = self.render(request, version, true, options).await?;
        let mut release = self.new_release(
            request,
            &rendered,
            version,
            Status::PendingUpgrade,
            "Preparing upgrade",
        )?;
        release.info.first_deployed = current.info.first_deployed;
        self.store.create(&release).await?;
        let crds = if options.skip_crds {
            Vec::new()
        } else {
            rendered.crds.clone()
        };
        let run = self
            .run_release(&mut release, &current.manifest, &crds, "upgrade", options)
            .await;
        let finished = self
            .finish(release, run, "Upgrade complete", |e| {
                format!("Upgrade \"{}\" failed: {e}", self.name)
            })
            .await?;
        self.supersede(history, finished.version).await?;
        self.prune_history(options.max_history).await?;
        Ok(finished)
    }

    /// Rolls back to `target`: a new version with its chart, values and manifest.
    pub async fn rollback(
        &self,
        history: &[Release],
        target: &Release,
        options: &ReleaseOptions,
    ) -> Result<Release, ActionError> {
        let last = history
            .last()
            .ok_or_else(|| ActionError::before_storage("no release to roll back"))?;
        let now = jiff::Timestamp::now();
        let mut release = target.clone();
        release.version = last.version + 1;
        release.info.first_deployed = last.info.first_deployed;
        release.info.last_deployed = Some(now);
        release.info.deleted = None;
        release.info.status = Status::PendingRollback;
        release.info.description = format!("Rollback to {}", target.version);
        release.apply_method = "ssa".into();
        self.store.create(&release).await?;
        let run = self
            .run_release(&mut release, &last.manifest, &[], "rollback", options)
            .await;
        let description = release.info.description.clone();
        let finished = self
            .finish(release, run, &description, |e| {
                format!("Rollback \"{}\" failed: {e}", self.name)
            })
            .await?;
        self.supersede(history, finished.version).await?;
        Ok(finished)
    }

    /// Uninstalls `last`: its objects deleted (hooks around), then its history deleted or,
    /// with `keep_history`, the release marked uninstalled.
    pub async fn uninstall(
        &self,
        history: &[Release],
        keep_history: bool,
        options: &ReleaseOptions,
    ) -> Result<(), ActionError> {
        let Some(last) = history.last() else {
            return Ok(());
        };
        let mut release = last.clone();
        release.info.status = Status::Uninstalling;
        release.info.description = "Deletion in progress (or silently failed)".into();
        self.store.update(&release).await?;
        let wrote = |message: String| ActionError {
            message,
            wrote_storage: true,
        };
        if !options.disable_hooks {
            self.run_hooks(&mut release.hooks, "pre-delete", options.timeout)
                .await
                .map_err(wrote)?;
        }
        let objects = self.objects(&release.manifest).map_err(wrote)?;
        let refs: Vec<ObjectRef> = objects.iter().rev().map(ObjectRef::of).collect();
        let (deleted, failed) = self.applier.delete(&refs).await;
        if let Some((_, error)) = failed.first() {
            return Err(wrote(error.clone()));
        }
        if !options.disable_wait {
            let deleted: Vec<ObjectRef> = deleted.into_iter().map(|c| c.object).collect();
            self.applier
                .wait_terminated(&deleted, options.timeout, POLL)
                .await
                .map_err(wrote)?;
        }
        if !options.disable_hooks {
            self.run_hooks(&mut release.hooks, "post-delete", options.timeout)
                .await
                .map_err(wrote)?;
        }
        if keep_history {
            release.info.status = Status::Uninstalled;
            release.info.description = "Uninstallation complete".into();
            release.info.deleted = Some(jiff::Timestamp::now());
            self.store.update(&release).await?;
        } else {
            for stored in history {
                self.store.delete(&stored.name, stored.version).await?;
            }
        }
        Ok(())
    }

    /// The release's objects that differ from (or are missing in) the cluster.
    pub async fn drift(&self, release: &Release) -> Result<Vec<ssa::Change>, String> {
        let objects = self.objects(&release.manifest)?;
        self.applier.diff(objects).await.map_err(|e| e.to_string())
    }

    /// Applies the release's objects again; returns those it changed.
    pub async fn correct_drift(&self, release: &Release) -> Result<Vec<ssa::Change>, String> {
        let objects = self.objects(&release.manifest)?;
        let changes = self
            .applier
            .apply_all(objects)
            .await
            .map_err(|(e, _)| e.to_string())?;
        Ok(changes
            .into_iter()
            .filter(|c| matches!(c.action, ssa::Action::Created | ssa::Action::Configured))
            .collect())
    }

    /// A release left `pending-*` by an action that was cut short becomes `failed`, so the
    /// next action may run (Flux's unlock).
    pub async fn unlock(&self, release: &Release) -> Result<Release, ActionError> {
        let mut unlocked = release.clone();
        unlocked.info.description = format!(
            "Release unlocked from stale '{}' state",
            release.info.status.as_str()
        );
        unlocked.info.status = Status::Failed;
        self.store.update(&unlocked).await?;
        Ok(unlocked)
    }

    /// Hooks, CRDs, objects, deletion of what `previous_manifest` had and this release has
    /// not, the wait, hooks again.
    async fn run_release(
        &self,
        release: &mut Release,
        previous_manifest: &str,
        crds: &[(String, String)],
        action: &str,
        options: &ReleaseOptions,
    ) -> Result<(), String> {
        if !options.disable_hooks {
            self.run_hooks(
                &mut release.hooks,
                &format!("pre-{action}"),
                options.timeout,
            )
            .await?;
        }
        if !crds.is_empty() {
            let crd_objects = self.crd_objects(crds)?;
            self.applier
                .apply_all(crd_objects)
                .await
                .map_err(|(e, _)| e.to_string())?;
        }
        let objects = self.objects(&release.manifest)?;
        let applied = self
            .applier
            .apply_all(objects.clone())
            .await
            .map_err(|(e, _)| e.to_string())?;
        let current: Vec<ObjectRef> = applied.iter().map(|c| c.object.clone()).collect();
        if !previous_manifest.is_empty() {
            let old: Vec<_> = self
                .objects(previous_manifest)
                .unwrap_or_default()
                .iter()
                .map(|r| ObjectRef::of(r).entry())
                .collect();
            let stale = ssa::inventory::stale(&old, &current);
            let (_, failed) = self.applier.delete(&stale).await;
            if let Some((_, error)) = failed.first() {
                return Err(error.clone());
            }
        }
        if !options.disable_wait {
            self.applier
                .wait_healthy(&current, options.timeout, POLL)
                .await?;
        }
        if !options.disable_hooks {
            self.run_hooks(
                &mut release.hooks,
                &format!("post-{action}"),
                options.timeout,
            )
            .await?;
        }
        Ok(())
    }

    /// Records how the action ended in storage.
    async fn finish(
        &self,
        mut release: Release,
        run: Result<(), String>,
        success: &str,
        failure: impl Fn(&str) -> String,
    ) -> Result<Release, ActionError> {
        match run {
            Ok(()) => {
                release.info.status = Status::Deployed;
                release.info.description = success.to_owned();
                self.store.update(&release).await?;
                Ok(release)
            }
            Err(e) => {
                release.info.status = Status::Failed;
                release.info.description = failure(&e);
                release.info.last_deployed = Some(jiff::Timestamp::now());
                self.store.update(&release).await?;
                Err(ActionError {
                    message: e,
                    wrote_storage: true,
                })
            }
        }
    }

    /// Every other deployed version becomes `superseded`.
    async fn supersede(&self, history: &[Release], current: u32) -> Result<(), ActionError> {
        for older in history
            .iter()
            .filter(|r| r.version != current && r.info.status == Status::Deployed)
        {
            let mut superseded = older.clone();
            // The description stays ("Install complete"), as `helm history` shows it.
            superseded.info.status = Status::Superseded;
            self.store.update(&superseded).await?;
        }
        Ok(())
    }

    /// `maxHistory`: the oldest versions go, never the last deployed one.
    async fn prune_history(&self, max_history: usize) -> Result<(), ActionError> {
        if max_history == 0 {
            return Ok(());
        }
        let history = self.store.history(self.name).await?;
        for version in helm::release::prune_plan(&history, max_history) {
            self.store.delete(self.name, version).await?;
        }
        Ok(())
    }

    /// Runs the release's test hooks that `selected` keeps (Helm's `test` action) and
    /// records their runs in storage; returns how many ran.
    pub async fn test(
        &self,
        release: &mut Release,
        selected: impl Fn(&StoredHook) -> bool + Sync,
        timeout: Duration,
    ) -> Result<usize, String> {
        let count = release
            .hooks
            .iter()
            .filter(|h| h.events.iter().any(|e| e == "test") && selected(h))
            .count();
        let run = self
            .run_hooks_where(&mut release.hooks, "test", timeout, &selected)
            .await;
        self.store
            .update(release)
            .await
            .map_err(|e| e.to_string())?;
        run.map(|()| count)
    }

    /// Runs the hooks of `event` in weight order, recording their runs.
    async fn run_hooks(
        &self,
        hooks: &mut [StoredHook],
        event: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        self.run_hooks_where(hooks, event, timeout, &|_| true).await
    }

    async fn run_hooks_where(
        &self,
        hooks: &mut [StoredHook],
        event: &str,
        timeout: Duration,
        selected: &(dyn Fn(&StoredHook) -> bool + Sync),
    ) -> Result<(), String> {
        let mut order: Vec<usize> = (0..hooks.len())
            .filter(|i| hooks[*i].events.iter().any(|e| e == event) && selected(&hooks[*i]))
            .collect();
        order.sort_by(|a, b| {
            (hooks[*a].weight, &hooks[*a].name).cmp(&(hooks[*b].weight, &hooks[*b].name))
        });
        for index in order {
            let hook = &mut hooks[index];
            let objects = self.hook_objects(&hook.manifest)?;
            let refs: Vec<ObjectRef> = objects.iter().map(ObjectRef::of).collect();
            let policies = &hook.delete_policies;
            let has = |policy: &str| policies.iter().any(|p| p == policy);
            if policies.is_empty() || has("before-hook-creation") {
                self.delete_and_wait(&refs, timeout).await?;
            }
            hook.last_run = HookRun {
                started_at: Some(jiff::Timestamp::now()),
                completed_at: None,
                phase: "Running".into(),
            };
            let result = match self.applier.apply_all(objects).await {
                Ok(_) if waits_for(&hook.kind) => {
                    self.applier.wait_healthy(&refs, timeout, POLL).await
                }
                Ok(_) => Ok(()),
                Err((e, _)) => Err(e.to_string()),
            };
            hook.last_run.completed_at = Some(jiff::Timestamp::now());
            match result {
                Ok(()) => {
                    hook.last_run.phase = "Succeeded".into();
                    if has("hook-succeeded") {
                        self.delete_and_wait(&refs, timeout).await?;
                    }
                }
                Err(e) => {
                    hook.last_run.phase = "Failed".into();
                    if has("hook-failed") {
                        self.delete_and_wait(&refs, timeout).await?;
                    }
                    return Err(format!("{event} hook {} failed: {e}", hook.path));
                }
            }
        }
        Ok(())
    }

    async fn delete_and_wait(&self, refs: &[ObjectRef], timeout: Duration) -> Result<(), String> {
        let (deleted, failed) = self.applier.delete(refs).await;
        if let Some((_, error)) = failed.first() {
            return Err(error.clone());
        }
        let deleted: Vec<ObjectRef> = deleted.into_iter().map(|c| c.object).collect();
        self.applier.wait_terminated(&deleted, timeout, POLL).await
    }

    /// The release's objects as Helm creates them: in the release namespace unless they
    /// name one, labelled and annotated as Helm's.
    fn objects(&self, manifest: &str) -> Result<Vec<Resource>, String> {
        let mut objects = self.hook_objects(manifest)?;
        for object in &mut objects {
            let metadata = object.metadata_mut();
            insert(metadata, "labels", MANAGED_BY_LABEL, "Helm");
            insert(metadata, "annotations", RELEASE_NAME_ANNOTATION, self.name);
            insert(
                metadata,
                "annotations",
                RELEASE_NAMESPACE_ANNOTATION,
                self.namespace,
            );
        }
        Ok(objects)
    }

    /// The objects of a manifest, in the release namespace unless they name one.
    fn hook_objects(&self, manifest: &str) -> Result<Vec<Resource>, String> {
        let documents = goyaml::parse_stream(manifest).map_err(|e| e.to_string())?;
        let mut objects = Vec::new();
        for document in documents {
            let Value::Object(map) = document else {
                return Err("a manifest document is not an object".into());
            };
            let mut resource = Resource::new(map, String::new());
            if resource.namespace().is_empty() {
                resource.set_namespace(self.namespace);
            }
            objects.push(resource);
        }
        Ok(objects)
    }

    fn crd_objects(&self, crds: &[(String, String)]) -> Result<Vec<Resource>, String> {
        let mut objects = Vec::new();
        for (path, content) in crds {
            for document in goyaml::parse_stream(content).map_err(|e| format!("{path}: {e}"))? {
                let Value::Object(map) = document else {
                    continue;
                };
                let resource = Resource::new(map, path.clone());
                if resource.kind() == "CustomResourceDefinition" {
                    objects.push(resource);
                } else {
                    tracing::warn!(
                        path,
                        kind = resource.kind(),
                        "only CustomResourceDefinitions are applied from crds/"
                    );
                }
            }
        }
        Ok(objects)
    }
}

/// Helm waits for hooks that run something: Jobs to complete, Pods to succeed.
fn waits_for(kind: &str) -> bool {
    matches!(kind, "Job" | "Pod")
}

fn insert(metadata: &mut Map<String, Value>, field: &str, key: &str, value: &str) {
    let entry = metadata
        .entry(field.to_owned())
        .or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry[key] = json!(value);
}

/// The last deployed version.
pub fn deployed(history: &[Release]) -> Option<&Release> {
    history
        .iter()
        .rev()
        .find(|r| r.info.status == Status::Deployed)
}
