//! What steps produce: per-step outputs and statuses, per-host results, the live view
//! guards and task functions read, and the final report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::render::Observer;

/// Outcome of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// No such step, or it has not run yet.
    Unknown,
    /// Ran and reported a change.
    Changed,
    /// Ran and changed nothing.
    Unchanged,
    /// Did not run: a guard, `only_if_changed`, or a failed dependency.
    Skipped,
    /// Ran and failed (after its retries).
    Failed,
}

impl TaskStatus {
    /// Lower-case name used in reports: `changed`, `unchanged`, `skipped`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Changed => "changed",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one host fared in a broadcast (or unicast) operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Ok,
    /// The operation does not apply to this host; not an error.
    Skipped,
    Failed,
}

/// One host's entry in a step's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HostResult {
    pub hostname: String,
    pub status: HostStatus,
    pub changed: bool,
    /// The host's error, e.g. the agent's message or `exit code 2`.
    pub error: Option<String>,
    /// The host's own entry of the API answer.
    pub data: Value,
}

impl HostResult {
    /// A host that succeeded.
    pub fn ok(hostname: &str, changed: bool, data: Value) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: HostStatus::Ok,
            changed,
            error: None,
            data,
        }
    }

    /// A host that failed with `error`.
    pub fn failed(hostname: &str, error: &str) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: HostStatus::Failed,
            changed: false,
            error: Some(error.to_owned()),
            data: Value::Null,
        }
    }

    /// Failed, or carrying an error without being skipped.
    pub fn is_failed(&self) -> bool {
        self.status == HostStatus::Failed
            || (self.error.is_some() && self.status != HostStatus::Skipped)
    }

    /// Decodes this host's data into a typed result.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        decode_value(&self.hostname, &self.data)
    }
}

/// What a task function returns on success.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskOutput {
    pub changed: bool,
    /// Free-form result data (for API operations, the whole answer).
    pub data: Value,
    /// The job that ran the operation, for job-backed operations.
    pub job_id: Option<String>,
    /// One entry per host for node operations.
    pub hosts: Vec<HostResult>,
}

impl TaskOutput {
    /// A result that changed nothing, carrying `data`.
    pub fn unchanged(data: Value) -> Self {
        Self {
            data,
            ..Self::default()
        }
    }

    /// A result that reports a change, carrying `data`.
    pub fn changed(data: Value) -> Self {
        Self {
            changed: true,
            data,
            ..Self::default()
        }
    }
}

/// Why a task function failed. It may keep a partial output, so guards downstream can
/// still look at `changed` and the per-host results.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    pub message: String,
    pub partial: Option<TaskOutput>,
}

impl TaskError {
    /// A failure with a message and nothing else.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            partial: None,
        }
    }

    /// A failure that keeps what the step produced before failing.
    pub fn with_partial(message: impl Into<String>, partial: TaskOutput) -> Self {
        Self {
            message: message.into(),
            partial: Some(partial),
        }
    }
}

impl From<crate::sdk::SdkError> for TaskError {
    fn from(e: crate::sdk::SdkError) -> Self {
        Self::msg(e.to_string())
    }
}

/// Everything known about one step after it ran or was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    pub name: String,
    pub status: TaskStatus,
    pub changed: bool,
    /// Wall time, including guards and retries.
    pub duration: Duration,
    pub job_id: Option<String>,
    pub data: Value,
    pub hosts: Vec<HostResult>,
    /// The failure message of a failed step.
    pub error: Option<String>,
    /// Why a skipped step did not run.
    pub skip_reason: Option<String>,
    /// How many times the function was called (0 when skipped).
    pub attempts: u32,
}

impl TaskResult {
    pub(crate) fn skipped(name: &str, reason: &str, duration: Duration) -> Self {
        Self {
            name: name.to_owned(),
            status: TaskStatus::Skipped,
            changed: false,
            duration,
            job_id: None,
            data: Value::Null,
            hosts: Vec::new(),
            error: None,
            skip_reason: Some(reason.to_owned()),
            attempts: 0,
        }
    }

    pub(crate) fn from_output(name: &str, out: TaskOutput, attempts: u32, d: Duration) -> Self {
        Self {
            name: name.to_owned(),
            status: if out.changed {
                TaskStatus::Changed
            } else {
                TaskStatus::Unchanged
            },
            changed: out.changed,
            duration: d,
            job_id: out.job_id,
            data: out.data,
            hosts: out.hosts,
            error: None,
            skip_reason: None,
            attempts,
        }
    }

    pub(crate) fn from_error(name: &str, err: TaskError, attempts: u32, d: Duration) -> Self {
        let mut r = Self::from_output(name, err.partial.unwrap_or_default(), attempts, d);
        r.status = TaskStatus::Failed;
        r.error = Some(err.message);
        r
    }

    /// Decodes the step's data: the first host's entry when there are host results,
    /// otherwise the step's own data.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        let data = self.hosts.first().map_or(&self.data, |h| &h.data);
        decode_value(&self.name, data)
    }
}

/// A result could not be decoded into the requested type.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("no result for {0:?}")]
    Missing(String),
    #[error("no result data for {0:?} (skipped, or failed without data)")]
    NoData(String),
    #[error("cannot decode the result of {name:?}: {reason}")]
    Invalid { name: String, reason: String },
}

fn decode_value<T: DeserializeOwned>(name: &str, data: &Value) -> Result<T, DecodeError> {
    if data.is_null() {
        return Err(DecodeError::NoData(name.to_owned()));
    }
    T::deserialize(data).map_err(|e| DecodeError::Invalid {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

/// Read-only view of the results of the steps that finished so far, as guards and task
/// functions see it. Cheap to clone.
#[derive(Clone, Default)]
pub struct Results {
    done: Arc<BTreeMap<String, TaskResult>>,
    /// The step these results were handed to and the run's observer, for live progress.
    progress: Option<(Arc<str>, Arc<dyn Observer>)>,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Results").field(&self.done).finish()
    }
}

impl Results {
    pub(crate) fn new(map: BTreeMap<String, TaskResult>) -> Self {
        Self {
            done: Arc::new(map),
            progress: None,
        }
    }

    /// The same results, handed to step `step` of a run reporting to `observer`.
    pub(crate) fn for_step(&self, step: &str, observer: Arc<dyn Observer>) -> Self {
        Self {
            done: self.done.clone(),
            progress: Some((step.into(), observer)),
        }
    }

    /// Tells the run's observer that one host answered the running step, before the step
    /// ends (a no-op outside a run).
    pub fn host_answered(&self, host: &HostResult) {
        if let Some((step, observer)) = &self.progress {
            observer.host_answered(step, host);
        }
    }

    /// A step's full result, if it finished.
    pub fn get(&self, name: &str) -> Option<&TaskResult> {
        self.done.get(name)
    }

    /// A step's status; `Unknown` when it has not finished or does not exist.
    pub fn status(&self, name: &str) -> TaskStatus {
        self.get(name).map_or(TaskStatus::Unknown, |r| r.status)
    }

    /// Whether a step reported a change (false when missing).
    pub fn changed(&self, name: &str) -> bool {
        self.get(name).is_some_and(|r| r.changed)
    }

    /// A step's per-host results (empty when missing or not a node operation).
    pub fn host_results(&self, name: &str) -> &[HostResult] {
        self.get(name).map_or(&[], |r| r.hosts.as_slice())
    }

    /// Decodes a step's data (see [`TaskResult::decode`]).
    pub fn decode<T: DeserializeOwned>(&self, name: &str) -> Result<T, DecodeError> {
        self.get(name)
            .ok_or_else(|| DecodeError::Missing(name.to_owned()))?
            .decode()
    }
}

/// The outcome of a run: every step that was reached, in execution order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub tasks: Vec<TaskResult>,
    pub duration: Duration,
}

impl Report {
    /// A step's result.
    pub fn get(&self, name: &str) -> Option<&TaskResult> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// A step's status; `Unknown` when it was not reached.
    pub fn status(&self, name: &str) -> TaskStatus {
        self.get(name).map_or(TaskStatus::Unknown, |r| r.status)
    }

    /// Decodes a step's data (see [`TaskResult::decode`]).
    pub fn decode<T: DeserializeOwned>(&self, name: &str) -> Result<T, DecodeError> {
        self.get(name)
            .ok_or_else(|| DecodeError::Missing(name.to_owned()))?
            .decode()
    }

    /// How many steps ended with `status`.
    pub fn count(&self, status: TaskStatus) -> usize {
        self.tasks.iter().filter(|t| t.status == status).count()
    }

    /// `N tasks, X changed, Y unchanged, Z skipped, W failed`, zero counts left out.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} tasks", self.tasks.len())];
        for s in [
            TaskStatus::Changed,
            TaskStatus::Unchanged,
            TaskStatus::Skipped,
            TaskStatus::Failed,
        ] {
            let n = self.count(s);
            if n > 0 {
                parts.push(format!("{n} {s}"));
            }
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(name: &str, out: TaskOutput) -> TaskResult {
        TaskResult::from_output(name, out, 1, Duration::ZERO)
    }

    #[test]
    fn decode_prefers_the_first_host() {
        let mut out = TaskOutput::unchanged(json!({"results": []}));
        out.hosts = vec![HostResult::ok("a", false, json!({"hostname": "a"}))];
        #[derive(serde::Deserialize)]
        struct H {
            hostname: String,
        }
        let h: H = result("s", out).decode().expect("decodes");
        assert_eq!(h.hostname, "a");
    }

    #[test]
    fn decoding_a_skipped_or_missing_step_is_an_error() {
        let map = BTreeMap::from([(
            "s".to_owned(),
            TaskResult::skipped("s", "why", Duration::ZERO),
        )]);
        let results = Results::new(map);
        assert_eq!(
            results.decode::<Value>("s"),
            Err(DecodeError::NoData("s".into()))
        );
        assert_eq!(
            results.decode::<Value>("nope"),
            Err(DecodeError::Missing("nope".into()))
        );
        assert_eq!(results.status("nope"), TaskStatus::Unknown);
        assert_eq!(results.status("s"), TaskStatus::Skipped);
    }

    #[test]
    fn a_failure_keeps_its_partial_output() {
        let mut partial = TaskOutput::changed(json!(1));
        partial.hosts = vec![HostResult::failed("a", "exit code 1")];
        let r = TaskResult::from_error(
            "s",
            TaskError::with_partial("boom", partial),
            3,
            Duration::ZERO,
        );
        assert_eq!(r.status, TaskStatus::Failed);
        assert!(r.changed);
        assert_eq!(r.hosts.len(), 1);
        assert_eq!(r.error.as_deref(), Some("boom"));
    }

    #[test]
    fn summary_leaves_out_zero_counts() {
        let report = Report {
            tasks: vec![
                result("a", TaskOutput::changed(Value::Null)),
                result("b", TaskOutput::unchanged(Value::Null)),
                TaskResult::skipped("c", "x", Duration::ZERO),
            ],
            duration: Duration::ZERO,
        };
        assert_eq!(
            report.summary(),
            "3 tasks, 1 changed, 1 unchanged, 1 skipped"
        );
    }
}
