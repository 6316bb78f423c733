//! The working copy against real repositories made with the git CLI, over the local transport
//! (which cannot fetch shallowly: the e2e tests cover shallow clones over smart HTTP).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use git::{Author, Pushed, Remote, Want, WorkingCopy};

fn run_git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A bare repository with one commit on `main` holding `app.yaml`.
fn origin(root: &Path) -> String {
    let bare = root.join("origin.git");
    run_git(root, &["init", "-q", "--bare", bare.to_str().unwrap()]);
    let seed = root.join("seed");
    run_git(
        root,
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            seed.to_str().unwrap(),
        ],
    );
    std::fs::write(seed.join("app.yaml"), "tag: 1.0.0\n").unwrap();
    run_git(&seed, &["add", "."]);
    run_git(&seed, &["commit", "-qm", "seed"]);
    run_git(&seed, &["push", "-q", "origin", "HEAD:main"]);
    format!("file://{}", bare.display())
}

fn remote(url: &str) -> Remote {
    Remote {
        url: url.to_owned(),
        auth: Default::default(),
        proxy: None,
        timeout: Duration::from_secs(30),
        max_bytes: 1 << 30,
    }
}

fn author() -> Author {
    Author {
        name: "fluxcdbot".into(),
        email: "fluxcdbot@users.noreply.github.com".into(),
    }
}

#[test]
fn commits_push_and_a_rejected_push_is_retried_on_the_new_head() {
    let root = tempfile::tempdir().unwrap();
    let url = origin(root.path());
    let work = root.path().join("work");
    let mut copy = WorkingCopy::clone(
        &remote(&url),
        Want::Ref("refs/heads/main"),
        "main",
        &work,
        false,
    )
    .unwrap();
    assert_eq!(copy.commit(&author(), "nothing", None).unwrap(), None);

    std::fs::write(copy.dir().join("app.yaml"), "tag: 1.0.1\n").unwrap();
    // Someone else pushes first.
    let other = root.path().join("other");
    run_git(root.path(), &["clone", "-q", &url, other.to_str().unwrap()]);
    std::fs::write(other.join("README.md"), "hello\n").unwrap();
    run_git(&other, &["add", "."]);
    run_git(&other, &["commit", "-qm", "other"]);
    run_git(&other, &["push", "-q", "origin", "HEAD:main"]);

    let commit = copy.commit(&author(), "bump", None).unwrap().unwrap();
    assert!(matches!(
        copy.push("refs/heads/main:refs/heads/main", &[]).unwrap(),
        Pushed::Rejected(_)
    ));
    copy.refresh().unwrap();
    assert_eq!(
        std::fs::read_to_string(copy.dir().join("app.yaml")).unwrap(),
        "tag: 1.0.0\n"
    );
    std::fs::write(copy.dir().join("app.yaml"), "tag: 1.0.1\n").unwrap();
    let retried = copy.commit(&author(), "bump", None).unwrap().unwrap();
    assert_ne!(commit, retried);
    assert_eq!(
        copy.push("refs/heads/main:refs/heads/main", &[]).unwrap(),
        Pushed::Accepted
    );

    run_git(&other, &["pull", "-q", "origin", "main"]);
    assert_eq!(
        run_git(&other, &["log", "--format=%s|%an|%ae", "-2"]),
        "bump|fluxcdbot|fluxcdbot@users.noreply.github.com\nother|t|t@example.com"
    );
    assert_eq!(run_git(&other, &["rev-parse", "HEAD"]), retried);
}

#[test]
fn a_new_push_branch_starts_at_the_checkout_and_an_existing_one_continues() {
    let root = tempfile::tempdir().unwrap();
    let url = origin(root.path());
    let first = root.path().join("first");
    let mut copy = WorkingCopy::clone(
        &remote(&url),
        Want::Ref("refs/heads/main"),
        "auto",
        &first,
        false,
    )
    .unwrap();
    assert_eq!(copy.head(), copy.checkout_commit());
    std::fs::write(copy.dir().join("app.yaml"), "tag: 2.0.0\n").unwrap();
    let pushed = copy.commit(&author(), "first", None).unwrap().unwrap();
    assert_eq!(
        copy.push("refs/heads/auto:refs/heads/auto", &[]).unwrap(),
        Pushed::Accepted
    );

    let second = root.path().join("second");
    let copy = WorkingCopy::clone(
        &remote(&url),
        Want::Ref("refs/heads/main"),
        "auto",
        &second,
        false,
    )
    .unwrap();
    assert_eq!(copy.head(), pushed);
    assert_ne!(copy.checkout_commit(), pushed);
    assert_eq!(
        std::fs::read_to_string(copy.dir().join("app.yaml")).unwrap(),
        "tag: 2.0.0\n"
    );
}

#[test]
fn ssh_signed_commits_verify_with_the_public_key() {
    let root = tempfile::tempdir().unwrap();
    let url = origin(root.path());
    let key = root.path().join("key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let signer =
        git::signature::SshSigner::from_openssh(&std::fs::read_to_string(&key).unwrap(), None)
            .unwrap();
    let work = root.path().join("work");
    let mut copy = WorkingCopy::clone(
        &remote(&url),
        Want::Ref("refs/heads/main"),
        "main",
        &work,
        false,
    )
    .unwrap();
    std::fs::write(copy.dir().join("app.yaml"), "tag: 1.0.1\n").unwrap();
    copy.commit(&author(), "signed", Some(&signer))
        .unwrap()
        .unwrap();
    assert_eq!(
        copy.push("refs/heads/main:refs/heads/main", &[]).unwrap(),
        Pushed::Accepted
    );

    // git itself checks the signature.
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = root.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("fluxcdbot@users.noreply.github.com {public}"),
    )
    .unwrap();
    let bare = root.path().join("origin.git");
    let verified = Command::new("git")
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
        .args(["--git-dir", bare.to_str().unwrap(), "verify-commit", "main"])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// A GnuPG home with one ed25519 signing key for `bot@example.org`, made by the real gpg.
fn gpg_home(root: &Path) -> std::path::PathBuf {
    let home = root.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let gpg = |args: &[&str]| {
        let output = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    gpg(&[
        "--quick-gen-key",
        "Bot <bot@example.org>",
        "ed25519",
        "sign",
        "never",
    ]);
    std::fs::write(
        root.join("secret.asc"),
        gpg(&["--armor", "--export-secret-keys", "bot@example.org"]),
    )
    .unwrap();
    std::fs::write(
        root.join("public.asc"),
        gpg(&["--armor", "--export", "bot@example.org"]),
    )
    .unwrap();
    home
}

#[test]
fn openpgp_signed_commits_verify_both_ways_with_gnupg() {
    let root = tempfile::tempdir().unwrap();
    let url = origin(root.path());
    let home = gpg_home(root.path());
    let signer = git::signature::PgpSigner::from_armored(
        &std::fs::read_to_string(root.path().join("secret.asc")).unwrap(),
        None,
    )
    .unwrap();
    let work = root.path().join("work");
    let mut copy = WorkingCopy::clone(
        &remote(&url),
        Want::Ref("refs/heads/main"),
        "main",
        &work,
        false,
    )
    .unwrap();
    std::fs::write(copy.dir().join("app.yaml"), "tag: 1.0.1\n").unwrap();
    let ours = copy
        .commit(&author(), "signed with OpenPGP", Some(&signer))
        .unwrap()
        .unwrap();
    assert_eq!(
        copy.push("refs/heads/main:refs/heads/main", &[]).unwrap(),
        Pushed::Accepted
    );

    // gpg accepts our signature.
    let bare = root.path().join("origin.git");
    let verified = Command::new("git")
        .args(["--git-dir", bare.to_str().unwrap(), "verify-commit", &ours])
        .env("GNUPGHOME", &home)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    // And we accept gpg's: a commit signed by `git commit -S`, checked against the public key.
    let seed = root.path().join("seed");
    run_git(&seed, &["pull", "-q", "origin", "main"]);
    std::fs::write(seed.join("app.yaml"), "tag: 1.0.2\n").unwrap();
    run_git(&seed, &["add", "."]);
    let signed = Command::new("git")
        .args([
            "-c",
            "user.name=Bot",
            "-c",
            "user.email=bot@example.org",
            "-c",
            "user.signingkey=bot@example.org",
        ])
        .args(["commit", "-q", "-S", "-m", "signed by gpg"])
        .current_dir(&seed)
        .env("GNUPGHOME", &home)
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let head = run_git(&seed, &["rev-parse", "HEAD"]);
    let repo = git2::Repository::open(&seed).unwrap();
    let (signature, payload) = repo
        .extract_signature(&git2::Oid::from_str(&head).unwrap(), None)
        .unwrap();
    let signed = git::Signed {
        signature: String::from_utf8(signature.to_vec()).unwrap(),
        payload: payload.to_vec(),
    };
    let keys = git::signature::parse_pgp_keys(
        &std::fs::read_to_string(root.path().join("public.asc")).unwrap(),
    )
    .unwrap();
    let key_id = git::signature::verify_pgp(&signed, &keys).unwrap();
    assert_eq!(key_id.len(), 16);
    let tampered = git::Signed {
        payload: [signed.payload.as_slice(), b"x"].concat(),
        ..signed
    };
    assert!(git::signature::verify_pgp(&tampered, &keys).is_err());
}
