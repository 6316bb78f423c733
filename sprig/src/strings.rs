//! String functions: Go's `strings` package and the goutils/xstrings helpers sprig wraps.
//! Sprig's argument order puts the string last so that it can be piped in.

use gotemplate::{FuncResult, Funcs, Map, Value};
use rand::seq::SliceRandom as _;

use crate::args::{
    Arity::*, call_error, from_bytes, int, register as add, string, string_list, text,
};
use crate::caseconv;
use crate::conv::strval;

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "hello", Exact(0), |_| Ok(text("Hello!")));
    add(funcs, "abbrev", Exact(2), abbrev);
    add(funcs, "abbrevboth", Exact(3), abbrevboth);
    add(funcs, "trunc", Exact(2), trunc);
    add(funcs, "trim", Exact(1), |a| Ok(text(string(&a[0])?.trim())));
    add(funcs, "upper", Exact(1), |a| {
        Ok(text(caseconv::upper(string(&a[0])?)))
    });
    add(funcs, "lower", Exact(1), |a| {
        Ok(text(caseconv::lower(string(&a[0])?)))
    });
    add(funcs, "title", Exact(1), |a| {
        Ok(text(caseconv::title(string(&a[0])?)))
    });
    add(funcs, "untitle", Exact(1), |a| {
        Ok(text(caseconv::untitle(string(&a[0])?)))
    });
    add(funcs, "swapcase", Exact(1), |a| {
        Ok(text(caseconv::swapcase(string(&a[0])?)))
    });
    add(funcs, "snakecase", Exact(1), |a| {
        Ok(text(caseconv::delimited_case(string(&a[0])?, '_')))
    });
    add(funcs, "kebabcase", Exact(1), |a| {
        Ok(text(caseconv::delimited_case(string(&a[0])?, '-')))
    });
    add(funcs, "camelcase", Exact(1), |a| {
        Ok(text(caseconv::pascal_case(string(&a[0])?)))
    });
    add(funcs, "initials", Exact(1), |a| {
        Ok(text(caseconv::initials(string(&a[0])?)))
    });
    add(funcs, "nospace", Exact(1), |a| {
        Ok(text(caseconv::nospace(string(&a[0])?)))
    });
    add(funcs, "shuffle", Exact(1), shuffle);
    add(funcs, "substr", Exact(3), substr);
    add(funcs, "repeat", Exact(2), |a| {
        Ok(text(repeat(string(&a[1])?, int(&a[0])?)?))
    });
    add(funcs, "trimall", Exact(2), trim_all);
    add(funcs, "trimAll", Exact(2), trim_all);
    add(funcs, "trimSuffix", Exact(2), |a| {
        let (suffix, s) = (string(&a[0])?, string(&a[1])?);
        Ok(text(s.strip_suffix(suffix).unwrap_or(s)))
    });
    add(funcs, "trimPrefix", Exact(2), |a| {
        let (prefix, s) = (string(&a[0])?, string(&a[1])?);
        Ok(text(s.strip_prefix(prefix).unwrap_or(s)))
    });
    add(funcs, "wrap", Exact(2), |a| {
        Ok(from_bytes(&caseconv::wrap(
            string(&a[1])?,
            int(&a[0])?,
            "",
            false,
        )))
    });
    add(funcs, "wrapWith", Exact(3), |a| {
        let (width, newline, s) = (int(&a[0])?, string(&a[1])?, string(&a[2])?);
        Ok(from_bytes(&caseconv::wrap(s, width, newline, true)))
    });
    add(funcs, "contains", Exact(2), |a| {
        Ok(Value::Bool(string(&a[1])?.contains(string(&a[0])?)))
    });
    add(funcs, "hasPrefix", Exact(2), |a| {
        Ok(Value::Bool(string(&a[1])?.starts_with(string(&a[0])?)))
    });
    add(funcs, "hasSuffix", Exact(2), |a| {
        Ok(Value::Bool(string(&a[1])?.ends_with(string(&a[0])?)))
    });
    add(funcs, "quote", AtLeast(0), quote);
    add(funcs, "squote", AtLeast(0), squote);
    add(funcs, "cat", AtLeast(0), cat);
    add(funcs, "indent", Exact(2), |a| {
        Ok(text(indent(int(&a[0])?, string(&a[1])?)?))
    });
    add(funcs, "nindent", Exact(2), |a| {
        Ok(text(format!("\n{}", indent(int(&a[0])?, string(&a[1])?)?)))
    });
    add(funcs, "replace", Exact(3), |a| {
        let (old, new, src) = (string(&a[0])?, string(&a[1])?, string(&a[2])?);
        Ok(text(src.replace(old, new)))
    });
    add(funcs, "plural", Exact(3), |a| {
        let (one, many, count) = (string(&a[0])?, string(&a[1])?, int(&a[2])?);
        Ok(text(if count == 1 { one } else { many }))
    });
    add(funcs, "toString", Exact(1), |a| Ok(text(strval(&a[0]))));
    add(funcs, "toStrings", Exact(1), |a| {
        Ok(string_list(strslice(&a[0])))
    });
    add(funcs, "split", Exact(2), |a| {
        Ok(numbered(go_split(string(&a[1])?, string(&a[0])?, -1)))
    });
    add(funcs, "splitn", Exact(3), |a| {
        let (sep, n, s) = (string(&a[0])?, int(&a[1])?, string(&a[2])?);
        Ok(numbered(go_split(s, sep, n)))
    });
    add(funcs, "splitList", Exact(2), |a| {
        Ok(string_list(go_split(string(&a[1])?, string(&a[0])?, -1)))
    });
    add(funcs, "join", Exact(2), |a| {
        Ok(text(strslice(&a[1]).join(string(&a[0])?)))
    });
}

fn abbrev(a: &[Value]) -> FuncResult {
    let (width, s) = (int(&a[0])?, string(&a[1])?);
    if width < 4 {
        return Ok(text(s));
    }
    Ok(from_bytes(
        &caseconv::abbreviate(s.as_bytes(), 0, width).unwrap_or_default(),
    ))
}

fn abbrevboth(a: &[Value]) -> FuncResult {
    let (left, right, s) = (int(&a[0])?, int(&a[1])?, string(&a[2])?);
    if right < 4 || left > 0 && right < 7 {
        return Ok(text(s));
    }
    Ok(from_bytes(
        &caseconv::abbreviate(s.as_bytes(), left, right).unwrap_or_default(),
    ))
}

/// The first `n` bytes, or with a negative `n` the last `-n`.
fn trunc(a: &[Value]) -> FuncResult {
    let (n, s) = (int(&a[0])?, string(&a[1])?);
    let len = s.len() as i64;
    let bytes = s.as_bytes();
    if n < 0 && len + n > 0 {
        return Ok(from_bytes(&bytes[(len + n) as usize..]));
    }
    if n >= 0 && len > n {
        return Ok(from_bytes(&bytes[..n as usize]));
    }
    Ok(text(s))
}

/// Byte offsets as Go slices them, with Go's out-of-range panic.
fn substr(a: &[Value]) -> FuncResult {
    let (start, end, s) = (int(&a[0])?, int(&a[1])?, string(&a[2])?);
    let len = s.len() as i64;
    let bytes = s.as_bytes();
    let out_of_range =
        |detail: String| call_error(format!("runtime error: slice bounds out of range {detail}"));
    if start < 0 {
        if end < 0 {
            return Err(out_of_range(format!("[:{end}]")));
        }
        if end > len {
            return Err(out_of_range(format!("[:{end}] with length {len}")));
        }
        return Ok(from_bytes(&bytes[..end as usize]));
    }
    if end < 0 || end > len {
        if start > len {
            return Err(out_of_range(format!("[{start}:{len}]")));
        }
        return Ok(from_bytes(&bytes[start as usize..]));
    }
    if start > end {
        return Err(out_of_range(format!("[{start}:{end}]")));
    }
    Ok(from_bytes(&bytes[start as usize..end as usize]))
}

fn repeat(s: &str, count: i64) -> Result<String, gotemplate::FuncError> {
    let count = usize::try_from(count).map_err(|_| call_error("strings: negative Repeat count"))?;
    if s.len()
        .checked_mul(count)
        .is_none_or(|total| total > isize::MAX as usize)
    {
        return Err(call_error("strings: Repeat output length overflow"));
    }
    Ok(s.repeat(count))
}

fn trim_all(a: &[Value]) -> FuncResult {
    let (cutset, s) = (string(&a[0])?, string(&a[1])?);
    Ok(text(s.trim_matches(|c| cutset.contains(c))))
}

fn shuffle(a: &[Value]) -> FuncResult {
    let mut chars: Vec<char> = string(&a[0])?.chars().collect();
    chars.shuffle(&mut rand::thread_rng());
    Ok(text(chars.into_iter().collect::<String>()))
}

fn indent(spaces: i64, s: &str) -> Result<String, gotemplate::FuncError> {
    let pad = repeat(" ", spaces)?;
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

/// Each non-nil argument as `%q` of its text, joined by spaces.
fn quote(a: &[Value]) -> FuncResult {
    let quoted: Vec<String> = a
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| gotemplate::quote(&strval(v)))
        .collect();
    Ok(text(quoted.join(" ")))
}

/// Each non-nil argument as `'%v'`, joined by spaces.
fn squote(a: &[Value]) -> FuncResult {
    let quoted: Vec<String> = a
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| format!("'{v}'"))
        .collect();
    Ok(text(quoted.join(" ")))
}

/// The non-nil arguments printed with `%v`, space separated.
fn cat(a: &[Value]) -> FuncResult {
    let printed: Vec<String> = a
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(ToString::to_string)
        .collect();
    Ok(text(printed.join(" ")))
}

/// Sprig's `strslice`: a list as the text of its non-nil items, a byte slice as its numbers,
/// nil as nothing, anything else as its own text.
pub(crate) fn strslice(value: &Value) -> Vec<String> {
    match value {
        Value::List(items) => items
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(strval)
            .collect(),
        Value::Bytes(bytes) => bytes.iter().map(u8::to_string).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

/// A split result as sprig's `split` returns it: a map with keys `_0`, `_1`, ….
fn numbered(parts: Vec<String>) -> Value {
    let map: Map = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| (format!("_{i}"), text(part)))
        .collect();
    Value::map(map)
}

/// `strings.SplitN`: `n < 0` splits everywhere, `n == 0` gives nothing, an empty separator
/// splits into runes; at most `n` parts with the rest in the last.
pub(crate) fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if sep.is_empty() {
        let mut parts: Vec<String> = Vec::new();
        for (i, c) in s.char_indices() {
            if parts.len() + 1 == limit {
                parts.push(s[i..].to_string());
                return parts;
            }
            parts.push(c.to_string());
        }
        return parts;
    }
    s.splitn(limit, sep).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use gotemplate::Value;

    #[test]
    fn string_params_reject_other_types() {
        assert_eq!(
            args_err("upper", &[f(1.0)]),
            "wrong type for value; expected string; got float64"
        );
        assert_eq!(
            args_err("upper", &[Value::Nil]),
            "invalid value; expected string"
        );
        assert_eq!(
            args_err("upper", &[]),
            "wrong number of args for upper: want 1 got 0"
        );
        assert_eq!(
            args_err("trunc", &[f(5.0), s("abc")]),
            "wrong type for value; expected int; got float64"
        );
    }

    #[test]
    fn case_functions() {
        assert_eq!(out("upper", &[s("hello")]), "HELLO");
        assert_eq!(out("lower", &[s("HELLO")]), "hello");
        assert_eq!(out("title", &[s("hello world")]), "Hello World");
        assert_eq!(out("untitle", &[s("Hello World")]), "hello world");
        assert_eq!(out("camelcase", &[s("http_server")]), "HttpServer");
        assert_eq!(out("snakecase", &[s("FirstName")]), "first_name");
        assert_eq!(out("kebabcase", &[s("FirstName")]), "first-name");
        assert_eq!(out("initials", &[s("First Try")]), "FT");
        assert_eq!(out("swapcase", &[s("This Is A.Test")]), "tHIS iS a.tEST");
    }

    #[test]
    fn trimming_and_truncating() {
        assert_eq!(out("trim", &[s("  5  ")]), "5");
        assert_eq!(out("trimAll", &[s("$"), s("$5.00$")]), "5.00");
        assert_eq!(out("trimSuffix", &[s("-"), s("hello-")]), "hello");
        assert_eq!(out("trimPrefix", &[s("-"), s("-hello")]), "hello");
        assert_eq!(out("trunc", &[i(5), s("hello world")]), "hello");
        assert_eq!(out("trunc", &[i(-5), s("hello world")]), "world");
        assert_eq!(out("trunc", &[i(20), s("hello")]), "hello");
        assert_eq!(out("trunc", &[i(-20), s("hello")]), "hello");
        assert_eq!(out("abbrev", &[i(5), s("hello world")]), "he...");
        assert_eq!(out("abbrev", &[i(3), s("hello world")]), "hello world");
        assert_eq!(
            out("abbrevboth", &[i(5), i(10), s("1234 5678 9123")]),
            "...5678..."
        );
        assert_eq!(out("nospace", &[s("hello w o r l d")]), "helloworld");
    }

    #[test]
    fn substr_slices_bytes_and_panics_like_go() {
        assert_eq!(out("substr", &[i(0), i(5), s("hello world")]), "hello");
        assert_eq!(out("substr", &[i(-1), i(5), s("hello world")]), "hello");
        assert_eq!(out("substr", &[i(6), i(-1), s("hello world")]), "world");
        assert_eq!(out("substr", &[i(6), i(50), s("hello world")]), "world");
        assert_eq!(
            call_err("substr", &[i(-1), i(50), s("abc")]),
            "runtime error: slice bounds out of range [:50] with length 3"
        );
        assert_eq!(
            call_err("substr", &[i(3), i(2), s("abcd")]),
            "runtime error: slice bounds out of range [3:2]"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(
            out("quote", &[s("a\"b"), f(1e6), Value::Nil, i(3)]),
            "\"a\\\"b\" \"1e+06\" \"3\""
        );
        assert_eq!(
            out("quote", &[s("tab\there\u{1}é")]),
            "\"tab\\there\\x01é\""
        );
        assert_eq!(out("squote", &[s("a"), i(1), Value::Nil]), "'a' '1'");
        assert_eq!(
            out("cat", &[s("hello"), Value::Nil, s("beautiful"), i(1)]),
            "hello beautiful 1"
        );
        assert_eq!(out("quote", &[]), "");
    }

    #[test]
    fn indenting() {
        assert_eq!(out("indent", &[i(2), s("a\nb")]), "  a\n  b");
        assert_eq!(out("nindent", &[i(2), s("a\nb")]), "\n  a\n  b");
        assert_eq!(
            call_err("indent", &[i(-1), s("a")]),
            "strings: negative Repeat count"
        );
    }

    #[test]
    fn replace_contains_repeat_plural() {
        assert_eq!(
            out("replace", &[s(" "), s("-"), s("I Am Henry VIII")]),
            "I-Am-Henry-VIII"
        );
        assert_eq!(out("contains", &[s("cat"), s("catch")]), "true");
        assert_eq!(out("hasPrefix", &[s("cat"), s("catch")]), "true");
        assert_eq!(out("hasSuffix", &[s("cat"), s("catch")]), "false");
        assert_eq!(out("repeat", &[i(3), s("hello")]), "hellohellohello");
        assert_eq!(
            out("plural", &[s("one anchovy"), s("many anchovies"), i(1)]),
            "one anchovy"
        );
        assert_eq!(
            out("plural", &[s("one anchovy"), s("many anchovies"), i(2)]),
            "many anchovies"
        );
        assert_eq!(out("wrap", &[i(5), s("Hello World")]), "Hello\nWorld");
        assert_eq!(
            out("wrapWith", &[i(5), s("\t"), s("Hello World")]),
            "Hello\tWorld"
        );
    }

    #[test]
    fn to_string_prints_like_go() {
        assert_eq!(out("toString", &[f(1_000_000.0)]), "1e+06");
        assert_eq!(out("toString", &[f(1.5)]), "1.5");
        assert_eq!(out("toString", &[i(42)]), "42");
        assert_eq!(out("toString", &[Value::Nil]), "<nil>");
        assert_eq!(out("toString", &[map(&[("a", i(1))])]), "map[a:1]");
        assert_eq!(
            ok("toStrings", &[list(vec![i(1), s("2"), Value::Nil, f(3.5)])]),
            list(vec![s("1"), s("2"), s("3.5")])
        );
    }

    #[test]
    fn splitting_and_joining() {
        assert_eq!(
            ok("split", &[s("$"), s("foo$bar$baz")]),
            map(&[("_0", s("foo")), ("_1", s("bar")), ("_2", s("baz"))])
        );
        assert_eq!(
            ok("splitn", &[s("$"), i(2), s("foo$bar$baz")]),
            map(&[("_0", s("foo")), ("_1", s("bar$baz"))])
        );
        assert_eq!(
            ok("splitList", &[s("$"), s("foo$bar$baz")]),
            list(vec![s("foo"), s("bar"), s("baz")])
        );
        assert_eq!(
            ok("splitList", &[s(""), s("abc")]),
            list(vec![s("a"), s("b"), s("c")])
        );
        assert_eq!(ok("splitList", &[s(","), s("")]), list(vec![s("")]));
        assert_eq!(ok("splitList", &[s(""), s("")]), list(vec![]));
        assert_eq!(
            out(
                "join",
                &[s("-"), list(vec![i(1), s("a"), Value::Nil, f(2.5)])]
            ),
            "1-a-2.5"
        );
        assert_eq!(out("join", &[s("-"), s("abc")]), "abc");
    }

    #[test]
    fn shuffle_keeps_the_runes() {
        let shuffled = out("shuffle", &[s("hello")]);
        let mut sorted: Vec<char> = shuffled.chars().collect();
        sorted.sort_unstable();
        assert_eq!(sorted.into_iter().collect::<String>(), "ehllo");
    }
}
