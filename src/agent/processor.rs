//! Runs one job operation through the providers. Dispatch is by the full operation name;
//! `@fact.*` references in the data are resolved first, from this agent's facts.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::facts::Facts;
use super::ops;
use crate::job::ops as names;
use crate::job::record::Operation;
use crate::provider::{ProviderError, Providers};

/// What an operation may use while it runs.
pub struct ExecContext {
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub providers: Providers,
    /// Refreshed every `agent.facts.interval`.
    pub facts: std::sync::RwLock<Facts>,
    /// Bytes kept of each command output stream.
    pub max_output: usize,
    /// Object store and file-state bucket, when configured.
    pub files: Option<(
        async_nats::jetstream::object_store::ObjectStore,
        async_nats::jetstream::kv::Store,
        async_nats::jetstream::Context,
    )>,
}

/// Why an operation failed on this host, as reported to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    pub message: String,
    /// The request field this host rejected (an owner it has no account for): the
    /// controller answers a unicast with 400 naming it.
    pub field: Option<&'static str>,
}

impl OpError {
    /// A failure caused by one field of the request.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: Some(field),
        }
    }
}

impl From<String> for OpError {
    fn from(message: String) -> Self {
        Self {
            message,
            field: None,
        }
    }
}

impl From<&str> for OpError {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

/// Runs `op`; the error is reported to the caller as this host's error.
pub async fn execute(op: &Operation, ctx: &ExecContext) -> Result<Value, OpError> {
    let mut data = op.data.clone();
    {
        let facts = ctx
            .facts
            .read()
            .map_err(|_| "facts are unavailable".to_string())?;
        facts.resolve(&mut data)?;
    }
    let name = op.kind.as_str();
    if name == names::FILE_DEPLOY.name {
        return ops::file::deploy(ctx, parse(data)?).await;
    }
    Ok(dispatch(name, data, ctx).await?)
}

/// The operations whose failures name no field.
async fn dispatch(name: &str, data: Value, ctx: &ExecContext) -> Result<Value, String> {
    match name {
        _ if name == names::NODE_HOSTNAME_GET.name => ops::node::hostname(ctx).await,
        _ if name == names::NODE_STATUS_GET.name => ops::node::status(ctx).await,
        _ if name == names::NODE_UPTIME_GET.name => ops::node::uptime(ctx).await,
        _ if name == names::NODE_OS_GET.name => ops::node::os(ctx).await,
        _ if name == names::NODE_DISK_GET.name => ops::node::disk(ctx).await,
        _ if name == names::NODE_MEMORY_GET.name => ops::node::memory(ctx).await,
        _ if name == names::NODE_LOAD_GET.name => ops::node::load(ctx).await,
        _ if name == names::NETWORK_DNS_GET.name => ops::network::dns_get(ctx, parse(data)?).await,
        _ if name == names::NETWORK_DNS_UPDATE.name => {
            ops::network::dns_update(ctx, parse(data)?).await
        }
        _ if name == names::NETWORK_PING_DO.name => ops::network::ping(ctx, parse(data)?).await,
        _ if name == names::COMMAND_EXEC.name => ops::command::exec(ctx, parse(data)?, false).await,
        _ if name == names::COMMAND_SHELL.name => ops::command::exec(ctx, parse(data)?, true).await,
        _ if name == names::FILE_STATUS.name => ops::file::status(ctx, parse(data)?).await,
        other => Err(format!("unsupported operation {other:?}")),
    }
}

fn parse<T: DeserializeOwned>(data: Value) -> Result<T, String> {
    serde_json::from_value(data).map_err(|e| format!("invalid job data: {e}"))
}

/// Runs a synchronous provider call off the async workers: a slow read (a hung mount, a
/// busy /proc) must not stall the agent's other jobs, heartbeat or acks.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("provider task failed: {e}")),
    }
}

/// Serialises a result payload with `changed` set.
pub fn payload<T: serde::Serialize>(value: &T, changed: bool) -> Result<Value, String> {
    let mut v = serde_json::to_value(value).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut v {
        map.insert("changed".into(), Value::Bool(changed));
    }
    Ok(v)
}
