//! The OpenAPI document, served at `/openapi.json`.

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
        api::node::hostname::get_hostname,
        api::node::get_status,
        api::node::get_disk,
        api::node::get_memory,
        api::node::get_load,
        api::node::get_os,
        api::node::get_uptime,
        api::network::get_dns,
        api::network::put_dns,
        api::network::post_ping,
        api::command::post_exec,
        api::command::post_shell,
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
        api::file::deploy,
        api::file::status,
    ),
    components(schemas(ErrorResponse, api::health::HealthResponse, api::node::hostname::HostnameResponse)),
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

/// The API description.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = crate::VERSION.to_owned();
    doc
}
