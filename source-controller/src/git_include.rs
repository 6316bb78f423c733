//! `spec.include` of a GitRepository: other GitRepositories' stored artifacts copied into the
//! checked-out tree (`fromPath` of theirs to `toPath` of ours) before it is archived.

use std::path::{Component, Path, PathBuf};

use api::meta::Artifact;
use api::source::git_condition;
use api::source::v1::GitRepository;
use artifacts::archive::{self, ExtractLimits};
use kube::ResourceExt;
use kube::api::Api;
use runtime::conditions::Conditions;
use runtime::outcome::{Failure, Marks};

use crate::source::{Context, blocking, storage_failed};

fn unavailable(reason: &'static str, message: String) -> Failure {
    Failure::retryable(reason, message).marking(Marks::Abnormal(git_condition::INCLUDE_UNAVAILABLE))
}

/// The artifacts of the included GitRepositories, in `spec.include` order.
pub async fn include_artifacts(
    object: &GitRepository,
    ctx: &Context,
) -> Result<Vec<Artifact>, Failure> {
    let api: Api<GitRepository> =
        Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let mut artifacts = Vec::with_capacity(object.spec.include.len());
    for include in &object.spec.include {
        let name = &include.repository.name;
        let included = api
            .get_opt(name)
            .await
            .map_err(|e| unavailable("NotFound", format!("could not get resource for include '{name}': {e}")))?
            .ok_or_else(|| unavailable("NotFound", format!("could not get resource for include '{name}': gitrepositories \"{name}\" not found")))?;
        let artifact = included.status.and_then(|s| s.artifact).ok_or_else(|| {
            unavailable(
                "NoArtifact",
                format!("no artifact available for include '{name}'"),
            )
        })?;
        artifacts.push(artifact);
    }
    Ok(artifacts)
}

/// A relative path that stays inside the directory it is joined to.
fn contained(path: &str) -> Option<PathBuf> {
    let path = Path::new(path.trim_start_matches("./"));
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        .then(|| path.to_owned())
}

/// Copies each include's artifact into `tree`; `artifacts` are `include_artifacts`' answer.
pub async fn copy_includes(
    object: &GitRepository,
    ctx: &Context,
    tree: &Path,
    artifacts: &[Artifact],
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    for (include, artifact) in object.spec.include.iter().zip(artifacts) {
        let name = include.repository.name.clone();
        let to = include.to_path.clone().unwrap_or_else(|| name.clone());
        let from = include.from_path.clone().unwrap_or_default();
        let (Some(to_path), Some(from_path)) = (contained(&to), contained(&from)) else {
            return Err(storage_failed(
                "IllegalPath",
                format!(
                    "failed to copy '{name}' include: path '{from}' or '{to}' leaves its directory"
                ),
            ));
        };
        let file = ctx.storage.file(&artifact.path).map_err(|e| {
            storage_failed(
                "CopyFailure",
                format!("failed to copy '{name}' include: {e}"),
            )
        })?;
        let destination = tree.join(to_path);
        let wanted = from.clone();
        blocking(move || -> Result<(), String> {
            let staging = tempfile::tempdir().map_err(|e| e.to_string())?;
            let reader =
                std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            archive::extract_tar_gz(reader, staging.path(), ExtractLimits::default())
                .map_err(|e| e.to_string())?;
            let source = staging.path().join(from_path);
            if !source.is_dir() {
                return Err(format!("no directory '{wanted}' in the included artifact"));
            }
            std::fs::create_dir_all(&destination)
                .map_err(|e| format!("{}: {e}", destination.display()))?;
            archive::move_into(&source, &destination).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| {
            storage_failed(
                "CopyFailure",
                format!("failed to copy '{name}' include from '{from}' to '{to}': {e}"),
            )
        })?;
    }
    conditions.delete(git_condition::INCLUDE_UNAVAILABLE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_paths_stay_inside() {
        assert_eq!(
            contained("./deploy/base"),
            Some(PathBuf::from("deploy/base"))
        );
        assert_eq!(contained(""), Some(PathBuf::new()));
        assert_eq!(contained("../escape"), None);
        assert_eq!(contained("/etc"), None);
        assert_eq!(contained("a/../../b"), None);
    }
}
