//! Dates: `now` and the functions over Go's `time.Time` and `time.Duration`, with Go's
//! layouts (`2006-01-02`) and Go's printing of times (`2009-11-10 23:00:00 +0000 UTC`) and
//! durations (`1h2m3.5s`).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use gotemplate::{FuncError, Funcs, Object, Value};
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

use crate::args::{Arity::*, call_error, register as add, string, text, wrong_type};
use crate::golayout::{self, GoTime};

pub(crate) fn register(funcs: &mut Funcs) {
    add(funcs, "now", Exact(0), |_| Ok(now().value()));
    add(funcs, "date", Exact(2), |a| {
        Ok(text(date_in_zone(string(&a[0])?, &a[1], "Local")))
    });
    add(funcs, "htmlDate", Exact(1), |a| {
        Ok(text(date_in_zone("2006-01-02", &a[0], "Local")))
    });
    add(funcs, "htmlDateInZone", Exact(2), |a| {
        Ok(text(date_in_zone("2006-01-02", &a[0], string(&a[1])?)))
    });
    for name in ["dateInZone", "date_in_zone"] {
        add(funcs, name, Exact(3), |a| {
            Ok(text(date_in_zone(string(&a[0])?, &a[1], string(&a[2])?)))
        });
    }
    for name in ["dateModify", "date_modify"] {
        add(funcs, name, Exact(2), |a| {
            let time = time_param(&a[1])?;
            Ok(match parse_duration(string(&a[0])?) {
                Ok(nanos) => time.add(nanos).value(),
                Err(_) => time.value(),
            })
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        add(funcs, name, Exact(2), |a| {
            let time = time_param(&a[1])?;
            let nanos = parse_duration(string(&a[0])?).map_err(call_error)?;
            Ok(time.add(nanos).value())
        });
    }
    add(funcs, "toDate", Exact(2), |a| {
        let parsed = golayout::parse(string(&a[0])?, string(&a[1])?, &TimeZone::system());
        Ok(parsed.map_or_else(|_| zero_time(), TimeValue::from).value())
    });
    add(funcs, "mustToDate", Exact(2), |a| {
        let parsed = golayout::parse(string(&a[0])?, string(&a[1])?, &TimeZone::system());
        Ok(TimeValue::from(parsed.map_err(call_error)?).value())
    });
    add(funcs, "unixEpoch", Exact(1), |a| {
        Ok(text(
            time_param(&a[0])?
                .time
                .zoned
                .timestamp()
                .as_second()
                .to_string(),
        ))
    });
    add(funcs, "ago", Exact(1), |a| {
        let since = now_nanos()
            - given_time(&a[0]).map_or(now_nanos(), |t| t.time.zoned.timestamp().as_nanosecond());
        Ok(text(format_duration(round_to_second(saturate(since)))))
    });
    add(funcs, "duration", Exact(1), |a| {
        let seconds = match &a[0] {
            Value::String(s) => crate::conv::parse_int(s, 10).unwrap_or(0),
            // Sprig only takes int64 here; template integers stand for both int and int64.
            Value::Int(i) => *i,
            _ => 0,
        };
        Ok(text(format_duration(seconds.wrapping_mul(1_000_000_000))))
    });
    add(funcs, "durationRound", Exact(1), |a| {
        Ok(text(duration_round(&a[0])))
    });
}

/// A `time.Time` value: the time, and for `now` Go's monotonic clock reading.
#[derive(Clone)]
struct TimeValue {
    time: GoTime,
    /// Nanoseconds since the process started, which Go prints as ` m=+0.001`.
    monotonic: Option<i128>,
}

impl From<GoTime> for TimeValue {
    fn from(time: GoTime) -> TimeValue {
        TimeValue {
            time,
            monotonic: None,
        }
    }
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn now() -> TimeValue {
    let monotonic = process_start().elapsed().as_nanos() as i128;
    TimeValue {
        time: GoTime::new(Zoned::now()),
        monotonic: Some(monotonic),
    }
}

fn now_nanos() -> i128 {
    Timestamp::now().as_nanosecond()
}

/// Go's zero time, `0001-01-01 00:00:00 +0000 UTC`, which `toDate` gives on bad input.
fn zero_time() -> TimeValue {
    let zero = jiff::civil::date(1, 1, 1)
        .at(0, 0, 0, 0)
        .to_zoned(TimeZone::UTC);
    TimeValue::from(GoTime::new(
        zero.unwrap_or_else(|_| Zoned::now().with_time_zone(TimeZone::UTC)),
    ))
}

fn saturate(nanos: i128) -> i64 {
    nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl TimeValue {
    fn value(self) -> Value {
        Value::Object(Arc::new(self))
    }

    /// `t.Add(d)`, which keeps the monotonic reading.
    fn add(&self, nanos: i64) -> TimeValue {
        let instant = self.time.zoned.timestamp().as_nanosecond() + i128::from(nanos);
        let zoned = Timestamp::from_nanosecond(instant).map_or_else(
            |_| self.time.zoned.clone(),
            |ts| ts.to_zoned(self.time.zoned.time_zone().clone()),
        );
        TimeValue {
            time: GoTime {
                zoned,
                zone_name: self.time.zone_name.clone(),
            },
            monotonic: self.monotonic.map(|m| m + i128::from(nanos)),
        }
    }

    /// `t.In(zone)`, which drops the monotonic reading.
    fn in_zone(&self, tz: TimeZone) -> TimeValue {
        TimeValue::from(GoTime::new(self.time.zoned.with_time_zone(tz)))
    }

    /// `time.Time.String()`.
    fn go_string(&self) -> String {
        let mut text = golayout::format(&self.time, "2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.monotonic {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            text.push_str(&format!(
                " m={sign}{}.{:09}",
                m / 1_000_000_000,
                m % 1_000_000_000
            ));
        }
        text
    }

    /// The state a time object carries, so that sprig can take its own times back.
    fn encode(&self) -> String {
        let tz = self.time.zoned.time_zone();
        let zone = match tz.iana_name() {
            Some(name) => format!("iana:{name}"),
            None if *tz == TimeZone::system() => "system".to_string(),
            None => format!("fixed:{}", self.time.zoned.offset().seconds()),
        };
        let monotonic = self.monotonic.map_or("-".to_string(), |m| m.to_string());
        let name = self.time.zone_name.clone().unwrap_or_default();
        format!(
            "{} {zone} {monotonic} {name}",
            self.time.zoned.timestamp().as_nanosecond()
        )
    }

    fn decode(state: &str) -> Option<TimeValue> {
        let mut parts = state.splitn(4, ' ');
        let nanos: i128 = parts.next()?.parse().ok()?;
        let tz = match parts.next()? {
            "system" => TimeZone::system(),
            zone if zone.starts_with("iana:") => TimeZone::get(&zone[5..]).ok()?,
            zone => TimeZone::fixed(
                Offset::from_seconds(zone.strip_prefix("fixed:")?.parse().ok()?).ok()?,
            ),
        };
        let monotonic = parts.next()?.parse().ok();
        let name = parts.next().filter(|n| !n.is_empty()).map(str::to_string);
        let zoned = Timestamp::from_nanosecond(nanos).ok()?.to_zoned(tz);
        Some(TimeValue {
            time: GoTime {
                zoned,
                zone_name: name,
            },
            monotonic,
        })
    }
}

/// The hidden method through which a time object hands its state back (no template can
/// name it: it starts with a NUL).
const STATE_METHOD: &str = "\u{0}sprig-time-state";
const TIME_TYPE: &str = "time.Time";

impl Object for TimeValue {
    fn type_name(&self) -> &str {
        TIME_TYPE
    }

    fn field(&self, name: &str) -> Option<Value> {
        let z = &self.time.zoned;
        let ts = z.timestamp();
        Some(match name {
            "Unix" => Value::Int(ts.as_second()),
            "UnixMilli" => Value::Int(ts.as_millisecond()),
            "UnixNano" => Value::Int(saturate(ts.as_nanosecond())),
            "Year" => Value::Int(i64::from(z.year())),
            "Month" => Value::string(golayout::format(&self.time, "January")),
            "Day" => Value::Int(i64::from(z.day())),
            "Hour" => Value::Int(i64::from(z.hour())),
            "Minute" => Value::Int(i64::from(z.minute())),
            "Second" => Value::Int(i64::from(z.second())),
            "Nanosecond" => Value::Int(i64::from(z.subsec_nanosecond())),
            "YearDay" => Value::Int(i64::from(z.day_of_year())),
            "Weekday" => Value::string(golayout::format(&self.time, "Monday")),
            "UTC" => self.in_zone(TimeZone::UTC).value(),
            "Local" => self.in_zone(TimeZone::system()).value(),
            "String" => Value::string(self.go_string()),
            _ => return None,
        })
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        Some(match (name, args) {
            (STATE_METHOD, []) => Ok(Value::string(self.encode())),
            ("Format", [Value::String(layout)]) => {
                Ok(Value::string(golayout::format(&self.time, layout)))
            }
            ("Add", [Value::Int(nanos)]) => Ok(self.add(*nanos).value()),
            ("Format" | "Add", _) => Err(format!("wrong arguments for {name}")),
            _ => return None,
        })
    }

    fn display(&self) -> String {
        self.go_string()
    }

    /// Go marshals times as RFC 3339 with nanoseconds.
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(golayout::format(
            &self.time,
            "2006-01-02T15:04:05.999999999Z07:00",
        ))
    }
}

/// A time that sprig made, taken back from its value.
fn given_time(value: &Value) -> Option<TimeValue> {
    match value {
        Value::Object(o) if o.type_name() == TIME_TYPE => match o.call(STATE_METHOD, &[]) {
            Some(Ok(Value::String(state))) => TimeValue::decode(&state),
            _ => None,
        },
        _ => None,
    }
}

/// A `time.Time` parameter.
fn time_param(value: &Value) -> Result<TimeValue, FuncError> {
    given_time(value).ok_or_else(|| wrong_type(TIME_TYPE, value))
}

/// `time.LoadLocation`, falling back to UTC as sprig does.
fn location(zone: &str) -> TimeZone {
    match zone {
        "" | "UTC" => TimeZone::UTC,
        "Local" => TimeZone::system(),
        name => TimeZone::get(name).unwrap_or(TimeZone::UTC),
    }
}

/// Sprig's `dateInZone`: a time, or Unix seconds, or else now, formatted in `zone`.
fn date_in_zone(layout: &str, date: &Value, zone: &str) -> String {
    let time = match date {
        Value::Int(seconds) => Timestamp::from_second(*seconds).map_or_else(
            |_| now(),
            |ts| TimeValue::from(GoTime::new(ts.to_zoned(TimeZone::UTC))),
        ),
        other => given_time(other).unwrap_or_else(now),
    };
    let shown = time.in_zone(location(zone));
    golayout::format(&shown.time, layout)
}

/// Sprig's `durationRound`: the largest whole unit (y, mo, d, h, m, s) in a duration given as
/// text, nanoseconds, or the time since a date.
fn duration_round(value: &Value) -> String {
    let nanos: i128 = match value {
        Value::String(s) => i128::from(parse_duration(s).unwrap_or(0)),
        Value::Int(n) => i128::from(*n),
        other => given_time(other).map_or(0, |t| {
            now_nanos() - t.time.zoned.timestamp().as_nanosecond()
        }),
    };
    let u = nanos.unsigned_abs();
    const SECOND: u128 = 1_000_000_000;
    const UNITS: [(u128, &str); 6] = [
        (SECOND * 3600 * 24 * 365, "y"),
        (SECOND * 3600 * 24 * 30, "mo"),
        (SECOND * 3600 * 24, "d"),
        (SECOND * 3600, "h"),
        (SECOND * 60, "m"),
        (SECOND, "s"),
    ];
    UNITS.iter().find(|(unit, _)| u > *unit).map_or_else(
        || "0s".to_string(),
        |(unit, suffix)| format!("{}{suffix}", u / unit),
    )
}

/// `d.Round(time.Second)`: halves away from zero.
fn round_to_second(nanos: i64) -> i64 {
    const SECOND: i64 = 1_000_000_000;
    let remainder = nanos % SECOND;
    let truncated = nanos - remainder;
    if remainder.abs() * 2 >= SECOND {
        truncated.saturating_add(SECOND * nanos.signum())
    } else {
        truncated
    }
}

/// Go's `time.ParseDuration`: signed decimal numbers with units (`1h30m`, `-1.5s`, `300ms`).
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    let quote = gotemplate::quote;
    let invalid = || format!("time: invalid duration {}", quote(text));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if whole_len == 0 && !rest.starts_with('.') {
            return Err(invalid());
        }
        let whole: u64 = if whole_len == 0 {
            0
        } else {
            rest[..whole_len].parse().map_err(|_| invalid())?
        };
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after_point) = rest.strip_prefix('.') {
            let len = after_point.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after_point[..len];
            rest = &after_point[len..];
            if whole_len == 0 && len == 0 {
                return Err(invalid());
            }
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let unit_name = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit: u64 = match unit_name {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit_name),
                    quote(text)
                ));
            }
        };
        let mut value = whole.checked_mul(unit).ok_or_else(invalid)?;
        if !fraction.is_empty() {
            let scale = 10f64.powi(fraction.len() as i32);
            let digits: f64 = fraction.parse().unwrap_or(0.0);
            value = value
                .checked_add((digits * (unit as f64 / scale)) as u64)
                .ok_or_else(invalid)?;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
    }
    if negative {
        if total > i64::MIN.unsigned_abs() {
            return Err(invalid());
        }
        Ok((total as i64).wrapping_neg())
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

/// Go's `time.Duration.String()`.
pub(crate) fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let with_fraction = |whole: u64, fraction: u64, width: usize| {
        let fraction = format!("{fraction:0width$}");
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{fraction}")
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}\u{b5}s", with_fraction(u / 1_000, u % 1_000, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", with_fraction(u / 1_000_000, u % 1_000_000, 6));
    }
    let seconds = u / 1_000_000_000;
    let second_text = with_fraction(seconds % 60, u % 1_000_000_000, 9);
    let (hours, minutes) = (seconds / 3600, seconds / 60 % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{second_text}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{second_text}s")
    } else {
        format!("{sign}{second_text}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    /// 2019-06-13 20:39:39 UTC.
    const EPOCH: i64 = 1_560_458_379;

    #[test]
    fn formatting_dates() {
        assert_eq!(
            out(
                "dateInZone",
                &[s("02 Jan 06 15:04 -0700"), i(EPOCH), s("UTC")]
            ),
            "13 Jun 19 20:39 +0000"
        );
        assert_eq!(
            out(
                "date_in_zone",
                &[s("02 Jan 06 15:04 -0700"), i(EPOCH), s("foobar")]
            ),
            "13 Jun 19 20:39 +0000"
        );
        assert_eq!(
            out(
                "dateInZone",
                &[s("2006-01-02 15:04 MST"), i(EPOCH), s("Asia/Tokyo")]
            ),
            "2019-06-14 05:39 JST"
        );
        assert_eq!(out("htmlDateInZone", &[i(0), s("UTC")]), "1970-01-01");
        let parsed = ok("toDate", &[s("2006-01-02"), s("2017-12-31")]);
        assert_eq!(out("date", &[s("02/01/2006"), parsed]), "31/12/2017");
        let year = out("date", &[s("2006"), s("not a time")]);
        assert_eq!(year.len(), 4, "falls back to now: {year}");
    }

    #[test]
    fn times_print_as_go() {
        let parsed = ok(
            "toDate",
            &[
                s("2006-01-02 15:04:05 -0700"),
                s("2019-06-13 20:39:39 +0000"),
            ],
        );
        assert_eq!(
            out("unixEpoch", std::slice::from_ref(&parsed)),
            EPOCH.to_string()
        );
        let utc = ok(
            "dateInZone",
            &[s("2006-01-02T15:04:05Z07:00"), parsed, s("UTC")],
        );
        assert_eq!(utc, s("2019-06-13T20:39:39Z"));
        assert_eq!(
            out("toDate", &[s("2006-01-02"), s("garbage")]),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        let now = out("now", &[]);
        let shape = regex::Regex::new(
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+ m=\+\d+\.\d{9}$",
        )
        .unwrap();
        assert!(shape.is_match(&now), "{now}");
        assert_eq!(
            call_err("mustToDate", &[s("2006-01-02"), s("2017-13-01")]),
            "parsing time \"2017-13-01\": month out of range"
        );
        assert_eq!(
            args_err("unixEpoch", &[i(1)]),
            "wrong type for value; expected time.Time; got int"
        );
    }

    #[test]
    fn modifying_dates() {
        let t = ok(
            "toDate",
            &[s("2006-01-02 15:04 -0700"), s("2024-01-01 00:00 +0000")],
        );
        let later = ok("dateModify", &[s("1.5h"), t.clone()]);
        assert_eq!(out("dateInZone", &[s("15:04"), later, s("UTC")]), "01:30");
        let earlier = ok("date_modify", &[s("-30m"), t.clone()]);
        assert_eq!(
            out("dateInZone", &[s("2006-01-02 15:04"), earlier, s("UTC")]),
            "2023-12-31 23:30"
        );
        let same = ok("dateModify", &[s("nonsense"), t.clone()]);
        assert_eq!(
            out("unixEpoch", &[same]),
            out("unixEpoch", std::slice::from_ref(&t))
        );
        assert_eq!(
            call_err("mustDateModify", &[s("1d"), t]),
            "time: unknown unit \"d\" in duration \"1d\""
        );
    }

    #[test]
    fn durations() {
        assert_eq!(out("duration", &[s("61")]), "1m1s");
        assert_eq!(out("duration", &[s("3600")]), "1h0m0s");
        assert_eq!(out("duration", &[s("93784")]), "26h3m4s");
        assert_eq!(out("duration", &[i(95)]), "1m35s");
        assert_eq!(out("duration", &[f(95.0)]), "0s");
        assert_eq!(out("durationRound", &[s("2h5s")]), "2h");
        assert_eq!(out("durationRound", &[s("24h5s")]), "1d");
        assert_eq!(out("durationRound", &[s("2400h5s")]), "3mo");
        assert_eq!(out("durationRound", &[s("-9000h")]), "1y");
        assert_eq!(out("durationRound", &[s("1s")]), "0s");
        let past = ok("dateModify", &[s("-125s"), ok("now", &[])]);
        assert_eq!(out("ago", &[past]), "2m5s");
        let future = ok("dateModify", &[s("5s"), ok("now", &[])]);
        assert_eq!(out("ago", &[future]), "-5s");
    }

    #[test]
    fn go_duration_text() {
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(1_500), "1.5\u{b5}s");
        assert_eq!(format_duration(2_000_000), "2ms");
        assert_eq!(format_duration(-90_000_000_000), "-1m30s");
        assert_eq!(format_duration(999), "999ns");
        assert_eq!(parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(parse_duration("-.5h"), Ok(-1_800_000_000_000));
        assert_eq!(
            parse_duration("1"),
            Err("time: missing unit in duration \"1\"".into())
        );
        assert_eq!(
            parse_duration(""),
            Err("time: invalid duration \"\"".into())
        );
    }
}
