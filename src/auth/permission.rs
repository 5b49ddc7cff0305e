//! Fine-grained `resource:verb` permissions and the built-in roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `resource:verb` permission. Ordering follows the canonical order of [`Permission::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// `agent:read`
    AgentRead,
    /// `agent:write`
    AgentWrite,
    /// `node:read`
    NodeRead,
    /// `node:write`
    NodeWrite,
    /// `network:read`
    NetworkRead,
    /// `network:write`
    NetworkWrite,
    /// `job:read`
    JobRead,
    /// `job:write`
    JobWrite,
    /// `health:read`
    HealthRead,
    /// `audit:read`
    AuditRead,
    /// `command:execute`
    CommandExecute,
    /// `file:read`
    FileRead,
    /// `file:write`
    FileWrite,
    /// `docker:read`
    DockerRead,
    /// `docker:write`
    DockerWrite,
    /// `docker:execute`
    DockerExecute,
    /// `cron:read`
    CronRead,
    /// `cron:write`
    CronWrite,
    /// `sysctl:read`
    SysctlRead,
    /// `sysctl:write`
    SysctlWrite,
    /// `ntp:read`
    NtpRead,
    /// `ntp:write`
    NtpWrite,
    /// `timezone:read`
    TimezoneRead,
    /// `timezone:write`
    TimezoneWrite,
    /// `power:execute`
    PowerExecute,
    /// `process:read`
    ProcessRead,
    /// `process:execute`
    ProcessExecute,
    /// `user:read`
    UserRead,
    /// `user:write`
    UserWrite,
    /// `package:read`
    PackageRead,
    /// `package:write`
    PackageWrite,
    /// `log:read`
    LogRead,
    /// `certificate:read`
    CertificateRead,
    /// `certificate:write`
    CertificateWrite,
    /// `service:read`
    ServiceRead,
    /// `service:write`
    ServiceWrite,
}

impl Permission {
    /// Every permission, in canonical order (the latest original's numbering).
    pub const ALL: [Permission; 36] = [
        Permission::AgentRead,
        Permission::AgentWrite,
        Permission::NodeRead,
        Permission::NodeWrite,
        Permission::NetworkRead,
        Permission::NetworkWrite,
        Permission::JobRead,
        Permission::JobWrite,
        Permission::HealthRead,
        Permission::AuditRead,
        Permission::CommandExecute,
        Permission::FileRead,
        Permission::FileWrite,
        Permission::DockerRead,
        Permission::DockerWrite,
        Permission::DockerExecute,
        Permission::CronRead,
        Permission::CronWrite,
        Permission::SysctlRead,
        Permission::SysctlWrite,
        Permission::NtpRead,
        Permission::NtpWrite,
        Permission::TimezoneRead,
        Permission::TimezoneWrite,
        Permission::PowerExecute,
        Permission::ProcessRead,
        Permission::ProcessExecute,
        Permission::UserRead,
        Permission::UserWrite,
        Permission::PackageRead,
        Permission::PackageWrite,
        Permission::LogRead,
        Permission::CertificateRead,
        Permission::CertificateWrite,
        Permission::ServiceRead,
        Permission::ServiceWrite,
    ];

    /// The wire form, e.g. `"agent:read"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::AgentRead => "agent:read",
            Permission::AgentWrite => "agent:write",
            Permission::NodeRead => "node:read",
            Permission::NodeWrite => "node:write",
            Permission::NetworkRead => "network:read",
            Permission::NetworkWrite => "network:write",
            Permission::JobRead => "job:read",
            Permission::JobWrite => "job:write",
            Permission::HealthRead => "health:read",
            Permission::AuditRead => "audit:read",
            Permission::CommandExecute => "command:execute",
            Permission::FileRead => "file:read",
            Permission::FileWrite => "file:write",
            Permission::DockerRead => "docker:read",
            Permission::DockerWrite => "docker:write",
            Permission::DockerExecute => "docker:execute",
            Permission::CronRead => "cron:read",
            Permission::CronWrite => "cron:write",
            Permission::SysctlRead => "sysctl:read",
            Permission::SysctlWrite => "sysctl:write",
            Permission::NtpRead => "ntp:read",
            Permission::NtpWrite => "ntp:write",
            Permission::TimezoneRead => "timezone:read",
            Permission::TimezoneWrite => "timezone:write",
            Permission::PowerExecute => "power:execute",
            Permission::ProcessRead => "process:read",
            Permission::ProcessExecute => "process:execute",
            Permission::UserRead => "user:read",
            Permission::UserWrite => "user:write",
            Permission::PackageRead => "package:read",
            Permission::PackageWrite => "package:write",
            Permission::LogRead => "log:read",
            Permission::CertificateRead => "certificate:read",
            Permission::CertificateWrite => "certificate:write",
            Permission::ServiceRead => "service:read",
            Permission::ServiceWrite => "service:write",
        }
    }
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
const WRITE_PERMISSIONS: [Permission; 30] = [
    Permission::AgentRead,
    Permission::NodeRead,
    Permission::NodeWrite,
    Permission::NetworkRead,
    Permission::NetworkWrite,
    Permission::JobRead,
    Permission::JobWrite,
    Permission::HealthRead,
    Permission::FileRead,
    Permission::FileWrite,
    Permission::DockerRead,
    Permission::DockerWrite,
    Permission::CronRead,
    Permission::CronWrite,
    Permission::SysctlRead,
    Permission::SysctlWrite,
    Permission::NtpRead,
    Permission::NtpWrite,
    Permission::TimezoneRead,
    Permission::TimezoneWrite,
    Permission::ProcessRead,
    Permission::UserRead,
    Permission::UserWrite,
    Permission::PackageRead,
    Permission::PackageWrite,
    Permission::LogRead,
    Permission::CertificateRead,
    Permission::CertificateWrite,
    Permission::ServiceRead,
    Permission::ServiceWrite,
];

/// The read role: every `*:read` but `audit:read`.
const READ_PERMISSIONS: [Permission; 17] = [
    Permission::AgentRead,
    Permission::NodeRead,
    Permission::NetworkRead,
    Permission::JobRead,
    Permission::HealthRead,
    Permission::FileRead,
    Permission::DockerRead,
    Permission::CronRead,
    Permission::SysctlRead,
    Permission::NtpRead,
    Permission::TimezoneRead,
    Permission::ProcessRead,
    Permission::UserRead,
    Permission::PackageRead,
    Permission::LogRead,
    Permission::CertificateRead,
    Permission::ServiceRead,
];

/// Permissions of a built-in role (`admin`, `write`, `read`), ignoring any configured override.
pub fn builtin_role_permissions(role: &str) -> Option<&'static [Permission]> {
    match role {
        "admin" => Some(&Permission::ALL),
        "write" => Some(&WRITE_PERMISSIONS),
        "read" => Some(&READ_PERMISSIONS),
        _ => None,
    }
}
