//! A real TUF repository on loopback: made and changed by python-tuf, the reference
//! implementation (`tuf_repository.py`), and served over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{Guarded, free_port, wait_for_port};

/// What a new timestamp looks like; see `tuf_repository.py timestamp`.
#[derive(Clone, Copy, Debug)]
pub enum Timestamp {
    Good,
    BadSignature,
    Expired,
    Rollback,
}

pub struct TufRepository {
    state: tempfile::TempDir,
    port: u16,
    _server: Guarded,
}

/// The Python of the tools environment `scripts/install-deps.sh` sets up (python-tuf in it).
fn python() -> PathBuf {
    crate::bin::kubectl().with_file_name("python3")
}

impl TufRepository {
    /// A repository whose `trusted_root.json` target is `trusted_root`, served on loopback.
    pub fn create(trusted_root: &str) -> Self {
        let state = tempfile::tempdir().unwrap();
        Self::run_with(state.path(), &["init"], Some(trusted_root));
        let port = free_port();
        let server = Guarded::spawn(
            "tuf mirror",
            Command::new("python3")
                .args(["-m", "http.server", "--bind", "127.0.0.1"])
                .arg(port.to_string())
                .arg("--directory")
                .arg(state.path().join("repo"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap();
        wait_for_port(&format!("127.0.0.1:{port}"), Duration::from_secs(10)).unwrap();
        Self {
            state,
            port,
            _server: server,
        }
    }

    fn run_with(state: &Path, args: &[&str], trusted_root: Option<&str>) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuf_repository.py");
        let mut command = Command::new(python());
        command.arg(script).arg(args[0]).arg(state).args(&args[1..]);
        let file = state.join("published-trusted-root.json");
        if let Some(json) = trusted_root {
            std::fs::write(&file, json).unwrap();
            command.arg(&file);
        }
        let out = command
            .output()
            .expect("python-tuf (run scripts/install-deps.sh)");
        assert!(
            out.status.success(),
            "tuf_repository.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn run(&self, args: &[&str], trusted_root: Option<&str>) {
        Self::run_with(self.state.path(), args, trusted_root);
    }

    /// The mirror URL for `--tuf-mirror`.
    pub fn mirror(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The root version 1 a client starts from (`--tuf-root`).
    pub fn initial_root(&self) -> PathBuf {
        self.state.path().join("repo/1.root.json")
    }

    /// Publishes a new `trusted_root.json` (new targets, snapshot and timestamp).
    pub fn publish(&self, trusted_root: &str) {
        self.run(&["publish"], Some(trusted_root));
    }

    /// A new root version with new root and timestamp keys, signed by the old and new root
    /// keys, and a timestamp signed by the new timestamp key.
    pub fn rotate_root(&self) {
        self.run(&["rotate-root"], None);
    }

    /// Replaces `timestamp.json`.
    pub fn timestamp(&self, kind: Timestamp) {
        let kind = match kind {
            Timestamp::Good => "good",
            Timestamp::BadSignature => "bad-signature",
            Timestamp::Expired => "expired",
            Timestamp::Rollback => "rollback",
        };
        self.run(&["timestamp", kind], None);
    }
}
