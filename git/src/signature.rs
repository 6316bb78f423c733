//! SSH signatures (SSHSIG, namespace `git`) of commits and tags: checked against authorized
//! keys, as `git verify-commit` does with `gpg.format=ssh`, and made with a private key, as
//! `git commit -S` does.

pub use ssh_key::PublicKey;
use ssh_key::{HashAlg, LineEnding, PrivateKey, SshSig};

use crate::Signed;

/// The kind of a signature, from its armor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureKind {
    Ssh,
    Pgp,
    Unknown,
}

pub fn kind(signed: &Signed) -> SignatureKind {
    if signed.signature.contains("-----BEGIN SSH SIGNATURE-----") {
        SignatureKind::Ssh
    } else if signed.signature.contains("-----BEGIN PGP SIGNATURE-----") {
        SignatureKind::Pgp
    } else {
        SignatureKind::Unknown
    }
}

/// Public keys in `authorized_keys` format (one per line, comments and blank lines skipped).
pub fn parse_authorized_keys(text: &str) -> Result<Vec<PublicKey>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            PublicKey::from_openssh(line).map_err(|e| format!("invalid SSH public key: {e}"))
        })
        .collect()
}

/// Verifies an SSH signature with any of `keys`; returns the SHA256 fingerprint of the key
/// that made it.
pub fn verify_ssh(signed: &Signed, keys: &[PublicKey]) -> Result<String, String> {
    let signature = SshSig::from_pem(signed.signature.trim())
        .map_err(|e| format!("unable to parse the SSH signature: {e}"))?;
    if signature.namespace() != "git" {
        return Err(format!(
            "the signature is for namespace '{}', not 'git'",
            signature.namespace()
        ));
    }
    keys.iter()
        .find(|key| key.verify("git", &signed.payload, &signature).is_ok())
        .map(|key| key.fingerprint(HashAlg::Sha256).to_string())
        .ok_or_else(|| "no matching key found for the signature".to_owned())
}

/// Signs commits with an SSH private key.
pub struct SshSigner(PrivateKey);

impl SshSigner {
    /// From an OpenSSH private key, decrypted with `passphrase` when it is encrypted.
    pub fn from_openssh(pem: &str, passphrase: Option<&str>) -> Result<Self, String> {
        let key = PrivateKey::from_openssh(pem.trim())
            .map_err(|e| format!("unable to parse the SSH private key: {e}"))?;
        let key = match (key.is_encrypted(), passphrase) {
            (true, Some(passphrase)) => key
                .decrypt(passphrase)
                .map_err(|e| format!("unable to decrypt the SSH private key: {e}"))?,
            (true, None) => {
                return Err("the SSH private key is encrypted and no password was given".to_owned());
            }
            (false, _) => key,
        };
        Ok(Self(key))
    }
}

impl crate::Signer for SshSigner {
    fn sign(&self, commit: &[u8]) -> Result<String, String> {
        let signature = self
            .0
            .sign("git", HashAlg::Sha512, commit)
            .map_err(|e| e.to_string())?;
        signature.to_pem(LineEnding::LF).map_err(|e| e.to_string())
    }
}
