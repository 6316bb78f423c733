//! What the cluster commands share: the Flux kinds they handle, where they look, the
//! cluster client, and readers of status conditions.

use anyhow::Context;
use clap::Args;
use kube::Client;
use kube::api::ApiResource;
use serde_json::Value;

/// Where to look: `-n` (default flux-system) or `-A`.
#[derive(Args, Debug, Clone)]
pub struct Scope {
    /// The namespace of the objects.
    #[arg(short, long, global = true, default_value = "flux-system")]
    pub(super) namespace: String,
    /// All namespaces (`get` only).
    #[arg(short = 'A', long, global = true)]
    pub(super) all_namespaces: bool,
}

/// A Flux kind the commands handle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    GitRepository,
    OciRepository,
    HelmRepository,
    HelmChart,
    Kustomization,
    HelmRelease,
    Alert,
    Receiver,
    ImageRepository,
    ImagePolicy,
    ImageUpdateAutomation,
}

impl Kind {
    pub(super) fn resource(self) -> ApiResource {
        let (api_version, kind) = match self {
            Kind::GitRepository => ("source.toolkit.fluxcd.io/v1", "GitRepository"),
            Kind::OciRepository => ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
            Kind::HelmRepository => ("source.toolkit.fluxcd.io/v1", "HelmRepository"),
            Kind::HelmChart => ("source.toolkit.fluxcd.io/v1", "HelmChart"),
            Kind::Kustomization => ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
            Kind::HelmRelease => ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
            Kind::Alert => ("notification.toolkit.fluxcd.io/v1beta3", "Alert"),
            Kind::Receiver => ("notification.toolkit.fluxcd.io/v1", "Receiver"),
            Kind::ImageRepository => ("image.toolkit.fluxcd.io/v1", "ImageRepository"),
            Kind::ImagePolicy => ("image.toolkit.fluxcd.io/v1", "ImagePolicy"),
            Kind::ImageUpdateAutomation => ("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation"),
        };
        api::api_resource(api_version, kind)
    }

    /// The controller that reconciles this kind.
    pub(super) fn controller(self) -> &'static str {
        match self {
            Kind::GitRepository | Kind::OciRepository | Kind::HelmRepository | Kind::HelmChart => {
                "source-controller"
            }
            Kind::Kustomization => "kustomize-controller",
            Kind::HelmRelease => "helm-controller",
            Kind::Alert | Kind::Receiver => "notification-controller",
            Kind::ImageRepository | Kind::ImagePolicy => "image-reflector-controller",
            Kind::ImageUpdateAutomation => "image-automation-controller",
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::GitRepository => "GitRepository",
            Kind::OciRepository => "OCIRepository",
            Kind::HelmRepository => "HelmRepository",
            Kind::HelmChart => "HelmChart",
            Kind::Kustomization => "Kustomization",
            Kind::HelmRelease => "HelmRelease",
            Kind::Alert => "Alert",
            Kind::Receiver => "Receiver",
            Kind::ImageRepository => "ImageRepository",
            Kind::ImagePolicy => "ImagePolicy",
            Kind::ImageUpdateAutomation => "ImageUpdateAutomation",
        }
    }

    /// How `suspend` and `resume` name the kind (flux's words for the image kinds).
    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::ImageRepository => "image repository",
            Kind::ImagePolicy => "image policy",
            Kind::ImageUpdateAutomation => "image update automation",
            other => other.name(),
        }
    }

    /// Whether `get` shows a REVISION column.
    pub(super) fn has_revision(self) -> bool {
        !matches!(
            self,
            Kind::Alert
                | Kind::Receiver
                | Kind::ImageRepository
                | Kind::ImagePolicy
                | Kind::ImageUpdateAutomation
        )
    }

    /// The kind named `name` (as in a `sourceRef` or `chartRef`), when the CLI handles it.
    pub(super) fn from_name(name: &str) -> Option<Kind> {
        [
            Kind::GitRepository,
            Kind::OciRepository,
            Kind::HelmRepository,
            Kind::HelmChart,
            Kind::Kustomization,
            Kind::HelmRelease,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

pub(super) async fn client() -> anyhow::Result<Client> {
    Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG)")
}

/// "Reason: message" of a condition.
pub(super) fn condition_text(condition: &Value) -> String {
    format!(
        "{}: {}",
        condition["reason"].as_str().unwrap_or(""),
        condition["message"].as_str().unwrap_or("")
    )
}

pub(super) fn ready(object: &Value) -> Option<&Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

pub(super) fn condition_status(object: &Value, type_: &str) -> String {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("False")
        .to_string()
}

/// Runs of 40 to 128 hex digits cut to 8, as flux's `TruncateHex`.
pub fn truncate_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if (40..=128).contains(&run.len()) {
            out.push_str(&run[..8]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Server-side applies `object` (a `kind` named `noun` in messages), then waits until its
/// Ready condition settles for the applied generation; the object as it then is, or why not.
pub(super) async fn apply_and_wait(
    kind: Kind,
    noun: &str,
    object: &Value,
    timeout: std::time::Duration,
) -> anyhow::Result<Value> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
    eprintln!("✚ generating {noun}");
    crate::ui::action(format!("applying {noun}"));
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client().await?, ns, &kind.resource());
    let existed = api.get_opt(name).await?.is_some();
    let applied = api
        .patch(
            name,
            &kube::api::PatchParams::apply("flux-rs").force(),
            &kube::api::Patch::Apply(object),
        )
        .await
        .with_context(|| format!("applying {} {ns}/{name}", kind.name()))?;
    let verb = if existed { "updated" } else { "created" };
    crate::ui::success(format!("{noun} {verb}"));
    eprintln!("◎ waiting for {noun} reconciliation");
    let generation = applied.metadata.generation;
    let deadline = tokio::time::Instant::now() + timeout;
    let object = loop {
        let object = serde_json::to_value(api.get(name).await?)?;
        // Ready (True or False) for the generation just applied.
        let settled = ready(&object).is_some_and(|c| {
            c["status"] != "Unknown" && c["observedGeneration"].as_i64() == generation
        });
        if settled {
            break object;
        }
        if tokio::time::Instant::now() > deadline {
            let state = ready(&object).map(condition_text);
            anyhow::bail!(
                "timeout waiting for {} {ns}/{name} to be reconciled: {}",
                kind.name(),
                state.unwrap_or_else(|| "no Ready condition yet".into())
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let condition = ready(&object).cloned().unwrap_or_default();
    if condition["status"] != "True" {
        anyhow::bail!(
            "{}",
            condition["message"]
                .as_str()
                .unwrap_or("reconciliation failed")
        );
    }
    crate::ui::success(format!("{noun} reconciliation completed"));
    Ok(object)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_are_read_by_type() {
        let object = json!({"status": {"conditions": [
            {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "applying"},
            {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "in progress"}]}});
        assert_eq!(
            ready(&object).map(condition_text).as_deref(),
            Some("Progressing: in progress")
        );
        assert_eq!(condition_status(&object, "Reconciling"), "True");
        assert_eq!(condition_status(&object, "Stalled"), "False");
        assert_eq!(ready(&json!({"status": {}})), None);
        assert_eq!(condition_status(&json!({}), "Ready"), "False");
    }

    #[test]
    fn hex_runs_are_shortened_like_flux() {
        let digest = "3b6cdcc7adf9dcb7e2a4ac4e7f0e8e9f31a4ad4bd2f2c0f4f8a5d7e0c1b2a3d4";
        assert_eq!(
            truncate_hex(&format!("latest@sha256:{digest}")),
            "latest@sha256:3b6cdcc7"
        );
        assert_eq!(
            truncate_hex("main@sha1:0123456789abcdef"),
            "main@sha1:0123456789abcdef"
        );
        assert_eq!(
            truncate_hex(&format!(
                "stored artifact for digest 'latest@sha256:{digest}'"
            )),
            "stored artifact for digest 'latest@sha256:3b6cdcc7'"
        );
    }
}
