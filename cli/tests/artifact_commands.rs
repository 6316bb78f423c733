//! `flux-rs … artifact` against a real registry (Debian's docker-registry), cross-checked with
//! independent clients: skopeo, curl and tar.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use e2e::registry::{Registry, gnu_tar_gz, sha256};
use serde_json::Value;

struct Cli {
    docker_config: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            docker_config: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flux-rs"));
        cmd.args(args)
            .env("DOCKER_CONFIG", self.docker_config.path())
            .env_remove("RUST_LOG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("flux-rs runs")
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "flux-rs {args:?} failed:\n{stderr}");
        (stdout, stderr)
    }

    /// Runs a command that must fail, and returns its single error line.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (_, stderr) = texts(&out);
        assert!(
            !out.status.success(),
            "flux-rs {args:?} succeeded:\n{stderr}"
        );
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("✗ ")).collect();
        assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
        errors[0].to_owned()
    }

    fn push(&self, url: &str, path: &Path, extra: &[&str]) -> String {
        let mut args = vec![
            "push",
            "artifact",
            url,
            "--path",
            path.to_str().unwrap(),
            "--source",
            "https://github.com/org/app",
            "--revision",
            "main@sha1:0123456789abcdef",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let (stdout, _) = self.ok(&args);
        let out: Value = serde_json::from_str(&stdout).expect("push -o json prints JSON");
        out["digest"].as_str().unwrap().to_owned()
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A source tree with every case the archive rules care about.
fn source_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("deploy/base")).unwrap();
    fs::write(
        root.join("deploy/base/deployment.yaml"),
        "kind: Deployment\n",
    )
    .unwrap();
    fs::write(
        root.join("deploy/kustomization.yaml"),
        "resources: [base]\n",
    )
    .unwrap();
    fs::write(root.join("deploy/hook.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(
        root.join("deploy/hook.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::write(
        root.join("deploy/base/secret.txt"),
        "ignored by .sourceignore\n",
    )
    .unwrap();
    fs::write(root.join("deploy/base/.sourceignore"), "secret.txt\n").unwrap();
    fs::write(root.join("logo.png"), [0x89, b'P', b'N', b'G']).unwrap();
    fs::create_dir(root.join(".git")).unwrap();
    fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    symlink("deploy/kustomization.yaml", root.join("link.yaml")).unwrap();
    dir
}

fn skopeo_raw(registry: &Registry, reference: &str) -> Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{reference}", registry.addr))
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// `tar -tvzf` of a file, one line per entry.
fn tar_listing(file: &Path) -> Vec<String> {
    let out = Command::new("tar")
        .args(["--numeric-owner", "--full-time", "-tvzf"])
        .arg(file)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// skopeo copies the artifact into an OCI layout; returns the layout's layer blob.
fn layer_via_skopeo(registry: &Registry, reference: &str, scratch: &Path) -> std::path::PathBuf {
    let layout = scratch.join("layout");
    let status = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/{reference}", registry.addr))
        .arg(format!("oci:{}:copy", layout.display()))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "skopeo copy");
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: Value =
        serde_json::from_slice(&fs::read(blob(manifest_digest)).unwrap()).unwrap();
    blob(manifest["layers"][0]["digest"].as_str().unwrap())
}

#[test]
fn push_writes_fluxs_artifact_format() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:v1.0.0", registry.oci_url("apps/podinfo"));
    let digest = cli.push(
        &url,
        tree.path(),
        &["-a", "team=platform", "-a", "tier=backend"],
    );

    let manifest = skopeo_raw(&registry, "apps/podinfo:v1.0.0");
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.flux.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.cncf.flux.content.v1.tar+gzip"
    );
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://github.com/org/app"
    );
    assert_eq!(
        annotations["org.opencontainers.image.revision"],
        "main@sha1:0123456789abcdef"
    );
    assert_eq!(annotations["team"], "platform");
    assert_eq!(annotations["tier"], "backend");
    let created = annotations["org.opencontainers.image.created"]
        .as_str()
        .unwrap();
    assert!(
        created.parse::<jiff::Timestamp>().is_ok(),
        "created is RFC 3339: {created}"
    );

    // The manifest's digest is what push reported.
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/apps/podinfo:v1.0.0", registry.addr))
        .output()
        .unwrap();
    assert_eq!(sha256(&out.stdout), digest);

    // The layer through an independent client: a gzip tarball with Flux's entry rules.
    let scratch = tempfile::tempdir().unwrap();
    let layer = layer_via_skopeo(&registry, "apps/podinfo:v1.0.0", scratch.path());
    let listing = tar_listing(&layer);
    let names: Vec<&str> = listing
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            ".",
            "deploy",
            "deploy/base",
            "deploy/base/.sourceignore",
            "deploy/base/deployment.yaml",
            "deploy/hook.sh",
            "deploy/kustomization.yaml"
        ]
    );
    for line in &listing {
        assert!(line.contains(" 0/0 "), "uid/gid 0: {line}");
        assert!(line.contains("1970-01-01 00:00:00"), "zero mtime: {line}");
    }
    let hook = listing
        .iter()
        .find(|l| l.ends_with("deploy/hook.sh"))
        .unwrap();
    assert!(hook.starts_with("-rwxr-xr-x"), "modes are kept: {hook}");

    // The config blob, read over the registry API: go-containerregistry's layout, with the
    // uncompressed layer digest as diff ID.
    let layer_bytes = fs::read(&layer).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config = curl(&format!(
        "{}/v2/apps/podinfo/blobs/{config_digest}",
        registry.http_base()
    ));
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        sha256(&gunzip(&layer_bytes))
    );
    assert_eq!(config["created"], created);
    assert_eq!(config["history"].as_array().unwrap().len(), 1);
}

#[test]
fn reproducible_pushes_give_the_same_digest() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:latest", registry.oci_url("apps/repro"));
    let first = cli.push(&url, tree.path(), &["--reproducible"]);
    let second = cli.push(&url, tree.path(), &["--reproducible"]);
    assert_eq!(first, second);
    let manifest = skopeo_raw(&registry, "apps/repro:latest");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );

    fs::write(tree.path().join("deploy/extra.yaml"), "kind: ConfigMap\n").unwrap();
    assert_ne!(cli.push(&url, tree.path(), &["--reproducible"]), first);
}

#[test]
fn push_prints_flux_status_lines_and_no_progress_bar_off_a_terminal() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:v1", registry.oci_url("apps/lines"));
    let path = tree.path().to_str().unwrap();
    let (stdout, stderr) = cli.ok(&[
        "push",
        "artifact",
        &url,
        "--path",
        path,
        "--source",
        "s",
        "--revision",
        "r",
    ]);
    assert!(stdout.is_empty());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(
        lines[0],
        format!("► pushing artifact to {}/apps/lines:v1", registry.addr)
    );
    let prefix = format!(
        "✔ artifact successfully pushed to {}/apps/lines@sha256:",
        registry.addr
    );
    assert!(lines[1].starts_with(&prefix), "{}", lines[1]);

    let (yaml, _) = cli.ok(&[
        "push",
        "artifact",
        &url,
        "--path",
        path,
        "--source",
        "s",
        "--revision",
        "r",
        "-o",
        "yaml",
    ]);
    let yaml: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(yaml["repository"], format!("{}/apps/lines", registry.addr));
    assert_eq!(yaml["tag"], "v1");
    assert!(
        yaml["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("oci://{}/apps/lines@sha256:", registry.addr))
    );
}

#[test]
fn pull_extracts_what_push_archived() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:v1", registry.oci_url("apps/roundtrip"));
    let digest = cli.push(&url, tree.path(), &[]);
    let out = tempfile::tempdir().unwrap();
    let (_, stderr) = cli.ok(&["pull", "artifact", &url, "-o", out.path().to_str().unwrap()]);
    assert!(
        stderr.contains("✔ source https://github.com/org/app"),
        "{stderr}"
    );
    assert!(
        stderr.contains("✔ revision main@sha1:0123456789abcdef"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("✔ digest {digest}")), "{stderr}");
    assert!(stderr.contains(&format!(
        "✔ artifact content extracted to {}",
        out.path().display()
    )));
    assert_eq!(
        fs::read_to_string(out.path().join("deploy/base/deployment.yaml")).unwrap(),
        "kind: Deployment\n"
    );
    let mode = fs::metadata(out.path().join("deploy/hook.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(!out.path().join("logo.png").exists());
    assert!(!out.path().join("link.yaml").exists());

    // By digest as well.
    let by_digest = format!("{}@{digest}", registry.oci_url("apps/roundtrip"));
    let out2 = tempfile::tempdir().unwrap();
    cli.ok(&[
        "pull",
        "artifact",
        &by_digest,
        "-o",
        out2.path().to_str().unwrap(),
    ]);
    assert!(out2.path().join("deploy/kustomization.yaml").exists());
}

fn curl(url: &str) -> Vec<u8> {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    assert!(out.status.success(), "curl {url}");
    out.stdout
}

#[test]
fn pull_reads_an_artifact_it_did_not_write() {
    let registry = Registry::start();
    let cli = Cli::new();
    let layer = gnu_tar_gz(&[
        ("manifests/", tar::EntryType::Directory, b""),
        (
            "manifests/cm.yaml",
            tar::EntryType::Regular,
            b"kind: ConfigMap\n",
        ),
        ("manifests/link", tar::EntryType::Symlink, b""),
    ]);
    registry.upload_flux_artifact("foreign/app", "v9", &layer);
    let out = tempfile::tempdir().unwrap();
    let url = format!("{}:v9", registry.oci_url("foreign/app"));
    let (_, stderr) = cli.ok(&["pull", "artifact", &url, "-o", out.path().to_str().unwrap()]);
    assert!(
        stderr.contains("✔ source https://example.org/foreign"),
        "{stderr}"
    );
    assert!(stderr.contains("✔ revision v9@sha1:feedface"), "{stderr}");
    assert_eq!(
        fs::read_to_string(out.path().join("manifests/cm.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );
    assert!(
        fs::symlink_metadata(out.path().join("manifests/link")).is_err(),
        "links are skipped"
    );

    let (listing, _) = cli.ok(&["list", "artifacts", &registry.oci_url("foreign/app")]);
    assert!(listing.contains("https://example.org/foreign"), "{listing}");
}

#[test]
fn pull_refuses_entries_that_escape_the_output_directory() {
    let registry = Registry::start();
    let cli = Cli::new();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("out");
    fs::create_dir(&out).unwrap();
    for (tag, name) in [
        ("dotdot", "../escaped.txt"),
        ("absolute", "/tmp/flux-rs-absolute-escape.txt"),
    ] {
        let layer = gnu_tar_gz(&[(name, tar::EntryType::Regular, b"owned\n")]);
        registry.upload_flux_artifact("evil/app", tag, &layer);
        let url = format!("{}:{tag}", registry.oci_url("evil/app"));
        let error = cli.fails(&["pull", "artifact", &url, "-o", out.to_str().unwrap()]);
        assert!(error.contains("outside the target directory"), "{error}");
    }
    assert!(!parent.path().join("escaped.txt").exists());
    assert!(!Path::new("/tmp/flux-rs-absolute-escape.txt").exists());
}

#[test]
fn pull_detects_a_layer_whose_bytes_do_not_match_its_digest() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:v1", registry.oci_url("apps/tampered"));
    cli.push(&url, tree.path(), &[]);
    let manifest = skopeo_raw(&registry, "apps/tampered:v1");
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    // Corrupt the blob in the registry's storage: the registry serves it without checking.
    let blob = registry.blob_path(layer_digest);
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let error = cli.fails(&["pull", "artifact", &url, "-o", out.path().to_str().unwrap()]);
    assert!(error.contains("digest mismatch"), "{error}");
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing extracted"
    );
}

#[test]
fn tag_and_list_with_filters() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let repo = registry.oci_url("apps/listed");
    let digest = cli.push(&format!("{repo}:1.0.0"), tree.path(), &[]);
    let (_, stderr) = cli.ok(&[
        "tag",
        "artifact",
        &format!("{repo}:1.0.0"),
        "--tag",
        "1.1.0",
        "--tag",
        "2.0.0-rc.1",
        "--tag",
        "latest",
        "--tag",
        &format!("sha256-{}.sig", &digest[7..]),
    ]);
    assert!(stderr.contains(&format!(
        "✔ artifact tagged as {}/apps/listed:1.1.0",
        registry.addr
    )));
    assert_eq!(
        skopeo_raw(&registry, "apps/listed:latest"),
        skopeo_raw(&registry, "apps/listed:1.0.0")
    );

    let (table, _) = cli.ok(&["list", "artifacts", &repo]);
    let lines: Vec<&str> = table.lines().collect();
    let header: Vec<&str> = lines[0].split('\t').map(str::trim).collect();
    assert_eq!(header, ["ARTIFACT", "DIGEST", "SOURCE", "REVISION"]);
    let tags: Vec<String> = lines[1..]
        .iter()
        .map(|l| {
            l.split('\t')
                .next()
                .unwrap()
                .trim()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        tags,
        ["latest", "2.0.0-rc.1", "1.1.0", "1.0.0"],
        "reverse lexical, no cosign tags"
    );
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        assert_eq!(cells[1], digest);
        assert_eq!(cells[2], "https://github.com/org/app");
        assert_eq!(cells[3], "main@sha1:0123456789abcdef");
    }

    let (table, _) = cli.ok(&["list", "artifacts", &repo, "--filter-semver", ">=1.0.0"]);
    assert_eq!(
        table.lines().count(),
        3,
        "1.1.0 and 1.0.0, no pre-release:\n{table}"
    );
    let (table, _) = cli.ok(&["list", "artifacts", &repo, "--filter-regex", "^1\\.1"]);
    assert_eq!(table.lines().count(), 2, "{table}");
}

#[test]
fn build_and_diff() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:v1", registry.oci_url("apps/diffed"));
    cli.push(&url, tree.path(), &[]);
    let path = tree.path().to_str().unwrap();
    let (_, stderr) = cli.ok(&["diff", "artifact", &url, "--path", path]);
    assert!(stderr.contains("✔ no changes detected"), "{stderr}");
    fs::write(
        tree.path().join("deploy/base/deployment.yaml"),
        "kind: Deployment # changed\n",
    )
    .unwrap();
    let error = cli.fails(&["diff", "artifact", &url, "--path", path]);
    assert!(
        error.contains("the remote artifact contents differs from the local one"),
        "{error}"
    );

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("app.tgz");
    let (_, stderr) = cli.ok(&[
        "build",
        "artifact",
        "--path",
        path,
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(&format!("✔ artifact created at {}", file.display())),
        "{stderr}"
    );
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let names: BTreeSet<String> = tar_listing(&file)
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_owned())
        .collect();
    assert!(names.contains("deploy/base/deployment.yaml") && !names.contains("logo.png"));
}

#[test]
fn push_single_files_and_stdin() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:file", registry.oci_url("apps/single"));
    cli.push(&url, &tree.path().join("deploy/kustomization.yaml"), &[]);
    let scratch = tempfile::tempdir().unwrap();
    let names: Vec<String> = tar_listing(&layer_via_skopeo(
        &registry,
        "apps/single:file",
        scratch.path(),
    ))
    .iter()
    .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    .collect();
    assert_eq!(names, [".", "kustomization.yaml"]);

    let mut child = cli
        .command(&[
            "push",
            "artifact",
            &format!("{}:stdin", registry.oci_url("apps/single")),
            "--path",
            "-",
            "--source",
            "s",
            "--revision",
            "r",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"kind: Namespace\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let out = tempfile::tempdir().unwrap();
    cli.ok(&[
        "pull",
        "artifact",
        &format!("{}:stdin", registry.oci_url("apps/single")),
        "-o",
        out.path().to_str().unwrap(),
    ]);
    let files: Vec<_> = fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn ignore_flags_replace_and_extend_the_defaults() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:v1", registry.oci_url("apps/ignored"));
    cli.push(
        &url,
        tree.path(),
        &["--ignore-paths", ".git/", "--add-ignore-paths", "*.sh"],
    );
    let scratch = tempfile::tempdir().unwrap();
    let names: BTreeSet<String> = tar_listing(&layer_via_skopeo(
        &registry,
        "apps/ignored:v1",
        scratch.path(),
    ))
    .iter()
    .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    .collect();
    assert!(
        names.contains("logo.png"),
        "--ignore-paths replaces the default patterns"
    );
    assert!(
        !names.contains("deploy/hook.sh"),
        "--add-ignore-paths adds to them"
    );
    assert!(!names.contains(".git/HEAD"));

    cli.push(&url, tree.path(), &["--resolve-symlinks"]);
    let scratch = tempfile::tempdir().unwrap();
    let names: BTreeSet<String> = tar_listing(&layer_via_skopeo(
        &registry,
        "apps/ignored:v1",
        scratch.path(),
    ))
    .iter()
    .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    .collect();
    assert!(
        names.contains("link.yaml"),
        "--resolve-symlinks archives the link's target"
    );
}

#[test]
fn basic_auth_from_flags_docker_config_and_credential_helpers() {
    let registry = Registry::start_with_auth("flux", "s3cret");
    let cli = Cli::new();
    let tree = source_tree();
    let url = format!("{}:v1", registry.oci_url("private/app"));
    let path = tree.path().to_str().unwrap();
    let push = |extra: &[&str]| {
        let mut args = vec![
            "push",
            "artifact",
            url.as_str(),
            "--path",
            path,
            "--source",
            "s",
            "--revision",
            "r",
        ];
        args.extend_from_slice(extra);
        cli.run(&args)
    };
    let single_error = |out: Output| {
        let (_, stderr) = texts(&out);
        assert!(!out.status.success(), "{stderr}");
        stderr
            .lines()
            .filter(|l| l.starts_with("✗ "))
            .collect::<Vec<_>>()
            .join("\n")
    };

    let error = single_error(push(&[]));
    assert!(
        error.contains("401 Unauthorized") && error.contains("authentication required"),
        "{error}"
    );
    let error = single_error(push(&["--creds", "flux:wrong"]));
    assert!(error.contains("401 Unauthorized"), "{error}");
    assert!(push(&["--creds", "flux:s3cret"]).status.success());

    // ~/.docker/config.json `auths`.
    let auth = e2e_base64("flux:s3cret");
    let config = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr);
    fs::write(cli.docker_config.path().join("config.json"), config).unwrap();
    let (table, _) = cli.ok(&["list", "artifacts", &registry.oci_url("private/app")]);
    assert!(table.contains("private/app:v1"), "{table}");

    // `credHelpers`: docker-credential-<name> on PATH answers `get`.
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-fluxtest");
    fs::write(&helper, "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"flux\",\"Secret\":\"s3cret\"}' \"$server\"\n").unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(r#"{{"credHelpers":{{"{}":"fluxtest"}}}}"#, registry.addr);
    fs::write(cli.docker_config.path().join("config.json"), config).unwrap();
    let path_var = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = cli
        .command(&["list", "artifacts", &registry.oci_url("private/app")])
        .env("PATH", path_var)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("private/app:v1"));
}

fn e2e_base64(text: &str) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = out.unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

#[test]
fn bad_input_gets_one_clear_line() {
    let registry = Registry::start();
    let cli = Cli::new();
    let tree = source_tree();
    let path = tree.path().to_str().unwrap();
    let error = cli.fails(&[
        "push",
        "artifact",
        &format!("{}/x:v1", registry.addr),
        "--path",
        path,
        "--source",
        "s",
        "--revision",
        "r",
    ]);
    assert!(error.contains("must start with oci://"), "{error}");

    let unreachable = format!("oci://127.0.0.1:{}/x:v1", e2e::process::free_port());
    let error = cli.fails(&[
        "pull",
        "artifact",
        &unreachable,
        "-o",
        path,
        "--timeout",
        "30s",
    ]);
    assert!(error.contains("Connection refused"), "{error}");

    let error = cli.fails(&[
        "pull",
        "artifact",
        &format!("{}:nope", registry.oci_url("no/such")),
        "-o",
        path,
    ]);
    assert!(
        error.contains("not found") && error.contains("no/such:nope"),
        "{error}"
    );

    let error = cli.fails(&[
        "pull",
        "artifact",
        &format!("{}:v1", registry.oci_url("x")),
        "-o",
        &format!("{path}/deploy/kustomization.yaml"),
    ]);
    assert!(error.contains("must be an existing directory"), "{error}");

    let out = cli.run(&[
        "push",
        "artifact",
        &format!("{}:v1", registry.oci_url("x")),
        "--source",
        "s",
        "--revision",
        "r",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--path"));

    let error = cli.fails(&[
        "push",
        "artifact",
        &format!("{}:v1", registry.oci_url("x")),
        "--path",
        "/nonexistent/dir",
        "--source",
        "s",
        "--revision",
        "r",
    ]);
    assert!(error.contains("invalid path '/nonexistent/dir'"), "{error}");
}

/// The tar stream inside the layer is byte for byte what Go's archive/tar writes for Flux's
/// entry rules (a small Go program in tests/gotar mirrors the flux CLI's build).
#[test]
fn tar_stream_is_byte_identical_to_gos_archive_tar() {
    let scratch = tempfile::tempdir().unwrap();
    let program = scratch.path().join("gotar");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gotar/main.go");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&program)
        .arg(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", scratch.path().join("gopath"))
        .status()
        .expect("go is installed (scripts/install-deps.sh)");
    assert!(built.success(), "go build");

    let tree = tempfile::tempdir().unwrap();
    let root = tree.path();
    fs::create_dir_all(root.join("deploy/nested/deeper")).unwrap();
    fs::write(root.join("deploy/app.yaml"), "kind: ConfigMap\n").unwrap();
    fs::write(root.join("deploy/nested/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(
        root.join("deploy/nested/run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::write(
        root.join("deploy/nested/deeper/big.txt"),
        "x".repeat(70_000),
    )
    .unwrap();
    fs::write(root.join("Zfirst-by-byte-order.yaml"), "").unwrap();
    // Over 100 bytes in all: USTAR splits it into prefix and name, as Go does.
    let long_dir =
        root.join("a-fairly-long-directory-name/another-fairly-long-directory-name/and-one-more");
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(
        long_dir.join("with-a-long-file-name.yaml"),
        "kind: ConfigMap\n",
    )
    .unwrap();

    let go = Command::new(&program).arg(root).output().unwrap();
    assert!(go.status.success());
    let out = scratch.path().join("rs.tgz");
    let cli = Cli::new();
    cli.ok(&[
        "build",
        "artifact",
        "--path",
        root.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let ours = gunzip(&fs::read(&out).unwrap());
    assert_eq!(ours.len(), go.stdout.len(), "same stream length");
    assert!(ours == go.stdout, "the tar streams differ");
}
