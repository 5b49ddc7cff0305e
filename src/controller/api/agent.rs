//! `/agent`: registered agents with their state and facts; drain and undrain.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::agent::drain;
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::PathParam;
use crate::controller::state::{AppState, Backend};
use crate::registry::{list_agents, AgentRegistration, AgentState, LoadAverage, Memory};
use crate::wire::facts::Facts;

/// An agent as the registry, its facts and its drain flag describe it: the original's
/// `AgentInfo`, with the facts as top-level fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentInfo {
    pub hostname: String,
    /// Always `Ready`: an agent in the registry is alive (its entry expires otherwise).
    pub status: String,
    /// `Ready`, `Draining` (drain asked, jobs still running) or `Drained`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Last heartbeat.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registered_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    /// Host uptime at the last heartbeat: `D days, H hours, M minutes`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uptime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<LoadAverage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_version: String,
    /// Conditions evaluated on the last heartbeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<crate::conditions::Condition>,
    /// OS, architecture, kernel, CPUs, interfaces, routes, container... as top-level
    /// fields (`os_info`, `architecture`, ...); `None` until the agent first reported them.
    #[serde(flatten)]
    pub facts: Option<Facts>,
}

/// `D days, H hours, M minutes`, singular when 1, as the original's agent uptime.
pub fn format_uptime(secs: u64) -> String {
    let unit = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    format!(
        "{}, {}, {}",
        unit(secs / 86400, "day"),
        unit((secs % 86400) / 3600, "hour"),
        unit((secs % 3600) / 60, "minute")
    )
}

/// `GET /agent`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentInfo>,
    pub total: usize,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

async fn info(backend: &Backend, reg: AgentRegistration) -> Result<AgentInfo, ApiError> {
    let res = &backend.resources;
    let facts = res
        .facts
        .get(Facts::key(&reg.hostname))
        .await
        .map_err(unavailable)?
        .and_then(|b| serde_json::from_slice(&b).ok());
    let flagged = res
        .state
        .get(drain::key(&reg.hostname))
        .await
        .map_err(unavailable)?
        .is_some();
    // The flag is set before the agent reacts: show the drain as under way.
    let state = match (flagged, reg.state) {
        (true, AgentState::Ready) => AgentState::Draining,
        (_, s) => s,
    };
    Ok(AgentInfo {
        status: "Ready".into(),
        state: format!("{state:?}"),
        hostname: reg.hostname,
        labels: reg.labels,
        registered_at: reg.registered_at,
        started_at: reg.started_at,
        uptime: reg.uptime_seconds.map(format_uptime).unwrap_or_default(),
        load_average: reg.load_average,
        memory: reg.memory,
        agent_version: reg.agent_version,
        conditions: reg.conditions,
        facts,
    })
}

async fn find(backend: &Backend, hostname: &str) -> Result<AgentRegistration, ApiError> {
    list_agents(&backend.resources.registry)
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|a| a.hostname == hostname)
        .ok_or_else(|| ApiError::NotFound(format!("agent {hostname:?} not found")))
}

/// Every registered agent.
#[utoipa::path(get, path = "/agent", tag = "agent",
    responses((status = 200, body = AgentList)),
    security(("BearerAuth" = ["agent:read"])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<AgentList>, ApiError> {
    let backend = state.backend()?;
    let mut agents = Vec::new();
    for reg in list_agents(&backend.resources.registry)
        .await
        .map_err(unavailable)?
    {
        agents.push(info(backend, reg).await?);
    }
    Ok(Json(AgentList {
        total: agents.len(),
        agents,
    }))
}

/// One agent.
#[utoipa::path(get, path = "/agent/{hostname}", tag = "agent", params(("hostname" = String, Path)),
    responses((status = 200, body = AgentInfo), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["agent:read"])))]
pub async fn get(
    State(state): State<AppState>,
    PathParam(hostname): PathParam<String>,
) -> Result<Json<AgentInfo>, ApiError> {
    let backend = state.backend()?;
    let reg = find(backend, &hostname).await?;
    Ok(Json(info(backend, reg).await?))
}

/// Answer of drain and undrain.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrainResponse {
    pub hostname: String,
    pub status: String,
    pub message: String,
}

/// Stop giving the agent new jobs; it finishes what it has, then shows `Drained`.
#[utoipa::path(post, path = "/agent/{hostname}/drain", tag = "agent", params(("hostname" = String, Path)),
    responses((status = 200, body = DrainResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse)),
    security(("BearerAuth" = ["agent:write"])))]
pub async fn drain_agent(
    State(state): State<AppState>,
    PathParam(hostname): PathParam<String>,
) -> Result<Json<DrainResponse>, ApiError> {
    let backend = state.backend()?;
    find(backend, &hostname).await?;
    let key = drain::key(&hostname);
    backend
        .resources
        .state
        .create(&key, "1".into())
        .await
        .map_err(|_| ApiError::Conflict(format!("agent {hostname:?} is already draining")))?;
    Ok(Json(DrainResponse {
        hostname,
        status: "Draining".into(),
        message: "no new jobs; in-flight jobs finish, then the agent shows Drained".into(),
    }))
}

/// Let a drained agent take jobs again.
#[utoipa::path(post, path = "/agent/{hostname}/undrain", tag = "agent", params(("hostname" = String, Path)),
    responses((status = 200, body = DrainResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse)),
    security(("BearerAuth" = ["agent:write"])))]
pub async fn undrain_agent(
    State(state): State<AppState>,
    PathParam(hostname): PathParam<String>,
) -> Result<Json<DrainResponse>, ApiError> {
    let backend = state.backend()?;
    find(backend, &hostname).await?;
    let key = drain::key(&hostname);
    let flagged = backend
        .resources
        .state
        .get(&key)
        .await
        .map_err(unavailable)?
        .is_some();
    if !flagged {
        return Err(ApiError::Conflict(format!(
            "agent {hostname:?} is not draining"
        )));
    }
    backend
        .resources
        .state
        .delete(&key)
        .await
        .map_err(unavailable)?;
    Ok(Json(DrainResponse {
        hostname,
        status: "Ready".into(),
        message: "taking jobs again".into(),
    }))
}

/// The agent routes.
pub fn router(state: &AppState) -> axum::Router<AppState> {
    let read = axum::Router::new()
        .route("/agent", routing::get(list))
        .route("/agent/{hostname}", routing::get(self::get));
    let write = axum::Router::new()
        .route("/agent/{hostname}/drain", routing::post(drain_agent))
        .route("/agent/{hostname}/undrain", routing::post(undrain_agent));
    let p = crate::auth::Permission::AgentRead;
    super::guarded(read, state, p).merge(super::guarded(
        write,
        state,
        crate::auth::Permission::AgentWrite,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::facts::{Interface, OsFacts};
    use serde_json::json;

    fn agent() -> AgentInfo {
        AgentInfo {
            hostname: "web-01".into(),
            status: "Ready".into(),
            state: "Drained".into(),
            registered_at: "2025-01-01T00:00:10Z".into(),
            started_at: "2025-01-01T00:00:00Z".into(),
            uptime: format_uptime(90061),
            load_average: Some(LoadAverage {
                one: 0.5,
                five: 0.25,
                fifteen: 0.125,
            }),
            memory: Some(Memory {
                total: 8,
                free: 2,
                used: 5,
                available: 3,
                cached: 1,
            }),
            facts: Some(Facts {
                hostname: "web-01".into(),
                architecture: "x86_64".into(),
                cpu_count: 4,
                os: Some(OsFacts {
                    distribution: "Ubuntu".into(),
                    version: "24.04".into(),
                }),
                interfaces: vec![Interface {
                    name: "eth0".into(),
                    ipv4: "10.0.0.2".into(),
                    family: "inet".into(),
                    ..Default::default()
                }],
                collected_at: "2025-01-01T00:00:05Z".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn uptime_is_worded_like_the_original() {
        assert_eq!(format_uptime(90061), "1 day, 1 hour, 1 minute");
        assert_eq!(
            format_uptime(2 * 86400 + 3 * 3600),
            "2 days, 3 hours, 0 minutes"
        );
    }

    #[test]
    fn wire_shape_follows_the_original() {
        let v = serde_json::to_value(agent()).unwrap();
        assert_eq!(v["status"], "Ready");
        assert_eq!(v["state"], "Drained");
        assert_eq!(v["uptime"], "1 day, 1 hour, 1 minute");
        assert_eq!(
            v["load_average"],
            json!({"1min": 0.5, "5min": 0.25, "15min": 0.125})
        );
        assert_eq!(
            (
                &v["memory"]["total"],
                &v["memory"]["free"],
                &v["memory"]["used"]
            ),
            (&json!(8), &json!(2), &json!(5))
        );
        assert_eq!(
            v["os_info"],
            json!({"distribution": "Ubuntu", "version": "24.04"})
        );
        assert_eq!(v["architecture"], "x86_64");
        assert_eq!(v["cpu_count"], 4);
        assert_eq!(
            v["interfaces"],
            json!([{"name": "eth0", "ipv4": "10.0.0.2", "family": "inet"}])
        );
        for absent in ["labels", "conditions", "facts", "routes", "fqdn"] {
            assert!(v.get(absent).is_none(), "{absent} should be omitted: {v}");
        }
    }

    #[test]
    fn round_trips_with_and_without_facts() {
        let a = agent();
        let back: AgentInfo = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        let facts = back.facts.expect("facts");
        assert_eq!(facts.os, a.facts.as_ref().unwrap().os);
        assert_eq!(facts.cpu_count, 4);
        assert_eq!(back.load_average, a.load_average);
        assert_eq!(back.state, "Drained");
        let bare = AgentInfo {
            facts: None,
            ..agent()
        };
        let back: AgentInfo = serde_json::from_value(serde_json::to_value(&bare).unwrap()).unwrap();
        assert!(back.facts.is_none());
        assert_eq!(back.memory, bare.memory);
    }
}
