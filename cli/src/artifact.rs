//! `push|pull|tag|list|build|diff artifact`: the flux CLI's OCI artifact commands.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use artifacts::archive::{self, DigestWriter, ExtractLimits, ModePolicy, TarOptions};
use artifacts::oci::{
    self, ArtifactMetadata, ArtifactUrl, ClientOptions, Credentials, RegistryClient,
};
use artifacts::sourceignore::{IgnoreRules, default_cli_patterns};
use clap::{Args, Subcommand, ValueEnum};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::ui;

/// How the registry is reached and who we are to it.
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Credentials for the registry: <username>[:<password>], or a token.
    #[arg(long)]
    creds: Option<String>,
    /// The OCI provider name (generic; the cloud providers are not supported yet).
    #[arg(long, default_value = "generic")]
    provider: String,
    /// Allow plain HTTP and unverified TLS connections to the registry.
    #[arg(long)]
    insecure_registry: bool,
}

impl RegistryArgs {
    fn client(&self, url: &ArtifactUrl, timeout: Duration) -> Result<RegistryClient> {
        if self.provider != "generic" {
            bail!(
                "--provider={} is not supported by flux-rs yet: use --provider=generic with --creds \
                 or a docker config",
                self.provider
            );
        }
        let credentials = match &self.creds {
            Some(creds) => Credentials::from_creds_flag(creds),
            None => Credentials::from_docker_config(url.registry()),
        };
        let options = ClientOptions {
            credentials,
            insecure: self.insecure_registry,
            timeout,
            ..ClientOptions::default()
        };
        Ok(RegistryClient::new(url.registry(), options)?)
    }
}

/// Which files go into the artifact.
#[derive(Args, Debug, Clone)]
pub struct IgnoreArgs {
    /// Ignore paths (gitignore patterns), replacing the defaults.
    #[arg(long, value_delimiter = ',')]
    ignore_paths: Option<Vec<String>>,
    /// Ignore paths added to the defaults (or to --ignore-paths).
    #[arg(long, value_delimiter = ',')]
    add_ignore_paths: Vec<String>,
    /// Archive the targets of symlinks instead of leaving the links out.
    #[arg(long)]
    resolve_symlinks: bool,
}

impl IgnoreArgs {
    fn patterns(&self) -> Vec<String> {
        let mut patterns = self
            .ignore_paths
            .clone()
            .unwrap_or_else(default_cli_patterns);
        patterns.extend(self.add_ignore_paths.iter().cloned());
        patterns
    }
}

#[derive(Subcommand, Debug)]
pub enum PushCommand {
    /// Push a directory or file to an OCI repository as a Flux artifact.
    Artifact(PushArtifact),
}

#[derive(Args, Debug)]
pub struct PushArtifact {
    /// oci://<registry>/<repository>:<tag>
    url: String,
    /// Directory or file to push; `-` reads one file from stdin.
    #[arg(short = 'f', long)]
    path: String,
    /// Source address, e.g. the Git URL.
    #[arg(long)]
    source: String,
    /// Source revision, in the format <branch|tag>@sha1:<commit-sha>.
    #[arg(long)]
    revision: String,
    /// Extra annotations, key=value (repeatable).
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    /// Use a fixed creation time so the same content gives the same digest.
    #[arg(long)]
    reproducible: bool,
    /// Print the pushed artifact's details in this format on stdout.
    #[arg(short = 'o', long)]
    output: Option<OutputFormat>,
    #[command(flatten)]
    ignore: IgnoreArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OutputFormat {
    Json,
    Yaml,
}

#[derive(Serialize)]
struct PushOutput {
    url: String,
    repository: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    digest: String,
}

impl PushCommand {
    pub async fn run(self, timeout: Duration) -> Result<()> {
        let Self::Artifact(args) = self;
        let url: ArtifactUrl = args.url.parse()?;
        let annotations = parse_annotations(&args.annotations)?;
        let created = if args.reproducible {
            "1970-01-01T00:00:00Z".to_owned()
        } else {
            jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let metadata = ArtifactMetadata {
            created,
            source: Some(args.source.clone()),
            revision: Some(args.revision.clone()),
            annotations,
        };
        let layer = build_layer(&args.path, &args.ignore)?;
        let client = args.registry.client(&url, timeout)?;
        ui::action(format!("pushing artifact to {url}"));
        let (bar, progress) = ui::transfer_bar(layer.size, "pushing");
        let pushed = client
            .push(
                &url,
                &layer.path,
                &layer.digest,
                layer.size,
                &layer.diff_id,
                &metadata,
                &progress,
            )
            .await;
        bar.finish_and_clear();
        let pushed = pushed?;
        ui::success(format!(
            "artifact successfully pushed to {}",
            pushed.url_with_digest
        ));
        if let Some(format) = args.output {
            let output = PushOutput {
                url: format!("oci://{}", pushed.url_with_digest),
                repository: url.repository_url(),
                tag: url.tag().map(str::to_owned),
                digest: pushed.digest,
            };
            print_structured(&output, format)?;
        }
        Ok(())
    }
}

fn print_structured(value: &impl Serialize, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => print!("{}", serde_saphyr::to_string(value)?),
    }
    Ok(())
}

fn parse_annotations(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => bail!("invalid annotation {pair:?}: must be in the format key=value"),
        })
        .collect()
}

/// A tar.gz layer written to a temporary file.
struct BuiltLayer {
    _dir: tempfile::TempDir,
    path: PathBuf,
    digest: String,
    diff_id: String,
    size: u64,
}

/// Archives `path` (a directory, a file, or `-` for stdin) as `flux push artifact` does.
fn build_layer(path: &str, ignore: &IgnoreArgs) -> Result<BuiltLayer> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let stage = dir.path().join("stage");
    let root = if path == "-" {
        fs::create_dir(&stage)?;
        let mut content = Vec::new();
        std::io::stdin()
            .read_to_end(&mut content)
            .context("reading stdin")?;
        fs::write(stage.join("stdin"), content)?;
        stage
    } else {
        let source = Path::new(path);
        let meta = fs::metadata(source).with_context(|| format!("invalid path '{path}'"))?;
        if meta.is_dir() {
            source.to_owned()
        } else {
            // A single file is archived as a tree holding just that file.
            fs::create_dir(&stage)?;
            let name = source.file_name().context("the path has no file name")?;
            fs::copy(source, stage.join(name)).with_context(|| format!("reading '{path}'"))?;
            stage
        }
    };
    let rules = IgnoreRules::new(&root, ignore.patterns())?;
    let options = TarOptions {
        modes: ModePolicy::Keep,
        resolve_symlinks: ignore.resolve_symlinks,
        parallel: true,
    };
    let layer_path = dir.path().join("artifact.tgz");
    let file = File::create(&layer_path)?;
    let (writer, diff_id) = archive::write_tar_gz(
        &root,
        &rules,
        options,
        DigestWriter::new(BufWriter::new(file)),
    )
    .with_context(|| format!("archiving '{path}'"))?;
    let (file, digest, size) = writer.finish();
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(BuiltLayer {
        _dir: dir,
        path: layer_path,
        digest,
        diff_id,
        size,
    })
}

#[derive(Subcommand, Debug)]
pub enum BuildCommand {
    /// Build a tar.gz artifact from a directory or file, as push would.
    Artifact(BuildArtifact),
}

#[derive(Args, Debug)]
pub struct BuildArtifact {
    /// Directory or file to archive; `-` reads one file from stdin.
    #[arg(short = 'p', long)]
    path: String,
    /// Where to write the archive.
    #[arg(short = 'o', long, default_value = "artifact.tgz")]
    output: PathBuf,
    #[command(flatten)]
    ignore: IgnoreArgs,
}

impl BuildCommand {
    pub async fn run(self) -> Result<()> {
        let Self::Artifact(args) = self;
        ui::action(format!("building artifact from {}", args.path));
        let layer = build_layer(&args.path, &args.ignore)?;
        let target_dir = match args.output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        // Written next to the target and renamed, so a failure leaves no partial file.
        let tmp = tempfile::NamedTempFile::new_in(&target_dir)
            .with_context(|| format!("writing into {}", target_dir.display()))?;
        fs::copy(&layer.path, tmp.path())?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o640))?;
        tmp.persist(&args.output)
            .with_context(|| format!("writing {}", args.output.display()))?;
        ui::success(format!("artifact created at {}", args.output.display()));
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
pub enum PullCommand {
    /// Pull an artifact and extract its content into a directory.
    Artifact(PullArtifact),
}

#[derive(Args, Debug)]
pub struct PullArtifact {
    /// oci://<registry>/<repository>:<tag> or oci://<registry>/<repository>@<digest>
    url: String,
    /// An existing directory to extract into.
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Upper bound on the extracted size, in bytes.
    #[arg(long, default_value_t = ExtractLimits::default().max_bytes)]
    max_size: u64,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl PullCommand {
    pub async fn run(self, timeout: Duration) -> Result<()> {
        let Self::Artifact(args) = self;
        let url: ArtifactUrl = args.url.parse()?;
        match fs::metadata(&args.output) {
            Ok(m) if m.is_dir() => {}
            _ => bail!(
                "invalid output path '{}': must be an existing directory",
                args.output.display()
            ),
        }
        let client = args.registry.client(&url, timeout)?;
        ui::action(format!("pulling artifact from {url}"));
        let (manifest, _) = client.fetch_manifest(&url).await?;
        let expected = manifest.layers.first().map_or(0, |l| l.size.max(0) as u64);
        // The layer is extracted as it downloads, into a staging directory next to the
        // output; only once its digest is verified does the content move into place.
        let staging = tempfile::Builder::new()
            .prefix(".flux-rs-pull-")
            .tempdir_in(&args.output)
            .with_context(|| format!("writing into {}", args.output.display()))?;
        let (writer, reader) = tokio::io::duplex(1 << 20);
        let limits = ExtractLimits {
            max_bytes: args.max_size,
            ..ExtractLimits::default()
        };
        let staging_path = staging.path().to_owned();
        let raw_name = url
            .reference()
            .repository()
            .rsplit('/')
            .next()
            .unwrap_or("artifact")
            .to_owned();
        let extraction = tokio::task::spawn_blocking(move || {
            unpack(
                tokio_util::io::SyncIoBridge::new(reader),
                &staging_path,
                &raw_name,
                limits,
            )
        });
        let (bar, progress) = ui::transfer_bar(expected, "pulling");
        let pulled = client.pull_layer(&url, None, writer, &progress).await;
        bar.finish_and_clear();
        let unpacked = extraction.await.context("the extraction task failed")?;
        let pulled = pulled?;
        let unpacked = unpacked.with_context(|| format!("extracting {url}"))?;
        archive::move_into(staging.path(), &args.output)
            .with_context(|| format!("moving the content into {}", args.output.display()))?;
        let metadata = ArtifactMetadata::from_annotations(&pulled.manifest.annotations);
        if let Some(source) = &metadata.source {
            ui::success(format!("source {source}"));
        }
        if let Some(revision) = &metadata.revision {
            ui::success(format!("revision {revision}"));
        }
        ui::success(format!("digest {}", pulled.manifest_digest));
        match unpacked {
            Unpacked::Extracted { skipped } => {
                for entry in &skipped {
                    tracing::warn!(entry = %entry, "skipped a link or special file");
                }
                ui::success(format!(
                    "artifact content extracted to {}",
                    args.output.display()
                ));
            }
            Unpacked::Copied(name) => {
                ui::success(format!(
                    "artifact content copied to {}",
                    args.output.join(name).display()
                ));
            }
        }
        Ok(())
    }
}

/// What a pulled layer turned into.
enum Unpacked {
    Extracted { skipped: Vec<String> },
    Copied(String),
}

/// Extracts a gzip tarball from `layer` into `dir`, or stores any other content as a file
/// named `raw_name`. Reads the stream to its end either way, so the download completes.
fn unpack(
    mut layer: impl Read,
    dir: &Path,
    raw_name: &str,
    limits: ExtractLimits,
) -> Result<Unpacked> {
    let mut head = [0u8; 2];
    let mut filled = 0;
    while filled < head.len() {
        match layer.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    let mut stream = std::io::Cursor::new(head[..filled].to_vec()).chain(layer);
    if archive::is_gzip(&head[..filled]) {
        let result = archive::extract_tar_gz(&mut stream, dir, limits);
        // Drain what the extractor did not read (tar padding, or after an error).
        std::io::copy(&mut stream, &mut std::io::sink())?;
        let summary = result?;
        Ok(Unpacked::Extracted {
            skipped: summary.skipped,
        })
    } else {
        let mut file = File::create(dir.join(raw_name))?;
        std::io::copy(&mut stream, &mut file)?;
        Ok(Unpacked::Copied(raw_name.to_owned()))
    }
}

#[derive(Subcommand, Debug)]
pub enum TagCommand {
    /// Add tags to an artifact.
    Artifact(TagArtifact),
}

#[derive(Args, Debug)]
pub struct TagArtifact {
    /// oci://<registry>/<repository>:<tag> or @<digest>
    url: String,
    /// Tag to add (repeatable).
    #[arg(long = "tag", required = true)]
    tags: Vec<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl TagCommand {
    pub async fn run(self, timeout: Duration) -> Result<()> {
        let Self::Artifact(args) = self;
        let url: ArtifactUrl = args.url.parse()?;
        let client = args.registry.client(&url, timeout)?;
        ui::action(format!("tagging artifact {url}"));
        for tag in &args.tags {
            let tagged = client.tag(&url, tag).await?;
            ui::success(format!("artifact tagged as {tagged}"));
        }
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
pub enum ListCommand {
    /// List the artifacts (tags) of a repository.
    Artifacts(ListArtifacts),
}

#[derive(Args, Debug)]
pub struct ListArtifacts {
    /// oci://<registry>/<repository>
    url: String,
    /// Only tags that are versions matching this semver range.
    #[arg(long)]
    filter_semver: Option<String>,
    /// Only tags matching this regular expression.
    #[arg(long)]
    filter_regex: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl ListCommand {
    pub async fn run(self, timeout: Duration) -> Result<()> {
        let Self::Artifacts(args) = self;
        let url: ArtifactUrl = args.url.parse()?;
        let constraint = args
            .filter_semver
            .as_deref()
            .map(oci::semver::Constraint::parse)
            .transpose()
            .context("--filter-semver")?;
        let regex = args
            .filter_regex
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .context("--filter-regex")?;
        let client = args.registry.client(&url, timeout)?;
        let mut tags: Vec<String> = client
            .list_tags(&url)
            .await?
            .into_iter()
            .filter(|t| !oci::is_cosign_tag(t))
            .filter(|t| regex.as_ref().is_none_or(|r| r.is_match(t)))
            .filter(|t| {
                constraint
                    .as_ref()
                    .is_none_or(|c| oci::semver::parse_version(t).is_some_and(|v| c.matches(&v)))
            })
            .collect();
        tags.sort_unstable_by(|a, b| b.cmp(a));
        let client = &client;
        let rows: Vec<Vec<String>> = futures::stream::iter(tags)
            .map(|tag| {
                let tagged = url.with_tag(&tag);
                async move {
                    let (manifest, digest) = client.fetch_manifest(&tagged).await?;
                    let meta = ArtifactMetadata::from_annotations(&manifest.annotations);
                    Ok::<_, anyhow::Error>(vec![
                        tagged.to_string(),
                        digest,
                        meta.source.unwrap_or_default(),
                        meta.revision.unwrap_or_default(),
                    ])
                }
            })
            .buffered(8)
            .try_collect()
            .await?;
        print!(
            "{}",
            ui::table(&["ARTIFACT", "DIGEST", "SOURCE", "REVISION"], &rows)
        );
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
pub enum DiffCommand {
    /// Compare a local directory with an artifact in the registry.
    Artifact(DiffArtifact),
}

#[derive(Args, Debug)]
pub struct DiffArtifact {
    /// oci://<registry>/<repository>:<tag>
    url: String,
    /// Directory or file to compare.
    #[arg(long)]
    path: String,
    #[command(flatten)]
    ignore: IgnoreArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl DiffCommand {
    pub async fn run(self, timeout: Duration) -> Result<()> {
        let Self::Artifact(args) = self;
        let url: ArtifactUrl = args.url.parse()?;
        let client = args.registry.client(&url, timeout)?;
        ui::action(format!("diffing {} with {url}", args.path));
        let local = build_layer(&args.path, &args.ignore)?;
        let (manifest, _) = client.fetch_manifest(&url).await?;
        let remote = manifest
            .layers
            .first()
            .context("the remote artifact has no layers")?;
        if remote.digest != local.digest || remote.size != local.size as i64 {
            bail!("the remote artifact contents differs from the local one");
        }
        ui::success("no changes detected");
        Ok(())
    }
}
