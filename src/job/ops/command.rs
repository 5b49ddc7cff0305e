//! Command execution: a program with arguments (no shell), or a shell string.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default and bounds of a command's timeout, seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const MAX_TIMEOUT_SECS: u64 = 300;

/// `command.exec.execute` / `command.shell.execute` request data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandData {
    /// Program (exec) or shell string (shell).
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// What a command produced. Output beyond the agent's cap is cut and flagged.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandPayload {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    pub duration_ms: u64,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// The per-stream cap in bytes.
    pub output_limit: u64,
}
