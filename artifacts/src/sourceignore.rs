//! Ignore rules as Flux applies them to source trees (`fluxcd/pkg/sourceignore`): gitignore
//! syntax, default pattern sets, and `.sourceignore` files that apply below their directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// Version-control files, always ignored by Flux.
pub const VCS_PATTERNS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];
/// Binary files Flux leaves out of artifacts by default.
pub const EXTENSION_PATTERNS: &[&str] = &[
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
];
/// CI configuration source-controller leaves out by default.
pub const CI_PATTERNS: &[&str] = &[
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
];
/// Tool configuration source-controller leaves out by default.
pub const EXTRA_PATTERNS: &[&str] = &["**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml"];
/// The per-directory ignore file.
pub const IGNORE_FILE: &str = ".sourceignore";

/// The patterns `flux push artifact` and `flux build artifact` use when `--ignore-paths` is
/// not given.
pub fn default_cli_patterns() -> Vec<String> {
    VCS_PATTERNS
        .iter()
        .chain(EXTENSION_PATTERNS)
        .map(|p| (*p).to_owned())
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("invalid ignore pattern {pattern:?}: {source}")]
    Pattern {
        pattern: String,
        source: ignore::Error,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid ignore rules in {path}: {source}")]
    File {
        path: PathBuf,
        source: ignore::Error,
    },
}

/// Ignore rules in effect for one directory of a tree: the root patterns plus every
/// `.sourceignore` between the root and that directory. Deeper rules win, as in git.
#[derive(Clone, Debug)]
pub struct IgnoreRules {
    layers: Vec<Arc<Gitignore>>,
}

impl IgnoreRules {
    /// Rules rooted at `root` made of `patterns` (gitignore lines).
    pub fn new<I, S>(root: &Path, patterns: I) -> Result<Self, IgnoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut builder = GitignoreBuilder::new(root);
        for pattern in patterns {
            let pattern = pattern.as_ref();
            builder
                .add_line(None, pattern)
                .map_err(|source| IgnoreError::Pattern {
                    pattern: pattern.to_owned(),
                    source,
                })?;
        }
        let gitignore = builder.build().map_err(|source| IgnoreError::Pattern {
            pattern: String::new(),
            source,
        })?;
        Ok(Self {
            layers: vec![Arc::new(gitignore)],
        })
    }

    /// The rules for `dir`, a child directory: these rules plus `dir/.sourceignore` if present.
    pub fn enter(&self, dir: &Path) -> Result<Self, IgnoreError> {
        let file = dir.join(IGNORE_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(self.clone()),
            Err(source) => return Err(IgnoreError::Read { path: file, source }),
        };
        let mut builder = GitignoreBuilder::new(dir);
        for line in text.lines() {
            builder
                .add_line(Some(file.clone()), line)
                .map_err(|source| IgnoreError::File {
                    path: file.clone(),
                    source,
                })?;
        }
        let gitignore = builder.build().map_err(|source| IgnoreError::File {
            path: file.clone(),
            source,
        })?;
        let mut layers = self.layers.clone();
        layers.push(Arc::new(gitignore));
        Ok(Self { layers })
    }

    /// Whether `path` (inside the tree) is excluded.
    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        for layer in self.layers.iter().rev() {
            let matched = layer.matched(path, is_dir);
            if matched.is_ignore() {
                return true;
            }
            if matched.is_whitelist() {
                return false;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_patterns_drop_vcs_and_binaries_but_keep_manifests() {
        let root = Path::new("/src");
        let rules = IgnoreRules::new(root, default_cli_patterns()).unwrap();
        assert!(rules.is_ignored(&root.join(".git"), true));
        assert!(rules.is_ignored(&root.join("a/.gitignore"), false));
        assert!(rules.is_ignored(&root.join("img/logo.png"), false));
        assert!(rules.is_ignored(&root.join("old.tar.gz"), false));
        assert!(!rules.is_ignored(&root.join("deploy/app.yaml"), false));
        assert!(!rules.is_ignored(&root.join(".github"), true));
    }

    #[test]
    fn sourceignore_applies_below_its_directory_and_can_negate() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join(IGNORE_FILE), "*.txt\n!keep.txt\n").unwrap();
        let root_rules = IgnoreRules::new(dir.path(), ["*.md"]).unwrap();
        let sub_rules = root_rules.enter(&sub).unwrap();
        assert!(!root_rules.is_ignored(&dir.path().join("a.txt"), false));
        assert!(sub_rules.is_ignored(&sub.join("a.txt"), false));
        assert!(!sub_rules.is_ignored(&sub.join("keep.txt"), false));
        assert!(sub_rules.is_ignored(&sub.join("README.md"), false));
    }
}
