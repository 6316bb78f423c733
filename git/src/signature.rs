//! Signatures of commits and tags, as `git verify-commit` and `git commit -S` deal with them:
//! SSH signatures (SSHSIG, namespace `git`, `gpg.format=ssh`) and OpenPGP detached signatures
//! (rPGP, in process: no `gpg` binary), checked against the keys a Secret holds and made with
//! a private key.

pub use pgp::composed::SignedPublicKey as PgpPublicKey;
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

/// The OpenPGP public keys in an armored key block (one or more keys).
pub fn parse_pgp_keys(text: &str) -> Result<Vec<PgpPublicKey>, String> {
    use pgp::composed::Deserializable;
    let (keys, _) = pgp::composed::SignedPublicKey::from_armor_many(std::io::Cursor::new(text))
        .map_err(|e| format!("unable to read the OpenPGP key ring: {e}"))?;
    keys.collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("unable to read the OpenPGP key ring: {e}"))
}

/// Verifies an OpenPGP signature with any of `keys` (their primary keys or subkeys); returns
/// the ID of the key that made it, as Flux names it (16 upper-case hex digits).
pub fn verify_pgp(signed: &Signed, keys: &[PgpPublicKey]) -> Result<String, String> {
    use pgp::composed::{Deserializable, DetachedSignature};
    use pgp::types::KeyDetails;
    let (signature, _) =
        DetachedSignature::from_armor_single(std::io::Cursor::new(signed.signature.trim()))
            .map_err(|e| format!("unable to parse the OpenPGP signature: {e}"))?;
    for key in keys {
        if signature.verify(&key.primary_key, &signed.payload).is_ok() {
            return Ok(key_id(key.primary_key.legacy_key_id().as_ref()));
        }
        for subkey in &key.public_subkeys {
            if signature.verify(&subkey.key, &signed.payload).is_ok() {
                return Ok(key_id(subkey.key.legacy_key_id().as_ref()));
            }
        }
    }
    Err("no matching key found for the signature".to_owned())
}

fn key_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Signs commits with an OpenPGP secret key (`git.asc`, as Flux reads it).
pub struct PgpSigner {
    key: pgp::composed::SignedSecretKey,
    passphrase: pgp::types::Password,
}

impl PgpSigner {
    /// From an armored secret key block holding exactly one key.
    pub fn from_armored(text: &str, passphrase: Option<&str>) -> Result<Self, String> {
        use pgp::composed::Deserializable;
        let (keys, _) = pgp::composed::SignedSecretKey::from_armor_many(std::io::Cursor::new(text))
            .map_err(|e| format!("unable to read the OpenPGP secret key: {e}"))?;
        let mut keys = keys
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("unable to read the OpenPGP secret key: {e}"))?;
        if keys.len() != 1 {
            return Err(format!(
                "expected exactly one OpenPGP secret key, found {}",
                keys.len()
            ));
        }
        let passphrase =
            passphrase.map_or_else(pgp::types::Password::empty, pgp::types::Password::from);
        Ok(Self {
            key: keys.remove(0),
            passphrase,
        })
    }
}

impl crate::Signer for PgpSigner {
    fn sign(&self, commit: &[u8]) -> Result<String, String> {
        use pgp::composed::{ArmorOptions, DetachedSignature};
        use pgp::crypto::hash::HashAlgorithm;
        let signature = DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.key.primary_key,
            &self.passphrase,
            HashAlgorithm::Sha256,
            commit,
        )
        .map_err(|e| format!("unable to sign with the OpenPGP key: {e}"))?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| e.to_string())
    }
}
