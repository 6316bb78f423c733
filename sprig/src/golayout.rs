//! Go's reference-time layouts (`2006-01-02 15:04:05.000 -0700 MST`): formatting and parsing
//! as Go's `time.Format` and `time.ParseInLocation` do them, with Go's parse errors.

use jiff::Zoned;
use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};

/// The elements of a layout, named after Go's reference time.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Elem {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    UpperPm,
    LowerPm,
    ZoneName,
    /// `Z07:00` and friends: `Z` for UTC, else the offset.
    IsoZone(ZoneStyle),
    /// `-07:00` and friends.
    NumZone(ZoneStyle),
    /// `.000` (fixed digits) or `.999` (trailing zeros dropped), with its separator.
    Fraction {
        digits: usize,
        trim: bool,
        separator: char,
    },
}

#[derive(Clone, Copy, PartialEq, Debug)]
struct ZoneStyle {
    colon: bool,
    minutes: bool,
    seconds: bool,
}

#[derive(Debug, PartialEq)]
enum Chunk<'a> {
    Literal(&'a str),
    Elem(Elem, &'a str),
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Splits a layout into literal text and elements, as Go's `nextStdChunk` reads it.
fn chunks(layout: &str) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    let bytes = layout.as_bytes();
    while i < bytes.len() {
        let rest = &layout[i..];
        if let Some((elem, len, skip)) = elem_at(rest) {
            if i + skip > literal_start {
                out.push(Chunk::Literal(&layout[literal_start..i + skip]));
            }
            out.push(Chunk::Elem(elem, &layout[i + skip..i + skip + len]));
            i += skip + len;
            literal_start = i;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    if literal_start < layout.len() {
        out.push(Chunk::Literal(&layout[literal_start..]));
    }
    out
}

/// The element starting `rest`: (element, its length, literal bytes before it).
fn elem_at(rest: &str) -> Option<(Elem, usize, usize)> {
    let starts_lower = |s: &str| s.as_bytes().first().is_some_and(u8::is_ascii_lowercase);
    let zone = |colon, minutes, seconds| ZoneStyle {
        colon,
        minutes,
        seconds,
    };
    let b = rest.as_bytes();
    let found = |elem: Elem, len: usize| Some((elem, len, 0));
    match b[0] {
        b'J' if rest.starts_with("January") => found(Elem::LongMonth, 7),
        b'J' if rest.starts_with("Jan") && !starts_lower(&rest[3..]) => found(Elem::Month, 3),
        b'M' if rest.starts_with("Monday") => found(Elem::LongWeekDay, 6),
        b'M' if rest.starts_with("Mon") && !starts_lower(&rest[3..]) => found(Elem::WeekDay, 3),
        b'M' if rest.starts_with("MST") => found(Elem::ZoneName, 3),
        b'0' if matches!(b.get(1), Some(b'1'..=b'6')) => {
            let elem = [
                Elem::ZeroMonth,
                Elem::ZeroDay,
                Elem::ZeroHour12,
                Elem::ZeroMinute,
                Elem::ZeroSecond,
                Elem::Year,
            ];
            found(elem[usize::from(b[1] - b'1')], 2)
        }
        b'0' if rest.starts_with("002") => found(Elem::ZeroYearDay, 3),
        b'1' if rest.starts_with("15") => found(Elem::Hour, 2),
        b'1' => found(Elem::NumMonth, 1),
        b'2' if rest.starts_with("2006") => found(Elem::LongYear, 4),
        b'2' => found(Elem::Day, 1),
        b'_' if rest.starts_with("_2006") => Some((Elem::LongYear, 4, 1)),
        b'_' if rest.starts_with("_2") => found(Elem::UnderDay, 2),
        b'_' if rest.starts_with("__2") => found(Elem::UnderYearDay, 3),
        b'3' => found(Elem::Hour12, 1),
        b'4' => found(Elem::Minute, 1),
        b'5' => found(Elem::Second, 1),
        b'P' if rest.starts_with("PM") => found(Elem::UpperPm, 2),
        b'p' if rest.starts_with("pm") => found(Elem::LowerPm, 2),
        b'-' | b'Z' => {
            let iso = b[0] == b'Z';
            let forms = [
                ("070000", zone(false, true, true)),
                ("07:00:00", zone(true, true, true)),
                ("0700", zone(false, true, false)),
                ("07:00", zone(true, true, false)),
                ("07", zone(false, false, false)),
            ];
            let (form, style) = forms
                .into_iter()
                .find(|(form, _)| rest[1..].starts_with(form))?;
            found(
                if iso {
                    Elem::IsoZone(style)
                } else {
                    Elem::NumZone(style)
                },
                form.len() + 1,
            )
        }
        b'.' | b',' if matches!(b.get(1), Some(b'0' | b'9')) => {
            let digit = b[1];
            let run = b[1..].iter().take_while(|&&c| c == digit).count();
            if b.get(1 + run).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            found(
                Elem::Fraction {
                    digits: run,
                    trim: digit == b'9',
                    separator: char::from(b[0]),
                },
                run + 1,
            )
        }
        _ => None,
    }
}

/// A time as Go holds it: an instant in a zone, and the zone's name when Go gave it one the
/// zone database does not know (an abbreviation read by `toDate`).
#[derive(Clone)]
pub(crate) struct GoTime {
    pub zoned: Zoned,
    pub zone_name: Option<String>,
}

impl GoTime {
    pub fn new(zoned: Zoned) -> GoTime {
        GoTime {
            zoned,
            zone_name: None,
        }
    }

    /// The zone abbreviation `MST` prints; empty for a nameless fixed offset.
    fn abbreviation(&self) -> String {
        if let Some(name) = &self.zone_name {
            return name.clone();
        }
        let tz = self.zoned.time_zone();
        if tz.iana_name().is_none() && *tz != TimeZone::UTC && tz.to_fixed_offset().is_ok() {
            return String::new();
        }
        tz.to_offset_info(self.zoned.timestamp())
            .abbreviation()
            .to_string()
    }
}

/// `time.Time.Format(layout)`.
pub(crate) fn format(time: &GoTime, layout: &str) -> String {
    let z = &time.zoned;
    let mut out = String::new();
    let hour12 = || match z.hour() % 12 {
        0 => 12,
        h => h,
    };
    for chunk in chunks(layout) {
        let elem = match chunk {
            Chunk::Literal(text) => {
                out.push_str(text);
                continue;
            }
            Chunk::Elem(elem, _) => elem,
        };
        let piece = match elem {
            Elem::LongMonth => LONG_MONTHS[z.month() as usize - 1].to_string(),
            Elem::Month => LONG_MONTHS[z.month() as usize - 1][..3].to_string(),
            Elem::NumMonth => z.month().to_string(),
            Elem::ZeroMonth => format!("{:02}", z.month()),
            Elem::LongWeekDay => {
                LONG_DAYS[z.weekday().to_sunday_zero_offset() as usize].to_string()
            }
            Elem::WeekDay => {
                LONG_DAYS[z.weekday().to_sunday_zero_offset() as usize][..3].to_string()
            }
            Elem::Day => z.day().to_string(),
            Elem::UnderDay => format!("{:>2}", z.day()),
            Elem::ZeroDay => format!("{:02}", z.day()),
            Elem::UnderYearDay => format!("{:>3}", z.day_of_year()),
            Elem::ZeroYearDay => format!("{:03}", z.day_of_year()),
            Elem::Hour => format!("{:02}", z.hour()),
            Elem::Hour12 => hour12().to_string(),
            Elem::ZeroHour12 => format!("{:02}", hour12()),
            Elem::Minute => z.minute().to_string(),
            Elem::ZeroMinute => format!("{:02}", z.minute()),
            Elem::Second => z.second().to_string(),
            Elem::ZeroSecond => format!("{:02}", z.second()),
            Elem::LongYear => format!("{:04}", z.year()),
            Elem::Year => format!("{:02}", z.year().rem_euclid(100)),
            Elem::UpperPm => (if z.hour() >= 12 { "PM" } else { "AM" }).to_string(),
            Elem::LowerPm => (if z.hour() >= 12 { "pm" } else { "am" }).to_string(),
            Elem::ZoneName => {
                let name = time.abbreviation();
                if name.is_empty() {
                    offset_text(
                        z.offset().seconds(),
                        ZoneStyle {
                            colon: false,
                            minutes: true,
                            seconds: false,
                        },
                    )
                } else {
                    name
                }
            }
            Elem::IsoZone(_) if z.offset().seconds() == 0 => "Z".to_string(),
            Elem::IsoZone(style) | Elem::NumZone(style) => offset_text(z.offset().seconds(), style),
            Elem::Fraction {
                digits,
                trim,
                separator,
            } => {
                let nanos = format!("{:09}", z.subsec_nanosecond());
                let shown = &nanos[..digits.min(9)];
                let shown = if trim {
                    shown.trim_end_matches('0')
                } else {
                    shown
                };
                if shown.is_empty() {
                    String::new()
                } else {
                    format!("{separator}{shown}")
                }
            }
        };
        out.push_str(&piece);
    }
    out
}

fn offset_text(seconds: i32, style: ZoneStyle) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let colon = if style.colon { ":" } else { "" };
    let mut text = format!("{sign}{:02}", abs / 3600);
    if style.minutes {
        text.push_str(&format!("{colon}{:02}", abs / 60 % 60));
    }
    if style.seconds {
        text.push_str(&format!("{colon}{:02}", abs % 60));
    }
    text
}

/// What parsing found so far.
#[derive(Default)]
struct Fields {
    year: i64,
    month: Option<i64>,
    day: Option<i64>,
    year_day: Option<i64>,
    hour: i64,
    minute: i64,
    second: i64,
    nanosecond: i64,
    pm: Option<bool>,
    /// An explicit zone: `Z`, an offset, or a name.
    utc: bool,
    offset: Option<i32>,
    zone_name: Option<String>,
}

/// `time.ParseInLocation(layout, value, location)`, with Go's error texts.
pub(crate) fn parse(layout: &str, value: &str, location: &TimeZone) -> Result<GoTime, String> {
    let quote = gotemplate::quote;
    let cannot = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(value),
            quote(layout),
            quote(rest),
            quote(elem)
        )
    };
    let out_of_range = |what: &str| format!("parsing time {}: {what} out of range", quote(value));
    let mut fields = Fields {
        year: 1,
        ..Fields::default()
    };
    let mut rest = value;
    let all = chunks(layout);
    for (index, chunk) in all.iter().enumerate() {
        let (elem, elem_text) = match chunk {
            Chunk::Literal(text) => {
                rest = skip_literal(rest, text).ok_or_else(|| cannot(rest, text))?;
                continue;
            }
            Chunk::Elem(elem, text) => (*elem, *text),
        };
        let before = rest;
        let fraction_follows = matches!(
            all.get(index + 1),
            Some(Chunk::Elem(Elem::Fraction { .. }, _))
        );
        let parsed = parse_elem(elem, &mut rest, &mut fields, fraction_follows);
        match parsed {
            Ok(()) => {}
            Err(Some(range)) => return Err(out_of_range(range)),
            Err(None) => return Err(cannot(before, elem_text)),
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            quote(value),
            quote(rest)
        ));
    }
    build(fields, location).map_err(out_of_range)
}

/// Go's `skip`: literal text must match, except that a run of spaces matches any run of spaces.
fn skip_literal<'a>(mut value: &'a str, mut prefix: &str) -> Option<&'a str> {
    while let Some(c) = prefix.chars().next() {
        if c == ' ' {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        value = value.strip_prefix(c)?;
        prefix = &prefix[c.len_utf8()..];
    }
    Some(value)
}

/// Reads one element; `Err(Some(what))` is a range error, `Err(None)` a mismatch.
fn parse_elem(
    elem: Elem,
    rest: &mut &str,
    f: &mut Fields,
    fraction_follows: bool,
) -> Result<(), Option<&'static str>> {
    let in_range = |n: i64, low: i64, high: i64, what: &'static str| {
        if (low..=high).contains(&n) {
            Ok(n)
        } else {
            Err(Some(what))
        }
    };
    match elem {
        Elem::Year => {
            let year = digits(rest, 2, 2)?;
            f.year = if year >= 69 { year + 1900 } else { year + 2000 };
        }
        Elem::LongYear => f.year = digits(rest, 4, 4)?,
        Elem::Month | Elem::LongMonth => {
            let names: Vec<&str> = LONG_MONTHS
                .iter()
                .map(|m| if elem == Elem::Month { &m[..3] } else { *m })
                .collect();
            f.month = Some(lookup(rest, &names)? as i64 + 1);
        }
        Elem::NumMonth | Elem::ZeroMonth => {
            let month = digits(rest, if elem == Elem::ZeroMonth { 2 } else { 1 }, 2)?;
            f.month = Some(in_range(month, 1, 12, "month")?);
        }
        Elem::WeekDay | Elem::LongWeekDay => {
            let names: Vec<&str> = LONG_DAYS
                .iter()
                .map(|d| if elem == Elem::WeekDay { &d[..3] } else { *d })
                .collect();
            lookup(rest, &names)?;
        }
        Elem::Day | Elem::UnderDay | Elem::ZeroDay => {
            if elem == Elem::UnderDay {
                *rest = rest.strip_prefix(' ').unwrap_or(rest);
            }
            f.day = Some(digits(rest, if elem == Elem::ZeroDay { 2 } else { 1 }, 2)?);
        }
        Elem::UnderYearDay | Elem::ZeroYearDay => {
            if elem == Elem::UnderYearDay {
                *rest = rest.trim_start_matches(' ');
            }
            f.year_day = Some(digits(
                rest,
                if elem == Elem::ZeroYearDay { 3 } else { 1 },
                3,
            )?);
        }
        Elem::Hour => f.hour = in_range(digits(rest, 1, 2)?, 0, 23, "hour")?,
        Elem::Hour12 | Elem::ZeroHour12 => {
            f.hour = in_range(
                digits(rest, if elem == Elem::ZeroHour12 { 2 } else { 1 }, 2)?,
                0,
                12,
                "hour",
            )?;
        }
        Elem::Minute | Elem::ZeroMinute => {
            f.minute = in_range(
                digits(rest, if elem == Elem::ZeroMinute { 2 } else { 1 }, 2)?,
                0,
                59,
                "minute",
            )?;
        }
        Elem::Second | Elem::ZeroSecond => {
            f.second = in_range(
                digits(rest, if elem == Elem::ZeroSecond { 2 } else { 1 }, 2)?,
                0,
                59,
                "second",
            )?;
            // Go reads a fraction after the seconds even when the layout has none.
            let b = rest.as_bytes();
            if !fraction_follows
                && b.len() >= 2
                && matches!(b[0], b'.' | b',')
                && b[1].is_ascii_digit()
            {
                let len = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                f.nanosecond = nanoseconds(&rest[1..len]);
                *rest = &rest[len..];
            }
        }
        Elem::UpperPm | Elem::LowerPm => {
            let marker = rest.get(..2).ok_or(None)?;
            let (am, pm) = if elem == Elem::UpperPm {
                ("AM", "PM")
            } else {
                ("am", "pm")
            };
            f.pm = Some(match marker {
                m if m == pm => true,
                m if m == am => false,
                _ => return Err(None),
            });
            *rest = &rest[2..];
        }
        Elem::IsoZone(_) if rest.starts_with('Z') => {
            *rest = &rest[1..];
            f.utc = true;
        }
        Elem::IsoZone(style) | Elem::NumZone(style) => f.offset = Some(parse_offset(rest, style)?),
        Elem::ZoneName => {
            let name_len = rest.bytes().take_while(u8::is_ascii_uppercase).count();
            if name_len < 3 {
                return Err(None);
            }
            let name = &rest[..name_len];
            *rest = &rest[name_len..];
            if name == "UTC" || name == "GMT" {
                f.utc = true;
            } else {
                f.zone_name = Some(name.to_string());
            }
        }
        Elem::Fraction {
            digits: count,
            trim,
            ..
        } => {
            let b = rest.as_bytes();
            if trim {
                if b.len() < 2 || !matches!(b[0], b'.' | b',') || !b[1].is_ascii_digit() {
                    return Ok(());
                }
                let len = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                f.nanosecond = nanoseconds(&rest[1..len]);
                *rest = &rest[len..];
            } else {
                let digits_part = rest
                    .get(1..1 + count)
                    .filter(|d| d.bytes().all(|c| c.is_ascii_digit()));
                let (Some(digits_part), true) =
                    (digits_part, matches!(b.first(), Some(b'.' | b',')))
                else {
                    return Err(None);
                };
                f.nanosecond = nanoseconds(digits_part);
                *rest = &rest[1 + count..];
            }
        }
    }
    Ok(())
}

/// Between `min` and `max` leading digits.
fn digits(rest: &mut &str, min: usize, max: usize) -> Result<i64, Option<&'static str>> {
    let len = rest
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if len < min {
        return Err(None);
    }
    let n = rest[..len].parse().map_err(|_| None)?;
    *rest = &rest[len..];
    Ok(n)
}

/// A name from `names`, matched without regard to ASCII case.
fn lookup(rest: &mut &str, names: &[&str]) -> Result<usize, Option<&'static str>> {
    for (i, name) in names.iter().enumerate() {
        if rest
            .get(..name.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(name))
        {
            *rest = &rest[name.len()..];
            return Ok(i);
        }
    }
    Err(None)
}

fn nanoseconds(fraction: &str) -> i64 {
    let mut padded: String = fraction.chars().take(9).collect();
    while padded.len() < 9 {
        padded.push('0');
    }
    padded.parse().unwrap_or(0)
}

fn parse_offset(rest: &mut &str, style: ZoneStyle) -> Result<i32, Option<&'static str>> {
    let sign = match rest.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(None),
    };
    *rest = &rest[1..];
    let hours = digits(rest, 2, 2)?;
    let mut minutes = 0;
    let mut seconds = 0;
    if style.minutes {
        if style.colon {
            *rest = rest.strip_prefix(':').ok_or(None)?;
        }
        minutes = digits(rest, 2, 2)?;
    }
    if style.seconds {
        if style.colon {
            *rest = rest.strip_prefix(':').ok_or(None)?;
        }
        seconds = digits(rest, 2, 2)?;
    }
    if hours > 24 || minutes > 60 || seconds > 60 {
        return Err(Some("time zone offset"));
    }
    Ok(sign * (hours * 3600 + minutes * 60 + seconds) as i32)
}

/// The time the fields describe, in the zone they name or else in `location`.
fn build(mut f: Fields, location: &TimeZone) -> Result<GoTime, &'static str> {
    match f.pm {
        Some(true) if f.hour < 12 => f.hour += 12,
        Some(false) if f.hour == 12 => f.hour = 0,
        _ => {}
    }
    let year = i16::try_from(f.year).map_err(|_| "year")?;
    let (month, day) = match (f.year_day, f.month, f.day) {
        (Some(year_day), _, _) => {
            let first = jiff::civil::Date::new(year, 1, 1).map_err(|_| "year")?;
            let date = first
                .with()
                .day_of_year(i16::try_from(year_day).map_err(|_| "day-of-year")?)
                .build()
                .map_err(|_| "day-of-year")?;
            (date.month(), date.day())
        }
        (None, month, day) => (month.unwrap_or(1) as i8, day.unwrap_or(1) as i8),
    };
    let hms = (f.hour as i8, f.minute as i8, f.second as i8);
    let civil = DateTime::new(year, month, day, hms.0, hms.1, hms.2, f.nanosecond as i32)
        .map_err(|_| "day")?;
    let in_zone = |tz: TimeZone| civil.to_zoned(tz).map_err(|_| "day");
    if f.utc {
        return Ok(GoTime::new(in_zone(TimeZone::UTC)?));
    }
    if let Some(offset) = f.offset {
        let fixed = Offset::from_seconds(offset).map_err(|_| "time zone offset")?;
        let instant = in_zone(TimeZone::fixed(fixed))?.timestamp();
        // Go keeps the location when it has this offset at that instant.
        if location.to_offset(instant) == fixed {
            return Ok(GoTime::new(instant.to_zoned(location.clone())));
        }
        return Ok(GoTime::new(instant.to_zoned(TimeZone::fixed(fixed))));
    }
    if let Some(name) = f.zone_name {
        let local = in_zone(location.clone())?;
        if local
            .time_zone()
            .to_offset_info(local.timestamp())
            .abbreviation()
            == name
        {
            return Ok(GoTime::new(local));
        }
        // An unknown abbreviation: Go keeps the name at offset zero (GMT+h counts hours).
        let hours: i32 = name
            .strip_prefix("GMT")
            .and_then(|h| h.parse().ok())
            .unwrap_or(0);
        let fixed = Offset::from_seconds(hours * 3600).map_err(|_| "time zone offset")?;
        return Ok(GoTime {
            zoned: in_zone(TimeZone::fixed(fixed))?,
            zone_name: Some(name),
        });
    }
    Ok(GoTime::new(in_zone(location.clone())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> GoTime {
        GoTime::new(
            text.parse::<jiff::Timestamp>()
                .unwrap()
                .to_zoned(TimeZone::UTC),
        )
    }

    #[test]
    fn formats_go_layouts() {
        let t = utc("2019-06-13T20:39:39.123400Z");
        assert_eq!(format(&t, "2006-01-02"), "2019-06-13");
        assert_eq!(format(&t, "02 Jan 06 15:04 -0700"), "13 Jun 19 20:39 +0000");
        assert_eq!(
            format(&t, "Monday, January 2, 2006 3:04:05 PM MST"),
            "Thursday, June 13, 2019 8:39:39 PM UTC"
        );
        assert_eq!(
            format(&t, "2006-01-02T15:04:05.000Z07:00"),
            "2019-06-13T20:39:39.123Z"
        );
        assert_eq!(format(&t, "15:04:05.999999999"), "20:39:39.1234");
        assert_eq!(format(&t, "_2 __2 002 pm"), "13 164 164 pm");
        let offset = GoTime::new(t.zoned.with_time_zone(TimeZone::fixed(
            Offset::from_seconds(-(7 * 3600 + 1800)).unwrap(),
        )));
        assert_eq!(
            format(&offset, "-07:00 -0700 Z07 MST"),
            "-07:30 -0730 -07 -0730"
        );
    }

    #[test]
    fn parses_go_layouts() {
        let t = parse("2006-01-02", "2017-12-31", &TimeZone::UTC).unwrap();
        assert_eq!(format(&t, "02/01/2006"), "31/12/2017");
        let t = parse(
            "02 Jan 06 15:04:05 MST",
            "13 Jun 19 20:39:39 GMT",
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(t.zoned.timestamp().as_second(), 1_560_458_379);
        let t = parse(
            "2006-01-02T15:04:05Z07:00",
            "2019-06-13T22:39:39.5+02:00",
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(t.zoned.timestamp().as_second(), 1_560_458_379);
        assert_eq!(format(&t, "15:04:05.000 -07:00"), "22:39:39.500 +02:00");
        let t = parse(
            "Jan 2 2006 3:04pm MST",
            "feb 3 2020 4:05pm PST",
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(
            format(&t, "2006-01-02 15:04 MST -0700"),
            "2020-02-03 16:05 PST +0000"
        );
    }

    #[test]
    fn parse_errors_read_as_go() {
        assert_eq!(
            parse("2006-01-02", "2017-1-31", &TimeZone::UTC)
                .err()
                .unwrap(),
            "parsing time \"2017-1-31\" as \"2006-01-02\": cannot parse \"1-31\" as \"01\""
        );
        assert_eq!(
            parse("2006-01-02", "2017-13-01", &TimeZone::UTC)
                .err()
                .unwrap(),
            "parsing time \"2017-13-01\": month out of range"
        );
        assert_eq!(
            parse("2006-01-02", "2017-12-31x", &TimeZone::UTC)
                .err()
                .unwrap(),
            "parsing time \"2017-12-31x\": extra text: \"x\""
        );
        assert_eq!(
            parse("2006-01-02", "2017-02-30", &TimeZone::UTC)
                .err()
                .unwrap(),
            "parsing time \"2017-02-30\": day out of range"
        );
    }
}
