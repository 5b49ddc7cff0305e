//! Jobs on the wire: what is stored about a job (the record, status events, per-host
//! responses, in the job and response buckets) and the `/job` answers built from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::job::subject::OpKind;

/// The requested operation: `{"type": "node.hostname.get", "data": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Operation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: Value,
}

/// The job record, written to the job bucket at `jobs.<id>` before anything is published.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    /// Always `unprocessed`: the live status is computed from events.
    pub status: String,
    /// RFC 3339, seconds.
    pub created: String,
    pub subject: String,
    pub operation: Operation,
    /// The target as the user wrote it (osapi extension).
    #[serde(default)]
    pub target: String,
    /// Query or modify (osapi extension; the original derived it from the subject).
    #[serde(default = "default_kind")]
    pub kind: OpKind,
    /// The job this one retries (osapi extension).
    pub retry_of: Option<String>,
    /// RFC 3339: the latest time an agent may start the job, when its caller stops
    /// waiting then (osapi extension). A job delivered later (its agents were down or
    /// drained) is recorded as failed instead of running behind the caller's back.
    pub start_by: Option<String>,
    /// RFC 3339: after this time agents refuse the record as stale or replayed (osapi
    /// extension, part of the signed record: `security::job_keys::record_lifetime`).
    pub expires: Option<String>,
    /// The hosts a broadcast waits for, as resolved when it was submitted (osapi
    /// extension): a job's event stream ends once each of them finished.
    pub expected: Option<Vec<String>>,
}

impl JobRecord {
    /// True when `start_by` is set and lies before `now`.
    pub fn expired_at(&self, now: time::OffsetDateTime) -> bool {
        self.start_by
            .as_deref()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_some_and(|deadline| deadline < now)
    }
}

fn default_kind() -> OpKind {
    OpKind::Query
}

impl JobRecord {
    /// True unless `expires` is set, readable and after `now`.
    pub fn stale_at(&self, now: time::OffsetDateTime) -> bool {
        self.expires
            .as_deref()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_none_or(|expires| expires <= now)
    }

    /// KV key of a job record.
    pub fn key(id: &str) -> String {
        super::keys::job(id)
    }
}

/// Outcome of one host's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Completed,
    Failed,
    /// The operation does not apply on that host; nothing was done.
    Skipped,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One host's answer, in the response bucket at `<id>.<host>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResponse {
    pub job_id: String,
    pub status: JobStatus,
    pub data: Option<Value>,
    pub error: Option<String>,
    /// The request field the host rejected, when the failure was caused by one.
    pub field: Option<String>,
    pub changed: Option<bool>,
    pub hostname: String,
    pub timestamp: String,
}

impl JobResponse {
    /// KV key of a host's response.
    pub fn key(job_id: &str, hostname: &str) -> String {
        super::keys::response(job_id, hostname)
    }

    /// Watch filter for every response of a job.
    pub fn watch_filter(job_id: &str) -> String {
        super::keys::responses_of(job_id)
    }
}

/// A job's lifecycle event, as stored in status keys and events.
///
/// Per host: `acknowledged` -> `started` -> `completed` | `failed`; from the controller
/// (`_api`, `_dlq`): `submitted`, `failed`, `retried`. Unknown names (written by another
/// version) are kept as they are, so nothing read is lost or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobEvent {
    Submitted,
    Acknowledged,
    Started,
    Completed,
    Failed,
    Retried,
    Other(String),
}

impl JobEvent {
    /// The event's name in keys and JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Submitted => "submitted",
            Self::Acknowledged => "acknowledged",
            Self::Started => "started",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Retried => "retried",
            Self::Other(name) => name,
        }
    }

    /// Completed or failed: the host is done with the job.
    pub fn is_outcome(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// Rank of a per-host event: the highest one a host reached is its state; `None` for
    /// events that say nothing about a host's progress (`submitted`, `retried`).
    pub fn progress_rank(&self) -> Option<u8> {
        match self {
            Self::Acknowledged => Some(1),
            Self::Started => Some(2),
            Self::Failed => Some(3),
            Self::Completed => Some(4),
            _ => None,
        }
    }
}

impl From<&str> for JobEvent {
    fn from(name: &str) -> Self {
        match name {
            "submitted" => Self::Submitted,
            "acknowledged" => Self::Acknowledged,
            "started" => Self::Started,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "retried" => Self::Retried,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<&JobEvent> for JobEvent {
    fn from(e: &JobEvent) -> Self {
        e.clone()
    }
}

impl PartialEq<&str> for JobEvent {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for JobEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(Self::from(name.as_ref()))
    }
}

/// An append-only lifecycle event, in the job bucket at
/// `status.<id>.<event>.<host>.<unixnano>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusEvent {
    pub job_id: String,
    pub event: JobEvent,
    pub hostname: String,
    pub timestamp: String,
    pub unix_nano: i128,
    #[serde(default)]
    pub data: Value,
}

impl StatusEvent {
    /// A new event stamped now.
    pub fn now(job_id: &str, event: JobEvent, hostname: &str, data: Value) -> Self {
        let now = time::OffsetDateTime::now_utc();
        Self {
            job_id: job_id.to_owned(),
            event,
            hostname: hostname.to_owned(),
            timestamp: rfc3339(now),
            unix_nano: now.unix_timestamp_nanos(),
            data,
        }
    }

    /// KV key of this event.
    pub fn key(&self) -> String {
        super::keys::status_event(
            &self.job_id,
            self.event.as_str(),
            &self.hostname,
            self.unix_nano,
        )
    }

    /// The `acknowledged` event this one stands for: a `started` event that carries its
    /// delivery's `subject`. Agents since December 2026 store that one event instead of an
    /// `acknowledged` and `started` pair written at the same instant (one write per job
    /// fewer); readers show both, so the timeline and event streams are unchanged.
    pub fn implied_acknowledgement(&self) -> Option<StatusEvent> {
        if self.event != JobEvent::Started {
            return None;
        }
        let subject = self.data.get("subject")?.clone();
        Some(StatusEvent {
            event: JobEvent::Acknowledged,
            data: serde_json::json!({ "subject": subject }),
            ..self.clone()
        })
    }
}

/// `events` with each implied `acknowledged` event (see
/// [`StatusEvent::implied_acknowledgement`]) just before the event that implies it.
pub fn with_acknowledgements(events: impl IntoIterator<Item = StatusEvent>) -> Vec<StatusEvent> {
    let mut all = Vec::new();
    for event in events {
        all.extend(event.implied_acknowledgement());
        all.push(event);
    }
    all
}

/// What a notification names: the job id, and the signed record when it carries one
/// (controllers since December 2026 send the record; earlier ones only the id).
pub fn notified_job(payload: &[u8]) -> (String, Option<&[u8]>) {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    if payload.first() != Some(&b'{') {
        return (String::from_utf8_lossy(payload).trim().to_owned(), None);
    }
    // Not trusted yet: the id only names the job in what is reported; the record is
    // verified before anything runs.
    let id = serde_json::from_slice::<Id>(payload).map_or_else(|_| String::new(), |r| r.id);
    (id, Some(payload))
}

/// RFC 3339 with nanoseconds, UTC.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// RFC 3339 to the second, UTC (the job record's `created`).
pub fn rfc3339_seconds(t: time::OffsetDateTime) -> String {
    rfc3339(t.replace_nanosecond(0).unwrap_or(t))
}

/// Overall state of a job, computed from its events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OverallStatus {
    Submitted,
    Processing,
    Completed,
    Failed,
    PartialFailure,
}

impl OverallStatus {
    pub const ALL: [OverallStatus; 5] = [
        Self::Submitted,
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::PartialFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::PartialFailure => "partial_failure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// `{"type": ..., "data": {...}}`: the operation a job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobOperation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
}

/// One host's answer in a job detail, keyed by sanitized hostname.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobHostResponse {
    /// `completed` or `failed`.
    #[schema(value_type = String)]
    pub status: JobStatus,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// Always present: `null` for queries.
    #[serde(default)]
    #[serialize_always]
    pub changed: Option<bool>,
    pub error: Option<String>,
    pub hostname: String,
}

/// A host's progress on a job.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentState {
    /// Its furthest event: `acknowledged`, `started`, `completed` or `failed`.
    pub status: String,
    pub error: Option<String>,
    /// From `started` to the outcome, as a Go duration (`1.5s`).
    pub duration: Option<String>,
}

/// One lifecycle event of a job, or a drain/state event of an agent (`drain`, `undrain`,
/// `draining`, `drained`, `ready`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// RFC 3339: seconds for jobs, nanoseconds for agents.
    pub timestamp: String,
    pub event: String,
    pub hostname: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /job/{id}`, and each item of `GET /job` (without `responses`, `agent_states`
/// and `timeline`, and with `changed` always `null`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobDetailResponse {
    pub id: String,
    pub status: OverallStatus,
    /// RFC 3339, seconds.
    pub created: String,
    pub operation: JobOperation,
    /// The agent's data when exactly one host answered.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Always serialized: one answer's `changed`; several: `true` if any changed, else
    /// `null`.
    #[serde(default)]
    #[serialize_always]
    pub changed: Option<bool>,
    /// The latest agent error, when the job failed.
    pub error: Option<String>,
    /// The last host that completed or failed it.
    pub hostname: Option<String>,
    /// Time of the latest status event (RFC 3339, nanoseconds).
    pub updated_at: Option<String>,
    /// Each host's answer, by sanitized hostname; present when at least one answered.
    pub responses: Option<BTreeMap<String, JobHostResponse>>,
    /// Each host's progress, by hostname.
    pub agent_states: Option<BTreeMap<String, AgentState>>,
    /// Events in time order.
    pub timeline: Option<Vec<TimelineEvent>>,
    /// The target as the caller wrote it (osapi extension).
    #[serde(default)]
    pub target: String,
    /// The job this one retried (osapi extension).
    pub retry_of: Option<String>,
    /// The jobs that retried this one (osapi extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_as: Vec<String>,
}

/// `GET /job`: one page, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListJobsResponse {
    /// Jobs matching the filter.
    pub total_items: usize,
    /// Totals of every status over all jobs (not just the filter); `null` when there
    /// are no jobs.
    #[serde(default)]
    pub status_counts: Option<BTreeMap<String, usize>>,
    pub items: Vec<JobDetailResponse>,
}

/// Body of `POST /job/{id}/retry` (optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryJobRequest {
    /// Target of the new job; default `_any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1)]
    pub target_hostname: Option<String>,
}

/// The job a retry created.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateJobResponse {
    pub job_id: String,
    /// Always `created`.
    pub status: String,
    /// KV revision of the new job record.
    pub revision: Option<u64>,
    /// When the new job was created (RFC 3339).
    pub timestamp: Option<String>,
    /// The job this one retries (osapi extension).
    pub retry_of: Option<String>,
}

/// Former names of the retry shapes.
pub type RetryRequest = RetryJobRequest;

pub type RetryResponse = CreateJobResponse;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_expires_only_after_its_start_by() {
        let at = |s: &str| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let mut r: JobRecord = serde_json::from_value(serde_json::json!({
            "id": "j", "status": "unprocessed", "created": "2026-01-01T00:00:00Z",
            "subject": "s", "operation": {"type": "node.hostname.get", "data": {}}
        }))
        .unwrap();
        // A record without start_by (a retry, or written by the original) never expires.
        assert!(!r.expired_at(at("2099-01-01T00:00:00Z")));
        r.start_by = Some("2026-01-01T00:00:30.5Z".into());
        assert!(!r.expired_at(at("2026-01-01T00:00:30Z")));
        assert!(r.expired_at(at("2026-01-01T00:00:31Z")));
    }

    #[test]
    fn a_notification_names_its_job_by_id_or_by_the_record_it_carries() {
        let notified = notified_job;
        assert_eq!(notified(b" 0190-ab \n"), ("0190-ab".into(), None));
        let signed = br#"{"id":"0190-cd","status":"unprocessed","signature":{}}"#;
        assert_eq!(notified(signed), ("0190-cd".into(), Some(&signed[..])));
        // Unreadable: no id to report under, and the record is refused when opened.
        assert_eq!(notified(b"{oops"), (String::new(), Some(&b"{oops"[..])));
    }

    #[test]
    fn a_started_event_with_its_subject_stands_for_the_acknowledgement_too() {
        let data = serde_json::json!({"subject": "osapi.jobs.query.host.web", "pid": 7});
        let combined = StatusEvent::now("j", JobEvent::Started, "web", data);
        // Written by an agent before December 2026: the pair, each stored.
        let acked = StatusEvent::now("j", JobEvent::Acknowledged, "db", Value::Null);
        let started = StatusEvent::now("j", JobEvent::Started, "db", serde_json::json!({"pid": 8}));
        let done = StatusEvent::now("j", JobEvent::Completed, "web", Value::Null);
        let all = with_acknowledgements([combined.clone(), acked, started, done]);
        let names: Vec<_> = all
            .iter()
            .map(|e| (e.event.as_str(), e.hostname.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("acknowledged", "web"),
                ("started", "web"),
                ("acknowledged", "db"),
                ("started", "db"),
                ("completed", "web"),
            ]
        );
        let implied = &all[0];
        assert_eq!(implied.unix_nano, combined.unix_nano);
        assert_eq!(
            implied.data,
            serde_json::json!({"subject": "osapi.jobs.query.host.web"})
        );
        assert_ne!(implied.key(), combined.key());
    }
}
