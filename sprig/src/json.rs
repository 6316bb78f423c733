//! Go's `encoding/json` encoder for template values: map keys sorted, `<`, `>` and `&`
//! escaped unless asked not to, floats printed as Go prints them (`1e+21`, `1e-7`,
//! `100000000000000000000`), and `MarshalIndent`'s layout.

use std::fmt::Write as _;

use gotemplate::Value;

/// `json.Marshal` (`indent: None`) or `json.MarshalIndent(v, "", indent)`; with
/// `escape_html: false` as an `Encoder` with `SetEscapeHTML(false)` writes it. Empty when Go
/// would fail (NaN or an infinity), which is what Helm's `toJson` prints then.
pub fn encode(value: &Value, escape_html: bool, indent: Option<&str>) -> String {
    try_encode(value, escape_html, indent).unwrap_or_default()
}

/// As [`encode`], with Go's error for values JSON cannot hold
/// (`json: unsupported value: NaN`).
pub fn try_encode(
    value: &Value,
    escape_html: bool,
    indent: Option<&str>,
) -> Result<String, String> {
    let mut encoder = Encoder {
        out: String::new(),
        escape_html,
        indent,
    };
    encoder.value(&value.to_json_with_objects(), 0)?;
    Ok(encoder.out)
}

/// Template values reach the encoder through `serde_json`: objects know their own JSON form.
trait ToJson {
    fn to_json_with_objects(&self) -> serde_json::Value;
}

impl ToJson for Value {
    fn to_json_with_objects(&self) -> serde_json::Value {
        match self {
            // serde_json cannot hold NaN or infinities; keep them as a marker the encoder
            // rejects with Go's message.
            Value::Float(f) if !f.is_finite() => serde_json::Value::String(unsupported_marker(*f)),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(|v| v.to_json_with_objects()).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.read()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json_with_objects()))
                    .collect(),
            ),
            other => other.to_json(),
        }
    }
}

/// A string no template can produce, carrying a float JSON has no spelling for.
const UNSUPPORTED: &str = "\u{0}sprig-json-unsupported\u{0}";

fn unsupported_marker(f: f64) -> String {
    format!("{UNSUPPORTED}{}", gotemplate::format_float(f))
}

struct Encoder<'a> {
    out: String,
    escape_html: bool,
    indent: Option<&'a str>,
}

impl Encoder<'_> {
    fn value(&mut self, value: &serde_json::Value, depth: usize) -> Result<(), String> {
        use serde_json::Value as Json;
        match value {
            Json::Null => self.out.push_str("null"),
            Json::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => {
                    let _ = write!(self.out, "{i}");
                }
                (None, Some(u)) => {
                    let _ = write!(self.out, "{u}");
                }
                _ => self.out.push_str(&format_float(n.as_f64().unwrap_or(0.0))),
            },
            Json::String(s) => {
                if let Some(spelled) = s.strip_prefix(UNSUPPORTED) {
                    return Err(format!("json: unsupported value: {spelled}"));
                }
                self.string(s);
            }
            Json::Array(items) => {
                if items.is_empty() {
                    self.out.push_str("[]");
                    return Ok(());
                }
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.value(item, depth + 1)?;
                }
                self.newline(depth);
                self.out.push(']');
            }
            Json::Object(map) => {
                if map.is_empty() {
                    self.out.push_str("{}");
                    return Ok(());
                }
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                self.out.push('{');
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.string(key);
                    self.out.push(':');
                    if self.indent.is_some() {
                        self.out.push(' ');
                    }
                    self.value(item, depth + 1)?;
                }
                self.newline(depth);
                self.out.push('}');
            }
        }
        Ok(())
    }

    fn newline(&mut self, depth: usize) {
        if let Some(indent) = self.indent {
            self.out.push('\n');
            for _ in 0..depth {
                self.out.push_str(indent);
            }
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                '\x08' => self.out.push_str("\\b"),
                '\x0c' => self.out.push_str("\\f"),
                '<' | '>' | '&' if self.escape_html => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c if c < ' ' || c == '\u{2028}' || c == '\u{2029}' => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }
}

/// A float64 as Go's encoder writes it: plain digits from 1e-6 up to 1e21, exponent form
/// (`1e+21`, `1e-7`) outside.
pub(crate) fn format_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                format!("{mantissa}e+{exponent}")
            }
            _ => text,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn floats_print_as_go_encoding_json() {
        assert_eq!(encode(&f(1.0), true, None), "1");
        assert_eq!(encode(&f(1.5), true, None), "1.5");
        assert_eq!(encode(&f(1e6), true, None), "1000000");
        assert_eq!(encode(&f(1e20), true, None), "100000000000000000000");
        assert_eq!(encode(&f(1e21), true, None), "1e+21");
        assert_eq!(encode(&f(1e-7), true, None), "1e-7");
        assert_eq!(encode(&f(0.000001), true, None), "0.000001");
        assert_eq!(encode(&f(-0.0), true, None), "-0");
        assert_eq!(encode(&i(-3), true, None), "-3");
    }

    #[test]
    fn strings_escape_as_go() {
        let value = s("<a href=\"x\">&</a>\n\u{1}\u{2028}é");
        assert_eq!(
            encode(&value, true, None),
            "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\\n\\u0001\\u2028é\""
        );
        assert_eq!(
            encode(&value, false, None),
            "\"<a href=\\\"x\\\">&</a>\\n\\u0001\\u2028é\""
        );
    }

    #[test]
    fn maps_sort_keys_and_indent_like_marshal_indent() {
        let value = map(&[
            ("b", list(vec![i(1), s("x")])),
            ("a", map(&[])),
            ("c", list(vec![])),
            ("d", Value::Nil),
        ]);
        assert_eq!(
            encode(&value, true, None),
            "{\"a\":{},\"b\":[1,\"x\"],\"c\":[],\"d\":null}"
        );
        assert_eq!(
            encode(&value, true, Some("  ")),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    \"x\"\n  ],\n  \"c\": [],\n  \"d\": null\n}"
        );
    }

    #[test]
    fn nan_is_an_error() {
        assert_eq!(
            try_encode(&list(vec![f(f64::NAN)]), true, None),
            Err("json: unsupported value: NaN".into())
        );
        assert_eq!(encode(&f(f64::INFINITY), true, None), "");
    }

    #[test]
    fn bytes_are_base64() {
        assert_eq!(
            encode(&Value::Bytes(b"hi".to_vec().into()), true, None),
            "\"aGk=\""
        );
    }
}
