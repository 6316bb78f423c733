//! A Receiver's `resourceFilter`: a CEL expression deciding, per matched resource, whether a
//! webhook call requests its reconcile. It sees the resource as `res` and the request body
//! (JSON) as `req`, and must evaluate to a bool.

use cel::{Context, Program, Value};

pub struct ResourceFilter {
    program: Program,
}

impl ResourceFilter {
    /// Parses the expression; the error says what is wrong with it.
    pub fn compile(expression: &str) -> Result<Self, String> {
        Program::compile(expression)
            .map(|program| Self { program })
            .map_err(|e| format!("invalid spec.resourceFilter: {e}"))
    }

    /// Whether the call should reconcile `resource` (the object as JSON), given the request
    /// body `request`.
    pub fn accepts(
        &self,
        resource: &serde_json::Value,
        request: &serde_json::Value,
    ) -> Result<bool, String> {
        let mut context = Context::default();
        let value = |json: &serde_json::Value| cel::to_value(json).map_err(|e| e.to_string());
        context.add_variable_from_value("res", value(resource)?);
        context.add_variable_from_value("req", value(request)?);
        match self.program.execute(&context) {
            Ok(Value::Bool(accepted)) => Ok(accepted),
            Ok(other) => Err(format!(
                "spec.resourceFilter must evaluate to a bool, got {:?}",
                other.type_of()
            )),
            Err(e) => Err(format!("evaluating spec.resourceFilter: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_see_the_resource_and_the_request() {
        let filter = ResourceFilter::compile(
            "res.metadata.name == 'app' && req.tag.startsWith('v') && 'app' in res.metadata.labels",
        )
        .unwrap();
        let app = json!({"metadata": {"name": "app", "labels": {"app": "x"}}});
        let other = json!({"metadata": {"name": "other", "labels": {"app": "x"}}});
        let request = json!({"tag": "v1.2.3"});
        assert_eq!(filter.accepts(&app, &request), Ok(true));
        assert_eq!(filter.accepts(&other, &request), Ok(false));
        assert_eq!(filter.accepts(&app, &json!({"tag": "latest"})), Ok(false));
    }

    #[test]
    fn bad_expressions_and_non_bool_results_are_errors() {
        assert!(
            ResourceFilter::compile("res.metadata.name ==")
                .err()
                .unwrap()
                .starts_with("invalid spec.resourceFilter")
        );
        let filter = ResourceFilter::compile("res.metadata.name").unwrap();
        let err = filter
            .accepts(&json!({"metadata": {"name": "a"}}), &json!({}))
            .unwrap_err();
        assert!(err.contains("must evaluate to a bool"), "{err}");
        let missing = ResourceFilter::compile("req.nothing.here == 1").unwrap();
        assert!(missing.accepts(&json!({}), &json!({})).is_err());
    }
}
