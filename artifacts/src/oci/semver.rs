//! Version constraints as Flux evaluates them (Masterminds semver v3 via `pkg/version`), for
//! `ref.semver` and `--filter-semver`: comparison operators, `~`, `^`, wildcards, hyphen
//! ranges, `,`/space for AND and `||` for OR. Pre-releases match only a constraint that names
//! a pre-release.

use semver::Version;

#[derive(Debug, thiserror::Error)]
#[error("improper constraint: {0}")]
pub struct ConstraintError(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug)]
struct Bound {
    op: Op,
    version: Version,
}

impl Bound {
    fn matches(&self, v: &Version) -> bool {
        let ord = v.cmp_precedence(&self.version);
        match self.op {
            Op::Eq => ord.is_eq(),
            Op::Ne => !ord.is_eq(),
            Op::Gt => ord.is_gt(),
            Op::Ge => !ord.is_lt(),
            Op::Lt => ord.is_lt(),
            Op::Le => !ord.is_gt(),
        }
    }
}

/// A parsed constraint: any group matches when all its bounds do.
#[derive(Clone, Debug)]
pub struct Constraint {
    groups: Vec<Vec<Bound>>,
    allows_prerelease: bool,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let bad = || ConstraintError(text.to_owned());
        let mut groups = Vec::new();
        let mut allows_prerelease = false;
        for alternative in text.split("||") {
            let mut bounds = Vec::new();
            let tokens = tokenize(alternative);
            if tokens.is_empty() {
                return Err(bad());
            }
            let mut i = 0;
            while i < tokens.len() {
                if i + 2 < tokens.len() && tokens[i + 1] == "-" {
                    // Hyphen range `a - b`: inclusive on both ends.
                    let (low, _) = partial(&tokens[i]).ok_or_else(bad)?;
                    let (high, high_parts) = partial(&tokens[i + 2]).ok_or_else(bad)?;
                    bounds.push(Bound {
                        op: Op::Ge,
                        version: low.clone(),
                    });
                    bounds.push(match high_parts {
                        3 => Bound {
                            op: Op::Le,
                            version: high,
                        },
                        n => Bound {
                            op: Op::Lt,
                            version: bump(&high, n),
                        },
                    });
                    allows_prerelease |= !low.pre.is_empty();
                    i += 3;
                    continue;
                }
                let (op, rest) = split_op(&tokens[i]);
                let (version, parts) = partial(rest).ok_or_else(bad)?;
                allows_prerelease |= !version.pre.is_empty();
                expand(op, version, parts, &mut bounds).ok_or_else(bad)?;
                i += 1;
            }
            groups.push(bounds);
        }
        Ok(Self {
            groups,
            allows_prerelease,
        })
    }

    pub fn matches(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && !self.allows_prerelease {
            return false;
        }
        self.groups.iter().any(|g| g.iter().all(|b| b.matches(v)))
    }
}

/// Splits on commas and whitespace, keeping an operator attached to its version.
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for word in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if word.chars().all(|c| "=<>!~^".contains(c)) {
            pending_op.push_str(word);
        } else {
            tokens.push(format!("{}{word}", std::mem::take(&mut pending_op)));
        }
    }
    tokens
}

fn split_op(token: &str) -> (&str, &str) {
    let end = token
        .find(|c: char| !"=<>!~^".contains(c))
        .unwrap_or(token.len());
    (&token[..end], &token[end..])
}

/// A version that may leave out minor and patch or use `x`/`*`; returns how many parts were
/// given (wildcards stop the count).
fn partial(text: &str) -> Option<(Version, usize)> {
    let text = text.strip_prefix('v').unwrap_or(text);
    if text.is_empty() || matches!(text, "*" | "x" | "X") {
        return Some((Version::new(0, 0, 0), 0));
    }
    let (core, suffix) = match text.find(['-', '+']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let mut numbers = [0u64; 3];
    let mut given = 0;
    for (i, part) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if matches!(part, "*" | "x" | "X") {
            break;
        }
        numbers[i] = part.parse().ok()?;
        given = i + 1;
    }
    let full = format!("{}.{}.{}{suffix}", numbers[0], numbers[1], numbers[2]);
    Some((Version::parse(&full).ok()?, given))
}

/// The next version after the last given part (`1.2` with 2 parts → `1.3.0`).
fn bump(v: &Version, parts: usize) -> Version {
    match parts {
        0 => Version::new(u64::MAX, 0, 0),
        1 => Version::new(v.major + 1, 0, 0),
        _ => Version::new(v.major, v.minor + 1, 0),
    }
}

fn expand(op: &str, v: Version, parts: usize, out: &mut Vec<Bound>) -> Option<()> {
    let mut push = |op, version| out.push(Bound { op, version });
    match op {
        "" | "=" if parts < 3 => {
            if parts > 0 {
                push(Op::Ge, v.clone());
                push(Op::Lt, bump(&v, parts));
            }
        }
        "" | "=" => push(Op::Eq, v),
        "!=" => push(Op::Ne, v),
        ">" if parts < 3 => push(Op::Ge, bump(&v, parts.max(1))),
        ">" => push(Op::Gt, v),
        ">=" | "=>" => push(Op::Ge, v),
        "<" => push(Op::Lt, v),
        "<=" | "=<" if parts < 3 => push(Op::Lt, bump(&v, parts.max(1))),
        "<=" | "=<" => push(Op::Le, v),
        "~" | "~>" => {
            push(Op::Ge, v.clone());
            push(Op::Lt, bump(&v, if parts <= 1 { 1 } else { 2 }));
        }
        "^" => {
            push(Op::Ge, v.clone());
            let upper = if v.major > 0 || parts <= 1 {
                Version::new(v.major + 1, 0, 0)
            } else if v.minor > 0 || parts == 2 {
                Version::new(0, v.minor + 1, 0)
            } else {
                Version::new(0, 0, v.patch + 1)
            };
            push(Op::Lt, upper);
        }
        _ => return None,
    }
    Some(())
}

/// A tag read as a version the way Flux does: an optional `v`, and missing minor or patch
/// parts filled with zero. Tags that are not versions give `None`.
pub fn parse_version(tag: &str) -> Option<Version> {
    let (version, parts) = partial(tag)?;
    (parts > 0 && !tag.contains(['*', 'x', 'X'])).then_some(version)
}

/// The highest of `tags` that satisfies `constraint`, with its parsed version.
pub fn highest_match<'a>(
    constraint: &Constraint,
    tags: impl IntoIterator<Item = &'a str>,
) -> Option<(&'a str, Version)> {
    tags.into_iter()
        .filter_map(|tag| Some((tag, parse_version(tag)?)))
        .filter(|(_, v)| constraint.matches(v))
        .max_by(|a, b| a.1.cmp_precedence(&b.1).then_with(|| b.0.cmp(a.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        Constraint::parse(c)
            .unwrap()
            .matches(&parse_version(v).unwrap())
    }

    #[test]
    fn comparison_and_ranges() {
        assert!(ok(">=1.0.0", "1.0.0"));
        assert!(ok(">=1.0.0", "v2.3.4"));
        assert!(!ok(">=1.0.0", "0.9.9"));
        assert!(ok(">1.0.0 <2.0.0", "1.5.0"));
        assert!(ok(">1.0.0, <2.0.0", "1.5.0"));
        assert!(!ok(">1.0.0, <2.0.0", "2.0.0"));
        assert!(ok("1.2.3", "1.2.3"));
        assert!(!ok("1.2.3", "1.2.4"));
        assert!(ok("1.2.x", "1.2.9"));
        assert!(!ok("1.2.x", "1.3.0"));
        assert!(ok("*", "9.9.9"));
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("<1.0.0 || >=3.0.0", "3.1.0"));
        assert!(!ok("<1.0.0 || >=3.0.0", "2.0.0"));
        assert!(!ok("!=1.0.0", "1.0.0"));
        assert!(ok("1", "1.9.0"));
    }

    #[test]
    fn prereleases_need_a_prerelease_constraint() {
        assert!(!ok(">=1.0.0", "1.1.0-rc.1"));
        assert!(ok(">=1.0.0-0", "1.1.0-rc.1"));
    }

    #[test]
    fn highest_match_ignores_non_versions() {
        let c = Constraint::parse(">=1.0.0").unwrap();
        let tags = [
            "latest",
            "1.0.0",
            "v1.10.0",
            "1.9.0",
            "2.0.0-rc.1",
            "sha256-abc.sig",
        ];
        assert_eq!(highest_match(&c, tags).unwrap().0, "v1.10.0");
        assert!(Constraint::parse(">= ").is_err());
        assert!(Constraint::parse("not a version").is_err());
    }
}
