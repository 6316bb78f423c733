//! Client certificates for registries. oci-client (and sigstore, which builds on it) build
//! their own HTTP clients and take no TLS client identity, so a registry that requires one is
//! reached through a loopback forwarding proxy owned by the registry client: the OCI
//! libraries speak plain HTTP to it, and it speaks HTTPS with the identity to the registry.
//! It forwards only to that registry, only for callers holding its random password, and
//! stops when the registry client is dropped.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::transport::constant_time_eq;

/// Headers of one hop, not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
];

struct Forwarder {
    /// `host[:port]` of the only registry requests may go to.
    registry: String,
    /// The whole `Proxy-Authorization` value callers must send.
    authorization: String,
    upstream: reqwest::Client,
}

/// A running bridge; dropping it stops the listener.
#[derive(Debug)]
pub struct IdentityBridge {
    proxy_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for IdentityBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

impl IdentityBridge {
    /// Starts a bridge to `registry` whose upstream requests go through `upstream` (the client
    /// holding the identity, the CA and any proxy). Needs a Tokio runtime.
    pub fn start(registry: &str, upstream: reqwest::Client) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let password = random_password()?;
        let forwarder = Arc::new(Forwarder {
            registry: registry.to_owned(),
            authorization: format!("Basic {}", BASE64.encode(format!("bridge:{password}"))),
            upstream,
        });
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let app = axum::Router::new().fallback(forward).with_state(forwarder);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "registry client-certificate bridge stopped");
            }
        });
        Ok(Self {
            proxy_url: format!("http://bridge:{password}@{address}"),
            task,
        })
    }

    /// The proxy URL (credentials included; never log it) for plain-HTTP registry requests.
    pub fn proxy_url(&self) -> &str {
        &self.proxy_url
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Rewrites `https://<registry>` in a header value to `http://<registry>`, so that redirects
/// and token realms on the registry itself come back through the bridge.
fn to_bridge(value: &HeaderValue, registry: &str) -> HeaderValue {
    let Ok(text) = value.to_str() else {
        return value.clone();
    };
    let secure = format!("https://{registry}");
    if !text.contains(&secure) {
        return value.clone();
    }
    HeaderValue::from_str(&text.replace(&secure, &format!("http://{registry}")))
        .unwrap_or_else(|_| value.clone())
}

async fn forward(State(forwarder): State<Arc<Forwarder>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let given = parts
        .headers
        .get("proxy-authorization")
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if !constant_time_eq(given, forwarder.authorization.as_bytes()) {
        return StatusCode::PROXY_AUTHENTICATION_REQUIRED.into_response();
    }
    let authority = parts.uri.authority().map(|a| a.as_str());
    if parts.uri.scheme_str() != Some("http") || authority != Some(forwarder.registry.as_str()) {
        return (
            StatusCode::FORBIDDEN,
            "this bridge only forwards to its registry",
        )
            .into_response();
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("https://{}{path}", forwarder.registry);
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let upstream = forwarder
        .upstream
        .request(parts.method, &url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    match upstream {
        Ok(answer) => {
            let mut headers = HeaderMap::new();
            copy_headers(answer.headers(), &mut headers);
            for name in [
                HeaderName::from_static("location"),
                HeaderName::from_static("www-authenticate"),
            ] {
                if let Some(value) = headers.get(&name) {
                    let rewritten = to_bridge(value, &forwarder.registry);
                    headers.insert(name, rewritten);
                }
            }
            let status = answer.status();
            let mut response = Response::new(Body::from_stream(answer.bytes_stream()));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            crate::oci::error_chain(&e.without_url()),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_password_holders_and_only_the_registry() {
        let bridge =
            IdentityBridge::start("registry.invalid:5000", reqwest::Client::new()).unwrap();
        let url = reqwest::Url::parse(bridge.proxy_url()).unwrap();
        let through =
            |proxy: reqwest::Proxy| reqwest::Client::builder().proxy(proxy).build().unwrap();
        let address = format!("http://{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let anonymous = through(reqwest::Proxy::http(address).unwrap());
        let status = anonymous
            .get("http://registry.invalid:5000/v2/")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let holder = through(reqwest::Proxy::http(bridge.proxy_url()).unwrap());
        let status = holder
            .get("http://elsewhere.invalid/v2/")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN);
        // The registry itself is tried (and here cannot be reached).
        let status = holder
            .get("http://registry.invalid:5000/v2/")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn registry_urls_in_redirects_and_realms_point_back_at_the_bridge() {
        let realm = HeaderValue::from_static(
            r#"Bearer realm="https://registry.local:5000/token",service="registry""#,
        );
        assert_eq!(
            to_bridge(&realm, "registry.local:5000"),
            r#"Bearer realm="http://registry.local:5000/token",service="registry""#
        );
        let elsewhere = HeaderValue::from_static("https://blobs.example/x");
        assert_eq!(to_bridge(&elsewhere, "registry.local:5000"), elsewhere);
    }
}
