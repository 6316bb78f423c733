//! The same templates run by Go's own `text/template` (through `go run`, with the
//! `missingkey=zero` option Helm sets) and by this crate: output and error text must agree.
//! Go comes with the test tools (scripts/install-deps.sh); numbers in the data are float64,
//! as Helm's values are.

use std::io::Write;
use std::process::{Command, Stdio};
mod common;

use common::{data, funcs};
use gotemplate::Set;

/// The Go side: reads `[{"t": template, "d": data}]`, prints `[{"out": …, "err": …}]`.
const GO_PROGRAM: &str = r#"package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"text/template"
)

type Files struct{}

func (Files) Get(name string) string { return "content of " + name }

type testCase struct {
	T string                 `json:"t"`
	D map[string]interface{} `json:"d"`
}

type result struct {
	Out string `json:"out"`
	Err string `json:"err"`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	funcs := template.FuncMap{
		"upper": strings.ToUpper,
		"fail":  func(msg string) (string, error) { return "", errors.New(msg) },
	}
	results := make([]result, 0, len(cases))
	for _, c := range cases {
		if c.D == nil {
			c.D = map[string]interface{}{}
		}
		c.D["Files"] = Files{}
		var r result
		t, err := template.New("t").Option("missingkey=zero").Funcs(funcs).Parse(c.T)
		if err != nil {
			r.Err = err.Error()
		} else {
			var b strings.Builder
			if err := t.Execute(&b, c.D); err != nil {
				r.Err = err.Error()
			}
			r.Out = b.String()
		}
		results = append(results, r)
	}
	json.NewEncoder(os.Stdout).Encode(results)
}
"#;

/// Templates and their data (JSON). Only what Go 1.19 (Debian 12's) knows and words as Go
/// 1.25 (Helm 4's) does: range over an integer, `else with` and comparison errors are checked
/// in text_template.rs instead.
const CASES: &[(&str, &str)] = &[
    ("plain text", "{}"),
    (
        "{{ .n }} {{ .big }} {{ .small }} {{ .neg }} {{ .f }} {{ .e21 }}",
        r#"{"n": 3, "big": 1000000, "small": 0.00001, "neg": -2.5, "f": 123456.5, "e21": 1e21}"#,
    ),
    (
        "{{ 1 }} {{ 1.5 }} {{ 1e6 }} {{ 0x1F }} {{ 'x' }} {{ -7 }} {{ 1_000 }} {{ 0o17 }} {{ 0b101 }}",
        "{}",
    ),
    (
        "{{ .missing }}|{{ .m.missing }}|{{ index .m \"none\" }}",
        r#"{"m": {}}"#,
    ),
    ("{{ .a.b.c }}", r#"{"a": {}}"#),
    ("{{ .a.b }}", r#"{"a": null}"#),
    ("{{ $x := .none }}{{ $x.y }}", "{}"),
    ("{{ .s.x }}", r#"{"s": "text"}"#),
    (
        "{{ .l }} {{ .m }} {{ .b }} {{ .z }}",
        r#"{"l": [1, "a", true, null], "m": {"b": 2, "a": [1]}, "b": false, "z": null}"#,
    ),
    (
        "{{ printf \"%v|%s|%d|%q|%x|%5.1f|%-5s|%05d|%t|%T|%T|%T\" .n .s 42 .s .s 3.14159 \"ab\" 42 true .n .m .l }}",
        r#"{"n": 2.5, "s": "hi", "m": {}, "l": []}"#,
    ),
    ("{{ printf \"%d %s\" .n 3 }}", r#"{"n": 1}"#),
    (
        "{{ printf \"%33333333333333333333d|%d\" 1 2 }}|{{ printf \"%.99999999999s\" \"x\" }}",
        "{}",
    ),
    (
        "{{ printf \"%s\" }}|{{ printf \"x\" 1 }}|{{ printf \"%v %v\" nil .none }}",
        "{}",
    ),
    (
        "{{ printf \"%.2e %g %G %8.3g %+d % d\" 123456.789 0.000012 1e100 3.14159 5 7 }}",
        "{}",
    ),
    (
        "{{ print 1 2 \"a\" 3 \"b\" \"c\" true false }}|{{ println 1 \"a\" }}|{{ print nil }}",
        "{}",
    ),
    (
        "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}{{ if not .c }}!{{ end }}",
        r#"{"b": [0]}"#,
    ),
    (
        "{{ with .a }}{{ . }}{{ else }}none{{ end }} {{ with $v := .b }}{{ $v }}{{ end }}",
        r#"{"b": "bee"}"#,
    ),
    (
        "{{ range $k, $v := .m }}{{ $k }}={{ $v }},{{ end }}",
        r#"{"m": {"b": 1, "a": 2, "B": 3, "10": 4, "9": 5}}"#,
    ),
    (
        "{{ range $i, $v := .l }}{{ $i }}{{ $v }}{{ else }}empty{{ end }}|{{ range .none }}x{{ else }}nothing{{ end }}",
        r#"{"l": ["a", "b"]}"#,
    ),
    (
        "{{ range .l }}{{ if eq . 2.0 }}{{ continue }}{{ end }}{{ if eq . 4.0 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        r#"{"l": [1, 2, 3, 4, 5]}"#,
    ),
    (
        "{{ range $i, $e := .l }}{{ $.top }}{{ $i }}{{ end }}",
        r#"{"l": [1, 2], "top": "T"}"#,
    ),
    (
        "{{ $x := 1 }}{{ range .l }}{{ $x = . }}{{ end }}{{ $x }}",
        r#"{"l": ["a", "b"]}"#,
    ),
    (
        "{{ $x := \"outer\" }}{{ with .a }}{{ $x := \"inner\" }}{{ $x }}{{ end }} {{ $x }}",
        r#"{"a": 1}"#,
    ),
    (
        "{{ define \"T\" }}<{{ . }}|{{ $ }}>{{ end }}{{ template \"T\" .v }}{{ template \"T\" }}",
        r#"{"v": "val"}"#,
    ),
    ("{{ block \"B\" . }}block {{ .x }}{{ end }}", r#"{"x": 1}"#),
    ("{{ template \"missing\" . }}", "{}"),
    (
        "{{ and 1 0 \"x\" }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 \"y\" 3 }} {{ and false (fail \"not called\") }} {{ or true (fail \"not called\") }}",
        "{}",
    ),
    (
        "{{ not 0 }} {{ not \"\" }} {{ not .l }} {{ not .m }}",
        r#"{"l": [], "m": {"a": 1}}"#,
    ),
    (
        "{{ len \"héllo\" }} {{ len .l }} {{ len .m }}",
        r#"{"l": [1, 2, 3], "m": {"a": 1}}"#,
    ),
    ("{{ len .none }}", "{}"),
    ("{{ len 3 }}", "{}"),
    (
        "{{ index .l 1 }} {{ index .m \"a\" }} {{ index .n \"x\" \"y\" }} {{ index \"abc\" 1 }}",
        r#"{"l": [10, 20], "m": {"a": "A"}, "n": {"x": {"y": "deep"}}}"#,
    ),
    ("{{ index .l 5 }}", r#"{"l": [1]}"#),
    ("{{ index .l 0.0 }}", r#"{"l": [1]}"#),
    ("{{ index .none 1 }}", "{}"),
    (
        "{{ slice \"hello\" 1 }} {{ slice \"hello\" 1 3 }} {{ slice .l 1 2 }}",
        r#"{"l": [1, 2, 3]}"#,
    ),
    (
        "{{ eq 1 1 }} {{ eq .n 1.0 }} {{ eq \"a\" \"b\" \"a\" }} {{ ne \"a\" \"b\" }} {{ eq .none \"x\" }} {{ eq .none .none2 }}",
        r#"{"n": 1}"#,
    ),
    (
        "{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}",
        "{}",
    ),
    ("{{ lt true false }}", "{}"),
    ("{{ eq .l .l }}", r#"{"l": [1]}"#),
    (
        "{{ html \"<a href='x'>&\\\"\" }} {{ js \"it's <b>\\n\" }} {{ urlquery \"a b&c=d/é\" }}",
        "{}",
    ),
    ("{{ \"quoted\\t\\u00e9\\x41\" }} {{ `raw\\n` }}", "{}"),
    (
        "{{ .Files.Get \"a.txt\" }} {{ $.Files.Get \"b\" | upper }} {{ (.Files.Get \"c\") }}",
        "{}",
    ),
    ("{{ .Files.Nope }}", "{}"),
    ("{{ .m.k 1 }}", r#"{"m": {"k": 1}}"#),
    (
        "{{ 3 | printf \"%d-%s\" \"x\" }} {{ \"a\" | printf \"%s%s\" \"b\" }}",
        "{}",
    ),
    ("{{ upper 3 }}", "{}"),
    ("{{ upper \"a\" \"b\" }}", "{}"),
    ("{{ fail \"boom\" }}", "{}"),
    ("line1\n{{ fail \"on line two\" }}", "{}"),
    ("{{ 1 2 }}", "{}"),
    ("{{ nil }}", "{}"),
    ("{{ .x | 3 }}", "{}"),
    ("{{ (1).x }}", "{}"),
    ("{{ $ }}", r#"{"a": 1}"#),
    ("a {{- 1 -}} b {{- /* c */ -}} d {{ 2 }}  {{- 3 }}", "{}"),
    ("{{ nope }}", "{}"),
    ("{{ $undefined }}", "{}"),
    ("{{ if true }}", "{}"),
    ("{{ end }}", "{}"),
    ("{{ else }}", "{}"),
    ("{{ range .l }}{{ end }}{{ break }}", "{}"),
    ("{{ \"unterminated }}", "{}"),
    ("{{ 1 }", "{}"),
    ("{{ (gt 1 }}{{ end }}", "{}"),
    ("{{- if (gt 1 -}}", "{}"),
    (
        "{{ define \"x\" }}a{{ end }}{{ define \"x\" }}b{{ end }}{{ template \"x\" }}",
        "{}",
    ),
    (
        "{{ (printf \"%s\" \"p\") }}{{ (index .m \"a\").b }}",
        r#"{"m": {"a": {"b": "c"}}}"#,
    ),
    (
        "{{ with $x := 1 }}{{ $x }}{{ end }}{{ range $i := .l }}{{ $i }}{{ end }}",
        r#"{"l": ["p", "q"]}"#,
    ),
];

fn ours(template: &str, data_json: &str) -> (String, String) {
    let mut set = Set::new();
    set.add_funcs(funcs());
    if let Err(e) = set.parse("t", template) {
        return (String::new(), e.to_string());
    }
    let value = data(data_json);
    let mut exec = gotemplate::Exec::new(&set);
    let mut out = String::new();
    match exec.execute("t", &value, &mut out) {
        Ok(()) => (out, String::new()),
        Err(e) => (out, e.to_string()),
    }
}

fn go_results() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let program = dir.path().join("main.go");
    std::fs::write(&program, GO_PROGRAM).expect("write the Go program");
    let input: Vec<serde_json::Value> = CASES
        .iter()
        .map(|(t, d)| serde_json::json!({"t": t, "d": serde_json::from_str::<serde_json::Value>(d).unwrap()}))
        .collect();
    let mut child = Command::new("go")
        .arg("run")
        .arg(&program)
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", dir.path().join("cache"))
        .env("GO111MODULE", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("go runs (installed by scripts/install-deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "go run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    results
        .into_iter()
        .map(|r| {
            (
                r["out"].as_str().unwrap().to_string(),
                r["err"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn templates_run_as_go_runs_them() {
    let theirs = go_results();
    let mut differences = Vec::new();
    for ((template, data), go) in CASES.iter().zip(&theirs) {
        let mine = ours(template, data);
        if &mine != go {
            differences.push(format!(
                "{template:?}\n    go:   {go:?}\n    ours: {mine:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        CASES.len(),
        differences.join("\n")
    );
}
