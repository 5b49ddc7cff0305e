//! Typed operation steps: one constructor per API operation, each a step calling one
//! [`Client`] method. Node operations keep one [`HostResult`] per answering host; their
//! `changed` is the OR over the hosts. Step names follow the operation (`get-hostname`,
//! `run-uptime`, ...), numbered from the second use on (`get-hostname-2`).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::predicate::{self, Predicate};
use super::result::{HostResult, HostStatus, Results, TaskError, TaskOutput};
use super::{Orchestrator, Step};
use crate::sdk::JobStreamEvent;
use crate::sdk::{
    Client, CommandExecRequest, CommandShellRequest, DeployRequest, DnsUpdateRequest, HostEntry,
    PingRequest, SdkError, StatusRequest,
};
use crate::wire::agent::AgentInfo;
use crate::wire::job::{JobResponse, JobStatus};
use crate::wire::ops::command::{CommandExec, CommandShell};
use crate::wire::ops::file::{FileDeploy, FileStatus, FileUndeploy};
use crate::wire::ops::network::{DnsGetRequest, NetworkDnsGet, NetworkDnsUpdate, NetworkPingDo};
use crate::wire::ops::node::{
    NodeDiskGet, NodeHostnameGet, NodeLoadGet, NodeMemoryGet, NodeOsGet, NodeStatusGet,
    NodeUptimeGet,
};
use crate::wire::ops::{NoInput, Op};
use crate::wire::Collection;

/// Typed results to decode step data into: `report.decode::<CommandResult>("run-ls")`.
pub mod types {
    pub use crate::sdk::{FileChangedResult, FileUploadResult};
    pub use crate::wire::agent::{AgentInfo as AgentResult, AgentList as AgentListResult};
    pub use crate::wire::ops::command::CommandPayload as CommandResult;
    pub use crate::wire::ops::file::{
        DeployPayload as FileDeployResult, StatusPayload as FileStatusResult,
    };
    pub use crate::wire::ops::network::DnsUpdateResult;
    pub use crate::wire::ops::network::{DnsPayload as DnsConfigResult, PingPayload as PingResult};
    pub use crate::wire::ops::node::HostnameResponse as HostnameResult;
    pub use crate::wire::ops::node::{
        DiskPayload as DiskResult, LoadPayload as LoadResult, MemoryPayload as MemoryResult,
        OsPayload as OsResult, StatusPayload as NodeStatusResult, UptimePayload as UptimeResult,
    };
}

/// A node answer as a step output: one host result per entry, the whole answer as data.
fn hosts<T: HostEntry + Serialize>(answer: Collection<T>) -> TaskOutput {
    let hosts: Vec<HostResult> = answer
        .results
        .iter()
        .map(|entry| HostResult {
            hostname: entry.hostname().to_owned(),
            status: if entry.error().is_some() {
                HostStatus::Failed
            } else {
                HostStatus::Ok
            },
            changed: entry.changed(),
            error: entry.error(),
            data: serde_json::to_value(entry).unwrap_or(Value::Null),
        })
        .collect();
    TaskOutput {
        changed: hosts.iter().any(|h| h.changed),
        job_id: Some(answer.job_id.clone()),
        data: serde_json::to_value(&answer).unwrap_or(Value::Null),
        hosts,
    }
}

/// A host's answer as it arrives, before it is decoded into the operation's item.
fn host_of(answer: &JobResponse) -> HostResult {
    let status = match answer.status {
        JobStatus::Completed => HostStatus::Ok,
        JobStatus::Skipped => HostStatus::Skipped,
        _ => HostStatus::Failed,
    };
    HostResult {
        hostname: answer.hostname.clone(),
        status,
        changed: answer.changed.unwrap_or(false),
        error: answer.error.clone(),
        data: answer.data.clone().unwrap_or(Value::Null),
    }
}

/// A non-node answer as a step output with a fixed `changed`.
fn plain<T: Serialize>(answer: &T, changed: bool) -> TaskOutput {
    TaskOutput {
        changed,
        data: serde_json::to_value(answer).unwrap_or(Value::Null),
        ..TaskOutput::default()
    }
}

/// Prefixes an SDK failure with what the step was doing.
fn failed(what: &'static str) -> impl Fn(SdkError) -> TaskError {
    move |e| TaskError::msg(format!("{what}: {e}"))
}

/// A list to set, or `None` (keep the current one) when empty.
fn list(items: &[&str]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.iter().map(|s| s.to_string()).collect())
}

/// The last path component of a program name, for step names.
fn base_name(command: &str) -> &str {
    let first = command.split_whitespace().next().unwrap_or("command");
    first
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("command")
}

/// The orchestrator could not be set up from the environment.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("OSAPI_TOKEN is not set: create one with `osapi -f osapi.yaml token generate -r admin -u me` and export it")]
    NoToken,
    #[error("OSAPI_CA_FILE: cannot read {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sdk(#[from] SdkError),
}

/// Controller URL used by [`Orchestrator::from_env`] when `OSAPI_URL` is unset.
pub const DEFAULT_URL: &str = "http://localhost:8080";

/// One step method per catalogue op that takes nothing but a target.
macro_rules! no_input_steps {
    ($($(#[$doc:meta])* $fn:ident => $op:ty, $name:literal;)*) => {$(
        $(#[$doc])*
        pub fn $fn(&mut self, target: &str) -> Step<'_, Client> {
            self.run_op::<$op>($name, target, NoInput {})
        }
    )*};
}

impl Orchestrator<Client> {
    /// An orchestrator for the controller at `url` (e.g. `http://localhost:8080`) with a
    /// bearer token, printing its report to stdout.
    pub fn new(url: &str, token: &str) -> Result<Self, SdkError> {
        Ok(Self::with_client(Client::new(url, token)?))
    }

    /// Like [`Self::new`], from `OSAPI_URL` (default [`DEFAULT_URL`]) and `OSAPI_TOKEN`;
    /// an `https://` controller's certificate may chain to the CA certificates in the PEM
    /// file `OSAPI_CA_FILE`.
    pub fn from_env() -> Result<Self, SetupError> {
        let url = std::env::var("OSAPI_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let token = std::env::var("OSAPI_TOKEN").map_err(|_| SetupError::NoToken)?;
        let client = match std::env::var("OSAPI_CA_FILE") {
            Ok(path) if !path.is_empty() => {
                let pem = std::fs::read(&path).map_err(|source| SetupError::CaFile {
                    path: path.clone(),
                    source,
                })?;
                Client::with_ca_pem(&url, &token, &pem)?
            }
            _ => Client::new(&url, &token)?,
        };
        Ok(Self::with_client(client))
    }

    /// `health-check`: the controller answers its liveness probe.
    pub fn health_check(&mut self) -> Step<'_, Client> {
        self.op("health-check", |c: Arc<Client>| async move {
            let answer = c.health_liveness().await.map_err(failed("health check"))?;
            Ok(plain(&answer, false))
        })
    }

    /// A step `name` running catalogue operation `O` on `target`:
    /// `o.run_op::<NodeUptimeGet>("uptime", "_all", NoInput {})`. Its output has one host
    /// result per answering host; `changed` when any host changed.
    pub fn run_op<O: Op>(
        &mut self,
        name: &str,
        target: &str,
        request: O::Request,
    ) -> Step<'_, Client>
    where
        O::Request: Clone,
    {
        let target = target.to_owned();
        // Errors read "get hostname: ..." for step `get-hostname`.
        let what = name.replace('-', " ");
        self.op_with_results(name, move |c: Arc<Client>, results: Results| {
            let (target, request, what) = (target.clone(), request.clone(), what.clone());
            async move {
                // Followed through the job's events: each host shows as it answers, and
                // a long job holds no request open against the client's time limit.
                let progress = |event: &JobStreamEvent| {
                    if let JobStreamEvent::Result(answer) = event {
                        results.host_answered(&host_of(answer));
                    }
                };
                let answer = c.run_followed::<O>(&target, &request, progress).await;
                Ok(hosts(
                    answer.map_err(|e| TaskError::msg(format!("{what}: {e}")))?,
                ))
            }
        })
    }

    no_input_steps! {
        /// `get-hostname`: hostname and labels of the target's agents.
        node_hostname_get => NodeHostnameGet, "get-hostname";
        /// `get-status`: hostname, uptime, OS, load, memory and disks in one answer.
        node_status_get => NodeStatusGet, "get-status";
        /// `get-uptime`.
        node_uptime_get => NodeUptimeGet, "get-uptime";
        /// `get-disk`: usage of mounted filesystems.
        node_disk_get => NodeDiskGet, "get-disk";
        /// `get-memory`.
        node_memory_get => NodeMemoryGet, "get-memory";
        /// `get-load`: load averages.
        node_load_get => NodeLoadGet, "get-load";
        /// `get-os`: distribution and version.
        node_os_get => NodeOsGet, "get-os";
    }

    /// `get-dns`: DNS servers and search domains of an interface.
    pub fn network_dns_get(&mut self, target: &str, interface: &str) -> Step<'_, Client> {
        let request = DnsGetRequest {
            interface_name: interface.to_owned(),
        };
        self.run_op::<NetworkDnsGet>("get-dns", target, request)
    }

    /// `update-dns`: sets servers and search domains; reports whether anything changed.
    pub fn network_dns_update(
        &mut self,
        target: &str,
        interface: &str,
        servers: &[&str],
        search_domains: &[&str],
    ) -> Step<'_, Client> {
        let request = DnsUpdateRequest {
            interface_name: interface.to_owned(),
            servers: list(servers),
            search_domains: list(search_domains),
            ..Default::default()
        };
        self.run_op::<NetworkDnsUpdate>("update-dns", target, request)
    }

    /// `ping`: ICMP echo from the target's agents to `address`.
    pub fn network_ping(&mut self, target: &str, address: &str) -> Step<'_, Client> {
        let request = PingRequest {
            address: address.to_owned(),
            count: 3,
        };
        self.run_op::<NetworkPingDo>("ping", target, request)
    }

    /// `run-<program>`: runs a program with arguments, no shell. Commands are not
    /// idempotent, so a successful run reports a change; a non-zero exit is the host's
    /// error `exit code N`.
    pub fn command_exec(&mut self, target: &str, command: &str, args: &[&str]) -> Step<'_, Client> {
        self.command_exec_with(
            target,
            CommandExecRequest {
                command: command.to_owned(),
                args: args.iter().map(|a| a.to_string()).collect(),
                ..CommandExecRequest::default()
            },
        )
    }

    /// Like [`Self::command_exec`], with working directory, timeout and environment.
    pub fn command_exec_with(
        &mut self,
        target: &str,
        request: CommandExecRequest,
    ) -> Step<'_, Client> {
        let name = format!("run-{}", base_name(&request.command));
        self.run_op::<CommandExec>(&name, target, request)
    }

    /// `shell-<program>`: runs a shell string (`/bin/sh -c`).
    pub fn command_shell(&mut self, target: &str, command: &str) -> Step<'_, Client> {
        let request = CommandShellRequest {
            command: command.to_owned(),
            ..CommandShellRequest::default()
        };
        let name = format!("shell-{}", base_name(command));
        self.run_op::<CommandShell>(&name, target, request)
    }

    /// `deploy-file`: writes an uploaded object (rendered when a template) to a path on
    /// the target's hosts; unchanged when the content is already there.
    pub fn file_deploy(&mut self, target: &str, request: DeployRequest) -> Step<'_, Client> {
        self.run_op::<FileDeploy>("deploy-file", target, request)
    }

    /// `file-status`: whether a deployed file is in sync, drifted or missing.
    pub fn file_status_get(&mut self, target: &str, path: &str) -> Step<'_, Client> {
        let request = StatusRequest {
            path: path.to_owned(),
        };
        self.run_op::<FileStatus>("file-status", target, request)
    }

    /// `undeploy-file`: removes a file osapi deployed; unchanged when it is not there.
    pub fn file_undeploy(&mut self, target: &str, path: &str) -> Step<'_, Client> {
        let request = StatusRequest {
            path: path.to_owned(),
        };
        self.run_op::<FileUndeploy>("undeploy-file", target, request)
    }

    /// `upload-file`: stores `data` as object `name`; unchanged (and nothing sent) when
    /// the stored object has the same SHA-256.
    pub fn file_upload(
        &mut self,
        name: &str,
        content_type: &str,
        data: impl Into<Bytes>,
    ) -> Step<'_, Client> {
        self.upload(name, content_type, data.into(), false)
    }

    /// `upload-file`, replacing whatever is stored under `name`.
    pub fn file_upload_forced(
        &mut self,
        name: &str,
        content_type: &str,
        data: impl Into<Bytes>,
    ) -> Step<'_, Client> {
        self.upload(name, content_type, data.into(), true)
    }

    fn upload(
        &mut self,
        name: &str,
        content_type: &str,
        data: Bytes,
        force: bool,
    ) -> Step<'_, Client> {
        let (name, content_type) = (name.to_owned(), content_type.to_owned());
        self.op("upload-file", move |c: Arc<Client>| {
            let (name, content_type, data) = (name.clone(), content_type.clone(), data.clone());
            async move {
                let answer = c
                    .file_upload_bytes(&name, &content_type, data, force)
                    .await
                    .map_err(failed("upload file"))?;
                Ok(plain(&answer, answer.changed))
            }
        })
    }

    /// `check-file`: changed when object `name` is missing or differs from `data`.
    pub fn file_changed(&mut self, name: &str, data: impl Into<Bytes>) -> Step<'_, Client> {
        let (name, data) = (name.to_owned(), data.into());
        self.op("check-file", move |c: Arc<Client>| {
            let (name, data) = (name.clone(), data.clone());
            async move {
                let answer = c
                    .file_changed(&name, &data)
                    .await
                    .map_err(failed("check file"))?;
                Ok(plain(&answer, answer.changed))
            }
        })
    }

    /// `list-agents`: every registered agent with labels, conditions and facts.
    pub fn agent_list(&mut self) -> Step<'_, Client> {
        self.op("list-agents", |c: Arc<Client>| async move {
            Ok(plain(
                &c.agent_list().await.map_err(failed("list agents"))?,
                false,
            ))
        })
    }

    /// `get-agent`: one agent.
    pub fn agent_get(&mut self, hostname: &str) -> Step<'_, Client> {
        let hostname = hostname.to_owned();
        self.op("get-agent", move |c: Arc<Client>| {
            let hostname = hostname.clone();
            async move {
                Ok(plain(
                    &c.agent_get(&hostname).await.map_err(failed("get agent"))?,
                    false,
                ))
            }
        })
    }

    /// Agents matching every predicate, queried now (while building the plan).
    pub async fn discover(&self, preds: &[Predicate]) -> Result<Vec<AgentInfo>, SdkError> {
        let list = self.client.agent_list().await?;
        Ok(list
            .agents
            .into_iter()
            .filter(|a| predicate::match_all(a, preds))
            .collect())
    }

    /// Matching agents grouped by a fact (`os.distribution`, `architecture`, ...).
    pub async fn group_by_fact(
        &self,
        key: &str,
        preds: &[Predicate],
    ) -> Result<BTreeMap<String, Vec<AgentInfo>>, SdkError> {
        Ok(predicate::group_by_fact(self.discover(preds).await?, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_use_the_program_name() {
        assert_eq!(base_name("/usr/bin/uptime"), "uptime");
        assert_eq!(base_name("echo hello | wc -c"), "echo");
        assert_eq!(base_name(""), "command");
        assert_eq!(base_name("/"), "command");
    }
}
