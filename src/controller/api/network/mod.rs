//! `/node/{hostname}/network/...`: DNS and ping.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{run_on_target, HostItem, HostResult, JobAnswer};
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::{is_fact_ref, PathParam, ValidJson, Validate};
use crate::controller::state::AppState;
use crate::job::ops::network::{DnsGetData, DnsPayload, DnsUpdateData, PingData, PingPayload};
use crate::job::ops::{self};
use crate::job::target::validate_hostname;

/// Interface names: what Linux allows in practice (`eth0`, `br-lan`, `eth0.100`), or a fact.
fn check_interface(field: &str, name: &str) -> Result<(), ApiError> {
    let plain = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if plain || is_fact_ref(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            field,
            format!("invalid {field} {name:?}: an interface name (at most 15 of A-Z a-z 0-9 - _ . :) or @fact.interface.primary"),
        ))
    }
}

fn to_value<T: Serialize>(data: &T) -> Result<Value, ApiError> {
    serde_json::to_value(data).map_err(|e| ApiError::Internal(e.to_string()))
}

/// DNS servers and search domains of an interface.
#[utoipa::path(get, path = "/node/{hostname}/network/dns/{interfaceName}", tag = "network",
    params(("hostname" = String, Path), ("interfaceName" = String, Path)),
    responses((status = 200, body = super::Collection<HostResult<DnsPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["network:read"])))]
pub async fn get_dns(
    State(state): State<AppState>,
    PathParam((target, interface)): PathParam<(String, String)>,
) -> JobAnswer<HostResult<DnsPayload>> {
    check_interface("interfaceName", &interface)?;
    let data = to_value(&DnsGetData { interface })?;
    run_on_target(
        &state,
        &target,
        ops::NETWORK_DNS_GET,
        data,
        StatusCode::OK,
        None,
    )
    .await
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
    fn validate(&self) -> Result<(), ApiError> {
        check_interface("interface_name", &self.interface_name)?;
        if self.servers.is_none() && self.search_domains.is_none() {
            return Err(ApiError::bad_request(
                "servers",
                "one of servers or search_domains is required",
            ));
        }
        for (i, s) in self.servers.iter().flatten().enumerate() {
            if s.parse::<IpAddr>().is_err() {
                let field = format!("servers[{i}]");
                return Err(ApiError::bad_request(
                    &field,
                    format!("{field}: {s:?} is not an IP address"),
                ));
            }
        }
        for (i, d) in self.search_domains.iter().flatten().enumerate() {
            if validate_hostname(d).is_err() {
                let field = format!("search_domains[{i}]");
                return Err(ApiError::bad_request(
                    &field,
                    format!("{field}: {d:?} is not a domain name"),
                ));
            }
        }
        Ok(())
    }
}

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
}

/// Sets DNS servers and/or search domains; reports per host whether anything changed.
#[utoipa::path(put, path = "/node/{hostname}/network/dns", tag = "network",
    params(("hostname" = String, Path)), request_body = DnsUpdateRequest,
    responses((status = 202, body = super::Collection<DnsUpdateResult>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["network:write"])))]
pub async fn put_dns(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
    ValidJson(req): ValidJson<DnsUpdateRequest>,
) -> JobAnswer<DnsUpdateResult> {
    let data = to_value(&DnsUpdateData {
        interface: req.interface_name,
        servers: req.servers,
        search_domains: req.search_domains,
    })?;
    let op = ops::NETWORK_DNS_UPDATE;
    run_on_target(&state, &target, op, data, StatusCode::ACCEPTED, None).await
}

/// Body of `POST /node/{hostname}/network/ping`.
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
    fn validate(&self) -> Result<(), ApiError> {
        if self.address.parse::<IpAddr>().is_err() && !is_fact_ref(&self.address) {
            return Err(ApiError::bad_request(
                "address",
                format!(
                    "address {:?} is not an IP address or @fact reference",
                    self.address
                ),
            ));
        }
        if !(1..=MAX_PING_COUNT).contains(&self.count) {
            return Err(ApiError::bad_request(
                "count",
                format!("count must be between 1 and {MAX_PING_COUNT}"),
            ));
        }
        Ok(())
    }
}

/// ICMP echo from the target's hosts to an address.
#[utoipa::path(post, path = "/node/{hostname}/network/ping", tag = "network",
    params(("hostname" = String, Path)), request_body = PingRequest,
    responses((status = 200, body = super::Collection<HostResult<PingPayload>>),
        (status = 400, body = ErrorResponse)),
    security(("BearerAuth" = ["network:write"])))]
pub async fn post_ping(
    State(state): State<AppState>,
    PathParam(target): PathParam<String>,
    ValidJson(req): ValidJson<PingRequest>,
) -> JobAnswer<HostResult<PingPayload>> {
    let data = to_value(&PingData {
        address: req.address,
        count: req.count,
    })?;
    // Each echo may wait up to a second for its reply.
    let limit = std::time::Duration::from_secs(u64::from(req.count) + 2);
    run_on_target(
        &state,
        &target,
        ops::NETWORK_PING_DO,
        data,
        StatusCode::OK,
        Some(limit),
    )
    .await
}
