//! `trace`: which Kustomization applied an object, and from which source.

use anyhow::{Context, bail};
use clap::Args;
use kube::Client;
use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::common::{Kind, client, ready};

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The kind of the object (`deployment`, `configmap`, `Service`, …).
    kind: String,
    /// Its name.
    name: String,
    /// The object's namespace.
    #[arg(short, long, default_value = "flux-system")]
    namespace: String,
}

impl TraceArgs {
    /// `trace`: the object, the Kustomization that applied it, and its source.
    pub async fn run(self) -> anyhow::Result<()> {
        let client = client().await?;
        let discovery = kube::Discovery::new(client.clone()).run().await?;
        let wanted = self.kind.to_ascii_lowercase();
        let (resource, capabilities) = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(r, _)| r.kind.to_ascii_lowercase() == wanted || r.plural == wanted)
            .with_context(|| format!("unknown kind '{}'", self.kind))?;
        let api: Api<DynamicObject> = if capabilities.scope == kube::discovery::Scope::Namespaced {
            Api::namespaced_with(client.clone(), &self.namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let object = api.get(&self.name).await.with_context(|| {
            format!(
                "{} '{}' not found in {} namespace",
                resource.kind, self.name, self.namespace
            )
        })?;
        let labels = object.metadata.labels.clone().unwrap_or_default();
        let owner = |group: &str| {
            labels
                .get(&format!("{group}/name"))
                .zip(labels.get(&format!("{group}/namespace")))
        };
        let (helm, (owner, owner_ns)) = match (
            owner("helm.toolkit.fluxcd.io"),
            owner("kustomize.toolkit.fluxcd.io"),
        ) {
            (Some(release), _) => (true, release),
            (None, Some(kustomization)) => (false, kustomization),
            (None, None) => bail!("object not managed by Flux"),
        };
        let mut out = String::new();
        field(
            &mut out,
            "Object",
            &format!("{}/{}", resource.kind.to_ascii_lowercase(), self.name),
        );
        if let Some(ns) = &object.metadata.namespace {
            field(&mut out, "Namespace", ns);
        }
        field(&mut out, "Status", "Managed by Flux");
        out.push_str("---\n");
        if helm {
            trace_helm_release(&mut out, client, owner, owner_ns).await?;
        } else {
            trace_kustomization(&mut out, client, owner, owner_ns).await?;
        }
        print!("{out}");
        Ok(())
    }
}

/// The Kustomization block, then its OCIRepository's when it has one.
async fn trace_kustomization(
    out: &mut String,
    client: Client,
    owner: &str,
    owner_ns: &str,
) -> anyhow::Result<()> {
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), owner_ns, &Kind::Kustomization.resource());
    let ks = serde_json::to_value(
        kustomizations
            .get(owner)
            .await
            .with_context(|| format!("Kustomization {owner_ns}/{owner}"))?,
    )?;
    field(out, "Kustomization", owner);
    field(out, "Namespace", owner_ns);
    if let Some(target) = ks.pointer("/spec/targetNamespace").and_then(Value::as_str) {
        field(out, "Target", target);
    }
    field(out, "Path", &text(&ks, "/spec/path"));
    field(out, "Revision", &text(&ks, "/status/lastAppliedRevision"));
    status_fields(out, &ks);
    let source_name = text(&ks, "/spec/sourceRef/name");
    let source_ns = ks
        .pointer("/spec/sourceRef/namespace")
        .and_then(Value::as_str)
        .unwrap_or(owner_ns)
        .to_string();
    let source_kind = text(&ks, "/spec/sourceRef/kind");
    if let Some(kind @ (Kind::OciRepository | Kind::GitRepository)) = Kind::from_name(&source_kind)
    {
        let sources: Api<DynamicObject> =
            Api::namespaced_with(client, &source_ns, &kind.resource());
        if let Ok(source) = sources.get(&source_name).await {
            let source = serde_json::to_value(source)?;
            if kind == Kind::GitRepository {
                git_repository_fields(out, &source, &source_name, &source_ns);
            } else {
                oci_repository_fields(out, &source, &source_name, &source_ns);
            }
        }
    }
    Ok(())
}

/// The HelmRelease block, then its chart source's (HelmChart and HelmRepository, or the
/// OCIRepository of `chartRef`).
async fn trace_helm_release(
    out: &mut String,
    client: Client,
    owner: &str,
    owner_ns: &str,
) -> anyhow::Result<()> {
    let get = |kind: Kind, namespace: String, name: String| {
        let client = client.clone();
        async move {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client, &namespace, &kind.resource());
            api.get(&name)
                .await
                .ok()
                .and_then(|o| serde_json::to_value(o).ok())
        }
    };
    let release = get(Kind::HelmRelease, owner_ns.to_owned(), owner.to_owned())
        .await
        .with_context(|| format!("HelmRelease {owner_ns}/{owner}"))?;
    field(out, "HelmRelease", owner);
    field(out, "Namespace", owner_ns);
    if let Some(target) = release
        .pointer("/spec/targetNamespace")
        .and_then(Value::as_str)
    {
        field(out, "Target", target);
    }
    field(
        out,
        "Revision",
        &text(&release, "/status/lastAttemptedRevision"),
    );
    status_fields(out, &release);
    if let Some((chart_ns, chart_name)) = text(&release, "/status/helmChart").split_once('/') {
        let Some(chart) = get(Kind::HelmChart, chart_ns.to_owned(), chart_name.to_owned()).await
        else {
            return Ok(());
        };
        out.push_str("---\n");
        field(out, "HelmChart", chart_name);
        field(out, "Namespace", chart_ns);
        field(out, "Chart", &text(&chart, "/spec/chart"));
        field(out, "Version", &text(&chart, "/spec/version"));
        field(out, "Revision", &text(&chart, "/status/artifact/revision"));
        status_fields(out, &chart);
        let repository = text(&chart, "/spec/sourceRef/name");
        if let Some(repo) = get(
            Kind::HelmRepository,
            chart_ns.to_owned(),
            repository.clone(),
        )
        .await
        {
            out.push_str("---\n");
            field(out, "HelmRepository", &repository);
            field(out, "Namespace", chart_ns);
            field(out, "URL", &text(&repo, "/spec/url"));
            let revision = text(&repo, "/status/artifact/revision");
            if !revision.is_empty() {
                field(out, "Revision", &revision);
            }
            status_fields(out, &repo);
        }
    } else if text(&release, "/spec/chartRef/kind") == "OCIRepository" {
        let name = text(&release, "/spec/chartRef/name");
        let namespace = release
            .pointer("/spec/chartRef/namespace")
            .and_then(Value::as_str)
            .unwrap_or(owner_ns)
            .to_owned();
        if let Some(source) = get(Kind::OciRepository, namespace.clone(), name.clone()).await {
            oci_repository_fields(out, &source, &name, &namespace);
        }
    }
    Ok(())
}

/// The GitRepository block: where it clones from, the reference and what it fetched.
fn git_repository_fields(out: &mut String, source: &Value, name: &str, namespace: &str) {
    out.push_str("---\n");
    field(out, "GitRepository", name);
    field(out, "Namespace", namespace);
    field(out, "URL", &text(source, "/spec/url"));
    let reference = |key: &str| {
        source
            .pointer(&format!("/spec/ref/{key}"))
            .and_then(Value::as_str)
    };
    if let Some(tag) = reference("tag").or_else(|| reference("semver")) {
        field(out, "Tag", tag);
    } else if let Some(branch) = reference("branch") {
        field(out, "Branch", branch);
    }
    field(out, "Revision", &text(source, "/status/artifact/revision"));
    status_fields(out, source);
}

/// The OCIRepository block: where it pulls from, what it fetched, and the origin its
/// artifact records.
fn oci_repository_fields(out: &mut String, source: &Value, name: &str, namespace: &str) {
    out.push_str("---\n");
    field(out, "OCIRepository", name);
    field(out, "Namespace", namespace);
    field(out, "URL", &text(source, "/spec/url"));
    if let Some(tag) = source.pointer("/spec/ref/tag").and_then(Value::as_str) {
        field(out, "Tag", tag);
    } else if let Some(semver) = source.pointer("/spec/ref/semver").and_then(Value::as_str) {
        field(out, "Tag", semver);
    } else if let Some(digest) = source.pointer("/spec/ref/digest").and_then(Value::as_str) {
        field(out, "Digest", digest);
    }
    field(out, "Revision", &text(source, "/status/artifact/revision"));
    let origin = |key: &str| {
        text(
            source,
            &format!("/status/artifact/metadata/{}", key.replace('/', "~1")),
        )
    };
    let origin_source = origin("org.opencontainers.image.source");
    if !origin_source.is_empty() {
        field(out, "Origin Source", &origin_source);
    }
    let origin_revision = origin("org.opencontainers.image.revision");
    if !origin_revision.is_empty() {
        field(out, "Origin Revision", &origin_revision);
    }
    status_fields(out, source);
}

/// The string at `pointer`, empty when there is none.
fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// One `Label:` line of the trace block, values aligned at column 17.
fn field(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("{:<17}{value}\n", format!("{label}:")));
}

/// The `Status:` and `Message:` lines from the Ready condition.
fn status_fields(out: &mut String, object: &Value) {
    match ready(object) {
        Some(c) => {
            let time = c["lastTransitionTime"].as_str().unwrap_or("");
            let status = if c["status"] == "False" {
                format!("Last reconciliation failed at {time}")
            } else {
                format!("Last reconciled at {time}")
            };
            field(out, "Status", &status);
            field(out, "Message", c["message"].as_str().unwrap_or(""));
        }
        None => field(out, "Status", "Unknown"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_oci_repository_block_names_its_reference_origin_and_status() {
        let source = json!({
            "spec": {"url": "oci://registry/podinfo", "ref": {"semver": ">=6.0.0"}},
            "status": {
                "artifact": {"revision": "6.1.0@sha256:1", "metadata": {
                    "org.opencontainers.image.source": "https://github.com/stefanprodan/podinfo"}},
                "conditions": [{"type": "Ready", "status": "True",
                    "lastTransitionTime": "2026-01-01T00:00:00Z", "message": "stored artifact"}]}});
        let mut out = String::new();
        oci_repository_fields(&mut out, &source, "podinfo", "flux-system");
        assert_eq!(
            out,
            "---\n\
             OCIRepository:   podinfo\n\
             Namespace:       flux-system\n\
             URL:             oci://registry/podinfo\n\
             Tag:             >=6.0.0\n\
             Revision:        6.1.0@sha256:1\n\
             Origin Source:   https://github.com/stefanprodan/podinfo\n\
             Status:          Last reconciled at 2026-01-01T00:00:00Z\n\
             Message:         stored artifact\n"
        );
        let mut out = String::new();
        status_fields(
            &mut out,
            &json!({"status": {"conditions": [{"type": "Ready",
            "status": "False", "lastTransitionTime": "t", "message": "fetch failed"}]}}),
        );
        assert_eq!(
            out,
            "Status:          Last reconciliation failed at t\nMessage:         fetch failed\n"
        );
        let mut out = String::new();
        status_fields(&mut out, &json!({}));
        assert_eq!(out, "Status:          Unknown\n");
    }
}
