//! PagerDuty Events API v2: errors trigger an incident and other events resolve it (deduped
//! by the object's UID); info events are also recorded as changes.

use runtime::events::{EventPayload, Severity};
use serde_json::json;

use super::{Request, Target, is_error, origin};

/// No request for `Progressing` events; one or two otherwise.
pub(super) fn requests(target: &Target, event: &EventPayload) -> Vec<Request> {
    if event.reason == "Progressing" {
        return Vec::new();
    }
    let base = origin(&target.address);
    let channel = target.channel();
    let o = &event.involved_object;
    let summary_name = format!("{}/{}", o.kind, o.name).to_lowercase();
    let source = format!("Flux {}", event.reporting_controller);
    let details = json!({"message": event.message, "metadata": event.metadata});
    let mut out = Vec::new();
    let mut enqueue =
        json!({"routing_key": channel, "event_action": "resolve", "dedup_key": o.uid});
    if is_error(event) {
        enqueue["event_action"] = json!("trigger");
        enqueue["payload"] = json!({
            "summary": format!("{}: {summary_name}", words(&event.reason)), "source": source,
            "severity": "error", "timestamp": event.timestamp, "component": o.name, "group": o.kind,
            "custom_details": details,
        });
    }
    out.push(Request::json(format!("{base}/v2/enqueue"), &enqueue));
    if event.severity == Severity::Info {
        out.push(Request::json(format!("{base}/v2/change/enqueue"), &json!({
            "routing_key": channel,
            "payload": {"source": source, "summary": format!("{}: {summary_name}", words(&event.reason)), "timestamp": event.timestamp, "custom_details": details},
            "links": null,
        })));
    }
    out
}

/// A reason split on its capitals and lowercased (`ReconciliationFailed` → `reconciliation failed`).
fn words(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::fixtures::{at, event};
    use super::super::{Target, requests};

    #[test]
    fn pagerduty_resolves_or_triggers_and_records_changes() {
        let info = event("info");
        let error = event("error");
        let pd = Target {
            channel: Some("routing".into()),
            ..at("https://events.pagerduty.com/ignored/path")
        };
        let info_requests = requests(ProviderType::PagerDuty, &pd, &info).unwrap();
        assert_eq!(
            info_requests
                .iter()
                .map(|r| r.url.as_str())
                .collect::<Vec<_>>(),
            [
                "https://events.pagerduty.com/v2/enqueue",
                "https://events.pagerduty.com/v2/change/enqueue"
            ]
        );
        let resolve: serde_json::Value = serde_json::from_slice(&info_requests[0].body).unwrap();
        assert_eq!(resolve["event_action"], "resolve");
        let trigger = requests(ProviderType::PagerDuty, &pd, &error).unwrap();
        assert_eq!(trigger.len(), 1);
        let trigger: serde_json::Value = serde_json::from_slice(&trigger[0].body).unwrap();
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(
            trigger["payload"]["summary"],
            "new artifact: ocirepository/podinfo"
        );
        let mut progressing = info.clone();
        progressing.reason = "Progressing".into();
        assert!(
            requests(ProviderType::PagerDuty, &pd, &progressing)
                .unwrap()
                .is_empty()
        );
    }
}
