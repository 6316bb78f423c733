//! Every chart under helm/tests/corpus/ is rendered by `flux-rs helm template` and by the
//! real `helm template` (Helm v4.1.4), once per line of the case's `runs` file (the
//! arguments, paths relative to the case directory); the outputs must be byte-identical, or
//! both must fail with the same message. A chart `helm create` makes is rendered too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm/tests/corpus")
}

/// The `helm` to compare with: `$HELM`, the one scripts/ installs, or `helm` on the PATH.
fn helm() -> PathBuf {
    if let Some(path) = std::env::var_os("HELM") {
        return path.into();
    }
    let cache = std::env::var_os("FLUX_RS_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/flux-rs")))
        .expect("FLUX_RS_CACHE or HOME is set");
    let cached = cache.join("tools/bin/helm");
    if cached.exists() {
        cached
    } else {
        "helm".into()
    }
}

fn run(program: &Path, prefix: &[&str], args: &[String], dir: &Path) -> Output {
    Command::new(program)
        .args(prefix)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// The message of a failed run: Helm prints `Error: <message>` and a hint about `--debug`,
/// we print the message after a mark.
fn failure_message(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let text = text
        .trim()
        .trim_end_matches("Use --debug flag to render out invalid YAML")
        .trim();
    text.strip_prefix("Error: ")
        .or_else(|| text.strip_prefix("✗ "))
        .unwrap_or(text)
        .to_string()
}

/// Whether two failures are the same. YAML syntax errors in rendered output are compared up
/// to the file they name: the YAML parsers word the syntax error itself differently
/// (docs/compatibility.md).
fn same_failure(theirs: &str, ours: &str) -> bool {
    const YAML: &str = ": error converting YAML to JSON: ";
    match (theirs.split_once(YAML), ours.split_once(YAML)) {
        (Some((a, _)), Some((b, _))) => a == b,
        _ => theirs == ours,
    }
}

/// What one run found wrong, if anything.
fn compare(dir: &Path, args: &[String]) -> Result<(), String> {
    let theirs = run(&helm(), &["template"], args, dir);
    let ours = run(
        Path::new(env!("CARGO_BIN_EXE_flux-rs")),
        &["helm", "template"],
        args,
        dir,
    );
    match (theirs.status.success(), ours.status.success()) {
        (true, true) if theirs.stdout == ours.stdout => Ok(()),
        (true, true) => Err(first_difference(
            &String::from_utf8_lossy(&theirs.stdout),
            &String::from_utf8_lossy(&ours.stdout),
        )),
        (false, false) if same_failure(&failure_message(&theirs), &failure_message(&ours)) => {
            Ok(())
        }
        (false, false) => Err(format!(
            "both failed, differently:\n  helm: {}\n  ours: {}",
            failure_message(&theirs),
            failure_message(&ours)
        )),
        (true, false) => Err(format!("we failed: {}", failure_message(&ours))),
        (false, true) => Err(format!(
            "helm failed ({}), we rendered",
            failure_message(&theirs)
        )),
    }
}

fn first_difference(theirs: &str, ours: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    let line = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let context =
        |lines: &[&str]| lines[line.saturating_sub(3)..(line + 3).min(lines.len())].join("\n    ");
    format!(
        "outputs differ at line {} ({} vs {} lines):\n  helm:\n    {}\n  ours:\n    {}",
        line + 1,
        a.len(),
        b.len(),
        context(&a),
        context(&b)
    )
}

/// Arguments of one line of a `runs` file, split on spaces (no quoting needed by the corpus).
fn split_args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn every_corpus_chart_renders_as_helm_template_does() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("helm/tests/corpus exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.join("runs").exists())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no corpus cases");
    let mut failures = Vec::new();
    let mut runs = 0;
    for case in &cases {
        let lines = std::fs::read_to_string(case.join("runs")).expect("readable runs file");
        for line in lines
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            runs += 1;
            if let Err(e) = compare(case, &split_args(line)) {
                failures.push(format!(
                    "{} `{line}`: {e}",
                    case.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_chart_helm_create_makes_renders_as_helm_template_does() {
    let dir = tempfile::tempdir().unwrap();
    let created = run(&helm(), &["create", "starter"], &[], dir.path());
    assert!(
        created.status.success(),
        "helm create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    for args in [
        "starter",
        "my-release starter --set ingress.enabled=true --set autoscaling.enabled=true -n prod",
        "starter --set serviceAccount.create=false --set httpRoute.enabled=true --skip-tests",
        "starter --show-only templates/service.yaml --kube-version 1.29",
    ] {
        if let Err(e) = compare(dir.path(), &split_args(args)) {
            panic!("`helm template {args}`: {e}");
        }
    }
}

/// helm with a home of its own under `dir`: no user configuration, logins or caches.
fn helm_in(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(helm())
        .args(args)
        .current_dir(dir)
        .env("HELM_CONFIG_HOME", dir.join("helm/config"))
        .env("HELM_CACHE_HOME", dir.join("helm/cache"))
        .env("HELM_DATA_HOME", dir.join("helm/data"))
        .env("HELM_REGISTRY_CONFIG", dir.join("helm/registry.json"))
        .output()
        .expect("helm runs");
    assert!(
        output.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn charts_from_an_oci_registry_render_as_helm_renders_them() {
    let registry = e2e::registry::Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let chart = corpus().join("webapp/chart");
    // Two versions of the chart, pushed as Helm pushes charts (its media types).
    for version in ["1.4.2", "1.5.0-rc.1", "1.4.10+build.7"] {
        let out = dir.path().join(version);
        helm_in(
            dir.path(),
            &[
                "package",
                chart.to_str().unwrap(),
                "--version",
                version,
                "-d",
                out.to_str().unwrap(),
            ],
        );
        let archive = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        helm_in(
            dir.path(),
            &[
                "push",
                archive.to_str().unwrap(),
                &registry.oci_url("charts"),
                "--plain-http",
            ],
        );
    }
    let reference = registry.oci_url("charts/webapp");
    for args in [
        format!("shop {reference} --version 1.4.2 --plain-http -n shop"),
        // The highest version (pre-releases left out), and the highest within a range.
        format!("{reference} --plain-http"),
        format!("{reference} --version ~1.4.0 --plain-http --set cache.enabled=false"),
        format!("{reference} --version 1.4.10+build.7 --plain-http"),
    ] {
        if let Err(e) = compare(dir.path(), &split_args(&args)) {
            panic!("`helm template {args}`: {e}");
        }
    }
}
