//! Git over ssh:// on loopback: the real OpenSSH `sshd` (Debian's openssh-server) on a free
//! port with a host key made for the test, accepting one user key; the real `git`
//! upload-pack and receive-pack on the other side.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Guarded, free_port, wait_for_port};

/// An ed25519 key pair made by `ssh-keygen`.
pub struct KeyPair {
    pub private: PathBuf,
    /// `ssh-ed25519 AAAA… comment`.
    pub public: String,
}

impl KeyPair {
    pub fn generate(dir: &Path, name: &str) -> Self {
        let private = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&private)
            .status()
            .expect("ssh-keygen runs (run scripts/install-deps.sh)");
        assert!(status.success(), "ssh-keygen failed");
        let public = std::fs::read_to_string(private.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned();
        Self { private, public }
    }

    pub fn private_pem(&self) -> String {
        std::fs::read_to_string(&self.private).unwrap()
    }
}

pub struct SshServer {
    _process: Guarded,
    _dir: tempfile::TempDir,
    pub port: u16,
    host_key: KeyPair,
}

impl SshServer {
    /// Starts sshd accepting `user_key` for the current user.
    pub fn start(user_key: &KeyPair) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host_key = KeyPair::generate(dir.path(), "host");
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, format!("{}\n", user_key.public)).unwrap();
        // sshd's privilege separation directory (Debian creates it only when the service runs).
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let mut command = Command::new("/usr/sbin/sshd");
        command
            .args(["-D", "-e", "-f", "/dev/null", "-p", &port.to_string(), "-h"])
            .arg(&host_key.private)
            .args([
                "-o",
                "ListenAddress=127.0.0.1",
                "-o",
                &format!("AuthorizedKeysFile={}", authorized.display()),
                "-o",
                "PasswordAuthentication=no",
                "-o",
                "KbdInteractiveAuthentication=no",
                "-o",
                "PermitRootLogin=prohibit-password",
                "-o",
                "StrictModes=no",
                "-o",
                "PidFile=none",
                "-o",
                // The servers' git, wherever the login shell's PATH does not reach it.
                "SetEnv=PATH=/usr/local/bin:/usr/bin:/bin",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sshd.log")).unwrap());
        let process = Guarded::spawn("sshd", &mut command).unwrap();
        wait_for_port(&format!("127.0.0.1:{port}"), Duration::from_secs(10)).unwrap();
        Self {
            _process: process,
            _dir: dir,
            port,
            host_key,
        }
    }

    /// The clone URL of a bare repository at `path`, for the current user.
    pub fn url(&self, path: &Path) -> String {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, path.display())
    }

    /// The `known_hosts` line for this server.
    pub fn known_hosts(&self) -> String {
        let mut parts = self.host_key.public.split_whitespace();
        let (kind, key) = (parts.next().unwrap(), parts.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {key}\n", self.port)
    }
}
