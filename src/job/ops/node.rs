//! Node payloads: what agents answer for `node.*` operations (the API item minus
//! `hostname`, `changed` and `error`).

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusPayload {
    /// `D days, H hours, M minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<LoadAverage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default)]
    pub disks: Vec<Disk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_info: Option<OsInfo>,
}
