//! The OpenAPI document, served at `/api/openapi.json` (and `/openapi.json`). It lists
//! the canonical `/api/...` paths.

use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
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

/// Schema names the hand-documented routes and the catalogue's `operations` both use for
/// different schemas.
pub fn collisions(operations: &utoipa::openapi::OpenApi) -> Vec<String> {
    let own = ApiDoc::openapi();
    let schemas = |doc: &utoipa::openapi::OpenApi| {
        doc.components
            .as_ref()
            .map(|c| c.schemas.clone())
            .unwrap_or_default()
    };
    let (own, theirs) = (schemas(&own), schemas(operations));
    api::ops::collisions(
        own.iter()
            .chain(theirs.iter())
            .map(|(name, schema)| (name.as_str(), schema)),
    )
}

/// The API description: the hand-documented routes plus the catalogue's `operations`,
/// each with the statuses every route shares.
pub fn document(operations: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(operations);
    doc.info.version = crate::VERSION.to_owned();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for op in operations.into_iter().flatten() {
            shared_statuses(op);
        }
    }
    under_api_prefix(doc)
}

/// The statuses a route answers whatever its handler, derived from what the operation
/// takes: the request limits' 503 (every route), the guard's 401 and 403 (protected
/// ones), 400 naming the field (any parameter or body), 415 (a JSON body). A status the
/// route documents itself is kept.
fn shared_statuses(op: &mut utoipa::openapi::path::Operation) {
    let protected = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let takes_input = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    let shared = [
        (
            true,
            "503",
            "Too many requests at once, one too slow, or NATS unavailable",
        ),
        (protected, "401", "No valid bearer token"),
        (protected, "403", "The token lacks the permission"),
        (
            takes_input || op.request_body.is_some(),
            "400",
            "Invalid request: the field at fault is named",
        ),
        (json_body, "415", "The body is not sent as application/json"),
    ];
    for (_, status, description) in shared.into_iter().filter(|(applies, ..)| *applies) {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorResponse"))))
                    .build(),
            )
            .build(),
    )
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::Authenticator;
    use crate::controller::state::AppState;

    #[test]
    fn no_schema_name_stands_for_two_schemas() {
        let auth = Authenticator::new("test-signing-key-0123456789abcdef", &Default::default())
            .expect("auth");
        let state = AppState::new(
            Arc::new(crate::config::Config::default()),
            Arc::new(auth),
            Arc::new(crate::controller::notify::LogNotifier),
        );
        let operations = api::ops::router(&state);
        assert_eq!(
            operations.collisions(),
            Vec::<String>::new(),
            "among operations"
        );
        let (_, doc) = operations.finish();
        assert_eq!(
            collisions(&doc),
            Vec::<String>::new(),
            "with the other routes"
        );
        let doc = serde_json::to_value(document(doc)).expect("json");
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 100, "{}", refs.len());
        for r in refs {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} names no schema"
            );
        }
    }

    fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_owned()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
