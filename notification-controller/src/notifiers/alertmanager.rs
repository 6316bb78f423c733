//! Prometheus Alertmanager: one firing alert labelled with the object and the event.

use runtime::events::EventPayload;
use serde_json::json;

use super::{Request, Target, basic, severity_text};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let mut labels = event.metadata.clone();
    let mut annotations = json!({"message": event.message});
    if let Some(summary) = labels.remove("summary") {
        annotations["summary"] = json!(summary);
    }
    let o = &event.involved_object;
    for (k, v) in [
        (
            "alertname",
            format!("Flux{}{}", o.kind, capitalised(&event.reason)),
        ),
        ("severity", severity_text(event)),
        ("reason", event.reason.clone()),
        ("kind", o.kind.clone()),
        ("name", o.name.clone()),
        ("namespace", o.namespace.clone()),
        ("reportingcontroller", event.reporting_controller.clone()),
    ] {
        labels.insert(k.to_owned(), v);
    }
    let body = json!([{
        "status": "firing", "labels": labels, "annotations": annotations,
        "startsAt": event.timestamp, "endsAt": "0001-01-01T00:00:00Z",
    }]);
    let request = Request::json(&target.address, &body);
    let token = target.token();
    match (&target.username, &target.password) {
        (Some(user), Some(password)) => request.header("Authorization", basic(user, password)),
        _ if !token.is_empty() => request.header("Authorization", format!("Bearer {token}")),
        _ => request,
    }
}

/// The first letter upper case, the rest lower (`NewArtifact` → `Newartifact`), as Flux's
/// alert names.
fn capitalised(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase())
        } else {
            out.extend(c.to_lowercase())
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::Target;
    use super::super::fixtures::{at, event, one};

    #[test]
    fn alertmanager_fires_an_alert_labelled_like_fluxs() {
        let error = event("error");
        let (_, body) = one(
            ProviderType::Alertmanager,
            &Target {
                token: Some("t".into()),
                ..at("http://am/api/v2/alerts")
            },
            &error,
        );
        let alert = &body[0];
        assert_eq!(alert["status"], "firing");
        assert_eq!(alert["labels"]["alertname"], "FluxOCIRepositoryNewartifact");
        assert_eq!(alert["labels"]["severity"], "error");
        assert_eq!(alert["labels"]["revision"], "latest@sha256:1");
        assert_eq!(alert["annotations"]["message"], error.message);
    }
}
