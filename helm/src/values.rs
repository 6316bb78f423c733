//! Values as Helm composes them: user files and `--set` flags merged in order, then coalesced
//! with the chart's defaults and its subcharts' (globals copied down, `null` deleting a key).

use gotemplate::{Map, Value};

use crate::chart::Chart;

/// Helm's `MergeValues`: `overlay` wins; maps merge key by key.
pub fn merge(base: &mut Map, overlay: Map) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Map(existing)), Value::Map(incoming)) => {
                merge(&mut existing.write(), incoming.to_map());
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Helm's `CoalesceValues`: the chart's defaults under `user`, recursively into its
/// (enabled) subcharts, each seeing the parent's globals.
pub fn coalesce(chart: &Chart, user: Map) -> Map {
    // A copy, as Helm's: maps are shared, and coalescing changes them.
    let mut values = deep_copy_map(&user);
    coalesce_chart(chart, &mut values, false);
    values
}

/// Helm's `MergeValues(chart, nil)`: the chart's and its subcharts' defaults, nulls kept.
pub fn merge_defaults(chart: &Chart) -> Map {
    let mut values = Map::new();
    coalesce_chart(chart, &mut values, true);
    values
}

/// Helm's `MergeTables`: `src` fills what `dst` lacks, nested tables too.
pub fn merge_tables(dst: &mut Map, src: Map) {
    coalesce_tables(dst, src, true);
}

fn coalesce_chart(chart: &Chart, dest: &mut Map, merge: bool) {
    coalesce_defaults(chart, dest, merge);
    for sub in &chart.dependencies {
        let name = sub.name().to_string();
        let slot = dest
            .entry(name.clone())
            .or_insert_with(|| Value::map(Map::new()));
        let Value::Map(sub_values) = slot.clone() else {
            // Helm refuses this; a scalar where a subchart's table goes keeps the subchart
            // from seeing any values.
            continue;
        };
        let globals = dest.get("global").cloned();
        let mut sub_values = sub_values.write();
        coalesce_globals(&mut sub_values, globals.as_ref());
        coalesce_chart(sub, &mut sub_values, merge);
    }
}

/// `coalesceValues`: every default the user did not set is copied in; a user `null`
/// deletes the key; tables merge.
fn coalesce_defaults(chart: &Chart, dest: &mut Map, merge: bool) {
    let subcharts: Vec<&str> = chart.dependencies.iter().map(Chart::name).collect();
    for (key, default) in &chart.values {
        let default = Value::from(default.clone());
        match dest.get_mut(key) {
            Some(Value::Nil) if !merge => {
                dest.remove(key);
            }
            Some(Value::Map(user)) => {
                if let Value::Map(defaults) = default {
                    let merge = merge || subcharts.contains(&key.as_str());
                    coalesce_tables(&mut user.write(), defaults.to_map(), merge);
                }
            }
            Some(_) => {}
            None => {
                dest.insert(key.clone(), default);
            }
        }
    }
}

/// `coalesceTablesFullKey`: `src` fills what `dst` lacks; a `null` in `dst` deletes the key
/// (unless merging).
fn coalesce_tables(dst: &mut Map, src: Map, merge: bool) {
    for (key, value) in src {
        match dst.get_mut(&key) {
            Some(Value::Nil) if !merge => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, value);
            }
            Some(Value::Map(existing)) => {
                if let Value::Map(inner) = value {
                    coalesce_tables(&mut existing.write(), inner.to_map(), merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// `coalesceGlobals`: the parent's `global` table merged into the subchart's, the parent
/// winning.
fn coalesce_globals(dest: &mut Map, parent_globals: Option<&Value>) {
    let parent = match parent_globals {
        Some(Value::Map(map)) => map.to_map(),
        Some(_) => return,
        None => Map::new(),
    };
    let mut globals = match dest.get("global") {
        Some(Value::Map(map)) => map.to_map(),
        Some(_) => return,
        None => Map::new(),
    };
    for (key, value) in &parent {
        match (value, globals.get_mut(key)) {
            (Value::Map(parent_table), Some(existing @ Value::Map(_))) => {
                let mut merged = deep_copy_map(&parent_table.read());
                let Value::Map(own) = &*existing else {
                    unreachable!("matched a map")
                };
                coalesce_tables(&mut merged, own.to_map(), true);
                *existing = Value::map(merged);
            }
            (Value::Map(parent_table), None) => {
                globals.insert(key.clone(), Value::map(deep_copy_map(&parent_table.read())));
            }
            // A table meeting a non-table (either way) is skipped, as Helm does.
            (Value::Map(_), Some(_)) | (_, Some(Value::Map(_))) => {}
            (value, _) => {
                globals.insert(key.clone(), value.clone());
            }
        }
    }
    dest.insert("global".into(), Value::map(globals));
}

/// A values file (`-f`): YAML holding a map, numbers as float64; empty means no values.
pub fn parse_values_file(name: &str, text: &str) -> Result<Map, String> {
    let documents =
        goyaml::parse_yaml11(text).map_err(|e| format!("failed to parse {name}: {e}"))?;
    match documents.into_iter().next().map(Value::from) {
        None | Some(Value::Nil) => Ok(Map::new()),
        Some(Value::Map(map)) => Ok(map.to_map()),
        Some(other) => Err(format!(
            "failed to parse {name}: a values file holds a map, not {}",
            other.type_name()
        )),
    }
}

/// `--set-json`: a JSON object merged in, or `path=<JSON value>`.
pub fn parse_set_json(text: &str, base: &mut Map) -> Result<(), String> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(trimmed)
            .map_err(|e| format!("failed parsing --set-json data {trimmed:?}: {e}"))?;
        if let Value::Map(map) = Value::from(value) {
            merge(base, map.to_map());
        }
        return Ok(());
    }
    let (path, json) = text
        .split_once('=')
        .ok_or_else(|| format!("key {text:?} has no value"))?;
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("failed parsing --set-json data {json:?}: {e}"))?;
    let mut parser = SetParser {
        chars: format!("{path}=").chars().collect(),
        pos: 0,
        string_only: false,
    };
    let steps = parser.path()?;
    set_path(base, &steps, Value::from(value));
    Ok(())
}

/// A map copied down to its nested maps and lists, so changing the copy leaves the
/// original alone (Go's `copystructure.Copy`).
pub fn deep_copy_map(map: &Map) -> Map {
    map.iter().map(|(k, v)| (k.clone(), deep_copy(v))).collect()
}

fn deep_copy(value: &Value) -> Value {
    match value {
        Value::Map(map) => Value::map(deep_copy_map(&map.read())),
        Value::List(items) => Value::list(items.iter().map(deep_copy).collect()),
        other => other.clone(),
    }
}

/// A `--set`-style value list parsed into `base`, as Helm's `strvals` does:
/// `a.b=1,c[0]=x,d={x,y}`; `string_only` keeps every value a string (`--set-string`).
pub fn parse_set(text: &str, base: &mut Map, string_only: bool) -> Result<(), String> {
    let mut parser = SetParser {
        chars: text.chars().collect(),
        pos: 0,
        string_only,
    };
    while parser.pos < parser.chars.len() {
        parser.assignment(base)?;
    }
    Ok(())
}

struct SetParser {
    chars: Vec<char>,
    pos: usize,
    string_only: bool,
}

/// A path step: a key or a list index.
enum Step {
    Key(String),
    Index(usize),
}

impl SetParser {
    fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// `path=value` up to a top-level comma.
    fn assignment(&mut self, base: &mut Map) -> Result<(), String> {
        let path = self.path()?;
        let value = self.value()?;
        set_path(base, &path, value);
        Ok(())
    }

    /// The key path up to (and past) `=`: `a.b[0].c`.
    fn path(&mut self) -> Result<Vec<Step>, String> {
        let mut path = Vec::new();
        let mut key = String::new();
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                return Err(format!("key {:?} has no value", self.text()));
            };
            self.pos += 1;
            match c {
                '\\' => {
                    if let Some(&next) = self.chars.get(self.pos) {
                        key.push(next);
                        self.pos += 1;
                    }
                }
                '.' => {
                    if !key.is_empty() {
                        path.push(Step::Key(std::mem::take(&mut key)));
                    }
                }
                '[' => {
                    if !key.is_empty() {
                        path.push(Step::Key(std::mem::take(&mut key)));
                    }
                    let close = self.chars[self.pos..]
                        .iter()
                        .position(|&c| c == ']')
                        .ok_or_else(|| {
                            format!("error parsing index: missing ] in {:?}", self.text())
                        })?;
                    let index: String = self.chars[self.pos..self.pos + close].iter().collect();
                    self.pos += close + 1;
                    let index: usize = index
                        .parse()
                        .map_err(|_| format!("failed to parse index: {index:?}"))?;
                    if index > 65536 {
                        return Err(format!(
                            "index of {index} is greater than maximum supported index of 65536"
                        ));
                    }
                    path.push(Step::Index(index));
                }
                '=' => {
                    if !key.is_empty() {
                        path.push(Step::Key(std::mem::take(&mut key)));
                    }
                    if path.is_empty() {
                        return Err(format!("key {:?} has no key", self.text()));
                    }
                    return Ok(path);
                }
                ',' => return Err(format!("key {key:?} has no value (cannot end with ,)")),
                c => key.push(c),
            }
        }
    }

    /// A value up to the next top-level comma: `{a,b}` is a list.
    fn value(&mut self) -> Result<Value, String> {
        if self.chars.get(self.pos) == Some(&'{') {
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                let (text, end) = self.scalar(&[',', '}']);
                items.push(self.typed(&text));
                match end {
                    Some('}') => {
                        if self.chars.get(self.pos) == Some(&',') {
                            self.pos += 1;
                        }
                        return Ok(Value::list(items));
                    }
                    Some(_) => {}
                    None => {
                        return Err(format!("list must terminate with '}}': {:?}", self.text()));
                    }
                }
            }
        }
        let (text, _) = self.scalar(&[',']);
        Ok(if text.is_empty() && !self.string_only {
            Value::string("")
        } else {
            self.typed(&text)
        })
    }

    /// Text up to one of `stops` (consumed and returned) or the end; `\` escapes.
    fn scalar(&mut self, stops: &[char]) -> (String, Option<char>) {
        let mut text = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if c == '\\' {
                if let Some(&next) = self.chars.get(self.pos) {
                    text.push(next);
                    self.pos += 1;
                }
            } else if stops.contains(&c) {
                return (text, Some(c));
            } else {
                text.push(c);
            }
        }
        (text, None)
    }

    /// `strvals.typedVal`: `true`/`false`/`null` and integers without a leading zero take
    /// their type; everything else is a string.
    fn typed(&self, text: &str) -> Value {
        if self.string_only {
            return Value::string(text);
        }
        if text.eq_ignore_ascii_case("true") {
            return Value::Bool(true);
        }
        if text.eq_ignore_ascii_case("false") {
            return Value::Bool(false);
        }
        if text.eq_ignore_ascii_case("null") {
            return Value::Nil;
        }
        if text == "0" {
            return Value::Int(0);
        }
        if !text.starts_with('0')
            && let Ok(i) = text.parse::<i64>()
        {
            return Value::Int(i);
        }
        Value::string(text)
    }
}

fn set_path(map: &mut Map, path: &[Step], value: Value) {
    let Step::Key(key) = &path[0] else { return };
    let slot = map.entry(key.clone()).or_insert(Value::Nil);
    set_in(slot, &path[1..], value);
}

fn set_in(slot: &mut Value, path: &[Step], value: Value) {
    let Some(step) = path.first() else {
        *slot = value;
        return;
    };
    match step {
        Step::Key(key) => {
            if !matches!(slot, Value::Map(_)) {
                *slot = Value::map(Map::new());
            }
            let Value::Map(map) = slot else {
                unreachable!("a map")
            };
            let mut map = map.write();
            let next = map.entry(key.clone()).or_insert(Value::Nil);
            set_in(next, &path[1..], value);
        }
        Step::Index(index) => {
            if !matches!(slot, Value::List(_)) {
                *slot = Value::list(Vec::new());
            }
            let Value::List(list) = slot else {
                unreachable!("a list")
            };
            let list = std::sync::Arc::make_mut(list);
            if list.len() <= *index {
                list.resize(index + 1, Value::Nil);
            }
            set_in(&mut list[*index], &path[1..], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> String {
        let mut map = Map::new();
        parse_set(text, &mut map, false).unwrap();
        format!("{}", Value::map(map))
    }

    #[test]
    fn set_flags_parse_as_helm_strvals() {
        assert_eq!(set("a=1,b=x"), "map[a:1 b:x]");
        assert_eq!(set("a.b.c=true"), "map[a:map[b:map[c:true]]]");
        assert_eq!(set("l[1]=x"), "map[l:[<nil> x]]");
        assert_eq!(set("l={a,b},z=007"), "map[l:[a b] z:007]");
        assert_eq!(set("n=null"), "map[n:<nil>]");
        assert_eq!(set(r"a\.b=c\,d"), "map[a.b:c,d]");
        let mut map = Map::new();
        parse_set("a=1", &mut map, true).unwrap();
        assert_eq!(map["a"], Value::string("1"));
        assert!(
            matches!(set_int("n=12"), Value::Int(12)),
            "--set integers are int64, not float64"
        );
    }

    fn set_int(text: &str) -> Value {
        let mut map = Map::new();
        parse_set(text, &mut map, false).unwrap();
        map["n"].clone()
    }

    #[test]
    fn merge_overrides_and_merges_tables() {
        let mut base = Map::new();
        parse_set("a.x=1,a.y=2,b=1", &mut base, false).unwrap();
        let mut overlay = Map::new();
        parse_set("a.y=3,b.c=1", &mut overlay, false).unwrap();
        merge(&mut base, overlay);
        assert_eq!(
            format!("{}", Value::map(base)),
            "map[a:map[x:1 y:3] b:map[c:1]]"
        );
    }
}
