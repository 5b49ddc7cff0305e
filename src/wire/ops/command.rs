//! `command.*`: a program with arguments (no shell), or a shell string.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A command with something in it besides Unicode white space (what `str::trim` strips).
static COMMAND: Text = Text::new(
    r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    1,
    usize::MAX,
);
crate::text_schemas!(COMMAND => command_schema, _, _, _);

/// An absolute working directory, or a fact reference the agent resolves to one.
static CWD: Text = Text::new(r"^(/|@fact\.)", 1, usize::MAX);
crate::text_schemas!(CWD => _, cwd_schema, _, _);

/// An environment variable's name.
const ENV_NAME: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// Variables by name, each a string.
fn env_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ENV_NAME))
        .build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn env_name_ok(key: &str) -> bool {
    static RULE: Text = Text::new(ENV_NAME, 1, usize::MAX);
    RULE.matches(key)
}

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
    #[schema(schema_with = command_schema)]
    pub command: String,
    /// Arguments, passed verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Working directory (absolute).
    #[schema(schema_with = cwd_schema)]
    pub cwd: Option<String>,
    /// Seconds, 1 to 300 (default 30). On expiry the whole process group is killed.
    #[schema(minimum = 1, maximum = 300)]
    pub timeout: Option<u64>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = env_schema)]
    pub env: BTreeMap<String, String>,
}

/// Body of `POST /node/{hostname}/command/shell`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandShellRequest {
    /// A `/bin/sh -c` string.
    #[schema(schema_with = command_schema)]
    pub command: String,
    /// Working directory (absolute).
    #[schema(schema_with = cwd_schema)]
    pub cwd: Option<String>,
    /// Seconds, 1 to 300 (default 30).
    #[schema(minimum = 1, maximum = 300)]
    pub timeout: Option<u64>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = env_schema)]
    pub env: BTreeMap<String, String>,
}

fn check_common(
    command: &str,
    cwd: &Option<String>,
    timeout: Option<u64>,
    env: &BTreeMap<String, String>,
) -> Result<(), FieldError> {
    if !COMMAND.matches(command) {
        return Err(FieldError::new("command", "command must not be empty"));
    }
    if let Some(dir) = cwd {
        if !CWD.matches(dir) {
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
        let valid = env_name_ok(key);
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
