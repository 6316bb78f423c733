//! `.helmignore`: Helm's own rules, not gitignore's. A pattern with a leading `/` or any `/`
//! matches the whole path, others the base name; a trailing `/` matches only directories;
//! `!` re-includes; the first pattern that matches decides; `**` is not supported.

#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: String,
    negate: bool,
    dir_only: bool,
    whole_path: bool,
}

impl IgnoreRules {
    /// The rules of a `.helmignore` text, plus Helm's default (dot files in `templates/`).
    pub fn parse(text: &str) -> IgnoreRules {
        let mut rules = IgnoreRules::default();
        for line in text.lines().chain(std::iter::once("templates/.?*")) {
            let mut rule = line.trim();
            if rule.is_empty() || rule.starts_with('#') || rule.contains("**") {
                continue;
            }
            let negate = rule.starts_with('!');
            if negate {
                rule = &rule[1..];
            }
            let dir_only = rule.ends_with('/');
            let rule = rule.trim_end_matches('/');
            rules.patterns.push(Pattern {
                glob: rule.trim_start_matches('/').to_string(),
                negate,
                dir_only,
                whole_path: rule.contains('/'),
            });
        }
        rules
    }

    /// Whether `path` (relative, `/`-separated) is left out of the chart.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." {
            return false;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        for pattern in &self.patterns {
            if pattern.dir_only && !is_dir {
                continue;
            }
            let subject = if pattern.whole_path { path } else { base };
            if glob_match(&pattern.glob, subject) {
                return !pattern.negate;
            }
        }
        false
    }
}

/// Go's `filepath.Match`: `*` and `?` stop at `/`, `[…]` classes (with `^` or `!`
/// negation and ranges), `\\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return name.is_empty();
    };
    match first {
        '*' => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != '/')
            .any(|i| matches_from(rest, &name[i..])),
        '?' => name.first().is_some_and(|&c| c != '/') && matches_from(rest, &name[1..]),
        '[' => {
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let Some((matched, after)) = class(rest, c) else {
                return false;
            };
            matched && c != '/' && matches_from(after, name_rest)
        }
        '\\' if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && matches_from(&rest[1..], &name[1..])
        }
        literal => name.first() == Some(&literal) && matches_from(rest, &name[1..]),
    }
}

/// Whether `c` is in the class starting after `[`, and the pattern after `]`.
fn class(pattern: &[char], c: char) -> Option<(bool, &[char])> {
    let (negated, mut i) = match pattern.first() {
        Some('^' | '!') => (true, 1),
        _ => (false, 0),
    };
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        if pattern[i] == ']' && !first {
            return Some((matched != negated, &pattern[i + 1..]));
        }
        first = false;
        let lo = pattern[i];
        if i + 2 < pattern.len() && pattern[i + 1] == '-' && pattern[i + 2] != ']' {
            matched |= (lo..=pattern[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_ignore_rules() {
        let rules = IgnoreRules::parse("# comment\n*.bak\n/ci/\ndocs/*.md\n!keep.bak\n.git/\n");
        assert!(rules.ignored("a.bak", false));
        assert!(rules.ignored("templates/x.bak", false));
        assert!(
            rules.ignored("keep.bak", false),
            "the first matching pattern (*.bak) decides"
        );
        assert!(rules.ignored("ci", true));
        assert!(
            !rules.ignored("ci", false),
            "a trailing slash matches directories only"
        );
        assert!(rules.ignored("docs/a.md", false));
        assert!(!rules.ignored("docs/sub/a.md", false), "* stops at /");
        assert!(rules.ignored("templates/.hidden", false));
        assert!(!rules.ignored("templates/visible.yaml", false));
    }

    #[test]
    fn go_filepath_match() {
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("*", "a/b"));
    }
}
