//! `network.*`: DNS read and update, ping.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Method, Op};
use crate::auth::Permission;
use crate::job::target::validate_hostname;
use crate::job::OpKind;
use crate::wire::{is_fact_ref, FieldError, HostItem, HostResult, Payload, Validate};

/// `GET /node/{hostname}/network/dns/{interfaceName}`.
pub struct NetworkDnsGet;

impl Op for NetworkDnsGet {
    const NAME: &'static str = "network.dns.get";
    const KIND: OpKind = OpKind::Query;
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/node/{hostname}/network/dns/{interfaceName}";
    const PERMISSION: Permission = Permission::NetworkRead;
    const TAG: &'static str = "network";
    const SUMMARY: &'static str = "DNS servers and search domains of an interface.";
    type Request = DnsGetRequest;
    type Data = DnsGetData;
    type Payload = DnsPayload;
    type Item = HostResult<DnsPayload>;
}

/// `PUT /node/{hostname}/network/dns`.
pub struct NetworkDnsUpdate;

impl Op for NetworkDnsUpdate {
    const NAME: &'static str = "network.dns.update";
    const KIND: OpKind = OpKind::Modify;
    const METHOD: Method = Method::Put;
    const PATH: &'static str = "/node/{hostname}/network/dns";
    const PERMISSION: Permission = Permission::NetworkWrite;
    const TAG: &'static str = "network";
    const SUMMARY: &'static str =
        "Sets DNS servers and/or search domains; reports per host whether anything changed.";
    type Request = DnsUpdateRequest;
    type Data = DnsUpdateData;
    type Payload = DnsUpdatePayload;
    type Item = DnsUpdateResult;
}

/// `POST /node/{hostname}/network/ping`.
pub struct NetworkPingDo;

impl Op for NetworkPingDo {
    const NAME: &'static str = "network.ping.do";
    const KIND: OpKind = OpKind::Query;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/node/{hostname}/network/ping";
    const PERMISSION: Permission = Permission::NetworkWrite;
    const TAG: &'static str = "network";
    const SUMMARY: &'static str = "ICMP echo from the target's hosts to an address.";
    type Request = PingRequest;
    type Data = PingRequest;
    type Payload = PingPayload;
    type Item = HostResult<PingPayload>;

    /// Each echo may wait up to a second for its reply.
    fn time_limit(data: &PingRequest) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(data.count) + 2))
    }
}

/// Interface names: what Linux allows in practice (`eth0`, `br-lan`, `eth0.100`), or a fact.
fn check_interface(field: &str, name: &str) -> Result<(), FieldError> {
    let plain = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if plain || is_fact_ref(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("invalid {field} {name:?}: an interface name (at most 15 of A-Z a-z 0-9 - _ . :) or @fact.interface.primary"),
        ))
    }
}

/// The path parameter of `GET .../network/dns/{interfaceName}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsGetRequest {
    #[serde(rename = "interfaceName")]
    pub interface_name: String,
}

impl Validate for DnsGetRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_interface("interfaceName", &self.interface_name)
    }
}

/// `network.dns.get` request data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsGetData {
    pub interface: String,
}

impl From<DnsGetRequest> for DnsGetData {
    fn from(r: DnsGetRequest) -> Self {
        Self {
            interface: r.interface_name,
        }
    }
}

/// Body of `PUT /node/{hostname}/network/dns`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsUpdateRequest {
    pub interface_name: String,
    /// Name server IPs; absent keeps the current ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<Vec<String>>,
    /// Search domains; absent keeps the current ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_domains: Option<Vec<String>>,
}

impl Validate for DnsUpdateRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_interface("interface_name", &self.interface_name)?;
        if self.servers.is_none() && self.search_domains.is_none() {
            return Err(FieldError::new(
                "servers",
                "one of servers or search_domains is required",
            ));
        }
        for (i, s) in self.servers.iter().flatten().enumerate() {
            if s.parse::<IpAddr>().is_err() {
                let field = format!("servers[{i}]");
                return Err(FieldError::new(
                    &field,
                    format!("{field}: {s:?} is not an IP address"),
                ));
            }
        }
        for (i, d) in self.search_domains.iter().flatten().enumerate() {
            if validate_hostname(d).is_err() {
                let field = format!("search_domains[{i}]");
                return Err(FieldError::new(
                    &field,
                    format!("{field}: {d:?} is not a domain name"),
                ));
            }
        }
        Ok(())
    }
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

impl From<DnsUpdateRequest> for DnsUpdateData {
    fn from(r: DnsUpdateRequest) -> Self {
        Self {
            interface: r.interface_name,
            servers: r.servers,
            search_domains: r.search_domains,
        }
    }
}

/// `network.dns.get` result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DnsPayload {
    pub servers: Vec<String>,
    pub search_domains: Vec<String>,
}

/// `network.dns.update` result: nothing beyond `changed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DnsUpdatePayload {}

/// Per-host outcome of a DNS update.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DnsUpdateResult {
    pub hostname: String,
    /// `ok` or `failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HostItem for DnsUpdateResult {
    fn from_data(hostname: &str, _data: Value, changed: Option<bool>) -> Result<Self, String> {
        Ok(Self {
            hostname: hostname.to_owned(),
            status: "ok".into(),
            changed: Some(changed.unwrap_or(false)),
            error: None,
        })
    }

    fn from_error(hostname: &str, error: String) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: "failed".into(),
            changed: None,
            error: Some(error),
        }
    }

    crate::flat_item_accessors!();
}

/// Body of `POST /node/{hostname}/network/ping`, and its job data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PingRequest {
    /// IPv4 or IPv6 address, or `@fact.<key>`.
    pub address: String,
    /// Echo requests to send (1 to 20, default 3).
    #[serde(default = "default_count")]
    pub count: u32,
}

impl Default for PingRequest {
    /// No address yet, and the server's default count (3).
    fn default() -> Self {
        Self {
            address: String::new(),
            count: default_count(),
        }
    }
}

fn default_count() -> u32 {
    3
}

const MAX_PING_COUNT: u32 = 20;

impl Validate for PingRequest {
    fn validate(&self) -> Result<(), FieldError> {
        if self.address.parse::<IpAddr>().is_err() && !is_fact_ref(&self.address) {
            return Err(FieldError::new(
                "address",
                format!(
                    "address {:?} is not an IP address or @fact reference",
                    self.address
                ),
            ));
        }
        if !(1..=MAX_PING_COUNT).contains(&self.count) {
            return Err(FieldError::new(
                "count",
                format!("count must be between 1 and {MAX_PING_COUNT}"),
            ));
        }
        Ok(())
    }
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

impl Payload for DnsPayload {}
impl Payload for DnsUpdatePayload {}
impl Payload for PingPayload {}
