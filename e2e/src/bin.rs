//! The project's binaries, as built by cargo next to the running test.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of a workspace binary (`flux-rs`, `source-controller`, …) in the target
/// directory this test was built into.
pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a cargo target directory");
    let binary = profile_dir.join(name);
    assert!(
        binary.exists(),
        "{} is not built: run `cargo build --workspace` first",
        binary.display()
    );
    binary
}

/// Runs `flux-rs` with an empty Docker configuration and returns its output.
pub fn flux_rs(args: &[&str]) -> Output {
    let docker_config = tempfile::tempdir().expect("temp dir");
    Command::new(path("flux-rs"))
        .args(args)
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .expect("flux-rs runs")
}

/// `flux-rs push artifact` of a directory; returns the manifest digest.
pub fn push_artifact(url: &str, dir: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec![
        "push",
        "artifact",
        url,
        "--path",
        dir.to_str().expect("utf-8 path"),
        "--source",
        "https://github.com/example/app",
        "--revision",
        "main@sha1:0123456789abcdef",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = flux_rs(&args);
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("push -o json");
    json["digest"].as_str().expect("a digest").to_owned()
}

/// The reference kubectl (with kustomize v5.8.1) that `scripts/install-deps.sh` installs.
pub fn kubectl() -> PathBuf {
    tools_cache().join("tools/venv/bin/kubectl")
}

fn tools_cache() -> PathBuf {
    std::env::var_os("FLUX_RS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/flux-rs")
        })
}

/// The real `helm` (v4.1.4) scripts/install-deps.sh installs.
pub fn helm_binary() -> PathBuf {
    tools_cache().join("tools/bin/helm")
}

/// Runs the real `helm` against the cluster under test (`KUBECONFIG`), with its own
/// configuration and cache directories under `home`; panics with its output on failure.
pub fn helm(home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(helm_binary())
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn chart_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/charts/podinfo")
}

/// Packages the test chart (`examples/charts/podinfo`) at `version` and pushes it with
/// `helm push` to `url` (`oci://<registry>/<path>`).
pub fn push_chart(home: &std::path::Path, url: &str, version: &str) {
    let out = home.join("packages");
    std::fs::create_dir_all(&out).unwrap();
    let chart = chart_dir();
    helm(
        home,
        &[
            "package",
            chart.to_str().unwrap(),
            "--version",
            version,
            "--destination",
            out.to_str().unwrap(),
        ],
    );
    let package = out.join(format!("podinfo-{version}.tgz"));
    helm(
        home,
        &["push", package.to_str().unwrap(), url, "--plain-http"],
    );
}
