//! Jobs: the list with a status filter and pages; a job's per-host results, agent states
//! and timeline (kept current until it finishes); retry and delete.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{live, view, Session, UiError, UiState};
use crate::auth::Permission;
use crate::wire::job::{CreateJobResponse, JobDetailResponse, ListJobsResponse, OverallStatus};

/// Jobs per page.
const PAGE_SIZE: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: usize,
}

/// Whether htmx asked (it wants the fragment, not the page).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// `/ui/jobs`.
pub async fn page(
    session: Session,
    State(ui): UiState,
    headers: HeaderMap,
    Query(q): Query<JobsQuery>,
) -> Result<Response, UiError> {
    session.require(Permission::JobRead)?;
    let path = format!(
        "/job?limit={PAGE_SIZE}&offset={}&status={}",
        q.page * PAGE_SIZE,
        view::query_value(&q.status)
    );
    let list: ListJobsResponse = ui.api.get(&session, &path).await?;
    let table = jobs_table(&list, &q);
    if is_htmx(&headers) {
        return Ok(layout::fragment(table));
    }
    let body = html! {
        form.filter hx-get="/ui/jobs" hx-target="#jobs" hx-swap="outerHTML" hx-trigger="change" {
            label for="status" { "Status " }
            select #status name="status" {
                option value="" { "any" }
                @for s in OverallStatus::ALL {
                    option value=(s.as_str()) selected[s.as_str() == q.status] { (s.as_str()) }
                }
            }
        }
        (table)
    };
    let ops = ui.forms.any_allowed(&session);
    Ok(layout::page(&session, ops, Nav::Jobs, "Jobs", body))
}

fn jobs_table(list: &ListJobsResponse, q: &JobsQuery) -> Markup {
    let pages = list.total_items.div_ceil(PAGE_SIZE).max(1);
    let link = |page: usize| {
        format!(
            "/ui/jobs?status={}&page={page}",
            view::query_value(&q.status)
        )
    };
    html! {
        div #jobs {
            p.summary { (list.total_items) " jobs"
                @if let Some(counts) = &list.status_counts {
                    @for (s, n) in counts { " · " (s) " " (n) }
                }
            }
            div.scroll { table {
                thead { tr { th { "Job" } th { "Operation" } th { "Target" } th { "Status" } th { "Created" } } }
                tbody {
                    @for job in &list.items {
                        tr {
                            td { a href=(format!("/ui/jobs/{}", job.id)) { code { (short(&job.id)) } } }
                            td { (job.operation.kind) }
                            td { code { (job.target) } }
                            td { (view::badge(job.status.as_str())) }
                            td { (view::age(&job.created)) }
                        }
                    }
                }
            } }
            @if pages > 1 {
                nav.pager {
                    @if q.page > 0 { a href=(link(q.page - 1)) { "← Newer" } }
                    span { "Page " (q.page + 1) " of " (pages) }
                    @if q.page + 1 < pages { a href=(link(q.page + 1)) { "Older →" } }
                }
            }
        }
    }
}

/// The first block of a UUID, enough to tell jobs apart on a page.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// `/ui/jobs/{id}`: the page, or (for htmx) the live region alone.
pub async fn detail(
    session: Session,
    State(ui): UiState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    session.require(Permission::JobRead)?;
    let job: JobDetailResponse = ui
        .api
        .get(&session, &format!("/job/{}", view::path_segment(&id)))
        .await?;
    let region = job_region(&job, &session);
    if is_htmx(&headers) {
        return Ok(layout::fragment(region));
    }
    let ops = ui.forms.any_allowed(&session);
    Ok(layout::page(&session, ops, Nav::Jobs, "Job", region))
}

fn finished(status: OverallStatus) -> bool {
    !matches!(status, OverallStatus::Submitted | OverallStatus::Processing)
}

/// The job; polled while it runs (each poll is an API read, audited like any other).
fn job_region(job: &JobDetailResponse, session: &Session) -> Markup {
    let content = job_view(job, session);
    if finished(job.status) {
        return html! { div #job { (content) } };
    }
    live::region("job", &format!("/ui/jobs/{}", job.id), content)
}

fn job_view(job: &JobDetailResponse, session: &Session) -> Markup {
    let responses: Vec<serde_json::Value> = job
        .responses
        .iter()
        .flatten()
        .filter_map(|(_, r)| serde_json::to_value(r).ok())
        .collect();
    let timeline: Vec<serde_json::Value> = job
        .timeline
        .iter()
        .flatten()
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect();
    html! {
        dl.job {
            dt { "Id" } dd { code { (job.id) } }
            dt { "Operation" } dd { (job.operation.kind) }
            dt { "Target" } dd { code { (job.target) } }
            dt { "Status" } dd { (view::badge(job.status.as_str())) }
            dt { "Created" } dd { (job.created) }
            @if let Some(u) = &job.updated_at { dt { "Updated" } dd { (u) } }
            @if let Some(e) = &job.error { dt { "Error" } dd.error { (e) } }
            @if let Some(r) = &job.retry_of {
                dt { "Retry of" } dd { a href=(format!("/ui/jobs/{r}")) { code { (r) } } }
            }
            @for r in &job.retried_as {
                dt { "Retried as" } dd { a href=(format!("/ui/jobs/{r}")) { code { (r) } } }
            }
        }
        @if session.may(Permission::JobWrite) {
            div.actions {
                button #retry hx-post=(format!("/ui/jobs/{}/retry", job.id)) hx-target="#job-action" { "Retry" }
                button #delete.danger hx-post=(format!("/ui/jobs/{}/delete", job.id)) hx-target="#job-action"
                    hx-confirm="Delete this job, its events and its responses?" { "Delete" }
                span #job-action {}
            }
        }
        h2 { "Request" } (view::json_block(&job.operation.data))
        h2 { "Per host" } (view::table(&responses, &["hostname", "status", "changed", "error"]))
        h2 { "Timeline" } (view::table(&timeline, &["timestamp", "event", "hostname", "message"]))
    }
}

/// `POST /ui/jobs/{id}/retry`: a new job; the browser goes to it.
pub async fn retry(
    session: Session,
    State(ui): UiState,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let path = format!("/job/{}/retry", view::path_segment(&id));
    let created: CreateJobResponse = ui
        .api
        .call(&session, Method::POST, &path, Some(&serde_json::json!({})))
        .await
        .decode()?;
    Ok(go_to(&format!("/ui/jobs/{}", created.job_id)))
}

/// `POST /ui/jobs/{id}/delete`: gone; the browser goes back to the list.
pub async fn delete(
    session: Session,
    State(ui): UiState,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let path = format!("/job/{}", view::path_segment(&id));
    let answer = ui.api.call(&session, Method::DELETE, &path, None).await;
    if !answer.status.is_success() {
        return Err(answer.error());
    }
    Ok(go_to("/ui/jobs"))
}

/// Sends htmx to another page.
fn go_to(url: &str) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(url) {
        r.headers_mut().insert("HX-Redirect", v);
    }
    r
}
