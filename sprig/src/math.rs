//! Arithmetic as sprig does it: the integer functions convert every operand with
//! `cast.ToInt64` and return int64; the `f` ones work in float64 (through decimals for the
//! four operations); `floor`, `ceil` and `round` return float64.

use gotemplate::{FuncResult, Funcs, Value};
use rand::Rng as _;

use crate::args::{Arity::*, call_error, float, int, register as add, text};
use crate::conv::{to_float64, to_int64};
use crate::decimal::{self, Op};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "add1", Exact(1), |a| {
        Ok(Value::Int(to_int64(&a[0]).wrapping_add(1)))
    });
    add(funcs, "add", AtLeast(0), |a| {
        Ok(Value::Int(
            a.iter().map(to_int64).fold(0, i64::wrapping_add),
        ))
    });
    add(funcs, "sub", Exact(2), |a| {
        Ok(Value::Int(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    add(funcs, "mul", AtLeast(1), |a| {
        Ok(Value::Int(
            a.iter().map(to_int64).fold(1, i64::wrapping_mul),
        ))
    });
    add(funcs, "div", Exact(2), |a| {
        integer_division(a, i64::wrapping_div)
    });
    add(funcs, "mod", Exact(2), |a| {
        integer_division(a, i64::wrapping_rem)
    });
    add(funcs, "randInt", Exact(2), rand_int);
    add(funcs, "add1f", Exact(1), |a| {
        decimal_fold(&a[0], &[Value::Int(1)], Op::Add)
    });
    add(funcs, "addf", AtLeast(0), |a| {
        decimal_fold(&Value::Float(0.0), a, Op::Add)
    });
    add(funcs, "subf", AtLeast(1), |a| {
        decimal_fold(&a[0], &a[1..], Op::Sub)
    });
    add(funcs, "mulf", AtLeast(1), |a| {
        decimal_fold(&a[0], &a[1..], Op::Mul)
    });
    add(funcs, "divf", AtLeast(1), |a| {
        decimal_fold(&a[0], &a[1..], Op::Div)
    });
    for name in ["max", "biggest"] {
        add(funcs, name, AtLeast(1), |a| {
            Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0)))
        });
    }
    add(funcs, "min", AtLeast(1), |a| {
        Ok(Value::Int(a.iter().map(to_int64).min().unwrap_or(0)))
    });
    add(funcs, "maxf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).reduce(go_max).unwrap_or(0.0),
        ))
    });
    add(funcs, "minf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).reduce(go_min).unwrap_or(0.0),
        ))
    });
    add(funcs, "floor", Exact(1), |a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    add(funcs, "ceil", Exact(1), |a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    add(funcs, "round", AtLeast(2), round);
    add(funcs, "until", Exact(1), |a| {
        let count = int(&a[0])?;
        Ok(ints(until_step(0, count, if count < 0 { -1 } else { 1 })))
    });
    add(funcs, "untilStep", Exact(3), |a| {
        Ok(ints(until_step(int(&a[0])?, int(&a[1])?, int(&a[2])?)))
    });
    add(funcs, "seq", AtLeast(0), seq);
}

fn integer_division(a: &[Value], op: fn(i64, i64) -> i64) -> FuncResult {
    let divisor = to_int64(&a[1]);
    if divisor == 0 {
        return Err(call_error("runtime error: integer divide by zero"));
    }
    Ok(Value::Int(op(to_int64(&a[0]), divisor)))
}

fn rand_int(a: &[Value]) -> FuncResult {
    let (min, max) = (int(&a[0])?, int(&a[1])?);
    if max <= min {
        return Err(call_error("invalid argument to Intn"));
    }
    Ok(Value::Int(rand::thread_rng().gen_range(min..max)))
}

fn decimal_fold(first: &Value, rest: &[Value], op: Op) -> FuncResult {
    let mut acc = to_float64(first);
    for operand in rest {
        acc = decimal::apply(acc, to_float64(operand), op).map_err(call_error)?;
    }
    Ok(Value::Float(acc))
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// `round value places [roundOn]`: up when the fraction at `places` reaches `roundOn` (.5).
fn round(a: &[Value]) -> FuncResult {
    if a.len() > 3 {
        // Only the first of the variadic round-on values counts, but each must be a float64.
        for extra in &a[3..] {
            float(extra)?;
        }
    }
    let value = to_float64(&a[0]);
    let places = int(&a[1])?;
    let round_on = a.get(2).map(float).transpose()?.unwrap_or(0.5);
    let pow = 10f64.powf(places as f64);
    let digit = pow * value;
    let fraction = digit - digit.trunc();
    let rounded = if fraction >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(rounded / pow))
}

fn ints(values: Vec<i64>) -> Value {
    Value::list(values.into_iter().map(Value::Int).collect())
}

/// From `start` towards `stop` (exclusive) by `step`; empty when the step leads away.
fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut values = Vec::new();
    let mut i = start;
    if stop < start {
        if step >= 0 {
            return values;
        }
        while i > stop {
            values.push(i);
            i += step;
        }
    } else {
        if step <= 0 {
            return values;
        }
        while i < stop {
            values.push(i);
            i += step;
        }
    }
    values
}

/// Like the Unix `seq`: `seq end`, `seq start end`, `seq start step end`, space separated.
fn seq(a: &[Value]) -> FuncResult {
    let params = a.iter().map(int).collect::<Result<Vec<_>, _>>()?;
    let direction = |start: i64, end: i64| if end < start { -1 } else { 1 };
    let values = match params[..] {
        [end] => {
            let step = direction(1, end);
            until_step(1, end + step, step)
        }
        [start, end] => {
            let step = direction(start, end);
            until_step(start, end + step, step)
        }
        [start, step, end] => {
            let increment = direction(start, end);
            if increment < 0 && step > 0 {
                Vec::new()
            } else {
                until_step(start, end + increment, step)
            }
        }
        _ => Vec::new(),
    };
    let joined: Vec<String> = values.iter().map(i64::to_string).collect();
    Ok(text(joined.join(" ")))
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use gotemplate::Value;

    #[test]
    fn integer_arithmetic_casts_to_int64() {
        assert_eq!(ok("add", &[i(1), f(2.9), s("3")]), i(6));
        assert_eq!(ok("add", &[]), i(0));
        assert_eq!(ok("add1", &[f(1.5)]), i(2));
        assert_eq!(ok("sub", &[i(1), i(3)]), i(-2));
        assert_eq!(ok("mul", &[i(2), s("3"), f(4.0)]), i(24));
        assert_eq!(ok("div", &[i(7), i(2)]), i(3));
        assert_eq!(ok("div", &[i(-7), i(2)]), i(-3));
        assert_eq!(ok("mod", &[i(-7), i(2)]), i(-1));
        assert_eq!(
            call_err("div", &[i(1), i(0)]),
            "runtime error: integer divide by zero"
        );
        assert_eq!(ok("max", &[i(1), f(5.5), s("3")]), i(5));
        assert_eq!(ok("biggest", &[i(1), i(7)]), i(7));
        assert_eq!(ok("min", &[i(1), i(-5), s("x")]), i(-5));
    }

    #[test]
    fn float_arithmetic() {
        assert_eq!(ok("addf", &[f(1.1), f(2.2)]), f(3.3));
        assert_eq!(ok("addf", &[i(1), s("2.5")]), f(3.5));
        assert_eq!(ok("add1f", &[f(1.5)]), f(2.5));
        assert_eq!(ok("subf", &[f(1.5), i(1), f(0.25)]), f(0.25));
        assert_eq!(ok("mulf", &[f(1.5), i(2)]), f(3.0));
        assert_eq!(ok("divf", &[i(10), i(4)]), f(2.5));
        assert_eq!(call_err("divf", &[i(10), i(0)]), "decimal division by 0");
        assert_eq!(ok("maxf", &[f(1.5), i(2), s("0.5")]), f(2.0));
        assert_eq!(ok("minf", &[f(1.5), i(2), s("0.5")]), f(0.5));
        assert_eq!(out("mulf", &[f(1e6), i(1)]), "1e+06");
    }

    #[test]
    fn rounding_returns_float64() {
        assert_eq!(ok("floor", &[f(1.9)]), f(1.0));
        assert_eq!(ok("ceil", &[s("1.1")]), f(2.0));
        assert_eq!(ok("round", &[f(123.555555), i(3)]), f(123.556));
        assert_eq!(ok("round", &[f(123.55), i(1), f(0.6)]), f(123.5));
        assert_eq!(ok("round", &[i(3), i(0)]), f(3.0));
        assert_eq!(out("floor", &[i(3)]), "3");
    }

    #[test]
    fn sequences() {
        assert_eq!(out("until", &[i(3)]), "[0 1 2]");
        assert_eq!(out("until", &[i(-3)]), "[0 -1 -2]");
        assert_eq!(out("untilStep", &[i(3), i(6), i(2)]), "[3 5]");
        assert_eq!(out("untilStep", &[i(6), i(3), i(1)]), "[]");
        assert_eq!(out("seq", &[i(5)]), "1 2 3 4 5");
        assert_eq!(out("seq", &[i(-3)]), "1 0 -1 -2 -3");
        assert_eq!(out("seq", &[i(0), i(2)]), "0 1 2");
        assert_eq!(out("seq", &[i(2), i(-2)]), "2 1 0 -1 -2");
        assert_eq!(out("seq", &[i(0), i(2), i(10)]), "0 2 4 6 8 10");
        assert_eq!(out("seq", &[i(0), i(3), i(10)]), "0 3 6 9");
        assert_eq!(out("seq", &[i(10), i(-2), i(2)]), "10 8 6 4 2");
        assert_eq!(out("seq", &[i(10), i(2), i(2)]), "");
        assert_eq!(out("seq", &[]), "");
        assert_eq!(
            args_err("until", &[f(3.0)]),
            "wrong type for value; expected int; got float64"
        );
    }

    #[test]
    fn rand_int_stays_in_range() {
        for _ in 0..50 {
            let Value::Int(n) = ok("randInt", &[i(3), i(6)]) else {
                panic!("not an int")
            };
            assert!((3..6).contains(&n));
        }
        assert_eq!(
            call_err("randInt", &[i(3), i(3)]),
            "invalid argument to Intn"
        );
    }
}
