//! What is stored about a job: the record, status events and per-host responses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::subject::OpKind;
use super::target::sanitize_hostname;

/// The requested operation: `{"type": "node.hostname.get", "data": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Operation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: Value,
}

/// The job record, written to the job bucket at `jobs.<id>` before anything is published.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// RFC 3339: the latest time an agent may start the job, when its caller stops
    /// waiting then (osapi extension). A job delivered later (its agents were down or
    /// drained) is recorded as failed instead of running behind the caller's back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_by: Option<String>,
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
    /// KV key of a job record.
    pub fn key(id: &str) -> String {
        format!("jobs.{id}")
    }
}

/// Outcome of one host's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Completed,
    Failed,
}

/// One host's answer, in the response bucket at `<id>.<host>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResponse {
    pub job_id: String,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The request field the host rejected, when the failure was caused by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    pub hostname: String,
    pub timestamp: String,
}

impl JobResponse {
    /// KV key of a host's response.
    pub fn key(job_id: &str, hostname: &str) -> String {
        format!("{job_id}.{}", sanitize_hostname(hostname))
    }

    /// Watch filter for every response of a job.
    pub fn watch_filter(job_id: &str) -> String {
        format!("{job_id}.*")
    }
}

/// An append-only lifecycle event, in the job bucket at
/// `status.<id>.<event>.<host>.<unixnano>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusEvent {
    pub job_id: String,
    pub event: String,
    pub hostname: String,
    pub timestamp: String,
    pub unix_nano: i128,
    #[serde(default)]
    pub data: Value,
}

impl StatusEvent {
    /// A new event stamped now.
    pub fn now(job_id: &str, event: &str, hostname: &str, data: Value) -> Self {
        let now = time::OffsetDateTime::now_utc();
        Self {
            job_id: job_id.to_owned(),
            event: event.to_owned(),
            hostname: hostname.to_owned(),
            timestamp: rfc3339(now),
            unix_nano: now.unix_timestamp_nanos(),
            data,
        }
    }

    /// KV key of this event.
    pub fn key(&self) -> String {
        format!(
            "status.{}.{}.{}.{}",
            self.job_id,
            self.event,
            sanitize_hostname(&self.hostname),
            self.unix_nano
        )
    }
}

/// Appends a status event to the job bucket. Best effort: a lost event is logged and
/// must not fail the job it describes.
pub async fn write_event(
    jobs: &async_nats::jetstream::kv::Store,
    job_id: &str,
    name: &str,
    host: &str,
    data: Value,
) {
    let ev = StatusEvent::now(job_id, name, host, data);
    let Ok(body) = serde_json::to_vec(&ev) else {
        return;
    };
    if let Err(e) = jobs.put(ev.key(), body.into()).await {
        tracing::warn!(%job_id, event = name, error = %e, "cannot write status event");
    }
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
}
