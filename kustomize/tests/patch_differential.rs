//! Generated patches, built by us and by the real `kubectl kustomize` (kustomize v5.8.1):
//! both must fail, or both succeed with byte-identical output.
//!
//! A seeded generator writes one kustomization per case: a Deployment, Service, ConfigMap
//! or custom resource and one patch. JSON6902 patches mix every op over existing and
//! missing paths, missing parents, `-`, negative, signed, leading-zero and out-of-range
//! indexes, `~0`/`~1` escapes and YAML 1.1 values; strategic merge patches cover lists
//! merged by key, replaced lists, `$patch: delete|replace` and null deletes. Every case
//! that differs is reported with its files. `PATCH_DIFF_SEED` picks another seed.

mod common;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const SEED: u64 = 6902;
const CASES: usize = 360;

struct Case {
    files: Vec<(&'static str, String)>,
    /// The patched object's name, which our errors must mention.
    object: String,
}

#[test]
fn generated_patches_match_kubectl_kustomize() {
    let seed = std::env::var("PATCH_DIFF_SEED")
        .ok()
        .map_or(SEED, |s| s.parse().expect("PATCH_DIFF_SEED is a number"));
    let kubectl = common::kubectl();
    let version = Command::new(&kubectl)
        .args(["version", "--client"])
        .output();
    assert!(
        version.as_ref().is_ok_and(|v| v.status.success()),
        "cannot run {}: {version:?}",
        kubectl.display()
    );
    let mut rng = fastrand::Rng::with_seed(seed);
    let cases: Vec<Case> = (0..CASES).map(|_| generate(&mut rng)).collect();
    let root = tempfile::tempdir().expect("temporary directory");
    let next = AtomicUsize::new(0);
    let differences = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let dir = root.path().join(format!("case-{i:03}"));
                    if let Err(problem) = check(&dir, case) {
                        differences.lock().unwrap().push((i, problem));
                    }
                }
            });
        }
    });
    let mut differences = differences.into_inner().unwrap();
    differences.sort();
    let report: Vec<String> = differences
        .iter()
        .map(|(i, problem)| format!("■ case {i} (seed {seed}): {problem}"))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {CASES} generated cases differ from kubectl kustomize:\n{}",
        differences.len(),
        report.join("\n\n")
    );
}

/// Writes the case, builds it both ways; what differs, with the inputs, if anything.
fn check(dir: &Path, case: &Case) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for (name, text) in &case.files {
        std::fs::write(dir.join(name), text).map_err(|e| e.to_string())?;
    }
    let inputs = || {
        case.files
            .iter()
            .map(|(name, text)| format!("--- {name}\n{text}"))
            .collect::<Vec<_>>()
            .join("")
    };
    let reference = Command::new(common::kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    let theirs = if reference.status.success() {
        Ok(String::from_utf8_lossy(&reference.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&reference.stderr)
            .trim()
            .to_string())
    };
    let ours = kustomize::build(dir)
        .map(|r| kustomize::to_yaml(&r))
        .map_err(|e| e.to_string());
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        (Err(e), Err(_)) if names_object_and_patch(e, &case.object) => Ok(()),
        (Err(e), Err(_)) => Err(format!(
            "both fail, but our error does not name the object (and the patch): {e}\n{}",
            inputs()
        )),
        _ => Err(format!(
            "\n{}=== ours\n{}\n=== kubectl\n{}",
            inputs(),
            shown(&ours),
            shown(&theirs)
        )),
    }
}

/// Our errors name the object (by id, `Kind.version.group/name.namespace`, a prefix
/// allowed); those of applying a patch also name the patch's file (the others come from
/// checks at the end of the build).
fn names_object_and_patch(error: &str, object: &str) -> bool {
    let applying = ["patches:", "patchesStrategicMerge:", "patchesJson6902:"]
        .iter()
        .any(|field| error.starts_with(&format!("kustomization.yaml: {field}")));
    error.contains(&format!("{object}.")) && (!applying || error.contains("patch.yaml:"))
}

fn shown(result: &Result<String, String>) -> String {
    match result {
        Ok(text) => text.clone(),
        Err(e) => format!("error: {e}"),
    }
}

fn generate(rng: &mut fastrand::Rng) -> Case {
    let object = match rng.usize(0..4) {
        0 => deployment(rng),
        1 => service(rng),
        2 => config_map(rng),
        _ => widget(rng),
    };
    let kind = object["kind"].as_str().unwrap().to_string();
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let resource = yaml(&object);
    let (patch, kustomization) = if rng.u8(0..10) < 6 {
        json6902_case(rng, &object, &kind, &name)
    } else {
        smp_case(rng, &object, &kind, &name)
    };
    Case {
        files: vec![
            ("resource.yaml", resource),
            ("patch.yaml", patch),
            ("kustomization.yaml", kustomization),
        ],
        object: name,
    }
}

fn yaml(value: &Value) -> String {
    let mut out = String::new();
    kustomize::yaml::write_document(value, &mut out);
    out
}

fn maybe(rng: &mut fastrand::Rng, percent: u8) -> bool {
    rng.u8(0..100) < percent
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(0..items.len())]
}

fn deployment(rng: &mut fastrand::Rng) -> Value {
    let mut app = json!({"name": "app", "image": "example/app:1.0"});
    if maybe(rng, 70) {
        app["ports"] = json!([{"name": "http", "containerPort": 8080}]);
        if maybe(rng, 40) {
            app["ports"][0]["protocol"] = json!("TCP");
        }
    }
    if maybe(rng, 70) {
        app["env"] =
            json!([{"name": "LOG_LEVEL", "value": "info"}, {"name": "CACHE", "value": "128"}]);
    }
    if maybe(rng, 50) {
        app["args"] = json!(["--serve", "--port=8080"]);
    }
    if maybe(rng, 50) {
        app["volumeMounts"] = json!([{"name": "tmp", "mountPath": "/tmp"}]);
    }
    let mut containers = vec![app];
    if maybe(rng, 40) {
        containers.push(
            json!({"name": "proxy", "image": "envoy:1.28", "ports": [{"containerPort": 9901}]}),
        );
    }
    let mut pod = json!({"containers": containers});
    if maybe(rng, 50) {
        pod["volumes"] = json!([{"name": "tmp", "emptyDir": {}}]);
    }
    if maybe(rng, 30) {
        pod["tolerations"] = json!([{"key": "dedicated", "operator": "Exists"}]);
    }
    let mut object = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": rng.u8(1..4),
            "selector": {"matchLabels": {"app": "app"}},
            "template": {"metadata": {"labels": {"app": "app"}}, "spec": pod},
        },
    });
    common_metadata(rng, &mut object);
    object
}

fn service(rng: &mut fastrand::Rng) -> Value {
    let mut ports = vec![json!({"name": "http", "port": 80, "targetPort": 8080})];
    if maybe(rng, 50) {
        ports.push(json!({"name": "grpc", "port": 9000, "protocol": "TCP"}));
    }
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": ports},
    });
    if maybe(rng, 50) {
        object["spec"]["type"] = json!("ClusterIP");
    }
    common_metadata(rng, &mut object);
    object
}

fn config_map(rng: &mut fastrand::Rng) -> Value {
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"mode": "legacy", "a/b": "slash", "x~y": "tilde", "count": "3"},
    });
    if maybe(rng, 30) {
        object["data"]["list"] = json!("- not\n- a list\n");
    }
    common_metadata(rng, &mut object);
    object
}

fn widget(rng: &mut fastrand::Rng) -> Value {
    let mut object = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "gadget"},
        "spec": {
            "size": {"w": 1, "h": 2},
            "tags": ["a", "b", "c"],
            "items": [{"name": "one", "v": 1}, {"name": "two", "v": 2}],
            "enabled": true,
        },
    });
    if maybe(rng, 40) {
        object["metadata"]["namespace"] = json!("team-a");
    }
    if maybe(rng, 40) {
        object["spec"]["containers"] = json!([{"name": "c", "image": "x"}]);
    }
    common_metadata(rng, &mut object);
    object
}

/// Labels and annotations, each present or not: JSON6902 paths below them depend on it.
fn common_metadata(rng: &mut fastrand::Rng, object: &mut Value) {
    if maybe(rng, 50) {
        object["metadata"]["labels"] = json!({"app": "x", "app.kubernetes.io/name": "x"});
    }
    if maybe(rng, 40) {
        object["metadata"]["annotations"] = json!({"team": "a", "example.com/owner": "b"});
    }
}

/// Every node below the root with its path tokens, in a fixed order (the seed decides).
fn nodes(value: &Value) -> Vec<(Vec<String>, &Value)> {
    let mut out = Vec::new();
    let mut stack = vec![(Vec::new(), value)];
    while let Some((path, node)) = stack.pop() {
        let children: Vec<(String, &Value)> = match node {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (token, child) in children.into_iter().rev() {
            let mut child_path = path.clone();
            child_path.push(token);
            stack.push((child_path.clone(), child));
            out.push((child_path, child));
        }
    }
    out
}

fn pointer(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// An index token for a list of `len` elements: in range, at or past the end, `-`,
/// negative, signed or with leading zeros.
fn index_token(rng: &mut fastrand::Rng, len: usize) -> String {
    let len = len as i64;
    match rng.u8(0..10) {
        0 | 1 => rng.i64(0..len.max(1)).to_string(),
        2 => len.to_string(),
        3 => (len + 1).to_string(),
        4 => "-".into(),
        5 => "-1".into(),
        6 => (-len).to_string(),
        7 => (-len - 1).to_string(),
        8 => "01".into(),
        _ => "+0".into(),
    }
}

/// A path for add/move/copy destinations: new keys (some needing escapes), list indexes,
/// missing parents, annotations and labels that may not exist, or an existing node.
fn destination(rng: &mut fastrand::Rng, object: &Value) -> String {
    let all = nodes(object);
    let maps: Vec<&Vec<String>> = all
        .iter()
        .filter(|(_, v)| v.is_object())
        .map(|(p, _)| p)
        .collect();
    let lists: Vec<(&Vec<String>, usize)> = all
        .iter()
        .filter_map(|(p, v)| v.as_array().map(|a| (p, a.len())))
        .collect();
    match rng.u8(0..10) {
        0 | 1 => {
            let key = pick(rng, &["new", "a/b", "x~y", "app.kubernetes.io/part-of", ""]);
            let mut path = pick(rng, &maps).to_vec();
            path.push(key.to_string());
            pointer(&path)
        }
        2..=4 if !lists.is_empty() => {
            let (path, len) = *pick(rng, &lists);
            format!("{}/{}", pointer(path), index_token(rng, len))
        }
        5 => {
            let mut path = pick(rng, &maps).to_vec();
            path.extend(["absent".to_string(), "child".to_string()]);
            pointer(&path)
        }
        6 | 7 => {
            let field = pick(rng, &["annotations", "labels"]);
            let key = pick(rng, &["env", "example.com~1tier", "x~0y"]);
            format!("/metadata/{field}/{key}")
        }
        _ => pointer(&pick(rng, &all).0),
    }
}

/// A path for remove/replace/test and move/copy sources: mostly an existing node, else a
/// missing key, an index variant or a path below a missing parent.
fn source(rng: &mut fastrand::Rng, object: &Value) -> (String, Option<Value>) {
    let all = nodes(object);
    let (path, value) = pick(rng, &all);
    match rng.u8(0..10) {
        0 => (format!("{}/missing", pointer(path)), None),
        1 => match object.pointer(&pointer(&path[..path.len() - 1])) {
            Some(Value::Array(items)) => {
                let parent = pointer(&path[..path.len() - 1]);
                (format!("{parent}/{}", index_token(rng, items.len())), None)
            }
            _ => (pointer(&path[..path.len() - 1]) + "/nope", None),
        },
        2 => (
            pick(rng, &["/metadata/annotations", "/metadata/labels/app"]).to_string(),
            None,
        ),
        _ => (pointer(path), Some((*value).clone())),
    }
}

/// A value as YAML flow text, and whether that text is also JSON.
fn value_text(rng: &mut fastrand::Rng) -> (String, bool) {
    const JSON: &[&str] = &[
        "\"text\"",
        "42",
        "true",
        "{\"k\": \"v\"}",
        "[\"a\", \"b\"]",
        "null",
        "1.5",
        "2.0",
        "{}",
        "[]",
        "1000000",
        "-3",
        "\"yes\"",
        "[{\"name\": \"n\", \"value\": \"v\"}]",
        "{\"name\": \"side\", \"image\": \"busybox\"}",
    ];
    const YAML_ONLY: &[&str] = &["yes", "on", "off", "y", "010", "0x1F", "1_000", "~", "+5"];
    if maybe(rng, 20) {
        (pick(rng, YAML_ONLY).to_string(), false)
    } else {
        (pick(rng, JSON).to_string(), true)
    }
}

/// One JSON6902 operation as `(op, path, from, value text, value is JSON)`.
type Op = (&'static str, String, Option<String>, Option<String>, bool);

/// An operation, never one that reads the whole `metadata.annotations` map or what holds it
/// (`test` there, `copy`/`move` from there): kustomize keeps internal build annotations in
/// that map during a patch and they would show, which flux-rs does not emulate
/// (docs/compatibility.md).
fn operation(rng: &mut fastrand::Rng, object: &Value) -> Op {
    loop {
        let op = any_operation(rng, object);
        let read = match op.0 {
            "test" => Some(&op.1),
            "copy" | "move" => op.2.as_ref(),
            _ => None,
        };
        if !read.is_some_and(|p| ["", "/metadata", "/metadata/annotations"].contains(&p.as_str())) {
            return op;
        }
    }
}

fn any_operation(rng: &mut fastrand::Rng, object: &Value) -> Op {
    let op = *pick(
        rng,
        &[
            "add", "add", "add", "remove", "replace", "replace", "move", "copy", "test", "test",
        ],
    );
    match op {
        "add" | "replace" => {
            let path = if op == "add" {
                destination(rng, object)
            } else {
                source(rng, object).0
            };
            let (value, is_json) = value_text(rng);
            (op, path, None, Some(value), is_json)
        }
        "remove" => (op, source(rng, object).0, None, None, true),
        "move" | "copy" => {
            let from = source(rng, object).0;
            (op, destination(rng, object), Some(from), None, true)
        }
        _ => {
            let (path, current) = source(rng, object);
            let value = match current {
                Some(v) if maybe(rng, 70) => serde_json::to_string(&v).unwrap(),
                _ if maybe(rng, 50) => "null".to_string(),
                _ => value_text(rng).0,
            };
            let is_json = serde_json::from_str::<Value>(&value).is_ok();
            (op, path, None, Some(value), is_json)
        }
    }
}

fn json6902_text(ops: &[Op], as_json: bool) -> String {
    let quoted = |s: &str| serde_json::to_string(s).unwrap();
    let mut out = String::new();
    for (i, (op, path, from, value, _)) in ops.iter().enumerate() {
        if as_json {
            out.push_str(if i == 0 { "[" } else { ",\n " });
            out.push_str(&format!("{{\"op\": \"{op}\", \"path\": {}", quoted(path)));
            if let Some(from) = from {
                out.push_str(&format!(", \"from\": {}", quoted(from)));
            }
            if let Some(value) = value {
                out.push_str(&format!(", \"value\": {value}"));
            }
            out.push('}');
        } else {
            out.push_str(&format!("- op: {op}\n  path: {}\n", quoted(path)));
            if let Some(from) = from {
                out.push_str(&format!("  from: {}\n", quoted(from)));
            }
            if let Some(value) = value {
                out.push_str(&format!("  value: {value}\n"));
            }
        }
    }
    if as_json {
        out.push_str("]\n");
    }
    out
}

/// A JSON6902 patch and its kustomization: mostly `patches`, some `patchesJson6902`
/// after a namespace or name prefix (build annotations decide whether
/// `metadata.annotations` exists for the patch).
fn json6902_case(
    rng: &mut fastrand::Rng,
    object: &Value,
    kind: &str,
    name: &str,
) -> (String, String) {
    let count = *pick(rng, &[1, 1, 1, 2, 2, 3]);
    let ops: Vec<Op> = (0..count).map(|_| operation(rng, object)).collect();
    let as_json = ops.iter().all(|op| op.4) && maybe(rng, 15);
    let patch = json6902_text(&ops, as_json);
    let api_version = object["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kustomization = if maybe(rng, 20) {
        let (extra, target_name) = match rng.u8(0..3) {
            0 => (String::new(), name.to_string()),
            1 => ("namespace: staging\n".to_string(), name.to_string()),
            _ => ("namePrefix: p-\n".to_string(), format!("p-{name}")),
        };
        format!(
            "resources:\n- resource.yaml\n{extra}patchesJson6902:\n- target:\n    group: \"{group}\"\n    version: {version}\n    kind: {kind}\n    name: {target_name}\n  path: patch.yaml\n"
        )
    } else {
        format!(
            "resources:\n- resource.yaml\npatches:\n- target:\n    kind: {kind}\n    name: {name}\n  path: patch.yaml\n"
        )
    };
    (patch, kustomization)
}

/// A strategic merge patch for the object and its kustomization (with or without target).
fn smp_case(rng: &mut fastrand::Rng, object: &Value, kind: &str, name: &str) -> (String, String) {
    let mut patch = json!({
        "apiVersion": object["apiVersion"],
        "kind": kind,
        "metadata": {"name": name},
    });
    if let Some(namespace) = object["metadata"].get("namespace") {
        patch["metadata"]["namespace"] = namespace.clone();
    }
    let changes = *pick(rng, &[1, 1, 2, 3]);
    for _ in 0..changes {
        match kind {
            "Deployment" => deployment_change(rng, &mut patch),
            "Service" => service_change(rng, &mut patch),
            "ConfigMap" => config_map_change(rng, &mut patch),
            _ => widget_change(rng, &mut patch),
        }
    }
    match rng.u8(0..10) {
        0 => patch["metadata"]["labels"] = json!({"app": null, "added": "yes"}),
        1 => patch["metadata"]["annotations"] = json!({"team": null, "note": "n"}),
        2 if maybe(rng, 30) => patch["$patch"] = json!("delete"),
        _ => {}
    }
    let kustomization = match rng.u8(0..3) {
        0 => "resources:\n- resource.yaml\npatches:\n- path: patch.yaml\n".to_string(),
        1 => "resources:\n- resource.yaml\npatchesStrategicMerge:\n- patch.yaml\n".to_string(),
        _ => format!(
            "resources:\n- resource.yaml\npatches:\n- target:\n    kind: {kind}\n    name: {name}\n  path: patch.yaml\n"
        ),
    };
    (yaml(&patch), kustomization)
}

/// Sets `value` at `path` (slash-separated map keys) in `patch`, creating maps on the way.
fn set(patch: &mut Value, path: &str, value: Value) {
    let mut current = patch;
    for key in path.split('/') {
        current = &mut current[key];
    }
    *current = value;
}

fn deployment_change(rng: &mut fastrand::Rng, patch: &mut Value) {
    let containers = "spec/template/spec/containers";
    match rng.u8(0..16) {
        0 => set(patch, "spec/replicas", json!(5)),
        1 => set(patch, "spec/replicas", Value::Null),
        2 => set(
            patch,
            containers,
            json!([{"name": "app", "image": "example/app:2.0"}]),
        ),
        3 => set(
            patch,
            containers,
            json!([{"name": "sidecar", "image": "busybox"}]),
        ),
        4 => set(
            patch,
            containers,
            json!([{"name": "proxy", "$patch": "delete"}]),
        ),
        5 => set(
            patch,
            containers,
            json!([{"$patch": "replace"}, {"name": "only", "image": "x"}]),
        ),
        6 => set(
            patch,
            containers,
            json!([{"name": "app", "env": *pick(rng, &[
                json!([{"name": "LOG_LEVEL", "value": "debug"}]),
                json!([{"name": "NEW", "value": "v"}]),
                json!([{"name": "CACHE", "$patch": "delete"}]),
                json!([{"name": "LOG_LEVEL", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]),
            ])}]),
        ),
        7 => set(
            patch,
            containers,
            json!([{"name": "app", "ports": *pick(rng, &[
                json!([{"containerPort": 8080, "name": "web"}]),
                json!([{"containerPort": 9090, "name": "metrics"}]),
                json!([{"containerPort": 8080, "$patch": "delete"}]),
                json!([{"containerPort": 8080, "protocol": "UDP", "name": "udp"}]),
            ])}]),
        ),
        8 => set(
            patch,
            containers,
            json!([{"name": "app", "args": ["--new"], "volumeMounts": [{"mountPath": "/tmp", "readOnly": true}]}]),
        ),
        9 => set(
            patch,
            "spec/template/spec/volumes",
            pick(
                rng,
                &[
                    json!([{"name": "cache", "emptyDir": {}}]),
                    json!([{"name": "tmp", "$patch": "delete"}]),
                    json!([{"name": "tmp", "emptyDir": null, "configMap": {"name": "cm"}}]),
                ],
            )
            .clone(),
        ),
        10 => set(
            patch,
            "spec/template/spec/tolerations",
            json!([{"key": "other", "operator": "Exists"}]),
        ),
        11 => set(
            patch,
            "spec/template/metadata/labels",
            json!({"tier": "web", "app": null}),
        ),
        12 => set(patch, "spec/strategy", json!({"type": "Recreate"})),
        13 => set(
            patch,
            "spec/template/spec",
            json!({"$patch": "replace", "containers": [{"name": "r", "image": "r"}]}),
        ),
        14 => set(
            patch,
            "spec/template/spec/tolerations",
            json!({"$patch": "delete"}),
        ),
        _ => set(patch, "spec/selector/matchLabels", json!({"extra": "y"})),
    }
}

fn service_change(rng: &mut fastrand::Rng, patch: &mut Value) {
    match rng.u8(0..8) {
        0 => set(
            patch,
            "spec/ports",
            json!([{"port": 80, "targetPort": 9090}]),
        ),
        1 => set(patch, "spec/ports", json!([{"port": 443, "name": "https"}])),
        2 => set(
            patch,
            "spec/ports",
            json!([{"port": 80, "$patch": "delete"}]),
        ),
        3 => set(
            patch,
            "spec/ports",
            json!([{"$patch": "replace"}, {"port": 1, "name": "one"}]),
        ),
        4 => set(
            patch,
            "spec/ports",
            json!([{"port": 9000, "protocol": "UDP", "name": "grpc-udp"}]),
        ),
        5 => set(
            patch,
            "spec/selector",
            json!({"app": null, "tier": "front"}),
        ),
        6 => set(patch, "spec/type", json!("NodePort")),
        _ => set(patch, "spec/ports", json!([{"port": 80, "name": null}])),
    }
}

fn config_map_change(rng: &mut fastrand::Rng, patch: &mut Value) {
    match rng.u8(0..6) {
        0 => set(patch, "data/mode", json!("modern")),
        1 => set(patch, "data/mode", Value::Null),
        2 => set(patch, "data", json!({"$patch": "replace", "only": "x"})),
        3 => set(patch, "data", json!({"$patch": "delete"})),
        4 => set(patch, "data/a~b", json!("new~slash/key")),
        _ => set(patch, "binaryData", json!({"bin": "aGVsbG8="})),
    }
}

fn widget_change(rng: &mut fastrand::Rng, patch: &mut Value) {
    match rng.u8(0..9) {
        0 => set(patch, "spec/items", json!([{"name": "one", "v": 9}])),
        1 => set(patch, "spec/tags", json!(["z"])),
        2 => set(patch, "spec/size", json!({"h": null, "d": 3})),
        3 => set(patch, "spec/size", json!({"$patch": "replace", "w": 5})),
        4 => set(
            patch,
            "spec/items",
            json!([{"$patch": "replace"}, {"name": "three"}]),
        ),
        5 => set(patch, "spec/enabled", Value::Null),
        6 => set(
            patch,
            "spec/containers",
            json!([{"name": "c", "image": "y"}]),
        ),
        7 => set(patch, "spec", json!({"$patch": "delete"})),
        _ => set(
            patch,
            "spec/items",
            json!([{"name": "two", "$patch": "delete"}]),
        ),
    }
}
