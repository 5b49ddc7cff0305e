//! `GET /node/{hostname}/hostname`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::controller::api::{run_on_target, Collection, HostItem, JobAnswer};
use crate::controller::error::ErrorResponse;
use crate::controller::extract::PathParam;
use crate::controller::state::AppState;
use crate::job::ops;

/// One host's hostname.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostnameResponse {
    /// The OS hostname reported by the agent (the agent name if that failed).
    pub hostname: String,
    /// The agent's configured labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Always false: a read changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    /// This host's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HostItem for HostnameResponse {
    fn from_data(hostname: &str, data: Value, _changed: Option<bool>) -> Result<Self, String> {
        let mut item: HostnameResponse =
            serde_json::from_value(data).map_err(|e| format!("bad agent result: {e}"))?;
        if item.hostname.is_empty() {
            item.hostname = hostname.to_owned();
        }
        item.changed = Some(false);
        Ok(item)
    }

    fn from_error(hostname: &str, error: String) -> Self {
        Self {
            hostname: hostname.to_owned(),
            labels: None,
            changed: None,
            error: Some(error),
        }
    }
}

/// The hostname of the target's agents.
#[utoipa::path(get, path = "/node/{hostname}/hostname", tag = "node",
    params(("hostname" = String, Path, description = "_any, _all, a hostname, or key:value label")),
    responses(
        (status = 200, body = Collection<HostnameResponse>),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 502, body = Collection<HostnameResponse>),
        (status = 503, body = ErrorResponse), (status = 504, body = ErrorResponse)),
    security(("BearerAuth" = ["node:read"])))]
pub async fn get_hostname(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
) -> JobAnswer<HostnameResponse> {
    let op = ops::NODE_HOSTNAME_GET;
    run_on_target(&state, &target, op, json!({}), StatusCode::OK, None).await
}
