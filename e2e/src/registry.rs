//! Debian's `docker-registry` (distribution 2.8) on a free loopback port, and uploads through
//! its HTTP API with curl (an OCI client independent of ours).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::process::{Guarded, free_port, wait_for_port};
use crate::tls::TestCa;

pub struct Registry {
    process: Option<Guarded>,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Basic-auth user and password, when started with auth.
    pub credentials: Option<(String, String)>,
    /// The CA of the registry's TLS certificate, when it serves HTTPS.
    ca_file: Option<PathBuf>,
    /// The certificate and key uploads present, when the registry requires one.
    client_files: Option<(PathBuf, PathBuf)>,
}

impl Registry {
    /// An anonymous registry.
    pub fn start() -> Self {
        Self::launch(None, None)
    }

    /// A registry that requires `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::launch(Some((user.to_owned(), password.to_owned())), None)
    }

    /// An anonymous registry serving HTTPS with a certificate for 127.0.0.1 issued by `ca`.
    pub fn start_tls(ca: &TestCa) -> Self {
        Self::launch(None, Some((ca, false)))
    }

    /// As [`Registry::start_tls`], and clients must present a certificate `ca` issued.
    pub fn start_mutual_tls(ca: &TestCa) -> Self {
        Self::launch(None, Some((ca, true)))
    }

    fn launch(credentials: Option<(String, String)>, tls_ca: Option<(&TestCa, bool)>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut tls = String::new();
        let mut ca_file = None;
        let mut client_files = None;
        if let Some((ca, mutual)) = tls_ca {
            let server = ca.server();
            let (cert, key, ca_path) = (
                dir.path().join("server.crt"),
                dir.path().join("server.key"),
                dir.path().join("ca.crt"),
            );
            std::fs::write(&cert, server.cert_pem).unwrap();
            std::fs::write(&key, server.key_pem).unwrap();
            std::fs::write(&ca_path, ca.cert_pem()).unwrap();
            tls = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            if mutual {
                tls.push_str(&format!("    clientcas:\n      - {}\n", ca_path.display()));
                // The test's own uploads present a certificate too.
                let client = ca.client("e2e-uploader");
                let (cert, key) = (dir.path().join("client.crt"), dir.path().join("client.key"));
                std::fs::write(&cert, client.cert_pem).unwrap();
                std::fs::write(&key, client.key_pem).unwrap();
                client_files = Some((cert, key));
            }
            ca_file = Some(ca_path);
        }
        let mut auth = String::new();
        if let Some((user, password)) = &credentials {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) is installed");
            assert!(out.status.success(), "htpasswd failed");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, out.stdout).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: flux-rs-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let mut registry = Self {
            process: None,
            dir,
            addr: String::new(),
            credentials,
            ca_file,
            client_files,
        };
        // A free port is only free until someone binds it: another test may win the race.
        for _ in 0..3 {
            registry.addr = format!("127.0.0.1:{}", free_port());
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: {}\n{tls}{auth}",
                registry.dir.path().join("data").display(),
                registry.addr
            );
            std::fs::write(registry.dir.path().join("config.yml"), config).unwrap();
            registry.restart();
            std::thread::sleep(Duration::from_millis(100));
            if registry.process.as_mut().is_some_and(|p| !p.exited()) {
                return registry;
            }
        }
        panic!(
            "docker-registry did not start; see {}",
            registry.log_path().display()
        );
    }

    /// Starts the registry process again (after [`Registry::stop`]) on the same port and
    /// storage.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .unwrap();
        let process = Guarded::spawn(
            "docker-registry",
            Command::new("docker-registry")
                .arg("serve")
                .arg(self.dir.path().join("config.yml"))
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        )
        .expect("docker-registry starts");
        wait_for_port(&self.addr, Duration::from_secs(15)).expect("docker-registry listens");
        self.process = Some(process);
    }

    /// Stops the registry process; its storage stays.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// `oci://127.0.0.1:<port>/<repository>`.
    pub fn oci_url(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.addr)
    }

    /// `http://127.0.0.1:<port>` (`https://` when the registry serves TLS).
    pub fn http_base(&self) -> String {
        let scheme = if self.ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// curl, trusting the registry's CA when it serves TLS.
    fn curl(&self) -> Command {
        let mut curl = Command::new("curl");
        if let Some(ca) = &self.ca_file {
            curl.arg("--cacert").arg(ca);
        }
        if let Some((cert, key)) = &self.client_files {
            curl.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = &self.credentials {
            curl.arg("--user").arg(format!("{user}:{password}"));
        }
        curl
    }

    /// Where the registry keeps the bytes of a blob (to corrupt it on purpose).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Guarded::pid)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

impl Registry {
    /// PUTs `body` to `url` with curl; whether the server accepted it.
    fn curl_put(&self, url: &str, content_type: &str, body: &[u8]) -> bool {
        let mut child = self
            .curl()
            .args([
                "-sf",
                "-X",
                "PUT",
                "--data-binary",
                "@-",
                "-H",
                &format!("Content-Type: {content_type}"),
            ])
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("curl is installed");
        child.stdin.take().unwrap().write_all(body).unwrap();
        child.wait().unwrap().success()
    }

    /// Uploads a blob with curl: POST opens an upload session, PUT to its location with the
    /// digest completes it.
    pub fn upload_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let out = self
            .curl()
            .args([
                "-sf",
                "-X",
                "POST",
                "-o",
                "/dev/null",
                "-w",
                "%header{location}",
            ])
            .arg(format!("{}/v2/{repo}/blobs/uploads/", self.http_base()))
            .output()
            .unwrap();
        assert!(out.status.success(), "upload session");
        let location = String::from_utf8(out.stdout).unwrap();
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        assert!(
            self.curl_put(&url, "application/octet-stream", bytes),
            "blob upload"
        );
        digest
    }

    /// Adds `tags` to `repo`, each naming the manifest `existing` names, straight in the
    /// registry's storage (where it lists tags from): thousands of tags in milliseconds.
    pub fn add_tags(&self, repo: &str, existing: &str, tags: &[String]) {
        let dir = self
            .dir
            .path()
            .join("data/docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags");
        let link = std::fs::read(dir.join(existing).join("current/link")).expect("an existing tag");
        for tag in tags {
            let current = dir.join(tag).join("current");
            std::fs::create_dir_all(&current).unwrap();
            std::fs::write(current.join("link"), &link).unwrap();
        }
    }

    /// The digest the registry gives the manifest at `tag` (`Docker-Content-Digest`).
    pub fn manifest_digest(&self, repo: &str, tag: &str) -> String {
        let out = self
            .curl()
            .args([
                "-sf",
                "-I",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
            ])
            .arg(format!("{}/v2/{repo}/manifests/{tag}", self.http_base()))
            .output()
            .unwrap();
        assert!(out.status.success(), "HEAD manifest");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("docker-content-digest")
                    .then(|| value.trim().to_owned())
            })
            .expect("Docker-Content-Digest header")
    }

    pub fn upload_manifest(&self, repo: &str, tag: &str, manifest: &serde_json::Value) {
        let body = serde_json::to_vec(manifest).unwrap();
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.http_base());
        assert!(
            self.curl_put(&url, "application/vnd.oci.image.manifest.v1+json", &body),
            "manifest upload"
        );
    }

    /// A Flux artifact assembled by the test (any layer bytes), uploaded with curl. Returns
    /// the layer digest.
    pub fn upload_flux_artifact(&self, repo: &str, tag: &str, layer: &[u8]) -> String {
        let config =
            br#"{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
        let config_digest = self.upload_blob(repo, config);
        let layer_digest = self.upload_blob(repo, layer);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json", "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "size": layer.len(), "digest": layer_digest}],
            "annotations": {
                "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                "org.opencontainers.image.source": "https://example.org/foreign",
                "org.opencontainers.image.revision": "v9@sha1:feedface"
            }
        });
        self.upload_manifest(repo, tag, &manifest);
        layer_digest
    }
}

/// A gzip-compressed tarball with GNU headers written name by name (the tar crate refuses to
/// build the unsafe names tests need).
pub fn gnu_tar_gz(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        if *kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/hostname").unwrap();
        }
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    let raw = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}
