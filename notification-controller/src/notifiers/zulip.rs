//! Zulip: a stream message posted as a form with the bot's basic credentials.

use runtime::events::EventPayload;

use super::{Method, NotifyError, Request, Target, basic, is_error, origin};

pub(super) fn request(target: &Target, event: &EventPayload) -> Result<Request, NotifyError> {
    let Some((stream, topic)) = target
        .channel()
        .split_once('/')
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
    else {
        return Err(NotifyError::Missing(
            "a channel of the form '<stream>/<topic>'",
        ));
    };
    let (Some(user), Some(password)) = (&target.username, &target.password) else {
        return Err(NotifyError::Missing("a username and a password"));
    };
    let o = &event.involved_object;
    let mut content = format!(
        "## Flux Status\n\n{} {}/{}/{}\n\n{}\n\nMetadata:\n",
        if is_error(event) { "⚠️" } else { "ℹ️" },
        o.kind,
        o.namespace,
        o.name,
        event.message
    );
    for (k, v) in &event.metadata {
        content.push_str(&format!("* `{k}`: {v}\n"));
    }
    let form = form_encode(&[
        ("type", "stream"),
        ("to", stream),
        ("topic", topic),
        ("content", &content),
    ]);
    Ok(Request {
        method: Method::Post,
        url: format!("{}/api/v1/messages", origin(&target.address)),
        body: form.into_bytes(),
        headers: vec![
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("Authorization".to_owned(), basic(user, password)),
        ],
        check_slack_ok: false,
    })
}

/// `application/x-www-form-urlencoded` of key/value pairs.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::fixtures::{at, event, one};
    use super::super::{Target, requests};
    use super::form_encode;

    #[test]
    fn zulip_posts_a_form_to_the_stream_and_topic() {
        let info = event("info");
        let zulip = Target {
            channel: Some("flux/alerts".into()),
            username: Some("bot@z".into()),
            password: Some("pw".into()),
            ..at("https://z.example/whatever")
        };
        let (req, _) = one(ProviderType::Zulip, &zulip, &info);
        assert_eq!(req.url, "https://z.example/api/v1/messages");
        let form = String::from_utf8(req.body).unwrap();
        assert!(
            form.starts_with("type=stream&to=flux&topic=alerts&content=%23%23+Flux+Status"),
            "{form}"
        );
        assert!(
            requests(
                ProviderType::Zulip,
                &Target {
                    channel: Some("nostream".into()),
                    ..zulip.clone()
                },
                &info
            )
            .is_err()
        );
    }

    #[test]
    fn forms_encode_reserved_bytes_and_spaces() {
        assert_eq!(
            form_encode(&[("a b", "x&y=z/ü"), ("k", "-._~")]),
            "a+b=x%26y%3Dz%2F%C3%BC&k=-._~"
        );
    }
}
