//! REST endpoints, one module per domain, and the shared machinery of job-backed ones.

pub mod agent;
pub mod audit;
pub mod events;
pub mod facts;
pub mod file;
pub mod health;
pub mod job;
pub mod ops;
pub mod status;

use std::time::Duration;

use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::error::ApiError;
use super::state::AppState;
use crate::job::{JobOutcome, JobStatus, NewJob, Submit};
use crate::wire::ops::OpName;
pub use crate::wire::{Collection, HostItem, HostResult, HostStatus};

/// `routes` behind `permission`: 401 without a valid token, 403 without the permission,
/// and every authenticated call audited.
pub fn guarded(
    routes: axum::Router<AppState>,
    state: &AppState,
    permission: crate::auth::Permission,
) -> axum::Router<AppState> {
    routes.route_layer(axum::middleware::from_fn_with_state(
        (state.clone(), permission),
        crate::controller::auth::require,
    ))
}

/// Route groups, each behind the permission it needs, merged into one router.
pub fn by_permission<const N: usize>(
    state: &AppState,
    groups: [(crate::auth::Permission, axum::Router<AppState>); N],
) -> axum::Router<AppState> {
    groups
        .into_iter()
        .fold(axum::Router::new(), |all, (permission, routes)| {
            all.merge(guarded(routes, state, permission))
        })
}

impl<T: HostItem> Collection<T> {
    /// Converts a job outcome: successes, failures and hosts that stayed silent all appear.
    pub fn from_outcome(outcome: JobOutcome, timeout_secs: u64) -> (Self, bool) {
        let mut failed = false;
        let mut results = Vec::with_capacity(outcome.responses.len() + outcome.missing.len());
        for r in outcome.responses {
            let item = match (r.status, r.data) {
                (JobStatus::Completed, Some(data)) => {
                    match T::expand(&r.hostname, data, r.changed) {
                        Ok(items) => {
                            results.extend(items);
                            continue;
                        }
                        Err(e) => T::from_error(&r.hostname, HostStatus::Failed, e),
                    }
                }
                (JobStatus::Completed, None) => {
                    T::from_error(&r.hostname, HostStatus::Failed, "empty result".into())
                }
                (JobStatus::Skipped, _) => {
                    let reason = r.error.unwrap_or_else(|| "not supported here".into());
                    T::from_error(&r.hostname, HostStatus::Skipped, reason)
                }
                (JobStatus::Failed, _) => {
                    failed = true;
                    let error = r.error.unwrap_or_else(|| "failed".into());
                    T::from_error(&r.hostname, HostStatus::Failed, error)
                }
            };
            results.push(item);
        }
        for host in outcome.missing {
            failed = true;
            let msg = format!("no response within {timeout_secs}s");
            results.push(T::from_error(&host, HostStatus::Failed, msg));
        }
        (
            Self {
                job_id: outcome.job_id,
                results,
            },
            failed,
        )
    }
}

/// Answer of a job-backed endpoint.
pub type JobAnswer<T> = Result<(StatusCode, Json<Collection<T>>), ApiError>;

/// A job ready to submit: its place under `max_inflight`, where it goes and how long its
/// answers are waited for.
struct Planned<'a> {
    backend: &'a crate::controller::state::Backend,
    slot: crate::controller::state::JobSlot,
    target: crate::job::Target,
    expected: Vec<String>,
    wait: Duration,
}

/// Takes a job slot and resolves the target. `op_timeout` is the operation's own time
/// limit: the wait covers it.
async fn plan<'a>(
    state: &'a AppState,
    raw_target: &str,
    op: OpName,
    op_timeout: Option<Duration>,
) -> Result<Planned<'a>, ApiError> {
    let backend = state.backend_for_job().await?;
    let slot = state.job_slot(op.name)?;
    let (target, expected) = backend.resolve_target(raw_target).await?;
    let mut wait = backend.jobs.default_wait();
    if let Some(limit) = op_timeout {
        // Room for delivery and the answer's way back.
        wait = wait.max(limit + Duration::from_secs(5));
    }
    Ok(Planned {
        backend,
        slot,
        target,
        expected,
        wait,
    })
}

/// Stores and publishes the planned job.
async fn start(
    state: &AppState,
    p: &Planned<'_>,
    op: OpName,
    data: Value,
) -> Result<crate::job::client::Running, ApiError> {
    state
        .metrics
        .jobs_created
        .with_label_values(&[op.name])
        .inc();
    let submit = Submit {
        job: NewJob {
            op: op.name,
            kind: op.kind,
            data,
            target: &p.target,
        },
        expected: &p.expected,
        wait: p.wait,
    };
    Ok(p.backend.jobs.start_job(submit).await?)
}

/// Counts a job's outcome in the metrics.
fn finished(
    m: &crate::telemetry::metrics::ControllerMetrics,
    op: OpName,
    started: std::time::Instant,
    outcome: Result<JobOutcome, crate::job::JobError>,
) -> Result<JobOutcome, ApiError> {
    m.job_duration
        .with_label_values(&[op.name])
        .observe(started.elapsed().as_secs_f64());
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            if matches!(e, crate::job::JobError::Timeout { .. }) {
                m.jobs_finished
                    .with_label_values(&[op.name, "timeout"])
                    .inc();
            }
            return Err(e.into());
        }
    };
    for r in &outcome.responses {
        m.jobs_finished
            .with_label_values(&[op.name, r.status.as_str()])
            .inc();
    }
    if !outcome.missing.is_empty() {
        m.jobs_finished
            .with_label_values(&[op.name, "timeout"])
            .inc_by(outcome.missing.len() as u64);
    }
    Ok(outcome)
}

/// Runs `op` on the target in the path and shapes the per-host results.
///
/// A unicast whose single host failed answers 502 (the agent, not the request, failed);
/// broadcasts answer `ok` with per-host errors.
pub async fn run_on_target<T: HostItem>(
    state: &AppState,
    raw_target: &str,
    op: OpName,
    data: Value,
    ok: StatusCode,
    op_timeout: Option<Duration>,
) -> JobAnswer<T> {
    let p = plan(state, raw_target, op, op_timeout).await?;
    let started = std::time::Instant::now();
    let running = start(state, &p, op, data).await?;
    let outcome = p.backend.jobs.finish(running).await;
    let outcome = finished(&state.metrics, op, started, outcome)?;
    if !p.target.is_broadcast() {
        if let Some(rejected) = rejected_field(&outcome) {
            return Err(rejected);
        }
    }
    let (collection, failed) = Collection::from_outcome(outcome, p.wait.as_secs());
    let status = if failed && !p.target.is_broadcast() {
        StatusCode::BAD_GATEWAY
    } else {
        ok
    };
    Ok((status, Json(collection)))
}

/// Submits `op` on the target without waiting: the job id once the job is published.
/// Its answers are still collected in the background (hosts that stay silent are
/// recorded failed at the wait's end), holding the job's `max_inflight` slot till then.
pub async fn submit_on_target(
    state: &AppState,
    raw_target: &str,
    op: OpName,
    data: Value,
    op_timeout: Option<Duration>,
) -> Result<String, ApiError> {
    let p = plan(state, raw_target, op, op_timeout).await?;
    let started = std::time::Instant::now();
    let running = start(state, &p, op, data).await?;
    let job_id = running.job_id.clone();
    let (jobs, metrics, slot) = (p.backend.jobs.clone(), state.metrics.clone(), p.slot);
    tokio::spawn(async move {
        let outcome = jobs.finish(running).await;
        let _ = finished(&metrics, op, started, outcome);
        drop(slot);
    });
    Ok(job_id)
}

/// A host that failed because of one request field (an owner it has no account for):
/// for a unicast that is the caller's mistake, a 400 naming the field.
fn rejected_field(outcome: &JobOutcome) -> Option<ApiError> {
    outcome.responses.iter().find_map(|r| {
        let field = r
            .field
            .as_deref()
            .filter(|_| r.status == JobStatus::Failed)?;
        let error = r.error.as_deref().unwrap_or("rejected");
        Some(ApiError::bad_request(
            field,
            format!("{}: {error}", r.hostname),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobResponse;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Serialize)]
    struct Item(String, Option<String>);

    impl HostItem for Item {
        fn from_data(hostname: &str, _data: Value, _changed: Option<bool>) -> Result<Self, String> {
            Ok(Item(hostname.into(), None))
        }
        fn from_error(hostname: &str, _: HostStatus, error: String) -> Self {
            Item(hostname.into(), Some(error))
        }
        fn status(&self) -> HostStatus {
            HostStatus::Ok
        }
        fn hostname(&self) -> &str {
            &self.0
        }
        fn changed(&self) -> bool {
            false
        }
        fn error(&self) -> Option<String> {
            self.1.clone()
        }
    }

    fn response(host: &str, status: JobStatus) -> JobResponse {
        JobResponse {
            job_id: "j".into(),
            status,
            data: Some(json!({})),
            error: (status == JobStatus::Failed).then(|| "boom".into()),
            field: None,
            changed: None,
            hostname: host.into(),
            timestamp: String::new(),
        }
    }

    #[test]
    fn failures_and_silent_hosts_become_error_items() {
        let outcome = JobOutcome {
            job_id: "j".into(),
            responses: vec![
                response("a", JobStatus::Completed),
                response("b", JobStatus::Failed),
            ],
            missing: vec!["c".into()],
        };
        let (c, failed) = Collection::<Item>::from_outcome(outcome, 30);
        assert!(failed);
        assert_eq!(
            c.results,
            [
                Item("a".into(), None),
                Item("b".into(), Some("boom".into())),
                Item("c".into(), Some("no response within 30s".into())),
            ]
        );
    }

    #[test]
    fn all_completed_is_not_failed() {
        let outcome = JobOutcome {
            job_id: "j".into(),
            responses: vec![response("a", JobStatus::Completed)],
            missing: vec![],
        };
        assert!(!Collection::<Item>::from_outcome(outcome, 30).1);
    }

    #[test]
    fn a_host_rejecting_a_field_names_it() {
        let mut rejected = response("web-01", JobStatus::Failed);
        rejected.error = Some("unknown owner \"nobody-x\"".into());
        rejected.field = Some("owner".into());
        let outcome = JobOutcome {
            job_id: "j".into(),
            responses: vec![response("a", JobStatus::Failed), rejected],
            missing: vec![],
        };
        match rejected_field(&outcome) {
            Some(ApiError::BadRequest { field, message }) => {
                assert_eq!(field, "owner");
                assert_eq!(message, "web-01: unknown owner \"nobody-x\"");
            }
            other => panic!("{other:?}"),
        }
        let plain = JobOutcome {
            job_id: "j".into(),
            responses: vec![response("a", JobStatus::Failed)],
            missing: vec![],
        };
        assert!(rejected_field(&plain).is_none());
    }
}
