//! `values.schema.json`: the coalesced values checked against the chart's JSON Schema and
//! each subchart's (with its own part of the values), as Helm does before rendering.

use gotemplate::{Map, Value};

use crate::RenderError;
use crate::chart::Chart;

/// Every schema violation of `chart` and its subcharts, in Helm's report form.
pub fn validate(chart: &Chart, values: &Map) -> Result<(), RenderError> {
    let mut report = String::new();
    check(chart, &Value::map(values.clone()).to_json(), &mut report)?;
    if report.is_empty() {
        return Ok(());
    }
    Err(RenderError::Invalid(format!(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{report}"
    )))
}

/// A violation worded as Helm's validator words the common ones (`missing property 'x'`,
/// `got string, want integer`, `minimum: got 11, want 10`); others in the validator's words.
fn message(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind as Kind};
    let number = |value: &serde_json::Value| match value.as_f64() {
        Some(f) => gotemplate::format_float(f),
        None => value.to_string(),
    };
    let instance = error.instance();
    match error.kind() {
        Kind::Required { property } => {
            format!(
                "missing property '{}'",
                property.as_str().unwrap_or_default()
            )
        }
        Kind::Type { kind } => {
            let want: Vec<&str> = match kind {
                TypeKind::Single(t) => vec![t.as_str()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).collect(),
            };
            format!("got {}, want {}", json_type(instance), want.join(" or "))
        }
        Kind::Minimum { limit } => {
            format!("minimum: got {}, want {}", number(instance), number(limit))
        }
        Kind::Maximum { limit } => {
            format!("maximum: got {}, want {}", number(instance), number(limit))
        }
        Kind::ExclusiveMinimum { limit } => {
            format!(
                "exclusiveMinimum: got {}, want {}",
                number(instance),
                number(limit)
            )
        }
        Kind::ExclusiveMaximum { limit } => {
            format!(
                "exclusiveMaximum: got {}, want {}",
                number(instance),
                number(limit)
            )
        }
        Kind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| match o {
                    serde_json::Value::String(s) => format!("'{s}'"),
                    other => other.to_string(),
                })
                .collect();
            format!("value must be one of {}", options.join(", "))
        }
        Kind::AdditionalProperties { unexpected } => {
            let names: Vec<String> = unexpected.iter().map(|n| format!("'{n}'")).collect();
            format!("additional properties {} not allowed", names.join(", "))
        }
        _ => error.to_string(),
    }
}

/// The JSON type name Helm's validator reports for a value.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn check(
    chart: &Chart,
    values: &serde_json::Value,
    report: &mut String,
) -> Result<(), RenderError> {
    if let Some(schema) = &chart.schema {
        let schema: serde_json::Value = serde_json::from_slice(schema).map_err(|e| {
            RenderError::Invalid(format!(
                "{}: values.schema.json is not JSON: {e}",
                chart.name()
            ))
        })?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| {
            RenderError::Invalid(format!(
                "{}: values.schema.json is not a valid schema: {e}",
                chart.name()
            ))
        })?;
        let violations: Vec<String> = validator
            .iter_errors(values)
            .map(|e| format!("- at '{}': {}\n", e.instance_path(), message(&e)))
            .collect();
        if !violations.is_empty() {
            report.push_str(&format!("{}:\n{}", chart.name(), violations.concat()));
        }
    }
    for sub in &chart.dependencies {
        match values.get(sub.name()) {
            None | Some(serde_json::Value::Null) => {}
            Some(own @ serde_json::Value::Object(_)) => check(sub, own, report)?,
            Some(_) => report.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.name(),
                Value::from(values[sub.name()].clone()).type_name()
            )),
        }
    }
    Ok(())
}
