//! The API, called in-process with the session's token: the dashboard's actions pass the
//! same permission guards, validation and audit as any other client's.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use super::{Session, UiError};

/// The largest answer the dashboard reads (an audit export, a big listing).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// The API routes with their state.
#[derive(Clone)]
pub struct Api(Router);

/// What the API answered.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as `T` on success; the API's error (status and message) otherwise.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, UiError> {
        if !self.status.is_success() {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body).map_err(|e| UiError::Api {
            status: StatusCode::BAD_GATEWAY,
            message: format!("unexpected answer from the API: {e}"),
        })
    }

    /// The API's error answer as a [`UiError`] with its status and message.
    pub fn error(&self) -> UiError {
        let message = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                let error = v.get("error")?.as_str()?.to_owned();
                Some(match v.get("field").and_then(|f| f.as_str()) {
                    Some(field) => format!("{field}: {error}"),
                    None => error,
                })
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        UiError::Api {
            status: self.status,
            message,
        }
    }
}

impl Api {
    pub fn new(routes: Router) -> Self {
        Self(routes)
    }

    /// Sends `method path` (path and query, as under `/api`) with an optional JSON body.
    pub async fn call(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Answer {
        match self.send(session, method, path, body).await {
            Ok(answer) => answer,
            Err(message) => Answer {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: serde_json::json!({ "error": message }).to_string().into(),
            },
        }
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(
        &self,
        session: &Session,
        path: &str,
    ) -> Result<T, UiError> {
        self.call(session, Method::GET, path, None).await.decode()
    }

    async fn send(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", session.token));
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let mut request = request.body(body).map_err(|e| e.to_string())?;
        if let Some(peer) = session.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = match self.0.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = to_bytes(response.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Answer { status, body })
    }
}
