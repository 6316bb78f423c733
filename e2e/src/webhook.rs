//! An HTTP endpoint standing in for Slack or a generic webhook: it checks requests as the
//! real service would (JSON body and content type, the bearer token when one is expected),
//! records them, and can be told to fail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::tls::Issued;

/// One request the endpoint accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    /// Requests refused (bad content type, bad JSON, wrong token, forced failure).
    refused: usize,
    fail_with: Option<StatusCode>,
    refused_handshakes: usize,
}

#[derive(Clone)]
pub struct Webhook {
    shared: Arc<Mutex<Shared>>,
    token: Option<String>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Webhook {
    /// Starts the endpoint on a free loopback port; with `token`, requests must carry
    /// `Authorization: Bearer <token>`.
    pub async fn start(token: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = Self::new(format!("http://{}", listener.local_addr().unwrap()), token);
        let app = hook.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        hook
    }

    /// Starts the endpoint over HTTPS with `server`'s certificate; with `client_ca`, a TLS
    /// client must present a certificate that CA issued (mutual TLS).
    pub async fn start_tls(server: &Issued, client_ca: Option<&str>, token: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = Self::new(format!("https://{}", listener.local_addr().unwrap()), token);
        let acceptor = tls_acceptor(server, client_ca);
        let app = hook.router();
        let refusals = hook.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, app, refusals) = (acceptor.clone(), app.clone(), refusals.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        refusals.shared.lock().unwrap().refused_handshakes += 1;
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        hook
    }

    fn new(base: String, token: Option<&str>) -> Self {
        Self {
            shared: Arc::default(),
            token: token.map(str::to_owned),
            base,
        }
    }

    fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(self.clone())
    }

    /// TLS handshakes refused (no or an untrusted client certificate).
    pub fn refused_handshakes(&self) -> usize {
        self.shared.lock().unwrap().refused_handshakes
    }

    /// Makes every following request fail with `status` (or succeed again with `None`).
    pub fn fail_with(&self, status: Option<StatusCode>) {
        self.shared.lock().unwrap().fail_with = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    pub fn refused(&self) -> usize {
        self.shared.lock().unwrap().refused
    }

    /// Waits until `count` requests satisfying `pick` arrived, and returns them.
    pub async fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
        pick: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let matching: Vec<Received> = self.received().into_iter().filter(|r| pick(r)).collect();
            if matching.len() >= count || tokio::time::Instant::now() > deadline {
                return matching;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn receive(
    State(hook): State<Webhook>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut shared = hook.shared.lock().unwrap();
    if let Some(status) = shared.fail_with {
        shared.refused += 1;
        return status;
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let authorized = match &hook.token {
        Some(token) => {
            headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {token}"))
        }
        None => true,
    };
    let parsed = serde_json::from_slice::<serde_json::Value>(&body);
    match (json_type, authorized, parsed) {
        (true, true, Ok(body)) => {
            shared.received.push(Received {
                path: uri.path().to_owned(),
                headers,
                body,
            });
            StatusCode::OK
        }
        (_, false, _) => {
            shared.refused += 1;
            StatusCode::UNAUTHORIZED
        }
        _ => {
            shared.refused += 1;
            StatusCode::BAD_REQUEST
        }
    }
}

fn tls_acceptor(server: &Issued, client_ca: Option<&str>) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let certs = CertificateDer::pem_slice_iter(server.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
    let config = builder.with_single_cert(certs, key).unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
