//! Webex: a markdown message, into the channel's room when one is set.

use runtime::events::EventPayload;
use serde_json::json;

use super::{Request, Target, is_error, object_name};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let mut markdown = format!(
        "{} **{}**\n{}\n",
        if is_error(event) { "💣" } else { "✅" },
        object_name(event),
        event.message
    );
    for (k, v) in &event.metadata {
        markdown.push_str(&format!(">**{k}**: {v}\n"));
    }
    let mut body = json!({"markdown": markdown});
    let channel = target.channel();
    if !channel.is_empty() {
        body["roomId"] = json!(channel);
    }
    Request::json(&target.address, &body)
        .header("Authorization", format!("Bearer {}", target.token()))
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::Target;
    use super::super::fixtures::{at, event, one};

    #[test]
    fn webex_posts_markdown_to_the_room() {
        let webex = Target {
            channel: Some("room1".into()),
            token: Some("tok".into()),
            ..at("https://webexapis.com/v1/messages")
        };
        let (req, body) = one(ProviderType::Webex, &webex, &event("error"));
        assert_eq!(body["roomId"], "room1");
        assert!(
            body["markdown"]
                .as_str()
                .unwrap()
                .starts_with("💣 **ocirepository/podinfo.apps**\n")
        );
        assert!(
            req.headers
                .contains(&("Authorization".to_owned(), "Bearer tok".to_owned()))
        );
    }
}
