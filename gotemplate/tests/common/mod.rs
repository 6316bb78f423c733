//! What the template tests share: a host object with a method taking an argument, the
//! functions the cases call, and data as Helm hands it over.

use std::sync::Arc;

use gotemplate::{FuncError, Funcs, Object, Value};

/// Like Helm's `.Files`: `Get` takes an argument.
pub struct Files;

impl Object for Files {
    fn type_name(&self) -> &str {
        "main.Files"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match (name, args) {
            ("Get", [Value::String(path)]) => Some(Ok(Value::string(format!("content of {path}")))),
            ("Get", _) => Some(Err("wrong arguments".into())),
            _ => None,
        }
    }
    fn display(&self) -> String {
        "{}".into()
    }
}

/// `upper` (a Go function taking a string) and `fail` (one returning an error).
pub fn funcs() -> Funcs {
    let mut funcs = Funcs::new();
    funcs.insert(
        "upper".into(),
        Arc::new(|args: &[Value]| match args {
            [Value::String(s)] => Ok(Value::string(s.to_uppercase())),
            [other] => Err(FuncError::Args(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            ))),
            _ => Err(FuncError::Args(format!(
                "wrong number of args for upper: want 1 got {}",
                args.len()
            ))),
        }),
    );
    funcs.insert(
        "fail".into(),
        Arc::new(|args: &[Value]| match args {
            [Value::String(s)] => Err(FuncError::Call(s.to_string())),
            _ => Err(FuncError::Args("wrong arguments".into())),
        }),
    );
    funcs
}

/// JSON data (numbers become float64) with `.Files` added.
pub fn data(json: &str) -> Value {
    let value =
        Value::from(serde_json::from_str::<serde_json::Value>(json).expect("case data is JSON"));
    if let Value::Map(map) = &value {
        map.write()
            .insert("Files".into(), Value::Object(Arc::new(Files)));
    }
    value
}
