//! Opsgenie: an alert whose alias is stable per Provider, object and reason, so repeats
//! are deduplicated.

use runtime::events::EventPayload;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{NotifyError, Request, Target, severity_text};

pub(super) fn request(target: &Target, event: &EventPayload) -> Result<Request, NotifyError> {
    let token = target.token();
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
    details.insert("severity".to_owned(), severity_text(event));
    Ok(Request::json(&target.address, &json!({
        "message": format!("{}/{}", o.kind, o.name), "alias": alias, "description": event.message, "details": details,
    }))
    .header("Authorization", format!("GenieKey {token}")))
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;

    use super::super::Target;
    use super::super::fixtures::{at, event, one};

    #[test]
    fn opsgenie_alert_has_an_alias_and_the_severity() {
        let ops = Target {
            token: Some("key".into()),
            provider_uid: "uid-1".into(),
            ..at("https://api.opsgenie.com/v2/alerts")
        };
        let (req, body) = one(ProviderType::Opsgenie, &ops, &event("info"));
        assert!(
            req.headers
                .contains(&("Authorization".to_owned(), "GenieKey key".to_owned()))
        );
        assert_eq!(body["message"], "OCIRepository/podinfo");
        assert_eq!(body["alias"].as_str().unwrap().len(), 64);
        assert_eq!(body["details"]["severity"], "info");
    }
}
