//! Routes of catalogue operations: one generic handler per [`Op`], its permission guard and
//! its OpenAPI operation, all derived from the op's declaration. A new operation needs no
//! code here.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use axum::{Json, Router};
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, HttpMethod, OpenApi, RefOr, Required, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::{run_on_target, Collection};
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::{from_value_named, parse_json, PathParam};
use crate::controller::state::AppState;
use crate::wire::events::AcceptedJob;
use crate::wire::ops::{path_params, AnswerShape, Changed, Method, Op};
use crate::wire::{HostResult, Validate};

/// The RFC 7240 request header asking for an asynchronous answer.
const PREFER: HeaderName = HeaderName::from_static("prefer");
/// The RFC 7240 answer header saying the preference was honoured.
const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// Success status of an operation: 200, or 202 for the changes the original accepts so.
fn ok_status<O: Op>() -> StatusCode {
    if O::ACCEPTED {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    }
}

/// Serves one operation: target and request from the path and body, validated, checked,
/// run on the target, answered.
async fn handle<O: Op>(
    State(state): State<AppState>,
    PathParam(mut params): PathParam<BTreeMap<String, String>>,
    headers: HeaderMap,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let target = params.remove("hostname").unwrap_or_default();
    let mut query = query.map(|Query(q)| q);
    let respond_async = match &mut query {
        Ok(q) => wants_async(&headers, q)?,
        Err(_) => wants_async(&headers, &mut BTreeMap::new())?,
    };
    if O::QUERY && !O::BODY {
        let query = query.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
        for (k, v) in query {
            params.entry(k).or_insert(v);
        }
    }
    let request: O::Request = request_of::<O>(params, &body)?;
    request.validate()?;
    if let Some(object) = O::stored_object(&request) {
        super::file::require_object(&state, O::STORED_OBJECT_FIELD, object).await?;
    }
    let data = O::Data::from(request);
    let limit = O::time_limit(&data);
    let data = serde_json::to_value(&data).map_err(|e| ApiError::Internal(e.to_string()))?;
    if respond_async {
        let job_id = super::submit_on_target(&state, &target, O::OP, data, limit).await?;
        return Ok(accepted(job_id));
    }
    let (status, Json(collection)) =
        run_on_target::<O::Item>(&state, &target, O::OP, data, ok_status::<O>(), limit).await?;
    Ok(match O::ANSWER {
        AnswerShape::Collection => (status, Json(collection)).into_response(),
        AnswerShape::WithUnicastItem => {
            (status, Json(with_unicast_item(&target, collection)?)).into_response()
        }
    })
}

/// `Prefer: respond-async` (RFC 7240) or `?async=true` (taken out of the query, so an
/// operation's own query parameters never see it).
fn wants_async(
    headers: &HeaderMap,
    query: &mut BTreeMap<String, String>,
) -> Result<bool, ApiError> {
    let by_query = match query.remove("async").as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "async",
                format!("{other:?} is not a boolean: use true or false"),
            ))
        }
    };
    let by_header = headers
        .get_all(PREFER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    Ok(by_query || by_header)
}

/// 202 for an asynchronous submission: the job id, and where its events stream.
fn accepted(job_id: String) -> Response {
    let location = format!("{}/job/{job_id}/events", crate::controller::API_PREFIX);
    let headers = [
        (LOCATION, location.clone()),
        (PREFERENCE_APPLIED, "respond-async".to_owned()),
    ];
    let body = AcceptedJob {
        job_id,
        status: "accepted".into(),
        location,
    };
    (StatusCode::ACCEPTED, headers, Json(body)).into_response()
}

/// The collection with, for a unicast target, its one item's fields beside `job_id` and
/// `results` (`changed` always present): the original's single-host file answer, which
/// clients reading `results` see unchanged.
fn with_unicast_item<T: serde::Serialize>(
    target: &str,
    collection: Collection<T>,
) -> Result<serde_json::Value, ApiError> {
    let internal = |e: serde_json::Error| ApiError::Internal(e.to_string());
    let unicast = crate::job::Target::parse(target).is_ok_and(|t| !t.is_broadcast());
    let mut answer = serde_json::to_value(&collection).map_err(internal)?;
    let [only] = collection.results.as_slice() else {
        return Ok(answer);
    };
    if let (true, serde_json::Value::Object(top)) = (unicast, &mut answer) {
        if let serde_json::Value::Object(item) = serde_json::to_value(only).map_err(internal)? {
            top.extend(item);
            top.entry("changed")
                .or_insert(serde_json::Value::Bool(false));
        }
    }
    Ok(answer)
}

/// The request: the JSON body (when the op has one) with the path parameters beside it.
fn request_of<O: Op>(
    params: BTreeMap<String, String>,
    body: &[u8],
) -> Result<O::Request, ApiError> {
    if O::BODY && body.is_empty() && !O::BODY_OPTIONAL {
        return Err(ApiError::bad_request("body", "a JSON body is required"));
    }
    if O::BODY && params.is_empty() {
        return parse_json(body);
    }
    let mut value = if O::BODY && !body.is_empty() {
        parse_json::<serde_json::Value>(body)?
    } else {
        serde_json::Value::Object(Default::default())
    };
    if let serde_json::Value::Object(map) = &mut value {
        for (k, v) in params {
            map.insert(k, serde_json::Value::String(v));
        }
    }
    from_value_named(value)
}

/// Catalogue routes and their OpenAPI description, built together so neither can miss an
/// operation the other has.
pub struct OpRouter {
    router: Router<AppState>,
    doc: OpenApi,
    components: Vec<(String, RefOr<Schema>)>,
    state: AppState,
}

impl OpRouter {
    pub fn new(state: &AppState) -> Self {
        Self {
            router: Router::new(),
            doc: OpenApi::default(),
            components: Vec::new(),
            state: state.clone(),
        }
    }

    /// Routes `O` behind its permission and documents it.
    pub fn op<O: Op>(mut self) -> Self {
        let guard = axum::middleware::from_fn_with_state(
            (self.state.clone(), O::PERMISSION),
            crate::controller::auth::require,
        );
        // Guarded per method: one path can carry a read and a write with different
        // permissions.
        let method: MethodRouter<AppState> = match O::METHOD {
            Method::Get => routing::get(handle::<O>),
            Method::Post => routing::post(handle::<O>),
            Method::Put => routing::put(handle::<O>),
            Method::Delete => routing::delete(handle::<O>),
        };
        self.router = self.router.route(O::PATH, method.route_layer(guard));
        let operation = self.operation::<O>();
        self.doc
            .paths
            .add_path_operation(O::PATH, vec![http_method(O::METHOD)], operation);
        self
    }

    /// Schema names that stand for two different schemas (the document could keep only
    /// one of them, and describe the other operation wrongly).
    pub fn collisions(&self) -> Vec<String> {
        collisions(self.components.iter().map(|(n, s)| (n.as_str(), s)))
    }

    /// The routes, and the description of every one of them.
    pub fn finish(self) -> (Router<AppState>, OpenApi) {
        let mut doc = self.doc;
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in self.components {
            components.schemas.entry(name).or_insert(schema);
        }
        (self.router, doc)
    }

    fn operation<O: Op>(&mut self) -> utoipa::openapi::path::Operation {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ErrorResponse::schema()))
                        .build(),
                )
                .build()
        };
        let answer = answer_schema::<O>(&mut self.components);
        let ok = ResponseBuilder::new()
            .description("Per-host results")
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(answer.clone())).build(),
            )
            .build();
        let failed_host = ResponseBuilder::new()
            .description("The single target host failed (its error is in the result)")
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(answer)).build(),
            )
            .build();
        let mut op = OperationBuilder::new()
            .tag(O::TAG)
            .operation_id(Some(O::NAME))
            .summary(Some(O::SUMMARY))
            .response(ok_status::<O>().as_u16().to_string(), ok)
            .response("400", error("Invalid request or target"))
            .response("401", error("No valid bearer token"))
            .response("403", error("The token lacks the permission"))
            .response(
                "413",
                error("The request's job is too large for one NATS message"),
            )
            .response("415", error("The body is not sent as application/json"))
            .response("502", failed_host)
            .response(
                "503",
                error("NATS unavailable or too many requests in flight"),
            )
            .response("504", error("No agent answered in time"))
            .security(SecurityRequirement::new(
                "BearerAuth",
                [O::PERMISSION.as_str()],
            ));
        for name in path_params(O::PATH) {
            let description =
                (name == "hostname").then_some("_any, _all, a hostname, or key:value label");
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(description)
                    .schema(Some(String::schema())),
            );
        }
        op = op.parameter(
            ParameterBuilder::new()
                .name("async")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "true: answer 202 with the job id and a Location of its events at once (as Prefer: respond-async)",
                ))
                .schema(Some(bool::schema())),
        );
        for parameter in O::query_parameters() {
            op = op.parameter(parameter);
        }
        if O::BODY {
            <O::Request as ToSchema>::schemas(&mut self.components);
            self.components
                .push((O::Request::name().into_owned(), O::Request::schema()));
            let reference = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(O::Request::name()));
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(reference)).build(),
                    )
                    .required(Some(if O::BODY_OPTIONAL {
                        Required::False
                    } else {
                        Required::True
                    }))
                    .build(),
            ));
        }
        op.build()
    }
}

/// Every catalogue operation, routed and documented.
pub fn router(state: &AppState) -> OpRouter {
    let mut router = OpRouter::new(state);
    macro_rules! route {
        ($($op:ty),* $(,)?) => { $( router = router.op::<$op>(); )* };
    }
    crate::for_each_op!(route);
    router
}

/// The names among `schemas` given to two different schemas, sorted.
pub fn collisions<'a>(schemas: impl Iterator<Item = (&'a str, &'a RefOr<Schema>)>) -> Vec<String> {
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    let mut clashing = std::collections::BTreeSet::new();
    for (name, schema) in schemas {
        let text = serde_json::to_string(schema).unwrap_or_default();
        match seen.get(name) {
            Some(first) if *first != text => {
                clashing.insert(name.to_owned());
            }
            Some(_) => {}
            None => {
                seen.insert(name, text);
            }
        }
    }
    clashing.into_iter().collect()
}

/// OpenAPI schema of an operation's answer body, and the components it references.
fn answer_schema<O: Op>(components: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    <Collection<O::Item> as ToSchema>::schemas(components);
    <O::Item as ToSchema>::schemas(components);
    // A generic item refers to its payload by name.
    <O::Payload as ToSchema>::schemas(components);
    components.push((O::Payload::name().into_owned(), O::Payload::schema()));
    let item = item_schema_name::<O>();
    components.push((item.clone(), O::Item::schema()));
    let collection = collection_schema(&item);
    match O::ANSWER {
        AnswerShape::Collection => collection,
        AnswerShape::WithUnicastItem => utoipa::openapi::schema::AllOfBuilder::new()
            .item(collection)
            .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(item)))
            .description(Some(
                "For a unicast target the one host's item fields stand beside job_id and results.",
            ))
            .into(),
    }
}

/// The component name of an operation's item: its type's, except for the generic
/// `HostResult<T>`, which is one schema per payload (`HostResult_Changed`).
fn item_schema_name<O: Op>() -> String {
    let name = O::Item::name();
    if name == <HostResult<Changed> as ToSchema>::name() {
        format!("{name}_{}", O::Payload::name())
    } else {
        name.into_owned()
    }
}

/// `{job_id, results: [item]}` with `item` named: what `Collection<T>` derives, but
/// pointing at the item's own component.
fn collection_schema(item: &str) -> RefOr<Schema> {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ObjectBuilder::new()
        .description(Some("The job and one item per host."))
        .property(
            "job_id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The job that produced these results.")),
        )
        .required("job_id")
        .property(
            "results",
            ArrayBuilder::new()
                .items(utoipa::openapi::Ref::from_schema_name(item))
                .description(Some("One item per host.")),
        )
        .required("results")
        .into()
}

fn http_method(m: Method) -> HttpMethod {
    match m {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Delete => HttpMethod::Delete,
    }
}

#[cfg(test)]
mod tests {
    use crate::wire::ops::path_params;

    #[test]
    fn params_of_a_template() {
        let names: Vec<&str> =
            path_params("/node/{hostname}/network/dns/{interfaceName}").collect();
        assert_eq!(names, ["hostname", "interfaceName"]);
        assert_eq!(path_params("/node/{hostname}").count(), 1);
    }
}
