//! The commit message: `messageTemplate` run by the Go template engine with sprig's hermetic
//! functions, over Flux's data: `.AutomationObject`, `.Changed` (`FileChanges`, `Objects`,
//! `Changes`), `.Values`, and the older `.Updated` (`Images`, `Files`, `Objects`) that
//! `v1beta1` templates use.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use api::image::ImageRef;
use gotemplate::{Map, Object, Set, Value};

use crate::setters::{Change, FileChanges, ObjectId, Setters};

pub const DEFAULT_MESSAGE: &str = "Update from image update automation";
/// Templates are user input: execution stops after this many steps.
const MAX_STEPS: u64 = 1_000_000;

/// sprig's functions that read the clock, the environment, the network or randomness, left
/// out as sprig's `HermeticTxtFuncMap` does.
const NON_HERMETIC: &[&str] = &[
    "date",
    "date_in_zone",
    "date_modify",
    "now",
    "htmlDate",
    "htmlDateInZone",
    "dateInZone",
    "dateModify",
    "env",
    "expandenv",
    "getHostByName",
    "randAlphaNum",
    "randAlpha",
    "randAscii",
    "randNumeric",
    "randBytes",
    "uuidv4",
];

/// What the template sees.
pub struct TemplateData<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub changes: &'a FileChanges,
    pub values: &'a BTreeMap<String, String>,
    pub setters: &'a Setters,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("unable to create commit message template from spec: {0}")]
    Parse(String),
    #[error("failed to run template from spec: {0}")]
    Execute(String),
}

pub fn render(template: Option<&str>, data: &TemplateData<'_>) -> Result<String, MessageError> {
    let Some(template) = template.filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_MESSAGE.to_owned());
    };
    let mut set = Set::new();
    let mut funcs = sprig::functions();
    funcs.retain(|name, _| !NON_HERMETIC.contains(&name.as_str()));
    set.add_funcs(funcs);
    set.parse("commit message", template)
        .map_err(|e| MessageError::Parse(e.to_string()))?;
    set.execute_bounded("commit message", &data_value(data), MAX_STEPS)
        .map_err(|e| MessageError::Execute(e.to_string()))
}

fn data_value(data: &TemplateData<'_>) -> Value {
    let mut root = Map::new();
    root.insert(
        "AutomationObject".into(),
        Value::Object(Arc::new(Struct::new(
            "types.NamespacedName",
            format!("{}/{}", data.namespace, data.name),
            [
                ("Namespace", Value::string(data.namespace)),
                ("Name", Value::string(data.name)),
            ],
        ))),
    );
    root.insert(
        "Changed".into(),
        Value::Object(Arc::new(Changed(data.changes.clone()))),
    );
    root.insert(
        "Values".into(),
        Value::map(
            data.values
                .iter()
                .map(|(k, v)| (k.clone(), Value::string(v.as_str())))
                .collect(),
        ),
    );
    root.insert("Updated".into(), updated(data.changes, data.setters));
    Value::map(root)
}

/// A Go struct: named fields and how `%v` prints it.
struct Struct {
    type_name: &'static str,
    display: String,
    fields: BTreeMap<&'static str, Value>,
}

impl Struct {
    fn new<const N: usize>(
        type_name: &'static str,
        display: String,
        fields: [(&'static str, Value); N],
    ) -> Self {
        Self {
            type_name,
            display,
            fields: fields.into_iter().collect(),
        }
    }
}

impl Object for Struct {
    fn type_name(&self) -> &str {
        self.type_name
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.fields.get(name).cloned()
    }
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn display(&self) -> String {
        self.display.clone()
    }
}

fn object_id(id: &ObjectId) -> Value {
    Value::Object(Arc::new(Struct::new(
        "yaml.ResourceIdentifier",
        format!(
            "{{{{{} {}}} {{{} {}}}}}",
            id.api_version, id.kind, id.name, id.namespace
        ),
        [
            ("APIVersion", Value::string(id.api_version.as_str())),
            ("Kind", Value::string(id.kind.as_str())),
            ("Name", Value::string(id.name.as_str())),
            ("Namespace", Value::string(id.namespace.as_str())),
        ],
    )))
}

fn change(change: &Change) -> Value {
    Value::Object(Arc::new(Struct::new(
        "update.Change",
        format!(
            "{{{} {} {}}}",
            change.old_value, change.new_value, change.setter
        ),
        [
            ("OldValue", Value::string(change.old_value.as_str())),
            ("NewValue", Value::string(change.new_value.as_str())),
            ("Setter", Value::string(change.setter.as_str())),
        ],
    )))
}

/// A Go map keyed by `ObjectIdentifier` (ranged in sorted order here; Go's is random).
struct ObjectMap<T: Clone + Send + Sync> {
    entries: BTreeMap<ObjectId, Vec<T>>,
    element: fn(&T) -> Value,
}

impl<T: Clone + Send + Sync> Object for ObjectMap<T> {
    fn type_name(&self) -> &str {
        "map[yaml.ResourceIdentifier]"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn display(&self) -> String {
        let entries: Vec<String> = self
            .keyed_entries()
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}:{}",
                    gotemplate::sprint(std::slice::from_ref(k)),
                    gotemplate::sprint(std::slice::from_ref(v))
                )
            })
            .collect();
        format!("map[{}]", entries.join(" "))
    }
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.keyed_entries()?
                .into_iter()
                .map(|(k, v)| (gotemplate::sprint(std::slice::from_ref(&k)), v))
                .collect(),
        )
    }
    fn keyed_entries(&self) -> Option<Vec<(Value, Value)>> {
        Some(
            self.entries
                .iter()
                .map(|(id, items)| {
                    (
                        object_id(id),
                        Value::list(items.iter().map(self.element).collect()),
                    )
                })
                .collect(),
        )
    }
}

/// `.Changed`: `FileChanges`, and the `Objects` and `Changes` methods.
struct Changed(FileChanges);

impl Object for Changed {
    fn type_name(&self) -> &str {
        "update.Result"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "FileChanges" => Some(Value::map(
                self.0
                    .iter()
                    .map(|(file, objects)| {
                        let objects = ObjectMap {
                            entries: objects.clone(),
                            element: change,
                        };
                        (file.clone(), Value::Object(Arc::new(objects)))
                    })
                    .collect(),
            )),
            "Objects" => {
                let mut merged: BTreeMap<ObjectId, Vec<Change>> = BTreeMap::new();
                for objects in self.0.values() {
                    for (id, changes) in objects {
                        merged
                            .entry(id.clone())
                            .or_default()
                            .extend(changes.iter().cloned());
                    }
                }
                Some(Value::Object(Arc::new(ObjectMap {
                    entries: merged,
                    element: change,
                })))
            }
            "Changes" => {
                let unique: BTreeSet<&Change> =
                    self.0.values().flat_map(|o| o.values().flatten()).collect();
                Some(Value::list(unique.into_iter().map(change).collect()))
            }
            _ => None,
        }
    }
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn display(&self) -> String {
        "{map[...]}".to_owned()
    }
}

/// An image as the older `.Updated` lists it.
fn image_ref(policy: &str, image: &ImageRef) -> Value {
    let reference = format!("{}:{}", image.name, image.tag);
    let (registry, repository) = match image.name.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
        _ => ("index.docker.io", image.name.as_str()),
    };
    let (namespace, name) = policy.split_once(':').unwrap_or(("", policy));
    let policy = Struct::new(
        "types.NamespacedName",
        format!("{namespace}/{name}"),
        [
            ("Namespace", Value::string(namespace)),
            ("Name", Value::string(name)),
        ],
    );
    Value::Object(Arc::new(Struct::new(
        "update.imageRef",
        reference.clone(),
        [
            ("String", Value::string(reference)),
            ("Identifier", Value::string(image.tag.as_str())),
            ("Repository", Value::string(repository)),
            ("Registry", Value::string(registry)),
            ("Name", Value::string(image.name.as_str())),
            ("Policy", Value::Object(Arc::new(policy))),
        ],
    )))
}

/// `.Updated` of `v1beta1` templates: `Images` (each policy image that changed something),
/// `Files` (by file, `Objects` of images) and `Objects` (images by object).
fn updated(changes: &FileChanges, setters: &Setters) -> Value {
    let mut images: BTreeMap<&str, &ImageRef> = BTreeMap::new();
    let mut files = Map::new();
    let mut all_objects: BTreeMap<ObjectId, Vec<(String, ImageRef)>> = BTreeMap::new();
    for (file, objects) in changes {
        let mut file_objects: BTreeMap<ObjectId, Vec<(String, ImageRef)>> = BTreeMap::new();
        for (id, object_changes) in objects {
            for c in object_changes {
                if let Some((policy, image)) = setters.image_of(&c.setter) {
                    images.insert(policy, image);
                    let entry = (policy.to_owned(), image.clone());
                    file_objects
                        .entry(id.clone())
                        .or_default()
                        .push(entry.clone());
                    all_objects.entry(id.clone()).or_default().push(entry);
                }
            }
        }
        let objects = ObjectMap {
            entries: file_objects,
            element: |(policy, image)| image_ref(policy, image),
        };
        let mut file_result = Map::new();
        file_result.insert("Objects".into(), Value::Object(Arc::new(objects)));
        files.insert(file.clone(), Value::map(file_result));
    }
    let mut result = Map::new();
    result.insert(
        "Images".into(),
        Value::list(images.into_iter().map(|(p, i)| image_ref(p, i)).collect()),
    );
    result.insert("Files".into(), Value::map(files));
    result.insert(
        "Objects".into(),
        Value::Object(Arc::new(ObjectMap {
            entries: all_objects,
            element: |(policy, image)| image_ref(policy, image),
        })),
    );
    Value::map(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (FileChanges, Setters) {
        let image = ImageRef {
            name: "127.0.0.1:5000/manifests/podinfo".into(),
            tag: "6.1.1".into(),
            digest: None,
        };
        let setters = Setters::new([("flux-system", "podinfo-oci", &image)]);
        let id = ObjectId {
            api_version: "source.toolkit.fluxcd.io/v1".into(),
            kind: "OCIRepository".into(),
            name: "podinfo".into(),
            namespace: "flux-system".into(),
        };
        let change = Change {
            old_value: "6.1.0".into(),
            new_value: "6.1.1".into(),
            setter: "flux-system:podinfo-oci:tag".into(),
        };
        let changes: FileChanges = [(
            "clusters/my-cluster/podinfo.yaml".to_owned(),
            [(id, vec![change])].into(),
        )]
        .into();
        (changes, setters)
    }

    fn render_with(template: &str) -> Result<String, MessageError> {
        let (changes, setters) = fixture();
        let values: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())].into();
        render(
            Some(template),
            &TemplateData {
                namespace: "flux-system",
                name: "flux-system",
                changes: &changes,
                values: &values,
                setters: &setters,
            },
        )
    }

    #[test]
    fn the_v1beta1_seed_template_lists_the_updated_images() {
        assert_eq!(
            render_with("{{range .Updated.Images}}{{println .}}{{end}}").unwrap(),
            "127.0.0.1:5000/manifests/podinfo:6.1.1\n"
        );
    }

    #[test]
    fn fluxs_documented_v1_template_renders() {
        let template = r#"Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
env={{ .Values.env }} {{ len .Changed.Changes }} {{ "x" | upper }}"#;
        assert_eq!(
            render_with(template).unwrap(),
            "Automated image update\n\nAutomation name: flux-system/flux-system\n\nFiles:\n- clusters/my-cluster/podinfo.yaml\nObjects:\n- OCIRepository podinfo\n  Changes:\n    - 6.1.0 -> 6.1.1\nenv=prod 1 X"
        );
    }

    #[test]
    fn no_template_gives_the_default_and_bad_ones_say_why() {
        let (changes, setters) = fixture();
        let values = BTreeMap::new();
        let data = TemplateData {
            namespace: "ns",
            name: "n",
            changes: &changes,
            values: &values,
            setters: &setters,
        };
        assert_eq!(render(None, &data).unwrap(), DEFAULT_MESSAGE);
        assert!(matches!(
            render_with("{{ .Oops"),
            Err(MessageError::Parse(_))
        ));
        assert!(matches!(
            render_with("{{ now }}"),
            Err(MessageError::Parse(_))
        ));
        assert!(matches!(
            render_with("{{ .Values.env.x.y }}"),
            Err(MessageError::Execute(_))
        ));
    }
}
