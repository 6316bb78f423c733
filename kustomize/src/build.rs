//! Walking kustomizations: resources, bases and components, generators, then transformers in
//! kustomize's order; hash suffixes, name references and sorting once at the end.

use crate::Error;
use crate::config::TransformerConfig;
use crate::fieldspec::{self, FieldSpec};
use crate::generator::{self, FileSource, GeneratedKind};
use crate::kustomization::{FILE_NAMES, Kustomization, Labels, Patch, SortOrder};
use crate::nameref;
use crate::openapi::OpenApi;
use crate::patch::{self, Field as PatchField, PatchBody};
use crate::plugin;
use crate::replacement;
use crate::resource::{Behavior, Resource};
use crate::sort;
use crate::transform;
use crate::vars::{self, VarSet};
use crate::yaml;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Where a build may read.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Nothing outside this directory is read, whatever the kustomizations say (Flux builds
    /// inside the artifact). `None`: kustomize's own rules only.
    pub root: Option<PathBuf>,
    /// Leave objects in input order, as Flux's build does (kustomize sorts by default).
    pub unsorted: bool,
    /// Flux's changes to the top-level kustomization (generated when there is none).
    pub flux: Option<crate::flux::Overlay>,
}

/// Builds `dir` like `kustomize build dir`.
pub fn build(dir: &Path) -> Result<Vec<Resource>, Error> {
    build_with(dir, &BuildOptions::default())
}

pub fn build_with(dir: &Path, options: &BuildOptions) -> Result<Vec<Resource>, Error> {
    let display_base = options.root.clone().unwrap_or_else(|| dir.to_path_buf());
    let root = match &options.root {
        Some(root) => Some(
            root.canonicalize()
                .map_err(|e| Error::new(root.display().to_string(), e.to_string()))?,
        ),
        None => None,
    };
    let mut builder = Builder {
        root,
        display_base: display_base
            .canonicalize()
            .unwrap_or(display_base.to_path_buf()),
        stack: Vec::new(),
        top_order: if options.unsorted {
            SortOrder::Fifo
        } else {
            SortOrder::Legacy
        },
        flux: options.flux.clone(),
        vars: VarSet::default(),
        openapi: OpenApi::default(),
    };
    let dir = builder.checked_dir(dir, dir)?;
    let mut config = TransformerConfig::default();
    let mut resources = builder.build_dir(&dir, Level::Kustomization, Vec::new(), &mut config)?;
    for resource in resources.iter_mut().filter(|r| r.needs_hash) {
        resource.store_previous_id();
        let hashed = format!("{}-{}", resource.name(), generator::content_hash(resource));
        resource.set_name(hashed);
    }
    nameref::check_walked_paths(&resources)?;
    nameref::fix_references(&mut resources, &config.name_reference)?;
    // Vars last, as kustomize: their values are the final names.
    let var_reference: Vec<FieldSpec> =
        TransformerConfig::with_builtin(fieldspec::VAR_REFERENCE, &config.var_reference)
            .cloned()
            .collect();
    vars::resolve(&builder.vars, &mut resources, &var_reference)?;
    for resource in &resources {
        resource
            .check_identity()
            .map_err(|e| Error::new(&resource.origin, e))?;
    }
    for resource in resources.iter_mut() {
        resource.drop_empty_annotations();
        resource.stringify_annotations();
    }
    if builder.top_order == SortOrder::Legacy {
        sort::legacy_sort(&mut resources);
    }
    Ok(resources)
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Kustomization,
    Component,
}

struct Builder {
    root: Option<PathBuf>,
    display_base: PathBuf,
    /// Directories being built, for cycle detection.
    stack: Vec<PathBuf>,
    top_order: SortOrder,
    flux: Option<crate::flux::Overlay>,
    /// The vars declared by the kustomization being built, its components and bases.
    vars: VarSet,
    /// The schema strategic merge patches use, one for the whole build as in kustomize.
    /// Dropped with the builder at the end of the build, which ends what it published.
    openapi: OpenApi,
}

impl Builder {
    fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.display_base)
            .map(|p| {
                if p.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    p.display().to_string()
                }
            })
            .unwrap_or_else(|_| path.display().to_string())
    }

    /// A directory that may be read: resolved (symlinks included) and inside the root.
    fn checked_dir(&self, dir: &Path, named_as: &Path) -> Result<PathBuf, Error> {
        let canonical = dir.canonicalize().map_err(|e| {
            Error::new(
                named_as.display().to_string(),
                format!("cannot read directory: {e}"),
            )
        })?;
        if let Some(root) = &self.root
            && !canonical.starts_with(root)
        {
            return Err(Error::new(
                named_as.display().to_string(),
                format!(
                    "security; directory '{}' is not in or below the build root '{}'",
                    canonical.display(),
                    root.display()
                ),
            ));
        }
        Ok(canonical)
    }

    /// A file referenced by the kustomization in `dir`: it must resolve inside `dir`.
    fn checked_file(&self, dir: &Path, relative: &str, file: &str) -> Result<PathBuf, Error> {
        let joined = dir.join(relative);
        let canonical = joined
            .canonicalize()
            .map_err(|e| Error::new(file, format!("cannot read '{relative}': {e}")))?;
        if !canonical.starts_with(dir) {
            return Err(Error::new(
                file,
                format!(
                    "security; file '{}' is not in or below '{}'",
                    canonical.display(),
                    dir.display()
                ),
            ));
        }
        Ok(canonical)
    }

    fn read_kustomization(&self, dir: &Path) -> Result<(Kustomization, String), Error> {
        let Some(path) = FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
            return Err(Error::new(
                self.display(dir),
                "unable to find one of 'kustomization.yaml', 'kustomization.yml' or \
                 'Kustomization' in directory",
            ));
        };
        let file = self.display(&path);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::new(&file, e.to_string()))?;
        let kustomization = parse_kustomization(&text).map_err(|e| Error::new(&file, e))?;
        Ok((kustomization, file))
    }

    /// Builds the kustomization (or component) in `dir` on top of `resources`; `config`
    /// gathers the transformer configuration it and everything under it add.
    fn build_dir(
        &mut self,
        dir: &Path,
        level: Level,
        mut resources: Vec<Resource>,
        config: &mut TransformerConfig,
    ) -> Result<Vec<Resource>, Error> {
        if self.stack.iter().any(|d| d == dir) {
            let cycle: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&dir.to_path_buf()))
                .map(|d| self.display(d))
                .collect();
            return Err(Error::new(
                self.display(dir),
                format!("cycle between kustomizations: {}", cycle.join(" -> ")),
            ));
        }
        self.stack.push(dir.to_path_buf());
        let result = self.build_kustomization(dir, level, &mut resources, config);
        self.stack.pop();
        result.map(|()| resources)
    }

    fn build_kustomization(
        &mut self,
        dir: &Path,
        level: Level,
        resources: &mut Vec<Resource>,
        config: &mut TransformerConfig,
    ) -> Result<(), Error> {
        let (k, file) = match self.flux.take() {
            // Only the top-level kustomization, the first one read.
            Some(overlay) => {
                let (k, file) = if FILE_NAMES.iter().any(|n| dir.join(n).is_file()) {
                    self.read_kustomization(dir)?
                } else {
                    let generated = crate::flux::generate_kustomization(dir, &|p| self.display(p))?;
                    (
                        generated,
                        format!("{}/kustomization.yaml (generated)", self.display(dir)),
                    )
                };
                (
                    overlay.apply(k, dir).map_err(|e| Error::new(&file, e))?,
                    file,
                )
            }
            None => self.read_kustomization(dir)?,
        };
        let unsupported = k.unsupported_fields();
        if let Some(field) = unsupported.first() {
            return Err(Error::new(
                &file,
                format!("field '{field}' is not supported by flux-rs (see docs/compatibility.md)"),
            ));
        }
        self.choose_openapi(dir, &k, &file)?;
        self.check_kind(&k, level, dir, &file)?;
        if self.stack.len() == 1
            && let Some(options) = &k.sort_options
        {
            self.top_order = options.order;
        }

        let mut known: HashSet<IdentityKey> = resources.iter().map(identity_key).collect();
        for entry in k.resources.iter().chain(k.bases.iter()) {
            let loaded = self.load_resource_entry(dir, entry, "resources", &file, config)?;
            for resource in loaded {
                check_new_id(&mut known, &resource, &file)?;
                resources.push(resource);
            }
        }
        self.read_configurations(dir, &k, &file, config)?;
        self.read_crds(dir, &k, &file, config)?;
        // kustomize generates before it takes components in: a component's replacements and
        // generators (`behavior: merge`) see what this kustomization generates.
        let generators = self.plugin_configs(dir, &k.generators, "generators", &file)?;
        self.run_generators(dir, &k, &file, resources, &generators)?;
        for entry in &k.components {
            let component = self.entry_dir(dir, entry, &file)?;
            let taken = std::mem::take(resources);
            *resources = self.build_dir(&component, Level::Component, taken, config)?;
        }
        let transformers = self.plugin_configs(dir, &k.transformers, "transformers", &file)?;
        self.run_transformers(dir, &k, &file, resources, config, &transformers)?;
        vars::declare(&mut self.vars, &k.vars, resources, &file)
    }

    /// kustomize's rules for `kind` and `apiVersion`: Kustomization (or none) at
    /// `kustomize.config.k8s.io/v1beta1`, or Component at `.../v1alpha1` (or none); a
    /// Component only under `components` or as the directory built, which then builds as a
    /// Kustomization.
    fn check_kind(
        &self,
        k: &Kustomization,
        level: Level,
        dir: &Path,
        file: &str,
    ) -> Result<(), Error> {
        let kind = k.kind.as_deref().filter(|k| !k.is_empty());
        let kind = kind.unwrap_or("Kustomization");
        let mut problems = Vec::new();
        if kind != "Kustomization" && kind != "Component" {
            problems.push("kind should be Kustomization or Component".to_string());
        }
        let required = if kind == "Component" {
            "kustomize.config.k8s.io/v1alpha1"
        } else {
            "kustomize.config.k8s.io/v1beta1"
        };
        let api_version = k.api_version.as_deref().unwrap_or("");
        if !api_version.is_empty() && api_version != required {
            problems.push(format!("apiVersion for {kind} should be {required}"));
        }
        if !problems.is_empty() {
            return Err(Error::new(file, problems.join("; ")));
        }
        let top = self.stack.len() == 1;
        let problem = match (level, kind) {
            (Level::Kustomization, "Component") if !top => format!(
                "expected kind != 'Component' for path '{}' (components go under 'components')",
                self.display(dir)
            ),
            (Level::Component, "Kustomization") => format!(
                "expected kind 'Component' for path '{}' but got 'Kustomization'",
                self.display(dir)
            ),
            _ => return Ok(()),
        };
        Err(Error::new(file, problem))
    }

    /// A `resources`/`bases`/`components` entry naming a directory.
    fn entry_dir(&self, dir: &Path, entry: &str, file: &str) -> Result<PathBuf, Error> {
        if is_remote(entry) {
            return Err(remote_error(entry, file));
        }
        let path = dir.join(entry);
        if !path.is_dir() {
            return Err(Error::new(
                file,
                format!("'{entry}' is not a directory with a kustomization"),
            ));
        }
        self.checked_dir(&path, Path::new(file))
    }

    /// A `resources` (or `bases`, or plugin configuration) entry: a file or a directory.
    fn load_resource_entry(
        &mut self,
        dir: &Path,
        entry: &str,
        field: &str,
        file: &str,
        config: &mut TransformerConfig,
    ) -> Result<Vec<Resource>, Error> {
        if is_remote(entry) {
            return Err(remote_error(entry, file));
        }
        let path = dir.join(entry);
        if path.is_dir() {
            let sub = self.checked_dir(&path, Path::new(file))?;
            // A base has vars and transformer configuration of its own; they join ours
            // once it is built.
            let outer = std::mem::take(&mut self.vars);
            let mut sub_config = TransformerConfig::default();
            let built = self.build_dir(&sub, Level::Kustomization, Vec::new(), &mut sub_config);
            let base_vars = std::mem::replace(&mut self.vars, outer);
            let built = built?;
            self.vars.absorb(base_vars).map_err(|e| {
                Error::new(file, format!("recursed merging from path '{entry}': {e}"))
            })?;
            config
                .merge(sub_config)
                .map_err(|e| Error::new(file, format!("{field}: '{entry}': {e}")))?;
            return Ok(built);
        }
        if !path.exists() {
            return Err(Error::new(
                file,
                format!("{field}: '{entry}' does not exist"),
            ));
        }
        let path = self.checked_file(dir, entry, file)?;
        if let Some(root) = &self.root
            && !path.starts_with(root)
        {
            return Err(Error::new(
                file,
                format!("security; '{entry}' is outside the build root"),
            ));
        }
        let loaded = self.load_file(&path)?;
        for resource in &loaded {
            let api_version = resource.object.get("apiVersion").and_then(Value::as_str);
            self.openapi
                .type_seen(api_version.unwrap_or(""), resource.kind())?;
        }
        Ok(loaded)
    }

    fn load_file(&self, path: &Path) -> Result<Vec<Resource>, Error> {
        let shown = self.display(path);
        let text = std::fs::read_to_string(path).map_err(|e| Error::new(&shown, e.to_string()))?;
        objects_from_text(&text, &shown)
    }

    /// `generators`/`transformers` entries as kustomize gathers them: an entry that reads as
    /// objects is inline configuration, and those come first; the others are files or
    /// kustomization directories (built on their own, their objects the configurations),
    /// read after them. Two configurations may not have the same id.
    fn plugin_configs(
        &mut self,
        dir: &Path,
        entries: &[String],
        field: &str,
        file: &str,
    ) -> Result<Vec<plugin::Config>, Error> {
        let mut configs = Vec::new();
        let mut paths = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let label = format!("inline entry #{}", index + 1);
            match objects_from_text(entry, file) {
                Ok(objects) => configs.extend(objects.into_iter().map(|object| plugin::Config {
                    entry: label.clone(),
                    object,
                })),
                // No path has a line break: say why the configuration was not read.
                Err(e) if entry.contains('\n') => {
                    return Err(Error::new(file, format!("{field}: {label}: {}", e.message)));
                }
                Err(_) => paths.push(entry),
            }
        }
        for entry in paths {
            // What a directory declares (vars, field tables) stays with its configurations.
            let outer = std::mem::take(&mut self.vars);
            let mut discarded = TransformerConfig::default();
            let loaded = self.load_resource_entry(dir, entry, field, file, &mut discarded);
            self.vars = outer;
            // Errors about other files get the entry that led to them.
            let loaded = loaded.map_err(|e| match e.file == file {
                true => e,
                false => Error::new(file, format!("{field}: '{entry}': {e}")),
            })?;
            configs.extend(loaded.into_iter().map(|object| plugin::Config {
                entry: format!("'{entry}'"),
                object,
            }));
        }
        let mut known = HashSet::new();
        for config in &configs {
            check_new_id(&mut known, &config.object, file)
                .map_err(|e| Error::new(file, format!("{field}: {}", e.message)))?;
        }
        Ok(configs)
    }

    /// `configMapGenerator`, `secretGenerator`, then the generator plugins (configured
    /// before any runs, as kustomize); each generated object joins or, by its behavior,
    /// merges into or replaces the object of its id.
    fn run_generators(
        &self,
        dir: &Path,
        k: &Kustomization,
        file: &str,
        resources: &mut Vec<Resource>,
        plugins: &[plugin::Config],
    ) -> Result<(), Error> {
        let files = DirFiles {
            builder: self,
            dir,
            file,
        };
        let mut configured = Vec::with_capacity(plugins.len());
        for config in plugins {
            let (kind, args) = plugin::generator(config)
                .map_err(|e| Error::new(file, format!("generators: {}: {e}", config.describe())))?;
            configured.push((kind, format!("generators: {}", config.describe()), args));
        }
        let global = k.generator_options.as_ref();
        let entries = k
            .config_map_generator
            .iter()
            .map(|g| (GeneratedKind::ConfigMap, "configMapGenerator", g, global))
            .chain(
                k.secret_generator
                    .iter()
                    .map(|g| (GeneratedKind::Secret, "secretGenerator", g, global)),
            )
            // kustomize does not apply `generatorOptions` to plugins.
            .chain(
                configured
                    .iter()
                    .map(|(kind, field, g)| (*kind, field.as_str(), g, None)),
            );
        for (kind, field, entry, global) in entries {
            let generated =
                generator::generate(kind, entry, global, &files, file).map_err(|e| {
                    Error::new(
                        file,
                        format!("{field} '{}': {e}", entry.name.as_deref().unwrap_or("")),
                    )
                })?;
            let id = generated.id();
            // kustomize looks among every id an object has had (the ids its namespace,
            // prefix and suffix transformers recorded): a base's `namespace` moved the
            // object, the generator still names it where it was.
            let had_id = |r: &Resource| {
                r.all_ids().iter().any(|had| {
                    had.gvk == id.gvk
                        && had.name == id.name
                        && had.effective_namespace() == id.effective_namespace()
                })
            };
            if resources.iter().filter(|r| had_id(r)).count() > 1 {
                return Err(Error::new(
                    file,
                    format!(
                        "{field} '{}': found multiple objects that could accept merge of {id}",
                        id.name
                    ),
                ));
            }
            let existing = resources.iter_mut().find(|r| had_id(r));
            match (generated.behavior, existing) {
                (Behavior::Create, None) => resources.push(generated),
                (Behavior::Create, Some(_)) => {
                    return Err(Error::new(
                        file,
                        format!(
                            "{field} '{}': an object with this id already exists ({id}); use behavior merge or replace",
                            id.name
                        ),
                    ));
                }
                (behavior, Some(existing)) => {
                    generator::combine(existing, &generated, behavior == Behavior::Replace)
                }
                (_, None) => {
                    return Err(Error::new(
                        file,
                        format!(
                            "{field} '{}': id {id} does not exist; cannot merge or replace",
                            id.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn read_patch(
        &self,
        dir: &Path,
        entry: &Patch,
        field: &str,
        file: &str,
    ) -> Result<PatchBody, Error> {
        let files = DirFiles {
            builder: self,
            dir,
            file,
        };
        let text = patch::entry_text(entry, &|path| files.text(path))
            .map_err(|e| Error::new(file, format!("{field}: {e}")))?;
        patch::parse(&text)
            .map_err(|e| Error::new(file, format!("{field}: {}: {e}", patch_source(entry))))
    }

    /// `configurations`: transformer configuration files, added to `config`.
    fn read_configurations(
        &self,
        dir: &Path,
        k: &Kustomization,
        file: &str,
        config: &mut TransformerConfig,
    ) -> Result<(), Error> {
        for path in &k.configurations {
            let resolved = self.checked_file(dir, path, file)?;
            let text = std::fs::read_to_string(&resolved)
                .map_err(|e| Error::new(file, format!("configurations: '{path}': {e}")))?;
            TransformerConfig::parse(&text)
                .and_then(|added| config.merge(added))
                .map_err(|e| Error::new(file, format!("configurations: '{path}': {e}")))?;
        }
        Ok(())
    }

    /// `crds`: OpenAPI definition files whose extensions add to `config` (after
    /// `configurations`, as kustomize merges them).
    fn read_crds(
        &self,
        dir: &Path,
        k: &Kustomization,
        file: &str,
        config: &mut TransformerConfig,
    ) -> Result<(), Error> {
        for path in &k.crds {
            let resolved = self
                .checked_file(dir, path, file)
                .map_err(|e| Error::new(file, format!("crds: {}", e.message)))?;
            let text = std::fs::read_to_string(&resolved)
                .map_err(|e| Error::new(file, format!("crds: '{path}': {e}")))?;
            let added = crate::crds::parse(&text).map_err(|e| {
                Error::new(
                    file,
                    format!("crds: unable to parse open API definition from '{path}': {e}"),
                )
            })?;
            config
                .merge(added)
                .map_err(|e| Error::new(file, format!("crds: '{path}': {e}")))?;
        }
        Ok(())
    }

    /// `openapi`: the schema for the build, when no kustomization chose one before (the top
    /// one always chooses). A `path` is read even when unused, as kustomize reads it.
    fn choose_openapi(&mut self, dir: &Path, k: &Kustomization, file: &str) -> Result<(), Error> {
        let Some(field) = &k.open_api else {
            return Ok(());
        };
        let schema = match field.get("path") {
            Some(path) if is_remote(path) => {
                return Err(Error::new(
                    file,
                    format!(
                        "openapi: remote schema '{path}' is not allowed: flux-rs reads no network"
                    ),
                ));
            }
            Some(path) => {
                let resolved = self
                    .checked_file(dir, path, file)
                    .map_err(|e| Error::new(file, format!("openapi: {}", e.message)))?;
                let text = std::fs::read_to_string(&resolved)
                    .map_err(|e| Error::new(file, format!("openapi: '{path}': {e}")))?;
                Some((text, path.as_str()))
            }
            None => None,
        };
        let top = self.stack.len() == 1;
        self.openapi.set(field, schema, file, top)
    }

    /// The kustomization's transformers in kustomize's order, then the transformer plugins
    /// in the order their configurations were gathered.
    fn run_transformers(
        &mut self,
        dir: &Path,
        k: &Kustomization,
        file: &str,
        resources: &mut Vec<Resource>,
        config: &TransformerConfig,
        plugins: &[plugin::Config],
    ) -> Result<(), Error> {
        // kustomize configures every transformer (reading replacement files, plugins'
        // patches) before any runs.
        let files = DirFiles {
            builder: self,
            dir,
            file,
        };
        let read = |path: &str| files.text(path);
        let replacements =
            replacement::load(&k.replacements, &read).map_err(|e| Error::new(file, e))?;
        let plugin_error = |c: &plugin::Config, e| {
            Error::new(file, format!("transformers: {}: {e}", c.describe()))
        };
        let mut configured = Vec::with_capacity(plugins.len());
        for config in plugins {
            configured
                .push(plugin::transformer(config, &read).map_err(|e| plugin_error(config, e))?);
        }
        for entry in &k.patches_strategic_merge {
            // An entry is a file path, or the patch itself written inline.
            let as_patch = if dir.join(entry).is_file() {
                Patch {
                    path: Some(entry.clone()),
                    ..Patch::default()
                }
            } else {
                Patch {
                    patch: Some(entry.clone()),
                    ..Patch::default()
                }
            };
            let body = self.read_patch(dir, &as_patch, "patchesStrategicMerge", file)?;
            let field = PatchField::PatchesStrategicMerge;
            apply_patch(
                resources,
                (&body, &as_patch),
                field,
                file,
                &mut self.openapi,
            )?;
        }
        for entry in &k.patches {
            let body = self.read_patch(dir, entry, "patches", file)?;
            let field = PatchField::Patches;
            apply_patch(resources, (&body, entry), field, file, &mut self.openapi)?;
        }
        namespace_and_affixes(k, config, resources);
        for labels in &k.labels {
            let specs = label_specs(labels, config).map_err(|e| Error::new(file, e))?;
            transform::add_pairs(resources, &specs, &transform::pairs(&labels.pairs));
        }
        transform::add_pairs(
            resources,
            TransformerConfig::with_builtin(fieldspec::COMMON_LABELS, &config.common_labels),
            &transform::pairs(&k.common_labels),
        );
        transform::add_pairs(
            resources,
            TransformerConfig::with_builtin(
                fieldspec::COMMON_ANNOTATIONS,
                &config.common_annotations,
            ),
            &transform::pairs(&k.common_annotations),
        );
        for entry in &k.patches_json6902 {
            let body = self.read_patch(dir, entry, "patchesJson6902", file)?;
            if entry.target.is_none() {
                return Err(Error::new(
                    file,
                    "patchesJson6902: each entry needs a target",
                ));
            }
            let field = PatchField::PatchesJson6902;
            apply_patch(resources, (&body, entry), field, file, &mut self.openapi)?;
        }
        for replica in &k.replicas {
            let specs = TransformerConfig::with_builtin(fieldspec::REPLICAS, &config.replicas);
            if !transform::set_replicas(resources, &replica.name, replica.count, specs) {
                return Err(Error::new(
                    file,
                    format!(
                        "replicas: no Deployment, ReplicaSet, ReplicationController or StatefulSet named '{}'",
                        replica.name
                    ),
                ));
            }
        }
        let image_specs = TransformerConfig::with_builtin(fieldspec::IMAGES, &config.images);
        transform::set_images(resources, &k.images, image_specs)
            .map_err(|e| Error::new(file, e))?;
        replacement::apply(&replacements, resources).map_err(|e| Error::new(file, e))?;
        for (config, transformer) in plugins.iter().zip(&configured) {
            plugin::apply(transformer, resources, &mut self.openapi)
                .map_err(|e| plugin_error(config, e))?;
        }
        Ok(())
    }
}

/// `namespace`, then `namePrefix` and `nameSuffix` (each only when not empty, as kustomize
/// configures them), with kustomize's field tables and what `configurations` added.
fn namespace_and_affixes(
    k: &Kustomization,
    config: &TransformerConfig,
    resources: &mut [Resource],
) {
    if let Some(namespace) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
        let specs = TransformerConfig::with_builtin(fieldspec::NAMESPACE, &config.namespace);
        let options = transform::Namespace {
            namespace,
            specs: specs.collect(),
            unset_only: false,
            subjects: transform::Subjects::DefaultOnly,
        };
        transform::set_namespace(resources, &options);
    }
    let prefix_specs: Vec<FieldSpec> =
        TransformerConfig::with_builtin(fieldspec::NAME, &config.name_prefix)
            .cloned()
            .collect();
    let suffix_specs: Vec<FieldSpec> =
        TransformerConfig::with_builtin(fieldspec::NAME, &config.name_suffix)
            .cloned()
            .collect();
    let affixes: Vec<transform::Affix> = [
        k.name_prefix
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| transform::Affix::Prefix(p, &prefix_specs)),
        k.name_suffix
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| transform::Affix::Suffix(s, &suffix_specs)),
    ]
    .into_iter()
    .flatten()
    .collect();
    transform::add_name_affixes(resources, &affixes);
}

/// The fields one `labels` entry writes, as kustomize chooses them: its own `fields` and
/// the configured `labels` table, then the selector table, or metadata (and templates, when
/// asked).
fn label_specs(labels: &Labels, config: &TransformerConfig) -> Result<Vec<FieldSpec>, String> {
    let mut tables: Vec<(&[FieldSpec], &[FieldSpec])> =
        vec![(&labels.fields, &[]), (&config.labels, &[])];
    if labels.include_selectors {
        tables.push((fieldspec::COMMON_LABELS, &config.common_labels));
    } else {
        if labels.include_templates {
            tables.push((fieldspec::TEMPLATE_LABELS, &config.template_labels));
        }
        tables.push((fieldspec::METADATA_LABELS, &[]));
    }
    let mut specs = Vec::new();
    for (builtin, added) in tables {
        for spec in TransformerConfig::with_builtin(builtin, added) {
            fieldspec::merge_spec(&mut specs, &[], spec.clone())?;
        }
    }
    Ok(specs)
}

/// A patch entry as errors name it: its file, or "inline patch".
fn patch_source(entry: &Patch) -> &str {
    entry.path.as_deref().unwrap_or("inline patch")
}

fn apply_patch(
    resources: &mut Vec<Resource>,
    (body, entry): (&PatchBody, &Patch),
    field: PatchField,
    file: &str,
    openapi: &mut OpenApi,
) -> Result<(), Error> {
    patch::apply_dropping_deleted(resources, body, entry.target.as_ref(), field, openapi).map_err(
        |failure| {
            let e = match failure {
                patch::Failure::Patch(e) => e,
                patch::Failure::Schema(error) => return error,
            };
            let name = match field {
                PatchField::Patches => "patches",
                PatchField::PatchesStrategicMerge => "patchesStrategicMerge",
                PatchField::PatchesJson6902 => "patchesJson6902",
            };
            Error::new(file, format!("{name}: {}: {e}", patch_source(entry)))
        },
    )
}

/// kustomize's refusal of a second object with an id already loaded.
fn check_new_id(
    known: &mut HashSet<IdentityKey>,
    resource: &Resource,
    file: &str,
) -> Result<(), Error> {
    if known.insert(identity_key(resource)) {
        return Ok(());
    }
    Err(Error::new(
        file,
        format!(
            "may not add resource with an already registered id: {} (from {})",
            resource.id(),
            resource.origin
        ),
    ))
}

/// What makes two objects the same object to kustomize: group, version, kind, effective
/// namespace and name (so one kind may be given in two versions).
type IdentityKey = (crate::resource::Gvk, String, String);

fn identity_key(resource: &Resource) -> IdentityKey {
    let id = resource.id();
    let namespace = id.effective_namespace().to_string();
    (id.gvk, namespace, id.name)
}

/// The objects of a YAML stream (a `kind: List` gives its items); each needs a kind and a
/// name, as kustomize's loading has it.
fn objects_from_text(text: &str, shown: &str) -> Result<Vec<Resource>, Error> {
    let shown = shown.to_string();
    let documents = yaml::parse_stream_marking_empty(text)
        .map_err(|e| Error::new(&shown, format!("invalid YAML: {e}")))?;
    let mut out = Vec::new();
    for (index, (document, empty_fields)) in documents.into_iter().enumerate() {
        let Value::Object(map) = document else {
            return Err(Error::new(
                &shown,
                format!("document {} is not a map", index + 1),
            ));
        };
        let is_list = map
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && map.get("items").is_some_and(Value::is_array);
        // kustomize takes a List's items apart through JSON: their fields written with no
        // value become `null`, kept by strategic merge patches.
        let objects: Vec<(Map<String, Value>, Vec<yaml::Path>)> = if is_list {
            match map.get("items") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.as_object().map(|o| (o.clone(), Vec::new())))
                    .collect(),
                _ => Vec::new(),
            }
        } else {
            vec![(map, empty_fields)]
        };
        for (object, empty_fields) in objects {
            let mut resource = Resource::new(object, shown.clone());
            resource.empty_fields = empty_fields;
            if resource.kind().is_empty() {
                return Err(Error::new(
                    &shown,
                    format!("document {}: missing field 'kind'", index + 1),
                ));
            }
            if resource.name().is_empty() {
                return Err(Error::new(
                    &shown,
                    format!(
                        "document {} ({}): missing field 'metadata.name'",
                        index + 1,
                        resource.kind()
                    ),
                ));
            }
            out.push(resource);
        }
    }
    Ok(out)
}

fn parse_kustomization(text: &str) -> Result<Kustomization, String> {
    let value: Value = match yaml::parse_stream(text)
        .map_err(|e| format!("invalid YAML: {e}"))?
        .pop()
    {
        Some(v) => v,
        None => return Err(EMPTY_KUSTOMIZATION.into()),
    };
    let value = match value {
        // A field written without a value (`patches:`) is no field, as kustomize reads it.
        Value::Object(mut fields) => {
            fields.retain(|_, v| !v.is_null());
            if fields.keys().all(|k| k == "apiVersion" || k == "kind") {
                return Err(EMPTY_KUSTOMIZATION.into());
            }
            Value::Object(fields)
        }
        other => other,
    };
    serde_json::from_value(value).map_err(|e| format!("invalid kustomization: {e}"))
}

/// kustomize's words for a kustomization that asks for nothing.
const EMPTY_KUSTOMIZATION: &str = "kustomization.yaml is empty";

fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
}

fn remote_error(entry: &str, file: &str) -> Error {
    Error::new(
        file,
        format!(
            "remote resource '{entry}' is not allowed: remote bases are disabled (--no-remote-bases)"
        ),
    )
}

/// Generator files, read under the kustomization's directory.
struct DirFiles<'a> {
    builder: &'a Builder,
    dir: &'a Path,
    file: &'a str,
}

impl DirFiles<'_> {
    fn text(&self, path: &str) -> Result<String, String> {
        String::from_utf8(self.read(path)?).map_err(|_| format!("'{path}' is not valid UTF-8"))
    }
}

impl FileSource for DirFiles<'_> {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let resolved = self
            .builder
            .checked_file(self.dir, path, self.file)
            .map_err(|e| e.message)?;
        std::fs::read(&resolved).map_err(|e| format!("'{path}': {e}"))
    }
}
