//! Matrix: an `m.text` message put into a room, idempotent per event.

use runtime::events::EventPayload;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Method, NotifyError, Request, Target, is_error, object_name};

pub(super) fn request(target: &Target, event: &EventPayload) -> Result<Request, NotifyError> {
    let (channel, token) = (target.channel(), target.token());
    if channel.is_empty() || token.is_empty() {
        return Err(NotifyError::Missing("a channel (room ID) and a token"));
    }
    let mut text = format!(
        "{} {}\n{}\n",
        if is_error(event) { "🚨" } else { "💫" },
        object_name(event),
        event.message
    );
    for (k, v) in &event.metadata {
        text.push_str(&format!("- {k}: {v}\n"));
    }
    let txn = hex::encode(transaction_id(
        &serde_json::to_vec(event).expect("events serialise"),
    ));
    let url = format!(
        "{}/_matrix/client/r0/rooms/{channel}/send/m.room.message/{txn}",
        target.address.trim_end_matches('/')
    );
    let mut request = Request::json(url, &json!({"body": text, "msgtype": "m.text"}))
        .header("Authorization", format!("Bearer {token}"));
    request.method = Method::Put;
    Ok(request)
}

/// A Matrix transaction ID: stable per event, so a retried send is not posted twice
/// (Flux uses SHA-1; the first 20 bytes of SHA-256 serve the same purpose).
fn transaction_id(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes)[..20].to_vec()
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::fixtures::{at, event, one};
    use super::super::{Method, Target};

    #[test]
    fn matrix_puts_a_text_message_into_the_room() {
        let matrix = Target {
            channel: Some("!room:example.org".into()),
            token: Some("tok".into()),
            ..at("https://matrix.example.org")
        };
        let (req, body) = one(ProviderType::Matrix, &matrix, &event("info"));
        assert_eq!(req.method, Method::Put);
        assert!(req.url.starts_with("https://matrix.example.org/_matrix/client/r0/rooms/!room:example.org/send/m.room.message/"));
        assert_eq!(body["msgtype"], "m.text");
        assert!(
            body["body"]
                .as_str()
                .unwrap()
                .ends_with("- revision: latest@sha256:1\n")
        );
    }
}
