//! Grafana: an annotation tagged with the controller, the metadata and the object.

use runtime::events::EventPayload;
use serde_json::json;

use super::{Request, Target, basic, object_name};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let o = &event.involved_object;
    let mut tags = vec![json!("flux"), json!(event.reporting_controller)];
    for (k, v) in &event.metadata {
        tags.push(json!(format!(
            "{}: {}",
            k.replace(':', "|"),
            v.replace(':', "|")
        )));
    }
    tags.extend([
        json!(format!("kind: {}", o.kind)),
        json!(format!("name: {}", o.name)),
        json!(format!("namespace: {}", o.namespace)),
    ]);
    let when = event
        .timestamp
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .unwrap_or_default();
    let request = Request::json(
        &target.address,
        &json!({"when": when, "text": object_name(event), "tags": tags}),
    );
    let token = target.token();
    match (&target.username, &target.password) {
        _ if !token.is_empty() => request.header("Authorization", format!("Bearer {token}")),
        (Some(user), Some(password)) => request.header("Authorization", basic(user, password)),
        _ => request,
    }
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::Target;
    use super::super::fixtures::{at, event, one};

    #[test]
    fn grafana_annotation_is_tagged_like_fluxs() {
        let (req, body) = one(
            ProviderType::Grafana,
            &Target {
                username: Some("u".into()),
                password: Some("p".into()),
                ..at("http://grafana/api/annotations")
            },
            &event("info"),
        );
        assert_eq!(body["text"], "ocirepository/podinfo.apps");
        assert_eq!(body["tags"][0], "flux");
        assert_eq!(body["tags"][2], "revision: latest@sha256|1");
        assert_eq!(body["when"], 1767225600);
        assert!(
            req.headers
                .iter()
                .any(|(k, v)| k == "Authorization" && v.starts_with("Basic "))
        );
    }
}
