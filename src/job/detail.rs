//! The detail builder: a job's `/job/{id}` answer from its record, status events and
//! per-host responses (pure; the store reads them).

use std::collections::BTreeMap;

use serde_json::Value;

use super::status::{advance, is_unicast, overall_status};
use super::target::sanitize_hostname;
use crate::wire::job::{
    rfc3339_seconds, with_acknowledgements, AgentState, JobDetailResponse, JobEvent,
    JobHostResponse, JobOperation, JobRecord, JobResponse, JobStatus, OverallStatus, StatusEvent,
    TimelineEvent,
};

fn event_error(e: &StatusEvent) -> Option<String> {
    e.data["error"].as_str().map(str::to_owned)
}

fn message(event: &JobEvent, host: &str) -> String {
    match event {
        JobEvent::Submitted => "Job submitted to queue".to_owned(),
        JobEvent::Acknowledged => format!("Job acknowledged by worker {host}"),
        JobEvent::Started => format!("Job processing started on {host}"),
        JobEvent::Completed => format!("Job completed successfully on {host}"),
        JobEvent::Failed => format!("Job failed on {host}"),
        JobEvent::Retried => "Job retried as a new job".to_owned(),
        JobEvent::Other(other) => format!("Job {other} on {host}"),
    }
}

fn seconds(unix_nano: i128, fallback: &str) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(unix_nano)
        .map(rfc3339_seconds)
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

/// What the events say about each host, in time order.
#[derive(Default)]
struct Progress {
    furthest: BTreeMap<String, JobEvent>,
    started: BTreeMap<String, i128>,
    ended: BTreeMap<String, i128>,
    errors: BTreeMap<String, String>,
    last_error: Option<String>,
    /// The last host that reached an outcome.
    hostname: Option<String>,
}

impl Progress {
    fn of(events: &[StatusEvent]) -> Self {
        let mut p = Self::default();
        for e in events {
            advance(&mut p.furthest, &e.hostname, e.event.clone());
            match e.event {
                JobEvent::Started => {
                    p.started.insert(e.hostname.clone(), e.unix_nano);
                }
                JobEvent::Completed | JobEvent::Failed => p.outcome(e),
                _ => {}
            }
        }
        p
    }

    fn outcome(&mut self, e: &StatusEvent) {
        self.hostname = Some(e.hostname.clone());
        // An outcome before the host's start belongs to an earlier delivery.
        if self
            .started
            .get(&e.hostname)
            .is_some_and(|s| *s <= e.unix_nano)
        {
            self.ended.insert(e.hostname.clone(), e.unix_nano);
        }
        if let Some(msg) = event_error(e).filter(|_| e.event == JobEvent::Failed) {
            self.errors.insert(e.hostname.clone(), msg.clone());
            self.last_error = Some(msg);
        }
    }

    /// A host whose answer is stored reached its outcome, even while the outcome event
    /// (written beside the answer) is not stored yet.
    fn answered(&mut self, answers: &[JobResponse]) {
        for a in answers {
            let host = &a.hostname;
            if self.furthest.get(host).is_some_and(JobEvent::is_outcome) {
                continue;
            }
            let event = match a.status {
                JobStatus::Failed => JobEvent::Failed,
                JobStatus::Completed | JobStatus::Skipped => JobEvent::Completed,
            };
            if let (JobEvent::Failed, Some(error)) = (&event, &a.error) {
                self.errors.insert(host.clone(), error.clone());
            }
            self.furthest.insert(host.clone(), event);
            self.hostname.get_or_insert_with(|| host.clone());
        }
    }

    fn agent_states(&self) -> BTreeMap<String, AgentState> {
        let state = |(host, event): (&String, &JobEvent)| {
            let duration = match (self.started.get(host), self.ended.get(host)) {
                (Some(s), Some(e)) if e >= s => Some(go_duration(e - s)),
                _ => None,
            };
            let error = (*event == JobEvent::Failed)
                .then(|| self.errors.get(host).cloned())
                .flatten();
            let status = event.to_string();
            (
                host.clone(),
                AgentState {
                    status,
                    error,
                    duration,
                },
            )
        };
        self.furthest.iter().map(state).collect()
    }
}

fn timeline(events: &[StatusEvent]) -> Vec<TimelineEvent> {
    events
        .iter()
        .map(|e| TimelineEvent {
            timestamp: seconds(e.unix_nano, &e.timestamp),
            event: e.event.to_string(),
            hostname: e.hostname.clone(),
            message: message(&e.event, &e.hostname),
            error: event_error(e),
        })
        .collect()
}

/// Job data as `/job` shows it: a password's hash (`node.user.create`,
/// `node.user.password`) is masked, so that reading jobs, which every role may, never
/// hands out shadow hashes. The stored record keeps it for the agent.
fn shown(mut data: serde_json::Value) -> serde_json::Value {
    if let Some(hash) = data.get_mut("password_hash").filter(|h| !h.is_null()) {
        *hash = serde_json::Value::String("********".into());
    }
    data
}

/// One answer's data and `changed`; several: no data, `changed` true if any changed.
fn result_and_changed(answers: &[JobResponse]) -> (Option<Value>, Option<bool>) {
    match answers {
        [] => (None, None),
        [one] => (one.data.clone(), one.changed),
        many => (
            None,
            many.iter().any(|a| a.changed == Some(true)).then_some(true),
        ),
    }
}

fn responses(answers: Vec<JobResponse>) -> BTreeMap<String, JobHostResponse> {
    let mut responses = BTreeMap::new();
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
    responses
}

/// The detail of a job from what is stored about it (pure; the store reads it).
pub fn build_detail(
    record: JobRecord,
    events: Vec<StatusEvent>,
    mut answers: Vec<JobResponse>,
) -> JobDetailResponse {
    let mut events = with_acknowledgements(events);
    events.sort_by_key(|e| e.unix_nano);
    answers.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let mut progress = Progress::of(&events);
    progress.answered(&answers);
    let status = overall_status(progress.furthest.values(), is_unicast(&record.target));
    let last_error = progress
        .last_error
        .clone()
        .or_else(|| answers.iter().rev().find_map(|a| a.error.clone()));
    let retried_as = events
        .iter()
        .filter(|e| e.event == JobEvent::Retried)
        .filter_map(|e| e.data["new_job_id"].as_str().map(str::to_owned))
        .collect();
    let (result, changed) = result_and_changed(&answers);
    let responses = responses(answers);
    JobDetailResponse {
        id: record.id,
        status,
        created: record.created,
        operation: JobOperation {
            kind: record.operation.kind,
            data: shown(record.operation.data),
        },
        result,
        changed,
        error: last_error.filter(|_| status == OverallStatus::Failed),
        hostname: progress.hostname.clone(),
        updated_at: events.last().map(|e| e.timestamp.clone()),
        responses: (!responses.is_empty()).then_some(responses),
        agent_states: Some(progress.agent_states()),
        timeline: Some(timeline(&events)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::job::JobStatus;

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
    fn a_stored_answer_is_the_hosts_outcome_before_its_event_is_stored() {
        let started = |host| event("started", host, 1, serde_json::json!({}));
        let d = build_detail(
            record("_all"),
            vec![started("a"), started("b"), started("c")],
            vec![
                answer("a", JobStatus::Completed, None),
                answer("b", JobStatus::Failed, None),
            ],
        );
        let states = d.agent_states.expect("states");
        assert_eq!(states["a"].status, "completed");
        assert_eq!(states["b"].status, "failed");
        assert_eq!(states["b"].error.as_deref(), Some("boom"));
        assert_eq!(states["c"].status, "started");
        assert_eq!(d.status, OverallStatus::Processing);
        let d = build_detail(
            record("web.01"),
            vec![started("web.01")],
            vec![answer("web.01", JobStatus::Completed, None)],
        );
        assert_eq!(d.status, OverallStatus::Completed);
        assert_eq!(d.hostname.as_deref(), Some("web.01"));
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
}
