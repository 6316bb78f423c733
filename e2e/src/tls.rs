//! Test certificates made by `openssl` (an implementation independent of the code under
//! test): a CA, a server certificate for 127.0.0.1 and client certificates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `openssl` and returns its stdout; panics with its stderr on failure.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes a new ECDSA P-256 private key (PEM) to `path`.
pub fn ec_key(path: &Path) {
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        path.to_str().unwrap(),
    ]);
}

/// A certificate authority in a temporary directory.
pub struct TestCa {
    dir: tempfile::TempDir,
}

/// A PEM certificate and its PEM key.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn generate(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Self { dir };
        ec_key(&ca.path("ca.key"));
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &ca.arg("ca.key"),
            "-out",
            &ca.arg("ca.crt"),
            "-subj",
            &format!("/O=flux-rs e2e/CN={name}"),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        ca
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> String {
        std::fs::read_to_string(self.path("ca.crt")).unwrap()
    }

    /// Issues a certificate for a fresh key with the X.509v3 `extensions` (openssl extension
    /// file lines), valid for a day.
    pub fn issue(&self, subject: &str, extensions: &str) -> Issued {
        let work = tempfile::tempdir().unwrap();
        let path = |name: &str| work.path().join(name).to_str().unwrap().to_owned();
        ec_key(&work.path().join("leaf.key"));
        openssl(&[
            "req",
            "-new",
            "-key",
            &path("leaf.key"),
            "-subj",
            subject,
            "-out",
            &path("leaf.csr"),
        ]);
        std::fs::write(work.path().join("leaf.ext"), extensions).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &path("leaf.csr"),
            "-CA",
            &self.arg("ca.crt"),
            "-CAkey",
            &self.arg("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &path("leaf.ext"),
            "-out",
            &path("leaf.crt"),
        ]);
        // PKCS#8, the form every TLS stack reads.
        let key_pem = String::from_utf8(openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &path("leaf.key"),
        ]))
        .unwrap();
        Issued {
            cert_pem: std::fs::read_to_string(work.path().join("leaf.crt")).unwrap(),
            key_pem,
        }
    }

    /// A server certificate for 127.0.0.1.
    pub fn server(&self) -> Issued {
        self.issue(
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
        )
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.issue(
            &format!("/CN={name}"),
            "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
        )
    }
}
