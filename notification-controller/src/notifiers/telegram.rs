//! Telegram: a MarkdownV2 message through the Bot API (no address: the token names the bot).

use runtime::events::EventPayload;
use serde_json::json;

use super::{NotifyError, Request, Target, is_error};

pub(super) fn request(target: &Target, event: &EventPayload) -> Result<Request, NotifyError> {
    let (channel, token) = (target.channel(), target.token());
    if channel.is_empty() || token.is_empty() {
        return Err(NotifyError::Missing("a channel (chat ID) and a token"));
    }
    // `chat:thread` posts into a forum topic.
    let (chat, thread) = match channel.split_once(':') {
        Some((chat, thread)) => (chat, Some(thread)),
        None => (channel, None),
    };
    let o = &event.involved_object;
    let heading = format!(
        "{} {}/{}/{}",
        if is_error(event) { "🚨" } else { "💫" },
        o.kind.to_lowercase(),
        o.name,
        o.namespace
    );
    let mut text = format!("*{}*\n{}\n", escape(&heading), escape(&event.message));
    for (k, v) in &event.metadata {
        text.push_str(&format!("\\- *{}*: {}\n", escape(k), escape(v)));
    }
    let mut body = json!({"chat_id": chat, "text": text, "parse_mode": "MarkdownV2"});
    if let Some(thread) = thread {
        body["message_thread_id"] = json!(thread);
    }
    Ok(Request::json(
        format!("https://api.telegram.org/bot{token}/sendMessage"),
        &body,
    ))
}

/// Escapes text for Telegram's MarkdownV2.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\._-[]()~>`#+=|{}!*".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::Target;
    use super::super::fixtures::{event, one};
    use super::escape;

    #[test]
    fn telegram_sends_markdown_v2_to_the_chat_and_thread() {
        let telegram = Target {
            channel: Some("-100:42".into()),
            token: Some("123:abc".into()),
            ..Target::default()
        };
        let (req, body) = one(ProviderType::Telegram, &telegram, &event("info"));
        assert_eq!(req.url, "https://api.telegram.org/bot123:abc/sendMessage");
        assert_eq!(
            (
                body["chat_id"].as_str(),
                body["message_thread_id"].as_str(),
                body["parse_mode"].as_str()
            ),
            (Some("-100"), Some("42"), Some("MarkdownV2"))
        );
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("*💫 ocirepository/podinfo/apps*\n"),
            "{}",
            body["text"]
        );
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains("\\- *revision*: latest@sha256:1"),
            "{}",
            body["text"]
        );
    }

    #[test]
    fn markdown_v2_reserved_characters_are_escaped() {
        assert_eq!(
            escape("a_b*c [x](y) #1!"),
            "a\\_b\\*c \\[x\\]\\(y\\) \\#1\\!"
        );
        assert_eq!(escape("plain text"), "plain text");
    }
}
