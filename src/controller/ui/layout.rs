//! The page chrome: document head, navigation by permission, sign-out, and the headers
//! every page is sent with.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::Session;
use crate::auth::Permission;

/// Scripts, styles and calls from this origin only; no inline script, no eval.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                      form-action 'self'; frame-ancestors 'none'";

/// htmx settings: no inline indicator styles and no eval (the policy forbids both), and
/// error answers swapped in like any other (they are fragments saying what went wrong).
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"responseHandling":[{"code":"204","swap":false},{"code":"[2345]..","swap":true}]}"#;

/// The page a navigation entry leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Fleet,
    Operations,
    Jobs,
    Audit,
}

impl Nav {
    fn entries(session: &Session, may_run_ops: bool) -> Vec<(Nav, &'static str, &'static str)> {
        let mut entries = vec![(Nav::Fleet, "/", "Fleet")];
        if may_run_ops {
            entries.push((Nav::Operations, "/ui/ops", "Operations"));
        }
        if session.may(Permission::JobRead) {
            entries.push((Nav::Jobs, "/ui/jobs", "Jobs"));
        }
        if session.may(Permission::AuditRead) {
            entries.push((Nav::Audit, "/ui/audit", "Audit"));
        }
        entries
    }
}

/// A signed-in page. `may_run_ops`: whether the token may run any catalogue operation.
pub fn page(
    session: &Session,
    may_run_ops: bool,
    current: Nav,
    title: &str,
    body: Markup,
) -> Response {
    let csrf = serde_json::json!({ "X-CSRF-Token": session.csrf }).to_string();
    let content = html! {
        header.top {
            a.brand href="/" { "osapi" }
            nav {
                @for (nav, href, label) in Nav::entries(session, may_run_ops) {
                    a href=(href) aria-current=[(nav == current).then_some("page")] { (label) }
                }
            }
            span.who { (session.who()) }
            button #sign-out.link hx-post="/ui/logout" { "Sign out" }
        }
        main { h1 { (title) } (body) }
    };
    respond(document(title, Some(&csrf), content))
}

/// A page without the chrome (sign-in).
pub fn bare(title: &str, body: Markup) -> Response {
    respond(document(title, None, body))
}

/// A fragment for htmx, with the same headers as a page.
pub fn fragment(body: Markup) -> Response {
    respond(body)
}

fn document(title: &str, csrf_headers: Option<&str>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · osapi" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/ui/assets/ui.css";
                script src="/ui/assets/htmx.min.js" defer {}
            }
            body hx-headers=[csrf_headers] { (content) }
        }
    }
}

fn respond(markup: Markup) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Not `no-referrer`: with it, a form post says `Origin: null`, which is refused.
            (header::REFERRER_POLICY, "same-origin"),
        ],
        markup.into_string(),
    )
        .into_response()
}
