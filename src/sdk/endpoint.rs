//! The REST endpoints outside the catalogue (jobs, agents, audit, files, health), each
//! declared once as an [`Endpoint`]: its method, path and body, typed by its 2xx answer.
//! The typed calls ([`Client::fetch`]) and the raw ones the CLI prints for `-j`
//! ([`Client::fetch_raw`]) send the same declaration.

use std::marker::PhantomData;

use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{json, Value};

use super::types::*;
use super::{check, encode_segment, Client, RawResponse, SdkError};

/// One call: method, path (segments encoded) and JSON body; `T` is its 2xx answer.
#[derive(Debug, Clone)]
pub struct Endpoint<T> {
    /// HTTP method.
    pub method: Method,
    /// Path and query, from the API root.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Value>,
    answer: PhantomData<fn() -> T>,
}

impl<T> Endpoint<T> {
    fn new(method: Method, path: String, body: Option<Value>) -> Self {
        Self {
            method,
            path,
            body,
            answer: PhantomData,
        }
    }

    fn get(path: String) -> Self {
        Self::new(Method::GET, path, None)
    }
}

impl<T: DeserializeOwned> Endpoint<T> {
    /// The answer of a 2xx; any other status is its [`SdkError`].
    pub fn decode(&self, resp: RawResponse) -> Result<T, SdkError> {
        check(resp)?.json()
    }

    /// The body as `T` whatever the status (the health probes answer 503 with a body).
    pub fn parse(&self, resp: &RawResponse) -> Result<T, SdkError> {
        resp.json()
    }
}

impl Client {
    /// Sends `endpoint` and decodes its 2xx answer.
    pub async fn fetch<T: DeserializeOwned>(&self, endpoint: &Endpoint<T>) -> Result<T, SdkError> {
        endpoint.decode(self.fetch_raw(endpoint).await?)
    }

    /// Sends `endpoint`; any HTTP status is returned, undecoded.
    pub async fn fetch_raw<T>(&self, endpoint: &Endpoint<T>) -> Result<RawResponse, SdkError> {
        let method = endpoint.method.clone();
        self.send(method, &endpoint.path, endpoint.body.as_ref())
            .await
    }
}

fn seg(s: &str) -> String {
    encode_segment(s)
}

/// `GET /health`.
pub fn health_liveness() -> Endpoint<HealthResponse> {
    Endpoint::get("/health".into())
}

/// `GET /health/ready`.
pub fn health_ready() -> Endpoint<HealthResponse> {
    Endpoint::get("/health/ready".into())
}

/// `GET /health/status`.
pub fn health_status() -> Endpoint<StatusResponse> {
    Endpoint::get("/health/status".into())
}

/// `GET /file/{name}`.
pub fn file_get(name: &str) -> Endpoint<FileInfo> {
    Endpoint::get(format!("/file/{}", seg(name)))
}

/// `GET /file`.
pub fn file_list() -> Endpoint<FileList> {
    Endpoint::get("/file".into())
}

/// `DELETE /file/{name}`.
pub fn file_delete(name: &str) -> Endpoint<Deleted> {
    Endpoint::new(Method::DELETE, format!("/file/{}", seg(name)), None)
}

/// `GET /file/stale`.
pub fn file_stale() -> Endpoint<StaleList> {
    Endpoint::get("/file/stale".into())
}

/// `GET /agent`.
pub fn agent_list() -> Endpoint<AgentList> {
    Endpoint::get("/agent".into())
}

/// `GET /agent/{hostname}`.
pub fn agent_get(hostname: &str) -> Endpoint<AgentInfo> {
    Endpoint::get(format!("/agent/{}", seg(hostname)))
}

/// `POST /agent/{hostname}/drain`.
pub fn agent_drain(hostname: &str) -> Endpoint<DrainResponse> {
    Endpoint::new(
        Method::POST,
        format!("/agent/{}/drain", seg(hostname)),
        None,
    )
}

/// `POST /agent/{hostname}/undrain`.
pub fn agent_undrain(hostname: &str) -> Endpoint<DrainResponse> {
    let path = format!("/agent/{}/undrain", seg(hostname));
    Endpoint::new(Method::POST, path, None)
}

/// `GET /job/{id}`.
pub fn job_get(id: &str) -> Endpoint<JobDetailResponse> {
    Endpoint::get(format!("/job/{}", seg(id)))
}

/// `GET /job?limit=&offset=[&status=]`.
pub fn job_list(status: Option<&str>, limit: usize, offset: usize) -> Endpoint<ListJobsResponse> {
    let mut path = format!("/job?limit={limit}&offset={offset}");
    if let Some(s) = status {
        path.push_str(&format!("&status={}", seg(s)));
    }
    Endpoint::get(path)
}

/// `DELETE /job/{id}` (204, no body).
pub fn job_delete(id: &str) -> Endpoint<IgnoredAny> {
    Endpoint::new(Method::DELETE, format!("/job/{}", seg(id)), None)
}

/// `POST /job/{id}/retry`, on `target` (the server's default `_any` when `None`).
pub fn job_retry(id: &str, target: Option<&str>) -> Endpoint<CreateJobResponse> {
    let body = match target {
        Some(t) => json!({ "target_hostname": t }),
        None => json!({}),
    };
    let path = format!("/job/{}/retry", seg(id));
    Endpoint::new(Method::POST, path, Some(body))
}

/// `GET /audit?limit=&offset=`.
pub fn audit_list(limit: usize, offset: usize) -> Endpoint<ListAuditResponse> {
    Endpoint::get(format!("/audit?limit={limit}&offset={offset}"))
}

/// `GET /audit/{id}`.
pub fn audit_get(id: &str) -> Endpoint<AuditEntryResponse> {
    Endpoint::get(format!("/audit/{}", seg(id)))
}

/// `GET /audit/export`.
pub fn audit_export() -> Endpoint<ListAuditResponse> {
    Endpoint::get("/audit/export".into())
}
