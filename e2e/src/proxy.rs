//! A forwarding HTTP proxy standing in for a corporate proxy: it takes absolute-form
//! requests, checks `Proxy-Authorization` when it has credentials, forwards each request to
//! its target, and records what it forwarded.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

#[derive(Default)]
struct Log {
    forwarded: Vec<String>,
    refused: usize,
}

#[derive(Clone)]
pub struct ForwardProxy {
    log: Arc<Mutex<Log>>,
    /// `Basic <base64(user:password)>` when the proxy requires credentials.
    authorization: Option<String>,
    upstream: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
}

/// Headers that belong to one hop and are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "proxy-authorization",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "host",
    "content-length",
];

impl ForwardProxy {
    /// Starts the proxy on a free loopback port; with `credentials`, requests must carry them.
    pub async fn start(credentials: Option<(&str, &str)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            log: Arc::default(),
            authorization: credentials.map(|(user, password)| {
                format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
            }),
            upstream: reqwest::Client::builder().no_proxy().build().unwrap(),
            address: format!("http://{}", listener.local_addr().unwrap()),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        proxy
    }

    /// The absolute URLs forwarded so far.
    pub fn forwarded(&self) -> Vec<String> {
        self.log.lock().unwrap().forwarded.clone()
    }

    /// Requests refused for missing or wrong credentials.
    pub fn refused(&self) -> usize {
        self.log.lock().unwrap().refused
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(State(proxy): State<ForwardProxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(expected) = &proxy.authorization {
        let given = parts
            .headers
            .get("proxy-authorization")
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            proxy.log.lock().unwrap().refused += 1;
            let mut response = StatusCode::PROXY_AUTHENTICATION_REQUIRED.into_response();
            response.headers_mut().insert(
                "proxy-authenticate",
                HeaderValue::from_static("Basic realm=\"e2e\""),
            );
            return response;
        }
    }
    if parts.uri.scheme().is_none() {
        return (StatusCode::BAD_REQUEST, "not a proxy request").into_response();
    }
    let url = parts.uri.to_string();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let upstream = proxy
        .upstream
        .request(parts.method, &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    proxy.log.lock().unwrap().forwarded.push(url);
    match upstream {
        Ok(answer) => {
            let status = answer.status();
            let mut headers = HeaderMap::new();
            copy_headers(answer.headers(), &mut headers);
            let bytes: Bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
