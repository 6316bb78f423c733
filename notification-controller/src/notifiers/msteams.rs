//! Microsoft Teams: a MessageCard for Office 365 connector webhooks, an Adaptive Card for
//! Power Automate workflows (every other address).

use runtime::events::EventPayload;
use serde_json::{Value, json};

use super::{Request, Target, is_error, object_name};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let address = target.address.as_str();
    let host = address
        .split_once("://")
        .map_or(address, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    let body = if host.ends_with(".webhook.office.com") {
        message_card(event)
    } else {
        adaptive_card(event)
    };
    Request::json(address, &body)
}

fn message_card(event: &EventPayload) -> Value {
    let name = object_name(event);
    let facts: Vec<Value> = event
        .metadata
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({
        "@type": "MessageCard", "@context": "http://schema.org/extensions",
        "themeColor": if is_error(event) { "FF0000" } else { "0076D7" }, "summary": name,
        "sections": [{"activityTitle": event.message, "activitySubtitle": name, "facts": facts}],
    })
}

fn adaptive_card(event: &EventPayload) -> Value {
    let mut facts: Vec<Value> = Vec::new();
    if let Some(summary) = event.metadata.get("summary") {
        facts.push(json!({"title": "summary", "value": summary}));
    }
    facts.extend(
        event
            .metadata
            .iter()
            .filter(|(k, _)| *k != "summary")
            .map(|(k, v)| json!({"title": k, "value": v})),
    );
    let mut message = json!({"type": "TextBlock", "text": event.message, "wrap": true});
    if is_error(event) {
        message["color"] = json!("attention");
    }
    let mut items = vec![
        json!({"type": "TextBlock", "text": object_name(event), "size": "large", "weight": "bolder", "wrap": true}),
        message,
    ];
    if !facts.is_empty() {
        items.push(json!({"type": "FactSet", "facts": facts}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard", "version": "1.4",
                "body": [{"type": "Container", "items": items}],
                "msteams": {"width": "Full"},
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;
    use serde_json::json;

    use super::super::fixtures::{at, event, one};

    #[test]
    fn msteams_sends_a_message_card_to_connectors_and_an_adaptive_card_elsewhere() {
        let (_, body) = one(
            ProviderType::MsTeams,
            &at("https://org.webhook.office.com/x"),
            &event("info"),
        );
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(
            body["sections"][0]["activitySubtitle"],
            "ocirepository/podinfo.apps"
        );
        assert_eq!(
            body["sections"][0]["facts"][0],
            json!({"name": "revision", "value": "latest@sha256:1"})
        );
        let (_, body) = one(
            ProviderType::MsTeams,
            &at("https://prod.workflows.example/x"),
            &event("error"),
        );
        let items = &body["attachments"][0]["content"]["body"][0]["items"];
        assert_eq!(items[1]["color"], "attention");
        assert_eq!(items[2]["facts"][0]["title"], "revision");
    }
}
