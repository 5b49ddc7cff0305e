//! The operations page: a target (with the agents it reaches), any catalogue operation
//! the token may run, its generated form, and the per-host results. A change sent to
//! every agent (`_all`) is confirmed first.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::forms::OpForm;
use super::layout::{self, Nav};
use super::{view, Session, Ui, UiError, UiState};
use crate::auth::Permission;
use crate::job::Target;
use crate::registry::AgentRegistration;

/// How many names the target hint and its suggestions list.
const NAMES_SHOWN: usize = 50;

/// `/ui/ops`.
pub async fn page(session: Session, State(ui): UiState) -> Response {
    let allowed: Vec<&OpForm> = ui.forms.allowed(&session).collect();
    let body = match allowed.first() {
        None => html! { p.muted { "This token may run no operation." } },
        Some(first) => {
            let agents = known_agents(&ui, &session).await;
            operation_form(&allowed, first, &agents)
        }
    };
    layout::page(
        &session,
        !allowed.is_empty(),
        Nav::Operations,
        "Operations",
        body,
    )
}

fn operation_form(allowed: &[&OpForm], first: &OpForm, agents: &[AgentRegistration]) -> Markup {
    let mut by_tag: BTreeMap<&str, Vec<&OpForm>> = BTreeMap::new();
    for op in allowed {
        by_tag.entry(op.tag.as_str()).or_default().push(op);
    }
    let labels: BTreeSet<String> = agents
        .iter()
        .flat_map(|a| a.labels.iter().map(|(k, v)| format!("{k}:{v}")))
        .collect();
    html! {
        form #op hx-post="/ui/ops/run" hx-target="#op-results" hx-swap="innerHTML" {
            div.field {
                label for="target" { "Target" small { " _all, _any, a hostname, or a label key:value" } }
                input #target name="target" value="_all" list="targets" autocomplete="off" required
                    hx-get="/ui/ops/targets" hx-trigger="load, input changed delay:300ms"
                    hx-target="#matching" hx-swap="innerHTML";
                datalist #targets {
                    option value="_all"; option value="_any";
                    @for a in agents.iter().take(NAMES_SHOWN) { option value=(a.hostname); }
                    @for l in labels.iter().take(NAMES_SHOWN) { option value=(l); }
                }
                div #matching.muted {}
            }
            div.field {
                label for="op-name" { "Operation" }
                select #op-name name="op" hx-get="/ui/ops/form" hx-trigger="change"
                    hx-target="#op-fields" hx-swap="innerHTML" {
                    @for (tag, ops) in &by_tag {
                        optgroup label=(tag) {
                            @for op in ops {
                                option value=(op.name) selected[op.name == first.name] {
                                    (op.name) " — " (op.summary)
                                }
                            }
                        }
                    }
                }
            }
            div #op-fields { (fields(first)) }
            button #run type="submit" { "Run" }
            span.htmx-indicator { " running…" }
        }
        section #op-results aria-live="polite" {}
    }
}

/// The fields of one operation's form, with what it is.
fn fields(op: &OpForm) -> Markup {
    html! {
        p.muted {
            code { (op.method.as_str()) " /api" (op.path) } " · needs " code { (op.permission.as_str()) }
            @if op.changes() { " · " strong { "changes hosts" } }
        }
        @for field in &op.fields { (field.input()) }
    }
}

#[derive(Deserialize)]
pub struct OpQuery {
    #[serde(default)]
    op: String,
}

/// `/ui/ops/form?op=<name>`: that operation's fields.
pub async fn form(
    session: Session,
    State(ui): UiState,
    Query(q): Query<OpQuery>,
) -> Result<Response, UiError> {
    let op = find(&ui, &q.op)?;
    session.require(op.permission)?;
    Ok(layout::fragment(fields(op)))
}

fn find<'a>(ui: &'a Ui, name: &str) -> Result<&'a OpForm, UiError> {
    ui.forms
        .get(name)
        .ok_or_else(|| UiError::NotFound(format!("no operation {name:?}")))
}

/// The registered agents, when the token may list them (else none: the hints stay empty).
async fn known_agents(ui: &Ui, session: &Session) -> Vec<AgentRegistration> {
    if !session.may(Permission::AgentRead) {
        return Vec::new();
    }
    let Ok(backend) = ui.app.backend() else {
        return Vec::new();
    };
    let mut agents = backend.agents(false).await.unwrap_or_default();
    agents.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    agents
}

#[derive(Deserialize)]
pub struct TargetQuery {
    #[serde(default)]
    target: String,
}

/// `/ui/ops/targets?target=...`: the agents a target reaches.
pub async fn targets(
    session: Session,
    State(ui): UiState,
    Query(q): Query<TargetQuery>,
) -> Response {
    let target = match Target::parse(q.target.trim()) {
        Ok(t) => t,
        Err(e) => return layout::fragment(html! { span.error { (e.to_string()) } }),
    };
    let agents = known_agents(&ui, &session).await;
    let ready: Vec<&str> = agents
        .iter()
        .filter(|a| a.state == crate::registry::AgentState::Ready)
        .filter(|a| matches!(target, Target::Any) || target.matches(&a.hostname, &a.labels))
        .map(|a| a.hostname.as_str())
        .collect();
    let names = ready
        .iter()
        .take(NAMES_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = ready.len().saturating_sub(NAMES_SHOWN);
    layout::fragment(html! {
        @if matches!(target, Target::Any) {
            "any one of " (ready.len()) " ready agents"
        } @else {
            span #matching-count data-count=(ready.len()) { (ready.len()) " ready agents" }
            @if !names.is_empty() { ": " (names) }
            @if more > 0 { " and " (more) " more" }
        }
    })
}

/// `POST /ui/ops/run`: the form sent through the API; the per-host results.
pub async fn run(
    session: Session,
    State(ui): UiState,
    Form(values): Form<BTreeMap<String, String>>,
) -> Result<Response, UiError> {
    let name = values.get("op").map(String::as_str).unwrap_or_default();
    let op = find(&ui, name)?;
    let target = values.get("target").map(|t| t.trim()).unwrap_or_default();
    if target.is_empty() {
        return Err(UiError::BadField {
            field: "target".into(),
            message: "required".into(),
        });
    }
    let confirmed = values.get("confirm").is_some_and(|c| c == "yes");
    // Without the permission there is nothing to confirm: the API answers 403.
    if op.changes() && target == "_all" && !confirmed && session.may(op.permission) {
        return Ok(confirmation(op));
    }
    let request = op.request(target, &values)?;
    let method = axum::http::Method::from_bytes(op.method.as_str().as_bytes())
        .unwrap_or(axum::http::Method::GET);
    let answer = ui
        .api
        .call(&session, method, &request.path, request.body.as_ref())
        .await;
    let status = answer.status;
    let json: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
    let results = json
        .as_ref()
        .and_then(|j| j.get("results"))
        .and_then(|r| r.as_array());
    let Some(results) = results else {
        return Err(answer.error());
    };
    let job = json
        .as_ref()
        .and_then(|j| j["job_id"].as_str())
        .unwrap_or_default();
    let body = html! {
        p.summary {
            (op.name) " on " code { (target) } ": " (results.len()) " hosts answered · "
            a href=(format!("/ui/jobs/{job}")) { "job " (job) }
        }
        (view::table(results, &["hostname", "status", "changed", "error"]))
    };
    Ok((status, layout::fragment(body)).into_response())
}

/// Asks before a change goes to every agent: the same form again, confirmed.
fn confirmation(op: &OpForm) -> Response {
    let body = html! {
        div.confirm role="alertdialog" {
            p { strong { (op.name) } " changes hosts, and the target " code { "_all" } " is every agent." }
            button #confirm hx-post="/ui/ops/run" hx-include="#op" hx-vals=r#"{"confirm":"yes"}"#
                hx-target="#op-results" hx-swap="innerHTML" { "Run on every agent" }
        }
    };
    (StatusCode::OK, layout::fragment(body)).into_response()
}
