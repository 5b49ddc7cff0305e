//! The management dashboard: server-rendered pages at `/` and `/ui/...`, beside the API
//! (which keeps `/api/...` and its root paths; no route here collides with one).
//!
//! Pages are HTML rendered by `maud` templates (checked at compile time); the only script
//! is the vendored htmx (`assets/htmx/`), which swaps the fragments the same routes render
//! for its requests. Every asset is embedded, so `cargo build` alone builds the dashboard
//! and the page loads nothing from another host (its Content-Security-Policy says so too).
//!
//! The dashboard is a client of the API in-process ([`api::Api`]): actions and listings
//! go through the same routes, permission guards, validation and audit as any other
//! client, with the signed-in token. The fleet listing alone reads the registry directly,
//! so that a 1,000-agent fleet renders in milliseconds.
//!
//! One module per page: [`session`] (sign-in and out), [`fleet`], [`ops`] (operations),
//! [`jobs`], [`audit`]; [`layout`] holds the chrome, [`live`] how regions stay current,
//! [`forms`] the operation forms generated from the catalogue and its OpenAPI schemas.

mod api;
mod audit;
mod error;
mod fleet;
mod forms;
mod jobs;
mod layout;
mod live;
mod ops;
mod session;
mod view;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::docs::Asset;
use super::state::AppState;
pub use error::UiError;
pub use session::Session;

/// The pinned htmx release (`assets/htmx/package.json`).
pub const HTMX_VERSION: &str = "2.0.11";

/// What every dashboard handler gets.
#[derive(Clone)]
pub struct Ui {
    app: AppState,
    api: api::Api,
    forms: Arc<forms::Catalogue>,
}

impl Ui {
    /// The dashboard over `app`, calling the API through `api` (the API routes with their
    /// state) and building the operation forms from the API description `doc`.
    pub fn new(app: AppState, api: Router, doc: &serde_json::Value) -> Self {
        Self {
            app,
            api: api::Api::new(api),
            forms: Arc::new(forms::Catalogue::from_openapi(doc)),
        }
    }
}

/// The dashboard's routes: `/` and everything under `/ui/`.
pub fn router(ui: Ui) -> Router {
    Router::new()
        .route("/", get(fleet::page))
        .route("/ui", get(|| async { axum::response::Redirect::to("/") }))
        .route("/ui/login", get(session::login_page).post(session::sign_in))
        .route("/ui/logout", post(session::sign_out))
        .route("/ui/fleet", get(fleet::region))
        .route("/ui/fleet/components", get(fleet::components))
        .route("/ui/agent/{hostname}/{action}", post(fleet::drain))
        .route("/ui/ops", get(ops::page))
        .route("/ui/ops/form", get(ops::form))
        .route("/ui/ops/targets", get(ops::targets))
        .route("/ui/ops/run", post(ops::run))
        .route("/ui/jobs", get(jobs::page))
        .route("/ui/jobs/{id}", get(jobs::detail))
        .route("/ui/jobs/{id}/retry", post(jobs::retry))
        .route("/ui/jobs/{id}/delete", post(jobs::delete))
        .route("/ui/audit", get(audit::page))
        .route("/ui/audit/export", get(audit::export))
        .route("/ui/audit/{id}", get(audit::detail))
        .route("/ui/assets/{name}", get(asset))
        .with_state(ui)
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../assets/htmx/htmx.min.js"),
    },
    Asset {
        name: "ui.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../assets/ui/ui.css"),
    },
];

/// `/ui/assets/<name>`: the embedded script and stylesheet.
async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => super::docs::serve(asset),
        None => UiError::NotFound(format!("no asset {name:?}")).into_response(),
    }
}

/// Handlers take the dashboard state under this name.
type UiState = State<Ui>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_htmx_is_the_vendored_one() {
        let package: serde_json::Value =
            serde_json::from_str(include_str!("../../../assets/htmx/package.json"))
                .expect("package.json");
        assert_eq!(package["version"], HTMX_VERSION);
        let script = std::str::from_utf8(ASSETS[0].body).expect("utf-8");
        assert!(script.contains(&format!("version:\"{HTMX_VERSION}\"")));
    }
}
