//! `/job`: list, inspect, delete and retry jobs.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing;
use axum::Json;

use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::{
    from_value_named, paging, parse_json, uuid_param, Named, PathParam,
};
use crate::controller::state::AppState;
use crate::job::{store, NewJob};
use crate::wire::job::{
    CreateJobResponse, JobDetailResponse, JobEvent, JobRecord, ListJobsResponse, OverallStatus,
    RetryJobRequest,
};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// Jobs, newest first, with totals per status.
#[utoipa::path(get, path = "/job", tag = "job",
    params(("status" = Option<String>, Query, description = "submitted, processing, completed, failed, partial_failure",
            pattern = "^(submitted|processing|completed|failed|partial_failure)?$"),
        ("limit" = Option<usize>, Query, description = "1 to 100, default 10", minimum = 1, maximum = 100),
        ("offset" = Option<usize>, Query, minimum = 0)),
    responses((status = 200, body = ListJobsResponse), (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["job:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ListJobsResponse>, ApiError> {
    let status = match query.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(OverallStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request("status", format!("unknown status {s:?}: use submitted, processing, completed, failed or partial_failure"))
        })?),
    };
    let (limit, offset) = paging(&query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let backend = state.backend()?;
    let page = store::list(
        &backend.resources.jobs,
        &backend.resources.responses,
        backend.jobs.feed().index(),
        status,
        limit,
        offset,
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Json(page))
}

pub(super) fn job_id(raw: &str) -> Result<String, ApiError> {
    uuid_param(raw)
        .ok_or_else(|| ApiError::bad_request("id", format!("{raw:?} is not a job id (UUID)")))
}

/// A job with its timeline and every host's response.
#[utoipa::path(get, path = "/job/{id}", tag = "job", params(("id" = String, Path, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$", format = "uuid")),
    responses((status = 200, body = JobDetailResponse), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["job:read"])))]
pub async fn get(Named(state, id): Named) -> Result<Json<JobDetailResponse>, ApiError> {
    let id = job_id(&id)?;
    let backend = state.backend()?;
    store::get(&backend.resources.jobs, &backend.resources.responses, &id)
        .await
        .map_err(ApiError::from)?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("job not found: {id}")))
}

/// Removes a job, its events and its responses.
#[utoipa::path(delete, path = "/job/{id}", tag = "job", params(("id" = String, Path, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$", format = "uuid")),
    responses((status = 204), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["job:write"])))]
pub async fn delete(Named(state, id): Named) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    let backend = state.backend()?;
    let found = store::delete(&backend.resources.jobs, &backend.resources.responses, &id)
        .await
        .map_err(ApiError::from)?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("job not found: {id}")))
    }
}

/// Runs a job's request again as a new job linked to the old one; does not wait.
#[utoipa::path(post, path = "/job/{id}/retry", tag = "job", params(("id" = String, Path, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$", format = "uuid")),
    request_body(content = Option<RetryJobRequest>, description = "optional"),
    responses((status = 201, body = CreateJobResponse), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["job:write"])))]
pub async fn retry(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreateJobResponse>), ApiError> {
    let id = job_id(&id)?;
    let req: RetryJobRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RetryJobRequest::default()
    } else {
        // An object: serde would also read the struct from an array.
        match parse_json::<serde_json::Value>(&body)? {
            value @ serde_json::Value::Object(_) => from_value_named(value)?,
            _ => {
                return Err(ApiError::bad_request(
                    "body",
                    "the body must be a JSON object",
                ))
            }
        }
    };
    let backend = state.backend()?;
    let bytes = backend
        .resources
        .jobs
        .get(JobRecord::key(&id))
        .await
        .map_err(ApiError::nats)?
        .ok_or_else(|| ApiError::NotFound(format!("job not found: {id}")))?;
    let original: JobRecord =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    let raw_target = match req.target_hostname {
        Some(t) if t.is_empty() => {
            return Err(ApiError::bad_request(
                "target_hostname",
                "target_hostname must not be empty",
            ))
        }
        Some(t) => t,
        None => "_any".to_owned(),
    };
    let (target, _) = backend
        .resolve_target(&raw_target)
        .await
        .map_err(|e| match e {
            ApiError::BadRequest { message, .. } => {
                ApiError::bad_request("target_hostname", message)
            }
            other => other,
        })?;
    let (record, revision) = backend
        .jobs
        .submit(
            NewJob {
                op: &original.operation.kind,
                kind: original.kind,
                data: original.operation.data.clone(),
                target: &target,
            },
            Some(id.clone()),
        )
        .await?;
    let data = serde_json::json!({"new_job_id": record.id, "target": raw_target});
    backend
        .jobs
        .event(&id, JobEvent::Retried, "_api", data)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreateJobResponse {
            job_id: record.id,
            status: "created".into(),
            revision: Some(revision),
            timestamp: Some(record.created),
            retry_of: Some(id),
        }),
    ))
}

/// The job routes.
pub fn router(state: &AppState) -> axum::Router<AppState> {
    let read = axum::Router::new()
        .route("/job", routing::get(list))
        .route("/job/{id}", routing::get(self::get));
    let write = axum::Router::new()
        .route("/job/{id}", routing::delete(self::delete))
        .route("/job/{id}/retry", routing::post(retry));
    use crate::auth::Permission;
    super::by_permission(
        state,
        [(Permission::JobRead, read), (Permission::JobWrite, write)],
    )
}
