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
use crate::wire::{HostResult, HostStatus, Validate};

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

/// The request: the JSON body (an object, when the op has one) with the path parameters
/// beside it.
fn request_of<O: Op>(
    params: BTreeMap<String, String>,
    body: &[u8],
) -> Result<O::Request, ApiError> {
    if O::BODY && body.is_empty() && !O::BODY_OPTIONAL {
        return Err(ApiError::bad_request("body", "a JSON body is required"));
    }
    let mut value = if O::BODY && !body.is_empty() {
        parse_json::<serde_json::Value>(body)?
    } else {
        serde_json::Value::Object(Default::default())
    };
    // serde would also read a struct from an array of its fields in order.
    let serde_json::Value::Object(map) = &mut value else {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    };
    for (k, v) in params {
        map.insert(k, serde_json::Value::String(v));
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
        let answer = answer_schema::<O>(&mut self.components);
        self.components
            .push((AcceptedJob::name().into_owned(), AcceptedJob::schema()));
        let mut op = OperationBuilder::new()
            .tag(O::TAG)
            .operation_id(Some(O::NAME))
            .summary(Some(O::SUMMARY))
            .security(SecurityRequirement::new(
                "BearerAuth",
                [O::PERMISSION.as_str()],
            ));
        for (status, response) in responses::<O>(answer) {
            op = op.response(status, response);
        }
        for name in path_params(O::PATH) {
            let description =
                (name == "hostname").then_some("_any, _all, a hostname, or key:value label");
            let schema = if name == "hostname" {
                target_schema()
            } else {
                path_param_schema::<O>(name)
            };
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(description)
                    .schema(Some(schema)),
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
                .schema(Some(async_schema())),
        );
        for parameter in O::query_parameters() {
            op = op.parameter(parameter);
        }
        if O::BODY {
            <O::Request as ToSchema>::schemas(&mut self.components);
            self.components
                .push((O::Request::name().into_owned(), O::Request::schema()));
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(body_schema::<O>()))
                            .build(),
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

/// What an operation answers, by status: its own answers (the collection; 202 for an
/// asynchronous submission; 502 when its one host failed) and the job statuses every
/// operation shares. The statuses every route shares (400, 401, 403, 415, 503) are added
/// to the whole document by `openapi::document`.
fn responses<O: Op>(answer: RefOr<Schema>) -> Vec<(String, utoipa::openapi::Response)> {
    let json = |description: &str, schema: RefOr<Schema>| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build()
    };
    let error = |description: &str| json(description, ErrorResponse::schema());
    let accepted = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(AcceptedJob::name()));
    let mut out = vec![(
        "502".to_owned(),
        json(
            "The single target host failed (its error is in the result)",
            answer.clone(),
        ),
    )];
    if O::ACCEPTED {
        // 202 is both the change's answer and an asynchronous submission's.
        let either = utoipa::openapi::schema::OneOfBuilder::new()
            .item(answer)
            .item(accepted)
            .into();
        out.push((
            "202".into(),
            json(
                "Per-host results, or the job id when submitted asynchronously",
                either,
            ),
        ));
    } else {
        out.push(("200".into(), json("Per-host results", answer)));
        out.push((
            "202".into(),
            json(
                "Submitted asynchronously: the job id and its events' path",
                accepted,
            ),
        ));
    }
    out.extend([
        (
            "409".to_owned(),
            error("The target agent is drained and takes no jobs"),
        ),
        (
            "413".to_owned(),
            error("The request's job is too large for one NATS message"),
        ),
        ("504".to_owned(), error("No agent answered in time")),
    ]);
    out
}

/// The body of `O`: its request, whose fields named by path parameters may be sent
/// (clients send the whole request) but are taken from the path, whatever the body says.
fn body_schema<O: Op>() -> RefOr<Schema> {
    with_one_of_required::<O>(request_schema::<O>())
}

/// The body with [`Validate::ONE_OF_REQUIRED`] stated: all of the request and any of
/// "this field, not null".
fn with_one_of_required<O: Op>(body: RefOr<Schema>) -> RefOr<Schema> {
    use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder};
    let fields = <O::Request as Validate>::ONE_OF_REQUIRED;
    let RefOr::T(Schema::Object(request)) = O::Request::schema() else {
        return body;
    };
    if fields.is_empty() {
        return body;
    }
    let mut any = AnyOfBuilder::new();
    for name in fields {
        let field = match request.properties.get(*name) {
            Some(RefOr::T(Schema::Object(field))) => Schema::Object(not_null(field.clone())),
            Some(RefOr::T(Schema::Array(list))) => {
                let mut list = list.clone();
                list.schema_type =
                    utoipa::openapi::schema::SchemaType::Type(utoipa::openapi::schema::Type::Array);
                Schema::Array(list)
            }
            // A field the description cannot restate: no rule rather than a wrong one.
            _ => return body,
        };
        let given = ObjectBuilder::new().property(*name, field).required(*name);
        any = any.item(given);
    }
    AllOfBuilder::new().item(body).item(any).into()
}

/// A field's schema without `null` among its types.
fn not_null(mut field: utoipa::openapi::schema::Object) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    if let SchemaType::Array(types) = &field.schema_type {
        let types: Vec<Type> = types
            .iter()
            .filter(|t| **t != Type::Null)
            .cloned()
            .collect();
        if let [only] = types.as_slice() {
            field.schema_type = SchemaType::Type(only.clone());
        }
    }
    field
}

/// The request as a body: fields named by path parameters are ignored in it.
fn request_schema<O: Op>() -> RefOr<Schema> {
    use utoipa::openapi::schema::Object;
    let reference = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(O::Request::name()));
    let from_path: Vec<&str> = path_params(O::PATH).filter(|p| *p != "hostname").collect();
    let RefOr::T(Schema::Object(mut body)) = O::Request::schema() else {
        return reference;
    };
    if !from_path.iter().any(|p| body.properties.contains_key(*p)) {
        return reference;
    }
    for name in from_path {
        if let Some(field) = body.properties.get_mut(name) {
            let mut ignored = Object::with_type(utoipa::openapi::schema::SchemaType::AnyValue);
            ignored.description = Some("Ignored: the path's value is used.".into());
            *field = RefOr::T(Schema::Object(ignored));
        }
        body.required.retain(|r| r != name);
    }
    RefOr::T(Schema::Object(body))
}

/// A path parameter other than the target: the request field it fills, with that field's
/// rules (pattern, lengths, range), so the parameter is documented as it is checked. A
/// field that may be null in a body cannot be in a path, so `null` is dropped.
fn path_param_schema<O: Op>(name: &str) -> RefOr<Schema> {
    // A request with a flattened part (a unit's log query) is all of its parts.
    let parts = match O::Request::schema() {
        RefOr::T(Schema::Object(request)) => vec![request],
        RefOr::T(Schema::AllOf(all)) => all
            .items
            .into_iter()
            .filter_map(|part| match part {
                RefOr::T(Schema::Object(o)) => Some(o),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    match parts.iter().find_map(|p| p.properties.get(name)) {
        Some(RefOr::T(Schema::Object(field))) => {
            let mut field = not_null(field.clone());
            field.description = None;
            RefOr::T(Schema::Object(field))
        }
        _ => String::schema(),
    }
}

/// `async` as `wants_async` reads it.
fn async_schema() -> RefOr<Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["true", "false", "1", "0", ""]))
        .into()
}

/// What `job::Target::parse` accepts: `_any`, `_all`, a hostname (RFC 1123 characters
/// and `_`, not first; dot-separated parts; at most 253 bytes) or `key:value` (a token,
/// then dot-separated tokens).
fn target_schema() -> RefOr<Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let text = |pattern: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
    };
    AnyOfBuilder::new()
        .item(text("^(_any|_all)$"))
        .item(text("^[A-Za-z0-9-][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*$").max_length(Some(253)))
        .item(text("^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$"))
        .into()
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
    components.push((item.clone(), payload_when_ok(O::Item::schema())));
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

/// A flattened optional payload (`HostResult<T>`'s `data`) is derived as "null or the
/// payload", which no object is: an item carries the payload's fields, or is a host that
/// failed or skipped it (and then has no payload fields).
fn payload_when_ok(item: RefOr<Schema>) -> RefOr<Schema> {
    use utoipa::openapi::schema::{AllOf, AnyOfBuilder, ObjectBuilder, OneOf};
    let RefOr::T(Schema::AllOf(AllOf { items, .. })) = &item else {
        return item;
    };
    let mut all = utoipa::openapi::schema::AllOfBuilder::new();
    for part in items {
        let payload = match part {
            RefOr::T(Schema::OneOf(OneOf { items, .. })) => {
                items.iter().find(|i| matches!(i, RefOr::Ref(_))).cloned()
            }
            _ => None,
        };
        all = match payload {
            None => all.item(part.clone()),
            Some(payload) => {
                let not_ok = ObjectBuilder::new()
                    .property("status", HostStatus::schema())
                    .required("status")
                    .property("error", String::schema())
                    .required("error");
                all.item(AnyOfBuilder::new().item(payload).item(not_ok))
            }
        };
    }
    all.into()
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
