//! Defaults, emptiness, `ternary`, and sprig's JSON functions.

use gotemplate::{FuncResult, Funcs, Value};

use crate::args::{Arity::*, boolean, call_error, register as add, string, text};
use crate::conv::is_empty;
use crate::json;

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "default", AtLeast(1), |a| {
        Ok(match a.get(1) {
            Some(given) if !is_empty(given) => given.clone(),
            _ => a[0].clone(),
        })
    });
    add(funcs, "empty", Exact(1), |a| {
        Ok(Value::Bool(is_empty(&a[0])))
    });
    add(funcs, "coalesce", AtLeast(0), |a| {
        Ok(a.iter()
            .find(|v| !is_empty(v))
            .cloned()
            .unwrap_or(Value::Nil))
    });
    add(funcs, "all", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().all(|v| !is_empty(v))))
    });
    add(funcs, "any", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().any(|v| !is_empty(v))))
    });
    add(funcs, "ternary", Exact(3), |a| {
        Ok(if boolean(&a[2])? {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    add(funcs, "fromJson", Exact(1), |a| {
        Ok(from_json(string(&a[0])?).unwrap_or(Value::Nil))
    });
    add(funcs, "mustFromJson", Exact(1), |a| {
        from_json(string(&a[0])?).map_err(call_error)
    });
    add(funcs, "toJson", Exact(1), |a| {
        Ok(text(json::encode(&a[0], true, None)))
    });
    add(funcs, "mustToJson", Exact(1), |a| {
        to_json(&a[0], true, None)
    });
    add(funcs, "toPrettyJson", Exact(1), |a| {
        Ok(text(json::encode(&a[0], true, Some("  "))))
    });
    add(funcs, "mustToPrettyJson", Exact(1), |a| {
        to_json(&a[0], true, Some("  "))
    });
    // Sprig panics where mustToRawJson errors: the same failure here.
    add(funcs, "toRawJson", Exact(1), |a| {
        to_json(&a[0], false, None)
    });
    add(funcs, "mustToRawJson", Exact(1), |a| {
        to_json(&a[0], false, None)
    });
}

fn to_json(value: &Value, escape_html: bool, indent: Option<&str>) -> FuncResult {
    json::try_encode(value, escape_html, indent)
        .map(text)
        .map_err(call_error)
}

/// `json.Unmarshal` into `interface{}`: numbers become float64.
fn from_json(s: &str) -> Result<Value, String> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(json) => Ok(Value::from(json)),
        Err(e) if e.is_eof() => Err("unexpected end of JSON input".into()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use gotemplate::Value;

    #[test]
    fn default_uses_sprig_emptiness() {
        assert_eq!(out("default", &[s("foo"), Value::Nil]), "foo");
        assert_eq!(out("default", &[s("foo"), s("")]), "foo");
        assert_eq!(out("default", &[s("foo"), s("bar")]), "bar");
        assert_eq!(out("default", &[s("foo"), f(0.0)]), "foo");
        assert_eq!(out("default", &[s("foo"), i(0)]), "foo");
        assert_eq!(out("default", &[s("foo"), Value::Bool(false)]), "foo");
        assert_eq!(out("default", &[s("foo"), list(vec![])]), "foo");
        assert_eq!(out("default", &[s("foo"), map(&[])]), "foo");
        assert_eq!(out("default", &[s("foo"), f(1.5)]), "1.5");
        assert_eq!(out("default", &[s("foo")]), "foo");
        assert_eq!(
            ok("default", &[s("foo"), Value::Bool(true)]),
            Value::Bool(true)
        );
        assert_eq!(
            args_err("default", &[]),
            "wrong number of args for default: want at least 1 got 0"
        );
    }

    #[test]
    fn empty_coalesce_all_any() {
        assert_eq!(out("empty", &[s("")]), "true");
        assert_eq!(out("empty", &[list(vec![i(1)])]), "false");
        assert_eq!(out("coalesce", &[Value::Nil, s(""), i(0), s("x")]), "x");
        assert_eq!(ok("coalesce", &[Value::Nil, s("")]), Value::Nil);
        assert_eq!(out("all", &[i(1), s("a")]), "true");
        assert_eq!(out("all", &[i(1), s("")]), "false");
        assert_eq!(out("any", &[i(0), s("")]), "false");
        assert_eq!(out("any", &[]), "false");
        assert_eq!(out("all", &[]), "true");
    }

    #[test]
    fn ternary_wants_a_bool() {
        assert_eq!(
            out("ternary", &[s("yes"), s("no"), Value::Bool(true)]),
            "yes"
        );
        assert_eq!(
            out("ternary", &[s("yes"), s("no"), Value::Bool(false)]),
            "no"
        );
        assert_eq!(
            args_err("ternary", &[s("a"), s("b"), s("true")]),
            "wrong type for value; expected bool; got string"
        );
    }

    #[test]
    fn json_functions() {
        let value = map(&[("html", s("<b>")), ("n", f(2.0))]);
        assert_eq!(
            out("toJson", std::slice::from_ref(&value)),
            "{\"html\":\"\\u003cb\\u003e\",\"n\":2}"
        );
        assert_eq!(
            out("toRawJson", std::slice::from_ref(&value)),
            "{\"html\":\"<b>\",\"n\":2}"
        );
        assert_eq!(
            out("toPrettyJson", &[value]),
            "{\n  \"html\": \"\\u003cb\\u003e\",\n  \"n\": 2\n}"
        );
        assert_eq!(
            call_err("mustToJson", &[f(f64::NAN)]),
            "json: unsupported value: NaN"
        );
        assert_eq!(
            ok("fromJson", &[s("{\"a\":[1,true,null]}")]),
            map(&[("a", list(vec![f(1.0), Value::Bool(true), Value::Nil]))])
        );
        assert_eq!(ok("fromJson", &[s("{")]), Value::Nil);
        assert_eq!(
            call_err("mustFromJson", &[s("{\"a\":")]),
            "unexpected end of JSON input"
        );
    }
}
