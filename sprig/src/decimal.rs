//! The shopspring/decimal arithmetic behind sprig's `addf`, `subf`, `mulf` and `divf`: each
//! float is taken at its shortest decimal spelling and the operation is exact, so
//! `addf 1.1 2.2` is 3.3, not 3.3000000000000003. Division keeps 16 decimal places, rounding
//! half away from zero. Operands too far apart for 128-bit arithmetic fall back to floats.

/// `mantissa × 10^exponent`.
#[derive(Clone, Copy)]
struct Decimal {
    mantissa: i128,
    exponent: i32,
}

#[derive(Clone, Copy)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Digits kept after the point by shopspring's `Div`.
const DIVISION_PRECISION: i32 = 16;

/// `decimal.NewFromFloat(a) <op> decimal.NewFromFloat(b)`, back to float64. Errors carry
/// shopspring's panic text.
pub(crate) fn apply(a: f64, b: f64, op: Op) -> Result<f64, String> {
    let (x, y) = (from_float(a)?, from_float(b)?);
    let exact = match op {
        Op::Add => add(x, y),
        Op::Sub => add(
            x,
            Decimal {
                mantissa: -y.mantissa,
                ..y
            },
        ),
        Op::Mul => x.mantissa.checked_mul(y.mantissa).map(|m| Decimal {
            mantissa: m,
            exponent: x.exponent + y.exponent,
        }),
        Op::Div => {
            if y.mantissa == 0 {
                return Err("decimal division by 0".into());
            }
            divide(x, y)
        }
    };
    Ok(match exact {
        Some(d) => to_float(d),
        None => match op {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::Mul => a * b,
            Op::Div => a / b,
        },
    })
}

fn from_float(f: f64) -> Result<Decimal, String> {
    if !f.is_finite() {
        return Err(format!(
            "Cannot create a Decimal from {}",
            gotemplate::format_float(f)
        ));
    }
    // `{:e}` is the shortest round-trip spelling: "-1.2345e-5".
    let spelled = format!("{f:e}");
    let (digits, exponent) = spelled.split_once('e').unwrap_or((&spelled, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let fraction_len = digits.split_once('.').map_or(0, |(_, frac)| frac.len()) as i32;
    let mantissa: i128 = digits.replace('.', "").parse().unwrap_or(0);
    Ok(Decimal {
        mantissa,
        exponent: exponent - fraction_len,
    })
}

fn to_float(d: Decimal) -> f64 {
    format!("{}e{}", d.mantissa, d.exponent)
        .parse()
        .unwrap_or(f64::NAN)
}

fn pow10(n: i32) -> Option<i128> {
    10i128.checked_pow(u32::try_from(n).ok()?)
}

fn add(x: Decimal, y: Decimal) -> Option<Decimal> {
    let exponent = x.exponent.min(y.exponent);
    let scale = |d: Decimal| d.mantissa.checked_mul(pow10(d.exponent - exponent)?);
    Some(Decimal {
        mantissa: scale(x)?.checked_add(scale(y)?)?,
        exponent,
    })
}

fn divide(x: Decimal, y: Decimal) -> Option<Decimal> {
    let shift = x.exponent - y.exponent + DIVISION_PRECISION;
    let (numerator, denominator) = if shift >= 0 {
        (x.mantissa.checked_mul(pow10(shift)?)?, y.mantissa)
    } else {
        (x.mantissa, y.mantissa.checked_mul(pow10(-shift)?)?)
    };
    let mut quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.unsigned_abs().checked_mul(2)? >= denominator.unsigned_abs() {
        quotient += if (numerator < 0) == (denominator < 0) {
            1
        } else {
            -1
        };
    }
    Some(Decimal {
        mantissa: quotient,
        exponent: -DIVISION_PRECISION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimal_arithmetic() {
        assert_eq!(apply(1.1, 2.2, Op::Add), Ok(3.3));
        assert_eq!(apply(0.3, 0.1, Op::Sub), Ok(0.2));
        assert_eq!(apply(1.1, 3.0, Op::Mul), Ok(3.3));
        assert_eq!(apply(1.0, 3.0, Op::Div), Ok(0.3333333333333333));
        assert_eq!(apply(2.0, 3.0, Op::Div), Ok(0.6666666666666667));
        assert_eq!(apply(-2.0, 3.0, Op::Div), Ok(-0.6666666666666667));
        assert_eq!(
            apply(1.0, 0.0, Op::Div),
            Err("decimal division by 0".into())
        );
        assert_eq!(apply(1e300, 1e-300, Op::Add), Ok(1e300));
    }
}
