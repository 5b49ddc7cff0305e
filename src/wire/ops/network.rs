//! `network.*`: DNS read and update, ping.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::target::validate_hostname;
use crate::wire::{is_fact_ref, FieldError, HostResult, Payload, Validate};

op!(
    /// `GET /node/{hostname}/network/dns/{interfaceName}`.
    NetworkDnsGet, "network.dns.get", Query, Get, "/node/{hostname}/network/dns/{interfaceName}",
    NetworkRead, "network", "DNS servers and search domains of an interface.",
    DnsGetRequest => DnsGetData => DnsPayload => HostResult<DnsPayload>
);
op!(
    /// `PUT /node/{hostname}/network/dns`.
    NetworkDnsUpdate, "network.dns.update", Modify, Put, "/node/{hostname}/network/dns",
    NetworkWrite, "network",
    "Sets DNS servers and/or search domains; reports per host whether anything changed.",
    DnsUpdateRequest => DnsUpdateData => DnsUpdatePayload => DnsUpdateResult
);
op!(
    /// `POST /node/{hostname}/network/ping`.
    NetworkPingDo, "network.ping.do", Query, Post, "/node/{hostname}/network/ping", NetworkWrite,
    "network", "ICMP echo from the target's hosts to an address.",
    PingRequest => PingRequest => PingPayload => HostResult<PingPayload>;
    /// Each echo may wait up to a second for its reply.
    fn time_limit(data: &PingRequest) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(data.count) + 2))
    }
);

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
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsUpdateRequest {
    pub interface_name: String,
    /// Name server IPs; absent keeps the current ones.
    pub servers: Option<Vec<String>>,
    /// Search domains; absent keeps the current ones.
    pub search_domains: Option<Vec<String>>,
    /// Whether these settings replace the DNS servers DHCP hands out. On a Netplan host
    /// it sets `dhcp4-overrides`/`dhcp6-overrides` `use-dns: false` in the managed
    /// drop-in, as the original; elsewhere they always do (resolved's per-link settings
    /// and a written resolv.conf both take precedence).
    pub override_dhcp: Option<bool>,
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
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsUpdateData {
    pub interface: String,
    pub servers: Option<Vec<String>>,
    pub search_domains: Option<Vec<String>>,
    pub override_dhcp: Option<bool>,
}

impl From<DnsUpdateRequest> for DnsUpdateData {
    fn from(r: DnsUpdateRequest) -> Self {
        Self {
            interface: r.interface_name,
            servers: r.servers,
            search_domains: r.search_domains,
            override_dhcp: r.override_dhcp,
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
pub type DnsUpdatePayload = super::Changed;

/// Per-host outcome of a DNS update: `status` and `changed`, nothing else.
pub type DnsUpdateResult = HostResult<DnsUpdatePayload>;

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
impl Payload for PingPayload {}
