//! `file.*` on hosts: deploy, undeploy and status, with the input rules shared by the controller
//! (400s) and the agent (defence in depth).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AnswerShape, Changed};
use serde_json::Value;

use crate::wire::rules::{one_of, Text};
use crate::wire::{FieldError, HostItem, HostResult, HostStatus, Payload, Validate};

/// An object store name: `[A-Za-z0-9._-]`, not starting with `.`, no `..`.
pub static OBJECT_NAME: Text = Text::new(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$", 1, 255);
crate::text_schemas!(OBJECT_NAME => object_schema, _, _, _);

/// An absolute file path: `/` and parts that are not empty, `.` or `..`, no NUL, no
/// trailing `/` (a part is not a dot, or a dot then not a dot, or two dots and more).
static FILE_PATH: Text = Text::new(
    r"^(/([^/.\x00][^/\x00]*|\.[^/.\x00][^/\x00]*|\.\.[^/\x00]+))+$",
    2,
    usize::MAX,
);
crate::text_schemas!(FILE_PATH => path_schema, _, _, _);

/// An octal file mode, `0644` or `0o644`.
static MODE: Text = Text::new("^(0o)?[0-7]{3,4}$", 3, 6);
crate::text_schemas!(MODE => _, mode_schema, _, _);

/// A user or group, by name or number.
pub static ACCOUNT: Text = Text::new("^([0-9]+|[a-z_][a-z0-9_-]*)$", 1, 32);
crate::text_schemas!(ACCOUNT => _, account_schema, _, _);

/// How a deployed object is written.
pub const CONTENT_TYPES: [&str; 2] = ["raw", "template"];

fn content_type_schema() -> utoipa::openapi::schema::Object {
    one_of(&CONTENT_TYPES, false)
}

op!(
    /// `POST /node/{hostname}/file/deploy`.
    FileDeploy, "file.deploy.execute", Modify, Post, "/node/{hostname}/file/deploy", FileWrite,
    "file", "Writes an object to a path on the target's hosts (atomically, idempotently).",
    DeployRequest => DeployRequest => DeployPayload => HostResult<DeployPayload>;
    const ANSWER: AnswerShape = AnswerShape::WithUnicastItem;

    /// Large objects take a while to stream to the agent.
    fn time_limit(_data: &DeployRequest) -> Option<Duration> {
        Some(Duration::from_secs(120))
    }

    fn stored_object(request: &DeployRequest) -> Option<&str> {
        Some(&request.object_name)
    }
);
op!(
    /// `POST /node/{hostname}/file/status`.
    FileStatus, "file.status.get", Query, Post, "/node/{hostname}/file/status", FileRead, "file",
    "`in-sync`, `drifted` or `missing` for a deployed path.",
    StatusRequest => StatusRequest => StatusPayload => FileStatusItem;
    const ANSWER: AnswerShape = AnswerShape::WithUnicastItem;
);

op!(
    /// `POST /node/{hostname}/file/undeploy`.
    FileUndeploy, "file.undeploy.execute", Modify, Post, "/node/{hostname}/file/undeploy",
    FileWrite, "file",
    "Removes a file osapi deployed from the target's hosts; its state is kept, marked undeployed.",
    UndeployRequest => UndeployRequest => Changed => HostResult<Changed>
);

/// Body of `POST /node/{hostname}/file/undeploy` (`path`), and its job data.
pub type UndeployRequest = StatusRequest;

/// Body of `POST /node/{hostname}/file/deploy`, and its job data.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    #[schema(schema_with = object_schema)]
    pub object_name: String,
    /// Absolute destination path.
    #[schema(schema_with = path_schema)]
    pub path: String,
    /// `raw` (default) or `template` (MiniJinja: `{{ hostname }}`, `{{ facts.cpu_count }}`, `{{ vars.x }}`).
    #[serde(default = "raw")]
    #[schema(schema_with = content_type_schema)]
    pub content_type: String,
    /// Octal, e.g. `0644` (default 0644 for new files).
    #[schema(schema_with = mode_schema)]
    pub mode: Option<String>,
    #[schema(schema_with = account_schema)]
    pub owner: Option<String>,
    #[schema(schema_with = account_schema)]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

fn raw() -> String {
    "raw".into()
}

impl Default for DeployRequest {
    /// Empty names, `content_type` `raw` (as the server defaults it).
    fn default() -> Self {
        Self {
            object_name: String::new(),
            path: String::new(),
            content_type: raw(),
            mode: None,
            owner: None,
            group: None,
            vars: BTreeMap::new(),
        }
    }
}

impl Validate for DeployRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_object_name(&self.object_name).map_err(|e| FieldError::new("object_name", e))?;
        check_path(&self.path).map_err(|e| FieldError::new("path", e))?;
        if !CONTENT_TYPES.contains(&self.content_type.as_str()) {
            return Err(FieldError::new(
                "content_type",
                "content_type must be raw or template",
            ));
        }
        if let Some(m) = &self.mode {
            parse_mode(m).map_err(|e| FieldError::new("mode", e))?;
        }
        for (field, v) in [("owner", &self.owner), ("group", &self.group)] {
            if let Some(v) = v {
                check_account(v).map_err(|e| FieldError::new(field, e))?;
            }
        }
        Ok(())
    }
}

/// Body of `POST /node/{hostname}/file/status`, and its job data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[schema(schema_with = path_schema)]
    pub path: String,
}

impl Validate for StatusRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_path(&self.path).map_err(|e| FieldError::new("path", e))
    }
}

/// Deploy result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeployPayload {
    pub path: String,
    /// SHA-256 (hex) of what is on disk now.
    pub sha256: String,
}

/// Status result: `in-sync`, `drifted` or `missing`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = FileStatusPayload)]
pub struct StatusPayload {
    pub path: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// One host's file status. Its `status` is the file's state (`in-sync`, `drifted`,
/// `missing`), as in the seed era, so this item carries no per-host status field: a host
/// that failed has `error` set and no state.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileStatusItem {
    pub hostname: String,
    #[serde(flatten)]
    pub file: Option<StatusPayload>,
    pub changed: Option<bool>,
    pub error: Option<String>,
}

impl HostItem for FileStatusItem {
    fn from_data(hostname: &str, data: Value, _changed: Option<bool>) -> Result<Self, String> {
        let file = serde_json::from_value(data).map_err(|e| format!("bad agent result: {e}"))?;
        Ok(Self {
            hostname: hostname.to_owned(),
            file: Some(file),
            changed: Some(false),
            error: None,
        })
    }

    fn from_error(hostname: &str, _status: HostStatus, error: String) -> Self {
        Self {
            hostname: hostname.to_owned(),
            file: None,
            changed: None,
            error: Some(error),
        }
    }

    fn hostname(&self) -> &str {
        &self.hostname
    }

    fn status(&self) -> HostStatus {
        if self.error.is_some() {
            HostStatus::Failed
        } else {
            HostStatus::Ok
        }
    }

    fn changed(&self) -> bool {
        false
    }

    fn error(&self) -> Option<String> {
        self.error.clone()
    }

    fn drop_payload_if_failed(&mut self) {
        if self.error.is_some() {
            self.file = None;
        }
    }
}

/// What the agent records per deployed file in the file-state bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileState {
    pub object_name: String,
    /// SHA-256 of the object when deployed (differs from `sha256` for templates).
    pub object_sha256: String,
    pub path: String,
    /// SHA-256 of the written content.
    pub sha256: String,
    pub hostname: String,
    pub deployed_at: String,
    pub content_type: String,
    /// When the file was undeployed (removed from the host); the record stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeployed_at: Option<String>,
}

/// Object names: 1–255 of `[A-Za-z0-9._-]`, not starting with a dot (no `..`, no `/`).
pub fn check_object_name(name: &str) -> Result<(), String> {
    if OBJECT_NAME.matches(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid object name: 1-255 of A-Z a-z 0-9 . _ -, not starting with '.', no '..'"))
    }
}

/// Deploy paths: absolute, no `.`/`..` components, no NUL.
pub fn check_path(path: &str) -> Result<(), String> {
    if FILE_PATH.matches(path) {
        Ok(())
    } else {
        Err(format!(
            "{path:?} is not an absolute file path without '.' or '..' parts"
        ))
    }
}

/// Octal permission bits: three or four octal digits (`644`, `0644`, `2775`), optionally
/// after one `0o`. Set-id and sticky bits are allowed: they are ordinary modes.
pub fn parse_mode(mode: &str) -> Result<u32, String> {
    let digits = mode.strip_prefix("0o").unwrap_or(mode);
    MODE.matches(mode)
        .then(|| u32::from_str_radix(digits, 8).ok())
        .flatten()
        .ok_or_else(|| format!("{mode:?} is not an octal mode like 0644"))
}

/// User and group names as Linux accepts them (or a numeric id).
pub fn check_account(name: &str) -> Result<(), String> {
    if ACCOUNT.matches(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid user or group name"))
    }
}

impl Payload for DeployPayload {}
impl Payload for StatusPayload {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        assert!(check_object_name("nginx.conf").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a..b", "sp ace"] {
            assert!(check_object_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        assert!(check_path("/etc/app/x.conf").is_ok());
        for bad in ["relative", "/etc/../x", "/etc/./x", "/", "/etc/", "//x"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn modes_and_accounts() {
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert_eq!(parse_mode("2775"), Ok(0o2775));
        for bad in ["0999", "abc", "77777", "+644", "0o0o644", "", "64", "0o"] {
            assert!(parse_mode(bad).is_err(), "{bad:?}");
        }
        assert!(check_account("www-data").is_ok() && check_account("0").is_ok());
        assert!(check_account("Root").is_err() && check_account("a b").is_err());
    }
}
