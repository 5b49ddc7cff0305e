//! Facts about an agent's host: what it reports to the facts bucket, what `GET /agent`
//! shows (flattened into `AgentInfo`), and what `@fact.*` references resolve against.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Facts about the host: reported in the facts bucket every `agent.facts.interval` and
/// used to resolve `@fact.*` references. Serialised with the original's `AgentInfo` field
/// names, since `AgentInfo` flattens them; empty fields are left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Facts {
    /// The agent's identity hostname: `@fact.hostname` (on the wire it is the agent's own
    /// `hostname`).
    #[serde(skip)]
    pub hostname: String,
    /// CPU architecture (`x86_64`): `@fact.arch`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    /// Kernel release: `@fact.kernel`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    /// CPUs this process may use.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cpu_count: usize,
    /// The OS hostname: `@fact.fqdn`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fqdn: String,
    /// Distribution and version.
    #[serde(rename = "os_info", default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsFacts>,
    /// Bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memory_total: u64,
    /// `systemd` or `unknown`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_mgr: String,
    /// The first package manager found on `PATH`, or `unknown`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package_mgr: String,
    /// Interfaces that are up, loopback left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// The IPv4 routing table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// The default route's interface: `@fact.interface.primary`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub primary_interface: String,
    /// Whether the agent runs inside a container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub containerized: bool,
    /// Extended facts (`@fact.custom.<key>`): the original's free-form `facts` object.
    #[serde(rename = "facts", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
    /// Always set: its presence tells a flattened `AgentInfo` that facts were reported.
    pub collected_at: String,
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// Distribution and version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OsFacts {
    pub distribution: String,
    pub version: String,
}

/// A network interface that is up (loopback excluded): its first IPv4 and IPv6 address.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// `inet`, `inet6` or `dual`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
}

/// A row of the kernel's IPv4 routing table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Route {
    pub destination: String,
    pub gateway: String,
    pub interface: String,
    /// Prefix length, e.g. `/24`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mask: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub metric: u32,
    /// Raw hex flags.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flags: String,
}

/// The built-in `@fact.<key>` references, with what each resolves to (`GET /facts/keys`).
pub const BUILTIN_FACT_KEYS: [(&str, &str); 6] = [
    (
        "interface.primary",
        "Name of the interface holding the default route",
    ),
    ("hostname", "The agent's hostname"),
    ("arch", "CPU architecture (x86_64, aarch64)"),
    ("kernel", "Kernel release"),
    ("fqdn", "The host's fully qualified domain name"),
    (
        "containerized",
        "true when the agent runs in a container, else false",
    ),
];

/// One `@fact.` reference a request value may hold.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FactKey {
    /// The part after `@fact.`.
    pub key: String,
    pub description: Option<String>,
    /// Resolved from the agent's own facts (custom facts are `custom.<name>`).
    pub builtin: Option<bool>,
}

/// `GET /facts/keys`: every built-in `@fact.` reference.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FactKeys {
    pub keys: Vec<FactKey>,
}

impl FactKeys {
    /// The built-in keys, in the original's order.
    pub fn builtin() -> Self {
        Self {
            keys: BUILTIN_FACT_KEYS
                .iter()
                .map(|(key, description)| FactKey {
                    key: (*key).to_owned(),
                    description: Some((*description).to_owned()),
                    builtin: Some(true),
                })
                .collect(),
        }
    }
}

impl Facts {
    /// Facts bucket key.
    pub fn key(hostname: &str) -> String {
        format!("facts.{}", crate::job::target::sanitize_hostname(hostname))
    }
}

#[cfg(test)]
impl Facts {
    /// The facts of a test host (`web-01`, custom fact `rack=r12`).
    pub(crate) fn sample() -> Self {
        Facts {
            hostname: "web-01".into(),
            architecture: "x86_64".into(),
            kernel_version: "6.1.0".into(),
            fqdn: "web-01.example".into(),
            primary_interface: "eth0".into(),
            custom: BTreeMap::from([("rack".to_string(), "r12".to_string())]),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts::sample()
    }

    #[test]
    fn serialised_with_the_original_names() {
        let mut f = facts();
        f.os = Some(OsFacts {
            distribution: "Ubuntu".into(),
            version: "24.04".into(),
        });
        f.collected_at = "2025-01-01T00:00:00Z".into();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["os_info"]["distribution"], "Ubuntu");
        assert_eq!(v["facts"]["rack"], "r12");
        assert!(
            v.get("hostname").is_none() && v.get("custom").is_none(),
            "{v}"
        );
        assert!(v.get("cpu_count").is_none(), "zero is left out: {v}");
        let back: Facts = serde_json::from_value(v).unwrap();
        assert_eq!(
            back,
            Facts {
                hostname: String::new(),
                ..f
            }
        );
    }
}
