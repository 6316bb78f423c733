//! Go's documented `text/template` behaviour: each case is a template, data as JSON (numbers
//! become float64, as Helm's values do), and what Go prints or the error it gives.

mod common;

use common::{data, funcs};
use gotemplate::{Set, Value};

fn render(template: &str, json: &str) -> Result<String, String> {
    let mut set = Set::new();
    set.add_funcs(funcs());
    set.parse("t", template).map_err(|e| e.to_string())?;
    set.execute("t", &data(json)).map_err(|e| e.to_string())
}

#[track_caller]
fn check(template: &str, json: &str, want: &str) {
    assert_eq!(
        render(template, json).as_deref(),
        Ok(want),
        "template {template:?}"
    );
}

#[track_caller]
fn fails(template: &str, json: &str, want: &str) {
    assert_eq!(
        render(template, json).err().as_deref(),
        Some(want),
        "template {template:?}"
    );
}

#[test]
fn text_and_trim_markers() {
    check("hello", "{}", "hello");
    check("a  {{- \"b\" -}}  \n c", "{}", "abc");
    check("a {{- /* comment */ -}} b", "{}", "ab");
    check("{{/* a comment */}}x", "{}", "x");
    check("{{23 -}} < {{- 45}}", "{}", "23<45");
    check("{{ -3 }}", "{}", "-3");
}

#[test]
fn numbers_print_as_go_prints_them() {
    check(
        "{{ .n }} {{ .big }} {{ .small }} {{ .frac }} {{ .m }}",
        r#"{"n": 3, "big": 1000000, "small": 0.00001, "frac": 1.5, "m": 1234567}"#,
        "3 1e+06 1e-05 1.5 1.234567e+06",
    );
    check(
        "{{ 1000000 }} {{ 1.0 }} {{ 0x10 }} {{ 'a' }} {{ 1e3 }}",
        "{}",
        "1000000 1 16 97 1000",
    );
    check(
        "{{ printf \"%d %v %s %q %5.2f|%-4s|%04d\" 3 .x \"s\" \"q\" 3.14159 \"ab\" 7 }}",
        r#"{"x": 2.5}"#,
        "3 2.5 s \"q\"  3.14|ab  |0007",
    );
    check("{{ printf \"%d\" .n }}", r#"{"n": 3}"#, "%!d(float64=3)");
    check("{{ printf \"%s %s\" \"a\" }}", "{}", "a %!s(MISSING)");
    check("{{ printf \"%v\" .missing }}", "{}", "<nil>");
    check("{{ print 1 2 \"a\" \"b\" 3 }}", "{}", "1 2ab3");
}

#[test]
fn missing_values_and_nil() {
    check("{{ .missing }}", "{}", "<no value>");
    check("{{ .a.b }}", r#"{"a": {"b": "x"}}"#, "x");
    fails(
        "{{ .a.b }}",
        "{}",
        "template: t:1:5: executing \"t\" at <.a.b>: nil pointer evaluating interface {}.b",
    );
    check("{{ $x := .missing }}{{ $x.foo }}", "{}", "<no value>");
    check("{{ (index . \"missing\").foo }}", "{}", "<no value>");
    fails(
        "{{ nil }}",
        "{}",
        "template: t:1:3: executing \"t\" at <nil>: nil is not a command",
    );
    fails(
        "{{ .a.b 1 }}",
        r#"{"a": {"b": 1}}"#,
        "template: t:1:5: executing \"t\" at <.a.b>: b is not a method but has arguments",
    );
    fails(
        "{{ .s.x }}",
        r#"{"s": "str"}"#,
        "template: t:1:5: executing \"t\" at <.s.x>: can't evaluate field x in type interface {}",
    );
}

#[test]
fn control_structures() {
    check(
        "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}",
        r#"{"b": true}"#,
        "B",
    );
    check(
        "{{ with .a }}{{ . }}{{ else with .b }}b={{ . }}{{ end }}",
        r#"{"b": 2}"#,
        "b=2",
    );
    check(
        "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}",
        r#"{"m": {"z": 1, "a": 2, "m": 3}}"#,
        "a=2;m=3;z=1;",
    );
    check(
        "{{ range $i, $e := .l }}{{ $i }}:{{ $e }} {{ end }}",
        r#"{"l": ["x", "y"]}"#,
        "0:x 1:y ",
    );
    check(
        "{{ range .l }}{{ if eq . 3.0 }}{{ break }}{{ end }}{{ if eq . 1.0 }}{{ continue }}{{ end }}{{ . }}{{ end }}",
        r#"{"l": [1, 2, 3, 4]}"#,
        "2",
    );
    check("{{ range 3 }}{{ . }}{{ end }}", "{}", "012");
    check("{{ range .none }}x{{ else }}empty{{ end }}", "{}", "empty");
    check(
        "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
        "{}",
        "2",
    );
    check(
        "{{ $x := 1 }}{{ range .l }}{{ $x := 5 }}{{ end }}{{ $x }}",
        r#"{"l": [1]}"#,
        "1",
    );
}

#[test]
fn define_template_and_block() {
    check(
        "{{ define \"T\" }}[{{ . }}]{{ end }}{{ template \"T\" \"x\" }}",
        "{}",
        "[x]",
    );
    check(
        "{{ block \"B\" .v }}<{{ . }}>{{ end }}",
        r#"{"v": 1}"#,
        "<1>",
    );
    fails(
        "{{ template \"none\" }}",
        "{}",
        "template: t:1:12: executing \"t\" at <{{template \"none\"}}>: template \"none\" not defined",
    );
}

#[test]
fn methods_with_arguments_on_data_values() {
    check("{{ .Files.Get \"a.txt\" }}", "{}", "content of a.txt");
    check("{{ $.Files.Get \"b\" | upper }}", "{}", "CONTENT OF B");
    fails(
        "{{ .Files.Nope }}",
        "{}",
        "template: t:1:9: executing \"t\" at <.Files.Nope>: can't evaluate field Nope in type interface {}",
    );
}

#[test]
fn functions_and_comparisons() {
    check(
        "{{ \"a\" | upper }} {{ upper \"b\" }} {{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not 0 }}",
        "{}",
        "A B 0 3 true",
    );
    check("{{ and false (fail \"never\") }}", "{}", "false");
    check(
        "{{ len .l }} {{ index .l 1 }} {{ index .m \"k\" }} {{ slice \"hello\" 1 3 }}",
        r#"{"l": [1, 2], "m": {"k": "v"}}"#,
        "2 2 v el",
    );
    check(
        "{{ eq .n 3.0 }} {{ eq \"a\" \"b\" \"a\" }} {{ lt 1 2 }} {{ ne .s \"x\" }}",
        r#"{"n": 3, "s": "y"}"#,
        "true true true true",
    );
    fails(
        "{{ eq .n 3 }}",
        r#"{"n": 3}"#,
        "template: t:1:3: executing \"t\" at <eq .n 3>: error calling eq: incompatible types for comparison: float64 and int",
    );
    fails(
        "{{ upper 3 }}",
        "{}",
        "template: t:1:9: executing \"t\" at <3>: expected string; found 3",
    );
    fails(
        "{{ fail \"boom\" }}",
        "{}",
        "template: t:1:3: executing \"t\" at <fail \"boom\">: error calling fail: boom",
    );
    check(
        "{{ \"<a&b>\" | html }} {{ urlquery \"a b&c\" }}",
        "{}",
        "&lt;a&amp;b&gt; a+b%26c",
    );
}

#[test]
fn parse_errors_name_the_line() {
    fails(
        "{{ nope }}",
        "{}",
        "template: t:1: function \"nope\" not defined",
    );
    fails(
        "a\n{{ $x }}",
        "{}",
        "template: t:2: undefined variable \"$x\"",
    );
    fails("{{ if true }}", "{}", "template: t:1: unexpected EOF");
    fails("{{ end }}", "{}", "template: t:1: unexpected {{end}}");
    fails(
        "{{ break }}",
        "{}",
        "template: t:1: {{break}} outside {{range}}",
    );
}

#[test]
fn deep_recursion_ends_in_go_s_error_not_a_crash() {
    fails(
        "{{ define \"loop\" }}{{ template \"loop\" . }}{{ end }}{{ template \"loop\" . }}",
        "{}",
        "template: t:1:31: executing \"loop\" at <{{template \"loop\" .}}>: exceeded maximum template depth (100000)",
    );
    let nested = |depth: usize| format!("{{{{ {}1{} }}}}", "(".repeat(depth), ")".repeat(depth));
    check(&nested(2000), "{}", "1");
    fails(
        &nested(10_001),
        "{}",
        "template: t:1: max expression depth exceeded",
    );
}

#[test]
fn a_step_budget_stops_endless_templates() {
    let mut set = Set::new();
    set.parse("t", "{{ range 1000000000 }}{{ end }}").unwrap();
    let error = set.execute_bounded("t", &Value::Nil, 10_000).unwrap_err();
    assert_eq!(error.message, "template execution exceeded its step budget");
    assert_eq!(
        set.execute_bounded("t2", &Value::Nil, 10)
            .unwrap_err()
            .message,
        "no template \"t2\" associated with template \"\""
    );
}
