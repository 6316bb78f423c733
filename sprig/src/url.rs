//! `urlParse`, `urlJoin` (Go's `net/url` parsing and printing) and `getHostByName`, which has
//! no network to ask here and gives "".

use gotemplate::{FuncResult, Funcs, Map, Value};

use crate::args::{Arity::*, call_error, entries, register as add, string, text};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "urlParse", Exact(1), url_parse);
    add(funcs, "urlJoin", Exact(1), url_join);
    add(funcs, "getHostByName", Exact(1), |a| {
        string(&a[0])?;
        Ok(text(""))
    });
}

/// The parts of a URL as Go's `url.URL` holds them (path and fragment unescaped).
#[derive(Default)]
struct Url {
    scheme: String,
    opaque: String,
    userinfo: Option<String>,
    host: String,
    path: String,
    raw_query: String,
    fragment: String,
}

fn url_parse(a: &[Value]) -> FuncResult {
    let raw = string(&a[0])?;
    let url = parse(raw).map_err(|e| {
        call_error(format!(
            "unable to parse url: parse {}: {e}",
            gotemplate::quote(raw)
        ))
    })?;
    let hostname = hostname(&url.host);
    let mut map = Map::new();
    for (key, value) in [
        ("scheme", url.scheme.as_str()),
        ("host", url.host.as_str()),
        ("hostname", hostname.as_str()),
        ("path", url.path.as_str()),
        ("query", url.raw_query.as_str()),
        ("opaque", url.opaque.as_str()),
        ("fragment", url.fragment.as_str()),
        ("userinfo", url.userinfo.as_deref().unwrap_or("")),
    ] {
        map.insert(key.to_string(), text(value));
    }
    Ok(Value::map(map))
}

/// `url.Parse`.
fn parse(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let (rest, fragment) = match raw.split_once('#') {
        Some((rest, fragment)) => (rest, unescape(fragment)?),
        None => (raw, String::new()),
    };
    let mut url = Url {
        fragment,
        ..Url::default()
    };
    let mut rest = rest;
    if let Some((scheme, after)) = split_scheme(rest)? {
        url.scheme = scheme.to_ascii_lowercase();
        rest = after;
    }
    if let Some((before, query)) = rest.split_once('?') {
        url.raw_query = query.to_string();
        rest = before;
    }
    if !rest.starts_with('/') && !url.scheme.is_empty() {
        url.opaque = rest.to_string();
        return Ok(url);
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        rest = &after[end..];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                url.userinfo = Some(userinfo.to_string());
                url.host = host.to_string();
            }
            None => url.host = authority.to_string(),
        }
    } else if url.scheme.is_empty()
        && rest
            .split('/')
            .next()
            .is_some_and(|first| first.contains(':'))
    {
        return Err("first path segment in URL cannot contain colon".into());
    }
    url.path = unescape(rest)?;
    Ok(url)
}

/// A leading `scheme:`, if the text starts with one.
fn split_scheme(raw: &str) -> Result<Option<(&str, &str)>, String> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok(Some((&raw[..i], &raw[i + 1..]))),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Percent-decoding, with Go's complaint about a bad escape.
fn unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(hex) = hex else {
                let end = (i + 3).min(s.len());
                return Err(format!(
                    "invalid URL escape {}",
                    gotemplate::quote(s.get(i..end).unwrap_or("%"))
                ));
            };
            out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `URL.Hostname()`: the host without port or IPv6 brackets.
fn hostname(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => host.to_string(),
    }
}

fn url_join(a: &[Value]) -> FuncResult {
    let map = entries(&a[0])?;
    let part = |key: &str| -> Result<String, gotemplate::FuncError> {
        match map.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            Some(other) => Err(call_error(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                other.kind()
            ))),
        }
    };
    let userinfo = part("userinfo")?;
    let url = Url {
        scheme: part("scheme")?,
        opaque: part("opaque")?,
        userinfo: (!userinfo.is_empty()).then_some(userinfo),
        host: part("host")?,
        path: part("path")?,
        raw_query: part("query")?,
        fragment: part("fragment")?,
    };
    Ok(text(url.to_string()))
}

/// `URL.String()`.
impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.scheme.is_empty() {
            write!(f, "{}:", self.scheme)?;
        }
        if !self.opaque.is_empty() {
            f.write_str(&self.opaque)?;
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.userinfo.is_some() {
                if !self.host.is_empty() || !self.path.is_empty() || self.userinfo.is_some() {
                    f.write_str("//")?;
                }
                if let Some(userinfo) = &self.userinfo {
                    write!(f, "{userinfo}@")?;
                }
                f.write_str(&escape(&self.host, Part::Host))?;
            }
            if !self.path.is_empty() && !self.path.starts_with('/') && !self.host.is_empty() {
                f.write_str("/")?;
            }
            f.write_str(&escape(&self.path, Part::Path))?;
        }
        if !self.raw_query.is_empty() {
            write!(f, "?{}", self.raw_query)?;
        }
        if !self.fragment.is_empty() {
            write!(f, "#{}", escape(&self.fragment, Part::Fragment))?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Part {
    Host,
    Path,
    Fragment,
}

/// Percent-encoding with Go's set of characters left alone for each part.
fn escape(s: &str, part: Part) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        let allowed = match part {
            Part::Host => matches!(
                b,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'<'
                    | b'>'
                    | b'"'
            ),
            Part::Path => matches!(
                b,
                b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
            ),
            Part::Fragment => matches!(
                b,
                b'$' | b'&'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
                    | b'!'
                    | b'('
                    | b')'
                    | b'*'
                    | b'?'
            ),
        };
        if unreserved || allowed {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn parse_like_net_url() {
        let parsed = ok(
            "urlParse",
            &[s(
                "http://admin:secret@server.com:8080/api/a%20b?list&x=1#anchor",
            )],
        );
        let want = map(&[
            ("scheme", s("http")),
            ("host", s("server.com:8080")),
            ("hostname", s("server.com")),
            ("path", s("/api/a b")),
            ("query", s("list&x=1")),
            ("opaque", s("")),
            ("fragment", s("anchor")),
            ("userinfo", s("admin:secret")),
        ]);
        assert_eq!(parsed, want);
        let opaque = ok("urlParse", &[s("mailto:someone@example.com")]);
        assert_eq!(
            opaque,
            map(&[
                ("scheme", s("mailto")),
                ("host", s("")),
                ("hostname", s("")),
                ("path", s("")),
                ("query", s("")),
                ("opaque", s("someone@example.com")),
                ("fragment", s("")),
                ("userinfo", s("")),
            ])
        );
        assert_eq!(
            call_err("urlParse", &[s(":foo")]),
            "unable to parse url: parse \":foo\": missing protocol scheme"
        );
    }

    #[test]
    fn join_like_net_url() {
        let parts = map(&[
            ("scheme", s("http")),
            ("host", s("server.com:8080")),
            ("path", s("/api/a b")),
            ("query", s("list&x=1")),
            ("fragment", s("anchor")),
            ("userinfo", s("admin:secret")),
        ]);
        assert_eq!(
            out("urlJoin", &[parts]),
            "http://admin:secret@server.com:8080/api/a%20b?list&x=1#anchor"
        );
        assert_eq!(
            out("urlJoin", &[map(&[("host", s("h")), ("path", s("p"))])]),
            "//h/p"
        );
        assert_eq!(
            call_err("urlJoin", &[map(&[("host", i(1))])]),
            "unable to parse host key, must be of type string, but int found"
        );
        assert_eq!(out("getHostByName", &[s("example.com")]), "");
    }
}
