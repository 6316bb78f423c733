//! The functions Helm adds to sprig's: YAML and JSON conversion, `required`, `fail`,
//! `lookup`, and the two that run templates, `include` and `tpl`.

use std::sync::Arc;

use gotemplate::{EngineFunc, Exec, Func, FuncError, Funcs, Map, Value};

/// `include`'s limit on one template including itself.
const MAX_INCLUDE_DEPTH: usize = 1000;

/// Helm wraps `fail` and `required` messages so the final error can show them alone.
pub const ERROR_START: &str = "HELM_ERR_START";
pub const ERROR_END: &str = "HELM_ERR_END";

/// `sigs.k8s.io/yaml.Marshal` without the final newline.
pub fn to_yaml(value: &serde_json::Value) -> String {
    let mut out = String::new();
    goyaml::write_document(value, &mut out);
    out.truncate(out.trim_end_matches('\n').len());
    out
}

/// YAML text as Helm reads values (`sigs.k8s.io/yaml`: YAML 1.1, numbers as float64).
fn parse_yaml(text: &str) -> Result<Value, String> {
    let documents =
        goyaml::parse_yaml11(text).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    Ok(documents
        .into_iter()
        .next()
        .map(Value::from)
        .unwrap_or_default())
}

fn one_arg<'a>(name: &str, args: &'a [Value]) -> Result<&'a Value, FuncError> {
    match args {
        [value] => Ok(value),
        _ => Err(FuncError::Args(format!(
            "wrong number of args for {name}: want 1 got {}",
            args.len()
        ))),
    }
}

fn string_arg<'a>(name: &str, args: &'a [Value]) -> Result<&'a str, FuncError> {
    match one_arg(name, args)? {
        Value::String(s) => Ok(s),
        other => Err(FuncError::Args(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
    }
}

fn func(f: impl Fn(&[Value]) -> Result<Value, FuncError> + Send + Sync + 'static) -> Func {
    Arc::new(f)
}

/// Helm's additions, which override sprig's of the same name.
pub fn helm_funcs(cluster: Option<Arc<dyn Cluster>>) -> Funcs {
    let mut funcs = Funcs::new();
    funcs.insert(
        "toYaml".into(),
        func(|args| Ok(Value::string(to_yaml(&one_arg("toYaml", args)?.to_json())))),
    );
    funcs.insert(
        "fromYaml".into(),
        func(|args| {
            let text = string_arg("fromYaml", args)?;
            Ok(match parse_yaml(text) {
                Ok(Value::Map(map)) => Value::Map(map),
                Ok(Value::Nil) => Value::map(Map::new()),
                Ok(other) => error_map(&format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                )),
                Err(e) => error_map(&e),
            })
        }),
    );
    funcs.insert(
        "fromYamlArray".into(),
        func(|args| {
            let text = string_arg("fromYamlArray", args)?;
            Ok(match parse_yaml(text) {
                Ok(Value::List(list)) => Value::List(list),
                Ok(Value::Nil) => Value::list(Vec::new()),
                Ok(other) => Value::list(vec![Value::string(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(e) => Value::list(vec![Value::string(e)]),
            })
        }),
    );
    funcs.insert(
        "toJson".into(),
        func(|args| {
            Ok(Value::string(sprig::json::encode(
                one_arg("toJson", args)?,
                true,
                None,
            )))
        }),
    );
    funcs.insert(
        "fromJson".into(),
        func(|args| {
            let text = string_arg("fromJson", args)?;
            Ok(match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => Value::from(serde_json::Value::Object(map)),
                Ok(serde_json::Value::Null) => Value::map(Map::new()),
                Ok(other) => error_map(&format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&Value::from(other))
                )),
                Err(e) => error_map(&e.to_string()),
            })
        }),
    );
    funcs.insert(
        "fromJsonArray".into(),
        func(|args| {
            let text = string_arg("fromJsonArray", args)?;
            Ok(match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Array(items)) => Value::from(serde_json::Value::Array(items)),
                Ok(serde_json::Value::Null) => Value::list(Vec::new()),
                Ok(other) => Value::list(vec![Value::string(format!(
                    "json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&Value::from(other))
                ))]),
                Err(e) => Value::list(vec![Value::string(e.to_string())]),
            })
        }),
    );
    funcs.insert(
        "required".into(),
        func(|args| match args {
            [message, value] => match value {
                Value::Nil => Err(FuncError::Call(format!(
                    "{ERROR_START}{message}{ERROR_END}"
                ))),
                Value::String(s) if s.is_empty() => Err(FuncError::Call(format!(
                    "{ERROR_START}{message}{ERROR_END}"
                ))),
                other => Ok(other.clone()),
            },
            _ => Err(FuncError::Args(format!(
                "wrong number of args for required: want 2 got {}",
                args.len()
            ))),
        }),
    );
    funcs.insert(
        "fail".into(),
        func(|args| {
            let message = string_arg("fail", args)?;
            Err(FuncError::Call(format!(
                "{ERROR_START}{message}{ERROR_END}"
            )))
        }),
    );
    funcs.insert("lookup".into(), lookup(cluster));
    funcs
}

fn error_map(message: &str) -> Value {
    let mut map = Map::new();
    map.insert("Error".into(), Value::string(message));
    Value::map(map)
}

/// The JSON kind Go's decoder names in its type errors.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::List(_) | Value::Bytes(_) => "array",
        _ => "object",
    }
}

/// The `(string, any)` arguments of `include` and `tpl`, checked as Go checks them.
fn string_and_value<'a>(name: &str, args: &'a [Value]) -> Result<(String, &'a Value), FuncError> {
    match args {
        [Value::String(text), data] => Ok((text.to_string(), data)),
        [other, _] => Err(FuncError::Args(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
        _ => Err(FuncError::Args(format!(
            "wrong number of args for {name}: want 2 got {}",
            args.len()
        ))),
    }
}

/// `lookup API_VERSION KIND NAMESPACE NAME`: an object (or with an empty name, a list) from
/// the cluster; without one, an empty map, as with `helm template`.
fn lookup(cluster: Option<Arc<dyn Cluster>>) -> Func {
    func(move |args| {
        let strings: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
        let [api_version, kind, namespace, name] = strings[..] else {
            return Err(match args.iter().find(|a| a.as_str().is_none()) {
                Some(other) if args.len() == 4 => FuncError::Args(format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                )),
                _ => FuncError::Args(format!(
                    "wrong number of args for lookup: want 4 got {}",
                    args.len()
                )),
            });
        };
        let Some(cluster) = &cluster else {
            return Ok(Value::map(Map::new()));
        };
        let found = cluster
            .lookup(api_version, kind, namespace, name)
            .map_err(FuncError::Call)?;
        Ok(from_api_json(found))
    })
}

/// An object as the API server's JSON decodes into Go's unstructured maps: integers stay
/// integers (int64), unlike values files.
fn from_api_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::Array(items) => {
            Value::list(items.into_iter().map(from_api_json).collect())
        }
        serde_json::Value::Object(map) => Value::map(
            map.into_iter()
                .map(|(k, v)| (k, from_api_json(v)))
                .collect(),
        ),
        other => Value::from(other),
    }
}

/// Read access to a cluster for `lookup` (helm-controller gives one acting as the
/// release's service account; `helm template` has none).
pub trait Cluster: Send + Sync {
    /// The object `name` of `kind` (in `namespace` when namespaced) as JSON, an empty
    /// object when there is none; with an empty `name`, the list of them.
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<serde_json::Value, String>;
}

/// `include NAME DATA`: another template's output, as a string.
pub fn include() -> EngineFunc {
    Arc::new(|exec: &mut Exec<'_>, args: &[Value]| {
        let (name, data) = string_and_value("include", args)?;
        let depth = exec.calls.entry(name.clone()).or_insert(0);
        if *depth > MAX_INCLUDE_DEPTH {
            return Err(FuncError::Call(format!(
                "rendering template has a nested reference name: {name}: unable to execute template"
            )));
        }
        *depth += 1;
        let mut out = String::new();
        let result = exec.execute(&name, data, &mut out);
        if let Some(depth) = exec.calls.get_mut(&name) {
            *depth -= 1;
        }
        result.map_err(|e| FuncError::Exec(Box::new(e)))?;
        Ok(Value::string(out))
    })
}

/// `tpl TEXT DATA`: `TEXT` rendered as a template that sees every define.
pub fn tpl() -> EngineFunc {
    Arc::new(|exec: &mut Exec<'_>, args: &[Value]| {
        let (text, data) = string_and_value("tpl", args)?;
        // Helm 4 parses the text under the name of its root template.
        let out = exec
            .execute_text("gotpl", &text, data)
            .map_err(|e| match e {
                gotemplate::TextError::Parse(e) => {
                    FuncError::Call(format!("cannot parse template {text:?}: {e}"))
                }
                gotemplate::TextError::Exec(e) => FuncError::Call(format!(
                    "error during tpl function execution for {text:?}: {e}"
                )),
            })?;
        Ok(Value::string(out.replace("<no value>", "")))
    })
}
