//! A kustomize build engine: a directory with a `kustomization.yaml` in, the objects
//! `kustomize build` would print out. Pure: it reads files under a root and nothing else
//! (remote bases are refused, as Flux's `--no-remote-bases`).

mod build;
mod config;
mod crds;
mod fieldpath;
mod fieldspec;
pub mod flux;
mod generator;
mod json6902;
pub mod kustomization;
mod nameref;
mod openapi;
mod patch;
mod plugin;
mod replacement;
mod resource;
mod selector;
mod smp;
mod sort;
mod transform;
mod vars;
pub use goyaml as yaml;

pub use build::{BuildOptions, build, build_with};
pub use resource::{Gvk, ResId, Resource};
pub use sort::kind_rank;

/// A build failure, naming the file (and the field) at fault.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct Error {
    /// The kustomization or resource file, relative to the build root when possible.
    pub file: String,
    pub message: String,
}

impl Error {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Error {
        Error {
            file: file.into(),
            message: message.into(),
        }
    }
}

/// The objects of a build as one YAML stream, as `kustomize build` prints it.
pub fn to_yaml(resources: &[Resource]) -> String {
    yaml::to_stream(resources.iter().map(|r| &r.object))
}
