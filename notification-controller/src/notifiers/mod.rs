//! What each provider type sends, as Flux's notifiers do
//! (`notification-controller/internal/notifier`), and the HTTP delivery with retries.
//!
//! One module per provider builds its request(s) from the event and the [`Target`];
//! [`requests`] picks the module by type.

mod alertmanager;
pub mod commit_status;
mod discord;
mod generic;
mod googlechat;
mod grafana;
mod lark;
mod matrix;
mod msteams;
mod opsgenie;
mod pagerduty;
mod rocket;
mod slack;
mod telegram;
mod webex;
mod zulip;

#[cfg(test)]
mod fixtures;

use std::collections::BTreeMap;
use std::time::Duration;

use api::notification::ProviderType;
use hmac::{Hmac, Mac};
use runtime::events::{EventPayload, Severity};
use serde_json::{Value, json};
use sha2::Sha256;

/// Everything a notifier needs from the Provider and its Secret.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub address: String,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
    /// The Provider's UID (Opsgenie's alias).
    pub provider_uid: String,
}

impl Target {
    fn channel(&self) -> &str {
        self.channel.as_deref().unwrap_or_default()
    }

    fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("provider type '{0}' is not supported by flux-rs yet")]
    Unsupported(ProviderType),
    #[error("the provider has no address: set spec.address or the Secret's 'address' key")]
    NoAddress,
    #[error("the provider needs {0}")]
    Missing(&'static str),
    #[error("postMessage failed: {0}")]
    Rejected(String),
    #[error("{0}")]
    Invalid(String),
    #[error("request to '{address}' failed: {reason}")]
    Request { address: String, reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

/// A request ready to send.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Slack's `chat.postMessage` answers 200 with `{"ok": false}` on failure.
    pub check_slack_ok: bool,
}

impl Request {
    fn json(url: impl Into<String>, body: &Value) -> Self {
        Self {
            method: Method::Post,
            url: url.into(),
            body: serde_json::to_vec(body).expect("JSON values serialise"),
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            check_slack_ok: false,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// The requests a provider of type `kind` sends for `event` (whose metadata is already the
/// notification's metadata). Most send one; PagerDuty may send two; some events send none.
pub fn requests(
    kind: ProviderType,
    target: &Target,
    event: &EventPayload,
) -> Result<Vec<Request>, NotifyError> {
    let needs_address = !matches!(kind, ProviderType::Telegram);
    if needs_address && target.address.is_empty() {
        return Err(NotifyError::NoAddress);
    }
    let request = match kind {
        ProviderType::Slack => slack::request(target, event),
        ProviderType::Discord => discord::request(target, event),
        ProviderType::Rocket => rocket::request(target, event),
        ProviderType::Generic => generic::request(target, event),
        ProviderType::GenericHmac => generic::signed_request(target, event),
        ProviderType::MsTeams => msteams::request(target, event),
        ProviderType::GoogleChat => googlechat::request(target, event),
        ProviderType::Telegram => telegram::request(target, event)?,
        ProviderType::Matrix => matrix::request(target, event)?,
        ProviderType::Webex => webex::request(target, event),
        ProviderType::Alertmanager => alertmanager::request(target, event),
        ProviderType::Opsgenie => opsgenie::request(target, event)?,
        ProviderType::PagerDuty => return Ok(pagerduty::requests(target, event)),
        ProviderType::Grafana => grafana::request(target, event),
        ProviderType::Lark => lark::request(target, event),
        ProviderType::Zulip => zulip::request(target, event)?,
        other => return Err(NotifyError::Unsupported(other)),
    };
    Ok(vec![request])
}

fn is_error(event: &EventPayload) -> bool {
    event.severity == Severity::Error
}

/// `kind/name.namespace` with the kind lowercased, as most notifiers title a message.
fn object_name(event: &EventPayload) -> String {
    let o = &event.involved_object;
    format!("{}/{}.{}", o.kind.to_lowercase(), o.name, o.namespace)
}

/// The event's severity as it is written on the wire (`info`, `error`).
fn severity_text(event: &EventPayload) -> String {
    serde_json::to_value(event.severity)
        .expect("severities serialise")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `scheme://host[:port]` of a URL.
fn origin(address: &str) -> String {
    match address.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => address.to_owned(),
    }
}

/// The Slack-compatible payload (Slack itself, Discord and Rocket.Chat).
fn slack_body(target: &Target, event: &EventPayload, username: &str, color: &str) -> Value {
    let o = &event.involved_object;
    let author = format!("{}/{}.{}", o.kind, o.name, o.namespace);
    let first_line = event.message.lines().next().unwrap_or_default();
    let fields: Vec<Value> = event
        .metadata
        .iter()
        .map(|(title, value)| json!({"title": title, "value": value, "short": false}))
        .collect();
    json!({
        "channel": target.channel(),
        "username": username,
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [{
            "fallback": format!("{author}: {first_line}"),
            "color": color,
            "author_name": author,
            "text": event.message,
            "mrkdwn_in": ["text"],
            "fields": fields,
        }],
    })
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
    request: &Request,
    timeout: Duration,
) -> Result<(), NotifyError> {
    let failure = |reason: String| NotifyError::Request {
        address: redact(&request.url),
        reason,
    };
    let mut delay = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        let mut builder = match request.method {
            Method::Get => http.get(&request.url),
            Method::Post => http.post(&request.url),
            Method::Put => http.put(&request.url),
        }
        .timeout(timeout)
        .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        match builder.send().await {
            Ok(response) if response.status().is_success() => {
                if request.check_slack_ok {
                    let body: Value = response.json().await.map_err(|e| failure(e.to_string()))?;
                    if body.get("ok") != Some(&Value::Bool(true)) {
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
            // The URL may carry a secret (Slack webhook paths): keep it out of the message.
            Err(e) => last = artifacts::oci::error_chain(&e.without_url()),
        }
    }
    Err(failure(format!("{last} (after 5 attempts)")))
}

/// Reads what `request` (a GET) answers as JSON; a 404 is `null` (nothing there yet).
pub async fn read_json(
    http: &reqwest::Client,
    request: &Request,
    timeout: Duration,
) -> Result<Value, NotifyError> {
    let failure = |reason: String| NotifyError::Request {
        address: redact(&request.url),
        reason,
    };
    let mut builder = http.get(&request.url).timeout(timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| failure(artifacts::oci::error_chain(&e.without_url())))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(Value::Null);
    }
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(failure(format!("HTTP {status}: {}", text.trim())));
    }
    let bytes = response.bytes().await.map_err(|e| failure(e.to_string()))?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
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
    use super::fixtures::{at, event};
    use super::*;

    #[test]
    fn unsupported_types_and_redaction() {
        let err = requests(ProviderType::Sentry, &at("http://sentry"), &event("info")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider type 'sentry' is not supported by flux-rs yet"
        );
        let err = requests(ProviderType::Slack, &Target::default(), &event("info")).unwrap_err();
        assert!(matches!(err, NotifyError::NoAddress));
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/***"
        );
        assert_eq!(
            redact("http://user:pw@127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080/***"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
