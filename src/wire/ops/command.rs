//! `command.*`: a program with arguments (no shell), or a shell string.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::{FieldError, HostResult, Payload, Validate};

/// Declares a command operation: its request becomes [`CommandData`].
/// A command op: `POST`, `command:execute`, the request normalised into [`CommandData`],
/// limited by the command's own timeout.
macro_rules! command_op {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $path:literal, $summary:literal, $request:ty) => {
        op!($(#[$doc])* $ty, $name, Modify, Post, $path, CommandExecute, "command", $summary,
            $request => CommandData => CommandPayload => HostResult<CommandPayload>;
            fn time_limit(data: &CommandData) -> Option<Duration> {
                Some(Duration::from_secs(data.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS)))
            }
        );
    };
}

command_op!(
    /// `POST /node/{hostname}/command/exec`.
    CommandExec, "command.exec.execute", "/node/{hostname}/command/exec",
    "Runs a program with arguments on the target's hosts.", CommandExecRequest
);
command_op!(
    /// `POST /node/{hostname}/command/shell`.
    CommandShell, "command.shell.execute", "/node/{hostname}/command/shell",
    "Runs a shell string on the target's hosts.", CommandShellRequest
);

/// Body of `POST /node/{hostname}/command/exec`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandExecRequest {
    /// Program name or path; run directly, without a shell.
    pub command: String,
    /// Arguments, passed verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Working directory (absolute).
    pub cwd: Option<String>,
    /// Seconds, 1 to 300 (default 30). On expiry the whole process group is killed.
    pub timeout: Option<u64>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// Body of `POST /node/{hostname}/command/shell`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandShellRequest {
    /// A `/bin/sh -c` string.
    pub command: String,
    /// Working directory (absolute).
    pub cwd: Option<String>,
    /// Seconds, 1 to 300 (default 30).
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
) -> Result<(), FieldError> {
    if command.trim().is_empty() {
        return Err(FieldError::new("command", "command must not be empty"));
    }
    if let Some(dir) = cwd {
        if !dir.starts_with('/') && !dir.starts_with("@fact.") {
            return Err(FieldError::new("cwd", "cwd must be an absolute path"));
        }
    }
    if let Some(t) = timeout {
        if !(1..=MAX_TIMEOUT_SECS).contains(&t) {
            return Err(FieldError::new(
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
            return Err(FieldError::new(
                &format!("env.{key}"),
                format!("{key:?} is not a valid environment variable name"),
            ));
        }
    }
    Ok(())
}

impl Validate for CommandExecRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_common(&self.command, &self.cwd, self.timeout, &self.env)
    }
}

impl Validate for CommandShellRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_common(&self.command, &self.cwd, self.timeout, &self.env)
    }
}

/// A shell string is run as a command without arguments.
impl From<CommandShellRequest> for CommandData {
    fn from(r: CommandShellRequest) -> Self {
        Self {
            command: r.command,
            args: Vec::new(),
            cwd: r.cwd,
            timeout: r.timeout,
            env: r.env,
        }
    }
}

/// Default and bounds of a command's timeout, seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const MAX_TIMEOUT_SECS: u64 = 300;

/// `command.exec.execute` / `command.shell.execute` job data: the exec request's shape (a
/// shell string is the command, with no arguments).
pub type CommandData = CommandExecRequest;

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

impl Payload for CommandPayload {
    /// A non-zero exit is the host's failure, so guards and exit codes see it.
    fn failure(&self) -> Option<String> {
        (self.exit_code != 0).then(|| format!("exit code {}", self.exit_code))
    }
}
