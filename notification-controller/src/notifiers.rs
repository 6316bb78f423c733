//! What each provider type sends, byte for byte as Flux's notifiers
//! (`notification-controller/internal/notifier`), and the HTTP delivery with retries.

use std::collections::BTreeMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use shared::api::notification::ProviderType;
use shared::events::{EventPayload, Severity};

/// Everything a notifier needs from the Provider and its Secret.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub address: String,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub token: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("provider type '{0}' is not supported by flux-rs yet")]
    Unsupported(ProviderType),
    #[error("the provider has no address: set spec.address or the Secret's 'address' key")]
    NoAddress,
    #[error("postMessage failed: {0}")]
    Rejected(String),
    #[error("request to '{address}' failed: {reason}")]
    Request { address: String, reason: String },
}

/// A request ready to send.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Slack's `chat.postMessage` answers 200 with `{"ok": false}` on failure.
    pub check_slack_ok: bool,
}

#[derive(Serialize)]
struct SlackPayload<'a> {
    channel: &'a str,
    username: &'a str,
    icon_url: &'a str,
    icon_emoji: &'a str,
    attachments: [SlackAttachment<'a>; 1],
}

#[derive(Serialize)]
struct SlackAttachment<'a> {
    fallback: String,
    color: &'a str,
    author_name: String,
    text: &'a str,
    mrkdwn_in: [&'a str; 1],
    fields: Vec<SlackField<'a>>,
}

#[derive(Serialize)]
struct SlackField<'a> {
    title: &'a str,
    value: &'a str,
    short: bool,
}

/// The request a provider of type `kind` sends for `event` (whose metadata is already the
/// notification's metadata).
pub fn request(
    kind: ProviderType,
    target: &Target,
    event: &EventPayload,
) -> Result<Request, NotifyError> {
    match kind {
        ProviderType::Slack => {
            let object = &event.involved_object;
            let author = format!("{}/{}.{}", object.kind, object.name, object.namespace);
            let first_line = event.message.lines().next().unwrap_or_default();
            let payload = SlackPayload {
                channel: target.channel.as_deref().unwrap_or_default(),
                username: target
                    .username
                    .as_deref()
                    .unwrap_or(&event.reporting_controller),
                icon_url: "",
                icon_emoji: "",
                attachments: [SlackAttachment {
                    fallback: format!("{author}: {first_line}"),
                    color: if event.severity == Severity::Error {
                        "danger"
                    } else {
                        "good"
                    },
                    author_name: author,
                    text: &event.message,
                    mrkdwn_in: ["text"],
                    fields: event
                        .metadata
                        .iter()
                        .map(|(title, value)| SlackField {
                            title,
                            value,
                            short: false,
                        })
                        .collect(),
                }],
            };
            let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
            if let Some(token) = &target.token {
                headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
            }
            Ok(Request {
                body: serde_json::to_vec(&payload).expect("payloads serialise"),
                headers,
                check_slack_ok: target.address.contains("chat.postMessage"),
            })
        }
        ProviderType::Generic | ProviderType::GenericHmac => {
            let body = serde_json::to_vec(event).expect("events serialise");
            let mut headers = vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                (
                    "gotk-component".to_owned(),
                    event.reporting_controller.clone(),
                ),
            ];
            headers.extend(target.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            if kind == ProviderType::GenericHmac {
                let key = target.token.as_deref().unwrap_or_default();
                headers.push((
                    "X-Signature".to_owned(),
                    format!("sha256={}", hmac_sha256(key.as_bytes(), &body)),
                ));
            }
            Ok(Request {
                body,
                headers,
                check_slack_ok: false,
            })
        }
        other => Err(NotifyError::Unsupported(other)),
    }
}

/// Hex HMAC-SHA256 of `body` with `key`.
pub fn hmac_sha256(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Sends `request` to `address`, retrying connection failures and server errors with backoff
/// (4 retries, as Flux).
pub async fn send(
    http: &reqwest::Client,
    address: &str,
    request: &Request,
    timeout: Duration,
) -> Result<(), NotifyError> {
    let failure = |reason: String| NotifyError::Request {
        address: redact(address),
        reason,
    };
    let mut delay = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        let mut builder = http
            .post(address)
            .timeout(timeout)
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        match builder.send().await {
            Ok(response) if response.status().is_success() => {
                if request.check_slack_ok {
                    let body: serde_json::Value =
                        response.json().await.map_err(|e| failure(e.to_string()))?;
                    if body.get("ok") != Some(&serde_json::Value::Bool(true)) {
                        let error = body
                            .get("error")
                            .and_then(|e| e.as_str())
                            .unwrap_or("unknown error");
                        return Err(NotifyError::Rejected(error.to_owned()));
                    }
                }
                return Ok(());
            }
            Ok(response) if response.status().is_client_error() => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                return Err(failure(format!("HTTP {status}: {}", text.trim())));
            }
            Ok(response) => last = format!("HTTP {}", response.status()),
            Err(e) => last = shared::oci::error_chain(&e),
        }
    }
    Err(failure(format!("{last} (after 5 attempts)")))
}

/// An address with any credentials or token in it masked, for messages and logs.
pub fn redact(address: &str) -> String {
    let Some((scheme, rest)) = address.split_once("://") else {
        return address.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // Slack and other webhook URLs carry their secret in the path.
    let masked_path = if path.is_empty() {
        String::new()
    } else {
        "/***".to_owned()
    };
    format!("{scheme}://{host}{masked_path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(severity: &str) -> EventPayload {
        serde_json::from_value(json!({
            "involvedObject": {"kind": "OCIRepository", "namespace": "apps", "name": "podinfo",
                "apiVersion": "source.toolkit.fluxcd.io/v1"},
            "severity": severity, "timestamp": "2026-01-01T00:00:00Z",
            "message": "stored artifact with revision 'latest@sha256:1'\nsecond line",
            "reason": "NewArtifact", "metadata": {"revision": "latest@sha256:1"},
            "reportingController": "source-controller", "reportingInstance": "pod-1"
        }))
        .unwrap()
    }

    #[test]
    fn slack_payload_is_fluxs() {
        let target = Target {
            address: "https://hooks.slack.com/services/x".into(),
            channel: Some("general".into()),
            ..Target::default()
        };
        let req = request(ProviderType::Slack, &target, &event("info")).unwrap();
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
        let error = request(ProviderType::Slack, &target, &event("error")).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
        assert_eq!(body["attachments"][0]["color"], "danger");

        let bot = Target {
            address: "https://slack.com/api/chat.postMessage".into(),
            token: Some("xoxb-1".into()),
            username: Some("flux".into()),
            ..Target::default()
        };
        let req = request(ProviderType::Slack, &bot, &event("info")).unwrap();
        assert!(req.check_slack_ok);
        assert!(
            req.headers
                .contains(&("Authorization".to_owned(), "Bearer xoxb-1".to_owned()))
        );
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["username"], "flux");
    }

    #[test]
    fn generic_posts_the_event_and_hmac_signs_it() {
        let target = Target {
            address: "http://hook".into(),
            token: Some("s3cret".into()),
            headers: [("X-Team".to_owned(), "a".to_owned())].into(),
            ..Target::default()
        };
        let req = request(ProviderType::Generic, &target, &event("info")).unwrap();
        let body: EventPayload = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body, event("info"));
        assert!(
            req.headers
                .contains(&("gotk-component".to_owned(), "source-controller".to_owned()))
        );
        assert!(req.headers.contains(&("X-Team".to_owned(), "a".to_owned())));
        assert!(!req.headers.iter().any(|(k, _)| k == "X-Signature"));
        let signed = request(ProviderType::GenericHmac, &target, &event("info")).unwrap();
        let signature = signed
            .headers
            .iter()
            .find(|(k, _)| k == "X-Signature")
            .unwrap();
        assert_eq!(
            signature.1,
            format!("sha256={}", hmac_sha256(b"s3cret", &signed.body))
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn unsupported_types_and_redaction() {
        let err = request(ProviderType::Matrix, &Target::default(), &event("info")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider type 'matrix' is not supported by flux-rs yet"
        );
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/***"
        );
        assert_eq!(
            redact("http://user:pw@127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080/***"
        );
    }
}
