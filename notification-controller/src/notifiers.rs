//! What each provider type sends, as Flux's notifiers do
//! (`notification-controller/internal/notifier`), and the HTTP delivery with retries.

use std::collections::BTreeMap;
use std::time::Duration;

use api::notification::ProviderType;
use hmac::{Hmac, Mac};
use runtime::events::{EventPayload, Severity};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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
    #[error("request to '{address}' failed: {reason}")]
    Request { address: String, reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
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

fn is_error(event: &EventPayload) -> bool {
    event.severity == Severity::Error
}

/// `kind/name.namespace` with the kind lowercased, as most notifiers title a message.
fn object_name(event: &EventPayload) -> String {
    let o = &event.involved_object;
    format!("{}/{}.{}", o.kind.to_lowercase(), o.name, o.namespace)
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
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
        "channel": target.channel.as_deref().unwrap_or_default(),
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

/// Escapes text for Telegram's MarkdownV2.
fn telegram_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\._-[]()~>`#+=|{}!*".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A reason split on its capitals and lowercased (`ReconciliationFailed` → `reconciliation failed`).
fn words(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// `scheme://host[:port]` of a URL.
fn origin(address: &str) -> String {
    match address.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => address.to_owned(),
    }
}

/// The requests a provider of type `kind` sends for `event` (whose metadata is already the
/// notification's metadata). Most send one; PagerDuty may send two; some events send none.
pub fn requests(
    kind: ProviderType,
    target: &Target,
    event: &EventPayload,
) -> Result<Vec<Request>, NotifyError> {
    let address = target.address.as_str();
    let needs_address = !matches!(kind, ProviderType::Telegram);
    if needs_address && address.is_empty() {
        return Err(NotifyError::NoAddress);
    }
    let error = is_error(event);
    let channel = target.channel.as_deref().unwrap_or_default();
    let token = target.token.as_deref().unwrap_or_default();
    let request = match kind {
        ProviderType::Slack => {
            let username = target
                .username
                .as_deref()
                .unwrap_or(&event.reporting_controller);
            let body = slack_body(
                target,
                event,
                username,
                if error { "danger" } else { "good" },
            );
            let mut request = Request::json(address, &body);
            if !token.is_empty() {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            request.check_slack_ok = address.contains("chat.postMessage");
            request
        }
        ProviderType::Discord => {
            let url = if address.trim_end_matches('/').ends_with("/slack") {
                address.to_owned()
            } else {
                match address.split_once('?') {
                    Some((base, query)) => format!("{}/slack?{query}", base.trim_end_matches('/')),
                    None => format!("{}/slack", address.trim_end_matches('/')),
                }
            };
            let username = target
                .username
                .as_deref()
                .unwrap_or(&event.reporting_controller);
            let mut body = slack_body(
                target,
                event,
                username,
                if error { "danger" } else { "good" },
            );
            body["channel"] = json!("");
            Request::json(url, &body)
        }
        ProviderType::Rocket => {
            let username = target.username.as_deref().unwrap_or_default();
            Request::json(
                address,
                &slack_body(
                    target,
                    event,
                    username,
                    if error { "#FF0000" } else { "#0076D7" },
                ),
            )
        }
        ProviderType::Generic | ProviderType::GenericHmac => {
            let mut request = Request::json(
                address,
                &serde_json::to_value(event).expect("events serialise"),
            )
            .header("gotk-component", event.reporting_controller.clone());
            request
                .headers
                .extend(target.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            if kind == ProviderType::GenericHmac {
                let signature = format!("sha256={}", hmac_sha256(token.as_bytes(), &request.body));
                request = request.header("X-Signature", signature);
            }
            request
        }
        ProviderType::MsTeams => {
            let name = object_name(event);
            let host = address
                .split_once("://")
                .map_or(address, |(_, rest)| rest)
                .split(['/', ':'])
                .next()
                .unwrap_or_default();
            if host.ends_with(".webhook.office.com") {
                let facts: Vec<Value> = event
                    .metadata
                    .iter()
                    .map(|(k, v)| json!({"name": k, "value": v}))
                    .collect();
                Request::json(
                    address,
                    &json!({
                        "@type": "MessageCard", "@context": "http://schema.org/extensions",
                        "themeColor": if error { "FF0000" } else { "0076D7" }, "summary": name,
                        "sections": [{"activityTitle": event.message, "activitySubtitle": name, "facts": facts}],
                    }),
                )
            } else {
                let mut facts: Vec<Value> = Vec::new();
                if let Some(summary) = event.metadata.get("summary") {
                    facts.push(json!({"title": "summary", "value": summary}));
                }
                facts.extend(
                    event
                        .metadata
                        .iter()
                        .filter(|(k, _)| *k != "summary")
                        .map(|(k, v)| json!({"title": k, "value": v})),
                );
                let mut message = json!({"type": "TextBlock", "text": event.message, "wrap": true});
                if error {
                    message["color"] = json!("attention");
                }
                let mut items = vec![
                    json!({"type": "TextBlock", "text": name, "size": "large", "weight": "bolder", "wrap": true}),
                    message,
                ];
                if !facts.is_empty() {
                    items.push(json!({"type": "FactSet", "facts": facts}));
                }
                Request::json(
                    address,
                    &json!({
                        "type": "message",
                        "attachments": [{
                            "contentType": "application/vnd.microsoft.card.adaptive",
                            "content": {
                                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                "type": "AdaptiveCard", "version": "1.4",
                                "body": [{"type": "Container", "items": items}],
                                "msteams": {"width": "Full"},
                            },
                        }],
                    }),
                )
            }
        }
        ProviderType::GoogleChat => {
            let text = if error {
                format!("<font color=\"#ff0000\">{}</font>", event.message)
            } else {
                event.message.clone()
            };
            let mut sections = vec![
                json!({"header": "", "widgets": [{"textParagraph": {"text": text}, "keyValue": null}]}),
            ];
            if !event.metadata.is_empty() {
                let widgets: Vec<Value> = event.metadata.iter().map(|(k, v)| json!({
                    "textParagraph": null,
                    "keyValue": {"topLabel": k, "content": v, "contentMultiline": false, "bottomLabel": null, "icon": null}
                })).collect();
                sections.push(json!({"header": "", "widgets": widgets}));
            }
            Request::json(
                address,
                &json!({"cards": [{
                    "header": {"title": object_name(event), "subtitle": event.reporting_controller, "imageUrl": null, "imageStyle": null},
                    "sections": sections,
                }]}),
            )
        }
        ProviderType::Telegram => {
            if channel.is_empty() || token.is_empty() {
                return Err(NotifyError::Missing("a channel (chat ID) and a token"));
            }
            let (chat, thread) = match channel.split_once(':') {
                Some((chat, thread)) => (chat, Some(thread)),
                None => (channel, None),
            };
            let o = &event.involved_object;
            let heading = format!(
                "{} {}/{}/{}",
                if error { "🚨" } else { "💫" },
                o.kind.to_lowercase(),
                o.name,
                o.namespace
            );
            let mut text = format!(
                "*{}*\n{}\n",
                telegram_escape(&heading),
                telegram_escape(&event.message)
            );
            for (k, v) in &event.metadata {
                text.push_str(&format!(
                    "\\- *{}*: {}\n",
                    telegram_escape(k),
                    telegram_escape(v)
                ));
            }
            let mut body = json!({"chat_id": chat, "text": text, "parse_mode": "MarkdownV2"});
            if let Some(thread) = thread {
                body["message_thread_id"] = json!(thread);
            }
            Request::json(
                format!("https://api.telegram.org/bot{token}/sendMessage"),
                &body,
            )
        }
        ProviderType::Matrix => {
            if channel.is_empty() || token.is_empty() {
                return Err(NotifyError::Missing("a channel (room ID) and a token"));
            }
            let mut text = format!(
                "{} {}\n{}\n",
                if error { "🚨" } else { "💫" },
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
                address.trim_end_matches('/')
            );
            let mut request = Request::json(url, &json!({"body": text, "msgtype": "m.text"}))
                .header("Authorization", format!("Bearer {token}"));
            request.method = Method::Put;
            request
        }
        ProviderType::Webex => {
            let mut markdown = format!(
                "{} **{}**\n{}\n",
                if error { "💣" } else { "✅" },
                object_name(event),
                event.message
            );
            for (k, v) in &event.metadata {
                markdown.push_str(&format!(">**{k}**: {v}\n"));
            }
            let mut body = json!({"markdown": markdown});
            if !channel.is_empty() {
                body["roomId"] = json!(channel);
            }
            Request::json(address, &body).header("Authorization", format!("Bearer {token}"))
        }
        ProviderType::Alertmanager => {
            let mut labels = event.metadata.clone();
            let mut annotations = json!({"message": event.message});
            if let Some(summary) = labels.remove("summary") {
                annotations["summary"] = json!(summary);
            }
            let o = &event.involved_object;
            let mut reason_title = String::new();
            for (i, c) in event.reason.chars().enumerate() {
                if i == 0 {
                    reason_title.extend(c.to_uppercase())
                } else {
                    reason_title.extend(c.to_lowercase())
                }
            }
            let severity = serde_json::to_value(event.severity).expect("severities serialise");
            for (k, v) in [
                ("alertname", format!("Flux{}{reason_title}", o.kind)),
                ("severity", severity.as_str().unwrap_or_default().to_owned()),
                ("reason", event.reason.clone()),
                ("kind", o.kind.clone()),
                ("name", o.name.clone()),
                ("namespace", o.namespace.clone()),
                ("reportingcontroller", event.reporting_controller.clone()),
            ] {
                labels.insert(k.to_owned(), v);
            }
            let body = json!([{
                "status": "firing", "labels": labels, "annotations": annotations,
                "startsAt": event.timestamp, "endsAt": "0001-01-01T00:00:00Z",
            }]);
            let request = Request::json(address, &body);
            match (&target.username, &target.password) {
                (Some(user), Some(password)) => {
                    request.header("Authorization", basic(user, password))
                }
                _ if !token.is_empty() => {
                    request.header("Authorization", format!("Bearer {token}"))
                }
                _ => request,
            }
        }
        ProviderType::Opsgenie => {
            if token.is_empty() {
                return Err(NotifyError::Missing("a token (the Opsgenie API key)"));
            }
            let o = &event.involved_object;
            let alias = hex::encode(Sha256::digest(
                format!(
                    "{}/{}/{}/{}/{}",
                    target.provider_uid, o.kind, o.namespace, o.name, event.reason
                )
                .as_bytes(),
            ));
            let mut details = event.metadata.clone();
            details.insert(
                "severity".to_owned(),
                serde_json::to_value(event.severity)
                    .expect("severities serialise")
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            Request::json(address, &json!({
                "message": format!("{}/{}", o.kind, o.name), "alias": alias, "description": event.message, "details": details,
            }))
            .header("Authorization", format!("GenieKey {token}"))
        }
        ProviderType::PagerDuty => {
            if event.reason == "Progressing" {
                return Ok(Vec::new());
            }
            let base = origin(address);
            let o = &event.involved_object;
            let summary_name = format!("{}/{}", o.kind, o.name).to_lowercase();
            let source = format!("Flux {}", event.reporting_controller);
            let details = json!({"message": event.message, "metadata": event.metadata});
            let mut out = Vec::new();
            let mut enqueue =
                json!({"routing_key": channel, "event_action": "resolve", "dedup_key": o.uid});
            if error {
                enqueue["event_action"] = json!("trigger");
                enqueue["payload"] = json!({
                    "summary": format!("{}: {summary_name}", words(&event.reason)), "source": source,
                    "severity": "error", "timestamp": event.timestamp, "component": o.name, "group": o.kind,
                    "custom_details": details,
                });
            }
            out.push(Request::json(format!("{base}/v2/enqueue"), &enqueue));
            if event.severity == Severity::Info {
                out.push(Request::json(format!("{base}/v2/change/enqueue"), &json!({
                    "routing_key": channel,
                    "payload": {"source": source, "summary": format!("{}: {summary_name}", words(&event.reason)), "timestamp": event.timestamp, "custom_details": details},
                    "links": null,
                })));
            }
            return Ok(out);
        }
        ProviderType::Grafana => {
            let o = &event.involved_object;
            let mut tags = vec![json!("flux"), json!(event.reporting_controller)];
            for (k, v) in &event.metadata {
                tags.push(json!(format!(
                    "{}: {}",
                    k.replace(':', "|"),
                    v.replace(':', "|")
                )));
            }
            tags.extend([
                json!(format!("kind: {}", o.kind)),
                json!(format!("name: {}", o.name)),
                json!(format!("namespace: {}", o.namespace)),
            ]);
            let when = event
                .timestamp
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_second())
                .unwrap_or_default();
            let request = Request::json(
                address,
                &json!({"when": when, "text": object_name(event), "tags": tags}),
            );
            match (&target.username, &target.password) {
                _ if !token.is_empty() => {
                    request.header("Authorization", format!("Bearer {token}"))
                }
                (Some(user), Some(password)) => {
                    request.header("Authorization", basic(user, password))
                }
                _ => request,
            }
        }
        ProviderType::Lark => {
            let mut content = format!("**{}**\n\n", event.message);
            for (k, v) in &event.metadata {
                content.push_str(&format!("{k}: {v}\n"));
            }
            Request::json(
                address,
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
        ProviderType::Zulip => {
            let Some((stream, topic)) = channel
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
                if error { "⚠️" } else { "ℹ️" },
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
            Request {
                method: Method::Post,
                url: format!("{}/api/v1/messages", origin(address)),
                body: form.into_bytes(),
                headers: vec![
                    (
                        "Content-Type".to_owned(),
                        "application/x-www-form-urlencoded".to_owned(),
                    ),
                    ("Authorization".to_owned(), basic(user, password)),
                ],
                check_slack_ok: false,
            }
        }
        other => return Err(NotifyError::Unsupported(other)),
    };
    Ok(vec![request])
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

/// A Matrix transaction ID: stable per event, so a retried send is not posted twice
/// (Flux uses SHA-1; the first 20 bytes of SHA-256 serve the same purpose).
fn transaction_id(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes)[..20].to_vec()
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

    #[test]
    fn generic_posts_the_event_and_hmac_signs_it() {
        let target = Target {
            address: "http://hook".into(),
            token: Some("s3cret".into()),
            headers: [("X-Team".to_owned(), "a".to_owned())].into(),
            ..Target::default()
        };
        let req = requests(ProviderType::Generic, &target, &event("info"))
            .unwrap()
            .remove(0);
        let body: EventPayload = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body, event("info"));
        assert!(
            req.headers
                .contains(&("gotk-component".to_owned(), "source-controller".to_owned()))
        );
        assert!(req.headers.contains(&("X-Team".to_owned(), "a".to_owned())));
        assert!(!req.headers.iter().any(|(k, _)| k == "X-Signature"));
        let signed = requests(ProviderType::GenericHmac, &target, &event("info"))
            .unwrap()
            .remove(0);
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
        let err = requests(ProviderType::Gitea, &at("http://gitea"), &event("info")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider type 'gitea' is not supported by flux-rs yet"
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

    fn one(
        kind: ProviderType,
        target: &Target,
        event: &EventPayload,
    ) -> (Request, serde_json::Value) {
        let mut all = requests(kind, target, event).unwrap();
        assert_eq!(all.len(), 1, "{kind}");
        let request = all.remove(0);
        let body = serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
        (request, body)
    }

    fn at(address: &str) -> Target {
        Target {
            address: address.into(),
            ..Target::default()
        }
    }

    #[test]
    fn chat_providers() {
        let info = event("info");
        let error = event("error");
        let (req, body) = one(
            ProviderType::Discord,
            &at("https://discord.com/api/webhooks/1/x"),
            &info,
        );
        assert_eq!(req.url, "https://discord.com/api/webhooks/1/x/slack");
        assert_eq!(
            body["attachments"][0]["author_name"],
            "OCIRepository/podinfo.apps"
        );
        let (_, body) = one(
            ProviderType::Rocket,
            &Target {
                channel: Some("ops".into()),
                ..at("https://rocket/hooks/x")
            },
            &error,
        );
        assert_eq!(
            (
                body["channel"].as_str(),
                body["attachments"][0]["color"].as_str()
            ),
            (Some("ops"), Some("#FF0000"))
        );

        let (_, body) = one(
            ProviderType::MsTeams,
            &at("https://org.webhook.office.com/x"),
            &info,
        );
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(
            body["sections"][0]["activitySubtitle"],
            "ocirepository/podinfo.apps"
        );
        assert_eq!(
            body["sections"][0]["facts"][0],
            json!({"name": "revision", "value": "latest@sha256:1"})
        );
        let (_, body) = one(
            ProviderType::MsTeams,
            &at("https://prod.workflows.example/x"),
            &error,
        );
        let items = &body["attachments"][0]["content"]["body"][0]["items"];
        assert_eq!(items[1]["color"], "attention");
        assert_eq!(items[2]["facts"][0]["title"], "revision");

        let (_, body) = one(
            ProviderType::GoogleChat,
            &at("https://chat.googleapis.com/x"),
            &error,
        );
        assert_eq!(
            body["cards"][0]["header"]["title"],
            "ocirepository/podinfo.apps"
        );
        assert!(
            body["cards"][0]["sections"][0]["widgets"][0]["textParagraph"]["text"]
                .as_str()
                .unwrap()
                .starts_with("<font color=\"#ff0000\">")
        );
        assert_eq!(
            body["cards"][0]["sections"][1]["widgets"][0]["keyValue"]["topLabel"],
            "revision"
        );

        let telegram = Target {
            channel: Some("-100:42".into()),
            token: Some("123:abc".into()),
            ..Target::default()
        };
        let (req, body) = one(ProviderType::Telegram, &telegram, &info);
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

        let matrix = Target {
            channel: Some("!room:example.org".into()),
            token: Some("tok".into()),
            ..at("https://matrix.example.org")
        };
        let (req, body) = one(ProviderType::Matrix, &matrix, &info);
        assert_eq!(req.method, Method::Put);
        assert!(req.url.starts_with("https://matrix.example.org/_matrix/client/r0/rooms/!room:example.org/send/m.room.message/"));
        assert_eq!(body["msgtype"], "m.text");
        assert!(
            body["body"]
                .as_str()
                .unwrap()
                .ends_with("- revision: latest@sha256:1\n")
        );

        let webex = Target {
            channel: Some("room1".into()),
            token: Some("tok".into()),
            ..at("https://webexapis.com/v1/messages")
        };
        let (req, body) = one(ProviderType::Webex, &webex, &error);
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

        let (_, body) = one(ProviderType::Lark, &at("https://open.feishu.cn/x"), &error);
        assert_eq!(body["card"]["header"]["template"], "red");
        assert_eq!(
            body["card"]["header"]["title"]["content"],
            "🚨 ocirepository/podinfo.apps"
        );

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
    fn incident_and_observability_providers() {
        let info = event("info");
        let error = event("error");
        let (_, body) = one(
            ProviderType::Alertmanager,
            &Target {
                token: Some("t".into()),
                ..at("http://am/api/v2/alerts")
            },
            &error,
        );
        let alert = &body[0];
        assert_eq!(alert["status"], "firing");
        assert_eq!(alert["labels"]["alertname"], "FluxOCIRepositoryNewartifact");
        assert_eq!(alert["labels"]["severity"], "error");
        assert_eq!(alert["labels"]["revision"], "latest@sha256:1");
        assert_eq!(alert["annotations"]["message"], error.message);

        let ops = Target {
            token: Some("key".into()),
            provider_uid: "uid-1".into(),
            ..at("https://api.opsgenie.com/v2/alerts")
        };
        let (req, body) = one(ProviderType::Opsgenie, &ops, &info);
        assert!(
            req.headers
                .contains(&("Authorization".to_owned(), "GenieKey key".to_owned()))
        );
        assert_eq!(body["message"], "OCIRepository/podinfo");
        assert_eq!(body["alias"].as_str().unwrap().len(), 64);
        assert_eq!(body["details"]["severity"], "info");

        let pd = Target {
            channel: Some("routing".into()),
            ..at("https://events.pagerduty.com/ignored/path")
        };
        let info_requests = requests(ProviderType::PagerDuty, &pd, &info).unwrap();
        assert_eq!(
            info_requests
                .iter()
                .map(|r| r.url.as_str())
                .collect::<Vec<_>>(),
            [
                "https://events.pagerduty.com/v2/enqueue",
                "https://events.pagerduty.com/v2/change/enqueue"
            ]
        );
        let resolve: serde_json::Value = serde_json::from_slice(&info_requests[0].body).unwrap();
        assert_eq!(resolve["event_action"], "resolve");
        let trigger = requests(ProviderType::PagerDuty, &pd, &error).unwrap();
        assert_eq!(trigger.len(), 1);
        let trigger: serde_json::Value = serde_json::from_slice(&trigger[0].body).unwrap();
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(
            trigger["payload"]["summary"],
            "new artifact: ocirepository/podinfo"
        );
        let mut progressing = info.clone();
        progressing.reason = "Progressing".into();
        assert!(
            requests(ProviderType::PagerDuty, &pd, &progressing)
                .unwrap()
                .is_empty()
        );

        let (req, body) = one(
            ProviderType::Grafana,
            &Target {
                username: Some("u".into()),
                password: Some("p".into()),
                ..at("http://grafana/api/annotations")
            },
            &info,
        );
        assert_eq!(body["text"], "ocirepository/podinfo.apps");
        assert_eq!(body["tags"][0], "flux");
        assert_eq!(body["tags"][2], "revision: latest@sha256|1");
        assert_eq!(body["when"], 1767225600);
        assert!(
            req.headers
                .iter()
                .any(|(k, v)| k == "Authorization" && v.starts_with("Basic "))
        );
    }
}
