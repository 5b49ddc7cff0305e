//! Following one job from its stored and live events: which events are new, when each
//! host is finished, and when the whole job is (pure, tested without NATS).
//!
//! A host is finished once both its answer and its outcome event (`completed`/`failed`)
//! arrived, or [`SETTLE`] after the first of them: agents write the event just before
//! the answer, but the two come through different subscriptions, and the controller's
//! timeout and the dead-letter follower write a `failed` event with no answer to follow.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::status::{advance, overall_status};
use crate::wire::events::{JobDone, JobStreamEvent};
use crate::wire::job::{rfc3339, JobEvent, JobRecord, JobResponse, JobStatus, StatusEvent};

/// How long a host's answer waits for its outcome event, or the event for its answer.
pub const SETTLE: Duration = Duration::from_secs(1);

/// Writers of job-level events (`failed` when a job was never published or dead-lettered).
const CONTROLLER_HOSTS: [&str; 2] = ["_api", "_dlq"];

/// What is known of one job, and what of it was already told.
#[derive(Debug)]
pub struct Follow {
    job_id: String,
    unicast: bool,
    /// Hosts a broadcast waits for (`None` for records written before osapi kept them).
    expected: Option<BTreeSet<String>>,
    told_submitted: bool,
    told_events: HashSet<String>,
    told_answers: HashSet<(String, String)>,
    furthest: BTreeMap<String, JobEvent>,
    answered: BTreeSet<String>,
    outcome_event: BTreeSet<String>,
    settling: BTreeMap<String, Instant>,
    finished: BTreeSet<String>,
    done: bool,
}

impl Follow {
    /// Follows the job `record` describes.
    pub fn new(record: &JobRecord) -> Self {
        let unicast = super::status::is_unicast(&record.target);
        Self {
            job_id: record.id.clone(),
            unicast,
            expected: (!unicast)
                .then(|| record.expected.clone())
                .flatten()
                .map(|hosts| hosts.into_iter().collect()),
            told_submitted: false,
            told_events: HashSet::new(),
            told_answers: HashSet::new(),
            furthest: BTreeMap::new(),
            answered: BTreeSet::new(),
            outcome_event: BTreeSet::new(),
            settling: BTreeMap::new(),
            finished: BTreeSet::new(),
            done: false,
        }
    }

    /// True once the `done` event was produced.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The `submitted` event of a job stored without one (jobs a caller waits for): the
    /// record is the submission.
    pub fn record(&mut self, record: &JobRecord) -> Option<JobStreamEvent> {
        if self.told_submitted {
            return None;
        }
        self.told_submitted = true;
        let data = serde_json::json!({
            "target": record.target,
            "operation": record.operation.kind,
            "expected": record.expected,
        });
        let mut event = StatusEvent::now(&record.id, JobEvent::Submitted, "_api", data);
        event.timestamp.clone_from(&record.created);
        Some(JobStreamEvent::Status(event))
    }

    /// A status event: told once; an outcome event moves its host towards finished.
    pub fn status(&mut self, event: StatusEvent, now: Instant) -> Vec<JobStreamEvent> {
        if self.done || !self.told_events.insert(event.key()) {
            return Vec::new();
        }
        if event.event == JobEvent::Submitted {
            if self.told_submitted {
                return Vec::new();
            }
            self.told_submitted = true;
        }
        let host = event.hostname.clone();
        advance(&mut self.furthest, &host, event.event.clone());
        let outcome = event.event.is_outcome();
        let mut out = vec![JobStreamEvent::Status(event)];
        if outcome {
            self.outcome_event.insert(host.clone());
            self.progress(&host, now);
        }
        out.extend(self.check_done());
        out
    }

    /// A host's answer: told once (a host answering again is told again).
    pub fn answer(&mut self, answer: JobResponse, now: Instant) -> Vec<JobStreamEvent> {
        let seen = (answer.hostname.clone(), answer.timestamp.clone());
        if self.done || !self.told_answers.insert(seen) {
            return Vec::new();
        }
        let host = answer.hostname.clone();
        let event = match answer.status {
            JobStatus::Failed => JobEvent::Failed,
            JobStatus::Completed | JobStatus::Skipped => JobEvent::Completed,
        };
        advance(&mut self.furthest, &host, event);
        self.answered.insert(host.clone());
        self.progress(&host, now);
        let mut out = vec![JobStreamEvent::Result(answer)];
        out.extend(self.check_done());
        out
    }

    /// Hosts whose settling time ran out count as finished.
    pub fn tick(&mut self, now: Instant) -> Option<JobStreamEvent> {
        let due: Vec<String> = self
            .settling
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(h, _)| h.clone())
            .collect();
        for host in due {
            self.settling.remove(&host);
            self.finished.insert(host);
        }
        self.check_done()
    }

    /// When [`Follow::tick`] has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.settling.values().min().copied()
    }

    /// Hosts finished so far.
    pub fn finished(&self) -> &BTreeSet<String> {
        &self.finished
    }

    /// The job's overall status from what was told.
    pub fn status_now(&self) -> crate::wire::job::OverallStatus {
        overall_status(self.furthest.values(), self.unicast)
    }

    fn progress(&mut self, host: &str, now: Instant) {
        if self.finished.contains(host) {
            return;
        }
        if self.answered.contains(host) && self.outcome_event.contains(host) {
            self.settling.remove(host);
            self.finished.insert(host.to_owned());
        } else {
            self.settling.entry(host.to_owned()).or_insert(now + SETTLE);
        }
    }

    fn check_done(&mut self) -> Option<JobStreamEvent> {
        if self.done || !self.all_finished() {
            return None;
        }
        self.done = true;
        Some(JobStreamEvent::Done(JobDone {
            job_id: self.job_id.clone(),
            status: self.status_now(),
            timestamp: rfc3339(time::OffsetDateTime::now_utc()),
        }))
    }

    fn all_finished(&self) -> bool {
        if CONTROLLER_HOSTS.iter().any(|h| self.finished.contains(*h)) {
            return true;
        }
        if self.unicast {
            return !self.finished.is_empty();
        }
        match &self.expected {
            Some(expected) if !expected.is_empty() => expected.is_subset(&self.finished),
            // Without the list: every host heard of has finished.
            _ => {
                !self.finished.is_empty()
                    && self
                        .furthest
                        .keys()
                        .all(|h| self.finished.contains(h) || h.starts_with('_'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::job::{Operation, OverallStatus};
    use serde_json::Value;

    fn record(target: &str, expected: Option<&[&str]>) -> JobRecord {
        JobRecord {
            id: "j".into(),
            status: "unprocessed".into(),
            created: "2026-01-01T00:00:00Z".into(),
            subject: "s".into(),
            operation: Operation {
                kind: "node.hostname.get".into(),
                data: Value::Null,
            },
            target: target.into(),
            kind: crate::job::OpKind::Query,
            retry_of: None,
            start_by: None,
            expires: None,
            expected: expected.map(|e| e.iter().map(|h| h.to_string()).collect()),
        }
    }

    fn ev(event: JobEvent, host: &str) -> StatusEvent {
        StatusEvent::now("j", event, host, Value::Null)
    }

    fn answer(host: &str, status: JobStatus) -> JobResponse {
        JobResponse {
            job_id: "j".into(),
            status,
            data: None,
            error: None,
            field: None,
            changed: None,
            hostname: host.into(),
            timestamp: format!("t-{host}"),
        }
    }

    fn names(events: &[JobStreamEvent]) -> Vec<&str> {
        events.iter().map(JobStreamEvent::name).collect()
    }

    #[test]
    fn a_unicast_is_done_after_its_outcome_and_answer_each_told_once() {
        let now = Instant::now();
        let mut f = Follow::new(&record("web-01", None));
        assert_eq!(
            names(
                &f.record(&record("web-01", None))
                    .into_iter()
                    .collect::<Vec<_>>()
            ),
            ["submitted"]
        );
        assert!(f.record(&record("web-01", None)).is_none());
        let started = ev(JobEvent::Started, "web-01");
        assert_eq!(names(&f.status(started.clone(), now)), ["started"]);
        assert!(f.status(started, now).is_empty(), "told twice");
        assert_eq!(
            names(&f.status(ev(JobEvent::Completed, "web-01"), now)),
            ["completed"]
        );
        let out = f.answer(answer("web-01", JobStatus::Completed), now);
        assert_eq!(names(&out), ["result", "done"]);
        assert!(matches!(&out[1], JobStreamEvent::Done(d) if d.status == OverallStatus::Completed));
        assert!(f
            .answer(answer("web-01", JobStatus::Completed), now)
            .is_empty());
    }

    #[test]
    fn an_answer_before_its_event_settles_or_meets_the_event() {
        let now = Instant::now();
        let mut f = Follow::new(&record("web-01", None));
        assert_eq!(
            names(&f.answer(answer("web-01", JobStatus::Failed), now)),
            ["result"]
        );
        assert_eq!(f.next_deadline(), Some(now + SETTLE));
        assert!(f.tick(now).is_none());
        let done = f.tick(now + SETTLE).expect("done after settling");
        assert!(matches!(done, JobStreamEvent::Done(d) if d.status == OverallStatus::Failed));
    }

    #[test]
    fn a_broadcast_waits_for_every_expected_host() {
        let now = Instant::now();
        let mut f = Follow::new(&record("_all", Some(&["a", "b"])));
        for host in ["a", "b"] {
            f.status(ev(JobEvent::Started, host), now);
        }
        f.status(ev(JobEvent::Completed, "a"), now);
        assert_eq!(
            names(&f.answer(answer("a", JobStatus::Completed), now)),
            ["result"]
        );
        // The controller's timeout: a failed event for b, no answer to come.
        assert_eq!(names(&f.status(ev(JobEvent::Failed, "b"), now)), ["failed"]);
        assert!(f.tick(now).is_none());
        let done = f.tick(now + SETTLE).expect("done");
        assert!(
            matches!(done, JobStreamEvent::Done(d) if d.status == OverallStatus::PartialFailure)
        );
        assert!(f.is_done());
    }

    #[test]
    fn a_job_failed_by_the_controller_is_done() {
        let now = Instant::now();
        let mut f = Follow::new(&record("_all", Some(&["a", "b"])));
        f.status(ev(JobEvent::Failed, "_api"), now);
        let done = f.tick(now + SETTLE).expect("done");
        assert!(matches!(done, JobStreamEvent::Done(d) if d.status == OverallStatus::Failed));
    }
}
