//! Transformer configuration: the field spec tables the built-in transformers work from.
//! kustomize's built-in tables live in `fieldspec` (and, for name references, in `nameref`);
//! a kustomization's `configurations` files and `crds` add to them. What is added stays with
//! the build: a base's additions apply to every kustomization above it, and a component's to
//! the kustomization that uses it.

use crate::fieldspec::{self, FieldSpec, merge_spec};
use serde::Deserialize;

/// The field specs a build has added to kustomize's built-in tables (those are not repeated
/// here), by the transformer that uses them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformerConfig {
    #[serde(default)]
    pub name_prefix: Vec<FieldSpec>,
    #[serde(default)]
    pub name_suffix: Vec<FieldSpec>,
    #[serde(default)]
    pub namespace: Vec<FieldSpec>,
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub labels: Vec<FieldSpec>,
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    pub name_reference: Vec<NameBackReference>,
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
}

/// "Objects of this kind are named from these fields of other objects."
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameBackReference {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}

impl TransformerConfig {
    /// A `configurations` file.
    pub fn parse(text: &str) -> Result<TransformerConfig, String> {
        let value = crate::yaml::parse_stream(text)
            .map_err(|e| format!("invalid YAML: {e}"))?
            .pop()
            .unwrap_or(serde_json::Value::Null);
        if value.is_null() {
            return Ok(TransformerConfig::default());
        }
        serde_json::from_value(value).map_err(|e| format!("invalid transformer configuration: {e}"))
    }

    /// Adds what `other` has and this configuration (or the built-in one) lacks.
    pub fn merge(&mut self, other: TransformerConfig) -> Result<(), String> {
        let tables = [
            (&mut self.name_prefix, other.name_prefix, fieldspec::NAME),
            (&mut self.name_suffix, other.name_suffix, fieldspec::NAME),
            (&mut self.namespace, other.namespace, fieldspec::NAMESPACE),
            (
                &mut self.common_labels,
                other.common_labels,
                fieldspec::COMMON_LABELS,
            ),
            (&mut self.labels, other.labels, &[]),
            (
                &mut self.template_labels,
                other.template_labels,
                fieldspec::TEMPLATE_LABELS,
            ),
            (
                &mut self.common_annotations,
                other.common_annotations,
                fieldspec::COMMON_ANNOTATIONS,
            ),
            (
                &mut self.var_reference,
                other.var_reference,
                fieldspec::VAR_REFERENCE,
            ),
            (&mut self.images, other.images, fieldspec::IMAGES),
            (&mut self.replicas, other.replicas, fieldspec::REPLICAS),
        ];
        for (mine, incoming, builtin) in tables {
            for spec in incoming {
                merge_spec(mine, builtin, spec)?;
            }
        }
        for reference in other.name_reference {
            let same_kind = self.name_reference.iter_mut().find(|r| {
                r.group == reference.group
                    && r.version == reference.version
                    && r.kind == reference.kind
            });
            match same_kind {
                Some(existing) => {
                    for spec in reference.field_specs {
                        merge_spec(&mut existing.field_specs, &[], spec)?;
                    }
                }
                None => self.name_reference.push(reference),
            }
        }
        Ok(())
    }

    /// The built-in table followed by what this configuration adds.
    pub fn with_builtin<'a>(
        builtin: &'a [FieldSpec],
        added: &'a [FieldSpec],
    ) -> impl Iterator<Item = &'a FieldSpec> + Clone {
        builtin.iter().chain(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_skips_what_is_there_and_refuses_conflicts() {
        let mut config = TransformerConfig::default();
        let added = TransformerConfig::parse(
            "commonLabels:\n- path: spec/selector/matchLabels\n  kind: MyKind\n  create: true\n\
             - path: metadata/labels\n  create: true\n",
        )
        .unwrap();
        config.merge(added.clone()).unwrap();
        config.merge(added).unwrap();
        // metadata/labels for any kind is built in already.
        assert_eq!(config.common_labels.len(), 1);
        let conflicting =
            TransformerConfig::parse("commonLabels:\n- path: metadata/labels\n").unwrap();
        let error = config.merge(conflicting).unwrap_err();
        assert!(error.contains("conflicting fieldspecs"), "{error}");
    }

    #[test]
    fn name_references_merge_by_kind() {
        let mut config = TransformerConfig::default();
        let text = |path: &str| {
            format!(
                "nameReference:\n- kind: Issuer\n  fieldSpecs:\n  - kind: Certificate\n    path: {path}\n"
            )
        };
        config
            .merge(TransformerConfig::parse(&text("spec/issuerRef/name")).unwrap())
            .unwrap();
        config
            .merge(TransformerConfig::parse(&text("spec/issuerRef/name")).unwrap())
            .unwrap();
        config
            .merge(TransformerConfig::parse(&text("spec/other/name")).unwrap())
            .unwrap();
        assert_eq!(config.name_reference.len(), 1);
        assert_eq!(config.name_reference[0].field_specs.len(), 2);
        assert!(TransformerConfig::parse("nameprefix: []").is_err());
    }
}
