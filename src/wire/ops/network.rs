//! `network.*`: DNS read and update, ping.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::rules::{ip_list, ip_or_fact, Text};
use crate::wire::{is_fact_ref, FieldError, HostResult, Payload, Validate};

/// An interface as the DNS operations name it: at most 15 of `[A-Za-z0-9_.:-]`, or a
/// fact reference (`@fact.interface.primary`).
static DNS_INTERFACE: Text = Text::new(
    concat!("^([A-Za-z0-9_.:-]{1,15}|", crate::fact_ref_pattern!(), ")$"),
    1,
    usize::MAX,
);
crate::text_schemas!(DNS_INTERFACE => interface_schema, _, _, _);

/// A search domain: what a target hostname may be (dot-separated parts of
/// `[A-Za-z0-9_-]`, not starting with `_`).
static SEARCH_DOMAIN: Text = Text::new(r"^[A-Za-z0-9-][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$", 1, 253);
crate::text_schemas!(SEARCH_DOMAIN => _, _, _, domains_schema);

fn servers_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    ip_list(true)
}

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
    if DNS_INTERFACE.matches(name) {
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
    #[schema(schema_with = interface_schema)]
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
    #[schema(schema_with = interface_schema)]
    pub interface_name: String,
    /// Name server IPs; absent keeps the current ones.
    #[schema(schema_with = servers_schema)]
    pub servers: Option<Vec<String>>,
    /// Search domains; absent keeps the current ones.
    #[schema(schema_with = domains_schema)]
    pub search_domains: Option<Vec<String>>,
    /// Whether these settings replace the DNS servers DHCP hands out. On a Netplan host
    /// it sets `dhcp4-overrides`/`dhcp6-overrides` `use-dns: false` in the managed
    /// drop-in, as the original; elsewhere they always do (resolved's per-link settings
    /// and a written resolv.conf both take precedence).
    pub override_dhcp: Option<bool>,
}

impl Validate for DnsUpdateRequest {
    const ONE_OF_REQUIRED: &'static [&'static str] = &["servers", "search_domains"];

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
            if !SEARCH_DOMAIN.matches(d) {
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
    #[schema(schema_with = ip_or_fact)]
    pub address: String,
    /// Echo requests to send (1 to 20, default 3).
    #[serde(default = "default_count")]
    #[schema(minimum = 1, maximum = 20)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_domains_are_target_hostnames() {
        use crate::job::target::validate_hostname;
        let long = "a".repeat(254);
        for d in [
            "example.com",
            "a_b.c",
            "_x",
            "-a",
            "a..b",
            "a.",
            "",
            "a b",
            &long,
        ] {
            assert_eq!(
                SEARCH_DOMAIN.matches(d),
                validate_hostname(d).is_ok(),
                "{d:?}"
            );
        }
    }

    #[test]
    fn interfaces_plain_or_facts() {
        for good in [
            "eth0",
            "br-lan.10",
            "@fact.interface.primary",
            "@fact.custom.nic",
        ] {
            assert!(DNS_INTERFACE.matches(good), "{good}");
        }
        for bad in ["", "sixteen-chars-xx", "eth 0", "@fact.os", "eth0\n"] {
            assert!(!DNS_INTERFACE.matches(bad), "{bad}");
        }
    }
}
