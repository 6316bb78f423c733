//! Masterminds/semver v3 (as of v3.3.0): lenient version parsing (`v1`, `1.2`), constraints
//! with `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `^`, wildcards, hyphen ranges, `,`/space (and)
//! and `||` (or), and its prerelease rule: a prerelease version only satisfies a comparison
//! whose own version has a prerelease (`>=1.21-0` admits `1.28.3-gke.100`).

use std::cmp::Ordering;
use std::sync::{Arc, LazyLock};

use gotemplate::{Funcs, Object, Value};
use regex::Regex;

use crate::args::{Arity::*, call_error, register as add, string};

/// A parsed version, keeping the text it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub prerelease: String,
    pub metadata: String,
    pub original: String,
}

/// Go's `\s` is ASCII.
const WS: &str = r"[\t\n\f\r ]";
/// A version in a constraint: parts may be wildcards (`x`, `X`, `*`).
const CONSTRAINT_VERSION: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
/// The operators, in Masterminds' order (the empty one means `=`).
const OPERATORS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

fn regex(pattern: String) -> Regex {
    Regex::new(&pattern).unwrap_or_else(|e| panic!("semver pattern {pattern}: {e}"))
}

static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$".into())
});
static ONE_CONSTRAINT: LazyLock<Regex> = LazyLock::new(|| {
    regex(format!(
        r"^{WS}*({OPERATORS}){WS}*({CONSTRAINT_VERSION}){WS}*$"
    ))
});
static FIND_CONSTRAINT: LazyLock<Regex> =
    LazyLock::new(|| regex(format!(r"({OPERATORS}){WS}*({CONSTRAINT_VERSION})")));
static VALID_CONSTRAINTS: LazyLock<Regex> = LazyLock::new(|| {
    let one = format!(r"({OPERATORS}){WS}*({CONSTRAINT_VERSION})");
    regex(format!(r"^({WS}*{one}{WS}*)((?:{WS}+|,{WS}*){one}{WS}*)*$"))
});
static HYPHEN_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    regex(format!(
        r"{WS}*({CONSTRAINT_VERSION}){WS}+-{WS}+({CONSTRAINT_VERSION}){WS}*"
    ))
});

impl Version {
    /// `semver.NewVersion`: `v` prefix and missing minor or patch allowed.
    pub fn parse(text: &str) -> Result<Version, String> {
        let caps = VERSION.captures(text).ok_or("Invalid Semantic Version")?;
        let group = |i: usize| caps.get(i).map_or("", |m| m.as_str());
        let number = |s: &str| -> Result<u64, String> {
            if s.is_empty() {
                return Ok(0);
            }
            s.parse().map_err(|_| {
                format!("Error parsing version segment: strconv.ParseUint: parsing \"{s}\": value out of range")
            })
        };
        let version = Version {
            major: number(group(1))?,
            minor: number(group(2).trim_start_matches('.'))?,
            patch: number(group(3).trim_start_matches('.'))?,
            prerelease: group(5).to_string(),
            metadata: group(8).to_string(),
            original: text.to_string(),
        };
        let leading_zero = |part: &str| {
            part.len() > 1 && part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit())
        };
        if version.prerelease.split('.').any(leading_zero) {
            return Err("Version segment starts with 0".into());
        }
        Ok(version)
    }

    /// Precedence: numbers, then a release above its prereleases; metadata does not count.
    pub fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(
                || match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => compare_prerelease(&self.prerelease, &other.prerelease),
                },
            )
    }
}

/// `major.minor.patch[-pre][+meta]`.
impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.prerelease.is_empty() {
            write!(f, "-{}", self.prerelease)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

/// Dot-separated identifiers: numbers numerically and below words, words by bytes, and a
/// shorter list below a longer one that it starts.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (a_parts, b_parts): (Vec<&str>, Vec<&str>) =
        (a.split('.').collect(), b.split('.').collect());
    for i in 0..a_parts.len().max(b_parts.len()) {
        let ordering = compare_identifier(
            a_parts.get(i).copied().unwrap_or(""),
            b_parts.get(i).copied().unwrap_or(""),
        );
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

fn compare_identifier(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if a.is_empty() {
        return Ordering::Less;
    }
    if b.is_empty() {
        return Ordering::Greater;
    }
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Err(_), Err(_)) => a.cmp(b),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(x), Ok(y)) => {
            if x > y {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

/// One comparison, e.g. `>=1.2` (`1.2.0` with the patch left open).
struct Constraint {
    operator: String,
    version: Version,
    /// Some part was missing or a wildcard.
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// Alternatives (`||`), each a list of comparisons that must all hold.
pub struct Constraints {
    alternatives: Vec<Vec<Constraint>>,
}

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

/// `semver.NewConstraint`.
pub fn parse_constraints(text: &str) -> Result<Constraints, String> {
    let rewritten = rewrite_ranges(text);
    let mut alternatives = Vec::new();
    for alternative in rewritten.split("||") {
        if !VALID_CONSTRAINTS.is_match(alternative) {
            return Err(format!("improper constraint: {alternative}"));
        }
        let parts: Vec<&str> = FIND_CONSTRAINT
            .find_iter(alternative)
            .map(|m| m.as_str())
            .collect();
        let parts = if parts.is_empty() {
            vec![alternative]
        } else {
            parts
        };
        alternatives.push(
            parts
                .into_iter()
                .map(parse_constraint)
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(Constraints { alternatives })
}

/// `1.2 - 1.4.5` means `>= 1.2, <= 1.4.5`.
fn rewrite_ranges(text: &str) -> String {
    let mut out = text.to_string();
    for caps in HYPHEN_RANGE.captures_iter(text) {
        let (whole, low, high) = (&caps[0], &caps[1], &caps[11]);
        out = out.replacen(whole, &format!(">= {low}, <= {high} "), 1);
    }
    out
}

fn parse_constraint(text: &str) -> Result<Constraint, String> {
    let caps = ONE_CONSTRAINT
        .captures(text)
        .ok_or_else(|| format!("improper constraint: {text}"))?;
    let group = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    let (major, minor, patch, prerelease) = (group(3), group(4), group(5), group(6));
    let minor_part = minor.trim_start_matches('.');
    let patch_part = patch.trim_start_matches('.');
    let (normalized, minor_dirty, patch_dirty) = if is_wildcard(major) {
        (format!("0.0.0{prerelease}"), false, false)
    } else if minor.is_empty() || is_wildcard(minor_part) {
        (format!("{major}.0.0{prerelease}"), true, false)
    } else if patch.is_empty() || is_wildcard(patch_part) {
        (format!("{major}{minor}.0{prerelease}"), false, true)
    } else {
        (group(2).to_string(), false, false)
    };
    let dirty = is_wildcard(major) || minor_dirty || patch_dirty;
    let version = Version::parse(&normalized).map_err(|_| "constraint Parser Error".to_string())?;
    Ok(Constraint {
        operator: group(1).to_string(),
        version,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Constraints {
    /// Whether `version` satisfies any alternative.
    pub fn check(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|c| c.admits(version)))
    }
}

impl Constraint {
    fn admits(&self, v: &Version) -> bool {
        let c = &self.version;
        if self.operator == "!=" {
            return self.not_equal(v);
        }
        if !v.prerelease.is_empty() && c.prerelease.is_empty() {
            return false;
        }
        let order = v.compare(c);
        match self.operator.as_str() {
            "" | "=" => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    order == Ordering::Equal
                }
            }
            ">" => self.greater(v),
            "<" => order == Ordering::Less,
            ">=" | "=>" => order != Ordering::Less,
            "<=" | "=<" => {
                if !self.dirty {
                    order != Ordering::Greater
                } else {
                    !(v.major > c.major
                        || v.major == c.major && v.minor > c.minor && !self.minor_dirty)
                }
            }
            "~" | "~>" => self.tilde(v),
            _ => self.caret(v),
        }
    }

    /// `>1.2` is past all of 1.2.x: an open part compares as a whole.
    fn greater(&self, v: &Version) -> bool {
        let c = &self.version;
        if !self.dirty {
            return v.compare(c) == Ordering::Greater;
        }
        if v.major != c.major {
            return v.major > c.major;
        }
        if self.minor_dirty {
            false
        } else if self.patch_dirty {
            v.minor > c.minor
        } else {
            v.compare(c) == Ordering::Greater
        }
    }

    /// `~1.2.3`: at least the version, same major, and same minor unless the minor was open.
    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    /// `^1.2.3`: at least the version, below the next change of the leftmost non-zero part.
    fn caret(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.version;
        if self.dirty {
            if !v.prerelease.is_empty() && c.prerelease.is_empty() {
                return false;
            }
            if c.major != v.major {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.minor != v.minor {
                return true;
            }
            if self.patch_dirty {
                return (!v.prerelease.is_empty() || !c.prerelease.is_empty())
                    && compare_prerelease(&v.prerelease, &c.prerelease) != Ordering::Equal;
            }
            if c.patch != v.patch {
                return true;
            }
        }
        v.compare(c) != Ordering::Equal
    }
}

/// Whether `version` satisfies `constraint` (sprig's `semverCompare`, Helm's `kubeVersion`).
pub fn check(constraint: &str, version: &str) -> Result<bool, String> {
    let constraints = parse_constraints(constraint)?;
    let version = Version::parse(version)?;
    Ok(constraints.check(&version))
}

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "semverCompare", Exact(2), |a| {
        let (constraint, version) = (string(&a[0])?, string(&a[1])?);
        check(constraint, version)
            .map(Value::Bool)
            .map_err(call_error)
    });
    add(funcs, "semver", Exact(1), |a| {
        let version = Version::parse(string(&a[0])?).map_err(call_error)?;
        Ok(Value::Object(Arc::new(VersionObject(version))))
    });
}

/// `*semver.Version` in a template: its getters as fields, comparisons as methods.
struct VersionObject(Version);

const VERSION_TYPE: &str = "*semver.Version";

impl VersionObject {
    fn value(version: Version) -> Value {
        Value::Object(Arc::new(VersionObject(version)))
    }

    /// A `*semver.Version` argument, rebuilt from its original text.
    fn argument(value: &Value) -> Result<Version, String> {
        match value {
            Value::Object(o) if o.type_name() == VERSION_TYPE => match o.field("Original") {
                Some(Value::String(original)) => Version::parse(&original),
                _ => Err("invalid version".into()),
            },
            other => Err(format!(
                "wrong type for value; expected {VERSION_TYPE}; got {}",
                other.type_name()
            )),
        }
    }

    fn bumped(&self, major: u64, minor: u64, patch: u64) -> Value {
        let v = &self.0;
        let prefix = if v.original.starts_with('v') { "v" } else { "" };
        let mut next = Version {
            major,
            minor,
            patch,
            prerelease: String::new(),
            metadata: String::new(),
            original: String::new(),
        };
        next.original = format!("{prefix}{next}");
        VersionObject::value(next)
    }
}

impl Object for VersionObject {
    fn type_name(&self) -> &str {
        VERSION_TYPE
    }

    fn field(&self, name: &str) -> Option<Value> {
        let v = &self.0;
        Some(match name {
            "Major" => Value::Int(v.major as i64),
            "Minor" => Value::Int(v.minor as i64),
            "Patch" => Value::Int(v.patch as i64),
            "Prerelease" => Value::string(v.prerelease.as_str()),
            "Metadata" => Value::string(v.metadata.as_str()),
            "Original" => Value::string(v.original.as_str()),
            "String" => Value::string(v.to_string()),
            "IncMajor" => self.bumped(v.major + 1, 0, 0),
            "IncMinor" => self.bumped(v.major, v.minor + 1, 0),
            // A prerelease's next patch is its own release.
            "IncPatch" if !v.prerelease.is_empty() => self.bumped(v.major, v.minor, v.patch),
            "IncPatch" => self.bumped(v.major, v.minor, v.patch + 1),
            _ => return None,
        })
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let test: fn(Ordering) -> bool = match name {
            "LessThan" => |o| o == Ordering::Less,
            "LessThanEqual" => |o| o != Ordering::Greater,
            "GreaterThan" => |o| o == Ordering::Greater,
            "GreaterThanEqual" => |o| o != Ordering::Less,
            "Equal" => |o| o == Ordering::Equal,
            "Compare" => {
                return Some(compare_argument(&self.0, args).map(|o| Value::Int(o as i64)));
            }
            _ => return None,
        };
        Some(compare_argument(&self.0, args).map(|o| Value::Bool(test(o))))
    }

    fn display(&self) -> String {
        self.0.to_string()
    }
}

fn compare_argument(version: &Version, args: &[Value]) -> Result<Ordering, String> {
    let [other] = args else {
        return Err(format!("wrong number of args: want 1 got {}", args.len()));
    };
    Ok(version.compare(&VersionObject::argument(other)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{call_err, out, s};

    fn holds(constraint: &str, version: &str) -> bool {
        check(constraint, version).unwrap_or_else(|e| panic!("{constraint} / {version}: {e}"))
    }

    #[test]
    fn comparisons() {
        let cases = [
            ("=2.0.0", "1.2.3", false),
            ("=2.0.0", "2.0.0", true),
            ("4.1", "4.1.0", true),
            ("!=4.1.0", "4.1.0", false),
            ("!=4.1.0", "4.1.1", true),
            ("!=4.1", "4.1.1", false),
            ("!=4.1", "5.1.0-alpha.1", false),
            ("!=4.1-alpha", "4.1.0", true),
            (">1.1", "4.1.0", true),
            (">1.1", "1.1.0", false),
            (">1.1", "1.2.0", true),
            (">1", "1.9.9", false),
            (">1", "2.0.0", true),
            ("<11", "0.1.0", true),
            ("<11", "11.1.0", false),
            ("<1.1", "1.1.0", false),
            (">=1.1", "1.1.0", true),
            (">=1.1", "0.0.9", false),
            ("<=1.1", "1.1.1", true),
            ("<=1.1", "1.2.0", false),
            ("=<1.1", "0.1.0", true),
            (">0", "0.0.1-alpha", false),
            (">=0", "0.0.1-alpha", false),
            (">0-0", "0.0.1-alpha", false),
            (">=0-0", "0.0.1-alpha", true),
            (">=1.2.3-beta", "1.2.3-beta.1", true),
            ("<1.2.3-beta", "1.2.3-alpha", true),
            ("*", "1.0.0", true),
            ("*", "4.5.6", true),
            ("*", "1.2.3-alpha.1", false),
            ("2.*", "2.9.9", true),
            ("2.*", "3.0.0", false),
            ("2.x", "2.0.0", true),
            ("2.1.*", "2.1.9", true),
            ("2.1.*", "2.2.0", false),
        ];
        for (constraint, version, want) in cases {
            assert_eq!(
                holds(constraint, version),
                want,
                "{constraint} against {version}"
            );
        }
    }

    #[test]
    fn tilde_caret_ranges_and_combinations() {
        let cases = [
            ("~1.2.3", "1.2.4", true),
            ("~1.2.3", "1.3.4", false),
            ("~1.2", "1.2.4", true),
            ("~1", "1.3.5", true),
            ("~1", "2.1.0", false),
            ("~0.0.0", "1.7.1", true),
            ("^1.2.3", "1.8.9", true),
            ("^1.2.3", "2.8.9", false),
            ("^1.2.3", "1.2.1", false),
            ("^0.2.3", "0.2.5", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0", "0.9.0", true),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("1.1 - 2", "1.1.1", true),
            ("1.1 - 2", "2.1.0", true),
            ("1.1 - 2", "3.0.0", false),
            ("1.2 - 1.4.5", "1.4.6", false),
            (">=1.1, <2", "1.5.0", true),
            (">=1.1 <2", "2.0.0", false),
            (">1.1 || <1.0", "0.9.0", true),
            (">1.1 || <1.0", "1.0.5", false),
            (">= 1.1 , < 2", "1.9.0", true),
        ];
        for (constraint, version, want) in cases {
            assert_eq!(
                holds(constraint, version),
                want,
                "{constraint} against {version}"
            );
        }
    }

    #[test]
    fn kube_version_style_checks() {
        assert!(holds(">=1.21-0", "v1.28.3-gke.100"));
        assert!(!holds(">=1.21", "v1.28.3-gke.100"));
        assert!(holds(">= 1.19.0-0 < 1.30.0-0", "v1.28.3+k3s1"));
        assert!(holds("^1.20.0-0", "1.29.1-eks-508b6b3"));
        assert!(holds(">=1.16.0-0", "v1.16.0"));
    }

    #[test]
    fn errors_read_as_masterminds() {
        assert_eq!(
            check("abc", "1.0.0"),
            Err("improper constraint: abc".into())
        );
        assert_eq!(
            check(">=1.0", "not-a-version"),
            Err("Invalid Semantic Version".into())
        );
        assert_eq!(check(">=1.0", ""), Err("Invalid Semantic Version".into()));
        assert_eq!(
            check(">=1.0 || foo", "1.0.0"),
            Err("improper constraint:  foo".into())
        );
        assert_eq!(
            Version::parse("1.2.3-01").err().as_deref(),
            Some("Version segment starts with 0")
        );
    }

    #[test]
    fn template_functions() {
        assert_eq!(out("semverCompare", &[s("^1.2.0"), s("1.2.3")]), "true");
        assert_eq!(out("semverCompare", &[s(">=1.2.0"), s("v1.1.3")]), "false");
        assert_eq!(
            call_err("semverCompare", &[s(">=1.2.0"), s("1.x")]),
            "Invalid Semantic Version"
        );
        let version = crate::test_support::ok("semver", &[s("v1.2.3-alpha.1+build")]);
        let Value::Object(object) = &version else {
            panic!("not an object")
        };
        assert_eq!(object.field("Major"), Some(Value::Int(1)));
        assert_eq!(object.field("Prerelease"), Some(Value::string("alpha.1")));
        assert_eq!(object.field("Metadata"), Some(Value::string("build")));
        assert_eq!(
            object.field("Original"),
            Some(Value::string("v1.2.3-alpha.1+build"))
        );
        assert_eq!(version.to_string(), "1.2.3-alpha.1+build");
        let newer = crate::test_support::ok("semver", &[s("1.3.0")]);
        assert_eq!(
            object.call("LessThan", std::slice::from_ref(&newer)),
            Some(Ok(Value::Bool(true)))
        );
        assert_eq!(object.call("Compare", &[newer]), Some(Ok(Value::Int(-1))));
    }
}
