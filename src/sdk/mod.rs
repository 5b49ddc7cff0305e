//! HTTP client for the osapi REST API.
//!
//! Two layers on one [`Client`]:
//! - raw calls (`get_raw`, `send`, [`Client::run_raw`], [`Client::fetch_raw`], ...)
//!   returning a [`RawResponse`] with any status, used by the CLI for `-j`;
//! - typed calls (`get_hostname`, `exec`, `file_upload_bytes`, ...) returning the
//!   controller's own wire types (re-exported from [`types`]), where any non-2xx answer is
//!   an [`SdkError`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), osapi::sdk::SdkError> {
//! use osapi::sdk::{Client, CommandExecRequest, HostEntry};
//! let client = Client::new("http://localhost:8080", "<jwt>")?;
//! let answer = client
//!     .exec("_all", &CommandExecRequest { command: "uptime".into(), ..Default::default() })
//!     .await?;
//! for host in &answer.results {
//!     println!("{}: {:?}", host.hostname(), host.error());
//! }
//! # Ok(())
//! # }
//! ```

pub mod endpoint;
pub mod events;
mod typed;
pub mod types;

use std::time::Duration;

use reqwest::StatusCode;

pub use types::*;

/// A call to the API failed.
///
/// Non-2xx answers map to one variant per kind of failure; the message is the body's
/// `error` field, else the trimmed body.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The controller could not be reached, or the connection broke.
    #[error("cannot reach the osapi API at {url}: {reason} (is the controller running? set --url or controller.client.url)")]
    Transport { url: String, reason: String },
    /// 400: the request was invalid.
    #[error("api error (status {status}): {message}")]
    Validation { status: u16, message: String },
    /// 401 or 403: missing, bad or insufficient credentials.
    #[error("api error (status {status}): {message}")]
    Auth { status: u16, message: String },
    /// 404: no such object, agent, job or host.
    #[error("api error (status {status}): {message}")]
    NotFound { status: u16, message: String },
    /// 409: the request conflicts with the current state.
    #[error("api error (status {status}): {message}")]
    Conflict { status: u16, message: String },
    /// 5xx: the controller, NATS or the agents failed (a 502 is a failed unicast job).
    #[error("api error (status {status}): {message}")]
    Server { status: u16, message: String },
    /// Any other non-2xx status.
    #[error("api error (status {status}): {message}")]
    UnexpectedStatus { status: u16, message: String },
    /// The answer (or a local input) could not be decoded.
    #[error("unexpected answer from the API: {0}")]
    Decode(String),
    /// The CA certificates given to trust are not usable.
    #[error("cannot trust the CA certificates: {0}")]
    Certificate(String),
}

impl SdkError {
    /// The error for a non-2xx answer with `body`.
    pub fn from_response(status: u16, body: &str) -> Self {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| body.trim().to_owned());
        match status {
            400 => Self::Validation { status, message },
            401 | 403 => Self::Auth { status, message },
            404 => Self::NotFound { status, message },
            409 => Self::Conflict { status, message },
            500..=599 => Self::Server { status, message },
            _ => Self::UnexpectedStatus { status, message },
        }
    }

    /// The HTTP status of an API error; `None` for transport and decode errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Validation { status, .. }
            | Self::Auth { status, .. }
            | Self::NotFound { status, .. }
            | Self::Conflict { status, .. }
            | Self::Server { status, .. }
            | Self::UnexpectedStatus { status, .. } => Some(*status),
            Self::Transport { .. } | Self::Decode(_) | Self::Certificate(_) => None,
        }
    }

    /// The API's message of an API error; `None` for transport and decode errors.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Validation { message, .. }
            | Self::Auth { message, .. }
            | Self::NotFound { message, .. }
            | Self::Conflict { message, .. }
            | Self::Server { message, .. }
            | Self::UnexpectedStatus { message, .. } => Some(message),
            Self::Transport { .. } | Self::Decode(_) | Self::Certificate(_) => None,
        }
    }
}

/// A raw API answer: status and body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// The body as text.
    pub body: String,
}

impl RawResponse {
    /// Decodes the body.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SdkError> {
        serde_json::from_str(&self.body).map_err(|e| SdkError::Decode(e.to_string()))
    }
}

/// Client for one controller.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// `base_url` like `http://localhost:8080`; `token` a JWT. An `https://` controller's
    /// certificate must chain to a built-in root.
    pub fn new(base_url: &str, token: &str) -> Result<Self, SdkError> {
        Self::build(base_url, token, Vec::new())
    }

    /// [`Client::new`] for an `https://` controller whose certificate chains to one of the
    /// CA certificates in `ca_pem` (PEM, one or more), such as a private CA's.
    pub fn with_ca_pem(base_url: &str, token: &str, ca_pem: &[u8]) -> Result<Self, SdkError> {
        let roots = reqwest::Certificate::from_pem_bundle(ca_pem)
            .map_err(|e| SdkError::Certificate(e.to_string()))?;
        if roots.is_empty() {
            return Err(SdkError::Certificate("no PEM certificate found".into()));
        }
        Self::build(base_url, token, roots)
    }

    fn build(
        base_url: &str,
        token: &str,
        roots: Vec<reqwest::Certificate>,
    ) -> Result<Self, SdkError> {
        let builder = roots
            .into_iter()
            .fold(reqwest::Client::builder(), |b, root| {
                b.add_root_certificate(root)
            });
        let http = builder
            .timeout(Duration::from_secs(330))
            .build()
            .map_err(|e| SdkError::Transport {
                url: base_url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    /// GET `path`; any HTTP status is returned, transport failures are errors.
    pub async fn get_raw(&self, path: &str) -> Result<RawResponse, SdkError> {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// A request with an optional JSON body; any HTTP status is returned.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RawResponse, SdkError> {
        self.send_json(method, path, body).await
    }

    /// Like [`Self::send`], with any serialisable body.
    async fn send_json<B: serde::Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<RawResponse, SdkError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| SdkError::Transport {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| SdkError::Transport {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        Ok(RawResponse { status, body })
    }
}

impl Client {
    /// `POST /file`: streams `path` as a multipart upload.
    pub async fn upload_file(
        &self,
        name: &str,
        content_type: &str,
        path: &std::path::Path,
        force: bool,
    ) -> Result<RawResponse, SdkError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| SdkError::Decode(format!("cannot open {}: {e}", path.display())))?;
        let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        let stream = tokio_util::io::ReaderStream::new(file);
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                .file_name(name.to_owned());
        self.post_multipart(name, content_type, part, &format!("?force={force}"))
            .await
    }

    /// `POST /file{query}` with the parts `name`, `content_type` and `file`.
    async fn post_multipart(
        &self,
        name: &str,
        content_type: &str,
        part: reqwest::multipart::Part,
        query: &str,
    ) -> Result<RawResponse, SdkError> {
        let transport = |e: &dyn std::fmt::Display| SdkError::Transport {
            url: self.base.clone(),
            reason: e.to_string(),
        };
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_owned())
            .text("content_type", content_type.to_owned())
            .part("file", part);
        let url = format!("{}/file{query}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| transport(&e))?;
        Ok(RawResponse { status, body })
    }
}

/// SHA-256 (hex) of a local file, streamed.
pub async fn file_sha256(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(format!("{:x}", hash.finalize()))
}

/// SHA-256 (hex) of bytes in memory.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// Percent-encodes a path segment (targets may hold `:`; anything odd is escaped).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Turns a non-2xx answer into the [`SdkError`] for its status, carrying the API's message.
pub fn check(resp: RawResponse) -> Result<RawResponse, SdkError> {
    if resp.status.is_success() {
        return Ok(resp);
    }
    Err(SdkError::from_response(resp.status.as_u16(), &resp.body))
}

#[cfg(test)]
mod tests;
