//! `node.sysctl.*`: managed kernel parameters. Listings are flattened, as the original's:
//! one item per key, each with its host's name and status.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Changed, NoInput};
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostItem, HostResult, HostStatus, Payload, Validate};

/// A kernel parameter name: dot-separated parts of `[a-z0-9_-]`.
static KEY: Text = Text::new(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$", 1, 255);
crate::text_schemas!(KEY => key_schema, _, _, _);

/// A value: one line of printable ASCII (what `/proc/sys` takes), not blank.
static VALUE: Text = Text::new("^ *[!-~][ -~]*$", 1, 4096);
crate::text_schemas!(VALUE => value_schema, _, _, _);

/// A sysctl operation: `$perm` on `$path`, answered with 200 (as the original).
macro_rules! sysctl_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty => $item:ty) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "sysctl", $summary,
            $req => $req => $payload => $item;
            const ACCEPTED: bool = false;
        );
    };
}

sysctl_op!(NodeSysctlList, "node.sysctl.list", Query, Get, "/node/{hostname}/sysctl", SysctlRead,
    "Kernel parameters osapi manages, with their live values.",
    NoInput => SysctlList => SysctlItem);
sysctl_op!(NodeSysctlGet, "node.sysctl.get", Query, Get, "/node/{hostname}/sysctl/{key}",
    SysctlRead, "One managed kernel parameter.", SysctlKey => SysctlEntry => SysctlItem);
sysctl_op!(NodeSysctlCreate, "node.sysctl.create", Modify, Post, "/node/{hostname}/sysctl",
    SysctlWrite, "Persists (sysctl.d drop-in) and applies a kernel parameter.",
    SysctlSet => Changed => HostResult<Changed>);
sysctl_op!(NodeSysctlUpdate, "node.sysctl.update", Modify, Put, "/node/{hostname}/sysctl/{key}",
    SysctlWrite, "Changes a managed kernel parameter.", SysctlSet => Changed => HostResult<Changed>);
sysctl_op!(NodeSysctlDelete, "node.sysctl.delete", Modify, Delete,
    "/node/{hostname}/sysctl/{key}", SysctlWrite,
    "Removes a managed kernel parameter's drop-in and reloads.",
    SysctlKey => Changed => HostResult<Changed>);

/// One kernel parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SysctlEntry {
    /// Dotted name: `net.ipv4.ip_forward`.
    pub key: String,
    pub value: String,
}

impl Payload for SysctlEntry {}

/// `node.sysctl.list` result: every managed key of one host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SysctlList {
    pub entries: Vec<SysctlEntry>,
}

impl Payload for SysctlList {}

/// The key of `GET`/`DELETE /node/{hostname}/sysctl/{key}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SysctlKey {
    #[schema(schema_with = key_schema)]
    pub key: String,
}

impl Validate for SysctlKey {
    fn validate(&self) -> Result<(), FieldError> {
        check_key(&self.key)
    }
}

/// Body of `POST /node/{hostname}/sysctl` (with `key`) and `PUT .../sysctl/{key}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SysctlSet {
    #[schema(schema_with = key_schema)]
    pub key: String,
    #[schema(schema_with = value_schema)]
    pub value: String,
}

impl Validate for SysctlSet {
    fn validate(&self) -> Result<(), FieldError> {
        check_key(&self.key)?;
        if !VALUE.matches(&self.value) {
            return Err(FieldError::new(
                "value",
                "value is one non-blank line of printable ASCII, at most 4096 characters",
            ));
        }
        Ok(())
    }
}

/// Dotted names of `[a-z0-9_-]` parts: a key names a file in sysctl.d and a path in
/// /proc/sys, so nothing may climb out of either.
fn check_key(key: &str) -> Result<(), FieldError> {
    if !KEY.matches(key) {
        return Err(FieldError::new(
            "key",
            format!("{key:?} is not a kernel parameter name such as net.ipv4.ip_forward"),
        ));
    }
    Ok(())
}

/// One key of one host (list and get), or the host's error.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SysctlItem {
    pub hostname: String,
    pub status: Option<HostStatus>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub changed: Option<bool>,
    pub error: Option<String>,
}

impl SysctlItem {
    fn of(hostname: &str, entry: SysctlEntry) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: Some(HostStatus::Ok),
            key: Some(entry.key),
            value: Some(entry.value),
            changed: None,
            error: None,
        }
    }
}

fn bad_result(e: serde_json::Error) -> String {
    format!("bad agent result: {e}")
}

impl HostItem for SysctlItem {
    fn from_data(hostname: &str, data: Value, _changed: Option<bool>) -> Result<Self, String> {
        let entry: SysctlEntry = serde_json::from_value(data).map_err(bad_result)?;
        Ok(Self::of(hostname, entry))
    }

    /// A listing contributes one item per key; a host with none, no item.
    fn expand(hostname: &str, data: Value, changed: Option<bool>) -> Result<Vec<Self>, String> {
        crate::wire::expand_entries(hostname, data, changed, Self::of)
    }

    fn from_error(hostname: &str, status: HostStatus, error: String) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: Some(status),
            key: None,
            value: None,
            changed: None,
            error: Some(error),
        }
    }

    crate::flat_item_accessors!();
}
