//! `/node/{hostname}/command/...`: run a program (no shell) or a shell string.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{run_on_target, HostResult, JobAnswer};
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::{PathParam, ValidJson, Validate};
use crate::controller::state::AppState;
use crate::job::ops::command::{
    CommandData, CommandPayload, DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS,
};
use crate::job::ops::{self, OpName};

/// Body of `POST /node/{hostname}/command/exec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandExecRequest {
    /// Program name or path; run directly, without a shell.
    pub command: String,
    /// Arguments, passed verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Working directory (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Seconds, 1 to 300 (default 30). On expiry the whole process group is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// Body of `POST /node/{hostname}/command/shell`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandShellRequest {
    /// A `/bin/sh -c` string.
    pub command: String,
    /// Working directory (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Seconds, 1 to 300 (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

fn check_common(
    command: &str,
    cwd: &Option<String>,
    timeout: Option<u64>,
    env: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if command.trim().is_empty() {
        return Err(ApiError::bad_request(
            "command",
            "command must not be empty",
        ));
    }
    if let Some(dir) = cwd {
        if !dir.starts_with('/') && !dir.starts_with("@fact.") {
            return Err(ApiError::bad_request("cwd", "cwd must be an absolute path"));
        }
    }
    if let Some(t) = timeout {
        if !(1..=MAX_TIMEOUT_SECS).contains(&t) {
            return Err(ApiError::bad_request(
                "timeout",
                format!("timeout must be between 1 and {MAX_TIMEOUT_SECS} seconds"),
            ));
        }
    }
    for key in env.keys() {
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ApiError::bad_request(
                &format!("env.{key}"),
                format!("{key:?} is not a valid environment variable name"),
            ));
        }
    }
    Ok(())
}

impl Validate for CommandExecRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_common(&self.command, &self.cwd, self.timeout, &self.env)
    }
}

impl Validate for CommandShellRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_common(&self.command, &self.cwd, self.timeout, &self.env)
    }
}

async fn run(
    state: &AppState,
    target: &str,
    op: OpName,
    data: CommandData,
) -> JobAnswer<HostResult<CommandPayload>> {
    let limit = Duration::from_secs(data.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
    let data = serde_json::to_value(&data).map_err(|e| ApiError::Internal(e.to_string()))?;
    run_on_target(state, target, op, data, StatusCode::ACCEPTED, Some(limit)).await
}

/// Runs a program with arguments on the target's hosts.
#[utoipa::path(post, path = "/node/{hostname}/command/exec", tag = "command",
    params(("hostname" = String, Path)), request_body = CommandExecRequest,
    responses((status = 202, body = super::Collection<HostResult<CommandPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["command:execute"])))]
pub async fn post_exec(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
    ValidJson(req): ValidJson<CommandExecRequest>,
) -> JobAnswer<HostResult<CommandPayload>> {
    let data = CommandData {
        command: req.command,
        args: req.args,
        cwd: req.cwd,
        timeout: req.timeout,
        env: req.env,
    };
    run(&state, &target, ops::COMMAND_EXEC, data).await
}

/// Runs a shell string on the target's hosts.
#[utoipa::path(post, path = "/node/{hostname}/command/shell", tag = "command",
    params(("hostname" = String, Path)), request_body = CommandShellRequest,
    responses((status = 202, body = super::Collection<HostResult<CommandPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["command:execute"])))]
pub async fn post_shell(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
    ValidJson(req): ValidJson<CommandShellRequest>,
) -> JobAnswer<HostResult<CommandPayload>> {
    let data = CommandData {
        command: req.command,
        args: Vec::new(),
        cwd: req.cwd,
        timeout: req.timeout,
        env: req.env,
    };
    run(&state, &target, ops::COMMAND_SHELL, data).await
}
