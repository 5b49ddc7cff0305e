//! Pushed events: one job's stream (`GET /api/job/{id}/events`) and the fleet's
//! (`GET /api/events`), as Server-Sent Events. The SSE `event:` line names the event; its
//! `data:` line is the JSON of the type below.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::job::{JobResponse, OverallStatus, StatusEvent};
use crate::auth::Permission;

/// The answer to an asynchronous submission (`Prefer: respond-async` or `?async=true`):
/// 202, with the events' path in `Location` too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AcceptedJob {
    pub job_id: String,
    /// Always `accepted`.
    pub status: String,
    /// `/api/job/{id}/events`.
    pub location: String,
}

/// The last event of a job's stream: the job's overall status once every host it waits
/// for is finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobDone {
    pub job_id: String,
    pub status: OverallStatus,
    /// RFC 3339.
    pub timestamp: String,
}

/// One event of a job's stream.
#[derive(Debug, Clone)]
pub enum JobStreamEvent {
    /// A lifecycle event: `submitted` (from `_api`), then per host `acknowledged`,
    /// `started`, `completed` or `failed`; `retried` when the job was run again.
    Status(StatusEvent),
    /// One host's answer (`result`).
    Result(JobResponse),
    /// The job finished (`done`): the stream ends after it.
    Done(JobDone),
}

/// SSE name of a host's answer.
pub const RESULT: &str = "result";
/// SSE name of the last event of a job's stream.
pub const DONE: &str = "done";

impl JobStreamEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &str {
        match self {
            Self::Status(e) => e.event.as_str(),
            Self::Result(_) => RESULT,
            Self::Done(_) => DONE,
        }
    }

    /// The SSE `data:` JSON.
    pub fn data(&self) -> serde_json::Result<String> {
        match self {
            Self::Status(e) => serde_json::to_string(e),
            Self::Result(r) => serde_json::to_string(r),
            Self::Done(d) => serde_json::to_string(d),
        }
    }

    /// The event an SSE `event:` name and `data:` JSON carry.
    pub fn parse(name: &str, data: &str) -> serde_json::Result<Self> {
        Ok(match name {
            RESULT => Self::Result(serde_json::from_str(data)?),
            DONE => Self::Done(serde_json::from_str(data)?),
            _ => Self::Status(serde_json::from_str(data)?),
        })
    }
}

macro_rules! fleet_kinds {
    ($($variant:ident = $wire:literal, $permission:ident;)*) => {
        /// What happened in the fleet.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FleetKind {
            $(#[doc = concat!("`", $wire, "`")] $variant,)*
        }

        impl FleetKind {
            /// Every kind, in the order the API documents them.
            pub const ALL: [FleetKind; [$($wire),*].len()] = [$(FleetKind::$variant),*];

            /// The wire name, e.g. `agent.registered`.
            pub const fn as_str(self) -> &'static str {
                match self { $(FleetKind::$variant => $wire,)* }
            }

            /// The permission a caller needs to receive events of this kind.
            pub const fn permission(self) -> Permission {
                match self { $(FleetKind::$variant => Permission::$permission,)* }
            }
        }
    };
}

fleet_kinds! {
    AgentRegistered = "agent.registered", AgentRead;
    AgentChanged = "agent.changed", AgentRead;
    AgentUnreachable = "agent.unreachable", AgentRead;
    ConditionFired = "condition.fired", AgentRead;
    ConditionResolved = "condition.resolved", AgentRead;
    JobCreated = "job.created", JobRead;
    JobFinished = "job.finished", JobRead;
}

impl FleetKind {
    /// The kinds a filter word names: an exact name (`job.finished`) or a family
    /// (`agent`, `condition`, `job`). Empty for an unknown word.
    pub fn matching(word: &str) -> Vec<FleetKind> {
        Self::ALL
            .into_iter()
            .filter(|k| k.as_str() == word || k.as_str().split('.').next() == Some(word))
            .collect()
    }
}

impl std::fmt::Display for FleetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FleetKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FleetKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event kind {name:?}")))
    }
}

/// One fleet event.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetEvent {
    pub kind: FleetKind,
    /// Agent and condition events: the component's hostname.
    pub hostname: Option<String>,
    /// Job events: the job's target as written.
    pub target: Option<String>,
    /// Job events: the job.
    pub job_id: Option<String>,
    /// Agent events: the agent's labels (what a `key:value` filter matches).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// RFC 3339.
    pub timestamp: String,
    /// Kind-specific details (condition and reason; operation; status and hosts).
    #[serde(default)]
    pub data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_names_select_kinds() {
        assert_eq!(
            FleetKind::matching("job.finished"),
            [FleetKind::JobFinished]
        );
        assert_eq!(
            FleetKind::matching("job"),
            [FleetKind::JobCreated, FleetKind::JobFinished]
        );
        assert_eq!(FleetKind::matching("agent").len(), 3);
        assert!(FleetKind::matching("agents").is_empty());
        assert!(FleetKind::matching("job.").is_empty());
    }

    #[test]
    fn kinds_round_trip_through_json() {
        for kind in FleetKind::ALL {
            let text = serde_json::to_string(&kind).expect("json");
            assert_eq!(text, format!("\"{kind}\""));
            assert_eq!(
                serde_json::from_str::<FleetKind>(&text).expect("parse"),
                kind
            );
        }
        assert!(serde_json::from_str::<FleetKind>("\"job.lost\"").is_err());
    }

    #[test]
    fn stream_events_parse_back_by_name() {
        let done = JobStreamEvent::Done(JobDone {
            job_id: "j".into(),
            status: OverallStatus::PartialFailure,
            timestamp: "t".into(),
        });
        let back = JobStreamEvent::parse(done.name(), &done.data().expect("json")).expect("parse");
        assert!(
            matches!(back, JobStreamEvent::Done(d) if d.status == OverallStatus::PartialFailure)
        );
        let started = JobStreamEvent::Status(StatusEvent::now(
            "j",
            crate::wire::job::JobEvent::Started,
            "web-01",
            Value::Null,
        ));
        assert_eq!(started.name(), "started");
        let back = JobStreamEvent::parse("started", &started.data().expect("json")).expect("parse");
        assert!(matches!(back, JobStreamEvent::Status(e) if e.hostname == "web-01"));
        assert!(JobStreamEvent::parse(RESULT, "{}").is_err());
    }
}
