//! What a dashboard request can fail with, answered as a fragment htmx shows in place (or
//! a redirect to the sign-in page).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};

use crate::controller::error::ApiError;

/// A dashboard request failed.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No valid session: sign in first.
    #[error("sign in first")]
    SignIn,
    /// A write without this session's CSRF token, or from another origin.
    #[error("{0}")]
    Forged(String),
    /// The token lacks the permission the page needs.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A form field the dashboard could not turn into the request.
    #[error("{field}: {message}")]
    BadField { field: String, message: String },
    /// The API answered with an error: its status and message, passed on.
    #[error("{message}")]
    Api { status: StatusCode, message: String },
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::UNAUTHORIZED,
            Self::Forged(_) | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadField { .. } => StatusCode::BAD_REQUEST,
            Self::Api { status, .. } => *status,
        }
    }
}

impl UiError {
    /// The error as a fragment to show in place.
    pub fn markup(&self) -> Markup {
        let status = self.status();
        html! {
            div.error role="alert" data-status=(status.as_u16()) {
                strong { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                ": " (self.to_string())
            }
        }
    }
}

impl From<ApiError> for UiError {
    /// The API's own message: its `Display` keeps NATS causes and internals out.
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        Self::Api {
            status: e.into_response().status(),
            message,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if let Self::SignIn = self {
            // htmx follows HX-Redirect; a page load follows the Location.
            let mut r = Redirect::to("/ui/login").into_response();
            r.headers_mut()
                .insert("HX-Redirect", header::HeaderValue::from_static("/ui/login"));
            return r;
        }
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.markup().into_string(),
        )
            .into_response()
    }
}
