//! The ImageRepository reconciler: image name checked → scan decision → tags listed, filtered
//! by the exclusion list, sorted and stored on disk, with Flux's status, conditions and events.

use std::time::Duration;

use api::image::reason;
use api::image::v1::{ImageRepository, ImageRepositoryStatus};
use api::image::{DEFAULT_EXCLUSION, ScanResult};
use artifacts::oci::ArtifactUrl;
use jiff::Timestamp;
use kube::ResourceExt;
use regex::Regex;
use runtime::conditions::Conditions;
use runtime::outcome::{Failure, Requeue};
use runtime::reconciler::{Done, Progress, Reconciler};
use source_access::registry::AccessSpec;

use crate::Context;

fn interval(object: &ImageRepository) -> Duration {
    api::StatusObject::interval(object)
}

/// `spec.timeout`, else the interval; at least a second.
fn timeout(object: &ImageRepository) -> Duration {
    object
        .spec
        .timeout
        .as_deref()
        .and_then(|t| api::duration::parse(t).ok())
        .unwrap_or_else(|| interval(object))
        .max(Duration::from_secs(1))
}

/// An image as ImageRepositories name it: `[registry/]path`, no scheme and no tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub url: ArtifactUrl,
    /// Go-containerregistry's name of the repository: Docker Hub is `index.docker.io`.
    pub canonical: String,
}

/// Parses `spec.image` with Flux's messages.
pub fn parse_image(image: &str) -> Result<Image, String> {
    if let Some((scheme, _)) = image.split_once("://") {
        return Err(format!(
            "image '{image}' should not include URL scheme; remove '{scheme}://'"
        ));
    }
    let url: ArtifactUrl =
        format!("oci://{image}")
            .parse()
            .map_err(|e: artifacts::oci::UrlError| {
                format!("could not parse reference: {image}: {e}")
            })?;
    if url.digest().is_some() {
        return Err(format!("image '{image}' should not include a digest"));
    }
    if url.has_explicit_tag() {
        let tag = url.tag().unwrap_or_default();
        return Err(format!(
            "image '{image}' should not include a tag; remove ':{tag}'"
        ));
    }
    let registry = match url.registry() {
        "docker.io" => "index.docker.io",
        other => other,
    };
    let canonical = format!("{registry}/{}", url.reference().repository());
    Ok(Image { url, canonical })
}

/// The exclusion list in effect (the default when unset).
pub fn exclusion_list(object: &ImageRepository) -> Vec<String> {
    object
        .spec
        .exclusion_list
        .clone()
        .unwrap_or_else(|| vec![DEFAULT_EXCLUSION.to_owned()])
}

/// Whether to scan now, why, and otherwise when (Flux's `shouldScan`).
#[derive(Debug, PartialEq, Eq)]
pub enum ScanDecision {
    Scan(&'static str),
    Wait(Duration),
}

pub struct ScanInputs<'a> {
    pub status: &'a ImageRepositoryStatus,
    pub requested_at: Option<&'a str>,
    pub canonical: &'a str,
    pub exclusion_list: &'a [String],
    pub stored_tags: usize,
    pub interval: Duration,
    pub now: Timestamp,
}

pub fn should_scan(inputs: &ScanInputs<'_>) -> ScanDecision {
    let status = inputs.status;
    let Some(last) = &status.last_scan_result else {
        return ScanDecision::Scan("first scan");
    };
    if inputs.requested_at.is_some()
        && inputs.requested_at != status.last_handled_reconcile_at.as_deref()
    {
        return ScanDecision::Scan("reconcile requested");
    }
    if status.canonical_image_name.as_deref() != Some(inputs.canonical) {
        return ScanDecision::Scan("new image name");
    }
    let as_set = |list: &[String]| {
        list.iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    let observed = status
        .observed_exclusion_list
        .as_deref()
        .unwrap_or_default();
    if as_set(observed) != as_set(inputs.exclusion_list) {
        return ScanDecision::Scan("updated exclusion list");
    }
    if inputs.stored_tags == 0 {
        return ScanDecision::Scan("no tags in database");
    }
    let scanned = last
        .scan_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let since = inputs.now.duration_since(scanned);
    let since = Duration::try_from(since).unwrap_or_default();
    match inputs.interval.checked_sub(since) {
        Some(when) if when >= Duration::from_secs(1) => ScanDecision::Wait(when),
        _ => ScanDecision::Scan("triggered by interval"),
    }
}

/// The tags kept: those no exclusion pattern matches, in descending byte order.
pub fn filter_and_sort(
    mut tags: Vec<String>,
    exclusions: &[String],
) -> Result<Vec<String>, String> {
    let patterns = exclusions
        .iter()
        .map(|p| Regex::new(p).map_err(|e| format!("failed to compile regex {p}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    tags.retain(|tag| !patterns.iter().any(|p| p.is_match(tag)));
    tags.sort_unstable_by(|a, b| b.cmp(a));
    Ok(tags)
}

pub fn ready_message(result: &ScanResult) -> String {
    format!(
        "successful scan: found {} tags with checksum {}",
        result.tag_count,
        result.revision.as_deref().unwrap_or_default()
    )
}

/// Why no registry client could be had for an ImageRepository.
pub enum ClientError {
    /// Its Secrets or ServiceAccount say nothing usable.
    Access(String),
    /// The client could not be built (TLS material, proxy).
    Client(String),
}

impl Context {
    /// The registry client for `repository`'s credentials, certificates, proxy and timeout.
    pub async fn registry_client(
        &self,
        repository: &ImageRepository,
        image: &Image,
    ) -> Result<std::sync::Arc<artifacts::oci::RegistryClient>, ClientError> {
        let access = source_access::registry::resolve(
            &self.shared.client,
            &repository.namespace().unwrap_or_default(),
            &AccessSpec::from(&repository.spec),
            image.url.registry(),
        )
        .await
        .map_err(|e| ClientError::Access(e.to_string()))?;
        self.registry_clients
            .client(
                image.url.registry(),
                access.client_options(repository.spec.insecure, timeout(repository)),
            )
            .map_err(|e| ClientError::Client(e.to_string()))
    }
}

impl Reconciler<ImageRepository> for Context {
    fn shared(&self) -> &runtime::reconciler::Shared {
        &self.shared
    }

    async fn run(
        &self,
        object: &ImageRepository,
        status: &mut ImageRepositoryStatus,
        conditions: &mut Conditions,
        progress: &mut Progress<'_, ImageRepository>,
    ) -> Result<Done, Failure> {
        let image = parse_image(&object.spec.image)
            .map_err(|message| Failure::stalled(reason::IMAGE_URL_INVALID, message))?;
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let exclusions = exclusion_list(object);
        let stored = self.tags.get(&namespace, &name).map_err(|e| {
            Failure::retryable(
                reason::FAILURE,
                format!("failed to determine if it's scan time: {e}"),
            )
        })?;
        let previous = object.status.clone().unwrap_or_default();
        let interval = interval(object);
        let decision = should_scan(&ScanInputs {
            status: &previous,
            requested_at: runtime::requested_at(object).as_deref(),
            canonical: &image.canonical,
            exclusion_list: &exclusions,
            stored_tags: stored.len(),
            interval,
            now: Timestamp::now(),
        });
        let why = match decision {
            ScanDecision::Wait(when) => {
                let last = status.last_scan_result.clone().unwrap_or_default();
                let mut done = Done::new(ready_message(&last), Requeue::After(when));
                done.trace = Some(format!(
                    "no change in repository configuration since last scan, next scan in {}",
                    api::duration::format(Duration::from_secs(when.as_secs()))
                ));
                return Ok(done);
            }
            ScanDecision::Scan(why) => why,
        };
        progress
            .reconciling(status, conditions, &format!("scanning: {why}"))
            .await;
        let scan_failed = |e: String| {
            Failure::retryable(reason::READ_OPERATION_FAILED, format!("scan failed: {e}"))
        };
        let client = self
            .registry_client(object, &image)
            .await
            .map_err(|e| match e {
                ClientError::Access(e) => Failure::retryable(
                    reason::AUTHENTICATION_FAILED,
                    format!("failed to configure authentication options: {e}"),
                ),
                ClientError::Client(e) => scan_failed(e),
            })?;
        let listed = client
            .list_tags(&image.url)
            .await
            .map_err(|e| scan_failed(artifacts::oci::error_chain(&e)))?;
        let tags = filter_and_sort(listed, &exclusions).map_err(scan_failed)?;
        let revision = self
            .tags
            .set(&namespace, &name, &tags)
            .map_err(|e| scan_failed(e.to_string()))?;
        let unchanged = previous
            .last_scan_result
            .as_ref()
            .and_then(|r| r.revision.as_deref())
            == Some(revision.as_str());
        let result = ScanResult {
            revision: Some(revision),
            tag_count: tags.len() as i64,
            scan_time: Some(runtime::now_rfc3339()),
            latest_tags: Some(tags.iter().take(10).cloned().collect()),
        };
        let next = api::duration::format(interval);
        let mut done = Done::new(ready_message(&result), Requeue::After(interval));
        done.trace = Some(if unchanged {
            format!("tags did not change, next scan in {next}")
        } else {
            format!("successful scan, next scan in {next}")
        });
        status.last_scan_result = Some(result);
        status.canonical_image_name = Some(image.canonical);
        status.observed_exclusion_list = Some(exclusions);
        Ok(done)
    }

    async fn finalize(&self, object: &ImageRepository) -> Result<(), String> {
        self.tags
            .remove(&object.namespace().unwrap_or_default(), &object.name_any())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_checked_and_named_as_go_containerregistry_names_them() {
        let image = parse_image("alpine").unwrap();
        assert_eq!(image.canonical, "index.docker.io/library/alpine");
        let image = parse_image("127.0.0.1:5000/manifests/podinfo").unwrap();
        assert_eq!(image.canonical, "127.0.0.1:5000/manifests/podinfo");
        assert_eq!(
            parse_image("ghcr.io/org/app:1.0").unwrap_err(),
            "image 'ghcr.io/org/app:1.0' should not include a tag; remove ':1.0'"
        );
        assert_eq!(
            parse_image("https://ghcr.io/org/app").unwrap_err(),
            "image 'https://ghcr.io/org/app' should not include URL scheme; remove 'https://'"
        );
        assert!(parse_image("ghcr.io/Org/App").is_err());
    }

    #[test]
    fn scans_follow_fluxs_reasons_in_order() {
        let now: Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
        let exclusions = vec![DEFAULT_EXCLUSION.to_owned()];
        let fresh = ImageRepositoryStatus::default();
        let scanned = ImageRepositoryStatus {
            canonical_image_name: Some("r/a".into()),
            observed_exclusion_list: Some(exclusions.clone()),
            last_handled_reconcile_at: Some("1".into()),
            last_scan_result: Some(ScanResult {
                scan_time: Some("2026-12-03T11:58:00Z".into()),
                tag_count: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let base = || ScanInputs {
            status: &scanned,
            requested_at: Some("1"),
            canonical: "r/a",
            exclusion_list: &exclusions,
            stored_tags: 3,
            interval: Duration::from_secs(300),
            now,
        };
        assert_eq!(
            should_scan(&base()),
            ScanDecision::Wait(Duration::from_secs(180))
        );
        type Change<'a> = Box<dyn Fn(&mut ScanInputs<'a>) + 'a>;
        let cases: [(&str, Change<'_>); 6] = [
            ("first scan", Box::new(|i| i.status = &fresh)),
            (
                "reconcile requested",
                Box::new(|i| i.requested_at = Some("2")),
            ),
            ("new image name", Box::new(|i| i.canonical = "r/b")),
            (
                "updated exclusion list",
                Box::new(|i| i.exclusion_list = &[]),
            ),
            ("no tags in database", Box::new(|i| i.stored_tags = 0)),
            (
                "triggered by interval",
                Box::new(|i| i.now = "2026-12-03T12:03:00Z".parse().unwrap()),
            ),
        ];
        for (why, change) in cases {
            let mut inputs = base();
            change(&mut inputs);
            assert_eq!(should_scan(&inputs), ScanDecision::Scan(why));
        }
    }

    #[test]
    fn exclusions_drop_signature_tags_and_the_rest_sorts_descending() {
        let tags = ["6.1.0", "sha256-abc.sig", "latest", "6.2.0", "6.1.1"]
            .map(String::from)
            .to_vec();
        let kept = filter_and_sort(tags, &[DEFAULT_EXCLUSION.to_owned()]).unwrap();
        assert_eq!(kept, ["latest", "6.2.0", "6.1.1", "6.1.0"]);
        assert!(filter_and_sort(vec![], &["(".to_owned()]).is_err());
    }
}
