//! Typed calls: [`Client::run`] for any catalogue operation, named aliases for the common
//! ones, and the non-job endpoints (declared in [`super::endpoint`]), all returning the wire
//! types.
//! Any non-2xx answer is an [`SdkError`] (a 502 for a failed unicast job included).

use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::types::*;
use super::{check, encode_segment, endpoint, sha256_hex, Client, RawResponse, SdkError};
use crate::wire::ops::command::{CommandExec, CommandShell};
use crate::wire::ops::file::{FileDeploy, FileStatus};
use crate::wire::ops::network::{DnsGetRequest, NetworkDnsGet, NetworkDnsUpdate, NetworkPingDo};
use crate::wire::ops::node::{
    NodeDiskGet, NodeHostnameGet, NodeLoadGet, NodeMemoryGet, NodeOsGet, NodeStatusGet,
    NodeUptimeGet,
};
use crate::wire::ops::{Method as OpMethod, NoInput, Op};

/// Method, path (target and path parameters filled in, encoded) and body of a call of `O`.
pub fn op_call<O: Op>(
    target: &str,
    request: &O::Request,
) -> Result<(Method, String, Option<Value>), SdkError> {
    let mut fields = match serde_json::to_value(request) {
        Ok(Value::Object(map)) => map,
        Ok(_) => Default::default(),
        Err(e) => return Err(SdkError::Decode(format!("cannot encode the request: {e}"))),
    };
    let mut path = O::PATH.to_owned();
    for name in crate::wire::ops::path_params(O::PATH) {
        let value = if name == "hostname" {
            target.to_owned()
        } else {
            match fields.remove(name) {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => return Err(SdkError::Decode(format!("the request has no {name}"))),
            }
        };
        path = path.replacen(&format!("{{{name}}}"), &encode_segment(&value), 1);
    }
    let method = match O::METHOD {
        OpMethod::Get => Method::GET,
        OpMethod::Post => Method::POST,
        OpMethod::Put => Method::PUT,
        OpMethod::Delete => Method::DELETE,
    };
    Ok((method, path, O::BODY.then_some(Value::Object(fields))))
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

    // ---- health -------------------------------------------------------------------

    /// `GET /health`: the controller process is up.
    pub async fn health_liveness(&self) -> Result<HealthResponse, SdkError> {
        self.fetch(&endpoint::health_liveness()).await
    }

    /// `GET /health/ready`: NATS connected and the job bucket answers (503 is an error).
    pub async fn health_ready(&self) -> Result<HealthResponse, SdkError> {
        self.fetch(&endpoint::health_ready()).await
    }

    /// `GET /health/status`: components, agents, jobs and streams (503 is an error).
    pub async fn health_status(&self) -> Result<StatusResponse, SdkError> {
        self.fetch(&endpoint::health_status()).await
    }

    // ---- catalogue operations -------------------------------------------------------

    /// Runs any catalogue operation on `target` (`_any`, `_all`, a hostname or a label):
    /// `client.run::<NodeUptimeGet>("_all", &NoInput {})`. A host's failure is in its item;
    /// a failed unicast (502) is an `Err`.
    pub async fn run<O: Op>(
        &self,
        target: &str,
        request: &O::Request,
    ) -> Result<Collection<O::Item>, SdkError> {
        let (method, path, body) = op_call::<O>(target, request)?;
        let mut answer: Collection<O::Item> = self.call(method, &path, body.as_ref()).await?;
        answer
            .results
            .iter_mut()
            .for_each(HostEntry::drop_payload_if_failed);
        Ok(answer)
    }

    /// Like [`Self::run`], the answer undecoded (for printing it as it came).
    pub async fn run_raw<O: Op>(
        &self,
        target: &str,
        request: &O::Request,
    ) -> Result<RawResponse, SdkError> {
        let (method, path, body) = op_call::<O>(target, request)?;
        self.send(method, &path, body.as_ref()).await
    }

    /// `GET /node/{target}/hostname`.
    pub async fn get_hostname(
        &self,
        target: &str,
    ) -> Result<Collection<HostnameResponse>, SdkError> {
        self.run::<NodeHostnameGet>(target, &NoInput {}).await
    }

    /// `GET /node/{target}`: uptime, load, memory, disks and OS at once.
    pub async fn get_node_status(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<NodeStatusPayload>>, SdkError> {
        self.run::<NodeStatusGet>(target, &NoInput {}).await
    }

    /// `GET /node/{target}/uptime`.
    pub async fn get_uptime(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<UptimePayload>>, SdkError> {
        self.run::<NodeUptimeGet>(target, &NoInput {}).await
    }

    /// `GET /node/{target}/disk`.
    pub async fn get_disk(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<DiskPayload>>, SdkError> {
        self.run::<NodeDiskGet>(target, &NoInput {}).await
    }

    /// `GET /node/{target}/memory`.
    pub async fn get_memory(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<MemoryPayload>>, SdkError> {
        self.run::<NodeMemoryGet>(target, &NoInput {}).await
    }

    /// `GET /node/{target}/load`.
    pub async fn get_load(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<LoadPayload>>, SdkError> {
        self.run::<NodeLoadGet>(target, &NoInput {}).await
    }

    /// `GET /node/{target}/os`.
    pub async fn get_os(
        &self,
        target: &str,
    ) -> Result<Collection<HostResult<OsPayload>>, SdkError> {
        self.run::<NodeOsGet>(target, &NoInput {}).await
    }

    /// `GET /node/{target}/network/dns/{interface}`.
    pub async fn get_dns(
        &self,
        target: &str,
        interface: &str,
    ) -> Result<Collection<HostResult<DnsPayload>>, SdkError> {
        let request = DnsGetRequest {
            interface_name: interface.to_owned(),
        };
        self.run::<NetworkDnsGet>(target, &request).await
    }

    /// `PUT /node/{target}/network/dns`.
    pub async fn update_dns(
        &self,
        target: &str,
        request: &DnsUpdateRequest,
    ) -> Result<Collection<DnsUpdateResult>, SdkError> {
        self.run::<NetworkDnsUpdate>(target, request).await
    }

    /// `POST /node/{target}/network/ping`.
    pub async fn ping(
        &self,
        target: &str,
        request: &PingRequest,
    ) -> Result<Collection<HostResult<PingPayload>>, SdkError> {
        self.run::<NetworkPingDo>(target, request).await
    }

    /// `POST /node/{target}/command/exec`: a program with arguments, no shell. A non-zero
    /// exit is not an `Err`; see [`HostEntry::error`].
    pub async fn exec(
        &self,
        target: &str,
        request: &CommandExecRequest,
    ) -> Result<Collection<HostResult<CommandPayload>>, SdkError> {
        self.run::<CommandExec>(target, request).await
    }

    /// `POST /node/{target}/command/shell`: a `/bin/sh -c` string.
    pub async fn shell(
        &self,
        target: &str,
        request: &CommandShellRequest,
    ) -> Result<Collection<HostResult<CommandPayload>>, SdkError> {
        self.run::<CommandShell>(target, request).await
    }

    /// `POST /node/{target}/file/deploy`: writes a stored object to a path.
    pub async fn file_deploy(
        &self,
        target: &str,
        request: &DeployRequest,
    ) -> Result<Collection<HostResult<DeployPayload>>, SdkError> {
        self.run::<FileDeploy>(target, request).await
    }

    /// `POST /node/{target}/file/status`: `in-sync`, `drifted` or `missing`.
    pub async fn file_status(
        &self,
        target: &str,
        request: &StatusRequest,
    ) -> Result<Collection<HostResult<FileStatusPayload>>, SdkError> {
        self.run::<FileStatus>(target, request).await
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
        self.fetch(&endpoint::file_get(name)).await
    }

    /// `GET /file`: every stored object.
    pub async fn file_list(&self) -> Result<FileList, SdkError> {
        self.fetch(&endpoint::file_list()).await
    }

    /// `DELETE /file/{name}`: removes an object (deployed copies stay).
    pub async fn file_delete(&self, name: &str) -> Result<Deleted, SdkError> {
        self.fetch(&endpoint::file_delete(name)).await
    }

    /// `GET /file/stale`: deployed files whose object changed since.
    pub async fn file_stale(&self) -> Result<StaleList, SdkError> {
        self.fetch(&endpoint::file_stale()).await
    }

    // ---- agents -------------------------------------------------------------------

    /// `GET /agent`: every registered agent.
    pub async fn agent_list(&self) -> Result<AgentList, SdkError> {
        self.fetch(&endpoint::agent_list()).await
    }

    /// `GET /agent/{hostname}`.
    pub async fn agent_get(&self, hostname: &str) -> Result<AgentInfo, SdkError> {
        self.fetch(&endpoint::agent_get(hostname)).await
    }

    /// `POST /agent/{hostname}/drain`: no new jobs for this agent.
    pub async fn agent_drain(&self, hostname: &str) -> Result<DrainResponse, SdkError> {
        self.fetch(&endpoint::agent_drain(hostname)).await
    }

    /// `POST /agent/{hostname}/undrain`: the agent takes jobs again.
    pub async fn agent_undrain(&self, hostname: &str) -> Result<DrainResponse, SdkError> {
        self.fetch(&endpoint::agent_undrain(hostname)).await
    }

    // ---- jobs ---------------------------------------------------------------------

    /// `GET /job/{id}`: operation, result, per-host responses and states, timeline.
    pub async fn job_get(&self, id: &str) -> Result<JobDetailResponse, SdkError> {
        self.fetch(&endpoint::job_get(id)).await
    }

    /// `GET /job`: newest first; `status` one of `submitted`, `processing`, `completed`,
    /// `failed`, `partial_failure`; `limit` 1 to 100.
    pub async fn job_list(
        &self,
        status: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<ListJobsResponse, SdkError> {
        self.fetch(&endpoint::job_list(status, limit, offset)).await
    }

    /// `DELETE /job/{id}`: removes a job, its events and responses.
    pub async fn job_delete(&self, id: &str) -> Result<(), SdkError> {
        check(self.fetch_raw(&endpoint::job_delete(id)).await?)?;
        Ok(())
    }

    /// `POST /job/{id}/retry`: runs the job's operation again as a new, linked job on
    /// `target` (default `_any`); does not wait for it.
    pub async fn job_retry(
        &self,
        id: &str,
        target: Option<&str>,
    ) -> Result<CreateJobResponse, SdkError> {
        self.fetch(&endpoint::job_retry(id, target)).await
    }

    // ---- audit --------------------------------------------------------------------

    /// `GET /audit`: entries, newest first; `limit` 1 to 100.
    pub async fn audit_list(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<ListAuditResponse, SdkError> {
        self.fetch(&endpoint::audit_list(limit, offset)).await
    }

    /// `GET /audit/{id}`: one entry.
    pub async fn audit_get(&self, id: &str) -> Result<AuditEntryResponse, SdkError> {
        self.fetch(&endpoint::audit_get(id)).await
    }

    /// `GET /audit/export`: every entry, newest first.
    pub async fn audit_export(&self) -> Result<ListAuditResponse, SdkError> {
        self.fetch(&endpoint::audit_export()).await
    }
}
