//! A Receiver's `resourceFilter`: a CEL expression deciding, per matched resource, whether a
//! webhook call requests its reconcile. It sees the resource as `res` and the request body
//! (JSON) as `req`, and must evaluate to a bool.

use cel_eval::Expression;

pub struct ResourceFilter {
    expression: Expression,
}

impl ResourceFilter {
    /// Parses the expression; the error says what is wrong with it.
    pub fn compile(source: &str) -> Result<Self, String> {
        Expression::parse(source)
            .map(|expression| Self { expression })
            .map_err(|e| format!("invalid spec.resourceFilter: {e}"))
    }

    /// Whether the call should reconcile `resource` (the object as JSON), given the request
    /// body `request`.
    pub fn accepts(
        &self,
        resource: &serde_json::Value,
        request: &serde_json::Value,
    ) -> Result<bool, String> {
        self.expression
            .evaluate_bool([("res", resource), ("req", request)])
            .map_err(|e| format!("spec.resourceFilter: {e}"))
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
        assert!(
            ResourceFilter::compile("res.metadata.name ==")
                .err()
                .unwrap()
                .starts_with("invalid spec.resourceFilter")
        );
    }
}
