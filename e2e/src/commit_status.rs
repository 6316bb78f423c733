//! A stand-in for the commit-status APIs of GitHub (Enterprise paths, `/api/v3`) and GitLab
//! (`/api/v4`): it checks the paths, the token header and the JSON fields each service
//! documents, keeps the statuses per commit, and lists them back as the services do.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};

/// One status a client created.
#[derive(Clone, Debug)]
pub struct PostedStatus {
    pub service: &'static str,
    pub repository: String,
    pub commit: String,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    posted: Vec<PostedStatus>,
    /// Requests refused: wrong path, token or body.
    refused: Vec<String>,
}

#[derive(Clone)]
pub struct CommitStatusApi {
    shared: Arc<Mutex<Shared>>,
    token: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl CommitStatusApi {
    pub async fn start(token: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = Self {
            shared: Arc::default(),
            token: token.to_owned(),
            base: format!("http://{}", listener.local_addr().unwrap()),
        };
        let app = axum::Router::new().fallback(serve).with_state(api.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        api
    }

    pub fn posted(&self) -> Vec<PostedStatus> {
        self.shared.lock().unwrap().posted.clone()
    }

    pub fn refused(&self) -> Vec<String> {
        self.shared.lock().unwrap().refused.clone()
    }
}

fn is_sha(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

async fn serve(
    State(api): State<CommitStatusApi>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let path = uri.path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut shared = api.shared.lock().unwrap();
    let mut refuse = |why: String| {
        shared.refused.push(format!("{method} {path}: {why}"));
        (StatusCode::BAD_REQUEST, Json(json!({"message": why})))
    };
    // GitHub: GET /api/v3/repos/{o}/{r}/commits/{sha}/statuses, POST /api/v3/repos/{o}/{r}/statuses/{sha}
    // GitLab: GET /api/v4/projects/{id}/repository/commits/{sha}/statuses, POST /api/v4/projects/{id}/statuses/{sha}
    let (service, repository, sha, listing) = match parts[..] {
        ["api", "v3", "repos", o, r, "commits", sha, "statuses"] => {
            ("github", format!("{o}/{r}"), sha, true)
        }
        ["api", "v3", "repos", o, r, "statuses", sha] => ("github", format!("{o}/{r}"), sha, false),
        [
            "api",
            "v4",
            "projects",
            id,
            "repository",
            "commits",
            sha,
            "statuses",
        ] => ("gitlab", id.replace("%2F", "/"), sha, true),
        ["api", "v4", "projects", id, "statuses", sha] => {
            ("gitlab", id.replace("%2F", "/"), sha, false)
        }
        _ => return refuse("unknown API path".into()),
    };
    if !is_sha(sha) {
        return refuse(format!("'{sha}' is not a commit hash"));
    }
    let authorized = match service {
        "github" => header("authorization") == format!("Bearer {}", api.token),
        _ => header("private-token") == api.token,
    };
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        );
    }
    let on_commit =
        |s: &&PostedStatus| s.service == service && s.repository == repository && s.commit == sha;
    if listing && method == Method::GET {
        // Newest first, as both services list them.
        let statuses: Vec<Value> = shared.posted.iter().rev().filter(on_commit).map(|s| match service {
            "github" => s.body.clone(),
            _ => json!({"name": s.body["name"], "status": s.body["state"], "description": s.body["description"], "sha": sha}),
        }).collect();
        return (StatusCode::OK, Json(Value::Array(statuses)));
    }
    if listing || method != Method::POST {
        return refuse("method not allowed".into());
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse("body is not JSON".into());
    };
    let (states, name_key): (&[&str], &str) = match service {
        "github" => (&["error", "failure", "pending", "success"], "context"),
        _ => (
            &["pending", "running", "success", "failed", "canceled"],
            "name",
        ),
    };
    let state_ok = body["state"].as_str().is_some_and(|s| states.contains(&s));
    if !state_ok || !body[name_key].is_string() || !body["description"].is_string() {
        return refuse(format!("invalid status body {body}"));
    }
    shared.posted.push(PostedStatus {
        service,
        repository,
        commit: sha.to_owned(),
        body: body.clone(),
    });
    (StatusCode::CREATED, Json(body))
}
