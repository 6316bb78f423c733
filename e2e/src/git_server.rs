//! A Git server on loopback: the real `git http-backend` (smart HTTP, as CGI) behind basic
//! auth or a bearer token, pushes allowed to whoever authenticated. It counts the pack
//! downloads, so a test can tell whether a client cloned or only listed references.
//! Repositories are made and changed with the real `git` CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use tokio::io::AsyncWriteExt;

/// What the server asks of clients.
#[derive(Clone, Debug)]
pub enum GitAuth {
    Anonymous,
    Basic { username: String, password: String },
    Bearer(String),
}

struct Shared {
    root: PathBuf,
    auth: GitAuth,
    /// POSTs to `git-upload-pack`: negotiations that send a pack (a listing sends none).
    pack_requests: AtomicUsize,
    refused: AtomicUsize,
    /// Run once when the next client asks to push: another push that gets there first.
    before_next_push: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

pub struct GitServer {
    _root: tempfile::TempDir,
    shared: Arc<Shared>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl GitServer {
    pub async fn start(auth: GitAuth) -> Self {
        let root = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared {
            root: root.path().to_owned(),
            auth,
            pack_requests: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            before_next_push: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            _root: root,
            shared,
            base,
        }
    }

    /// Creates the bare repository `<name>.git` and returns a work tree whose `origin` it is.
    pub fn create_repo(&self, name: &str) -> Repo {
        let bare = self.bare_path(name);
        git(
            &self.shared.root,
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        let work = tempfile::tempdir().unwrap();
        git(work.path(), &["init", "-q", "-b", "main"]);
        git(
            work.path(),
            &["remote", "add", "origin", bare.to_str().unwrap()],
        );
        Repo { work }
    }

    pub fn bare_path(&self, name: &str) -> PathBuf {
        self.shared.root.join(format!("{name}.git"))
    }

    /// The clone URL of `<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.base)
    }

    /// Pack negotiations served so far (each clone or fetch makes at least one).
    pub fn pack_requests(&self) -> usize {
        self.shared.pack_requests.load(Ordering::SeqCst)
    }

    /// Runs `race` when the next client starts a push (asks for the references to update),
    /// so that what `race` pushes gets there first.
    pub fn before_next_push(&self, race: impl FnOnce() + Send + 'static) {
        *self.shared.before_next_push.lock().unwrap() = Some(Box::new(race));
    }

    /// Requests refused for missing or wrong credentials.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

/// A work tree to commit in, pushing to the server's bare repository.
pub struct Repo {
    work: tempfile::TempDir,
}

impl Repo {
    pub fn path(&self) -> &Path {
        self.work.path()
    }

    /// Writes `files` (path, content; an empty content removes the file) and commits them.
    /// Returns the commit hash.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            let file = self.work.path().join(path);
            if content.is_empty() {
                let _ = std::fs::remove_file(&file);
                continue;
            }
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, content).unwrap();
        }
        git(self.path(), &["add", "-A"]);
        git(
            self.path(),
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git(self.path(), &["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Runs `git` with `args` in the work tree; returns its standard output.
    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }

    pub fn push(&self, refspecs: &[&str]) {
        let mut args = vec!["push", "-q", "--force", "origin"];
        args.extend_from_slice(refspecs);
        git(self.path(), &args);
    }
}

/// Runs the real `git` with a fixed identity and no user or system configuration.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Flux Tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.org")
        .env("GIT_COMMITTER_NAME", "Flux Tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.org")
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The authenticated user, or None when the request's credentials are missing or wrong.
fn authenticate(auth: &GitAuth, headers: &HeaderMap) -> Option<String> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match auth {
        GitAuth::Anonymous => Some("anonymous".into()),
        GitAuth::Basic { username, password } => {
            let encoded = header.strip_prefix("Basic ")?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            (decoded == format!("{username}:{password}").as_bytes()).then(|| username.clone())
        }
        GitAuth::Bearer(token) => {
            (header.strip_prefix("Bearer ") == Some(token.as_str())).then(|| "bearer".into())
        }
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(user) = authenticate(&shared.auth, &headers) else {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Body::empty())
            .unwrap();
    };
    if method == Method::POST && uri.path().ends_with("/git-upload-pack") {
        shared.pack_requests.fetch_add(1, Ordering::SeqCst);
    }
    if uri.query() == Some("service=git-receive-pack") {
        let race = shared.before_next_push.lock().unwrap().take();
        if let Some(race) = race {
            tokio::task::spawn_blocking(race).await.unwrap();
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git http-backend starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await.unwrap();
    let _ = writer.await;
    cgi_response(&output.stdout)
}

/// A CGI answer (headers, a blank line, the body) as an HTTP response.
fn cgi_response(output: &[u8]) -> Response {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, at + 4))
        .or_else(|| {
            output
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|at| (at, at + 2))
        });
    let Some((end, body_start)) = split else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(output.to_vec()))
            .unwrap();
    };
    let mut response = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(&output[..end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().and_then(|c| c.parse().ok());
            response = response.status(code.unwrap_or(500));
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(Body::from(output[body_start..].to_vec()))
        .unwrap()
}
