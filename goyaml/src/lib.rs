//! YAML as the Go tools read and write it: streams into JSON values (YAML 1.1 numbers, as
//! go-yaml reads them) and back in the layout kustomize and Helm's `toYaml` print
//! (sigs.k8s.io/yaml: sequences flush with their key, go-yaml's quoting choices, keys
//! sorted). No YAML crate emits that layout, hence the small emitter here.

use serde_json::{Map, Value};

/// Parses a multi-document YAML stream; empty documents are skipped. Booleans are YAML 1.2's
/// (`on`/`yes` stay strings); numbers with a leading zero are YAML 1.1's, as kustomize reads
/// them (`0755` is 493, `08` is 8): `defaultMode: 0755` must reach the API server as a number.
pub fn parse_stream(text: &str) -> Result<Vec<Value>, serde_saphyr::Error> {
    let documents = parse_as_libyaml(text, &|text| {
        serde_saphyr::from_multiple_with_options(text, stream_options())
    })?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

fn stream_options() -> serde_saphyr::Options {
    // The parser's default budget stops at 1024 documents and 250k nodes: real manifest
    // bundles are larger. Alias-expansion limits (YAML bombs) stay as they are.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 1_000_000;
    budget.max_nodes = 50_000_000;
    budget.max_events = 200_000_000;
    budget.max_depth = 256;
    serde_saphyr::options! {
        strict_booleans: true,
        legacy_octal_numbers: true,
        budget: Some(budget),
        emit_comments: false,
    }
}

/// One step from a value to one inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Where a value is in a document, from its root.
pub type Path = Vec<Step>;

/// `parse_stream`, each document with the paths of its map fields written with no value at
/// all (`key:`). Both read as null, but kustomize tells them apart: a strategic merge patch
/// drops the fields written empty and keeps `key: null` and `key: ~`.
pub fn parse_stream_marking_empty(
    text: &str,
) -> Result<Vec<(Value, Vec<Path>)>, serde_saphyr::Error> {
    let documents = parse_as_libyaml(text, &|text| {
        serde_saphyr::from_multiple_with_options(text, stream_options())
    })?;
    let mut empty: Vec<Vec<Path>> = vec![Vec::new(); documents.len()];
    // A second reading, with source spans, only for the rare stream with a null field and
    // a line that may leave a value out.
    if documents.iter().any(has_null_field) && may_leave_values_out(text) {
        let shapes: Result<Vec<Shape>, _> =
            serde_saphyr::from_multiple_with_options(text, stream_options());
        if let Ok(shapes) = shapes
            && shapes.len() == documents.len()
        {
            for (paths, shape) in empty.iter_mut().zip(&shapes) {
                shape.empty_fields(&mut Vec::new(), paths);
            }
        }
    }
    Ok(documents
        .into_iter()
        .zip(empty)
        .filter(|(d, _)| !d.is_null())
        .collect())
}

/// Whether some line may be a key with no value: one ending in `:` (comments aside) whose
/// next line is not more indented than the key, nor a list item under it; or a flow or
/// tagged null. Block scalars are skipped; the answer is only ever a cautious yes.
fn may_leave_values_out(text: &str) -> bool {
    static FLOW: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let flow = FLOW.get_or_init(|| regex::Regex::new(r":[ \t]*[,}\]]|!!null").expect("valid"));
    if flow.is_match(text) {
        return true;
    }
    let significant = |line: &&str| {
        let content = line.trim_start();
        !content.is_empty() && !content.starts_with('#')
    };
    let mut lines = text.lines().filter(significant).peekable();
    // Lines indented past this column are a block scalar's.
    let mut block_above: Option<usize> = None;
    while let Some(line) = lines.next() {
        let (key_column, rest) = key_column(line);
        if block_above.is_some_and(|column| line.len() - line.trim_start().len() > column) {
            continue;
        }
        block_above = None;
        let content = line.split(" #").next().unwrap_or(line).trim_end();
        if ends_in_block_header(content) {
            // `- |` is a list item's scalar: its lines are indented past the dash.
            let scalar_alone = rest.starts_with(['|', '>']);
            let indent = line.len() - line.trim_start().len();
            block_above = Some(if scalar_alone { indent } else { key_column });
            continue;
        }
        if !content.ends_with(':') {
            continue;
        }
        let Some(next) = lines.peek() else {
            return true;
        };
        let next_column = next.len() - next.trim_start().len();
        let list_item = next.trim_start() == "-" || next.trim_start().starts_with("- ");
        if next_column < key_column || (next_column == key_column && !list_item) {
            return true;
        }
    }
    false
}

/// A line's first key column, after its indentation and any `- ` of list items, and the
/// text from there.
fn key_column(line: &str) -> (usize, &str) {
    let mut column = line.len() - line.trim_start().len();
    let mut rest = &line[column..];
    while let Some(after) = rest.strip_prefix("- ") {
        let item = after.len() - after.trim_start().len();
        column += 2 + item;
        rest = &after[item..];
    }
    (column, rest)
}

/// Whether a line ends in a block scalar header (`|`, `>-`, `|2+`).
fn ends_in_block_header(content: &str) -> bool {
    static HEADER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let header = HEADER.get_or_init(|| {
        regex::Regex::new(r"(?:^|[ \t])[|>](?:[+-]?[1-9]?|[1-9][+-])$").expect("valid")
    });
    header.is_match(content)
}

fn has_null_field(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(|v| v.is_null() || has_null_field(v)),
        Value::Array(items) => items.iter().any(has_null_field),
        _ => false,
    }
}

/// A document's layout as far as empty fields go: maps, lists, fields written with no value
/// (a null whose source text is empty), anything else.
enum Shape {
    Empty,
    Map(Vec<(String, Shape)>),
    List(Vec<Shape>),
    Other,
}

impl Shape {
    fn empty_fields(&self, path: &mut Path, out: &mut Vec<Path>) {
        match self {
            Shape::Map(fields) => {
                for (key, value) in fields {
                    path.push(Step::Key(key.clone()));
                    if matches!(value, Shape::Empty) {
                        out.push(path.clone());
                    } else {
                        value.empty_fields(path, out);
                    }
                    path.pop();
                }
            }
            Shape::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    item.empty_fields(path, out);
                    path.pop();
                }
            }
            Shape::Empty | Shape::Other => {}
        }
    }

    /// A null is `Empty` when its text (where it was defined, for an alias) is empty.
    fn spanned(spanned: serde_saphyr::Spanned<Shape>) -> Shape {
        match spanned.value {
            Shape::Empty if spanned.defined.span().is_empty() => Shape::Empty,
            Shape::Empty => Shape::Other,
            other => other,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Empty)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Empty)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: serde_saphyr::Spanned<Shape> = map.next_value()?;
            fields.push((key, Shape::spanned(value)));
        }
        Ok(Shape::Map(fields))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_saphyr::Spanned<Shape>>()? {
            items.push(Shape::spanned(item));
        }
        Ok(Shape::List(items))
    }
}

/// Parses YAML as sigs.k8s.io/yaml (go-yaml v2) does for kustomize's JSON6902 patches and
/// Helm's values: YAML 1.1 scalars, so `yes`/`on`/`y` are booleans and `010` is octal, and
/// map keys become the strings Go makes of them (`y:` is the key `"true"`, `0x10:` is `"16"`).
pub fn parse_yaml11(text: &str) -> Result<Vec<Value>, serde_saphyr::Error> {
    let documents = parse_as_libyaml(text, &|text| {
        // go-yaml v2 keeps the last of repeated keys.
        let options = serde_saphyr::options! {
            strict_booleans: false,
            legacy_octal_numbers: true,
            emit_comments: false,
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        };
        let documents: Vec<Yaml11> = serde_saphyr::from_multiple_with_options(text, options)?;
        Ok(documents.into_iter().map(|d| d.0).collect())
    })?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// A JSON value read from YAML 1.1, with map keys resolved as go-yaml resolves them and
/// turned into text as sigs.k8s.io/yaml does; of two keys that become one, the later wins.
struct Yaml11(Value);

impl<'de> serde::Deserialize<'de> for Yaml11 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Yaml11, D::Error> {
        deserializer.deserialize_any(Yaml11Visitor)
    }
}

struct Yaml11Visitor;

impl<'de> serde::de::Visitor<'de> for Yaml11Visitor {
    type Value = Yaml11;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Yaml11, E> {
        Ok(Yaml11(Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Yaml11, E> {
        Ok(Yaml11(Value::Null))
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Yaml11, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Yaml11, E> {
        Ok(Yaml11(Value::Bool(b)))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Yaml11, E> {
        Ok(Yaml11(Value::from(n)))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Yaml11, E> {
        Ok(Yaml11(Value::from(n)))
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Yaml11, E> {
        serde_json::Number::from_f64(f)
            .map(|n| Yaml11(Value::Number(n)))
            .ok_or_else(|| E::custom(format!("json: unsupported value: {}", go_float_g(f))))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Yaml11, E> {
        Ok(Yaml11(Value::String(s.to_string())))
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Yaml11, E> {
        Ok(Yaml11(Value::String(s)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml11, A::Error> {
        let mut items = Vec::new();
        while let Some(Yaml11(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Yaml11(Value::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Yaml11, A::Error> {
        let mut out = Map::new();
        while let Some((Yaml11(key), Yaml11(value))) = map.next_entry()? {
            let key = match key {
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) if n.is_f64() => go_float_g(n.as_f64().unwrap_or(0.0)),
                Value::Number(n) => n.to_string(),
                Value::Null => "null".to_string(),
                other => other.to_string(),
            };
            out.insert(key, value);
        }
        Ok(Yaml11(Value::Object(out)))
    }
}

// Both parsers leave comments out (`emit_comments: false`): nothing here reads them, and
// kept they are buffered while the parser looks ahead, failing past 32 in a row (a
// commented-out block between a key and its value).

type Parser<'a> = &'a dyn Fn(&str) -> Result<Vec<Value>, serde_saphyr::Error>;

/// Parses with `parse`, then corrects where it reads otherwise than libyaml (go-yaml's
/// parser, behind kustomize).
fn parse_as_libyaml(text: &str, parse: Parser) -> Result<Vec<Value>, serde_saphyr::Error> {
    let documents = parse(text)?;
    Ok(without_final_block_break(text, documents, parse))
}

/// A block scalar (`|`, `>`) whose last line ends the input without a line break: libyaml
/// gives it no final line feed, whatever its chomping; our parser adds one (the YAML test
/// suite's reading). Its header is found by looking up from the last line; the text with
/// that header made `-` (strip) must read as the same documents but for that one line feed,
/// else the candidate is wrong and the next one up is tried.
fn without_final_block_break(text: &str, documents: Vec<Value>, parse: Parser) -> Vec<Value> {
    if text.ends_with(['\n', '\r']) {
        return documents;
    }
    for header in block_header_candidates(text).into_iter().take(3) {
        let mut rewritten = String::with_capacity(text.len() + 1);
        rewritten.push_str(&text[..header.start]);
        rewritten.push_str(&header.stripped);
        rewritten.push_str(&text[header.end..]);
        let Ok(again) = parse(&rewritten) else {
            continue;
        };
        let mut changed = 0;
        let same_else = documents.len() == again.len()
            && documents
                .iter()
                .zip(&again)
                .all(|(old, new)| lost_final_break(old, new, &mut changed));
        if same_else && changed == 1 {
            return again;
        }
    }
    documents
}

/// Where a block scalar header's indicators are in the text (`|2+`), and the same header
/// with strip chomping (`|2-`).
#[derive(Debug, PartialEq)]
struct BlockHeader {
    start: usize,
    end: usize,
    stripped: String,
}

/// Lines above the last one ending in a block scalar header and less indented than every
/// line below them, nearest first: the headers the last line may belong to. Headers that
/// strip already need no change.
fn block_header_candidates(text: &str) -> Vec<BlockHeader> {
    static HEADER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let header = HEADER.get_or_init(|| {
        regex::Regex::new(r"(?:^|[ \t])([|>])([+-]?)([1-9]?)([+-]?)(?:[ \t]+#.*)?[ \t]*$")
            .expect("valid")
    });
    let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let mut lines = text.rsplit('\n');
    let mut end = text.len();
    let Some(last) = lines.next().filter(|l| !l.is_empty()) else {
        return Vec::new();
    };
    // Indentation alone ending the input is content only right under a keep (`+`) header,
    // which then has no other line: our parser reads a line feed there, libyaml nothing.
    let blank = last.trim().is_empty();
    end -= last.len();
    let mut below = indent(last);
    let mut found = Vec::new();
    for line in lines {
        end -= line.len() + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if below == 0 || line.starts_with("---") || line.starts_with("...") {
            break;
        }
        if line.trim().is_empty() && !blank {
            continue;
        }
        let own = indent(line);
        if own < below
            && let Some(c) = header.captures(line)
            && let (Some(indicator), Some(chomping)) = (c.get(1), c.get(4))
            && (c[2].is_empty() || c[4].is_empty())
            && c[2] != *"-"
            && c[4] != *"-"
            && (!blank || c[2] == *"+" || c[4] == *"+")
        {
            found.push(BlockHeader {
                start: end + indicator.start(),
                end: end + chomping.end(),
                stripped: format!("{}{}-", &c[1], &c[3]),
            });
        }
        if blank {
            break;
        }
        below = below.min(own);
    }
    found
}

/// Whether `new` is `old` but for string values that lost a final line feed, counting them.
fn lost_final_break(old: &Value, new: &Value, changed: &mut usize) -> bool {
    match (old, new) {
        (Value::String(a), Value::String(b)) if a != b => {
            *changed += 1;
            a.strip_suffix('\n') == Some(b.as_str())
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(key, value)| {
                    b.get(key)
                        .is_some_and(|other| lost_final_break(value, other, changed))
                })
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| lost_final_break(x, y, changed))
        }
        (a, b) => a == b,
    }
}

/// Serialises documents as one stream separated by `---` lines.
pub fn to_stream<'a>(documents: impl IntoIterator<Item = &'a Map<String, Value>>) -> String {
    let mut out = String::new();
    for (i, document) in documents.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_map(document, 0, &mut out);
    }
    out
}

/// Serialises one document (no separator).
pub fn write_document(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => write_map(map, 0, out),
        Value::Array(items) if !items.is_empty() => write_seq(items, 0, out),
        scalar => {
            let mut line = Line::new(out, 0);
            line.inline(scalar, 0);
            out.push('\n');
        }
    }
}

/// Appends to `out` while tracking the column, for go-yaml's folding of long scalars.
struct Line<'a> {
    out: &'a mut String,
    column: usize,
}

impl<'a> Line<'a> {
    fn new(out: &'a mut String, column: usize) -> Self {
        Line { out, column }
    }

    fn push(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn push_str(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn newline_indent(&mut self, indent: usize) {
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.column = indent;
    }

    fn inline(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Null => self.push_str("null"),
            Value::Bool(b) => self.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => self.push_str(&number_text(n)),
            Value::String(s) => self.scalar(s, indent + 2, false),
            Value::Object(_) => self.push_str("{}"),
            Value::Array(_) => self.push_str("[]"),
        }
    }

    /// A string as go-yaml v2 (behind sigs.k8s.io/yaml) writes it: plain when that reads
    /// back as the same string under YAML 1.1, double-quoted when plain would read as another
    /// type, single-quoted when plain is not allowed, literal block when multi-line; long
    /// scalars fold at spaces past column 80, continuing at `indent`.
    fn scalar(&mut self, s: &str, indent: usize, is_key: bool) {
        let analysis = analyze(s);
        let style = if s.contains('\n') {
            if analysis.block_allowed && !is_key {
                Style::Literal
            } else {
                Style::Double
            }
        } else if resolves_to_non_string(s) {
            Style::Double
        } else if analysis.plain_allowed {
            Style::Plain
        } else if analysis.single_allowed {
            Style::Single
        } else {
            Style::Double
        };
        let breaks = !is_key;
        match style {
            Style::Plain => self.folded(s, indent, breaks, false),
            Style::Single => {
                self.push('\'');
                self.folded(s, indent, breaks, true);
                self.push('\'');
            }
            Style::Double => self.double_quoted(s, indent, breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    /// Plain or single-quoted text, breaking at a single space once past the width.
    fn folded(&mut self, s: &str, indent: usize, breaks: bool, single_quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let last = chars.len().saturating_sub(1);
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                let inner = !single_quoted || (i != 0 && i != last);
                if breaks && !spaces && self.column > BEST_WIDTH && inner && !next_is_space {
                    self.newline_indent(indent);
                } else {
                    self.push(c);
                }
                spaces = true;
            } else {
                if single_quoted && c == '\'' {
                    self.push('\'');
                }
                self.push(c);
                spaces = false;
            }
        }
    }

    fn double_quoted(&mut self, s: &str, indent: usize, breaks: bool) {
        self.push('"');
        let chars: Vec<char> = s.chars().collect();
        let last = chars.len().saturating_sub(1);
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            let escaped = match c {
                '\0' => Some("\\0".to_string()),
                '\u{7}' => Some("\\a".to_string()),
                '\u{8}' => Some("\\b".to_string()),
                '\t' => Some("\\t".to_string()),
                '\n' => Some("\\n".to_string()),
                '\u{b}' => Some("\\v".to_string()),
                '\u{c}' => Some("\\f".to_string()),
                '\r' => Some("\\r".to_string()),
                '\u{1b}' => Some("\\e".to_string()),
                '"' => Some("\\\"".to_string()),
                '\\' => Some("\\\\".to_string()),
                '\u{85}' => Some("\\N".to_string()),
                '\u{a0}' => Some("\\_".to_string()),
                '\u{2028}' => Some("\\L".to_string()),
                '\u{2029}' => Some("\\P".to_string()),
                c if !is_printable(c) => Some(match c as u32 {
                    n if n <= 0xff => format!("\\x{n:02X}"),
                    n if n <= 0xffff => format!("\\u{n:04X}"),
                    n => format!("\\U{n:08X}"),
                }),
                _ => None,
            };
            if let Some(escaped) = escaped {
                self.push_str(&escaped);
                spaces = false;
            } else if c == ' ' {
                if breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != last {
                    self.newline_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.push('\\');
                    }
                } else {
                    self.push(c);
                }
                spaces = true;
            } else {
                self.push(c);
                spaces = false;
            }
        }
        self.push('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.push('|');
        if s.starts_with([' ', '\n']) {
            self.push_str("2");
        }
        if !s.ends_with('\n') {
            self.push('-');
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            self.push('+');
        }
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.out.extend(std::iter::repeat_n(' ', indent));
                self.out.push_str(line);
            }
        }
        self.column = 0;
    }
}

const BEST_WIDTH: usize = 80;

enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn write_key(key: &str, level: usize, out: &mut String) {
    indent(out, level);
    let mut line = Line::new(out, level);
    line.scalar(key, level + 2, true);
    out.push(':');
}

fn indent(out: &mut String, width: usize) {
    out.extend(std::iter::repeat_n(' ', width));
}

fn write_map(map: &Map<String, Value>, level: usize, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // The map is in byte order already, which is kustomize's when keys are only letters
    // (most are): only the others need the slower comparison.
    if !map
        .keys()
        .all(|k| k.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        entries.sort_by(|(a, _), (b, _)| key_order(a, b));
    }
    for (key, value) in entries {
        write_key(key, level, out);
        write_value_after_key(value, level, out);
    }
}

/// The order kustomize prints map keys in (go-yaml v2's key sorting): at the first differing
/// character, letters come after everything else and compare as characters; otherwise the
/// runs of digits starting there compare as numbers (a run's zeros counting once it had a
/// non-zero digit), then the shorter run first, then the characters; a prefix first.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    let (x, y) = (a[i], b[i]);
    match (x.is_alphabetic(), y.is_alphabetic()) {
        (true, true) => return x.cmp(&y),
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    // Zeros of a run that started earlier with a non-zero digit are significant.
    let started = (x == '0' || y == '0')
        && a[..i]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .any(|c| *c != '0');
    let run = |chars: &[char]| -> (u128, usize) {
        let digits = chars[i..].iter().take_while(|c| c.is_ascii_digit());
        digits.fold((u128::from(started), i), |(n, end), c| {
            (n.saturating_mul(10) + u128::from(*c as u8 - b'0'), end + 1)
        })
    };
    let ((an, ae), (bn, be)) = (run(&a), run(&b));
    an.cmp(&bn).then(ae.cmp(&be)).then(x.cmp(&y))
}

/// A value after `key:`: nested maps indent by two, sequences stay flush with the key.
fn write_value_after_key(value: &Value, level: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(map, level + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(items, level, out);
        }
        scalar => {
            out.push(' ');
            let column = out.len() - out.rfind('\n').map_or(0, |i| i + 1);
            let mut line = Line::new(out, column);
            line.inline(scalar, level);
            out.push('\n');
        }
    }
}

fn write_seq(items: &[Value], level: usize, out: &mut String) {
    for item in items {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first entry shares the dash's line; the rest align under it.
                for (i, (key, value)) in map.iter().enumerate() {
                    if i == 0 {
                        out.push(' ');
                        let mut line = Line::new(out, level + 2);
                        line.scalar(key, level + 4, true);
                        out.push(':');
                    } else {
                        write_key(key, level + 2, out);
                    }
                    write_value_after_key(value, level + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push(' ');
                let mut nested = String::new();
                write_seq(inner, level + 2, &mut nested);
                out.push_str(nested.trim_start());
            }
            scalar => {
                out.push(' ');
                let mut line = Line::new(out, level + 2);
                line.inline(scalar, level);
                out.push('\n');
            }
        }
    }
}

/// Numbers as kustomize prints them: its output goes through JSON (Go writes a float without
/// exponent between 1e-6 and 1e21) and back through YAML, where such a text without a point
/// reads as an integer when it fits 64 bits (`1e7` prints `10000000`); other floats print in
/// Go's shortest `%g` form (`1e-05`, `1.2345675e+06`, `1e+20`).
pub fn number_text(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 || !f.is_finite() {
        return "0".into();
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Rust prints the shortest digits padded with zeros, as Go's JSON encoder does.
        let text = format!("{f}");
        if text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok() {
            return text;
        }
    }
    go_float_g(f)
}

/// A float as Go's `%v` prints it: the shortest digits, in exponent form when the exponent
/// is below -4 or 6 and above (`1e+06`, `1e-05`, `123456.5`).
pub fn go_float_g(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return "0".into();
    }
    // `{:e}` gives the shortest digits and the exact decimal exponent.
    let scientific = format!("{f:e}");
    let (mantissa, exp) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0A | 0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..)
        && c != '\u{feff}'
}

struct Analysis {
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

/// libyaml's scalar analysis, block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            plain_allowed: false,
            single_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let blank = |c: Option<&char>| c.is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    let mut indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut trailing_space, mut leading_break, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) =
        (false, false, false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let last = chars.len() - 1;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = blank(chars.get(i + 1));
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                indicators = true;
            }
            if (c == '?' || c == ':' || c == '-') && followed_by_whitespace {
                indicators = true;
            }
        } else {
            if c == ':' && followed_by_whitespace {
                indicators = true;
            }
            if c == '#' && preceded_by_whitespace {
                indicators = true;
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == '\n' {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if c == '\n' {
            if i == 0 {
                leading_break = true;
            }
            if i == last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_break = true;
            previous_space = false;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = blank(Some(&c));
    }
    let mut plain = !(leading_space || leading_break || trailing_space || trailing_break);
    let mut single = true;
    let mut block = !trailing_space;
    if break_space {
        plain = false;
        single = false;
    }
    if space_break || special {
        plain = false;
        single = false;
        block = false;
    }
    if line_breaks || indicators {
        plain = false;
    }
    Analysis {
        plain_allowed: plain,
        single_allowed: single,
        block_allowed: block,
    }
}

/// Whether go-yaml v2 (YAML 1.1) would read the plain text as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y",
        "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
        ".nan", ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return true;
    };
    if first == '.' {
        return s.parse::<f64>().is_ok() && float_pattern().is_match(s);
    }
    if !(first.is_ascii_digit() || first == '+' || first == '-') {
        return false;
    }
    if timestamp_pattern().is_match(s) || base60_pattern().is_match(s) {
        return true;
    }
    let plain = s.replace('_', "");
    go_parse_int(&plain) || float_pattern().is_match(&plain)
}

/// Go's strconv.ParseInt/ParseUint with base 0 (prefixes 0x, 0o, 0b, leading-0 octal).
fn go_parse_int(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (radix, body) = if let Some(b) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        (16, b)
    } else if let Some(b) = digits.strip_prefix("0o").or(digits.strip_prefix("0O")) {
        (8, b)
    } else if let Some(b) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    !body.is_empty() && u64::from_str_radix(body, radix).is_ok()
}

fn float_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        regex::Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid")
    })
}

fn base60_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").expect("valid")
    })
}

fn timestamp_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        regex::Regex::new(
            r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$",
        )
        .expect("valid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scalar_text(s: &str) -> String {
        let mut out = String::new();
        Line::new(&mut out, 0).scalar(s, 2, false);
        out
    }

    #[test]
    fn keys_sorted_sequences_flush_with_their_key_maps_nested_by_two() {
        let doc = json!({"spec": {"containers": [{"name": "app", "args": ["a", "b"]}]}, "e": []});
        let mut out = String::new();
        write_document(&doc, &mut out);
        assert_eq!(
            out,
            "e: []\nspec:\n  containers:\n  - args:\n    - a\n    - b\n    name: app\n"
        );
    }

    #[test]
    fn yaml11_keys_become_the_strings_go_makes_of_them_and_the_last_repeat_wins() {
        let parsed =
            parse_yaml11("y: 1\nn: 2\n\"y\": 3\na: 1\na: 2\n0x10: x\non: [yes, \"no\"]\n").unwrap();
        assert_eq!(
            parsed[0],
            serde_json::json!({"true": [true, "no"], "false": 2, "y": 3, "a": 2, "16": "x"})
        );
    }

    #[test]
    fn strings_are_quoted_as_go_yaml_v2_quotes_them() {
        for (s, want) in [
            ("plain", "plain"),
            ("true", "\"true\""),
            ("on", "\"on\""),
            ("y", "\"y\""),
            ("8080", "\"8080\""),
            ("1.5", "\"1.5\""),
            ("1.10", "\"1.10\""),
            ("1e3", "\"1e3\""),
            ("0x1F", "\"0x1F\""),
            ("0777", "\"0777\""),
            ("1_000", "\"1_000\""),
            ("+1", "\"+1\""),
            ("12:30", "\"12:30\""),
            ("2001-12-14", "\"2001-12-14\""),
            ("", "\"\""),
            ("a\tb", "\"a\\tb\""),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            ("- x", "'- x'"),
            ("-", "'-'"),
            ("*x", "'*x'"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("it's", "it's"),
            ("?x", "?x"),
            (".", "."),
            ("a:b", "a:b"),
            ("1.2.3", "1.2.3"),
            ("nginx:1.25", "nginx:1.25"),
            ("10Mi", "10Mi"),
            ("héllo ✓", "héllo ✓"),
        ] {
            assert_eq!(scalar_text(s), want, "{s:?}");
        }
    }

    #[test]
    fn long_strings_fold_past_column_80() {
        let words = "word ".repeat(30);
        let text = words.trim_end();
        let doc = json!({ "key": text });
        let mut out = String::new();
        write_document(&doc, &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("  word"));
        let parsed = parse_stream(&out).unwrap();
        assert_eq!(parsed[0]["key"], json!(text));
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        let doc = json!({"data": {"a": "x\ny\n", "b": "x\ny", "c": "x\n\n", "d": " x\ny"}});
        let mut out = String::new();
        write_document(&doc, &mut out);
        assert_eq!(
            out,
            "data:\n  a: |\n    x\n    y\n  b: |-\n    x\n    y\n  c: |+\n    x\n\n  d: |2-\n     x\n    y\n"
        );
        assert_eq!(parse_stream(&out).unwrap()[0], doc);
    }

    #[test]
    fn floats_print_as_go_does() {
        for (f, want) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e6, "1000000"),
            (2.5e6, "2500000"),
            (1.5e10, "15000000000"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1234567.5, "1.2345675e+06"),
            (1e19, "10000000000000000000"),
            (9.223372036854776e18, "9223372036854776000"),
            (1e20, "1e+20"),
            (-1e19, "-1e+19"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(number_text(&serde_json::Number::from_f64(f).unwrap()), want);
        }
        for (f, want) in [
            (1.0, "1"),
            (1e6, "1e+06"),
            (1e7, "1e+07"),
            (123456.5, "123456.5"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
        ] {
            assert_eq!(go_float_g(f), want);
        }
    }

    #[test]
    fn large_streams_parse() {
        let text = "kind: ConfigMap\nmetadata:\n  name: x\n---\n".repeat(5000);
        assert_eq!(parse_stream(&text).unwrap().len(), 5000);
    }

    #[test]
    fn keys_sort_as_go_yaml_v2_sorts_them() {
        // The order `kubectl kustomize` printed these keys in.
        let printed = [
            "_x", "1", "A", "a-b", "a_b", "a9", "a10", "aB", "b2c9", "b2c10",
        ];
        let mut keys = printed;
        keys.reverse();
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(keys, printed);
    }

    #[test]
    fn block_scalar_ending_the_input_has_no_final_line_feed() {
        // What kubectl kustomize (libyaml) reads.
        for (text, want) in [
            ("k: |\n  a\n  b", "a\nb"),
            ("k: |+\n  a\n  b", "a\nb"),
            ("k: >\n  a\n  b", "a b"),
            ("k: |2 # note\n    a", "  a"),
            ("k: |\n  a\n  b\n", "a\nb\n"),
            ("k: |\n  a\n\n  ", "a\n"),
            ("k: |+\n  ", ""),
            ("k: |+\n\n  ", "\n"),
            ("k: |\n  x: |\n    y", "x: |\n  y"),
            ("k: |\r\n  a\r\n  b", "a\nb"),
            ("k: a\n  b", "a b"),
        ] {
            assert_eq!(parse_stream(text).unwrap()[0]["k"], json!(want), "{text:?}");
        }
        let docs = parse_stream("a: |\n  x\n---\nb:\n- c: >-\n    y\n- d: |\n    z").unwrap();
        assert_eq!(docs[0]["a"], json!("x\n"));
        assert_eq!(docs[1]["b"], json!([{"c": "y"}, {"d": "z"}]));
    }

    #[test]
    fn block_header_candidates_nearest_first() {
        let text = "k: |\n  x: >+\n    y";
        let found = block_header_candidates(text);
        assert_eq!(found.len(), 2);
        assert_eq!(&text[found[0].start..found[0].end], ">+");
        assert_eq!(found[0].stripped, ">-");
        assert_eq!(&text[found[1].start..found[1].end], "|");
        assert!(block_header_candidates("k: v\n").is_empty());
        assert!(block_header_candidates("k: |-\n  v").is_empty());
    }

    #[test]
    fn long_runs_of_comments_parse() {
        let comments = "  # a comment line\n".repeat(100);
        let text = format!("a:\n{comments}  b: 1\nc:\n{comments}  - x\nd: |\n  # kept\n{comments}");
        let docs = parse_stream(&text).unwrap();
        assert_eq!(
            docs[0],
            json!({"a": {"b": 1}, "c": ["x"], "d": "# kept\n# a comment line\n".to_string() + &"# a comment line\n".repeat(99)})
        );
        assert_eq!(
            parse_yaml11(&format!("-\n{comments}  op: add"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn fields_written_empty_are_marked() {
        let text = "a:\nb: ~\nc: null\nd: {x: , y: null}\ne:\n- f:\n  g: ''\n- \n---\nk: v\n---\n";
        let docs = parse_stream_marking_empty(text).unwrap();
        assert_eq!(docs.len(), 2);
        let key = |k: &str| Step::Key(k.into());
        assert_eq!(
            docs[0].1,
            [
                vec![key("a")],
                vec![key("d"), key("x")],
                vec![key("e"), Step::Index(0), key("f")]
            ]
        );
        assert_eq!(docs[0].0["b"], Value::Null);
        assert!(docs[1].1.is_empty());
    }

    #[test]
    fn lines_that_may_leave_values_out() {
        for text in [
            "a:\nb: 1\n",
            "a: # note\nb: 1\n",
            "a:\n  b:\n",
            "- a:\n  b: 1\n",
            "x: {a: , b: 1}\n",
            "a: !!null\n",
            "a:\n---\nb: 1\n",
            "a: |\n  text:\nb:\nc: 1\n",
        ] {
            assert!(may_leave_values_out(text), "{text:?}");
        }
        for text in [
            "a:\n  b: 1\n",
            "a:\n- b\n",
            "a:\n# c\n\n  b: 1\n",
            "- - a:\n      b: 1\n",
            "a: null\nb: {}\nc: []\n",
            "a: |\n  More info:\n  x\nb: 1\n",
            "- >-\n  More info:\n- key: |2\n     text:\n  b: 1\n",
            "url: http://h/#x\n",
        ] {
            assert!(!may_leave_values_out(text), "{text:?}");
        }
    }

    #[test]
    fn round_trip_keeps_values() {
        let text = "a: on\nb: 0123\nc: 5\nd: [1, 2]\n---\n---\ne: |\n  x\n";
        let docs = parse_stream(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["a"], json!("on"));
        assert_eq!(
            docs[0]["b"],
            json!(83),
            "YAML 1.1 octal, as kustomize reads it"
        );
        let maps = docs.iter().map(|d| d.as_object().unwrap());
        let again = parse_stream(&to_stream(maps)).unwrap();
        assert_eq!(docs, again);
    }
}
