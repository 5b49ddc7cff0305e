//! Network operations: DNS read/update and ping.

use serde::{Deserialize, Serialize};

/// `network.dns.get` request data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsGetData {
    pub interface: String,
}

/// `network.dns.update` request data; an absent list keeps the current one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsUpdateData {
    pub interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_domains: Option<Vec<String>>,
}

/// `network.dns.get` result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DnsPayload {
    pub servers: Vec<String>,
    pub search_domains: Vec<String>,
}

/// `network.dns.update` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsUpdatePayload {
    pub changed: bool,
}

/// `network.ping.do` request data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PingData {
    pub address: String,
    pub count: u32,
}

/// `network.ping.do` result. RTTs are `"%.2fms"` strings as in the original, with exact
/// nanoseconds beside them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PingPayload {
    pub packets_sent: u32,
    pub packets_received: u32,
    /// Percent.
    pub packet_loss: f64,
    pub min_rtt: String,
    pub avg_rtt: String,
    pub max_rtt: String,
    pub min_rtt_ns: u64,
    pub avg_rtt_ns: u64,
    pub max_rtt_ns: u64,
}
