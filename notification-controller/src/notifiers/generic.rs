//! `generic` and `generic-hmac`: the event itself as JSON, the latter signed with the token.

use runtime::events::EventPayload;

use super::{Request, Target, hmac_sha256};

pub(super) fn request(target: &Target, event: &EventPayload) -> Request {
    let mut request = Request::json(
        &target.address,
        &serde_json::to_value(event).expect("events serialise"),
    )
    .header("gotk-component", event.reporting_controller.clone());
    request
        .headers
        .extend(target.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    request
}

/// The generic request with an `X-Signature` of its body, keyed with the token.
pub(super) fn signed_request(target: &Target, event: &EventPayload) -> Request {
    let request = request(target, event);
    let signature = format!(
        "sha256={}",
        hmac_sha256(target.token().as_bytes(), &request.body)
    );
    request.header("X-Signature", signature)
}

#[cfg(test)]
mod tests {
    use api::notification::ProviderType;
    use runtime::events::EventPayload;

    use super::super::fixtures::event;
    use super::super::{Target, hmac_sha256, requests};

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
    }
}
