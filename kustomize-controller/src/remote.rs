//! `spec.kubeConfig`: applying to another cluster with the kubeconfig a Secret holds. As in
//! Flux, credentials must be inline: exec plugins, auth providers and file paths (which would
//! read the controller's own files) are refused, and `insecure-skip-tls-verify` needs
//! `--insecure-kubeconfig-tls`.

use api::meta::KubeConfigReference;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The client for the cluster a `kubeConfig` names, acting as `impersonate` when given.
pub async fn client(
    local: &Client,
    namespace: &str,
    reference: &KubeConfigReference,
    impersonate: Option<String>,
    allow_insecure_tls: bool,
) -> Result<Client, String> {
    let Some(secret_ref) = &reference.secret_ref else {
        return Err(
            "spec.kubeConfig: only secretRef is supported by flux-rs (configMapRef needs cloud workload identity)"
                .to_owned(),
        );
    };
    let name = &secret_ref.name;
    let data = runtime::secret_data(local, namespace, name)
        .await
        .map_err(|e| format!("failed to get kubeconfig secret '{namespace}/{name}': {e}"))?
        .ok_or_else(|| format!("kubeconfig secret '{namespace}/{name}' not found"))?;
    let keys: Vec<&str> = match &secret_ref.key {
        Some(key) => vec![key.as_str()],
        None => vec!["value", "value.yaml"],
    };
    let bytes = keys.iter().find_map(|key| data.get(*key)).ok_or_else(|| {
        format!(
            "kubeconfig secret '{namespace}/{name}' has none of the keys {}",
            keys.join(", ")
        )
    })?;
    let text = String::from_utf8(bytes.0.clone())
        .map_err(|_| format!("kubeconfig secret '{namespace}/{name}' is not UTF-8"))?;
    let kubeconfig = Kubeconfig::from_yaml(&text)
        .map_err(|e| format!("kubeconfig secret '{namespace}/{name}': {e}"))?;
    check(&kubeconfig, allow_insecure_tls)
        .map_err(|reason| format!("kubeconfig secret '{namespace}/{name}': {reason}"))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| format!("kubeconfig secret '{namespace}/{name}': {e}"))?;
    config.auth_info.impersonate = impersonate;
    Client::try_from(config).map_err(|e| format!("kubeconfig secret '{namespace}/{name}': {e}"))
}

/// Refuses what would run code, read local files or skip TLS verification unasked.
fn check(kubeconfig: &Kubeconfig, allow_insecure_tls: bool) -> Result<(), String> {
    for named in &kubeconfig.auth_infos {
        let Some(user) = &named.auth_info else {
            continue;
        };
        let refused = [
            (user.exec.is_some(), "exec"),
            (user.auth_provider.is_some(), "auth-provider"),
            (user.token_file.is_some(), "tokenFile"),
            (user.client_certificate.is_some(), "client-certificate"),
            (user.client_key.is_some(), "client-key"),
        ];
        if let Some((_, field)) = refused.iter().find(|(set, _)| *set) {
            return Err(format!(
                "users[{}].user.{field} is not allowed: credentials must be inline",
                named.name
            ));
        }
    }
    for named in &kubeconfig.clusters {
        let Some(cluster) = &named.cluster else {
            continue;
        };
        if cluster.certificate_authority.is_some() {
            return Err(format!(
                "clusters[{}].cluster.certificate-authority is not allowed: use certificate-authority-data",
                named.name
            ));
        }
        if cluster.insecure_skip_tls_verify == Some(true) && !allow_insecure_tls {
            return Err(format!(
                "clusters[{}].cluster.insecure-skip-tls-verify needs --insecure-kubeconfig-tls",
                named.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(user: &str, cluster: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: remote\n  cluster:\n    server: https://remote:6443\n{cluster}\nusers:\n- name: ci\n  user:\n{user}\ncontexts:\n- name: remote\n  context: {{cluster: remote, user: ci}}\ncurrent-context: remote\n"
        ))
        .unwrap()
    }

    #[test]
    fn only_inline_credentials_and_verified_tls_unless_allowed() {
        let inline = kubeconfig("    token: abc", "    certificate-authority-data: Zm9v");
        assert_eq!(check(&inline, false), Ok(()));
        let exec = kubeconfig(
            "    exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}",
            "    certificate-authority-data: Zm9v",
        );
        assert_eq!(
            check(&exec, true).unwrap_err(),
            "users[ci].user.exec is not allowed: credentials must be inline"
        );
        let file = kubeconfig("    token: abc", "    certificate-authority: /etc/ca.crt");
        assert!(
            check(&file, true)
                .unwrap_err()
                .contains("certificate-authority is not allowed")
        );
        let insecure = kubeconfig("    token: abc", "    insecure-skip-tls-verify: true");
        assert!(
            check(&insecure, false)
                .unwrap_err()
                .contains("--insecure-kubeconfig-tls")
        );
        assert_eq!(check(&insecure, true), Ok(()));
    }
}
