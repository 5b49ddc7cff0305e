//! The audit log: entries newest first, one entry, and the whole log as a download.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::jobs::is_htmx;
use super::layout::{self, Nav};
use super::{view, Session, UiError, UiState};
use crate::audit::{AuditEntryResponse, ListAuditResponse};
use crate::auth::Permission;

const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    page: usize,
}

/// `/ui/audit`.
pub async fn page(
    session: Session,
    State(ui): UiState,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Response, UiError> {
    session.require(Permission::AuditRead)?;
    let path = format!("/audit?limit={PAGE_SIZE}&offset={}", q.page * PAGE_SIZE);
    let list: ListAuditResponse = ui.api.get(&session, &path).await?;
    let pages = list.total_items.div_ceil(PAGE_SIZE).max(1);
    let body = html! {
        p.summary { (list.total_items) " entries · " a #export href="/ui/audit/export" download { "Export (JSON)" } }
        div.scroll { table {
            thead { tr { th { "When" } th { "User" } th { "Call" } th { "Code" } th { "ms" } th { "From" } } }
            tbody {
                @for e in &list.items {
                    tr {
                        td { a href=(format!("/ui/audit/{}", e.id)) { (e.timestamp) } }
                        td { (e.user) }
                        td { code { (e.method) " " (e.path) } }
                        td { (e.response_code) }
                        td { (e.duration_ms) }
                        td { (e.source_ip) }
                    }
                }
            }
        } }
        @if pages > 1 {
            nav.pager {
                @if q.page > 0 { a href=(format!("/ui/audit?page={}", q.page - 1)) { "← Newer" } }
                span { "Page " (q.page + 1) " of " (pages) }
                @if q.page + 1 < pages { a href=(format!("/ui/audit?page={}", q.page + 1)) { "Older →" } }
            }
        }
    };
    if is_htmx(&headers) {
        return Ok(layout::fragment(body));
    }
    let ops = ui.forms.any_allowed(&session);
    Ok(layout::page(&session, ops, Nav::Audit, "Audit", body))
}

/// `/ui/audit/{id}`.
pub async fn detail(
    session: Session,
    State(ui): UiState,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    session.require(Permission::AuditRead)?;
    let path = format!("/audit/{}", view::path_segment(&id));
    let AuditEntryResponse { entry } = ui.api.get(&session, &path).await?;
    let value = serde_json::to_value(&entry).unwrap_or_default();
    let body = html! { (view::json_block(&value)) };
    let ops = ui.forms.any_allowed(&session);
    Ok(layout::page(&session, ops, Nav::Audit, "Audit entry", body))
}

/// `/ui/audit/export`: every entry, as a file.
pub async fn export(session: Session, State(ui): UiState) -> Result<Response, UiError> {
    session.require(Permission::AuditRead)?;
    let answer = ui
        .api
        .call(&session, axum::http::Method::GET, "/audit/export", None)
        .await;
    if !answer.status.is_success() {
        return Err(answer.error());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"osapi-audit.json\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        answer.body,
    )
        .into_response())
}
