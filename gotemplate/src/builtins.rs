//! The functions Go's `text/template` predefines (`and` and `or` short-circuit in the
//! executor).

use std::cmp::Ordering;

use crate::fmt::{sprint, sprintf, sprintln};
use crate::{FuncError, FuncResult, Value};

type Builtin = fn(&[Value]) -> FuncResult;

/// Whether `name` is predefined: templates can call these without registering anything.
pub fn is_builtin(name: &str) -> bool {
    matches!(name, "and" | "or") || lookup(name).is_some()
}

pub fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "not" => not,
        "len" => len,
        "index" => index,
        "slice" => slice,
        "print" => |args| Ok(Value::string(sprint(args))),
        "println" => |args| Ok(Value::string(sprintln(args))),
        "printf" => printf,
        "eq" => eq,
        "ne" => ne,
        "lt" => |args| compare("lt", args, |o| o == Ordering::Less),
        "le" => |args| compare("le", args, |o| o != Ordering::Greater),
        "gt" => |args| compare("gt", args, |o| o == Ordering::Greater),
        "ge" => |args| compare("ge", args, |o| o != Ordering::Less),
        "html" => |args| Ok(Value::string(html_escape(&eval_args(args)))),
        "js" => |args| Ok(Value::string(js_escape(&eval_args(args)))),
        "urlquery" => |args| Ok(Value::string(query_escape(&eval_args(args)))),
        _ => return None,
    })
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() != want {
        return Err(FuncError::Args(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn not(args: &[Value]) -> FuncResult {
    arity("not", args, 1)?;
    Ok(Value::Bool(!args[0].truthy()))
}

fn len(args: &[Value]) -> FuncResult {
    arity("len", args, 1)?;
    let n = match &args[0] {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Object(o) if o.entries().is_some() => o.entries().map_or(0, |e| e.len()),
        Value::Nil => return Err(FuncError::Call("len of nil pointer".into())),
        other => {
            return Err(FuncError::Call(format!(
                "len of type {}",
                other.type_name()
            )));
        }
    };
    Ok(Value::Int(n as i64))
}

/// An index argument as an int, as Go's `indexArg` accepts it.
fn index_arg(value: &Value, cap: usize) -> Result<usize, FuncError> {
    let i = match value {
        Value::Int(i) => *i,
        Value::Nil => return Err(FuncError::Call("cannot index slice/array with nil".into())),
        other => {
            return Err(FuncError::Call(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            )));
        }
    };
    if i < 0 || i as usize > cap {
        return Err(FuncError::Call(format!("index out of range: {i}")));
    }
    Ok(i as usize)
}

fn index(args: &[Value]) -> FuncResult {
    let Some((item, indexes)) = args.split_first() else {
        return Err(FuncError::Args(
            "wrong number of args for index: want at least 1 got 0".into(),
        ));
    };
    let mut item = item.clone();
    for key in indexes {
        item = match (&item, key) {
            (Value::Nil, _) => return Err(FuncError::Call("index of untyped nil".into())),
            (Value::Map(map), Value::String(k)) => map.get(k).unwrap_or_default(),
            (Value::Map(_), Value::Nil) => Value::Nil,
            (Value::Map(_), other) => {
                return Err(FuncError::Call(format!(
                    "value has type {}; should be string",
                    other.type_name()
                )));
            }
            (Value::List(list), key) => {
                let i = index_arg(key, list.len())?;
                list.get(i)
                    .cloned()
                    .ok_or_else(|| FuncError::Call(format!("index out of range: {i}")))?
            }
            (Value::Bytes(bytes), key) => {
                let i = index_arg(key, bytes.len())?;
                Value::Int(i64::from(*bytes.get(i).ok_or_else(|| {
                    FuncError::Call(format!("index out of range: {i}"))
                })?))
            }
            (Value::String(s), key) => {
                let i = index_arg(key, s.len())?;
                Value::Int(i64::from(*s.as_bytes().get(i).ok_or_else(|| {
                    FuncError::Call(format!("index out of range: {i}"))
                })?))
            }
            (other, _) => {
                return Err(FuncError::Call(format!(
                    "can't index item of type {}",
                    other.type_name()
                )));
            }
        };
    }
    Ok(item)
}

fn slice(args: &[Value]) -> FuncResult {
    let Some((item, bounds)) = args.split_first() else {
        return Err(FuncError::Args(
            "wrong number of args for slice: want at least 1 got 0".into(),
        ));
    };
    if bounds.len() > 3 {
        return Err(FuncError::Call(format!(
            "too many slice indexes: {}",
            bounds.len()
        )));
    }
    let len = match item {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Bytes(b) => b.len(),
        Value::Nil => return Err(FuncError::Call("slice of untyped nil".into())),
        other => {
            return Err(FuncError::Call(format!(
                "can't slice item of type {}",
                other.type_name()
            )));
        }
    };
    if bounds.len() == 3 && matches!(item, Value::String(_)) {
        return Err(FuncError::Call("cannot 3-index slice a string".into()));
    }
    let mut idx = [0, len, len];
    for (i, bound) in bounds.iter().enumerate() {
        idx[i] = index_arg(bound, len)?;
    }
    if idx[0] > idx[1] {
        return Err(FuncError::Call(format!(
            "invalid slice index: {} > {}",
            idx[0], idx[1]
        )));
    }
    Ok(match item {
        Value::String(s) => Value::string(s.get(idx[0]..idx[1]).unwrap_or_default()),
        Value::List(l) => Value::list(l[idx[0]..idx[1]].to_vec()),
        Value::Bytes(b) => Value::Bytes(b[idx[0]..idx[1]].into()),
        _ => unreachable!("checked above"),
    })
}

fn printf(args: &[Value]) -> FuncResult {
    match args.first() {
        Some(Value::String(format)) => Ok(Value::string(sprintf(format, &args[1..]))),
        Some(other) => Err(FuncError::Args(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
        None => Err(FuncError::Args(
            "wrong number of args for printf: want at least 1 got 0".into(),
        )),
    }
}

/// Go's comparison kinds: only values of one kind compare (ints with ints, …).
#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn kind(value: &Value) -> Kind {
    match value {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Other,
    }
}

fn eq(args: &[Value]) -> FuncResult {
    let Some((first, rest)) = args.split_first() else {
        return Err(FuncError::Args(
            "wrong number of args for eq: want at least 1 got 0".into(),
        ));
    };
    if rest.is_empty() {
        return Err(FuncError::Call("missing argument for comparison".into()));
    }
    for other in rest {
        if equal(first, other)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ne(args: &[Value]) -> FuncResult {
    arity("ne", args, 2)?;
    Ok(Value::Bool(!equal(&args[0], &args[1])?))
}

fn equal(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        if matches!(a, Value::Nil) || matches!(b, Value::Nil) {
            return Ok(false);
        }
        return Err(incompatible(a, b));
    }
    match (a, b) {
        (Value::Nil, Value::Nil) => Ok(true),
        (Value::List(_) | Value::Map(_) | Value::Bytes(_), _)
        | (_, Value::List(_) | Value::Map(_) | Value::Bytes(_)) => Err(FuncError::Call(sprintf(
            "non-comparable type %s: %v",
            &[b.clone(), Value::string(b.type_name())],
        ))),
        _ => Ok(a == b),
    }
}

fn incompatible(a: &Value, b: &Value) -> FuncError {
    FuncError::Call(format!(
        "incompatible types for comparison: {} and {}",
        a.type_name(),
        b.type_name()
    ))
}

fn compare(name: &str, args: &[Value], accept: fn(Ordering) -> bool) -> FuncResult {
    arity(name, args, 2)?;
    let (a, b) = (&args[0], &args[1]);
    if kind(a) != kind(b) {
        return Err(incompatible(a, b));
    }
    let ordering = match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => return Err(FuncError::Call("invalid type for comparison".into())),
    };
    Ok(Value::Bool(accept(ordering)))
}

/// The arguments as one string, as Go's escapers take them (`fmt.Sprint`, or the only
/// argument when it is a string).
fn eval_args(args: &[Value]) -> String {
    match args {
        [Value::String(s)] => s.to_string(),
        _ => sprint(args),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
