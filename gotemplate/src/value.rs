//! The data a template sees, modelled on what Helm hands Go's engine: JSON-like values
//! (`map[string]interface{}`, `[]interface{}`, float64 from YAML, int from literals) plus host
//! objects with fields and methods (`.Files.Get "x"`, `.Capabilities.APIVersions.Has "v1"`).

use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use base64::Engine as _;
use std::fmt;
use std::sync::Arc;

/// A map as templates see it: keys in sorted order, as Go's `range` visits them.
pub type Map = BTreeMap<String, Value>;

#[derive(Clone, Default)]
pub enum Value {
    /// Go's nil interface: a missing key, YAML `null`.
    #[default]
    Nil,
    Bool(bool),
    /// Go `int` (template literals, `len`, `int`) and `int64` (sprig arithmetic).
    Int(i64),
    /// Go `float64`: every number that came from YAML or JSON.
    Float(f64),
    String(Arc<str>),
    /// `[]byte` (`.Files.GetBytes`, `b64dec` before `toString`).
    Bytes(Arc<[u8]>),
    List(Arc<Vec<Value>>),
    /// A Go map: shared, so a change through one reference (`set`, `unset`, `merge`) is
    /// seen through every other, as in Go.
    Map(MapRef),
    /// A host value with fields and methods.
    Object(Arc<dyn Object>),
}

/// A host value: a Go struct or a type with methods.
pub trait Object: Send + Sync {
    /// Go's type name as errors and `typeOf` print it (`chart.Files`, `*chart.Metadata`).
    fn type_name(&self) -> &str;
    /// A field or a method without arguments.
    fn field(&self, name: &str) -> Option<Value>;
    /// A method with arguments; `None` when there is no such method.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// `%v` printing.
    fn display(&self) -> String;
    /// The entries `range` and `len` see, when it is a map-like type (`chart.Files`).
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// The key and element pairs `range` visits; by default `entries` with string keys. A
    /// map whose keys are structs (Go's `map[ObjectIdentifier][]Change`) gives them here.
    fn keyed_entries(&self) -> Option<Vec<(Value, Value)>> {
        self.entries().map(|entries| {
            entries
                .into_iter()
                .map(|(k, v)| (Value::string(k), v))
                .collect()
        })
    }
    /// What Go's JSON encoder writes for it.
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.display())
    }
    /// Whether `if` takes it as true (a struct always is).
    fn truthy(&self) -> bool {
        true
    }
}

impl Value {
    pub fn string(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    pub fn map(map: Map) -> Value {
        Value::Map(MapRef::new(map))
    }

    /// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(o) => o.truthy(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's kind name (`reflect.Kind.String()`): what `kindOf` and `kindIs` use.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::Bytes(_) | Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(_) => "struct",
        }
    }

    /// Go's type name (`%T`, `typeOf`).
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// The value as JSON (`toJson`, `toYaml`): ints stay ints, floats stay floats, bytes
    /// become base64 as Go's encoder writes them, objects give their own JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match self {
            Value::Nil => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::String(s) => Json::String(s.to_string()),
            Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(map) => Json::Object(
                map.read()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Object(o) => o.to_json(),
        }
    }
}

/// `%v`: what Go's `fmt.Sprint` prints for the value.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::String(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("[")?;
                for (i, byte) in b.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{byte}")?;
                }
                f.write_str("]")
            }
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                f.write_str("map[")?;
                for (i, (key, value)) in map.read().iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{key}:{value}")?;
                }
                f.write_str("]")
            }
            Value::Object(o) => f.write_str(&o.display()),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            Value::Object(o) => write!(f, "{}{{{}}}", o.type_name(), o.display()),
            other => write!(f, "{other}"),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a.ptr_eq(b) || *a.read() == *b.read(),
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A shared, mutable map (Go's maps are references).
#[derive(Clone, Default)]
pub struct MapRef(Arc<RwLock<Map>>);

impl MapRef {
    pub fn new(map: Map) -> MapRef {
        MapRef(Arc::new(RwLock::new(map)))
    }

    /// The entries, to read (a map never holds a lock across calls, so this cannot block).
    pub fn read(&self) -> RwLockReadGuard<'_, Map> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The entries, to change: every holder of this map sees the change.
    pub fn write(&self) -> RwLockWriteGuard<'_, Map> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A new map with the same entries (Go's shallow copy).
    pub fn to_map(&self) -> Map {
        self.read().clone()
    }

    pub fn ptr_eq(&self, other: &MapRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A float64 as `%v` prints it (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest digits, in
/// exponent form below 1e-4 and from 1e6 on (`1e+06`), `+Inf`, `NaN`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if f == 0.0 && f.is_sign_negative() {
        "-0".into()
    } else {
        goyaml::go_float_g(f)
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            // YAML and JSON numbers are float64 in Helm's values.
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::string(s),
            serde_json::Value::Array(items) => {
                Value::list(items.into_iter().map(Value::from).collect())
            }
            serde_json::Value::Object(map) => {
                Value::map(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}
