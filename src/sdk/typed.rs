//! Typed calls: one method per API operation, returning the controller's wire types.
//! Any non-2xx answer is an [`SdkError`] (a 502 for a failed unicast job included).

use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::*;
use super::{check, encode_segment, sha256_hex, Client, SdkError};

/// `/node/{target}{suffix}` with the target encoded.
fn node_path(target: &str, suffix: &str) -> String {
    format!("/node/{}{suffix}", encode_segment(target))
}

/// The server never sends a payload with a host error; a payload whose fields are all
/// optional would still decode from an error item, so it is dropped there.
fn without_error_payloads<T>(mut c: Collection<HostResult<T>>) -> Collection<HostResult<T>> {
    for item in &mut c.results {
        if item.error.is_some() {
            item.data = None;
        }
    }
    c
}

impl Client {
    /// Sends a request and decodes a 2xx body as `T`.
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, SdkError> {
        check(self.send_json(method, path, body).await?)?.json()
    }

    /// `GET path`, decoded.
    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, SdkError> {
        self.call::<T, ()>(Method::GET, path, None).await
    }

    /// A node operation answering one [`HostResult`] per host.
    async fn node_call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        target: &str,
        suffix: &str,
        body: Option<&B>,
    ) -> Result<Collection<HostResult<T>>, SdkError> {
        let path = node_path(target, suffix);
        let answer = self.call(method, &path, body).await?;
        Ok(without_error_payloads(answer))
    }

    // ---- health -------------------------------------------------------------------

    /// `GET /health`: the controller process is up.
    pub async fn health_liveness(&self) -> Result<HealthResponse, SdkError> {
        self.get_json("/health").await
    }

    /// `GET /health/ready`: NATS connected and the job bucket answers (503 is an error).
    pub async fn health_ready(&self) -> Result<HealthResponse, SdkError> {
        self.get_json("/health/ready").await
    }

    /// `GET /health/status`: components, agents, jobs and streams (503 is an error).
    pub async fn health_status(&self) -> Result<StatusResponse, SdkError> {
        self.get_json("/health/status").await
    }

    // ---- node ---------------------------------------------------------------------

    /// `GET /node/{target}/hostname`.
    pub async fn get_hostname(
        &self,
        target: &str,
    ) -> Result<Collection<HostnameResponse>, SdkError> {
        self.get_json(&node_path(target, "/hostname")).await
    }

    /// `GET /node/{target}`: uptime, load, memory, disks and OS at once.
    pub async fn get_node_status(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<NodeStatusPayload>>, SdkError> {
        self.node_call::<_, ()>(Method::GET, target, "", None).await
    }

    /// `GET /node/{target}/uptime`.
    pub async fn get_uptime(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<UptimePayload>>, SdkError> {
        self.node_call::<_, ()>(Method::GET, target, "/uptime", None)
            .await
    }

    /// `GET /node/{target}/disk`.
    pub async fn get_disk(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<DiskPayload>>, SdkError> {
        self.node_call::<_, ()>(Method::GET, target, "/disk", None)
            .await
    }

    /// `GET /node/{target}/memory`.
    pub async fn get_memory(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<MemoryPayload>>, SdkError> {
        self.node_call::<_, ()>(Method::GET, target, "/memory", None)
            .await
    }

    /// `GET /node/{target}/load`.
    pub async fn get_load(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<LoadPayload>>, SdkError> {
        self.node_call::<_, ()>(Method::GET, target, "/load", None)
            .await
    }

    /// `GET /node/{target}/os`.
    pub async fn get_os(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<OsPayload>>, SdkError> {
        self.node_call::<_, ()>(Method::GET, target, "/os", None)
            .await
    }

    // ---- network ------------------------------------------------------------------

    /// `GET /node/{target}/network/dns/{interface}`.
    pub async fn get_dns(
        &self,
        target: &str,
        interface: &str,
    ) -> Result<Collection<HostResult<DnsPayload>>, SdkError> {
        let suffix = format!("/network/dns/{}", encode_segment(interface));
        self.node_call::<_, ()>(Method::GET, target, &suffix, None)
            .await
    }

    /// `PUT /node/{target}/network/dns`.
    pub async fn update_dns(
        &self,
        target: &str,
        request: &DnsUpdateRequest,
    ) -> Result<Collection<DnsUpdateResult>, SdkError> {
        let path = node_path(target, "/network/dns");
        self.call(Method::PUT, &path, Some(request)).await
    }

    /// `POST /node/{target}/network/ping`.
    pub async fn ping(
        &self,
        target: &str,
        request: &PingRequest,
    ) -> Result<Collection<HostResult<PingPayload>>, SdkError> {
        self.node_call(Method::POST, target, "/network/ping", Some(request))
            .await
    }

    // ---- command ------------------------------------------------------------------

    /// `POST /node/{target}/command/exec`: a program with arguments, no shell. A non-zero
    /// exit is not an `Err`; see [`HostEntry::error`].
    pub async fn exec(
        &self,
        target: &str,
        request: &CommandExecRequest,
    ) -> Result<Collection<HostResult<CommandPayload>>, SdkError> {
        self.node_call(Method::POST, target, "/command/exec", Some(request))
            .await
    }

    /// `POST /node/{target}/command/shell`: a `/bin/sh -c` string.
    pub async fn shell(
        &self,
        target: &str,
        request: &CommandShellRequest,
    ) -> Result<Collection<HostResult<CommandPayload>>, SdkError> {
        self.node_call(Method::POST, target, "/command/shell", Some(request))
            .await
    }

    // ---- files on nodes -----------------------------------------------------------

    /// `POST /node/{target}/file/deploy`: writes a stored object to a path.
    pub async fn file_deploy(
        &self,
        target: &str,
        request: &DeployRequest,
    ) -> Result<Collection<HostResult<DeployPayload>>, SdkError> {
        self.node_call(Method::POST, target, "/file/deploy", Some(request))
            .await
    }

    /// `POST /node/{target}/file/status`: `in-sync`, `drifted` or `missing`.
    pub async fn file_status(
        &self,
        target: &str,
        request: &StatusRequest,
    ) -> Result<Collection<HostResult<FileStatusPayload>>, SdkError> {
        self.node_call(Method::POST, target, "/file/status", Some(request))
            .await
    }

    // ---- object store -------------------------------------------------------------

    /// Stores `data` as object `name` (`raw` or `template`). Unless `force`, nothing is
    /// sent when the stored object already has the same SHA-256 and content type
    /// (`changed: false`); other stored content is [`SdkError::Conflict`] unless `force`.
    pub async fn file_upload_bytes(
        &self,
        name: &str,
        content_type: &str,
        data: Bytes,
        force: bool,
    ) -> Result<FileUploadResult, SdkError> {
        let sha256 = sha256_hex(&data);
        if !force {
            if let Some(stored) = self.file_lookup(name).await? {
                if stored.sha256 == sha256 && stored.content_type == content_type {
                    return Ok(FileUploadResult {
                        name: stored.name,
                        sha256,
                        size: stored.size,
                        changed: false,
                        content_type: stored.content_type,
                    });
                }
            }
        }
        let len = data.len() as u64;
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(data), len)
            .file_name(name.to_owned());
        let query = if force { "?force=true" } else { "" };
        let resp = self.post_multipart(name, content_type, part, query).await?;
        let info: FileInfo = check(resp)?.json()?;
        Ok(FileUploadResult {
            changed: info.changed.unwrap_or(true),
            name: info.name,
            sha256: info.sha256,
            size: info.size,
            content_type: info.content_type,
        })
    }

    /// Whether object `name` is missing or holds other content than `data`.
    pub async fn file_changed(
        &self,
        name: &str,
        data: &[u8],
    ) -> Result<FileChangedResult, SdkError> {
        let sha256 = sha256_hex(data);
        let changed = match self.file_lookup(name).await? {
            Some(stored) => stored.sha256 != sha256,
            None => true,
        };
        Ok(FileChangedResult {
            name: name.to_owned(),
            changed,
            sha256,
        })
    }

    /// `GET /file/{name}`, `None` on 404.
    async fn file_lookup(&self, name: &str) -> Result<Option<FileInfo>, SdkError> {
        match self.file_get(name).await {
            Ok(info) => Ok(Some(info)),
            Err(SdkError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /file/{name}`: an object's metadata.
    pub async fn file_get(&self, name: &str) -> Result<FileInfo, SdkError> {
        self.get_json(&format!("/file/{}", encode_segment(name)))
            .await
    }

    /// `GET /file`: every stored object.
    pub async fn file_list(&self) -> Result<FileList, SdkError> {
        self.get_json("/file").await
    }

    /// `DELETE /file/{name}`: removes an object (deployed copies stay).
    pub async fn file_delete(&self, name: &str) -> Result<Deleted, SdkError> {
        let path = format!("/file/{}", encode_segment(name));
        self.call::<_, ()>(Method::DELETE, &path, None).await
    }

    /// `GET /file/stale`: deployed files whose object changed since.
    pub async fn file_stale(&self) -> Result<StaleList, SdkError> {
        self.get_json("/file/stale").await
    }

    // ---- agents -------------------------------------------------------------------

    /// `GET /agent`: every registered agent.
    pub async fn agent_list(&self) -> Result<AgentList, SdkError> {
        self.get_json("/agent").await
    }

    /// `GET /agent/{hostname}`.
    pub async fn agent_get(&self, hostname: &str) -> Result<AgentInfo, SdkError> {
        self.get_json(&format!("/agent/{}", encode_segment(hostname)))
            .await
    }

    /// `POST /agent/{hostname}/drain`: no new jobs for this agent.
    pub async fn agent_drain(&self, hostname: &str) -> Result<DrainResponse, SdkError> {
        let path = format!("/agent/{}/drain", encode_segment(hostname));
        self.call::<_, ()>(Method::POST, &path, None).await
    }

    /// `POST /agent/{hostname}/undrain`: the agent takes jobs again.
    pub async fn agent_undrain(&self, hostname: &str) -> Result<DrainResponse, SdkError> {
        let path = format!("/agent/{}/undrain", encode_segment(hostname));
        self.call::<_, ()>(Method::POST, &path, None).await
    }

    // ---- jobs ---------------------------------------------------------------------

    /// `GET /job/{id}`: operation, result, per-host responses and states, timeline.
    pub async fn job_get(&self, id: &str) -> Result<JobDetailResponse, SdkError> {
        self.get_json(&format!("/job/{}", encode_segment(id))).await
    }

    /// `GET /job`: newest first; `status` one of `submitted`, `processing`, `completed`,
    /// `failed`, `partial_failure`; `limit` 1 to 100.
    pub async fn job_list(
        &self,
        status: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<ListJobsResponse, SdkError> {
        let mut path = format!("/job?limit={limit}&offset={offset}");
        if let Some(s) = status {
            path.push_str(&format!("&status={}", encode_segment(s)));
        }
        self.get_json(&path).await
    }

    /// `DELETE /job/{id}`: removes a job, its events and responses.
    pub async fn job_delete(&self, id: &str) -> Result<(), SdkError> {
        let path = format!("/job/{}", encode_segment(id));
        check(self.send_json::<()>(Method::DELETE, &path, None).await?)?;
        Ok(())
    }

    /// `POST /job/{id}/retry`: runs the job's operation again as a new, linked job on
    /// `target` (default `_any`); does not wait for it.
    pub async fn job_retry(
        &self,
        id: &str,
        target: Option<&str>,
    ) -> Result<CreateJobResponse, SdkError> {
        let path = format!("/job/{}/retry", encode_segment(id));
        let body = RetryJobRequest {
            target_hostname: target.map(str::to_owned),
        };
        self.call(Method::POST, &path, Some(&body)).await
    }

    // ---- audit --------------------------------------------------------------------

    /// `GET /audit`: entries, newest first; `limit` 1 to 100.
    pub async fn audit_list(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<ListAuditResponse, SdkError> {
        self.get_json(&format!("/audit?limit={limit}&offset={offset}"))
            .await
    }

    /// `GET /audit/{id}`: one entry.
    pub async fn audit_get(&self, id: &str) -> Result<AuditEntryResponse, SdkError> {
        self.get_json(&format!("/audit/{}", encode_segment(id)))
            .await
    }

    /// `GET /audit/export`: every entry, newest first.
    pub async fn audit_export(&self) -> Result<ListAuditResponse, SdkError> {
        self.get_json("/audit/export").await
    }
}
