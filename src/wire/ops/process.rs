//! `node.process.*`: the host's processes from /proc, and signals to one of them.

use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A process operation on `$path`, answered with 200 (as the latest original).
macro_rules! process_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "process", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
        );
    };
}

process_op!(NodeProcessList, "node.process.list", Query, Get, "/node/{hostname}/process",
    ProcessRead, "Every process of the host (pid, user, state, CPU, memory, command).",
    NoInput => ProcessList);
process_op!(NodeProcessGet, "node.process.get", Query, Get, "/node/{hostname}/process/{pid}",
    ProcessRead, "One process of the host.", ProcessPid => ProcessGet);
process_op!(NodeProcessSignal, "node.process.signal", Modify, Post,
    "/node/{hostname}/process/{pid}/signal", ProcessExecute,
    "Sends a signal to a process (never to PID 1 or the agent itself).",
    SignalRequest => SignalPayload);

/// One process, as the original's `ProcessInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessInfo {
    pub pid: i32,
    /// The kernel's command name (`comm`, at most 15 bytes).
    pub name: String,
    /// The owner's user name (the numeric uid when it has none).
    pub user: String,
    /// `running`, `sleep`, `idle`, `blocked`, `stop`, `zombie`, ...
    pub state: String,
    /// CPU time over the process's lifetime, in percent of one CPU.
    pub cpu_percent: f64,
    /// Resident memory in percent of the host's memory.
    pub mem_percent: f64,
    /// Resident memory, bytes.
    pub mem_rss: u64,
    /// The command line, arguments joined by spaces (empty for kernel threads).
    pub command: String,
    /// RFC 3339, UTC.
    pub start_time: String,
}

/// `node.process.list` result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessList {
    pub processes: Vec<ProcessInfo>,
}

/// `node.process.get` result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessGet {
    pub process: ProcessInfo,
}

/// `node.process.signal` result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignalPayload {
    pub pid: i64,
    pub signal: String,
}

impl Payload for ProcessList {}
impl Payload for ProcessGet {}
impl Payload for SignalPayload {}

/// The `{pid}` of `GET .../process/{pid}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessPid {
    #[serde(deserialize_with = "super::int_or_text")]
    #[schema(minimum = 1, maximum = 4_194_304)]
    pub pid: i64,
}

impl Validate for ProcessPid {
    fn validate(&self) -> Result<(), FieldError> {
        check_pid(self.pid)
    }
}

/// `POST .../process/{pid}/signal`: the pid from the path, `signal` from the body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    #[serde(deserialize_with = "super::int_or_text")]
    #[schema(minimum = 2, maximum = 4_194_304)]
    pub pid: i64,
    /// `TERM`, `KILL`, `HUP`, `INT`, `USR1` or `USR2`.
    #[schema(schema_with = signal_schema)]
    pub signal: String,
}

/// The signals a caller may send, as the original names them.
pub const SIGNALS: [&str; 6] = ["TERM", "KILL", "HUP", "INT", "USR1", "USR2"];

fn signal_schema() -> utoipa::openapi::schema::Object {
    crate::wire::rules::one_of(&SIGNALS, false)
}

impl Validate for SignalRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_pid(self.pid)?;
        if self.pid == 1 {
            return Err(FieldError::new(
                "pid",
                "pid 1 (init) is never signalled: it would take the host down",
            ));
        }
        if !SIGNALS.contains(&self.signal.as_str()) {
            return Err(FieldError::new(
                "signal",
                format!(
                    "unknown signal {:?}: one of {}",
                    self.signal,
                    SIGNALS.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// Linux pids are 1..=2^22 (`pid_max` at most 4194304).
fn check_pid(pid: i64) -> Result<(), FieldError> {
    if (1..=4_194_304).contains(&pid) {
        Ok(())
    } else {
        Err(FieldError::new(
            "pid",
            format!("pid {pid} is not a process id (1 to 4194304)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(pid: i64, signal: &str) -> Result<(), FieldError> {
        SignalRequest {
            pid,
            signal: signal.into(),
        }
        .validate()
    }

    #[test]
    fn pids_and_signals_are_checked() {
        assert!(signal(4242, "TERM").is_ok());
        for (pid, sig, field) in [
            (1, "TERM", "pid"),
            (-5, "TERM", "pid"),
            (0, "KILL", "pid"),
            (5_000_000, "KILL", "pid"),
            (4242, "STOP", "signal"),
            (4242, "term", "signal"),
        ] {
            assert_eq!(signal(pid, sig).unwrap_err().field, field, "{pid} {sig}");
        }
        assert!(
            ProcessPid { pid: 1 }.validate().is_ok(),
            "pid 1 can be read"
        );
    }

    #[test]
    fn pids_come_as_text_from_the_path_or_as_numbers() {
        let from_path: ProcessPid = serde_json::from_str(r#"{"pid":"42"}"#).unwrap();
        let from_body: ProcessPid = serde_json::from_str(r#"{"pid":42}"#).unwrap();
        assert_eq!((from_path.pid, from_body.pid), (42, 42));
        assert!(serde_json::from_str::<ProcessPid>(r#"{"pid":"4x"}"#).is_err());
    }
}
