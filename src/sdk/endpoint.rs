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

/// Bodiless endpoints: `name(segment, ..) -> Answer = METHOD "path"`, each `{}` in the path
/// filled with the next argument, encoded as a path segment.
macro_rules! endpoints {
    ($($(#[$doc:meta])* $name:ident($($arg:ident),*) -> $answer:ty = $method:ident $path:literal;)*) => {$(
        $(#[$doc])*
        pub fn $name($($arg: &str),*) -> Endpoint<$answer> {
            Endpoint::new(Method::$method, format!($path $(, seg($arg))*), None)
        }
    )*};
}

endpoints! {
    /// `GET /health`.
    health_liveness() -> HealthResponse = GET "/health";
    /// `GET /health/ready`.
    health_ready() -> HealthResponse = GET "/health/ready";
    /// `GET /health/status`.
    health_status() -> StatusResponse = GET "/health/status";
    /// `GET /file/{name}`.
    file_get(name) -> FileInfo = GET "/file/{}";
    /// `GET /file`.
    file_list() -> FileList = GET "/file";
    /// `DELETE /file/{name}`.
    file_delete(name) -> Deleted = DELETE "/file/{}";
    /// `GET /file/stale`.
    file_stale() -> StaleList = GET "/file/stale";
    /// `GET /facts/keys`.
    facts_keys() -> FactKeys = GET "/facts/keys";
    /// `GET /agent`.
    agent_list() -> AgentList = GET "/agent";
    /// `GET /agent/{hostname}`.
    agent_get(hostname) -> AgentInfo = GET "/agent/{}";
    /// `POST /agent/{hostname}/drain`.
    agent_drain(hostname) -> DrainResponse = POST "/agent/{}/drain";
    /// `POST /agent/{hostname}/undrain`.
    agent_undrain(hostname) -> DrainResponse = POST "/agent/{}/undrain";
    /// `GET /job/{id}`.
    job_get(id) -> JobDetailResponse = GET "/job/{}";
    /// `DELETE /job/{id}` (204, no body).
    job_delete(id) -> IgnoredAny = DELETE "/job/{}";
    /// `GET /audit/{id}`.
    audit_get(id) -> AuditEntryResponse = GET "/audit/{}";
    /// `GET /audit/export`.
    audit_export() -> ListAuditResponse = GET "/audit/export";
}

/// `GET /job?limit=&offset=[&status=]`.
pub fn job_list(status: Option<&str>, limit: usize, offset: usize) -> Endpoint<ListJobsResponse> {
    let mut path = format!("/job?limit={limit}&offset={offset}");
    if let Some(s) = status {
        path.push_str(&format!("&status={}", seg(s)));
    }
    Endpoint::get(path)
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
