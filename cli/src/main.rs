//! `flux-rs`: the flux CLI's artifact commands, a local kustomize build, and (later) its
//! cluster commands.

mod artifact;
mod cluster;
mod helm_template;
mod install;
mod kustomize_build;
mod ui;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "flux-rs", version, about = "GitOps toolkit CLI, compatible with flux", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Timeout for the whole operation.
    #[arg(long, global = true, default_value = "5m", value_parser = api::duration::parse)]
    timeout: Duration,
    /// Print debug logs on stderr.
    #[arg(long, global = true)]
    debug: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Push artifacts to an OCI registry.
    #[command(subcommand)]
    Push(artifact::PushCommand),
    /// Pull artifacts from an OCI registry.
    #[command(subcommand)]
    Pull(artifact::PullCommand),
    /// Tag artifacts in an OCI registry.
    #[command(subcommand)]
    Tag(artifact::TagCommand),
    /// List artifacts in an OCI repository.
    #[command(subcommand)]
    List(artifact::ListCommand),
    /// Build artifacts locally.
    #[command(subcommand)]
    Build(artifact::BuildCommand),
    /// Compare local files with an artifact in a registry.
    #[command(subcommand)]
    Diff(artifact::DiffCommand),
    /// Get the status of Flux objects.
    #[command(subcommand)]
    Get(cluster::GetCommand),
    /// Reconcile a source, a Kustomization or a HelmRelease now and wait for the result.
    #[command(subcommand)]
    Reconcile(cluster::TargetCommand),
    /// Suspend the reconciliation of a source, a Kustomization or a HelmRelease.
    #[command(subcommand)]
    Suspend(cluster::TargetCommand),
    /// Resume a suspended source, Kustomization or HelmRelease (and reconcile it).
    #[command(subcommand)]
    Resume(cluster::TargetCommand),
    /// Remove the flux-rs controllers and CRDs (after a confirmation).
    Uninstall(install::UninstallCommand),
    /// Check the cluster version, the controllers and the CRDs.
    Check(cluster::CheckArgs),
    /// Show the Kubernetes events of Flux objects.
    Events(cluster::EventsArgs),
    /// Create Flux-related objects (`create secret oci|git`, `create source git`).
    #[command(subcommand)]
    Create(cluster::CreateCommand),
    /// Show which Kustomization or HelmRelease and source an object comes from.
    Trace(cluster::TraceArgs),
    /// Install the flux-rs controllers (or print their manifests with --export).
    Install(install::InstallCommand),
    /// Build kustomizations locally, as kustomize-controller does.
    #[command(subcommand)]
    Kustomize(kustomize_build::KustomizeCommand),
    /// Render Helm charts locally, as helm-controller does.
    #[command(subcommand)]
    Helm(helm_template::HelmCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // kube's notice about kubeconfigs that skip TLS verification is the user's own setting.
    let filter = if cli.debug {
        "debug"
    } else {
        "warn,kube_client::client::tls=error"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Push(cmd) => cmd.run(cli.timeout).await,
            Command::Pull(cmd) => cmd.run(cli.timeout).await,
            Command::Tag(cmd) => cmd.run(cli.timeout).await,
            Command::List(cmd) => cmd.run(cli.timeout).await,
            Command::Build(cmd) => cmd.run().await,
            Command::Diff(cmd) => cmd.run(cli.timeout).await,
            Command::Kustomize(cmd) => cmd.run(),
            Command::Helm(cmd) => cmd.run(cli.timeout).await,
            Command::Install(cmd) => cmd.run().await,
            Command::Get(cmd) => cmd.run().await,
            Command::Trace(cmd) => cmd.run().await,
            Command::Events(cmd) => cmd.run().await,
            Command::Check(cmd) => cmd.run().await,
            Command::Uninstall(cmd) => cmd.run().await,
            Command::Create(cmd) => cmd.run(cli.timeout).await,
            Command::Reconcile(cmd) => cmd.reconcile(cli.timeout).await,
            Command::Suspend(cmd) => cmd.set_suspended(true, cli.timeout).await,
            Command::Resume(cmd) => cmd.set_suspended(false, cli.timeout).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            ui::failure(format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
