//! `/agent`: registered agents with their state and facts; drain and undrain.

use std::collections::{HashMap, HashSet};

use async_nats::jetstream::kv;
use axum::extract::State;
use axum::routing;
use axum::Json;

use crate::agent::drain;
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::Named;
use crate::controller::state::{AppState, Backend};
use crate::nats::kv_scan;
use crate::registry::{list_agents, record_timeline, timeline, AgentRegistration, AgentState};
use crate::wire::agent::{format_uptime, AgentInfo, AgentList, DrainResponse};
use crate::wire::facts::Facts;
use crate::wire::keys;

fn unavailable(e: impl Into<crate::nats::BoxError>) -> ApiError {
    ApiError::nats(e)
}

pub(crate) async fn info(backend: &Backend, reg: AgentRegistration) -> Result<AgentInfo, ApiError> {
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
    Ok(info_of(reg, facts, flagged))
}

/// An agent's answer from its registry entry, its facts and whether its drain flag is set.
fn info_of(reg: AgentRegistration, facts: Option<Facts>, flagged: bool) -> AgentInfo {
    // The flag is set before the agent reacts: show the drain as under way.
    let state = match (flagged, reg.state) {
        (true, AgentState::Ready) => AgentState::Draining,
        (_, s) => s,
    };
    AgentInfo {
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
        machine_id: reg.machine_id,
        current_hostname: reg.current_hostname,
        fingerprint: String::new(),
        timeline: Vec::new(),
        facts,
    }
}

/// The agent a path's hostname names: by its own name, or by the new name of a host
/// osapi renamed ([`Backend::find_agent`]); 404 for neither.
async fn find(backend: &Backend, hostname: &str) -> Result<AgentRegistration, ApiError> {
    backend
        .find_agent(hostname)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("agent {hostname:?} not found")))
}

/// Every registered agent.
#[utoipa::path(get, path = "/agent", tag = "agent",
    responses((status = 200, body = AgentList)),
    security(("BearerAuth" = ["agent:read"])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<AgentList>, ApiError> {
    let backend = state.backend()?;
    let agents = list_all(backend).await?;
    Ok(Json(AgentList {
        total: agents.len(),
        agents,
    }))
}

/// Every registered agent with its facts and drain flag: three scans side by side, not
/// two reads per agent one after the other (a thousand agents took seconds).
async fn list_all(backend: &Backend) -> Result<Vec<AgentInfo>, ApiError> {
    let res = &backend.resources;
    let (regs, facts, flags) = tokio::try_join!(
        async { list_agents(&res.registry).await.map_err(unavailable) },
        async {
            kv_scan::scan(&res.facts, keys::FACTS_ALL, true)
                .await
                .map_err(unavailable)
        },
        async {
            kv_scan::scan(&res.state, keys::DRAINS_ALL, false)
                .await
                .map_err(unavailable)
        },
    )?;
    let mut facts: HashMap<String, bytes::Bytes> = facts.into_iter().collect();
    let flags: HashSet<String> = flags.into_iter().map(|(key, _)| key).collect();
    Ok(regs
        .into_iter()
        .map(|reg| {
            let facts = facts
                .remove(&Facts::key(&reg.hostname))
                .and_then(|b| serde_json::from_slice(&b).ok());
            let flagged = flags.contains(&drain::key(&reg.hostname));
            info_of(reg, facts, flagged)
        })
        .collect())
}

/// One agent.
#[utoipa::path(get, path = "/agent/{hostname}", tag = "agent", params(("hostname" = String, Path)),
    responses((status = 200, body = AgentInfo), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["agent:read"])))]
pub async fn get(Named(state, hostname): Named) -> Result<Json<AgentInfo>, ApiError> {
    let backend = state.backend()?;
    let reg = find(backend, &hostname).await?;
    let mut agent = info(backend, reg).await?;
    agent.timeline = timeline(&backend.resources.state, &agent.hostname)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(agent))
}

/// Stop giving the agent new jobs; it finishes what it has, then shows `Drained`.
#[utoipa::path(post, path = "/agent/{hostname}/drain", tag = "agent", params(("hostname" = String, Path)),
    responses((status = 200, body = DrainResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse)),
    security(("BearerAuth" = ["agent:write"])))]
pub async fn drain_agent(Named(state, name): Named) -> Result<Json<DrainResponse>, ApiError> {
    let (flags, hostname) = drain_flag(&state, &name).await?;
    let key = drain::key(&hostname);
    // Stamped before the flag is set: the agent's own events follow it in the timeline.
    let asked = time::OffsetDateTime::now_utc();
    flags
        .create(&key, "1".into())
        .await
        .map_err(|e| drain_error(&hostname, &e))?;
    let event = ("drain", "Drain initiated via API");
    record_timeline(flags, &hostname, event, asked).await;
    Ok(Json(DrainResponse {
        hostname,
        status: "Draining".into(),
        message: "no new jobs; in-flight jobs finish, then the agent shows Drained".into(),
    }))
}

/// The state bucket (drain flags, timelines) and the agent a name reaches (404 for none).
async fn drain_flag<'a>(
    state: &'a AppState,
    name: &str,
) -> Result<(&'a kv::Store, String), ApiError> {
    let backend = state.backend()?;
    let agent = find(backend, name).await?;
    Ok((&backend.resources.state, agent.hostname))
}

/// What a failed create of the drain flag means to the client. Only an existing flag is
/// "already draining" (409); any other failure (publish, ack, timeout) says nothing about
/// the agent, so it is 503 with the cause logged here and kept out of the answer.
fn drain_error(hostname: &str, e: &kv::CreateError) -> ApiError {
    if e.kind() == kv::CreateErrorKind::AlreadyExists {
        return ApiError::Conflict(format!("agent {hostname:?} is already draining"));
    }
    tracing::warn!(%hostname, error = %e, "cannot set the drain flag");
    ApiError::Unavailable(format!(
        "cannot drain agent {hostname:?} now: NATS is unavailable"
    ))
}

/// Let a drained agent take jobs again.
#[utoipa::path(post, path = "/agent/{hostname}/undrain", tag = "agent", params(("hostname" = String, Path)),
    responses((status = 200, body = DrainResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse)),
    security(("BearerAuth" = ["agent:write"])))]
pub async fn undrain_agent(Named(state, name): Named) -> Result<Json<DrainResponse>, ApiError> {
    let (flags, hostname) = drain_flag(&state, &name).await?;
    let key = drain::key(&hostname);
    let flagged = flags.get(&key).await.map_err(unavailable)?.is_some();
    if !flagged {
        return Err(ApiError::Conflict(format!(
            "agent {hostname:?} is not draining"
        )));
    }
    let asked = time::OffsetDateTime::now_utc();
    flags.delete(&key).await.map_err(unavailable)?;
    let event = ("undrain", "Undrain initiated via API");
    record_timeline(flags, &hostname, event, asked).await;
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
    use crate::auth::Permission;
    super::by_permission(
        state,
        [
            (Permission::AgentRead, read),
            (Permission::AgentWrite, write),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_existing_drain_flag_is_a_conflict() {
        use kv::{CreateError, CreateErrorKind};
        let conflict = drain_error("web-01", &CreateError::new(CreateErrorKind::AlreadyExists));
        assert!(
            matches!(&conflict, ApiError::Conflict(m) if m.contains("already draining")),
            "{conflict:?}"
        );
        for kind in [
            CreateErrorKind::Publish,
            CreateErrorKind::Ack,
            CreateErrorKind::Other,
            CreateErrorKind::InvalidKey,
        ] {
            let e = drain_error(
                "web-01",
                &CreateError::with_source(kind, std::io::Error::other("no responders")),
            );
            match &e {
                // The cause is logged, never sent.
                ApiError::Unavailable(m) => assert!(!m.contains("responders"), "{m}"),
                other => panic!("{kind:?} must be unavailable, not {other:?}"),
            }
        }
    }
}
