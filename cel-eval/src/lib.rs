//! CEL expressions as Flux uses them (health checks, dependency readiness, Receiver filters):
//! parsed once, evaluated against JSON variables, with Flux's error messages.

use cel::{Context, Program, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CelError {
    #[error("failed to parse the CEL expression '{expression}': {reason}")]
    Parse { expression: String, reason: String },
    #[error("failed to evaluate the CEL expression '{expression}': {reason}")]
    Evaluate { expression: String, reason: String },
    #[error("failed to evaluate CEL expression as boolean: '{expression}'")]
    NotBoolean { expression: String },
}

/// A parsed expression.
pub struct Expression {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl Expression {
    pub fn parse(source: &str) -> Result<Self, CelError> {
        Program::compile(source)
            .map(|program| Self {
                source: source.to_owned(),
                program,
            })
            .map_err(|e| CelError::Parse {
                expression: source.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Evaluates to a bool with the given variables.
    pub fn evaluate_bool<'a>(
        &self,
        variables: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
    ) -> Result<bool, CelError> {
        let failed = |reason: String| CelError::Evaluate {
            expression: self.source.clone(),
            reason,
        };
        let mut context = Context::default();
        for (name, value) in variables {
            let value = cel::to_value(value).map_err(|e| failed(e.to_string()))?;
            context.add_variable_from_value(name, value);
        }
        match self.program.execute(&context) {
            Ok(Value::Bool(result)) => Ok(result),
            Ok(_) => Err(CelError::NotBoolean {
                expression: self.source.clone(),
            }),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// Evaluates to a bool with each top-level field of `object` as a variable (`status`,
    /// `metadata`, …), as Flux's health check expressions see a custom resource.
    pub fn evaluate_bool_on_fields(&self, object: &serde_json::Value) -> Result<bool, CelError> {
        let fields = object.as_object().into_iter().flatten();
        self.evaluate_bool(fields.map(|(name, value)| (name.as_str(), value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expressions_see_their_variables_and_must_be_bool() {
        let e = Expression::parse("res.metadata.name == 'app' && req.tag.startsWith('v')").unwrap();
        let app = json!({"metadata": {"name": "app"}});
        assert_eq!(
            e.evaluate_bool([("res", &app), ("req", &json!({"tag": "v1"}))]),
            Ok(true)
        );
        assert_eq!(
            e.evaluate_bool([("res", &app), ("req", &json!({"tag": "x"}))]),
            Ok(false)
        );
        let not_bool = Expression::parse("res.metadata.name").unwrap();
        assert_eq!(
            not_bool
                .evaluate_bool([("res", &app)])
                .unwrap_err()
                .to_string(),
            "failed to evaluate CEL expression as boolean: 'res.metadata.name'"
        );
        let missing = Expression::parse("req.nothing == 1").unwrap();
        assert!(matches!(
            missing.evaluate_bool([("req", &json!({}))]),
            Err(CelError::Evaluate { .. })
        ));
        assert!(
            Expression::parse("a ==")
                .unwrap_err()
                .to_string()
                .starts_with("failed to parse the CEL expression 'a =='")
        );
    }

    #[test]
    fn health_expressions_see_the_object_fields() {
        let ready = Expression::parse(
            "status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True')",
        )
        .unwrap();
        let object = json!({"metadata": {"generation": 1},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(ready.evaluate_bool_on_fields(&object), Ok(true));
        // has() guards fields a progressing resource does not have yet (Flux's cheatsheet).
        let guarded = Expression::parse(
            "has(status.conditions) && status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
        )
        .unwrap();
        assert_eq!(guarded.evaluate_bool_on_fields(&object), Ok(true));
        assert_eq!(
            guarded.evaluate_bool_on_fields(&json!({"status": {}})),
            Ok(false)
        );
    }
}
