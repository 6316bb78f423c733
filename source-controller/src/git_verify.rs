//! `spec.verify` of a GitRepository: the checked-out commit's (and with `Tag` modes, the
//! tag's) SSH or OpenPGP signature checked against the keys of `verify.secretRef`. A failed
//! check ends the reconcile before anything is stored.

use api::meta::reason;
use api::source::v1::GitRepository;
use api::source::{condition, reason as reasons};
use git::Signed;
use git::signature::{self, SignatureKind};
use kube::ResourceExt;
use runtime::conditions::Conditions;
use runtime::outcome::{Failure, Marks};

use crate::source::Context;

fn refused(reason: &'static str, message: String) -> Failure {
    Failure::retryable(reason, message).marking(Marks::Normal(condition::SOURCE_VERIFIED))
}

/// Checks the signatures `spec.verify` asks for; marks SourceVerified, or drops it when the
/// spec asks for no verification.
pub async fn reconcile(
    object: &GitRepository,
    ctx: &Context,
    checked_out: &git::CheckedOut,
    conditions: &mut Conditions,
) -> Result<(), Failure> {
    let Some(verify) = &object.spec.verify else {
        conditions.delete(condition::SOURCE_VERIFIED);
        return Ok(());
    };
    let namespace = object.namespace().unwrap_or_default();
    let secret_name = &verify.secret_ref.name;
    let data = runtime::secret_data(&ctx.client, &namespace, secret_name)
        .await
        .map_err(|e| {
            refused(
                reasons::VERIFICATION_ERROR,
                format!("failed to get secret '{namespace}/{secret_name}': {e}"),
            )
        })?
        .ok_or_else(|| {
            refused(
                reasons::VERIFICATION_ERROR,
                format!("failed to get secret '{namespace}/{secret_name}': secret not found"),
            )
        })?;
    // As Flux reads the Secret: `*.sshpub` values are SSH keys, every other value an
    // armored OpenPGP key ring.
    let mut keys = Keys::default();
    for (key, value) in data.iter() {
        let text = String::from_utf8_lossy(&value.0);
        let invalid = |e: String| {
            refused(
                reasons::VERIFICATION_ERROR,
                format!("invalid key '{key}' in secret '{namespace}/{secret_name}': {e}"),
            )
        };
        if key.ends_with(".sshpub") {
            keys.ssh
                .extend(signature::parse_authorized_keys(&text).map_err(invalid)?);
        } else {
            keys.pgp
                .extend(signature::parse_pgp_keys(&text).map_err(invalid)?);
        }
    }
    let mut verified = Vec::new();
    if verify.mode.verifies_tag() {
        let tag = match &checked_out.tag_signature {
            None => {
                return Err(refused(
                    reasons::INVALID_GIT_OBJECT,
                    "cannot verify signature of a lightweight tag: it is not a tag object".into(),
                ));
            }
            Some(None) => {
                return Err(refused(
                    reasons::INVALID_TAG_SIGNATURE,
                    "signature verification of tag failed: the tag is not signed".into(),
                ));
            }
            Some(Some(signed)) => signed,
        };
        let key = check(tag, &keys).map_err(|e| {
            refused(
                reasons::INVALID_TAG_SIGNATURE,
                format!("signature verification of tag failed: {e}"),
            )
        })?;
        verified.push(format!("tag with key '{key}'"));
    }
    if verify.mode.verifies_head() {
        let commit = &checked_out.commit;
        let signed = checked_out.commit_signature.as_ref().ok_or_else(|| {
            refused(
                reasons::INVALID_COMMIT_SIGNATURE,
                format!(
                    "signature verification of commit '{commit}' failed: the commit is not signed"
                ),
            )
        })?;
        let key = check(signed, &keys).map_err(|e| {
            refused(
                reasons::INVALID_COMMIT_SIGNATURE,
                format!("signature verification of commit '{commit}' failed: {e}"),
            )
        })?;
        verified.push(format!("commit '{commit}' with key '{key}'"));
    }
    let message = format!("verified signature of\n\t- {}", verified.join("\n\t- "));
    conditions.mark_true(condition::SOURCE_VERIFIED, reason::SUCCEEDED, message);
    Ok(())
}

/// The keys of `verify.secretRef`.
#[derive(Default)]
struct Keys {
    ssh: Vec<signature::PublicKey>,
    pgp: Vec<signature::PgpPublicKey>,
}

fn check(signed: &Signed, keys: &Keys) -> Result<String, String> {
    match signature::kind(signed) {
        SignatureKind::Ssh => signature::verify_ssh(signed, &keys.ssh),
        SignatureKind::Pgp => signature::verify_pgp(signed, &keys.pgp),
        SignatureKind::Unknown => Err("unknown signature format".into()),
    }
}
