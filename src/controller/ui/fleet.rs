//! The fleet page: a card per agent (state, labels, OS, load, memory, conditions, last
//! heartbeat), filter and pages for large fleets, drain and undrain, and the components
//! with their NATS figures. Cards and components stay current through [`live`].

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use super::layout::{self, Nav};
use super::{live, view, Session, Ui, UiError, UiState};
use crate::auth::Permission;
use crate::controller::api::agent::info;
use crate::registry::{AgentRegistration, AgentState};
use crate::wire::agent::AgentInfo;

/// Cards per page: a 1,000-agent fleet is 21 pages, each a few dozen KiB.
pub const PAGE_SIZE: usize = 48;

/// The fleet's filter and page.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct FleetQuery {
    /// Part of a hostname, or `key=value` / `key:value` of a label.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: usize,
}

impl FleetQuery {
    fn url(&self, page: usize) -> String {
        format!("/ui/fleet?q={}&page={page}", view::query_value(&self.q))
    }

    fn matches(&self, agent: &AgentRegistration) -> bool {
        let q = self.q.trim();
        if q.is_empty() || agent.hostname.contains(q) {
            return true;
        }
        agent.labels.iter().any(|(k, v)| {
            q == k
                || [format!("{k}={v}"), format!("{k}:{v}")]
                    .iter()
                    .any(|l| l.contains(q))
        })
    }
}

/// `/`: the fleet page.
pub async fn page(
    session: Session,
    State(ui): UiState,
    Query(query): Query<FleetQuery>,
) -> Response {
    let body = if session.may(Permission::AgentRead) {
        html! {
            form.filter hx-get="/ui/fleet" hx-target="#fleet" hx-swap="outerHTML"
                hx-trigger="input changed delay:300ms, submit" {
                input #fleet-q type="search" name="q" value=(query.q)
                    placeholder="Filter: hostname, or label key=value" aria-label="Filter agents";
            }
            (fleet_region(&ui, &session, &query).await)
            @if session.may(Permission::HealthRead) {
                h2 { "Components" }
                (live::deferred("components", "/ui/fleet/components"))
            }
        }
    } else {
        html! { p.muted { "This token may not list agents (it lacks agent:read)." } }
    };
    let ops = ui.forms.any_allowed(&session);
    layout::page(&session, ops, Nav::Fleet, "Fleet", body)
}

/// `/ui/fleet`: the cards region alone (polled, filtered, paged).
pub async fn region(
    session: Session,
    State(ui): UiState,
    Query(query): Query<FleetQuery>,
) -> Response {
    if let Err(e) = session.require(Permission::AgentRead) {
        return e.into_response();
    }
    layout::fragment(fleet_region(&ui, &session, &query).await)
}

/// The cards region; a failure shows inside it, so that polling goes on.
pub async fn fleet_region(ui: &Ui, session: &Session, query: &FleetQuery) -> Markup {
    let content = cards(ui, session, query)
        .await
        .unwrap_or_else(|e| e.markup());
    live::region("fleet", &query.url(query.page), content)
}

async fn cards(ui: &Ui, session: &Session, query: &FleetQuery) -> Result<Markup, UiError> {
    let backend = ui.app.backend()?;
    let mut agents = backend.agents(false).await?;
    agents.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    let count = |s: AgentState| agents.iter().filter(|a| a.state == s).count();
    let summary = format!(
        "{} agents: {} ready, {} draining, {} drained",
        agents.len(),
        count(AgentState::Ready),
        count(AgentState::Draining),
        count(AgentState::Drained)
    );
    let matching: Vec<AgentRegistration> =
        agents.into_iter().filter(|a| query.matches(a)).collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.min(pages - 1);
    let shown = matching.iter().skip(page * PAGE_SIZE).take(PAGE_SIZE);
    let infos = futures::future::join_all(shown.cloned().map(|reg| info(backend, reg))).await;
    let may_drain = session.may(Permission::AgentWrite);
    Ok(html! {
        p.summary {
            (summary)
            @if !query.q.trim().is_empty() { "; " (matching.len()) " match the filter" }
        }
        div.cards {
            @for agent in infos {
                @match agent {
                    Ok(agent) => (card(&agent, may_drain)),
                    Err(e) => (UiError::from(e).markup()),
                }
            }
        }
        @if pages > 1 { (pager(query, page, pages)) }
    })
}

fn pager(query: &FleetQuery, page: usize, pages: usize) -> Markup {
    let link = |to: usize, label: &str| {
        html! {
            a href=(format!("/?q={}&page={to}", view::query_value(&query.q)))
                hx-get=(query.url(to)) hx-target="#fleet" hx-swap="outerHTML" { (label) }
        }
    };
    html! {
        nav.pager {
            @if page > 0 { (link(page - 1, "← Previous")) }
            span { "Page " (page + 1) " of " (pages) }
            @if page + 1 < pages { (link(page + 1, "Next →")) }
        }
    }
}

/// One agent's card.
pub fn card(a: &AgentInfo, may_drain: bool) -> Markup {
    let facts = a.facts.as_ref();
    let os = facts
        .and_then(|f| f.os.as_ref())
        .map(|o| format!("{} {}", o.distribution, o.version));
    let action = if a.state == "Ready" {
        "drain"
    } else {
        "undrain"
    };
    html! {
        article.card data-host=(a.hostname) data-state=(a.state) {
            header {
                h3 { (a.hostname) }
                (view::badge(&a.state))
            }
            @if !a.labels.is_empty() {
                ul.labels { @for (k, v) in &a.labels { li { (k) ":" (v) } } }
            }
            dl {
                @if let Some(os) = os { dt { "OS" } dd { (os) } }
                @if let Some(f) = facts {
                    @if !f.kernel_version.is_empty() { dt { "Kernel" } dd { (f.kernel_version) " " (f.architecture) } }
                }
                @if let Some(l) = &a.load_average {
                    dt { "Load" } dd { (format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen)) }
                }
                @if let Some(m) = &a.memory {
                    dt { "Memory" } dd { (view::bytes(m.used)) " of " (view::bytes(m.total)) }
                }
                @if !a.uptime.is_empty() { dt { "Uptime" } dd { (a.uptime) } }
                dt { "Heartbeat" } dd.heartbeat { (view::age(&a.registered_at)) }
                @if !a.agent_version.is_empty() { dt { "Agent" } dd { (a.agent_version) } }
            }
            @if !a.conditions.is_empty() {
                ul.conditions {
                    @for c in &a.conditions {
                        li class=(if c.status { "on" } else { "off" }) title=(c.reason) { (c.kind) }
                    }
                }
            }
            @if may_drain {
                footer {
                    button.action hx-post=(format!("/ui/agent/{}/{action}", view::path_segment(&a.hostname)))
                        hx-target="closest .card" hx-swap="outerHTML" {
                        @if action == "drain" { "Drain" } @else { "Undrain" }
                    }
                }
            }
        }
    }
}

/// `POST /ui/agent/{hostname}/{drain|undrain}`: asks the API, answers the new card.
pub async fn drain(
    session: Session,
    State(ui): UiState,
    Path((hostname, action)): Path<(String, String)>,
) -> Result<Response, UiError> {
    if !matches!(action.as_str(), "drain" | "undrain") {
        return Err(UiError::NotFound(format!("no agent action {action:?}")));
    }
    let path = format!("/agent/{}/{action}", view::path_segment(&hostname));
    let answer = ui.api.call(&session, Method::POST, &path, None).await;
    if !answer.status.is_success() {
        return Err(answer.error());
    }
    let backend = ui.app.backend()?;
    let reg = backend
        .find_agent(&hostname)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("agent {hostname:?} not found")))?;
    let agent = info(backend, reg).await?;
    Ok(layout::fragment(card(
        &agent,
        session.may(Permission::AgentWrite),
    )))
}

/// `/ui/fleet/components`: controllers, NATS servers, agents' sub-components, and the
/// streams and buckets with their figures (the API's `/health/status`).
pub async fn components(session: Session, State(ui): UiState) -> Response {
    if let Err(e) = session.require(Permission::HealthRead) {
        return e.into_response();
    }
    // The handler itself rather than a call through the API: a poll every few seconds
    // would fill the audit log.
    let (_, axum::Json(status)) =
        crate::controller::api::status::status(State(ui.app.clone())).await;
    let content = match serde_json::to_value(status) {
        Ok(status) => status_view(&status),
        Err(e) => html! { p.error { (e.to_string()) } },
    };
    layout::fragment(live::region("components", "/ui/fleet/components", content))
}

fn status_view(s: &serde_json::Value) -> Markup {
    let list = |key: &str| {
        s.get(key)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
    };
    // Agents have their cards; the registry table shows the other components.
    let mut registry = list("registry");
    registry.retain(|e| e["type"] != "agent");
    html! {
        p.summary {
            "Controller " (view::cell(&s["status"])) " · version " (view::cell(&s["version"]))
            " · up " (view::cell(&s["uptime"]))
        }
        @if let Some(components) = s.get("components").and_then(|c| c.as_object()) {
            div.components {
                @for (name, c) in components {
                    div.component { strong { (name) } " " (view::cell(&c["status"]))
                        @if let Some(e) = c.get("error").and_then(|e| e.as_str()) { " " small { (e) } } }
                }
            }
        }
        h3 { "Registry" } (view::table(&registry, &["type", "hostname", "status"]))
        h3 { "Streams" } (view::table(&list("streams"), &["name"]))
        h3 { "KV buckets" } (view::table(&list("kv_buckets"), &["name"]))
    }
}
