//! The OpenAPI document, served at `/api/openapi.json` (and `/openapi.json`). It lists
//! the canonical `/api/...` paths.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::api;
use super::error::ErrorResponse;

#[derive(OpenApi)]
#[openapi(
    info(title = "osapi", description = "Manage Linux servers through a job system over NATS."),
    paths(
        api::health::liveness,
        api::health::readiness,
        api::job::list,
        api::job::get,
        api::job::delete,
        api::job::retry,
        api::agent::list,
        api::agent::get,
        api::agent::drain_agent,
        api::agent::undrain_agent,
        api::status::status,
        api::audit::list,
        api::audit::get,
        api::audit::export,
        api::file::upload,
        api::file::list,
        api::file::get,
        api::file::delete,
        api::file::stale,
        api::facts::keys,
        api::events::job_events,
        api::events::fleet_events,
    ),
    components(schemas(ErrorResponse, crate::wire::health::HealthResponse)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "BearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API description: the hand-documented routes plus the catalogue's `operations`.
pub fn document(operations: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(operations);
    doc.info.version = crate::VERSION.to_owned();
    under_api_prefix(doc)
}

/// The routes are declared at their seed-era paths; the document names the canonical ones.
fn under_api_prefix(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (format!("{}{path}", super::API_PREFIX), item))
        .collect();
    doc
}
