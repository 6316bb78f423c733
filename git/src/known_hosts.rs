//! `known_hosts` as OpenSSH reads it: host patterns (wildcards, negation, `[host]:port`) and
//! hashed names, matched against the key the server presents. libgit2 leaves the decision
//! to the caller, and no crate matches the patterns, so the matching is written here on top
//! of ssh-key's parser.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use ssh_key::known_hosts::{HostPatterns, Marker};

use crate::GitError;

/// Host keys, each with the host patterns it is for.
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    patterns: Patterns,
    revoked: bool,
    /// The key in SSH wire format, as libgit2 reports the server's.
    key: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Patterns {
    Plain(Vec<String>),
    Hashed { salt: Vec<u8>, hash: [u8; 20] },
}

impl KnownHosts {
    /// Parses the `known_hosts` text; `@cert-authority` lines are left out (libgit2 does not
    /// show host certificates).
    pub fn parse(text: &str) -> Result<Self, GitError> {
        let mut entries = Vec::new();
        for entry in ssh_key::known_hosts::KnownHosts::new(text) {
            let entry = entry.map_err(|e| GitError::KnownHosts(e.to_string()))?;
            if entry.marker() == Some(&Marker::CertAuthority) {
                continue;
            }
            let patterns = match entry.host_patterns() {
                HostPatterns::Patterns(patterns) => Patterns::Plain(patterns.clone()),
                HostPatterns::HashedName { salt, hash } => Patterns::Hashed {
                    salt: salt.clone(),
                    hash: *hash,
                },
            };
            let key = entry
                .public_key()
                .to_bytes()
                .map_err(|e| GitError::KnownHosts(e.to_string()))?;
            entries.push(Entry {
                patterns,
                revoked: entry.marker() == Some(&Marker::Revoked),
                key,
            });
        }
        if entries.is_empty() {
            return Err(GitError::KnownHosts("no host keys".into()));
        }
        Ok(Self { entries })
    }

    /// Checks the key (`key`, SSH wire format) that `host` on `port` presented.
    pub fn verify(&self, host: &str, port: u16, key: &[u8]) -> Result<(), GitError> {
        let name = if port == 22 {
            host.to_owned()
        } else {
            format!("[{host}]:{port}")
        };
        let for_host: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|entry| entry.patterns.matches(&name))
            .collect();
        if for_host
            .iter()
            .any(|entry| entry.revoked && entry.key == key)
        {
            return Err(GitError::HostKey(format!("key for {name} is revoked")));
        }
        if for_host
            .iter()
            .any(|entry| !entry.revoked && entry.key == key)
        {
            return Ok(());
        }
        if for_host.is_empty() {
            Err(GitError::HostKey(format!("key is unknown for {name}")))
        } else {
            Err(GitError::HostKey(format!("key mismatch for {name}")))
        }
    }
}

impl Patterns {
    fn matches(&self, name: &str) -> bool {
        match self {
            Patterns::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            // A negated pattern that matches wins over every positive one.
            Patterns::Plain(patterns) => {
                let mut matched = false;
                for pattern in patterns {
                    match pattern.strip_prefix('!') {
                        Some(negated) if wildcard_match(negated, name) => return false,
                        Some(_) => {}
                        None => matched |= wildcard_match(pattern, name),
                    }
                }
                matched
            }
        }
    }
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character, case-insensitive.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) = (
        pattern.to_lowercase().chars().collect(),
        name.to_lowercase().chars().collect(),
    );
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAID2s06wYQeyNkYWhj3tH6kdJ0qfR7V/sbtJCs1k5cUoq";
    const OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIN8o30y4W8vuFlnZ6JV+1G2sX07i6KGCnG49EtuIGy7d";

    fn blob(base64: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(base64)
            .unwrap()
    }

    #[test]
    fn a_key_is_accepted_only_for_the_hosts_and_port_it_is_listed_for() {
        let hosts = KnownHosts::parse(&format!(
            "[127.0.0.1]:2222 ssh-ed25519 {KEY}\ngit.example.org,*.internal ssh-ed25519 {KEY}\n"
        ))
        .unwrap();
        hosts.verify("127.0.0.1", 2222, &blob(KEY)).unwrap();
        hosts.verify("git.example.org", 22, &blob(KEY)).unwrap();
        hosts.verify("a.internal", 22, &blob(KEY)).unwrap();
        let unknown = hosts.verify("127.0.0.1", 22, &blob(KEY)).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "ssh: handshake failed: knownhosts: key is unknown for 127.0.0.1"
        );
        let mismatch = hosts.verify("127.0.0.1", 2222, &blob(OTHER)).unwrap_err();
        assert_eq!(
            mismatch.to_string(),
            "ssh: handshake failed: knownhosts: key mismatch for [127.0.0.1]:2222"
        );
    }

    #[test]
    fn hashed_names_negations_and_revocations_are_honoured() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222": HMAC-SHA1 keyed with the salt.
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let hashed = format!("|1|{}|{}", b64.encode(salt), b64.encode(hash));
        let hosts = KnownHosts::parse(&format!(
            "{hashed} ssh-ed25519 {KEY}\n*.example.org,!bad.example.org ssh-ed25519 {KEY}\n@revoked * ssh-ed25519 {OTHER}\n"
        ))
        .unwrap();
        hosts.verify("127.0.0.1", 2222, &blob(KEY)).unwrap();
        hosts.verify("good.example.org", 22, &blob(KEY)).unwrap();
        assert!(hosts.verify("bad.example.org", 22, &blob(KEY)).is_err());
        let revoked = hosts
            .verify("good.example.org", 22, &blob(OTHER))
            .unwrap_err();
        assert!(revoked.to_string().contains("revoked"), "{revoked}");
    }

    #[test]
    fn wildcards_match_as_openssh_does() {
        assert!(wildcard_match("*.example.org", "a.b.example.org"));
        assert!(wildcard_match("host?", "HOST1"));
        assert!(!wildcard_match("host?", "host"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a*c", "abd"));
    }

    #[test]
    fn empty_or_malformed_known_hosts_are_refused() {
        assert!(KnownHosts::parse("# nothing\n").is_err());
        assert!(KnownHosts::parse("host ssh-ed25519 not-base64!\n").is_err());
    }
}
