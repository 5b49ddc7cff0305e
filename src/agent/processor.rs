//! Runs one job operation through the providers. Dispatch is by the full operation name,
//! through a table built from the catalogue; `@fact.*` references in the data are resolved
//! first, from this agent's facts.

use std::collections::BTreeMap;

use std::collections::HashMap;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ops::Handle;
use crate::provider::{ProviderError, Providers};
use crate::wire::facts::Facts;
use crate::wire::job::Operation;
use crate::wire::ops::Op;

/// What an operation may use while it runs.
pub struct ExecContext {
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub providers: Providers,
    /// Refreshed every `agent.facts.interval`.
    pub facts: std::sync::RwLock<Facts>,
    /// Bytes kept of each command output stream.
    pub max_output: usize,
    /// The host's new name once osapi renamed it (`None` while it is the agent's own
    /// name); the heartbeat writes it to the registry entry at once.
    pub renamed: tokio::sync::watch::Sender<Option<String>>,
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
    /// Not a failure: the operation does not apply on this host (the answer is
    /// `skipped`, with the message as its reason).
    pub skipped: bool,
}

impl OpError {
    /// A failure caused by one field of the request.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::from(message.into())
        }
    }

    /// The operation does not apply here, for `reason`.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self {
            skipped: true,
            ..Self::from(reason.into())
        }
    }

    /// The same error, its message prefixed with what was being done (a skip's reason is
    /// kept as it is: it is not a failure to do anything).
    pub fn context(self, doing: &str) -> Self {
        if self.skipped {
            return self;
        }
        Self {
            message: format!("{doing}: {}", self.message),
            ..self
        }
    }
}

impl From<String> for OpError {
    fn from(message: String) -> Self {
        Self {
            message,
            field: None,
            skipped: false,
        }
    }
}

impl From<ProviderError> for OpError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Unsupported(reason) => Self::skipped(reason),
            other => other.to_string().into(),
        }
    }
}

impl From<&str> for OpError {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

/// Runs `op`; the error is reported to the caller as this host's error. Returns the
/// payload (with `changed` in it, as stored in the response bucket).
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
    let run = DISPATCH
        .get(name)
        .ok_or_else(|| format!("unsupported operation {name:?}"))?;
    run(ctx, data).await
}

type Runner = for<'a> fn(&'a ExecContext, Value) -> BoxFuture<'a, Result<Value, OpError>>;

/// Every catalogue operation's handler, by name. Built from the catalogue: an operation
/// without a [`Handle`] impl does not compile.
static DISPATCH: LazyLock<HashMap<&'static str, Runner>> = LazyLock::new(|| {
    let mut table: HashMap<&'static str, Runner> = HashMap::new();
    macro_rules! register {
        ($($op:ty),* $(,)?) => { $( table.insert(<$op as Op>::NAME, run_boxed::<$op>); )* };
    }
    crate::for_each_op!(register);
    table
});

fn run_boxed<O: Handle>(ctx: &ExecContext, data: Value) -> BoxFuture<'_, Result<Value, OpError>> {
    Box::pin(run_typed::<O>(ctx, data))
}

/// Parses the job data, runs the handler, serialises its payload with `changed`.
async fn run_typed<O: Handle>(ctx: &ExecContext, data: Value) -> Result<Value, OpError> {
    let data: O::Data = parse(data)?;
    let done = O::run(ctx, data).await?;
    Ok(payload(&done.payload, done.changed)?)
}

fn parse<T: DeserializeOwned>(data: Value) -> Result<T, String> {
    serde_json::from_value(data).map_err(|e| format!("invalid job data: {e}"))
}

/// Runs a synchronous provider call off the async workers: a slow read (a hung mount, a
/// busy /proc) must not stall the agent's other jobs, heartbeat or acks.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, OpError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(OpError::from),
        Err(e) => Err(format!("provider task failed: {e}").into()),
    }
}

/// One call of `provider` off the async workers; its failure says what was being done.
pub async fn with_provider<P: ?Sized + Send + Sync + 'static, T: Send + 'static>(
    provider: &std::sync::Arc<P>,
    doing: &str,
    f: impl FnOnce(&P) -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, OpError> {
    let p = provider.clone();
    blocking(move || f(p.as_ref()))
        .await
        .map_err(|e| e.context(doing))
}

/// Serialises a result payload with `changed` set.
fn payload<T: serde::Serialize>(value: &T, changed: bool) -> Result<Value, String> {
    let mut v = serde_json::to_value(value).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut v {
        map.insert("changed".into(), Value::Bool(changed));
    }
    Ok(v)
}
