//! Type reflection and conversions: `typeOf` (`%T`), `kindOf` (`reflect.Kind`), `deepEqual`,
//! and cast's `int`, `int64`, `float64`, plus `atoi` and `toDecimal`.

use gotemplate::{Funcs, Value};

use crate::args::{Arity::*, register as add, string, text};
use crate::conv::{atoi, parse_int, to_float64, to_int64};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "typeOf", Exact(1), |a| Ok(text(a[0].type_name())));
    add(funcs, "typeIs", Exact(2), |a| {
        Ok(Value::Bool(string(&a[0])? == a[1].type_name()))
    });
    add(funcs, "typeIsLike", Exact(2), |a| {
        let (target, actual) = (string(&a[0])?, a[1].type_name());
        Ok(Value::Bool(
            target == actual || format!("*{target}") == actual,
        ))
    });
    add(funcs, "kindOf", Exact(1), |a| Ok(text(a[0].kind())));
    add(funcs, "kindIs", Exact(2), |a| {
        Ok(Value::Bool(string(&a[0])? == a[1].kind()))
    });
    add(funcs, "deepEqual", Exact(2), |a| {
        Ok(Value::Bool(a[0] == a[1]))
    });
    add(funcs, "int", Exact(1), |a| Ok(Value::Int(to_int64(&a[0]))));
    add(funcs, "int64", Exact(1), |a| {
        Ok(Value::Int(to_int64(&a[0])))
    });
    add(funcs, "float64", Exact(1), |a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    add(funcs, "atoi", Exact(1), |a| {
        Ok(Value::Int(atoi(string(&a[0])?)))
    });
    // The value's `%v` text read as octal (a Unix mode such as "0755"); 0 when it is not.
    add(funcs, "toDecimal", Exact(1), |a| {
        Ok(Value::Int(parse_int(&a[0].to_string(), 8).unwrap_or(0)))
    });
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use gotemplate::Value;

    #[test]
    fn reflection() {
        assert_eq!(out("typeOf", &[f(1.0)]), "float64");
        assert_eq!(out("typeOf", &[list(vec![])]), "[]interface {}");
        assert_eq!(out("typeOf", &[Value::Nil]), "<nil>");
        assert_eq!(out("typeIs", &[s("string"), s("x")]), "true");
        assert_eq!(out("typeIsLike", &[s("string"), s("x")]), "true");
        assert_eq!(out("typeIs", &[s("int"), f(1.0)]), "false");
        assert_eq!(out("kindOf", &[map(&[])]), "map");
        assert_eq!(out("kindOf", &[Value::Nil]), "invalid");
        assert_eq!(out("kindIs", &[s("slice"), list(vec![])]), "true");
        assert_eq!(
            out("deepEqual", &[list(vec![i(1)]), list(vec![i(1)])]),
            "true"
        );
        assert_eq!(out("deepEqual", &[i(1), f(1.0)]), "false");
    }

    #[test]
    fn conversions() {
        assert_eq!(ok("int", &[s("12")]), i(12));
        assert_eq!(ok("int", &[s("abc")]), i(0));
        assert_eq!(ok("int", &[f(3.9)]), i(3));
        assert_eq!(ok("int", &[Value::Nil]), i(0));
        assert_eq!(ok("int64", &[s("0x10")]), i(16));
        assert_eq!(ok("float64", &[s("1.5")]), f(1.5));
        assert_eq!(ok("float64", &[i(2)]), f(2.0));
        assert_eq!(ok("atoi", &[s("42")]), i(42));
        assert_eq!(ok("atoi", &[s("4x")]), i(0));
        assert_eq!(
            args_err("atoi", &[f(4.0)]),
            "wrong type for value; expected string; got float64"
        );
        assert_eq!(ok("toDecimal", &[s("0777")]), i(511));
        assert_eq!(ok("toDecimal", &[f(755.0)]), i(493));
        assert_eq!(ok("toDecimal", &[s("9")]), i(0));
    }
}
