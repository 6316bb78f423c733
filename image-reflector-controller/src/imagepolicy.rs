//! The ImagePolicy reconciler: spec checked → ImageRepository read (cross-namespace access by
//! its `accessFrom`) → policy over the stored tags → digest reflected → `latestRef`.

use std::collections::BTreeMap;

use api::image::v1::{ImagePolicy, ImagePolicyStatus, ImageRepository};
use api::image::{DigestReflectionPolicy, ImageRef, reason};
use api::source::AccessFrom;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::Api;
use runtime::conditions::Conditions;
use runtime::outcome::{Failure, Requeue};
use runtime::reconciler::{Done, Progress, Reconciler};

use crate::Context;
use crate::imagerepository::{ClientError, parse_image};
use crate::policy::Policy;

/// The `interval`/`digestReflectionPolicy` rules Flux's CRD enforces with CEL.
pub fn check_interval(object: &ImagePolicy) -> Result<(), String> {
    let always = object.spec.digest_reflection_policy == DigestReflectionPolicy::Always;
    match (&object.spec.interval, always) {
        (Some(_), false) => Err(
            "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"
                .to_owned(),
        ),
        (None, true) => Err(
            "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

/// Whether a policy in another namespace, labelled `labels`, may read the repository
/// (Flux's `HasAccessToRef`).
pub fn acl_allows(
    repository: &str,
    access_from: Option<&AccessFrom>,
    labels: &BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(access_from) = access_from else {
        return Err(format!(
            "access denied: '{repository}' can't be accessed due to missing ACL labels on 'accessFrom'"
        ));
    };
    let matches = access_from.namespace_selectors.iter().any(|selector| {
        selector
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v))
    });
    if matches {
        Ok(())
    } else {
        Err(format!(
            "access denied: '{repository}' can't be accessed due to ACL labels mismatch on namespace"
        ))
    }
}

/// Whether the digest is read again: `Always`, or `IfNotPresent` with a new ref or none
/// known.
pub fn needs_digest(
    policy: DigestReflectionPolicy,
    previous: Option<&ImageRef>,
    name: &str,
    tag: &str,
) -> bool {
    match policy {
        DigestReflectionPolicy::Never => false,
        DigestReflectionPolicy::Always => true,
        DigestReflectionPolicy::IfNotPresent => previous.is_none_or(|p| {
            p.name != name || p.tag != tag || p.digest.as_deref().unwrap_or_default().is_empty()
        }),
    }
}

pub fn ready_message(latest: &ImageRef, previous: Option<&ImageRef>) -> String {
    let mut message = format!(
        "Latest image tag for {} resolved to {}",
        latest.name, latest.tag
    );
    if let Some(digest) = latest.digest.as_deref().filter(|d| !d.is_empty()) {
        message.push_str(&format!(" with digest {digest}"));
    }
    if let Some(previous) = previous.filter(|p| *p != latest) {
        message.push_str(&format!(" (previously {previous})"));
    }
    message
}

impl Context {
    /// The referenced ImageRepository, if this policy may read it.
    async fn image_repository(&self, object: &ImagePolicy) -> Result<ImageRepository, Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let reference = &object.spec.image_repository_ref;
        let repo_namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.clone());
        let display = format!("{repo_namespace}/{}", reference.name);
        let failed = |reason, e: String| {
            Failure::retryable(
                reason,
                format!("failed to get the referred ImageRepository: {e}"),
            )
        };
        if self.no_cross_namespace_refs && repo_namespace != namespace {
            return Err(failed(
                reason::ACCESS_DENIED,
                format!(
                    "cannot access 'ImageRepository/{display}', cross-namespace references have been blocked"
                ),
            ));
        }
        let api: Api<ImageRepository> =
            Api::namespaced(self.shared.client.clone(), &repo_namespace);
        let repository = api
            .get_opt(&reference.name)
            .await
            .map_err(|e| failed(reason::FAILURE, e.to_string()))?
            .ok_or_else(|| {
                failed(
                    reason::DEPENDENCY_NOT_READY,
                    format!("referenced ImageRepository does not exist: imagerepositories.image.toolkit.fluxcd.io \"{}\" not found", reference.name),
                )
            })?;
        if repo_namespace != namespace {
            let namespaces: Api<Namespace> = Api::all(self.shared.client.clone());
            let labels = namespaces
                .get(&namespace)
                .await
                .map_err(|e| failed(reason::FAILURE, e.to_string()))?
                .metadata
                .labels
                .unwrap_or_default();
            acl_allows(&display, repository.spec.access_from.as_ref(), &labels)
                .map_err(|e| failed(reason::ACCESS_DENIED, e))?;
        }
        Ok(repository)
    }

    async fn digest(&self, repository: &ImageRepository, tag: &str) -> Result<String, Failure> {
        let image = parse_image(&repository.spec.image)
            .map_err(|e| Failure::stalled(reason::IMAGE_URL_INVALID, e))?;
        let reference = format!("{}:{tag}", repository.spec.image);
        let failed = |e: String| {
            Failure::retryable(
                reason::FAILURE,
                format!("failed fetching digest of {reference}: {e}"),
            )
        };
        let client = self
            .registry_client(repository, &image)
            .await
            .map_err(|(ClientError::Access(e) | ClientError::Client(e))| failed(e))?;
        client
            .resolve_digest(&image.url.with_tag(tag))
            .await
            .map_err(|e| failed(artifacts::oci::error_chain(&e)))
    }
}

impl Reconciler<ImagePolicy> for Context {
    fn shared(&self) -> &runtime::reconciler::Shared {
        &self.shared
    }

    async fn run(
        &self,
        object: &ImagePolicy,
        status: &mut ImagePolicyStatus,
        _conditions: &mut Conditions,
        _progress: &mut Progress<'_, ImagePolicy>,
    ) -> Result<Done, Failure> {
        check_interval(object).map_err(|e| Failure::stalled(reason::INTERVAL_NOT_CONFIGURED, e))?;
        let repository = self.image_repository(object).await?;
        parse_image(&repository.spec.image)
            .map_err(|e| Failure::stalled(reason::IMAGE_URL_INVALID, e))?;
        let policy = Policy::new(&object.spec.policy, object.spec.filter_tags.as_ref())
            .map_err(|e| Failure::stalled(reason::INVALID_POLICY, e.to_string()))?;
        let tags = self
            .tags
            .get(
                &repository.namespace().unwrap_or_default(),
                &repository.name_any(),
            )
            .map_err(|e| Failure::retryable(reason::FAILURE, e.to_string()))?;
        if tags.is_empty() {
            let after = self.requeue_dependency;
            return Err(Failure::waiting(
                reason::DEPENDENCY_NOT_READY,
                format!(
                    "retrying in {} error: no tags in database",
                    api::duration::format(after)
                ),
                after,
            ));
        }
        let tag = policy
            .latest(&tags)
            .map_err(|e| Failure::retryable(reason::FAILURE, e.to_string()))?;
        let name = repository.spec.image.clone();
        let previous = status.latest_ref.clone();
        let policy_kind = object.spec.digest_reflection_policy;
        let digest = if needs_digest(policy_kind, previous.as_ref(), &name, tag) {
            Some(self.digest(&repository, tag).await?)
        } else if policy_kind == DigestReflectionPolicy::IfNotPresent {
            previous.as_ref().and_then(|p| p.digest.clone())
        } else {
            None
        };
        let latest = ImageRef {
            name,
            tag: tag.to_owned(),
            digest,
        };
        if previous.as_ref() != Some(&latest) {
            status.observed_previous_ref = previous;
            status.latest_ref = Some(latest.clone());
        }
        let image_text = |r: &ImageRef| format!("{}:{}", r.name, r.tag);
        status.latest_image = status.latest_ref.as_ref().map(image_text);
        status.observed_previous_image = status.observed_previous_ref.as_ref().map(image_text);
        let requeue = if policy_kind == DigestReflectionPolicy::Always {
            Requeue::Interval
        } else {
            Requeue::AwaitChange
        };
        Ok(Done::new(
            ready_message(&latest, status.observed_previous_ref.as_ref()),
            requeue,
        ))
    }

    async fn finalize(&self, _object: &ImagePolicy) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::source::NamespaceSelector;

    fn image(tag: &str, digest: Option<&str>) -> ImageRef {
        ImageRef {
            name: "ghcr.io/x".into(),
            tag: tag.into(),
            digest: digest.map(str::to_owned),
        }
    }

    #[test]
    fn ready_messages_name_the_previous_image_while_it_differs() {
        assert_eq!(
            ready_message(&image("1.2.4", None), Some(&image("1.2.3", None))),
            "Latest image tag for ghcr.io/x resolved to 1.2.4 (previously ghcr.io/x:1.2.3)"
        );
        assert_eq!(
            ready_message(
                &image("1.2.4", Some("sha256:ab")),
                Some(&image("1.2.3", Some("sha256:cd")))
            ),
            "Latest image tag for ghcr.io/x resolved to 1.2.4 with digest sha256:ab (previously ghcr.io/x:1.2.3@sha256:cd)"
        );
        assert_eq!(
            ready_message(&image("1.2.4", None), None),
            "Latest image tag for ghcr.io/x resolved to 1.2.4"
        );
    }

    #[test]
    fn digests_are_read_as_the_reflection_policy_says() {
        use DigestReflectionPolicy::*;
        let known = image("1.0.0", Some("sha256:ab"));
        assert!(!needs_digest(Never, None, "ghcr.io/x", "1.0.0"));
        assert!(needs_digest(Always, Some(&known), "ghcr.io/x", "1.0.0"));
        assert!(!needs_digest(
            IfNotPresent,
            Some(&known),
            "ghcr.io/x",
            "1.0.0"
        ));
        assert!(needs_digest(
            IfNotPresent,
            Some(&known),
            "ghcr.io/x",
            "1.0.1"
        ));
        assert!(needs_digest(
            IfNotPresent,
            Some(&image("1.0.0", None)),
            "ghcr.io/x",
            "1.0.0"
        ));
        assert!(needs_digest(IfNotPresent, None, "ghcr.io/x", "1.0.0"));
    }

    #[test]
    fn cross_namespace_access_needs_matching_labels() {
        let labels: BTreeMap<String, String> = [("team".to_owned(), "a".to_owned())].into();
        assert!(
            acl_allows("ns/r", None, &labels)
                .unwrap_err()
                .contains("missing ACL labels")
        );
        let selector = |pairs: &[(&str, &str)]| AccessFrom {
            namespace_selectors: vec![NamespaceSelector {
                match_labels: Some(
                    pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }],
        };
        assert!(acl_allows("ns/r", Some(&selector(&[("team", "a")])), &labels).is_ok());
        assert!(acl_allows("ns/r", Some(&selector(&[])), &labels).is_ok());
        assert!(acl_allows("ns/r", Some(&selector(&[("team", "b")])), &labels).is_err());
    }
}
