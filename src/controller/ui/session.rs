//! Sign-in with a token, kept in an HttpOnly, SameSite=Strict cookie; sign-out; and the
//! [`Session`] every other page extracts.
//!
//! Writes are CSRF-safe twice over: the browser sends a SameSite=Strict cookie only on
//! requests this site started, and each write must carry the session's CSRF token (in
//! the `X-CSRF-Token` header htmx adds from the page), which another site cannot read.
//! A request whose `Origin` names another host is refused as well.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{layout, Ui, UiError, UiState};
use crate::auth::{Permission, Principal};

/// The session cookie: the token itself (the controller keeps no session table).
const COOKIE: &str = "osapi_session";
/// The header htmx sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in caller.
pub struct Session {
    /// The bearer token the API calls carry.
    pub token: String,
    pub principal: Principal,
    /// What writes must echo in [`CSRF_HEADER`].
    pub csrf: String,
    /// The browser's address, for the audit log of the API calls made for it.
    pub peer: Option<SocketAddr>,
}

impl Session {
    /// Whether the token holds `permission` (what pages show follows from it).
    pub fn may(&self, permission: Permission) -> bool {
        self.principal.allows(permission)
    }

    /// 403 unless the token holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), UiError> {
        if self.may(permission) {
            return Ok(());
        }
        Err(UiError::Forbidden(format!(
            "this token lacks the {permission} permission"
        )))
    }

    /// Who is signed in, as the header shows it.
    pub fn who(&self) -> String {
        let p = &self.principal;
        let name = if p.subject.is_empty() {
            "token"
        } else {
            &p.subject
        };
        if p.roles.is_empty() {
            return name.to_owned();
        }
        format!("{name} ({})", p.roles.join(", "))
    }
}

impl FromRequestParts<Ui> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, UiError> {
        let token = cookie(&parts.headers, COOKIE).ok_or(UiError::SignIn)?;
        let principal = ui.app.auth.verify(token).map_err(|_| UiError::SignIn)?;
        let session = Session {
            csrf: csrf_token(token),
            token: token.to_owned(),
            principal,
            peer: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        };
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            same_origin(&parts.headers)?;
            let sent = parts.headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
            if !sent.is_some_and(|s| equal_in_constant_time(s, session.csrf.as_bytes())) {
                return Err(UiError::Forged("missing or wrong CSRF token".into()));
            }
        }
        Ok(session)
    }
}

/// The CSRF token of a session: derived from its (secret, HttpOnly) token, so the server
/// keeps no state and another site cannot compute it.
pub fn csrf_token(token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"osapi-ui-csrf\0")
        .chain_update(token.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a request another origin started (browsers send `Origin` on every POST).
fn same_origin(headers: &HeaderMap) -> Result<(), UiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    if origin_host.is_some() && origin_host == host {
        return Ok(());
    }
    Err(UiError::Forged(format!(
        "a request from origin {origin:?} is not accepted"
    )))
}

/// The value of cookie `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The session cookie; `Secure` when the API serves HTTPS, so a browser never sends the
/// token in clear.
fn session_cookie(token: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The sign-in page.
pub async fn login_page() -> Response {
    login_form(StatusCode::OK, None)
}

fn login_form(status: StatusCode, problem: Option<&str>) -> Response {
    let body = html! {
        main.signin {
            h1 { "osapi" }
            form method="post" action="/ui/login" {
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="off" required
                    placeholder="a JWT from osapi token generate";
                @if let Some(problem) = problem {
                    div.error role="alert" { (problem) }
                }
                button #sign-in type="submit" { "Sign in" }
            }
        }
    };
    (status, layout::bare("Sign in", body)).into_response()
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

/// Checks the token and keeps it in the session cookie.
pub async fn sign_in(State(ui): UiState, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    let token = form.token.trim();
    match ui.app.auth.verify(token) {
        Ok(_) if is_cookie_safe(token) => {
            let mut r = Redirect::to("/").into_response();
            let https = ui.app.config.controller.api.tls.enabled();
            if let Ok(v) = HeaderValue::from_str(&session_cookie(token, https)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(_) => login_form(StatusCode::BAD_REQUEST, Some("token: not a JWT")),
        Err(e) => login_form(StatusCode::UNAUTHORIZED, Some(&format!("token: {e}"))),
    }
}

/// A JWT is base64url segments and dots: nothing that could end the cookie early.
fn is_cookie_safe(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Forgets the session (the token itself stays valid until it expires).
pub async fn sign_out(_session: Session) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let headers = r.headers_mut();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("osapi_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    headers.insert("HX-Redirect", HeaderValue::from_static("/ui/login"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; osapi_session=t.k.n; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("t.k.n"));
        h.insert(header::COOKIE, HeaderValue::from_static("osapi_session="));
        assert_eq!(cookie(&h, COOKIE), None);
    }

    #[test]
    fn the_csrf_token_depends_on_the_session() {
        assert_eq!(csrf_token("a.b.c"), csrf_token("a.b.c"));
        assert_ne!(csrf_token("a.b.c"), csrf_token("a.b.d"));
        assert_eq!(csrf_token("a.b.c").len(), 32);
    }

    #[test]
    fn another_origin_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("ctl:8080"));
        assert!(
            same_origin(&h).is_ok(),
            "no Origin: a same-site form or a script"
        );
        h.insert(header::ORIGIN, HeaderValue::from_static("http://ctl:8080"));
        assert!(same_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(same_origin(&h).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h).is_err());
    }

    #[test]
    fn only_jwt_characters_go_into_the_cookie() {
        assert!(is_cookie_safe("eyJ.abc-_.x9"));
        assert!(!is_cookie_safe("a;b"));
        assert!(!is_cookie_safe("a b"));
    }
}
