//! Checking the SSH signature (SSHSIG, namespace `git`) of a commit or tag against
//! authorized keys, as `git verify-commit` does with `gpg.format=ssh`.

pub use ssh_key::PublicKey;
use ssh_key::{HashAlg, SshSig};

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
