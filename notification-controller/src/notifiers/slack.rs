//! Slack: an incoming webhook, or `chat.postMessage` with a bot token.

use runtime::events::EventPayload;
use serde_json::Value;

use super::{Request, Target, is_error, slack_body};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let mut request = Request::json(&target.address, &body(target, event));
    let token = target.token();
    if !token.is_empty() {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    request.check_slack_ok = target.address.contains("chat.postMessage");
    request
}

/// Slack's payload as Slack and Discord send it: posted as the reporting controller unless
/// a username is set.
pub(super) fn body(target: &Target, event: &EventPayload) -> Value {
    let username = target
        .username
        .as_deref()
        .unwrap_or(&event.reporting_controller);
    slack_body(
        target,
        event,
        username,
        if is_error(event) { "danger" } else { "good" },
    )
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;
    use serde_json::json;

    use super::super::fixtures::event;
    use super::super::{Target, requests};

    #[test]
    fn slack_payload_is_fluxs() {
        let target = Target {
            address: "https://hooks.slack.com/services/x".into(),
            channel: Some("general".into()),
            ..Target::default()
        };
        let req = requests(ProviderType::Slack, &target, &event("info"))
            .unwrap()
            .remove(0);
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "channel": "general", "username": "source-controller", "icon_url": "", "icon_emoji": "",
                "attachments": [{
                    "fallback": "OCIRepository/podinfo.apps: stored artifact with revision 'latest@sha256:1'",
                    "color": "good", "author_name": "OCIRepository/podinfo.apps",
                    "text": "stored artifact with revision 'latest@sha256:1'\nsecond line",
                    "mrkdwn_in": ["text"],
                    "fields": [{"title": "revision", "value": "latest@sha256:1", "short": false}]
                }]
            })
        );
        assert!(!req.check_slack_ok);
        let error = requests(ProviderType::Slack, &target, &event("error"))
            .unwrap()
            .remove(0);
        let body: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
        assert_eq!(body["attachments"][0]["color"], "danger");

        let bot = Target {
            address: "https://slack.com/api/chat.postMessage".into(),
            token: Some("xoxb-1".into()),
            username: Some("flux".into()),
            ..Target::default()
        };
        let req = requests(ProviderType::Slack, &bot, &event("info"))
            .unwrap()
            .remove(0);
        assert!(req.check_slack_ok);
        assert!(
            req.headers
                .contains(&("Authorization".to_owned(), "Bearer xoxb-1".to_owned()))
        );
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["username"], "flux");
    }
}
