//! Server-Sent Events: one job's events (`GET /job/{id}/events`) and the fleet's
//! (`GET /events`), both served from the controller's shared subscriptions in memory.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{routing, Extension};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{Permission, Principal};
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::Named;
use crate::controller::state::AppState;
use crate::job::feed::job_stream;
use crate::job::Target;
use crate::wire::events::{FleetEvent, FleetKind, JobStreamEvent};

/// SSE name of the notice that a slow client missed fleet events.
pub const LAGGED: &str = "lagged";

type EventStream = Sse<
    axum::response::sse::KeepAliveStream<
        std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>,
    >,
>;

/// The stream as SSE with keep-alives, ending when the API stops.
fn sse(state: &AppState, stream: impl Stream<Item = Event> + Send + 'static) -> EventStream {
    let stream = stream
        .take_until(state.streams_end.clone().cancelled_owned())
        .map(Ok::<_, Infallible>);
    Sse::new(stream.boxed()).keep_alive(KeepAlive::default())
}

fn job_event(e: &JobStreamEvent) -> Event {
    let data = e.data().unwrap_or_else(|_| "{}".into());
    Event::default().event(e.name()).data(data)
}

/// A job's events as they happen: what already happened first, then `acknowledged`,
/// `started`, `result` per host and a last `done` with the job's status.
#[utoipa::path(get, path = "/job/{id}/events", tag = "job", params(("id" = String, Path, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$", format = "uuid")),
    responses((status = 200, description = "text/event-stream of the job's events"),
        (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["job:read"])))]
pub async fn job_events(Named(state, id): Named) -> Result<EventStream, ApiError> {
    let id = super::job::job_id(&id)?;
    let feed = state.backend()?.jobs.feed().clone();
    // Registered before reading what is stored: nothing falls between the two.
    let following = feed.follow(&id);
    let record = feed
        .record(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job not found: {id}")))?;
    let stored = feed.stored(&id).await?;
    let events = job_stream(feed, record, following, stored);
    Ok(sse(&state, events.map(|e| job_event(&e))))
}

/// What a fleet stream client receives.
struct FleetFilter {
    kinds: BTreeSet<FleetKind>,
    /// The target as written, and parsed (`None`: everything).
    target: Option<(String, Target)>,
}

impl FleetFilter {
    /// From `?kind=agent,job.finished&target=group:web`, limited to what `principal` may
    /// see: a kind asked for without its permission is 403; no kind asked for means every
    /// kind the caller may see (403 when none).
    fn new(query: &HashMap<String, String>, principal: &Principal) -> Result<Self, ApiError> {
        let asked: Vec<&str> = query
            .get("kind")
            .map(|k| {
                k.split(',')
                    .map(str::trim)
                    .filter(|w| !w.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut kinds = BTreeSet::new();
        for word in &asked {
            let matching = FleetKind::matching(word);
            if matching.is_empty() {
                return Err(ApiError::bad_request(
                    "kind",
                    format!(
                        "unknown event kind {word:?}: use agent, condition, job or one of {}",
                        names()
                    ),
                ));
            }
            kinds.extend(matching);
        }
        if asked.is_empty() {
            kinds = FleetKind::ALL
                .into_iter()
                .filter(|k| principal.allows(k.permission()))
                .collect();
            if kinds.is_empty() {
                return Err(forbidden(&[Permission::AgentRead, Permission::JobRead]));
            }
        }
        if let Some(kind) = kinds.iter().find(|k| !principal.allows(k.permission())) {
            return Err(forbidden(&[kind.permission()]));
        }
        let target = match query.get("target").map(String::as_str) {
            None | Some("") => None,
            Some(raw) => Some((
                raw.to_owned(),
                Target::parse(raw).map_err(|e| ApiError::bad_request("target", e.to_string()))?,
            )),
        };
        Ok(Self { kinds, target })
    }

    fn admits(&self, e: &FleetEvent) -> bool {
        if !self.kinds.contains(&e.kind) {
            return false;
        }
        let Some((raw, target)) = &self.target else {
            return true;
        };
        if matches!(target, Target::All | Target::Any) {
            return true;
        }
        match (&e.hostname, &e.target) {
            (Some(host), _) => target.matches(host, &e.labels),
            (None, Some(job_target)) => job_target == raw,
            (None, None) => false,
        }
    }
}

fn names() -> String {
    FleetKind::ALL.map(FleetKind::as_str).join(", ")
}

fn forbidden(any_of: &[Permission]) -> ApiError {
    let list: Vec<&str> = any_of.iter().map(|p| p.as_str()).collect();
    ApiError::Forbidden(format!(
        "Insufficient permissions. Required: [{}]",
        list.join(" or ")
    ))
}

/// The fleet's events as they happen: agents registered, changed or unreachable,
/// conditions fired or resolved, jobs created or finished.
#[utoipa::path(get, path = "/events", tag = "events",
    params(("kind" = Option<String>, Query, description = "comma-separated: agent, condition, job, or names such as job.finished"),
        ("target" = Option<String>, Query, description = "a hostname or key:value label (agent and condition events), or a job's target as written")),
    responses((status = 200, description = "text/event-stream of fleet events"),
        (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse)),
    security(("BearerAuth" = ["agent:read", "job:read"])))]
pub async fn fleet_events(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<EventStream, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let filter = FleetFilter::new(&query, &principal)?;
    let rx = state.fleet.subscribe();
    let events = futures::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            let event = match rx.recv().await {
                Ok(e) if filter.admits(&e) => fleet_event(&e),
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => Event::default()
                    .event(LAGGED)
                    .data(serde_json::json!({ "missed": missed }).to_string()),
                Err(RecvError::Closed) => return None,
            };
            return Some((event, (rx, filter)));
        }
    });
    Ok(sse(&state, events))
}

fn fleet_event(e: &Arc<FleetEvent>) -> Event {
    let data = serde_json::to_string(e.as_ref()).unwrap_or_else(|_| "{}".into());
    Event::default().event(e.kind.as_str()).data(data)
}

/// The event routes: a job's stream behind `job:read`; the fleet's open to any valid
/// token, each kind checked by the handler.
pub fn router(state: &AppState) -> axum::Router<AppState> {
    let job = axum::Router::new().route("/job/{id}/events", routing::get(job_events));
    let fleet = axum::Router::new()
        .route("/events", routing::get(fleet_events))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::controller::auth::authenticated,
        ));
    super::guarded(job, state, Permission::JobRead).merge(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(permissions: &[Permission]) -> Principal {
        Principal {
            subject: "t".into(),
            roles: Vec::new(),
            permissions: permissions.iter().copied().collect(),
            claims: Default::default(),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn agent_event(kind: FleetKind, host: &str, group: &str) -> FleetEvent {
        FleetEvent {
            kind,
            hostname: Some(host.into()),
            target: None,
            job_id: None,
            labels: [("group".to_owned(), group.to_owned())].into(),
            timestamp: String::new(),
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn kinds_follow_the_callers_permissions() {
        let agents_only = principal(&[Permission::AgentRead]);
        let all = FleetFilter::new(&query(&[]), &agents_only).expect("filter");
        assert!(all
            .kinds
            .iter()
            .all(|k| k.permission() == Permission::AgentRead));
        assert!(matches!(
            FleetFilter::new(&query(&[("kind", "job")]), &agents_only),
            Err(ApiError::Forbidden(m)) if m.contains("job:read")
        ));
        assert!(matches!(
            FleetFilter::new(&query(&[]), &principal(&[Permission::NodeRead])),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            FleetFilter::new(&query(&[("kind", "jobs")]), &agents_only),
            Err(ApiError::BadRequest { field, .. }) if field == "kind"
        ));
    }

    #[test]
    fn targets_match_hosts_labels_and_job_targets() {
        let p = principal(&[Permission::AgentRead, Permission::JobRead]);
        let web = FleetFilter::new(&query(&[("target", "group:web")]), &p).expect("filter");
        assert!(web.admits(&agent_event(FleetKind::AgentChanged, "a", "web")));
        assert!(!web.admits(&agent_event(FleetKind::AgentChanged, "b", "db")));
        let job = FleetEvent {
            hostname: None,
            target: Some("group:web".into()),
            labels: Default::default(),
            ..agent_event(FleetKind::JobCreated, "x", "x")
        };
        assert!(web.admits(&job));
        let host =
            FleetFilter::new(&query(&[("target", "a"), ("kind", "agent")]), &p).expect("filter");
        assert!(host.admits(&agent_event(FleetKind::AgentRegistered, "a", "db")));
        assert!(!host.admits(&job), "kind filtered");
        assert!(matches!(
            FleetFilter::new(&query(&[("target", "bad host!")]), &p),
            Err(ApiError::BadRequest { field, .. }) if field == "target"
        ));
    }
}
