//! `flux-rs kustomize build DIR`: the build kustomize-controller runs, printed exactly as
//! `kustomize build DIR` prints it, so the two can be diffed.

use anyhow::Context;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum KustomizeCommand {
    /// Build a kustomization directory and print the objects as a YAML stream.
    Build {
        /// The directory with a kustomization.yaml.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

impl KustomizeCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            KustomizeCommand::Build { dir, output } => {
                let resources = kustomize::build(&dir)
                    .with_context(|| format!("building {}", dir.display()))?;
                let text = kustomize::to_yaml(&resources);
                match output {
                    Some(path) => std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?,
                    None => std::io::stdout().lock().write_all(text.as_bytes())?,
                }
                Ok(())
            }
        }
    }
}
