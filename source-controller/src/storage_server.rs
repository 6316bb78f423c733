//! The artifact file server: what Kustomizations (and anyone) download artifacts from.

use artifacts::storage::Storage;

/// The storage HTTP server: a file server over the store's root (`GET /` answers 200 for the
/// readiness probe).
pub fn router(storage: &Storage) -> axum::Router {
    axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { "flux-rs artifact storage\n" }),
        )
        .fallback_service(
            tower_http::services::ServeDir::new(storage.root())
                .append_index_html_on_directories(false),
        )
}
