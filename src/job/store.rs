//! Reading and removing stored jobs: list with per-status totals, detail with events and
//! per-host responses. Scans use subject filters (`jobs.*`, `status.<id>.>`), so listing
//! never reads response payloads and detail never scans other jobs.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::record::{JobRecord, JobResponse, JobStatus, StatusEvent};
use super::target::sanitize_hostname;

/// Reading the job buckets failed.
#[derive(Debug, thiserror::Error)]
#[error("job store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
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

/// Rank of a per-host event: the highest one a host reached is its state.
fn rank(event: &str) -> Option<u8> {
    match event {
        "acknowledged" => Some(1),
        "started" => Some(2),
        "failed" => Some(3),
        "completed" => Some(4),
        _ => None,
    }
}

/// Overall status from each host's furthest event (`_api` and `retried` are ignored).
///
/// A unicast job runs on one agent at a time: once any host reached an outcome, a host
/// still marked started is one that vanished and whose delivery moved on, so outcomes
/// decide (a completion beats a timeout or dead letter). A broadcast needs every host.
pub fn overall_status<'a>(
    host_events: impl IntoIterator<Item = &'a str>,
    unicast: bool,
) -> OverallStatus {
    let (mut any, mut running, mut ok, mut failed) = (false, false, false, false);
    for e in host_events {
        any = true;
        match e {
            "completed" => ok = true,
            "failed" => failed = true,
            _ => running = true,
        }
    }
    if unicast && ok {
        return OverallStatus::Completed;
    }
    if unicast && failed {
        return OverallStatus::Failed;
    }
    match (any, running, ok, failed) {
        (false, ..) => OverallStatus::Submitted,
        (_, true, ..) => OverallStatus::Processing,
        (_, _, true, true) => OverallStatus::PartialFailure,
        (_, _, false, true) => OverallStatus::Failed,
        _ => OverallStatus::Completed,
    }
}

fn is_unicast(target: &str) -> bool {
    super::Target::parse(target).is_ok_and(|t| !t.is_broadcast())
}

/// The job id, event and (sanitised) host named by a status key,
/// `status.<id>.<event>.<host>.<nanos>`.
fn event_key_parts(key: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = key.splitn(5, '.').collect();
    let [_, id, event, host, _] = parts[..] else {
        return None;
    };
    Some((id, event, host))
}

/// Each host's furthest event for every job, from status key names alone.
pub fn host_states(keys: &[String]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut jobs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for key in keys {
        let Some((id, event, host)) = event_key_parts(key) else {
            continue;
        };
        let Some(r) = rank(event) else { continue };
        let hosts = jobs.entry(id.to_owned()).or_default();
        let keep = hosts
            .get(host)
            .and_then(|e| rank(e))
            .is_none_or(|old| r > old);
        if keep {
            hosts.insert(host.to_owned(), event.to_owned());
        }
    }
    jobs
}

/// Latest values under `filter` in a job bucket.
async fn scan(
    store: &kv::Store,
    filter: &str,
    values: bool,
) -> Result<Vec<(String, Bytes)>, StoreError> {
    crate::nats::kv_scan::scan(store, filter, values)
        .await
        .map_err(err)
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobHostResponse {
    /// `completed` or `failed`.
    #[schema(value_type = String)]
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// Always present: `null` for queries.
    #[serde(default)]
    pub changed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub hostname: String,
}

/// A host's progress on a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentState {
    /// Its furthest event: `acknowledged`, `started`, `completed` or `failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From `started` to the outcome, as a Go duration (`1.5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// One lifecycle event of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// RFC 3339, seconds.
    pub timestamp: String,
    pub event: String,
    pub hostname: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /job/{id}`, and each item of `GET /job` (without `responses`, `agent_states`
/// and `timeline`, and with `changed` always `null`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobDetailResponse {
    pub id: String,
    pub status: OverallStatus,
    /// RFC 3339, seconds.
    pub created: String,
    pub operation: JobOperation,
    /// The agent's data when exactly one host answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Always serialized: one answer's `changed`; several: `true` if any changed, else
    /// `null`.
    #[serde(default)]
    pub changed: Option<bool>,
    /// The latest agent error, when the job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last host that completed or failed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Time of the latest status event (RFC 3339, nanoseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Each host's answer, by sanitized hostname; present when at least one answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses: Option<BTreeMap<String, JobHostResponse>>,
    /// Each host's progress, by hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_states: Option<BTreeMap<String, AgentState>>,
    /// Events in time order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEvent>>,
    /// The target as the caller wrote it (osapi extension).
    #[serde(default)]
    pub target: String,
    /// The job this one retried (osapi extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// Every status at zero.
pub fn zero_counts() -> BTreeMap<String, usize> {
    OverallStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect()
}

/// Every job's record and overall status, newest first, and every status event key.
async fn all_jobs(
    jobs: &kv::Store,
) -> Result<(Vec<(JobRecord, OverallStatus)>, Vec<String>), StoreError> {
    let records = scan(jobs, "jobs.*", true).await?;
    let status_keys: Vec<String> = scan(jobs, "status.>", false)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let states = host_states(&status_keys);
    let mut all: Vec<(JobRecord, OverallStatus)> = records
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice::<JobRecord>(&bytes).ok())
        .map(|r| {
            let hosts = states.get(&r.id).cloned().unwrap_or_default();
            let status = overall_status(hosts.values().map(String::as_str), is_unicast(&r.target));
            (r, status)
        })
        .collect();
    // UUID v7 ids sort by creation time: newest first.
    all.sort_by(|a, b| b.0.id.cmp(&a.0.id));
    Ok((all, status_keys))
}

/// Status event keys grouped by job id.
fn by_job(status_keys: Vec<String>) -> BTreeMap<String, Vec<String>> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in status_keys {
        if let Some((id, ..)) = event_key_parts(&key) {
            grouped.entry(id.to_owned()).or_default().push(key);
        }
    }
    grouped
}

fn count(all: &[(JobRecord, OverallStatus)]) -> BTreeMap<String, usize> {
    let mut counts = zero_counts();
    for (_, s) in all {
        *counts.entry(s.as_str().to_owned()).or_default() += 1;
    }
    counts
}

/// Number of jobs and the totals per status (for health).
pub async fn totals(jobs: &kv::Store) -> Result<(usize, BTreeMap<String, usize>), StoreError> {
    let (all, _) = all_jobs(jobs).await?;
    Ok((all.len(), count(&all)))
}

/// Jobs of a listing page read at once.
const PAGE_READS: usize = 16;

/// One page of jobs, newest first; only the page's events and responses are read.
pub async fn list(
    jobs: &kv::Store,
    responses: &kv::Store,
    status: Option<OverallStatus>,
    limit: usize,
    offset: usize,
) -> Result<ListJobsResponse, StoreError> {
    let (all, status_keys) = all_jobs(jobs).await?;
    let mut event_keys = by_job(status_keys);
    let status_counts = (!all.is_empty()).then(|| count(&all));
    let filtered: Vec<JobRecord> = all
        .into_iter()
        .filter(|(_, s)| status.is_none_or(|f| *s == f))
        .map(|(r, _)| r)
        .collect();
    let total_items = filtered.len();
    // The page's events and answers are read by key (their keys are known from the
    // status scan), a few jobs at a time, in page order.
    let page: Vec<(JobRecord, Vec<String>)> = filtered
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|r| {
            let keys = event_keys.remove(&r.id).unwrap_or_default();
            (r, keys)
        })
        .collect();
    let items = futures::stream::iter(page)
        .map(|(record, keys)| detail_by_keys(jobs, responses, record, keys))
        .buffered(PAGE_READS)
        .map_ok(|mut d| {
            d.changed = None;
            d.responses = None;
            d.agent_states = None;
            d.timeline = None;
            d
        })
        .try_collect::<Vec<_>>()
        .await?;
    Ok(ListJobsResponse {
        total_items,
        status_counts,
        items,
    })
}

/// The job, or `None` if it does not exist.
pub async fn get(
    jobs: &kv::Store,
    responses: &kv::Store,
    id: &str,
) -> Result<Option<JobDetailResponse>, StoreError> {
    let Some(bytes) = jobs.get(JobRecord::key(id)).await.map_err(err)? else {
        return Ok(None);
    };
    let record: JobRecord = serde_json::from_slice(&bytes).map_err(err)?;
    detail(jobs, responses, record).await.map(Some)
}

/// A job's detail from its record, events and responses.
async fn detail(
    jobs: &kv::Store,
    responses: &kv::Store,
    record: JobRecord,
) -> Result<JobDetailResponse, StoreError> {
    let id = record.id.clone();
    let events: Vec<StatusEvent> = scan(jobs, &format!("status.{id}.>"), true)
        .await?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect();
    let answers: Vec<JobResponse> = scan(responses, &format!("{id}.*"), true)
        .await?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice::<JobResponse>(&v).ok())
        .collect();
    Ok(build_detail(record, events, answers))
}

/// A job's detail from its record and the known keys of its events: direct reads, no
/// scans. Answers are read for the hosts that recorded events (every host that runs a
/// job records that it started).
async fn detail_by_keys(
    jobs: &kv::Store,
    responses: &kv::Store,
    record: JobRecord,
    event_keys: Vec<String>,
) -> Result<JobDetailResponse, StoreError> {
    let events: Vec<StatusEvent> =
        futures::future::try_join_all(event_keys.iter().map(|k| jobs.get(k)))
            .await
            .map_err(err)?
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_slice(&v).ok())
            .collect();
    // Event keys carry the host already sanitised, as response keys do.
    let hosts: std::collections::BTreeSet<&str> = event_keys
        .iter()
        .filter_map(|k| event_key_parts(k).map(|(_, _, host)| host))
        .collect();
    let answers: Vec<JobResponse> = futures::future::try_join_all(
        hosts
            .iter()
            .map(|h| responses.get(format!("{}.{h}", record.id))),
    )
    .await
    .map_err(err)?
    .into_iter()
    .flatten()
    .filter_map(|v| serde_json::from_slice::<JobResponse>(&v).ok())
    .collect();
    Ok(build_detail(record, events, answers))
}

fn event_error(e: &StatusEvent) -> Option<String> {
    e.data["error"].as_str().map(str::to_owned)
}

fn message(event: &str, host: &str) -> String {
    match event {
        "submitted" => "Job submitted to queue".to_owned(),
        "acknowledged" => format!("Job acknowledged by worker {host}"),
        "started" => format!("Job processing started on {host}"),
        "completed" => format!("Job completed successfully on {host}"),
        "failed" => format!("Job failed on {host}"),
        "retried" => "Job retried as a new job".to_owned(),
        other => format!("Job {other} on {host}"),
    }
}

fn seconds(unix_nano: i128, fallback: &str) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(unix_nano)
        .map(super::record::rfc3339_seconds)
        .unwrap_or_else(|_| fallback.to_owned())
}

/// Key of a host in `responses`, as the original writes it.
pub fn response_key(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The detail of a job from what is stored about it (pure; see [`get`]).
pub fn build_detail(
    record: JobRecord,
    mut events: Vec<StatusEvent>,
    answers: Vec<JobResponse>,
) -> JobDetailResponse {
    events.sort_by_key(|e| e.unix_nano);
    let mut furthest: BTreeMap<String, String> = BTreeMap::new();
    let mut started: BTreeMap<String, i128> = BTreeMap::new();
    let mut ended: BTreeMap<String, i128> = BTreeMap::new();
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let mut last_error = None;
    let mut hostname = None;
    for e in &events {
        let Some(r) = rank(&e.event) else { continue };
        let keep = furthest
            .get(&e.hostname)
            .and_then(|old| rank(old))
            .is_none_or(|old| r > old);
        if keep {
            furthest.insert(e.hostname.clone(), e.event.clone());
        }
        match e.event.as_str() {
            "started" => {
                started.insert(e.hostname.clone(), e.unix_nano);
            }
            "completed" | "failed" => {
                hostname = Some(e.hostname.clone());
                let start = started.get(&e.hostname).copied();
                if start.is_some_and(|s| s <= e.unix_nano) {
                    ended.insert(e.hostname.clone(), e.unix_nano);
                }
                if let Some(msg) = event_error(e).filter(|_| e.event == "failed") {
                    errors.insert(e.hostname.clone(), msg.clone());
                    last_error = Some(msg);
                }
            }
            _ => {}
        }
    }
    let status = overall_status(
        furthest.values().map(String::as_str),
        is_unicast(&record.target),
    );
    let agent_states: BTreeMap<String, AgentState> = furthest
        .iter()
        .map(|(host, event)| {
            let duration = match (started.get(host), ended.get(host)) {
                (Some(s), Some(e)) if e >= s => Some(go_duration(e - s)),
                _ => None,
            };
            let state = AgentState {
                status: event.clone(),
                error: (event == "failed")
                    .then(|| errors.get(host).cloned())
                    .flatten(),
                duration,
            };
            (host.clone(), state)
        })
        .collect();
    let timeline: Vec<TimelineEvent> = events
        .iter()
        .map(|e| TimelineEvent {
            timestamp: seconds(e.unix_nano, &e.timestamp),
            event: e.event.clone(),
            hostname: e.hostname.clone(),
            message: message(&e.event, &e.hostname),
            error: event_error(e),
        })
        .collect();
    let retried_as = events
        .iter()
        .filter(|e| e.event == "retried")
        .filter_map(|e| e.data["new_job_id"].as_str().map(str::to_owned))
        .collect();
    let mut answers = answers;
    answers.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    if last_error.is_none() {
        last_error = answers.iter().rev().find_map(|a| a.error.clone());
    }
    let (result, changed) = match answers.as_slice() {
        [] => (None, None),
        [one] => (one.data.clone(), one.changed),
        many => (
            None,
            many.iter().any(|a| a.changed == Some(true)).then_some(true),
        ),
    };
    let mut responses: BTreeMap<String, JobHostResponse> = BTreeMap::new();
    for a in answers {
        // The original's key: every byte outside `[A-Za-z0-9_-]` becomes `_`. Two hosts
        // that collide under it (`web.01`, `web_01`) fall back to the injective sanitiser.
        let mut key = response_key(&a.hostname);
        if responses.contains_key(&key) {
            key = sanitize_hostname(&a.hostname);
        }
        let r = JobHostResponse {
            status: a.status,
            data: a.data,
            changed: a.changed,
            error: a.error,
            hostname: a.hostname,
        };
        responses.insert(key, r);
    }
    JobDetailResponse {
        id: record.id,
        status,
        created: record.created,
        operation: JobOperation {
            kind: record.operation.kind,
            data: record.operation.data,
        },
        result,
        changed,
        error: last_error.filter(|_| status == OverallStatus::Failed),
        hostname,
        updated_at: events.last().map(|e| e.timestamp.clone()),
        responses: (!responses.is_empty()).then_some(responses),
        agent_states: Some(agent_states),
        timeline: Some(timeline),
        target: record.target,
        retry_of: record.retry_of,
        retried_as,
    }
}

/// A duration as Go's `time.Duration.String` writes it (`1.5s`, `2m3s`, `150ms`).
pub fn go_duration(nanos: i128) -> String {
    fn frac(v: u128, unit: u128, suffix: &str) -> String {
        let (whole, rest) = (v / unit, v % unit);
        if rest == 0 {
            return format!("{whole}{suffix}");
        }
        let width = unit.ilog10() as usize;
        let digits = format!("{rest:0width$}");
        format!("{whole}.{}{suffix}", digits.trim_end_matches('0'))
    }
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        frac(u, 1_000, "µs")
    } else if u < 1_000_000_000 {
        frac(u, 1_000_000, "ms")
    } else {
        const MIN: u128 = 60_000_000_000;
        const HOUR: u128 = 60 * MIN;
        let (h, m) = (u / HOUR, (u % HOUR) / MIN);
        let s = frac(u % MIN, 1_000_000_000, "s");
        if h > 0 {
            format!("{h}h{m}m{s}")
        } else if m > 0 {
            format!("{m}m{s}")
        } else {
            s
        }
    };
    format!("{sign}{body}")
}

/// Removes the job, its events and its responses. `false` if it did not exist.
pub async fn delete(jobs: &kv::Store, responses: &kv::Store, id: &str) -> Result<bool, StoreError> {
    if jobs.get(JobRecord::key(id)).await.map_err(err)?.is_none() {
        return Ok(false);
    }
    for (key, _) in scan(jobs, &format!("status.{id}.>"), false).await? {
        jobs.purge(&key).await.map_err(err)?;
    }
    for (key, _) in scan(responses, &format!("{id}.*"), false).await? {
        responses.purge(&key).await.map_err(err)?;
    }
    jobs.purge(JobRecord::key(id)).await.map_err(err)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_status_of_broadcasts() {
        let b = |e: &[&str]| overall_status(e.iter().copied(), false);
        assert_eq!(b(&[]), OverallStatus::Submitted);
        assert_eq!(b(&["started"]), OverallStatus::Processing);
        assert_eq!(b(&["completed", "started"]), OverallStatus::Processing);
        assert_eq!(b(&["completed", "completed"]), OverallStatus::Completed);
        assert_eq!(b(&["failed"]), OverallStatus::Failed);
        assert_eq!(b(&["failed", "completed"]), OverallStatus::PartialFailure);
    }

    #[test]
    fn overall_status_of_unicasts_follows_outcomes() {
        let u = |e: &[&str]| overall_status(e.iter().copied(), true);
        assert_eq!(u(&["started"]), OverallStatus::Processing);
        // The first agent vanished mid-run; another completed the redelivery.
        assert_eq!(u(&["started", "completed"]), OverallStatus::Completed);
        // Timed out, then dead-lettered.
        assert_eq!(u(&["started", "failed", "failed"]), OverallStatus::Failed);
        // Timed out at the controller, but the agent answered later.
        assert_eq!(u(&["failed", "completed"]), OverallStatus::Completed);
    }

    #[test]
    fn durations_read_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(150_000_000), "150ms");
        assert_eq!(go_duration(1_250_000), "1.25ms");
        assert_eq!(go_duration(999), "999ns");
        assert_eq!(go_duration(2_500), "2.5µs");
        assert_eq!(go_duration(123_000_000_000), "2m3s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    }

    fn event(event: &str, host: &str, nano: i128, data: serde_json::Value) -> StatusEvent {
        StatusEvent {
            job_id: "j".into(),
            event: event.into(),
            hostname: host.into(),
            timestamp: format!("t{nano}"),
            unix_nano: nano,
            data,
        }
    }

    fn answer(host: &str, status: JobStatus, changed: Option<bool>) -> JobResponse {
        JobResponse {
            job_id: "j".into(),
            status,
            data: Some(serde_json::json!({"host": host})),
            error: (status == JobStatus::Failed).then(|| "boom".into()),
            field: None,
            changed,
            hostname: host.into(),
            timestamp: host.into(),
        }
    }

    fn record(target: &str) -> JobRecord {
        serde_json::from_value(serde_json::json!({
            "id": "j", "status": "unprocessed", "created": "2025-01-01T00:00:00Z",
            "subject": "s", "operation": {"type": "node.hostname.get", "data": {}},
            "target": target,
        }))
        .unwrap()
    }

    #[test]
    fn detail_of_a_failed_unicast() {
        let events = vec![
            event(
                "failed",
                "web.01",
                3_500_000_000,
                serde_json::json!({"error": "boom"}),
            ),
            event("submitted", "_api", 0, serde_json::json!({})),
            event("started", "web.01", 2_000_000_000, serde_json::json!({})),
        ];
        let d = build_detail(
            record("web.01"),
            events,
            vec![answer("web.01", JobStatus::Failed, None)],
        );
        assert_eq!(d.status, OverallStatus::Failed);
        assert_eq!(d.error.as_deref(), Some("boom"));
        assert_eq!(d.hostname.as_deref(), Some("web.01"));
        assert_eq!(d.updated_at.as_deref(), Some("t3500000000"));
        assert_eq!(d.result, Some(serde_json::json!({"host": "web.01"})));
        let states = d.agent_states.unwrap();
        assert_eq!(states["web.01"].duration.as_deref(), Some("1.5s"));
        assert_eq!(states["web.01"].error.as_deref(), Some("boom"));
        assert!(!states.contains_key("_api"));
        let responses = d.responses.unwrap();
        assert_eq!(responses["web_01"].hostname, "web.01");
        let timeline = d.timeline.unwrap();
        let names: Vec<&str> = timeline.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, ["submitted", "started", "failed"]);
        assert_eq!(timeline[2].message, "Job failed on web.01");
        assert_eq!(timeline[2].timestamp, "1970-01-01T00:00:03Z");
        let v = serde_json::to_value(build_detail(record("_all"), vec![], vec![])).unwrap();
        assert!(v["changed"].is_null() && v.as_object().unwrap().contains_key("changed"));
        assert!(v.get("responses").is_none());
    }

    #[test]
    fn changed_of_several_answers() {
        let both = |a, b| {
            build_detail(
                record("_all"),
                vec![],
                vec![
                    answer("a", JobStatus::Completed, a),
                    answer("b", JobStatus::Completed, b),
                ],
            )
        };
        let d = both(Some(false), Some(true));
        assert_eq!(d.changed, Some(true));
        assert_eq!(d.result, None);
        assert_eq!(both(Some(false), None).changed, None);
    }

    #[test]
    fn furthest_event_per_host_from_key_names() {
        let keys: Vec<String> = [
            "status.j1.acknowledged.a.1",
            "status.j1.started.a.2",
            "status.j1.completed.a.3",
            "status.j1.started.b.2",
            "status.j2.retried._api.5",
            "status.j2.failed.a.9",
            "status.j2.started.a.10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = host_states(&keys);
        assert_eq!(s["j1"]["a"], "completed");
        assert_eq!(s["j1"]["b"], "started");
        assert_eq!(s["j2"]["a"], "failed");
        assert!(!s["j2"].contains_key("_api"));
    }
}
