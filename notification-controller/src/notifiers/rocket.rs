//! Rocket.Chat: the Slack payload with Rocket's colours.

use runtime::events::EventPayload;

use super::{Request, Target, is_error, slack_body};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let username = target.username.as_deref().unwrap_or_default();
    let color = if is_error(event) {
        "#FF0000"
    } else {
        "#0076D7"
    };
    Request::json(&target.address, &slack_body(target, event, username, color))
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::Target;
    use super::super::fixtures::{at, event, one};

    #[test]
    fn rocket_keeps_the_channel_and_colours_errors_red() {
        let (_, body) = one(
            ProviderType::Rocket,
            &Target {
                channel: Some("ops".into()),
                ..at("https://rocket/hooks/x")
            },
            &event("error"),
        );
        assert_eq!(
            (
                body["channel"].as_str(),
                body["attachments"][0]["color"].as_str()
            ),
            (Some("ops"), Some("#FF0000"))
        );
    }
}
