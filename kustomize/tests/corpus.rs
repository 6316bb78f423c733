//! Every overlay under tests/corpus/ is built by us and by the real `kubectl kustomize`
//! (kustomize v5.8.1); the objects must be equal one by one and the YAML streams identical.
//! Cases with an `expect-error` file must fail in both, ours naming what the file says.

mod common;

use common::kubectl;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/corpus exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('_'))
        .collect();
    cases.sort();
    cases
}

/// What one case found wrong, if anything.
fn check(case: &Path) -> Result<(), String> {
    let reference = Command::new(kubectl())
        .arg("kustomize")
        .arg(case)
        .output()
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    let ours = kustomize::build(case);
    let expected_error = std::fs::read_to_string(case.join("expect-error")).ok();
    if let Some(expected) = expected_error {
        let expected = expected.trim();
        if reference.status.success() {
            return Err("kubectl kustomize succeeded on an error case".into());
        }
        return match ours {
            Ok(_) => Err(format!(
                "we built it; kubectl failed with: {}",
                String::from_utf8_lossy(&reference.stderr).trim()
            )),
            Err(e) if e.to_string().contains(expected) => Ok(()),
            Err(e) => Err(format!(
                "our error {:?} does not mention {expected:?}",
                e.to_string()
            )),
        };
    }
    if !reference.status.success() {
        return Err(format!(
            "kubectl kustomize failed: {}",
            String::from_utf8_lossy(&reference.stderr).trim()
        ));
    }
    let ours = ours.map_err(|e| format!("we failed: {e}"))?;
    let theirs_text = String::from_utf8(reference.stdout).map_err(|e| e.to_string())?;
    let ours_text = kustomize::to_yaml(&ours);
    let theirs = kustomize::yaml::parse_stream(&theirs_text).map_err(|e| e.to_string())?;
    let mine = kustomize::yaml::parse_stream(&ours_text).map_err(|e| e.to_string())?;
    if theirs.len() != mine.len() {
        return Err(format!(
            "{} objects, kubectl printed {}",
            mine.len(),
            theirs.len()
        ));
    }
    for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        if a != b {
            return Err(format!(
                "object {i} differs:\n--- ours\n{}\n--- kubectl\n{}",
                serde_json::to_string_pretty(a).unwrap(),
                serde_json::to_string_pretty(b).unwrap()
            ));
        }
    }
    if ours_text != theirs_text {
        let line = ours_text
            .lines()
            .zip(theirs_text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(format!(
            "same objects, different text from line {}: ours {:?}, kubectl {:?}",
            line + 1,
            ours_text.lines().nth(line),
            theirs_text.lines().nth(line)
        ));
    }
    Ok(())
}

#[test]
fn corpus_matches_kubectl_kustomize() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(problem) = check(case) {
            failures.push(format!(
                "■ {}: {problem}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from kubectl kustomize:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        cases.len() >= 40,
        "the corpus has only {} cases",
        cases.len()
    );
}
