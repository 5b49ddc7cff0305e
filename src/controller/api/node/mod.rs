//! `/node/{hostname}/...`: job-backed reads of the node, on any target form.

pub mod hostname;

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::{run_on_target, HostResult, JobAnswer};
use crate::controller::error::ErrorResponse;
use crate::controller::extract::PathParam;
use crate::controller::state::AppState;
use crate::job::ops::{self, node as payload, OpName};

async fn read<T: serde::de::DeserializeOwned>(
    state: &AppState,
    target: &str,
    op: OpName,
) -> JobAnswer<HostResult<T>> {
    run_on_target(state, target, op, json!({}), StatusCode::OK, None).await
}

/// Uptime, load, memory, disks and OS of the target's hosts in one answer.
#[utoipa::path(get, path = "/node/{hostname}", tag = "node",
    params(("hostname" = String, Path, description = "_any, _all, a hostname, or key:value label")),
    responses((status = 200, body = super::Collection<HostResult<payload::StatusPayload>>),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 503, body = ErrorResponse),
        (status = 504, body = ErrorResponse)),
    security(("BearerAuth" = ["node:read"])))]
pub async fn get_status(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
) -> JobAnswer<HostResult<payload::StatusPayload>> {
    read(&state, &target, ops::NODE_STATUS_GET).await
}

/// Mounted local filesystems with total, used and free bytes.
#[utoipa::path(get, path = "/node/{hostname}/disk", tag = "node",
    params(("hostname" = String, Path)),
    responses((status = 200, body = super::Collection<HostResult<payload::DiskPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["node:read"])))]
pub async fn get_disk(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
) -> JobAnswer<HostResult<payload::DiskPayload>> {
    read(&state, &target, ops::NODE_DISK_GET).await
}

/// Memory in bytes.
#[utoipa::path(get, path = "/node/{hostname}/memory", tag = "node",
    params(("hostname" = String, Path)),
    responses((status = 200, body = super::Collection<HostResult<payload::MemoryPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["node:read"])))]
pub async fn get_memory(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
) -> JobAnswer<HostResult<payload::MemoryPayload>> {
    read(&state, &target, ops::NODE_MEMORY_GET).await
}

/// Load averages over 1, 5 and 15 minutes.
#[utoipa::path(get, path = "/node/{hostname}/load", tag = "node",
    params(("hostname" = String, Path)),
    responses((status = 200, body = super::Collection<HostResult<payload::LoadPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["node:read"])))]
pub async fn get_load(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
) -> JobAnswer<HostResult<payload::LoadPayload>> {
    read(&state, &target, ops::NODE_LOAD_GET).await
}

/// Distribution and version.
#[utoipa::path(get, path = "/node/{hostname}/os", tag = "node",
    params(("hostname" = String, Path)),
    responses((status = 200, body = super::Collection<HostResult<payload::OsPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["node:read"])))]
pub async fn get_os(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
) -> JobAnswer<HostResult<payload::OsPayload>> {
    read(&state, &target, ops::NODE_OS_GET).await
}

/// Time since boot.
#[utoipa::path(get, path = "/node/{hostname}/uptime", tag = "node",
    params(("hostname" = String, Path)),
    responses((status = 200, body = super::Collection<HostResult<payload::UptimePayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["node:read"])))]
pub async fn get_uptime(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
) -> JobAnswer<HostResult<payload::UptimePayload>> {
    read(&state, &target, ops::NODE_UPTIME_GET).await
}
