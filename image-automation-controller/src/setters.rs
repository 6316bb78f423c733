//! The `Setters` update strategy: scalars marked `# {"$imagepolicy": "<ns>:<name>[:tag|:name|:digest]"}`
//! get their policy's latest image, with Flux's matching rules (kyaml's setter comments), but
//! by splicing only the scalar's bytes: every other byte of the file (comments, blank lines,
//! `---`, block scalars, indentation, quoting) stays as it was, where Flux re-serialises whole
//! files.
//!
//! Pure: text and setters in, text and changes out; the directory walk is the one I/O part.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use api::image::ImageRef;
use granit_parser::{Event, Parser, ScalarStyle};

const MARKER_KEY: &str = "$imagepolicy";
/// Files are read only up to this size; larger ones are not manifests anyone edits.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// What a marker can set, by its setter name (`<ns>:<name>`, `<ns>:<name>:tag`, …).
#[derive(Clone, Debug, Default)]
pub struct Setters {
    values: HashMap<String, String>,
    /// The latest image of each policy, by `<ns>:<name>`.
    images: HashMap<String, ImageRef>,
}

impl Setters {
    /// The four setters of each policy with a latest image (Flux's `io.k8s.cli.setters.*`).
    pub fn new<'a>(policies: impl IntoIterator<Item = (&'a str, &'a str, &'a ImageRef)>) -> Self {
        let mut values = HashMap::new();
        let mut images = HashMap::new();
        for (namespace, name, latest) in policies {
            let base = format!("{namespace}:{name}");
            images.insert(base.clone(), latest.clone());
            values.insert(format!("{base}:tag"), latest.tag.clone());
            values.insert(format!("{base}:name"), latest.name.clone());
            values.insert(
                format!("{base}:digest"),
                latest.digest.clone().unwrap_or_default(),
            );
            values.insert(base, latest.to_string());
        }
        Self { values, images }
    }

    /// The policy a setter belongs to (`<ns>:<name>`) and its latest image.
    pub fn image_of(&self, setter: &str) -> Option<(&str, &ImageRef)> {
        let mut parts = setter.splitn(3, ':');
        let policy = format!("{}:{}", parts.next()?, parts.next()?);
        self.images
            .get_key_value(&policy)
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// A value that changed, as the commit message template sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub old_value: String,
    pub new_value: String,
    pub setter: String,
}

/// The object a change was made in (empty fields for a file without them, such as a
/// `kustomization.yaml`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// The changes of a run: by file (relative to the repository root), then object.
pub type FileChanges = BTreeMap<String, BTreeMap<ObjectId, Vec<Change>>>;

/// What a run did: the changes written, and the files with markers that could not be read as
/// YAML (Flux skips those silently; they are reported here).
#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: FileChanges,
    pub unreadable: Vec<(String, String)>,
}

struct Splice {
    start: usize,
    end: usize,
    text: String,
}

/// One frame of the YAML structure being walked.
enum Frame {
    Mapping {
        key: Option<String>,
        expect_key: bool,
    },
    Sequence,
}

/// A file's new text and its changes by object.
pub type Updated = (String, Vec<(ObjectId, Change)>);

/// Updates the marked scalars of one YAML file. Returns the new text (only when something
/// changed) and the changes by object.
pub fn update_text(text: &str, setters: &Setters) -> Result<Option<Updated>, String> {
    let mut splices = Vec::new();
    let mut changes = Vec::new();
    let mut document_changes: Vec<Change> = Vec::new();
    let mut object = ObjectId::default();
    let mut stack: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| e.to_string())?;
        match event {
            Event::DocumentStart(..) => {
                object = ObjectId::default();
                stack.clear();
            }
            Event::DocumentEnd => {
                changes.extend(document_changes.drain(..).map(|c| (object.clone(), c)));
            }
            Event::MappingStart(..) => {
                let _ = take_slot(&mut stack);
                stack.push(Frame::Mapping {
                    key: None,
                    expect_key: true,
                });
            }
            Event::SequenceStart(..) => {
                let _ = take_slot(&mut stack);
                stack.push(Frame::Sequence);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Alias(_) => {
                let _ = take_slot(&mut stack);
            }
            Event::Scalar(value, style, _, _) => {
                let Some(is_value) = take_slot(&mut stack) else {
                    continue;
                };
                if !is_value {
                    // A mapping key: remember it for the path.
                    if let Some(Frame::Mapping { key, .. }) = stack.last_mut() {
                        *key = Some(value.to_string());
                    }
                    continue;
                }
                record_identity(&stack, &value, &mut object);
                let Some(range) = span.byte_range() else {
                    continue;
                };
                if !matches!(
                    style,
                    ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                ) {
                    continue;
                }
                let Some(setter) = marker(line_tail(text, range.end)) else {
                    continue;
                };
                let Some(new_value) = setters.values.get(&setter) else {
                    continue;
                };
                if *new_value == value {
                    continue;
                }
                splices.push(Splice {
                    start: range.start,
                    end: range.end,
                    text: render(new_value, style),
                });
                document_changes.push(Change {
                    old_value: value.to_string(),
                    new_value: new_value.clone(),
                    setter,
                });
            }
            _ => {}
        }
    }
    changes.extend(document_changes.drain(..).map(|c| (object.clone(), c)));
    if splices.is_empty() {
        return Ok(None);
    }
    let mut out = text.to_owned();
    for splice in splices.iter().rev() {
        out.replace_range(splice.start..splice.end, &splice.text);
    }
    Ok(Some((out, changes)))
}

/// Consumes the next node position of the innermost collection: `Some(true)` for a mapping
/// value or sequence item, `Some(false)` for a mapping key, `None` at the document's top.
fn take_slot(stack: &mut [Frame]) -> Option<bool> {
    match stack.last_mut()? {
        Frame::Mapping { expect_key, .. } => {
            let is_key = *expect_key;
            *expect_key = !*expect_key;
            Some(!is_key)
        }
        Frame::Sequence => Some(true),
    }
}

/// Notes `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` of the document.
fn record_identity(stack: &[Frame], value: &str, object: &mut ObjectId) {
    let key = |frame: &Frame| match frame {
        Frame::Mapping { key, .. } => key.clone(),
        Frame::Sequence => None,
    };
    let path: Vec<Option<String>> = stack.iter().map(key).collect();
    let field = match path.as_slice() {
        [Some(k)] if k == "apiVersion" => &mut object.api_version,
        [Some(k)] if k == "kind" => &mut object.kind,
        [Some(m), Some(k)] if m == "metadata" && k == "name" => &mut object.name,
        [Some(m), Some(k)] if m == "metadata" && k == "namespace" => &mut object.namespace,
        _ => return,
    };
    *field = value.to_owned();
}

/// The rest of the line after byte `end`.
fn line_tail(text: &str, end: usize) -> &str {
    let rest = &text[end..];
    &rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())]
}

/// The setter a same-line comment names: a comment (after blanks) that, with its leading `#`s
/// removed, is exactly a JSON object of strings with the `$imagepolicy` key.
fn marker(tail: &str) -> Option<String> {
    let comment = tail.trim_start_matches([' ', '\t']).strip_prefix('#')?;
    let json = comment.trim_start_matches('#');
    let object: HashMap<String, String> = serde_json::from_str(json).ok()?;
    object.get(MARKER_KEY).cloned()
}

/// `value` written in `style`: plain stays plain unless YAML would read it as something
/// other than a string (then double-quoted, as kyaml does).
fn render(value: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::Plain if plain_safe(value) => value.to_owned(),
        _ => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// Whether `value` reads back as the same string when written plain, in YAML 1.1 too.
fn plain_safe(value: &str) -> bool {
    if value.is_empty() || yaml11_non_string(value) {
        return false;
    }
    let first = value.chars().next().unwrap_or(' ');
    let indicator = "-?:,[]{}#&*!|>'\"%@`".contains(first);
    let starts_ok = !indicator
        || (matches!(first, '-' | '?' | ':') && value.len() > 1 && !value[1..].starts_with(' '));
    starts_ok
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.contains(['\n', '\t'])
}

/// YAML 1.1 booleans, nulls, integers and floats (go-yaml v2 / kyaml's resolver).
fn yaml11_non_string(value: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    if WORDS.contains(&value) {
        return true;
    }
    let digits = value
        .strip_prefix(['-', '+'])
        .unwrap_or(value)
        .replace('_', "");
    if digits.is_empty() {
        return false;
    }
    let all = |s: &str, f: fn(char) -> bool| !s.is_empty() && s.chars().all(f);
    if let Some(hex) = digits.strip_prefix("0x") {
        return all(hex, |c| c.is_ascii_hexdigit());
    }
    if let Some(bin) = digits.strip_prefix("0b") {
        return all(bin, |c| c == '0' || c == '1');
    }
    // Sexagesimal (`1:20`) is a YAML 1.1 integer too.
    if digits.contains(':') {
        return digits.split(':').all(|p| all(p, |c| c.is_ascii_digit()));
    }
    if all(&digits, |c| c.is_ascii_digit()) {
        return true;
    }
    // Floats: digits with one dot and an optional exponent (`1.10`, `6.`, `1e3`, `.5`).
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(at) => (&digits[..at], Some(&digits[at + 1..])),
        None => (digits.as_str(), None),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        all(e.strip_prefix(['-', '+']).unwrap_or(e), |c| {
            c.is_ascii_digit()
        })
    });
    let mut parts = mantissa.split('.');
    let (int, frac) = (parts.next().unwrap_or(""), parts.next());
    let numeric = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = parts.next().is_none()
        && numeric(int)
        && frac.is_none_or(numeric)
        && !(int.is_empty() && frac.unwrap_or("").is_empty());
    exponent_ok && mantissa_ok && (frac.is_some() || exponent.is_some())
}

/// Whether the walk looks at this file: `.yaml`, `.yml` or a file named `Kustomization`.
fn is_candidate(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name == "Kustomization" || name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Applies the setters to every candidate file under `dir` (inside `root`), writing back
/// only the files that changed. Symbolic links to directories are not followed.
pub fn update_tree(root: &Path, dir: &Path, setters: &Setters) -> std::io::Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut pending: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&current)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    pending.push(path);
                }
                continue;
            }
            if !is_candidate(&path) {
                continue;
            }
            // A link is read only if it resolves to a file inside the repository.
            let Ok(resolved) = std::fs::canonicalize(&path) else {
                continue;
            };
            if !resolved.starts_with(root) || !resolved.is_file() {
                continue;
            }
            if std::fs::metadata(&resolved)?.len() > MAX_FILE_BYTES {
                continue;
            }
            let bytes = std::fs::read(&resolved)?;
            if !has_marker_token(&bytes) {
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let Ok(text) = String::from_utf8(bytes) else {
                outcome.unreadable.push((relative, "not UTF-8".to_owned()));
                continue;
            };
            match update_text(&text, setters) {
                Err(e) => outcome.unreadable.push((relative, e)),
                Ok(None) => {}
                Ok(Some((updated, changes))) => {
                    std::fs::write(&resolved, updated)?;
                    let file = outcome.changes.entry(relative).or_default();
                    for (object, change) in changes {
                        file.entry(object).or_default().push(change);
                    }
                }
            }
        }
    }
    Ok(outcome)
}

/// Whether the bytes contain `"$imagepolicy"`, quotes included (Flux's screening).
fn has_marker_token(bytes: &[u8]) -> bool {
    let needle = b"\"$imagepolicy\"";
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setters() -> Setters {
        let policy = ImageRef {
            name: "index.repo.fake/updated".into(),
            tag: "v1.0.1".into(),
            digest: None,
        };
        let with_digest = ImageRef {
            name: "image".into(),
            tag: "v1.0.0".into(),
            digest: Some(
                "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be".into(),
            ),
        };
        let numeric = ImageRef {
            name: "app".into(),
            tag: "1606234201".into(),
            digest: None,
        };
        Setters::new([
            ("automation-ns", "policy", &policy),
            ("automation-ns", "policy-with-digest", &with_digest),
            ("automation-ns", "numeric", &numeric),
        ])
    }

    fn update(text: &str) -> Option<String> {
        update_text(text, &setters()).unwrap().map(|(t, _)| t)
    }

    #[test]
    fn only_the_marked_scalar_changes_and_every_other_byte_stays() {
        let original = r#"---
# A comment at the top.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: test   # not a marker
  namespace: apps

spec:
  template:
    spec:
      containers:
      - name: hello
        image: image:v1.0.0 # {"$imagepolicy": "automation-ns:policy"}
        args:
          - |
            a block scalar
              kept as is
      - name: digest
        image: image # {"$imagepolicy": "automation-ns:policy-with-digest"}
---
kind: Kustomization
images:
- name: replaced
  newName: replaced # {"$imagepolicy": "automation-ns:policy:name"}
  newTag: v1 # {"$imagepolicy": "automation-ns:policy:tag"}
  digest: 'sha256:1234567890abcdef' # {"$imagepolicy": "automation-ns:policy-with-digest:digest"}
- name: other
  newTag: v1 # {"$imagepolicy": "other-namespace:policy:tag"}
"#;
        let (updated, changes) = update_text(original, &setters()).unwrap().unwrap();
        let expected = original
            .replace(
                "image: image:v1.0.0 #",
                "image: index.repo.fake/updated:v1.0.1 #",
            )
            .replace(
                "image: image # {\"$imagepolicy\": \"automation-ns:policy-with-digest\"}",
                "image: image:v1.0.0@sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be # {\"$imagepolicy\": \"automation-ns:policy-with-digest\"}",
            )
            .replace("newName: replaced #", "newName: index.repo.fake/updated #")
            .replace("newTag: v1 # {\"$imagepolicy\": \"automation-ns:policy:tag\"}", "newTag: v1.0.1 # {\"$imagepolicy\": \"automation-ns:policy:tag\"}")
            .replace("'sha256:1234567890abcdef'", "'sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be'");
        assert_eq!(updated, expected);
        assert_eq!(changes.len(), 5);
        let deployment = ObjectId {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "test".into(),
            namespace: "apps".into(),
        };
        assert_eq!(changes[0].0, deployment);
        assert_eq!(
            changes[0].1,
            Change {
                old_value: "image:v1.0.0".into(),
                new_value: "index.repo.fake/updated:v1.0.1".into(),
                setter: "automation-ns:policy".into(),
            }
        );
        assert_eq!(changes[2].0.kind, "Kustomization");
        // Once applied, nothing more changes.
        assert_eq!(update(&updated), None);
    }

    #[test]
    fn markers_must_be_exactly_a_json_object_of_strings() {
        for text in [
            "tag: v1 # {\"$imagepolicy\": \"automation-ns:policy:tag\"} # note\n",
            "tag: v1 # {\"$imagepolicy\": \"automation-ns:unknown:tag\"}\n",
            "tag: v1 # {\"$imagepolicy\": 3}\n",
            "tag: v1 # $imagepolicy automation-ns:policy:tag\n",
            "# {\"$imagepolicy\": \"automation-ns:policy:tag\"}\ntag: v1\n",
            "{\"$imagepolicy\": \"automation-ns:policy:tag\"}: v1 # {\"$imagepolicy\": \"automation-ns:policy:x\"}\n",
        ] {
            assert_eq!(update(text), None, "{text}");
        }
        assert_eq!(
            update("tag: v1 ## {\"$imagepolicy\":\"automation-ns:policy:tag\"}\n").unwrap(),
            "tag: v1.0.1 ## {\"$imagepolicy\":\"automation-ns:policy:tag\"}\n"
        );
        assert_eq!(
            update("- v1 # {\"$imagepolicy\": \"automation-ns:policy:tag\"}\n").unwrap(),
            "- v1.0.1 # {\"$imagepolicy\": \"automation-ns:policy:tag\"}\n"
        );
    }

    #[test]
    fn values_keep_their_quoting_and_non_strings_are_quoted() {
        assert_eq!(
            update("tag: \"v1\" # {\"$imagepolicy\": \"automation-ns:policy:tag\"}\n").unwrap(),
            "tag: \"v1.0.1\" # {\"$imagepolicy\": \"automation-ns:policy:tag\"}\n"
        );
        assert_eq!(
            update("tag: old # {\"$imagepolicy\": \"automation-ns:numeric:tag\"}\n").unwrap(),
            "tag: \"1606234201\" # {\"$imagepolicy\": \"automation-ns:numeric:tag\"}\n"
        );
        for (value, quoted) in [
            ("1.10", true),
            ("yes", true),
            ("null", true),
            ("1e3", true),
            ("0x1F", true),
            ("6.1.1", false),
            ("v1.0.0", false),
            ("ghcr.io/x:1@sha256:ab", false),
            ("a: b", true),
        ] {
            assert_eq!(!plain_safe(value), quoted, "{value}");
        }
    }

    #[test]
    fn invalid_yaml_is_an_error_and_the_tree_walk_reports_it() {
        assert!(update_text("a: [\n  b: {\n", &setters()).is_err());
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("apps/sub")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let marked = "newTag: v1 # {\"$imagepolicy\": \"automation-ns:policy:tag\"}\n";
        std::fs::write(root.join("apps/Kustomization"), marked).unwrap();
        std::fs::write(root.join("apps/sub/a.yml"), marked).unwrap();
        std::fs::write(root.join("apps/notes.txt"), marked).unwrap();
        std::fs::write(root.join("apps/broken.yaml"), format!("{marked}a: [\n")).unwrap();
        std::fs::write(
            root.join("apps/unchanged.yaml"),
            "x: 1 # \"$imagepolicy\"\n",
        )
        .unwrap();
        std::fs::write(root.join(".git/config.yaml"), marked).unwrap();
        let outcome = update_tree(&root, &root, &setters()).unwrap();
        let files: Vec<&String> = outcome.changes.keys().collect();
        assert_eq!(files, ["apps/Kustomization", "apps/sub/a.yml"]);
        assert_eq!(outcome.unreadable.len(), 1);
        assert_eq!(outcome.unreadable[0].0, "apps/broken.yaml");
        assert_eq!(
            std::fs::read_to_string(root.join("apps/notes.txt")).unwrap(),
            marked
        );
        assert_eq!(
            std::fs::read_to_string(root.join(".git/config.yaml")).unwrap(),
            marked
        );
    }
}
