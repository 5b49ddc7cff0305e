//! The API's error type: one enum, one JSON shape, internal causes logged and not leaked.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::audit::AuditReadError;
use crate::job::store::StoreError;
use crate::job::JobError;
use crate::nats::kv_scan::ScanError;
use crate::nats::BoxError;
use crate::registry::RegistryError;

/// The common error body: `{"error": "...", "field"?: "...", "job_id"?: "..."}`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: String,
    /// The request field at fault, for validation errors.
    pub field: Option<String>,
    /// The job concerned, when one was created.
    pub job_id: Option<String>,
    /// HTTP status code.
    pub code: u16,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { field: String, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Not ready to serve it, for a reason the client may read.
    #[error("{0}")]
    Unavailable(String),
    /// A NATS call failed: the cause is logged, never sent (it names servers and buckets).
    #[error("NATS is unavailable; retry shortly")]
    Nats(#[source] BoxError),
    /// A limit of the server was hit (too many requests at once, one too slow); the
    /// client should retry after a second. The text names the limit's config key.
    #[error("{0}; retry shortly")]
    Busy(String),
    #[error("{message}")]
    Timeout { job_id: String, message: String },
    /// The request body is too large for what it asks (413, naming the field).
    #[error("{message}")]
    TooLarge { field: String, message: String },
    /// A body that is not JSON where JSON is expected (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A validation error naming the field.
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// A failed NATS call under a request.
    pub fn nats(e: impl Into<BoxError>) -> Self {
        Self::Nats(e.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) | Self::Nats(_) | Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::wire::FieldError> for ApiError {
    fn from(e: crate::wire::FieldError) -> Self {
        Self::BadRequest {
            field: e.field,
            message: e.message,
        }
    }
}

/// The NATS-backed stores: every failure is a NATS one.
macro_rules! from_nats_failure {
    ($($error:ty),*) => {$(
        impl From<$error> for ApiError {
            fn from(e: $error) -> Self {
                Self::Nats(Box::new(e))
            }
        }
    )*};
}

from_nats_failure!(StoreError, RegistryError, ScanError, AuditReadError);

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Unavailable(source) => Self::Nats(source),
            JobError::Timeout { ref job_id, .. } => Self::Timeout {
                job_id: job_id.clone(),
                message: e.to_string(),
            },
            JobError::TooLarge { .. } => Self::TooLarge {
                field: "body".into(),
                message: e.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            Self::Nats(cause) => tracing::warn!(%cause, "request failed: NATS"),
            _ => {}
        }
        let (field, job_id) = match &self {
            Self::BadRequest { field, .. } | Self::TooLarge { field, .. } => {
                (Some(field.clone()), None)
            }
            Self::Timeout { job_id, .. } => (None, Some(job_id.clone())),
            _ => (None, None),
        };
        let busy = matches!(self, Self::Busy(_));
        let body = ErrorResponse {
            error: self.to_string(),
            field,
            job_id,
            code: status.as_u16(),
        };
        let mut response = (status, Json(body)).into_response();
        if busy {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_nats_failure_is_503_without_its_cause() {
        let cause = "no responders: $KV.osapi-jobs.jobs.x on nats://10.0.0.5:4222";
        let response = ApiError::nats(cause).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("NATS is unavailable"), "{text}");
        assert!(
            !text.contains("responders") && !text.contains("10.0.0.5"),
            "{text}"
        );
    }
}
