//! Discord: the Slack payload, posted to the webhook's Slack-compatible endpoint.

use runtime::events::EventPayload;
use serde_json::json;

use super::{Request, Target, slack};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let address = target.address.as_str();
    let url = if address.trim_end_matches('/').ends_with("/slack") {
        address.to_owned()
    } else {
        match address.split_once('?') {
            Some((base, query)) => format!("{}/slack?{query}", base.trim_end_matches('/')),
            None => format!("{}/slack", address.trim_end_matches('/')),
        }
    };
    let mut body = slack::body(target, event);
    // A Discord webhook posts to the channel it was made for.
    body["channel"] = json!("");
    Request::json(url, &body)
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::fixtures::{at, event, one};

    #[test]
    fn discord_posts_to_the_slack_endpoint() {
        let (req, body) = one(
            ProviderType::Discord,
            &at("https://discord.com/api/webhooks/1/x"),
            &event("info"),
        );
        assert_eq!(req.url, "https://discord.com/api/webhooks/1/x/slack");
        assert_eq!(
            body["attachments"][0]["author_name"],
            "OCIRepository/podinfo.apps"
        );
    }
}
