//! OpenPGP keys made by the real gpg, in a GnuPG home of their own.

use std::process::Command;

/// An ed25519 signing key and the GnuPG home holding it (for `git commit -S` and `git
/// verify-commit` through `GNUPGHOME`).
pub struct GpgKey {
    pub home: tempfile::TempDir,
    /// The armored secret key.
    pub secret: String,
    /// The armored public key.
    pub public: String,
    /// The long key ID, 16 upper-case hex digits.
    pub key_id: String,
}

impl GpgKey {
    pub fn generate(email: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let gpg = |args: &[&str]| {
            let output = Command::new("gpg")
                .arg("--homedir")
                .arg(home.path())
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .output()
                .expect("gpg (gnupg) is installed");
            assert!(
                output.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        };
        gpg(&[
            "--quick-gen-key",
            &format!("Bot <{email}>"),
            "ed25519",
            "sign",
            "never",
        ]);
        let key_id = gpg(&["--list-keys", "--with-colons", email])
            .lines()
            .find(|l| l.starts_with("pub:"))
            .and_then(|l| l.split(':').nth(4))
            .expect("the key just made")
            .to_owned();
        Self {
            secret: gpg(&["--armor", "--export-secret-keys", email]),
            public: gpg(&["--armor", "--export", email]),
            key_id,
            home,
        }
    }
}
