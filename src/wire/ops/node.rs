//! `node.*`: reads of the node (hostname, uptime, OS, load, memory, disks, all at once).
//! Payloads are what agents answer: the API item minus `hostname`, `changed` and `error`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::NoInput;
use crate::wire::{HostItem, HostResult, HostStatus, Payload};

/// Declares a `node.*` read: no input, a payload, the usual per-host item.
/// A node read: `GET`, `node:read`, no input, the payload in a [`HostResult`].
macro_rules! node_read {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $path:literal, $summary:literal, $payload:ty) => {
        op!($(#[$doc])* $ty, $name, Query, Get, $path, NodeRead, "node", $summary,
            NoInput => NoInput => $payload => HostResult<$payload>);
    };
}

node_read!(
    /// `GET /node/{hostname}`.
    NodeStatusGet, "node.status.get", "/node/{hostname}",
    "Uptime, load, memory, disks and OS of the target's hosts in one answer.", StatusPayload
);
node_read!(
    /// `GET /node/{hostname}/disk`.
    NodeDiskGet, "node.disk.get", "/node/{hostname}/disk",
    "Mounted local filesystems with total, used and free bytes.", DiskPayload
);
node_read!(
    /// `GET /node/{hostname}/memory`.
    NodeMemoryGet, "node.memory.get", "/node/{hostname}/memory", "Memory in bytes.",
    MemoryPayload
);
node_read!(
    /// `GET /node/{hostname}/load`.
    NodeLoadGet, "node.load.get", "/node/{hostname}/load",
    "Load averages over 1, 5 and 15 minutes.", LoadPayload
);
node_read!(
    /// `GET /node/{hostname}/os`.
    NodeOsGet, "node.os.get", "/node/{hostname}/os", "Distribution and version.", OsPayload
);
node_read!(
    /// `GET /node/{hostname}/uptime`.
    NodeUptimeGet, "node.uptime.get", "/node/{hostname}/uptime", "Time since boot.",
    UptimePayload
);

op!(
    /// `GET /node/{hostname}/timezone`.
    NodeTimezoneGet, "node.timezone.get", Query, Get, "/node/{hostname}/timezone", TimezoneRead,
    "node", "The system time zone and its current UTC offset.",
    NoInput => NoInput => TimezonePayload => HostResult<TimezonePayload>
);

/// `node.timezone.get`: IANA name and offset now (`+05:30`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimezonePayload {
    pub timezone: String,
    pub utc_offset: String,
}

impl Payload for TimezonePayload {}

op!(
    /// `GET /node/{hostname}/hostname`.
    NodeHostnameGet, "node.hostname.get", Query, Get, "/node/{hostname}/hostname", NodeRead,
    "node", "The hostname of the target's agents.",
    NoInput => NoInput => HostnamePayload => HostnameResponse
);

/// `node.hostname.get`: the OS hostname and the agent's labels.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostnamePayload {
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// One host's hostname.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostnameResponse {
    /// The OS hostname reported by the agent (the agent name if that failed).
    pub hostname: String,
    /// `ok`, `failed` or `skipped`.
    pub status: Option<HostStatus>,
    /// The agent's configured labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Always false: a read changes nothing.
    pub changed: Option<bool>,
    /// This host's error.
    pub error: Option<String>,
}

impl HostItem for HostnameResponse {
    fn from_data(hostname: &str, data: Value, _changed: Option<bool>) -> Result<Self, String> {
        let mut item: HostnameResponse =
            serde_json::from_value(data).map_err(|e| format!("bad agent result: {e}"))?;
        if item.hostname.is_empty() {
            item.hostname = hostname.to_owned();
        }
        item.changed = Some(false);
        item.status = Some(HostStatus::Ok);
        Ok(item)
    }

    fn from_error(hostname: &str, status: HostStatus, error: String) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: Some(status),
            labels: None,
            changed: None,
            error: Some(error),
        }
    }

    crate::flat_item_accessors!();
}

/// Load averages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LoadAverage {
    #[serde(rename = "1min")]
    pub one: f64,
    #[serde(rename = "5min")]
    pub five: f64,
    #[serde(rename = "15min")]
    pub fifteen: f64,
}

/// Memory in bytes. `used` is `total - available` (the original reported cached bytes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Memory {
    pub total: u64,
    pub free: u64,
    pub used: u64,
    pub available: u64,
    pub cached: u64,
}

/// One mounted filesystem, in bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Disk {
    /// Mount point.
    pub name: String,
    pub total: u64,
    pub used: u64,
    pub free: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fstype: String,
}

/// Distribution and version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OsInfo {
    pub distribution: String,
    pub version: String,
}

/// `node.disk.get`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiskPayload {
    pub disks: Vec<Disk>,
}

/// `node.memory.get`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemoryPayload {
    pub memory: Memory,
}

/// `node.load.get`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoadPayload {
    pub load_average: LoadAverage,
}

/// `node.os.get`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OsPayload {
    pub os_info: OsInfo,
}

/// `node.uptime.get`: Go duration text plus exact seconds.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UptimePayload {
    pub uptime: String,
    pub uptime_seconds: f64,
}

/// `node.status.get`: everything at once; a part that failed is absent.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusPayload {
    /// `D days, H hours, M minutes`.
    pub uptime: Option<String>,
    pub uptime_seconds: Option<f64>,
    pub load_average: Option<LoadAverage>,
    pub memory: Option<Memory>,
    #[serde(default)]
    pub disks: Vec<Disk>,
    pub os_info: Option<OsInfo>,
}

impl Payload for HostnamePayload {}
impl Payload for DiskPayload {}
impl Payload for MemoryPayload {}
impl Payload for LoadPayload {}
impl Payload for OsPayload {}
impl Payload for UptimePayload {}
impl Payload for StatusPayload {}
