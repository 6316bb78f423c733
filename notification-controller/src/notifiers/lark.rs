//! Lark (Feishu): an interactive card, red for errors.

use runtime::events::EventPayload;
use serde_json::json;

use super::{Request, Target, is_error, object_name};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let error = is_error(event);
    let mut content = format!("**{}**\n\n", event.message);
    for (k, v) in &event.metadata {
        content.push_str(&format!("{k}: {v}\n"));
    }
    Request::json(
        &target.address,
        &json!({
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": true},
                "header": {
                    "title": {"tag": "plain_text", "content": format!("{} {}", if error { "🚨" } else { "💫" }, object_name(event))},
                    "template": if error { "red" } else { "turquoise" },
                },
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": content}}],
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::fixtures::{at, event, one};

    #[test]
    fn lark_card_is_red_for_errors() {
        let (_, body) = one(
            ProviderType::Lark,
            &at("https://open.feishu.cn/x"),
            &event("error"),
        );
        assert_eq!(body["card"]["header"]["template"], "red");
        assert_eq!(
            body["card"]["header"]["title"]["content"],
            "🚨 ocirepository/podinfo.apps"
        );
    }
}
