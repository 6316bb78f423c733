//! Calling the registered functions from unit tests, as the template engine would.

use std::sync::OnceLock;

use gotemplate::{FuncError, FuncResult, Funcs, Value};

fn all() -> &'static Funcs {
    static FUNCS: OnceLock<Funcs> = OnceLock::new();
    FUNCS.get_or_init(crate::functions)
}

pub(crate) fn call(name: &str, args: &[Value]) -> FuncResult {
    let func = all()
        .get(name)
        .unwrap_or_else(|| panic!("no function {name}"));
    func(args)
}

/// The call's result, which must succeed.
pub(crate) fn ok(name: &str, args: &[Value]) -> Value {
    call(name, args).unwrap_or_else(|e| panic!("{name} failed: {e:?}"))
}

/// The result printed as `{{ }}` prints it.
pub(crate) fn out(name: &str, args: &[Value]) -> String {
    ok(name, args).to_string()
}

pub(crate) fn call_err(name: &str, args: &[Value]) -> String {
    match call(name, args) {
        Err(FuncError::Call(message)) => message,
        other => panic!("{name}: expected a call error, got {other:?}"),
    }
}

pub(crate) fn args_err(name: &str, args: &[Value]) -> String {
    match call(name, args) {
        Err(FuncError::Args(message)) => message,
        other => panic!("{name}: expected an argument error, got {other:?}"),
    }
}

pub(crate) fn s(text: &str) -> Value {
    Value::string(text)
}

pub(crate) fn i(n: i64) -> Value {
    Value::Int(n)
}

pub(crate) fn f(x: f64) -> Value {
    Value::Float(x)
}

pub(crate) fn list(items: Vec<Value>) -> Value {
    Value::list(items)
}

pub(crate) fn map(pairs: &[(&str, Value)]) -> Value {
    Value::map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}
