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

/// Typed calls that send one [`endpoint`] declaration of the same name and arguments.
macro_rules! fetch_aliases {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $answer:ty;)*) => {$(
        $(#[$doc])*
        pub async fn $name(&self, $($arg: $ty),*) -> Result<$answer, SdkError> {
            self.fetch(&endpoint::$name($($arg),*)).await
        }
    )*};
}

/// Named [`Client::run`] calls of one catalogue operation on `target`: with a request of
/// the type in brackets, else with no input.
macro_rules! run_aliases {
    ($($(#[$doc:meta])* $name:ident$(($req:ty))? = $op:ident -> $item:ty;)*) => {$(
        $(#[$doc])*
        pub async fn $name(
            &self,
            target: &str,
            $(request: &$req,)?
        ) -> Result<Collection<$item>, SdkError> {
            self.run::<$op>(target, run_aliases!(@request $($req, request)?)).await
        }
    )*};
    (@request) => { &NoInput {} };
    (@request $req:ty, $request:ident) => { $request };
}

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
    if O::QUERY && !O::BODY && !fields.is_empty() {
        path.push('?');
        path.push_str(&query_string(&fields));
    }
    let method = match O::METHOD {
        OpMethod::Get => Method::GET,
        OpMethod::Post => Method::POST,
        OpMethod::Put => Method::PUT,
        OpMethod::Delete => Method::DELETE,
    };
    Ok((method, path, O::BODY.then_some(Value::Object(fields))))
}

/// `k=v&...` of the request fields left after the path's (strings as they are, other
/// values as JSON text), encoded.
fn query_string(fields: &serde_json::Map<String, Value>) -> String {
    fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={}", encode_segment(k), encode_segment(&text))
        })
        .collect::<Vec<_>>()
        .join("&")
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

    fetch_aliases! {
        /// `GET /health`: the controller process is up.
        health_liveness() -> HealthResponse;
        /// `GET /health/ready`: NATS connected and the job bucket answers (503 is an error).
        health_ready() -> HealthResponse;
        /// `GET /health/status`: components, agents, jobs and streams (503 is an error).
        health_status() -> StatusResponse;
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

    run_aliases! {
        /// `GET /node/{target}/hostname`.
        get_hostname = NodeHostnameGet -> HostnameResponse;
        /// `GET /node/{target}`: uptime, load, memory, disks and OS at once.
        get_node_status = NodeStatusGet -> HostResult<NodeStatusPayload>;
        /// `GET /node/{target}/uptime`.
        get_uptime = NodeUptimeGet -> HostResult<UptimePayload>;
        /// `GET /node/{target}/disk`.
        get_disk = NodeDiskGet -> HostResult<DiskPayload>;
        /// `GET /node/{target}/memory`.
        get_memory = NodeMemoryGet -> HostResult<MemoryPayload>;
        /// `GET /node/{target}/load`.
        get_load = NodeLoadGet -> HostResult<LoadPayload>;
        /// `GET /node/{target}/os`.
        get_os = NodeOsGet -> HostResult<OsPayload>;
        /// `PUT /node/{target}/network/dns`.
        update_dns(DnsUpdateRequest) = NetworkDnsUpdate -> DnsUpdateResult;
        /// `POST /node/{target}/network/ping`.
        ping(PingRequest) = NetworkPingDo -> HostResult<PingPayload>;
        /// `POST /node/{target}/command/exec`: a program with arguments, no shell. A non-zero
        /// exit is not an `Err`; see [`HostEntry::error`].
        exec(CommandExecRequest) = CommandExec -> HostResult<CommandPayload>;
        /// `POST /node/{target}/command/shell`: a `/bin/sh -c` string.
        shell(CommandShellRequest) = CommandShell -> HostResult<CommandPayload>;
        /// `POST /node/{target}/file/deploy`: writes a stored object to a path.
        file_deploy(DeployRequest) = FileDeploy -> HostResult<DeployPayload>;
        /// `POST /node/{target}/file/status`: `in-sync`, `drifted` or `missing`.
        file_status(StatusRequest) = FileStatus -> FileStatusItem;
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

    fetch_aliases! {
        /// `GET /file/{name}`: an object's metadata.
        file_get(name: &str) -> FileInfo;
        /// `GET /file`: every stored object.
        file_list() -> FileList;
        /// `DELETE /file/{name}`: removes an object (deployed copies stay).
        file_delete(name: &str) -> Deleted;
        /// `GET /file/stale`: deployed files whose object changed since.
        file_stale() -> StaleList;
    }

    // ---- agents -------------------------------------------------------------------

    fetch_aliases! {
        /// `GET /facts/keys`: the built-in `@fact.` references.
        facts_keys() -> FactKeys;
        /// `GET /agent`: every registered agent.
        agent_list() -> AgentList;
        /// `GET /agent/{hostname}`.
        agent_get(hostname: &str) -> AgentInfo;
        /// `POST /agent/{hostname}/drain`: no new jobs for this agent.
        agent_drain(hostname: &str) -> DrainResponse;
        /// `POST /agent/{hostname}/undrain`: the agent takes jobs again.
        agent_undrain(hostname: &str) -> DrainResponse;
    }

    // ---- jobs ---------------------------------------------------------------------

    fetch_aliases! {
        /// `GET /job/{id}`: operation, result, per-host responses and states, timeline.
        job_get(id: &str) -> JobDetailResponse;
        /// `GET /job`: newest first; `status` one of `submitted`, `processing`, `completed`,
        /// `failed`, `partial_failure`; `limit` 1 to 100.
        job_list(status: Option<&str>, limit: usize, offset: usize) -> ListJobsResponse;
        /// `POST /job/{id}/retry`: runs the job's operation again as a new, linked job on
        /// `target` (default `_any`); does not wait for it.
        job_retry(id: &str, target: Option<&str>) -> CreateJobResponse;
    }

    /// `DELETE /job/{id}`: removes a job, its events and responses.
    pub async fn job_delete(&self, id: &str) -> Result<(), SdkError> {
        check(self.fetch_raw(&endpoint::job_delete(id)).await?)?;
        Ok(())
    }

    // ---- audit --------------------------------------------------------------------

    fetch_aliases! {
        /// `GET /audit`: entries, newest first; `limit` 1 to 100.
        audit_list(limit: usize, offset: usize) -> ListAuditResponse;
        /// `GET /audit/{id}`: one entry.
        audit_get(id: &str) -> AuditEntryResponse;
        /// `GET /audit/export`: every entry, newest first.
        audit_export() -> ListAuditResponse;
    }
}
