//! Fine-grained `resource:verb` permissions and the built-in roles.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares the permission enum with its wire strings, in canonical order: the variants,
/// [`Permission::ALL`] and [`Permission::as_str`] come from the one list.
macro_rules! permissions {
    ($($variant:ident = $wire:literal,)*) => {
        /// A `resource:verb` permission. Ordering follows the canonical order of
        /// [`Permission::ALL`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Permission {
            $(#[doc = concat!("`", $wire, "`")] $variant,)*
        }

        impl Permission {
            /// Every permission, in canonical order (the latest original's numbering).
            pub const ALL: [Permission; [$($wire),*].len()] = [$(Permission::$variant),*];

            /// The wire form, e.g. `"agent:read"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $wire,)*
                }
            }
        }
    };
}

permissions! {
    AgentRead = "agent:read",
    AgentWrite = "agent:write",
    NodeRead = "node:read",
    NodeWrite = "node:write",
    NetworkRead = "network:read",
    NetworkWrite = "network:write",
    JobRead = "job:read",
    JobWrite = "job:write",
    HealthRead = "health:read",
    AuditRead = "audit:read",
    CommandExecute = "command:execute",
    FileRead = "file:read",
    FileWrite = "file:write",
    DockerRead = "docker:read",
    DockerWrite = "docker:write",
    DockerExecute = "docker:execute",
    CronRead = "cron:read",
    CronWrite = "cron:write",
    SysctlRead = "sysctl:read",
    SysctlWrite = "sysctl:write",
    NtpRead = "ntp:read",
    NtpWrite = "ntp:write",
    TimezoneRead = "timezone:read",
    TimezoneWrite = "timezone:write",
    PowerExecute = "power:execute",
    ProcessRead = "process:read",
    ProcessExecute = "process:execute",
    UserRead = "user:read",
    UserWrite = "user:write",
    PackageRead = "package:read",
    PackageWrite = "package:write",
    LogRead = "log:read",
    CertificateRead = "certificate:read",
    CertificateWrite = "certificate:write",
    ServiceRead = "service:read",
    ServiceWrite = "service:write",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error from parsing an unknown permission string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {value:?} (valid: {})", valid_list())]
pub struct ParsePermissionError {
    /// The string that failed to parse.
    pub value: String,
}

fn valid_list() -> String {
    Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Permission {
    type Err = ParsePermissionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ParsePermissionError {
                value: s.to_owned(),
            })
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Names of the built-in roles.
pub const BUILTIN_ROLES: [&str; 3] = ["admin", "write", "read"];

/// The write role: everything but agent writes, audit and the execute permissions.
static WRITE_PERMISSIONS: LazyLock<Vec<Permission>> = LazyLock::new(|| {
    Permission::ALL
        .into_iter()
        .filter(|p| !matches!(p, Permission::AgentWrite | Permission::AuditRead))
        .filter(|p| !p.as_str().ends_with(":execute"))
        .collect()
});

/// The read role: every `*:read` but `audit:read`.
static READ_PERMISSIONS: LazyLock<Vec<Permission>> = LazyLock::new(|| {
    Permission::ALL
        .into_iter()
        .filter(|p| p.as_str().ends_with(":read") && *p != Permission::AuditRead)
        .collect()
});

/// Permissions of a built-in role (`admin`, `write`, `read`), ignoring any configured override.
pub fn builtin_role_permissions(role: &str) -> Option<&'static [Permission]> {
    match role {
        "admin" => Some(&Permission::ALL),
        "write" => Some(WRITE_PERMISSIONS.as_slice()),
        "read" => Some(READ_PERMISSIONS.as_slice()),
        _ => None,
    }
}
