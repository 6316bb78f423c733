//! The word and case helpers sprig takes from Go's `strings`, Masterminds/goutils and
//! huandu/xstrings, with their quirks (goutils walks bytes, not runes).

/// Go's `unicode.ToUpper`: the simple one-rune mapping, so `ß` stays `ß`.
pub(crate) fn upper_rune(c: char) -> char {
    let mut mapped = c.to_uppercase();
    match (mapped.next(), mapped.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

/// Go's `unicode.ToLower`: the simple one-rune mapping.
pub(crate) fn lower_rune(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut mapped = c.to_lowercase();
    match (mapped.next(), mapped.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

pub(crate) fn upper(s: &str) -> String {
    s.chars().map(upper_rune).collect()
}

pub(crate) fn lower(s: &str) -> String {
    s.chars().map(lower_rune).collect()
}

/// Go's `unicode.IsSpace`.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `strings.Title`: the first letter of every word upper-cased; words break at ASCII
/// non-alphanumerics (but not `_`) and at Unicode spaces.
pub(crate) fn title(s: &str) -> String {
    let mut previous = ' ';
    s.chars()
        .map(|c| {
            let starts_word = title_separator(previous);
            previous = c;
            if starts_word { upper_rune(c) } else { c }
        })
        .collect()
}

fn title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    is_space(c)
}

/// goutils `Uncapitalize`: the first rune of each whitespace-separated word lower-cased.
pub(crate) fn untitle(s: &str) -> String {
    let mut next_starts_word = true;
    s.chars()
        .map(|c| {
            if is_space(c) {
                next_starts_word = true;
                c
            } else if next_starts_word {
                next_starts_word = false;
                lower_rune(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils `SwapCase`: upper to lower, lower to upper except title case after whitespace.
pub(crate) fn swapcase(s: &str) -> String {
    let mut after_space = true;
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                after_space = false;
                lower_rune(c)
            } else if c.is_lowercase() {
                // Title case after whitespace, upper case elsewhere: one mapping in practice.
                after_space = false;
                upper_rune(c)
            } else {
                after_space = is_space(c);
                c
            }
        })
        .collect()
}

/// goutils `Initials`: the first byte of every whitespace-separated word. goutils reads bytes
/// as runes, so a non-ASCII first letter comes out as its lead byte read as Latin-1.
pub(crate) fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut after_gap = true;
    for &b in s.as_bytes() {
        let c = char::from(b);
        if is_space(c) {
            after_gap = true;
        } else if after_gap {
            out.push(c);
            after_gap = false;
        }
    }
    out
}

/// goutils `DeleteWhiteSpace`, byte-wise as goutils does it: unchanged when nothing is
/// removed; otherwise the kept bytes are re-read as Latin-1, as Go's code does.
pub(crate) fn nospace(s: &str) -> String {
    let kept: Vec<u8> = s.bytes().filter(|&b| !is_space(char::from(b))).collect();
    if kept.len() == s.len() {
        return s.to_string();
    }
    kept.into_iter().map(char::from).collect()
}

/// goutils `WrapCustom` over bytes: break at the last space before `width`; long words stay
/// whole unless `wrap_long_words`.
pub(crate) fn wrap(s: &str, width: i64, newline: &str, wrap_long_words: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Vec::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = usize::try_from(width.max(1)).unwrap_or(1);
    let mut out = Vec::new();
    let mut offset = 0;
    while bytes.len() - offset > width {
        if bytes[offset] == b' ' {
            offset += 1;
            continue;
        }
        let window = &bytes[offset..offset + width + 1];
        if let Some(space) = window.iter().rposition(|&b| b == b' ') {
            out.extend_from_slice(&bytes[offset..offset + space]);
            out.extend_from_slice(newline.as_bytes());
            offset += space + 1;
        } else if wrap_long_words {
            out.extend_from_slice(&bytes[offset..offset + width]);
            out.extend_from_slice(newline.as_bytes());
            offset += width;
        } else {
            let end = offset + width;
            match bytes[end..].iter().position(|&b| b == b' ') {
                None => {
                    out.extend_from_slice(&bytes[offset..]);
                    offset = bytes.len();
                }
                Some(index) => {
                    out.extend_from_slice(&bytes[offset..end + index]);
                    out.extend_from_slice(newline.as_bytes());
                    offset = end + index + 1;
                }
            }
        }
    }
    out.extend_from_slice(&bytes[offset..]);
    out
}

/// goutils `AbbreviateFull` over bytes; `None` where goutils returns an error.
pub(crate) fn abbreviate(s: &[u8], offset: i64, max_width: i64) -> Option<Vec<u8>> {
    const MARKER: &[u8] = b"...";
    if s.is_empty() {
        return Some(Vec::new());
    }
    if max_width < 4 {
        return None;
    }
    let len = s.len() as i64;
    if len <= max_width {
        return Some(s.to_vec());
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    if offset <= 4 {
        let mut out = s[..(max_width - 3) as usize].to_vec();
        out.extend_from_slice(MARKER);
        return Some(out);
    }
    if max_width < 7 {
        return None;
    }
    let mut out = MARKER.to_vec();
    if offset + max_width - 3 < len {
        out.extend(abbreviate(&s[offset as usize..], 0, max_width - 3).unwrap_or_default());
    } else {
        out.extend_from_slice(&s[(len - (max_width - 3)) as usize..]);
    }
    Some(out)
}

/// xstrings treats `-`, `_` and spaces as word connectors.
fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// xstrings `ToPascalCase` (sprig's `camelcase`): connectors dropped and the rune after them
/// upper-cased; leading connectors and runs of them keep all but the last.
pub(crate) fn pascal_case(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    let mut current = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            current = Some(upper_rune(c));
            break;
        }
        out.push(c);
    }
    let Some(mut current) = current else {
        return out;
    };
    for next in chars {
        let previous = current;
        current = next;
        if is_connector(current) && is_connector(previous) {
            out.push(previous);
            continue;
        }
        if is_connector(previous) {
            current = upper_rune(current);
        } else {
            out.push(previous);
        }
    }
    out.push(current);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// Unicode punctuation among ASCII (symbols such as `$+<=>^|~` are not punctuation).
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        "!\"#%&'()*,-./:;?@[\\]_{}".contains(c)
    } else {
        matches!(c, '\u{2010}'..='\u{2027}' | '\u{3001}'..='\u{3003}' | '\u{ff01}'..='\u{ff0f}')
    }
}

/// xstrings' letters: CJK ideographs do not count.
fn is_alphabet(c: char) -> bool {
    c.is_alphabetic()
        && !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

fn is_number(c: char) -> bool {
    c.is_numeric()
}

/// The next word of `s` and where the rest starts, as xstrings splits camel-cased text.
fn next_word(s: &str) -> (Word, &str, &str) {
    let mut chars = s.char_indices().peekable();
    let Some((_, first)) = chars.next() else {
        return (Word::Invalid, "", "");
    };
    let end_while = |pred: &dyn Fn(char) -> bool| {
        s.char_indices()
            .skip(1)
            .find(|&(_, c)| !pred(c))
            .map_or(s.len(), |(i, _)| i)
    };
    let (kind, end) = if is_connector(first) {
        (Word::Connector, end_while(&is_connector))
    } else if is_punct(first) {
        (Word::Punct, end_while(&is_punct))
    } else if first.is_uppercase() {
        (Word::Upper, upper_word_end(s))
    } else if is_alphabet(first) {
        (
            Word::Alphabet,
            end_while(&|c| is_alphabet(c) && !c.is_uppercase()),
        )
    } else if is_number(first) {
        (Word::Number, end_while(&is_number))
    } else {
        let other = |c: char| !(is_connector(c) || is_alphabet(c) || is_number(c) || is_punct(c));
        (Word::Other, end_while(&other))
    };
    (kind, &s[..end], &s[end..])
}

/// An upper-case word: `Word`, or a run of capitals (`HTTP` in `HTTPServer`, leaving the
/// `S` that starts the next word).
fn upper_word_end(s: &str) -> usize {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let Some(&(second_at, second)) = chars.get(1) else {
        return s.len();
    };
    if second.is_uppercase() {
        let run_end = chars[1..]
            .iter()
            .position(|&(_, c)| !c.is_uppercase())
            .map(|p| p + 1);
        match run_end {
            None => s.len(),
            Some(end) if is_alphabet(chars[end].1) => chars[end - 1].0,
            Some(end) => chars[end].0,
        }
    } else if is_alphabet(second) {
        chars[1..]
            .iter()
            .find(|&&(_, c)| !is_alphabet(c) || c.is_uppercase())
            .map_or(s.len(), |&(i, _)| i)
    } else {
        second_at
    }
}

fn push_lower(out: &mut String, kind: Word, word: &str, connector: char) {
    if kind != Word::Upper && kind != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            out.push(connector);
        } else {
            out.push(lower_rune(c));
        }
    }
}

/// xstrings `ToSnakeCase`/`ToKebabCase`: words lower-cased and joined by `connector`, numbers
/// kept with the word they follow or lead.
pub(crate) fn delimited_case(s: &str, connector: char) -> String {
    let mut out = String::new();
    if s.is_empty() {
        return out;
    }
    let (mut kind, mut word, mut rest) = next_word(s);
    while !rest.is_empty() {
        if kind != Word::Connector {
            push_lower(&mut out, kind, word, connector);
        }
        let previous = kind;
        let last = word;
        (kind, word, rest) = next_word(rest);
        match previous {
            Word::Number => {
                while kind == Word::Alphabet || kind == Word::Number {
                    push_lower(&mut out, kind, word, connector);
                    (kind, word, rest) = next_word(rest);
                }
                if !matches!(kind, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(connector);
                }
            }
            Word::Connector => push_lower(&mut out, previous, last, connector),
            Word::Punct => {}
            _ => {
                if kind != Word::Number {
                    if kind != Word::Connector && kind != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if rest.is_empty() {
                    continue;
                }
                let number = word;
                (kind, word, rest) = next_word(rest);
                if kind != Word::Alphabet {
                    // A number that ends a word belongs to it: "Bld4Floor" is "bld4_floor".
                    push_lower(&mut out, Word::Number, number, connector);
                    if kind != Word::Connector && kind != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                // A number followed by lower-case letters starts a word: "HTTP2xx" is "http_2xx".
                out.push(connector);
                push_lower(&mut out, Word::Number, number, connector);
                while kind == Word::Alphabet || kind == Word::Number {
                    push_lower(&mut out, kind, word, connector);
                    (kind, word, rest) = next_word(rest);
                }
                if !matches!(kind, Word::Invalid | Word::Connector | Word::Punct) {
                    out.push(connector);
                }
            }
        }
    }
    push_lower(&mut out, kind, word, connector);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_xstrings_examples() {
        let cases = [
            ("HTTPServer", "http_server"),
            ("_camelCase", "_camel_case"),
            ("NoHTTPS", "no_https"),
            ("Wi_thF", "wi_th_f"),
            ("_AnotherTES_TCaseP", "_another_tes_t_case_p"),
            ("ALL", "all"),
            ("_HELLO_WORLD_", "_hello_world_"),
            ("HELLO____WORLD", "hello____world"),
            ("TW", "tw"),
            ("_C", "_c"),
            ("http2xx", "http_2xx"),
            ("HTTP2XX", "http2_xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("HTTP20xStatus", "http_20x_status"),
            ("HTTP-20xStatus", "http_20x_status"),
            ("a", "a"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
            (" _-_ ", "_____"),
            ("a1b2c3d", "a_1b2c3d"),
            ("A//B%%2c", "a//b%%2c"),
            ("  sentence case  ", "__sentence_case__"),
            (
                "FROM CamelCase to snake/kebab-case",
                "from_camel_case_to_snake/kebab_case",
            ),
            ("abc_123_def", "abc_123_def"),
            ("混合ABCWords与123数字456", "混合_abc_words_与123_数字456"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(delimited_case(input, '_'), want, "snake of {input:?}");
            assert_eq!(
                delimited_case(input, '-'),
                want.replace('_', "-"),
                "kebab of {input:?}"
            );
        }
    }

    #[test]
    fn pascal_case_matches_xstrings_examples() {
        let cases = [
            ("http_server", "HttpServer"),
            ("_camel_case", "_CamelCase"),
            ("no_https", "NoHttps"),
            ("_complex__case_", "_Complex_Case_"),
            (" complex -case ", " Complex Case "),
            ("all", "All"),
            ("GOLANG_IS_GREAT", "GOLANGISGREAT"),
            ("a", "A"),
            (
                "FROM CamelCase to snake/kebab-case",
                "FROMCamelCaseToSnake/kebabCase",
            ),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(pascal_case(input), want, "pascal of {input:?}");
        }
    }

    #[test]
    fn title_and_untitle() {
        assert_eq!(
            title("hello world-wide web_site"),
            "Hello World-Wide Web_site"
        );
        assert_eq!(untitle("Hello World"), "hello world");
        assert_eq!(swapcase("This Is A.Test"), "tHIS iS a.tEST");
    }

    #[test]
    fn wrap_and_abbreviate_follow_goutils() {
        let text = "Here is one line of text that is going to be wrapped after 20 columns.";
        let want = "Here is one line of\ntext that is going\nto be wrapped after\n20 columns.";
        assert_eq!(String::from_utf8(wrap(text, 20, "", false)).unwrap(), want);
        let url = "Click here to jump to the commons website - https://commons.apache.org";
        let want = "Click here to jump\nto the commons\nwebsite -\nhttps://commons.apache.org";
        assert_eq!(String::from_utf8(wrap(url, 20, "", false)).unwrap(), want);
        let want =
            "Click here to jump<br>to the commons<br>website -<br>https://commons.apac<br>he.org";
        assert_eq!(
            String::from_utf8(wrap(url, 20, "<br>", true)).unwrap(),
            want
        );
        assert_eq!(
            abbreviate(b"abcdefghijklmno", 10, 10).unwrap(),
            b"...ijklmno"
        );
        assert_eq!(
            abbreviate(b"abcdefghijklmno", -1, 10).unwrap(),
            b"abcdefg..."
        );
        assert_eq!(
            abbreviate(b"abcdefghijklmno", 5, 10).unwrap(),
            b"...fghi..."
        );
        assert!(abbreviate(b"abcdefghij", 5, 6).is_none());
    }
}
