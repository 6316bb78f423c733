//! Sprig's conversions: `strval` (`fmt.Sprintf("%v")` with Stringers), spf13/cast's `ToInt64`
//! and `ToFloat64`, sprig's `empty`, and Go's integer parsing and float truncation.

use gotemplate::Value;

/// Sprig's `strval`: strings and bytes as text, everything else as `%v` prints it.
pub(crate) fn strval(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// `cast.ToInt64` (and `cast.ToInt`, the same on 64-bit): 0 for whatever does not convert.
pub(crate) fn to_int64(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Float(f) => float_to_int(*f),
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_int(trim_zero_decimal(s), 0).unwrap_or(0),
        _ => 0,
    }
}

/// `cast.ToFloat64`: 0 for whatever does not convert.
pub(crate) fn to_float64(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `int64(f)` on amd64: the "integer indefinite" value for NaN and out-of-range floats.
pub(crate) fn float_to_int(f: f64) -> i64 {
    if f.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// cast drops a zero fraction ("12.00" → "12") before parsing an integer.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, b) in s.bytes().enumerate().rev() {
        match b {
            b'.' if found_zero => return &s[..i],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// `strconv.ParseInt(s, base, 64)`; base 0 reads Go's prefixes (`0x`, `0o`, `0b`, a leading `0`
/// for octal) and underscores between digits.
pub(crate) fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (negative, unsigned) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits, underscores) = if base == 0 {
        let lower = unsigned.to_ascii_lowercase();
        if lower.starts_with("0x") {
            (16, &unsigned[2..], true)
        } else if lower.starts_with("0o") {
            (8, &unsigned[2..], true)
        } else if lower.starts_with("0b") {
            (2, &unsigned[2..], true)
        } else if unsigned.len() > 1 && unsigned.starts_with('0') {
            (8, &unsigned[1..], true)
        } else {
            (10, unsigned, true)
        }
    } else {
        (base, unsigned, false)
    };
    let digits = if underscores && digits.contains('_') {
        if !underscores_ok(unsigned) {
            return None;
        }
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if negative {
        if magnitude > i64::MIN.unsigned_abs() {
            None
        } else {
            Some((magnitude as i64).wrapping_neg())
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's rule for `_` in a base-0 literal: only between digits, or right after a base prefix.
fn underscores_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let lower = s.to_ascii_lowercase();
    let has_prefix = lower.starts_with("0x") || lower.starts_with("0o") || lower.starts_with("0b");
    // '^' marks the start or a prefix, '0' a digit, '_' an underscore.
    let mut last = '^';
    let start = if has_prefix { 2 } else { 0 };
    if !(has_prefix || bytes.len() > 1 && bytes[0] == b'0') {
        return false;
    }
    for &b in &bytes[start..] {
        if b == b'_' {
            if last != '0' && last != '^' {
                return false;
            }
            last = '_';
        } else {
            last = '0';
        }
    }
    last != '_'
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms and Go's spellings of infinity and NaN.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let plain = s.strip_prefix(['+', '-']).unwrap_or(s).to_ascii_lowercase();
    let special = matches!(plain.as_str(), "inf" | "infinity" | "nan");
    let decimal = !plain.is_empty()
        && plain
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
    if special || decimal {
        s.parse().ok()
    } else {
        None
    }
}

/// `strconv.Atoi`: base 10; out-of-range values clamp (the error is dropped by sprig), syntax
/// errors give 0.
pub(crate) fn atoi(s: &str) -> i64 {
    if let Some(i) = parse_int(s, 10) {
        return i;
    }
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if s.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        }
    } else {
        0
    }
}

/// Sprig's `empty`: nil, false, 0, and empty strings, lists and maps; structs never are.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Object(_) => false,
    }
}

/// The elements of a Go slice for sprig's reflection-based list functions: lists, and byte
/// slices as their `uint8` elements. `None` for every other kind.
pub(crate) fn slice_items(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::List(items) => Some(items.to_vec()),
        Value::Bytes(bytes) => Some(bytes.iter().map(|b| Value::Int(i64::from(*b))).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_to_int64_follows_spf13_cast() {
        assert_eq!(to_int64(&Value::string("12")), 12);
        assert_eq!(to_int64(&Value::string("abc")), 0);
        assert_eq!(to_int64(&Value::string("12.00")), 12);
        assert_eq!(to_int64(&Value::string("12.5")), 0);
        assert_eq!(to_int64(&Value::string("0x1F")), 31);
        assert_eq!(to_int64(&Value::string("010")), 8);
        assert_eq!(to_int64(&Value::string("1_000")), 0);
        assert_eq!(to_int64(&Value::string("0x_1F")), 31);
        assert_eq!(to_int64(&Value::string("-7")), -7);
        assert_eq!(to_int64(&Value::Float(3.9)), 3);
        assert_eq!(to_int64(&Value::Float(-3.9)), -3);
        assert_eq!(to_int64(&Value::Nil), 0);
        assert_eq!(to_int64(&Value::Bool(true)), 1);
        assert_eq!(to_int64(&Value::Float(f64::NAN)), i64::MIN);
    }

    #[test]
    fn cast_to_float64_follows_spf13_cast() {
        assert_eq!(to_float64(&Value::string("1.5")), 1.5);
        assert_eq!(to_float64(&Value::string("1e3")), 1000.0);
        assert_eq!(to_float64(&Value::string("x1")), 0.0);
        assert_eq!(to_float64(&Value::Int(3)), 3.0);
        assert!(to_float64(&Value::string("-Inf")).is_infinite());
    }

    #[test]
    fn atoi_clamps_and_zeroes_like_go() {
        assert_eq!(atoi("42"), 42);
        assert_eq!(atoi("-42"), -42);
        assert_eq!(atoi("0x10"), 0);
        assert_eq!(atoi("4.2"), 0);
        assert_eq!(atoi("99999999999999999999"), i64::MAX);
    }

    #[test]
    fn strval_prints_as_go() {
        assert_eq!(strval(&Value::Float(1_000_000.0)), "1e+06");
        assert_eq!(strval(&Value::Nil), "<nil>");
        assert_eq!(strval(&Value::Bytes(b"hi".to_vec().into())), "hi");
        assert_eq!(
            strval(&Value::list(vec![Value::Int(1), Value::string("a")])),
            "[1 a]"
        );
    }
}
