//! Go's `fmt` for template values: `Sprint`, `Sprintln` and `Sprintf` with the verbs, flags,
//! widths and `%!verb(type=value)` complaints that charts meet.

use std::fmt::Write as _;

use crate::Value;

/// `fmt.Sprint`: a space between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && !matches!(arg, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        let _ = write!(out, "{arg}");
    }
    out
}

/// `fmt.Sprintln`: always spaces, and a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = args
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, flag)) = chars.peek() {
            match flag {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = number_or_star(&mut chars, args, &mut next_arg);
        if chars.peek().is_some_and(|&(_, c)| c == '.') {
            chars.next();
            spec.precision = Some(number_or_star(&mut chars, args, &mut next_arg).unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_arg += 1;
        let text = format_one(verb, &spec, arg);
        pad(
            &mut out,
            &text,
            &spec,
            matches!(arg, Value::Int(_) | Value::Float(_)) && verb != 'q',
        );
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| match a {
                Value::Nil => "<nil>".to_string(),
                other => format!("{}={other}", other.type_name()),
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn number_or_star(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    args: &[Value],
    next_arg: &mut usize,
) -> Option<usize> {
    if chars.peek().is_some_and(|&(_, c)| c == '*') {
        chars.next();
        let value = match args.get(*next_arg) {
            Some(Value::Int(i)) => usize::try_from(*i).ok(),
            _ => None,
        };
        *next_arg += 1;
        return value;
    }
    let mut number = None;
    while let Some(&(_, c)) = chars.peek() {
        let Some(digit) = c.to_digit(10) else { break };
        if number.unwrap_or(0) > 1_000_000 {
            // Go gives up on a number this long: the rest of the format is not read.
            chars.for_each(drop);
            return None;
        }
        number = Some(number.unwrap_or(0) * 10 + digit as usize);
        chars.next();
    }
    number
}

fn pad(out: &mut String, text: &str, spec: &Spec, numeric: bool) {
    let width = spec.width.unwrap_or(0);
    let len = text.chars().count();
    if len >= width {
        out.push_str(text);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        // Zeros go after the sign.
        let (sign, digits) = match text.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (Some(c), &text[1..]),
            _ => (None, text),
        };
        out.extend(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else if spec.zero {
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(text);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(text);
    }
}

/// `%!verb(type=value)`: what Go prints for a verb that does not fit the operand.
fn bad_verb(verb: char, arg: &Value) -> String {
    match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        other => format!("%!{verb}({}={other})", other.type_name()),
    }
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    match (verb, arg) {
        ('T', _) => arg.type_name(),
        ('v', Value::Float(f)) => float_g(*f, spec.precision, spec),
        ('v', Value::Int(i)) => signed(i.to_string(), *i >= 0, spec),
        ('v', Value::String(s)) if spec.sharp => quote(s),
        ('v', other) => other.to_string(),
        ('s', Value::String(s)) => truncate(s, spec.precision),
        ('s', Value::Bytes(b)) => truncate(&String::from_utf8_lossy(b), spec.precision),
        ('s' | 'q' | 'x' | 'X' | 'd', Value::List(items)) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| format_one(verb, spec, item))
                .collect();
            format!("[{}]", parts.join(" "))
        }
        ('s', Value::Map(_) | Value::Object(_)) => arg.to_string(),
        ('q', Value::String(s)) => quote(s),
        ('q', Value::Int(i)) => char::from_u32(u32::try_from(*i).unwrap_or(0xFFFD))
            .map_or_else(|| "'\u{FFFD}'".into(), |c| format!("{c:?}")),
        ('d', Value::Int(i)) => signed(i.to_string(), *i >= 0, spec),
        ('b', Value::Int(i)) => signed(format!("{:b}", i.unsigned_abs()), *i >= 0, spec),
        ('o', Value::Int(i)) => signed(format!("{:o}", i.unsigned_abs()), *i >= 0, spec),
        ('O', Value::Int(i)) => signed(format!("0o{:o}", i.unsigned_abs()), *i >= 0, spec),
        ('x', Value::Int(i)) => signed(format!("{:x}", i.unsigned_abs()), *i >= 0, spec),
        ('X', Value::Int(i)) => signed(format!("{:X}", i.unsigned_abs()), *i >= 0, spec),
        ('c', Value::Int(i)) => char::from_u32(u32::try_from(*i).unwrap_or(0xFFFD))
            .unwrap_or('\u{FFFD}')
            .to_string(),
        ('U', Value::Int(i)) => format!("U+{:04X}", i),
        ('x', Value::String(s)) => hex(s.as_bytes(), false),
        ('X', Value::String(s)) => hex(s.as_bytes(), true),
        ('x', Value::Bytes(b)) => hex(b, false),
        ('X', Value::Bytes(b)) => hex(b, true),
        ('t', Value::Bool(b)) => b.to_string(),
        ('f' | 'F', Value::Float(f)) => signed(
            format!("{:.*}", spec.precision.unwrap_or(6), f.abs()),
            *f >= 0.0,
            spec,
        ),
        ('e' | 'E', Value::Float(f)) => {
            let text = exponent(f.abs(), spec.precision.unwrap_or(6));
            let text = if verb == 'E' {
                text.to_uppercase()
            } else {
                text
            };
            signed(text, *f >= 0.0, spec)
        }
        ('g' | 'G', Value::Float(f)) => {
            let text = float_g(*f, spec.precision, spec);
            if verb == 'G' {
                text.to_uppercase()
            } else {
                text
            }
        }
        _ => bad_verb(verb, arg),
    }
}

fn signed(digits: String, non_negative: bool, spec: &Spec) -> String {
    if !non_negative {
        format!("-{digits}")
    } else if spec.plus {
        format!("+{digits}")
    } else if spec.space {
        format!(" {digits}")
    } else {
        digits
    }
}

fn truncate(s: &str, precision: Option<usize>) -> String {
    match precision {
        Some(n) => s.chars().take(n).collect(),
        None => s.to_string(),
    }
}

fn hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

/// `%e` with `precision` digits after the point and Go's two-digit exponent.
fn exponent(f: f64, precision: usize) -> String {
    let text = format!("{f:.precision$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// `%g`/`%v` of a float: shortest form without a precision, else `precision` significant
/// digits, switching to exponent form as Go's `strconv` does.
fn float_g(f: f64, precision: Option<usize>, spec: &Spec) -> String {
    let Some(precision) = precision else {
        let text = crate::format_float(f.abs());
        return signed(text, f >= 0.0 || f.is_nan(), spec);
    };
    let precision = precision.max(1);
    let sci = format!("{:.*e}", precision - 1, f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let text = if exp < -4 || exp >= precision as i32 {
        let mantissa = trim_zeros(mantissa);
        format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, f.abs())).to_string()
    };
    signed(text, f >= 0.0, spec)
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `strconv.Quote`: Go's escapes, printable runes kept.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c == '\u{a0}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
