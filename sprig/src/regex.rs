//! Regular expressions with Go's RE2 syntax and semantics. Rust's `regex` crate is RE2-like;
//! the differences that matter are bridged here: Go's `\d`, `\w`, `\s` and `\b` are ASCII-only,
//! and Go's error texts are rebuilt from the parser's error kind.

use gotemplate::{FuncError, FuncResult, Funcs, Value};
use regex::Regex;

use crate::args::{Arity::*, call_error, int, register as add, string, string_list, text};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "regexMatch", Exact(2), |a| {
        let (pattern, s) = (string(&a[0])?, string(&a[1])?);
        Ok(Value::Bool(compile(pattern).is_ok_and(|re| re.is_match(s))))
    });
    add(funcs, "mustRegexMatch", Exact(2), |a| {
        let s = string(&a[1])?;
        Ok(Value::Bool(must(string(&a[0])?)?.is_match(s)))
    });
    add(funcs, "regexFind", Exact(2), |a| {
        find(&panicking(string(&a[0])?)?, string(&a[1])?)
    });
    add(funcs, "mustRegexFind", Exact(2), |a| {
        find(&must(string(&a[0])?)?, string(&a[1])?)
    });
    add(funcs, "regexFindAll", Exact(3), |a| {
        find_all(&panicking(string(&a[0])?)?, string(&a[1])?, int(&a[2])?)
    });
    add(funcs, "mustRegexFindAll", Exact(3), |a| {
        find_all(&must(string(&a[0])?)?, string(&a[1])?, int(&a[2])?)
    });
    add(funcs, "regexReplaceAll", Exact(3), |a| {
        replace(&panicking(string(&a[0])?)?, &a[1..], true)
    });
    add(funcs, "mustRegexReplaceAll", Exact(3), |a| {
        replace(&must(string(&a[0])?)?, &a[1..], true)
    });
    add(funcs, "regexReplaceAllLiteral", Exact(3), |a| {
        replace(&panicking(string(&a[0])?)?, &a[1..], false)
    });
    add(funcs, "mustRegexReplaceAllLiteral", Exact(3), |a| {
        replace(&must(string(&a[0])?)?, &a[1..], false)
    });
    add(funcs, "regexSplit", Exact(3), |a| {
        split(&panicking(string(&a[0])?)?, string(&a[1])?, int(&a[2])?)
    });
    add(funcs, "mustRegexSplit", Exact(3), |a| {
        split(&must(string(&a[0])?)?, string(&a[1])?, int(&a[2])?)
    });
    add(funcs, "regexQuoteMeta", Exact(1), |a| {
        Ok(text(quote_meta(string(&a[0])?)))
    });
}

/// `regexp.Compile`'s error as the `must` variants return it.
fn must(pattern: &str) -> Result<Regex, FuncError> {
    compile(pattern).map_err(call_error)
}

/// `regexp.MustCompile`'s panic, as the plain variants raise it.
fn panicking(pattern: &str) -> Result<Regex, FuncError> {
    compile(pattern).map_err(|e| {
        call_error(format!(
            "regexp: Compile({}): {e}",
            gotemplate::quote(pattern)
        ))
    })
}

/// Compiles a Go pattern, or gives Go's `error parsing regexp: …` text.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = ascii_classes(pattern);
    if let Err(e) = regex_syntax::ast::parse::Parser::new().parse(pattern)
        && regex_syntax::ast::parse::Parser::new()
            .parse(&translated)
            .is_err()
    {
        return Err(go_parse_error(pattern, &e));
    }
    Regex::new(&translated).map_err(|e| format!("error parsing regexp: {e}"))
}

fn go_parse_error(pattern: &str, e: &regex_syntax::ast::Error) -> String {
    use regex_syntax::ast::ErrorKind as Kind;
    let span = e.span();
    let from = |start: usize| pattern.get(start..).unwrap_or(pattern);
    let (code, fragment) = match e.kind() {
        Kind::GroupUnclosed => ("missing closing )", pattern),
        Kind::GroupUnopened => ("unexpected )", pattern),
        Kind::ClassUnclosed => ("missing closing ]", from(span.start.offset)),
        Kind::RepetitionMissing => (
            "missing argument to repetition operator",
            pattern
                .get(span.start.offset..span.end.offset.max(span.start.offset + 1))
                .unwrap_or(pattern),
        ),
        Kind::EscapeUnrecognized | Kind::EscapeUnexpectedEof => (
            "invalid escape sequence",
            pattern
                .get(span.start.offset..span.end.offset)
                .unwrap_or(pattern),
        ),
        Kind::ClassRangeInvalid => (
            "invalid character class range",
            pattern
                .get(span.start.offset..span.end.offset)
                .unwrap_or(pattern),
        ),
        Kind::RepetitionCountInvalid => (
            "invalid repeat count",
            pattern
                .get(span.start.offset..span.end.offset)
                .unwrap_or(pattern),
        ),
        Kind::UnsupportedLookAround => (
            "invalid or unsupported Perl syntax",
            from(span.start.offset),
        ),
        Kind::UnsupportedBackreference => (
            "invalid escape sequence",
            pattern
                .get(span.start.offset..span.end.offset)
                .unwrap_or(pattern),
        ),
        _ => ("invalid regular expression", pattern),
    };
    format!("error parsing regexp: {code}: `{fragment}`")
}

/// Rewrites Perl classes to Go's ASCII meaning: outside brackets `\d` becomes `[0-9]` and
/// `\b` an ASCII word boundary; inside brackets the positive classes become their ranges.
fn ascii_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let replacement = if class_depth == 0 {
                    match next {
                        'd' => Some("[0-9]"),
                        'D' => Some("[^0-9]"),
                        'w' => Some("[0-9A-Za-z_]"),
                        'W' => Some("[^0-9A-Za-z_]"),
                        's' => Some("[\\t\\n\\f\\r ]"),
                        'S' => Some("[^\\t\\n\\f\\r ]"),
                        'b' => Some("(?-u:\\b)"),
                        'B' => Some("(?-u:\\B)"),
                        _ => None,
                    }
                } else {
                    match next {
                        'd' => Some("0-9"),
                        'w' => Some("0-9A-Za-z_"),
                        's' => Some("\\t\\n\\f\\r "),
                        _ => None,
                    }
                };
                match replacement {
                    Some(ascii) => out.push_str(ascii),
                    None => {
                        out.push('\\');
                        out.push(next);
                    }
                }
                // Go reads `-` after a class escape in brackets (`[\w-.]`) as a literal.
                let class_escape = matches!(next, 'd' | 'D' | 'w' | 'W' | 's' | 'S');
                if class_depth > 0 && class_escape {
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('-') && ahead.next().is_some_and(|c| c != ']') {
                        chars.next();
                        out.push_str("\\-");
                    }
                }
            }
            '[' => {
                out.push('[');
                if class_depth == 0 || chars.peek() == Some(&':') {
                    class_depth += 1;
                }
                // A `]` (after an optional `^`) right at the start is a literal.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap_or(']'));
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            other => out.push(other),
        }
    }
    out
}

fn find(re: &Regex, s: &str) -> FuncResult {
    Ok(text(re.find(s).map_or("", |m| m.as_str())))
}

/// Go's `FindAllString(s, n)`: all matches for `n < 0`, else at most `n`.
fn find_all(re: &Regex, s: &str, n: i64) -> FuncResult {
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    Ok(string_list(
        go_matches(re, s)
            .into_iter()
            .take(limit)
            .map(|(start, end)| &s[start..end]),
    ))
}

/// Match spans as Go reports them: an empty match right after the previous match is skipped.
fn go_matches(re: &Regex, s: &str) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for m in re.find_iter(s) {
        if m.start() == m.end() && spans.last().is_some_and(|&(_, end)| end == m.start()) {
            continue;
        }
        spans.push((m.start(), m.end()));
    }
    spans
}

/// `ReplaceAllString` (with `$1`/`${name}` expansion) or `ReplaceAllLiteralString`.
fn replace(re: &Regex, a: &[Value], expand: bool) -> FuncResult {
    let (s, replacement) = (string(&a[0])?, string(&a[1])?);
    let mut out = String::new();
    let mut last = 0;
    let mut previous_end = None;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        if m.start() == m.end() && previous_end == Some(m.start()) {
            continue;
        }
        out.push_str(&s[last..m.start()]);
        if expand {
            caps.expand(replacement, &mut out);
        } else {
            out.push_str(replacement);
        }
        last = m.end();
        previous_end = Some(m.end());
    }
    out.push_str(&s[last..]);
    Ok(text(out))
}

/// Go's `Regexp.Split(s, n)`.
fn split(re: &Regex, s: &str, n: i64) -> FuncResult {
    if n == 0 {
        return Ok(Value::list(Vec::new()));
    }
    if !re.as_str().is_empty() && s.is_empty() {
        return Ok(string_list([""]));
    }
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    let mut parts = Vec::new();
    let (mut begin, mut end) = (0, 0);
    for (start, stop) in go_matches(re, s).into_iter().take(limit) {
        if parts.len() + 1 == limit {
            break;
        }
        end = start;
        if stop != 0 {
            parts.push(&s[begin..end]);
        }
        begin = stop;
    }
    if end != s.len() {
        parts.push(&s[begin..]);
    }
    Ok(string_list(parts))
}

/// Go's `regexp.QuoteMeta`: a backslash before every metacharacter.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn matching_and_finding() {
        assert_eq!(
            out(
                "regexMatch",
                &[
                    s("^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[A-Za-z]{2,}$"),
                    s("test@acme.com")
                ]
            ),
            "true"
        );
        assert_eq!(out("regexMatch", &[s("(a"), s("a")]), "false");
        assert_eq!(
            call_err("mustRegexMatch", &[s("(a"), s("a")]),
            "error parsing regexp: missing closing ): `(a`"
        );
        assert_eq!(out("regexFind", &[s("[a-zA-Z][1-9]"), s("abcd1234")]), "d1");
        assert_eq!(
            out("regexFindAll", &[s("[2,4,6,8]"), s("123456789"), i(-1)]),
            "[2 4 6 8]"
        );
        assert_eq!(
            out("regexFindAll", &[s("[2,4,6,8]"), s("123456789"), i(2)]),
            "[2 4]"
        );
        assert_eq!(
            out("regexFindAll", &[s("a*"), s("baaab"), i(-1)]),
            "[ aaa ]"
        );
        assert_eq!(
            call_err("regexFind", &[s("a)"), s("x")]),
            "regexp: Compile(\"a)\"): error parsing regexp: unexpected ): `a)`"
        );
        assert_eq!(
            call_err("mustRegexFind", &[s("[a"), s("x")]),
            "error parsing regexp: missing closing ]: `[a`"
        );
    }

    #[test]
    fn a_dash_after_a_class_escape_is_literal_as_in_go() {
        let re = super::compile(r"^[\w-\.]+$").unwrap();
        assert!(re.is_match("my-master.group_1"));
        assert!(!re.is_match("a b"));
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert_eq!(out("regexMatch", &[s("^\\d+$"), s("١٢٣")]), "false");
        assert_eq!(out("regexMatch", &[s("^[\\d]+$"), s("123")]), "true");
        assert_eq!(out("regexMatch", &[s("^\\w+$"), s("é")]), "false");
        assert_eq!(
            out("regexMatch", &[s("^[[:alpha:]]+\\s\\S$"), s("ab c")]),
            "true"
        );
        assert_eq!(out("regexMatch", &[s("^[]a]+$"), s("]a")]), "true");
    }

    #[test]
    fn replacing() {
        assert_eq!(
            out(
                "regexReplaceAll",
                &[s("a(x*)b"), s("-ab-axxb-"), s("${1}W")]
            ),
            "-W-xxW-"
        );
        assert_eq!(
            out("regexReplaceAll", &[s("a(x*)b"), s("-ab-axxb-"), s("$1W")]),
            "---"
        );
        assert_eq!(
            out(
                "regexReplaceAllLiteral",
                &[s("a(x*)b"), s("-ab-axxb-"), s("${1}")]
            ),
            "-${1}-${1}-"
        );
        assert_eq!(
            out("regexReplaceAll", &[s("a*"), s("baaab"), s("-")]),
            "-b-b-"
        );
        assert_eq!(
            out(
                "mustRegexReplaceAll",
                &[s("(?P<word>\\w+)"), s("hi you"), s("<$word>")]
            ),
            "<hi> <you>"
        );
    }

    #[test]
    fn splitting_and_quoting() {
        assert_eq!(out("regexSplit", &[s("z+"), s("pizza"), i(-1)]), "[pi a]");
        assert_eq!(out("regexSplit", &[s("z+"), s("pizza"), i(1)]), "[pizza]");
        assert_eq!(out("regexSplit", &[s(""), s("abc"), i(-1)]), "[a b c]");
        assert_eq!(out("regexSplit", &[s("a*"), s("baaac"), i(-1)]), "[b c]");
        assert_eq!(out("regexSplit", &[s("x"), s(""), i(-1)]), "[]");
        assert_eq!(out("regexQuoteMeta", &[s("1.2.3")]), "1\\.2\\.3");
    }
}
