//! Registration and argument checks as Go's text/template does them before calling a function:
//! the argument count first, then each argument against the Go parameter type.

use std::sync::Arc;

use gotemplate::{FuncError, FuncResult, Funcs, Map, MapRef, Value};

/// How many arguments a function takes.
#[derive(Clone, Copy)]
pub(crate) enum Arity {
    Exact(usize),
    /// Variadic: at least this many.
    AtLeast(usize),
}

/// Adds `f` under `name`, checking the argument count first.
pub(crate) fn register(
    funcs: &mut Funcs,
    name: &'static str,
    arity: Arity,
    f: fn(&[Value]) -> FuncResult,
) {
    let func = move |args: &[Value]| {
        check_count(name, arity, args.len())?;
        f(args)
    };
    funcs.insert(name.to_string(), Arc::new(func));
}

fn check_count(name: &str, arity: Arity, got: usize) -> Result<(), FuncError> {
    match arity {
        Arity::Exact(want) if got != want => Err(FuncError::Args(format!(
            "wrong number of args for {name}: want {want} got {got}"
        ))),
        Arity::AtLeast(want) if got < want => Err(FuncError::Args(format!(
            "wrong number of args for {name}: want at least {want} got {got}"
        ))),
        _ => Ok(()),
    }
}

/// What Go says when an argument does not fit the parameter type.
pub(crate) fn wrong_type(expected: &str, got: &Value) -> FuncError {
    match got {
        Value::Nil => FuncError::Args(format!("invalid value; expected {expected}")),
        other => FuncError::Args(format!(
            "wrong type for value; expected {expected}; got {}",
            other.type_name()
        )),
    }
}

/// An error the Go function returned, or the text of a panic it raised.
pub(crate) fn call_error(message: impl Into<String>) -> FuncError {
    FuncError::Call(message.into())
}

/// A `string` parameter.
pub(crate) fn string(value: &Value) -> Result<&str, FuncError> {
    value.as_str().ok_or_else(|| wrong_type("string", value))
}

/// An `int` parameter. Template integer literals arrive as `Int`; a float64 from values does
/// not convert, as in Go.
pub(crate) fn int(value: &Value) -> Result<i64, FuncError> {
    match value {
        Value::Int(i) => Ok(*i),
        other => Err(wrong_type("int", other)),
    }
}

/// A `float64` parameter: number literals of either form fit it.
pub(crate) fn float(value: &Value) -> Result<f64, FuncError> {
    match value {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        other => Err(wrong_type("float64", other)),
    }
}

/// A `bool` parameter.
pub(crate) fn boolean(value: &Value) -> Result<bool, FuncError> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(wrong_type("bool", other)),
    }
}

/// A `map[string]interface{}` parameter; `None` for a nil map.
pub(crate) fn dict(value: &Value) -> Result<Option<&MapRef>, FuncError> {
    match value {
        Value::Map(map) => Ok(Some(map)),
        Value::Nil => Ok(None),
        other => Err(wrong_type("map[string]interface {}", other)),
    }
}

/// A `map[string]interface{}` parameter's entries (a nil map has none).
pub(crate) fn entries(value: &Value) -> Result<Map, FuncError> {
    Ok(dict(value)?.map(MapRef::to_map).unwrap_or_default())
}

/// A `[]interface{}` parameter; nil is a nil slice.
pub(crate) fn slice(value: &Value) -> Result<&[Value], FuncError> {
    match value {
        Value::List(items) => Ok(items),
        Value::Nil => Ok(&[]),
        other => Err(wrong_type("[]interface {}", other)),
    }
}

/// A string value.
pub(crate) fn text(s: impl Into<Arc<str>>) -> Value {
    Value::String(s.into())
}

/// A `[]string` result.
pub(crate) fn string_list<S: Into<Arc<str>>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::list(items.into_iter().map(text).collect())
}

/// Go's text for a byte slice turned into a string: invalid UTF-8 cannot be held in a `Value`,
/// so it becomes U+FFFD as Go prints it.
pub(crate) fn from_bytes(bytes: &[u8]) -> Value {
    text(String::from_utf8_lossy(bytes).into_owned())
}
