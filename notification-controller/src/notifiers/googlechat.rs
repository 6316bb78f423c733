//! Google Chat: a card with the message and the metadata as key-value widgets.

use runtime::events::EventPayload;
use serde_json::{Value, json};

use super::{Request, Target, is_error, object_name};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let text = if is_error(event) {
        format!("<font color=\"#ff0000\">{}</font>", event.message)
    } else {
        event.message.clone()
    };
    let mut sections = vec![
        json!({"header": "", "widgets": [{"textParagraph": {"text": text}, "keyValue": null}]}),
    ];
    if !event.metadata.is_empty() {
        let widgets: Vec<Value> = event.metadata.iter().map(|(k, v)| json!({
            "textParagraph": null,
            "keyValue": {"topLabel": k, "content": v, "contentMultiline": false, "bottomLabel": null, "icon": null}
        })).collect();
        sections.push(json!({"header": "", "widgets": widgets}));
    }
    Request::json(
        &target.address,
        &json!({"cards": [{
            "header": {"title": object_name(event), "subtitle": event.reporting_controller, "imageUrl": null, "imageStyle": null},
            "sections": sections,
        }]}),
    )
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::fixtures::{at, event, one};

    #[test]
    fn googlechat_card_has_the_object_the_message_and_the_metadata() {
        let (_, body) = one(
            ProviderType::GoogleChat,
            &at("https://chat.googleapis.com/x"),
            &event("error"),
        );
        assert_eq!(
            body["cards"][0]["header"]["title"],
            "ocirepository/podinfo.apps"
        );
        assert!(
            body["cards"][0]["sections"][0]["widgets"][0]["textParagraph"]["text"]
                .as_str()
                .unwrap()
                .starts_with("<font color=\"#ff0000\">")
        );
        assert_eq!(
            body["cards"][0]["sections"][1]["widgets"][0]["keyValue"]["topLabel"],
            "revision"
        );
    }
}
