//! Go's `path` functions (and `path/filepath`'s, the same on Linux): `base`, `dir`, `clean`,
//! `ext`, `isAbs`.

use gotemplate::{Funcs, Value};

use crate::args::{Arity::*, register as add, string, text};

pub(crate) fn register(funcs: &mut Funcs) {
    for (plain, os) in [
        ("base", "osBase"),
        ("dir", "osDir"),
        ("clean", "osClean"),
        ("ext", "osExt"),
        ("isAbs", "osIsAbs"),
    ] {
        let f: fn(&[Value]) -> gotemplate::FuncResult = match plain {
            "base" => |a| Ok(text(base(string(&a[0])?))),
            "dir" => |a| Ok(text(dir(string(&a[0])?))),
            "clean" => |a| Ok(text(clean(string(&a[0])?))),
            "ext" => |a| Ok(text(ext(string(&a[0])?))),
            _ => |a| Ok(Value::Bool(string(&a[0])?.starts_with('/'))),
        };
        add(funcs, plain, Exact(1), f);
        add(funcs, os, Exact(1), f);
    }
}

/// `path.Clean`: the shortest equivalent path, lexically.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// `path.Base`: the last element, trailing slashes ignored.
fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// `path.Dir`: everything up to the last slash, cleaned.
fn dir(path: &str) -> String {
    let end = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..end])
}

/// `path.Ext`: from the last dot of the last element.
fn ext(path: &str) -> String {
    for (i, c) in path.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return path[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn go_path_functions() {
        assert_eq!(out("base", &[s("foo/bar/baz.txt")]), "baz.txt");
        assert_eq!(out("base", &[s("/foo/bar/")]), "bar");
        assert_eq!(out("base", &[s("")]), ".");
        assert_eq!(out("base", &[s("///")]), "/");
        assert_eq!(out("dir", &[s("foo/bar/baz")]), "foo/bar");
        assert_eq!(out("dir", &[s("baz")]), ".");
        assert_eq!(out("dir", &[s("/baz")]), "/");
        assert_eq!(out("clean", &[s("foo/../../bar//./baz/")]), "../bar/baz");
        assert_eq!(out("clean", &[s("/../a")]), "/a");
        assert_eq!(out("clean", &[s("")]), ".");
        assert_eq!(out("ext", &[s("foo/bar.tar.gz")]), ".gz");
        assert_eq!(out("ext", &[s("foo.d/bar")]), "");
        assert_eq!(out("isAbs", &[s("/foo")]), "true");
        assert_eq!(out("osIsAbs", &[s("foo")]), "false");
    }
}
