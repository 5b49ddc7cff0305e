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
}

impl Permission {
    /// Every permission, in canonical order.
    pub const ALL: [Permission; 15] = [
        Permission::AgentRead,
        Permission::AgentWrite,
        Permission::NodeRead,
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
    ];

    /// The wire form, e.g. `"agent:read"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::AgentRead => "agent:read",
            Permission::AgentWrite => "agent:write",
            Permission::NodeRead => "node:read",
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

const WRITE_PERMISSIONS: [Permission; 11] = [
    Permission::AgentRead,
    Permission::NodeRead,
    Permission::NetworkRead,
    Permission::NetworkWrite,
    Permission::JobRead,
    Permission::JobWrite,
    Permission::HealthRead,
    Permission::FileRead,
    Permission::FileWrite,
    Permission::DockerRead,
    Permission::DockerWrite,
];

const READ_PERMISSIONS: [Permission; 7] = [
    Permission::AgentRead,
    Permission::NodeRead,
    Permission::NetworkRead,
    Permission::JobRead,
    Permission::HealthRead,
    Permission::FileRead,
    Permission::DockerRead,
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
