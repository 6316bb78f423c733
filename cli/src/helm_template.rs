//! `flux-rs helm template [NAME] CHART`: a chart rendered as `helm template` renders it, by
//! the renderer helm-controller uses, so the two can be diffed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum HelmCommand {
    /// Render a chart locally and print the manifests, as `helm template` does.
    Template(TemplateArgs),
}

#[derive(Args, Debug)]
pub struct TemplateArgs {
    /// The release name and the chart (a directory or a .tgz); with one argument, the chart
    /// and the release name `release-name`.
    #[arg(required = true, num_args = 1..=2, value_names = ["NAME", "CHART"])]
    args: Vec<String>,
    /// Values files, later ones winning (repeatable).
    #[arg(short = 'f', long = "values")]
    values: Vec<PathBuf>,
    /// Values as `a.b=1,c[0]=x` (repeatable).
    #[arg(long = "set")]
    set: Vec<String>,
    /// Values that stay strings (repeatable).
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// Values as JSON: `a.b={"c":1}` or a JSON object (repeatable).
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// The release namespace.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Print the chart's CRDs (crds/) first.
    #[arg(long)]
    include_crds: bool,
    /// Leave out test hooks.
    #[arg(long)]
    skip_tests: bool,
    /// The Kubernetes version templates see.
    #[arg(long)]
    kube_version: Option<String>,
    /// API versions templates see besides the defaults (repeatable, comma-separated).
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    api_versions: Vec<String>,
    /// Only print the output of these templates (paths within the chart, globs allowed).
    #[arg(short = 's', long = "show-only")]
    show_only: Vec<String>,
    /// Render as an upgrade (`.Release.IsUpgrade`).
    #[arg(long)]
    is_upgrade: bool,
    /// Do not check the values against the charts' values.schema.json.
    #[arg(long)]
    skip_schema_validation: bool,
    /// For an oci:// chart: the version or range (the highest matching tag; default: the
    /// highest version).
    #[arg(long)]
    version: Option<String>,
    /// For an oci:// chart: reach the registry over plain HTTP.
    #[arg(long)]
    plain_http: bool,
    /// For an oci:// chart: do not verify the registry's TLS certificate.
    #[arg(long)]
    insecure_skip_tls_verify: bool,
}

impl HelmCommand {
    pub async fn run(self, timeout: std::time::Duration) -> anyhow::Result<()> {
        match self {
            HelmCommand::Template(args) => {
                let text = args.render(timeout).await?;
                std::io::stdout().lock().write_all(text.as_bytes())?;
                Ok(())
            }
        }
    }
}

impl TemplateArgs {
    async fn render(&self, timeout: std::time::Duration) -> anyhow::Result<String> {
        let (name, chart_ref) = match self.args.as_slice() {
            [chart] => ("release-name".to_string(), chart.clone()),
            [name, chart] => (name.clone(), chart.clone()),
            _ => bail!("expected [NAME] CHART"),
        };
        let chart = if chart_ref.starts_with("oci://") {
            self.pull_chart(&chart_ref, timeout).await?
        } else {
            load_chart(Path::new(&chart_ref))?
        };
        let mut values = helm::Map::new();
        for file in &self.values {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let parsed = helm::values::parse_values_file(&file.display().to_string(), &text)
                .map_err(anyhow::Error::msg)?;
            helm::values::merge(&mut values, parsed);
        }
        for json in &self.set_json {
            helm::values::parse_set_json(json, &mut values).map_err(anyhow::Error::msg)?;
        }
        for set in &self.set {
            helm::values::parse_set(set, &mut values, false)
                .map_err(|e| anyhow::anyhow!("failed parsing --set data: {e}"))?;
        }
        for set in &self.set_string {
            helm::values::parse_set(set, &mut values, true)
                .map_err(|e| anyhow::anyhow!("failed parsing --set-string data: {e}"))?;
        }
        let mut options = helm::Options::default();
        options.release.name = name;
        options.release.namespace = self.namespace.clone();
        options.release.is_upgrade = self.is_upgrade;
        if let Some(version) = &self.kube_version {
            options.kube_version = version.clone();
        }
        options.api_versions = self.api_versions.clone();
        options.include_crds = self.include_crds;
        options.skip_tests = self.skip_tests;
        options.show_only = self.show_only.clone();
        options.skip_schema_validation = self.skip_schema_validation;
        Ok(helm::template(&chart, values, &options)?)
    }
}

impl TemplateArgs {
    /// A chart from an OCI registry: the tag `--version` names, or the highest version tag
    /// that matches it (Helm stores `+` in versions as `_` in tags).
    async fn pull_chart(
        &self,
        reference: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<helm::Chart> {
        use artifacts::oci::{ArtifactUrl, ClientOptions, Credentials, RegistryClient, semver};
        const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
        let url: ArtifactUrl = reference.parse()?;
        if url.has_explicit_tag() || url.digest().is_some() {
            bail!("{reference}: give the chart version with --version, not in the reference");
        }
        let options = ClientOptions {
            credentials: Credentials::from_docker_config(url.registry()),
            insecure: self.plain_http || self.insecure_skip_tls_verify,
            timeout,
            max_blob_size: helm::chart::MAX_ARCHIVE_BYTES,
            ..ClientOptions::default()
        };
        let client = RegistryClient::new(url.registry(), options)?;
        let wanted = self.version.clone().unwrap_or_default();
        let exact = semver::parse_version(&wanted).is_some()
            && !wanted.starts_with(['<', '>', '=', '~', '^', '!']);
        let tag = if exact {
            wanted.replace('+', "_")
        } else {
            let range = if wanted.is_empty() {
                "*"
            } else {
                wanted.as_str()
            };
            let constraint = semver::Constraint::parse(range)?;
            let tags: Vec<String> = client
                .list_tags(&url)
                .await?
                .iter()
                .map(|t| t.replace('_', "+"))
                .collect();
            let (tag, _) = semver::highest_match(&constraint, tags.iter().map(String::as_str))
                .with_context(|| format!("{reference}: no version tag matches {range:?}"))?;
            tag.replace('+', "_")
        };
        let mut archive = Vec::new();
        let progress: artifacts::oci::Progress = std::sync::Arc::new(|_| {});
        client
            .pull_layer(
                &url.with_tag(&tag),
                Some(CHART_LAYER),
                &mut archive,
                &progress,
            )
            .await
            .with_context(|| format!("pulling {reference}:{tag}"))?;
        helm::Chart::load_archive(&archive)
            .with_context(|| format!("loading chart {reference}:{tag}"))
    }
}

fn load_chart(path: &Path) -> anyhow::Result<helm::Chart> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("reading chart {}", path.display()))?;
    if meta.is_dir() {
        return helm::Chart::load_dir(path)
            .with_context(|| format!("loading chart {}", path.display()));
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading chart {}", path.display()))?;
    helm::Chart::load_archive(&bytes).with_context(|| format!("loading chart {}", path.display()))
}
