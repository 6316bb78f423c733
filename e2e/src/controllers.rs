//! The project's controllers as processes against the cluster under test, each scoped to one
//! test namespace, with their logs printed when the test fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{Guarded, free_port, wait_for_port};

/// When set, every controller runs as its own ServiceAccount from `config/` (impersonated
/// through a kubeconfig), to prove that its ClusterRole is enough for the whole suite.
pub const AS_SERVICE_ACCOUNTS: &str = "FLUX_RS_E2E_AS_SERVICE_ACCOUNTS";

/// A copy of the test's kubeconfig whose user acts as
/// `system:serviceaccount:flux-system:<service_account>`.
pub fn kubeconfig_as(dir: &std::path::Path, service_account: &str) -> PathBuf {
    let path = std::env::var_os("KUBECONFIG").expect("KUBECONFIG");
    let text = std::fs::read_to_string(&path).expect("the kubeconfig is readable");
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).expect("a kubeconfig");
    for user in config["users"].as_array_mut().expect("users") {
        user["user"]["as"] = serde_json::json!(format!(
            "system:serviceaccount:flux-system:{service_account}"
        ));
    }
    let out = dir.join(format!("{service_account}.kubeconfig"));
    std::fs::write(&out, serde_json::to_string(&config).expect("JSON")).expect("writable");
    out
}

/// A controller process and its log file.
pub struct ControllerProcess {
    process: Option<Guarded>,
    log: PathBuf,
    name: String,
    binary: String,
    args: Vec<String>,
    namespace: String,
    health_addr: String,
    pub metrics_addr: String,
}

impl ControllerProcess {
    /// Starts `binary` with `args` plus the common flags, watching only `namespace`.
    pub fn start(
        binary: &str,
        namespace: &str,
        args: Vec<String>,
        scratch: &std::path::Path,
    ) -> Self {
        let health_addr = format!("127.0.0.1:{}", free_port());
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let mut controller = Self {
            process: None,
            log: scratch.join(format!("{binary}.log")),
            name: binary.to_owned(),
            binary: binary.to_owned(),
            args,
            namespace: namespace.to_owned(),
            health_addr,
            metrics_addr,
        };
        controller.restart();
        controller
    }

    /// Starts the process (again), with the same flags and log.
    pub fn restart(&mut self) {
        self.process = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(crate::bin::path(&self.binary));
        if std::env::var_os(AS_SERVICE_ACCOUNTS).is_some()
            && !self.args.iter().any(|a| a.starts_with("--kubeconfig"))
        {
            let dir = self.log.parent().expect("the log's directory");
            command.arg(format!(
                "--kubeconfig={}",
                kubeconfig_as(dir, &self.binary).display()
            ));
        }
        command
            .args(&self.args)
            .args([
                "--watch-all-namespaces=false",
                "--log-encoding=json",
                "--log-level=debug",
                &format!("--health-addr={}", self.health_addr),
                &format!("--metrics-addr={}", self.metrics_addr),
            ])
            .env("RUNTIME_NAMESPACE", &self.namespace)
            .env(
                "RUST_LOG",
                format!("info,{}=debug", self.binary.replace('-', "_")),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.process = Some(Guarded::spawn(&self.name, &mut command).expect("controller starts"));
        // Until the probes answer, or the process gives up (a port taken meanwhile).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&self.health_addr).is_err() {
            let exited = self.process.as_mut().is_some_and(Guarded::exited);
            if exited || std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the log has a line containing `needle`; fails if the process exits first
    /// (for example because a port it was given was taken meanwhile by another test).
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.logs().contains(needle) {
                return Ok(());
            }
            if self.process.as_mut().is_none_or(Guarded::exited) {
                let logs = self.logs();
                let tail: Vec<&str> = logs.lines().rev().take(5).collect();
                return Err(format!("{} exited: {tail:?}", self.name));
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "{} did not log {needle:?} within {timeout:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.process = None;
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://{}/readyz", self.health_addr))
            .output()
            .unwrap();
        out.stdout == b"200"
    }

    /// How long `/healthz` takes to answer (at most `limit`; a probe that does not answer in
    /// time counts as `limit`).
    pub fn healthz_latency(&self, limit: Duration) -> Duration {
        use std::io::{Read, Write};
        let started = std::time::Instant::now();
        let answered = (|| -> std::io::Result<bool> {
            let mut stream = std::net::TcpStream::connect(&self.health_addr)?;
            stream.set_read_timeout(Some(limit))?;
            stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: probe\r\n\r\n")?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response)?;
            Ok(response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200"))
        })();
        match answered {
            Ok(true) => started.elapsed().min(limit),
            _ => limit,
        }
    }

    /// The controller's `/metrics` text.
    pub fn metrics(&self) -> String {
        let out = Command::new("curl")
            .args(["-sf", &format!("http://{}/metrics", self.metrics_addr)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Peak resident memory of the process so far, in KiB (Linux `VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.process.as_ref()?.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(150).collect();
            eprintln!("----- {} logs (last {} lines) -----", self.name, tail.len());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// source-controller with its own storage directory and file server.
pub struct SourceController {
    pub process: ControllerProcess,
    pub storage_dir: tempfile::TempDir,
    /// `127.0.0.1:<port>` of the artifact file server.
    pub storage_addr: String,
}

impl SourceController {
    pub fn start(namespace: &str, events_addr: Option<&str>) -> Self {
        retrying_port_clashes(|| {
            let mut controller = Self::start_with(namespace, events_addr, &[]);
            controller.process.wait_for_log(
                "starting the GitRepository, OCIRepository, HelmChart and HelmRepository controllers",
                Duration::from_secs(30),
            )?;
            Ok(controller)
        })
    }

    /// Starts source-controller with extra flags (leader election, …), without waiting for
    /// its file server.
    pub fn start_with(namespace: &str, events_addr: Option<&str>, extra: &[&str]) -> Self {
        let storage_dir = tempfile::tempdir().unwrap();
        let storage_addr = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            format!(
                "--storage-path={}",
                storage_dir.path().join("data").display()
            ),
            format!("--storage-addr={storage_addr}"),
            format!("--storage-adv-addr={storage_addr}"),
            "--artifact-retention-ttl=0s".to_owned(),
            "--min-retry-delay=500ms".to_owned(),
            "--max-retry-delay=2s".to_owned(),
        ];
        if let Some(addr) = events_addr {
            args.push(format!("--events-addr={addr}"));
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let process =
            ControllerProcess::start("source-controller", namespace, args, storage_dir.path());
        Self {
            process,
            storage_dir,
            storage_addr,
        }
    }

    /// Waits until the artifact file server listens (only the leader serves).
    pub fn wait_serving(&self, timeout: Duration) -> std::io::Result<()> {
        wait_for_port(&self.storage_addr, timeout)
    }

    /// The storage directory of one object.
    pub fn object_dir(&self, namespace: &str, name: &str) -> PathBuf {
        self.storage_dir
            .path()
            .join("data/ocirepository")
            .join(namespace)
            .join(name)
    }
}

/// kustomize-controller, with short retry and dependency delays so tests converge quickly.
pub struct KustomizeController {
    pub process: ControllerProcess,
    _scratch: tempfile::TempDir,
}

impl KustomizeController {
    pub fn start(namespace: &str, events_addr: Option<&str>) -> Self {
        Self::start_with(namespace, events_addr, &[])
    }

    /// Starts kustomize-controller with extra flags and waits until it reconciles.
    pub fn start_with(namespace: &str, events_addr: Option<&str>, extra: &[&str]) -> Self {
        retrying_port_clashes(|| {
            let mut controller = Self::spawn(namespace, events_addr, extra);
            controller.process.wait_for_log(
                "starting the Kustomization controller",
                Duration::from_secs(30),
            )?;
            Ok(controller)
        })
    }

    /// Starts kustomize-controller without waiting for it to reconcile (a standby waits for
    /// the lease first).
    pub fn spawn(namespace: &str, events_addr: Option<&str>, extra: &[&str]) -> Self {
        let (process, scratch) = spawn_quick(
            "kustomize-controller",
            namespace,
            events_addr,
            &["--http-retry=2"],
            extra,
        );
        Self {
            process,
            _scratch: scratch,
        }
    }
}

/// helm-controller, with short retry and dependency delays so tests converge quickly.
pub struct HelmController {
    pub process: ControllerProcess,
    _scratch: tempfile::TempDir,
}

impl HelmController {
    /// Starts helm-controller with extra flags and waits until it reconciles.
    pub fn start(namespace: &str, events_addr: Option<&str>, extra: &[&str]) -> Self {
        retrying_port_clashes(|| {
            let mut controller = Self::spawn(namespace, events_addr, extra);
            controller.process.wait_for_log(
                "starting the HelmRelease controller",
                Duration::from_secs(30),
            )?;
            Ok(controller)
        })
    }

    /// Starts helm-controller without waiting for it (a standby waits for the lease first).
    pub fn spawn(namespace: &str, events_addr: Option<&str>, extra: &[&str]) -> Self {
        let (process, scratch) = spawn_quick(
            "helm-controller",
            namespace,
            events_addr,
            &["--http-retry=2"],
            extra,
        );
        Self {
            process,
            _scratch: scratch,
        }
    }
}

/// Starts `binary` with short retry and dependency delays so tests converge quickly, its own
/// flags and the test's; returns it with its scratch directory.
fn spawn_quick(
    binary: &str,
    namespace: &str,
    events_addr: Option<&str>,
    own: &[&str],
    extra: &[&str],
) -> (ControllerProcess, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--requeue-dependency=2s".to_owned(),
        "--min-retry-delay=500ms".to_owned(),
        "--max-retry-delay=2s".to_owned(),
    ];
    if let Some(addr) = events_addr {
        args.push(format!("--events-addr={addr}"));
    }
    args.extend(own.iter().chain(extra).map(|a| (*a).to_owned()));
    let process = ControllerProcess::start(binary, namespace, args, scratch.path());
    (process, scratch)
}

/// image-reflector-controller with its own tag storage.
pub struct ImageReflectorController {
    pub process: ControllerProcess,
    pub storage_dir: tempfile::TempDir,
    _scratch: tempfile::TempDir,
}

impl ImageReflectorController {
    /// Starts image-reflector-controller and waits until it reconciles.
    pub fn start(namespace: &str, events_addr: Option<&str>, extra: &[&str]) -> Self {
        retrying_port_clashes(|| {
            let storage_dir = tempfile::tempdir().unwrap();
            let storage = format!("--storage-path={}", storage_dir.path().display());
            let (mut process, scratch) = spawn_quick(
                "image-reflector-controller",
                namespace,
                events_addr,
                &[&storage],
                extra,
            );
            process.wait_for_log(
                "starting the ImageRepository and ImagePolicy controllers",
                Duration::from_secs(30),
            )?;
            Ok(Self {
                process,
                storage_dir,
                _scratch: scratch,
            })
        })
    }
}

/// image-automation-controller.
pub struct ImageAutomationController {
    pub process: ControllerProcess,
    _scratch: tempfile::TempDir,
}

impl ImageAutomationController {
    /// Starts image-automation-controller and waits until it reconciles.
    pub fn start(namespace: &str, events_addr: Option<&str>, extra: &[&str]) -> Self {
        retrying_port_clashes(|| {
            let (mut process, scratch) = spawn_quick(
                "image-automation-controller",
                namespace,
                events_addr,
                &[],
                extra,
            );
            process.wait_for_log(
                "starting the ImageUpdateAutomation controller",
                Duration::from_secs(30),
            )?;
            Ok(Self {
                process,
                _scratch: scratch,
            })
        })
    }
}

/// notification-controller receiving events on a free loopback port.
pub struct NotificationController {
    pub process: ControllerProcess,
    _scratch: tempfile::TempDir,
    /// `127.0.0.1:<port>` of the event endpoint.
    pub events_addr: String,
    /// `127.0.0.1:<port>` of the webhook receiver server.
    pub receiver_addr: String,
}

impl NotificationController {
    pub fn start(namespace: &str) -> Self {
        Self::start_with(namespace, &[])
    }

    /// Starts notification-controller with extra flags and waits until it serves events.
    pub fn start_with(namespace: &str, extra: &[&str]) -> Self {
        retrying_port_clashes(|| {
            let mut controller = Self::spawn(namespace, extra);
            controller
                .process
                .wait_for_log("\"message\":\"serving\"", Duration::from_secs(30))?;
            Ok(controller)
        })
    }

    /// Starts notification-controller without waiting (a standby serves once it leads).
    pub fn spawn(namespace: &str, extra: &[&str]) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let events_addr = format!("127.0.0.1:{}", free_port());
        let receiver_addr = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            format!("--events-addr={events_addr}"),
            format!("--receiver-addr={receiver_addr}"),
            "--rate-limit-interval=5m".to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let process =
            ControllerProcess::start("notification-controller", namespace, args, scratch.path());
        Self {
            process,
            _scratch: scratch,
            events_addr,
            receiver_addr,
        }
    }

    /// The URL controllers post events to.
    pub fn events_url(&self) -> String {
        format!("http://{}/", self.events_addr)
    }
}

/// Starts something on fresh free ports, again if the first try lost a port to another test
/// running in parallel (free ports are only free until someone binds them).
fn retrying_port_clashes<T>(mut start: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    for _ in 0..3 {
        match start() {
            Ok(started) => return started,
            Err(e) => last = e,
        }
    }
    panic!("could not start after 3 attempts: {last}");
}
