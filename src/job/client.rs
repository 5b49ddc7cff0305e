//! The controller's side of the pipeline: write the job record, publish the notification,
//! and wait for per-host responses by watching the response bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use super::record::{rfc3339, rfc3339_seconds, JobRecord, JobResponse, Operation};
use super::subject::OpKind;
use super::target::Target;
use crate::nats::connect::is_connected;
use crate::nats::Resources;

/// Submitting or awaiting a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("NATS is unavailable: {0}")]
    Unavailable(String),
    #[error("timeout waiting for job {job_id}: no agent answered within {}s", timeout.as_secs())]
    Timeout { job_id: String, timeout: Duration },
}

/// What came back for a job.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub job_id: String,
    /// One response per answering host, in hostname order.
    pub responses: Vec<JobResponse>,
    /// Expected hosts that did not answer in time (broadcasts only).
    pub missing: Vec<String>,
}

/// One job to run.
#[derive(Debug, Clone)]
pub struct Submit<'a> {
    pub op: &'a str,
    pub kind: OpKind,
    pub data: Value,
    pub target: &'a Target,
    /// Hosts a broadcast waits for.
    pub expected: &'a [String],
    /// How long to wait for answers.
    pub wait: Duration,
}

/// Submits jobs and collects their results.
#[derive(Clone)]
pub struct JobClient {
    client: async_nats::Client,
    resources: Resources,
    timeout: Duration,
}

fn unavailable(e: impl std::fmt::Display) -> JobError {
    JobError::Unavailable(e.to_string())
}

impl JobClient {
    pub fn new(client: async_nats::Client, resources: Resources, timeout: Duration) -> Self {
        Self {
            client,
            resources,
            timeout,
        }
    }

    /// The registry bucket (for target validation and expected hosts).
    pub fn registry(&self) -> &kv::Store {
        &self.resources.registry
    }

    /// The configured wait for answers (`controller.api.job_timeout`).
    pub fn default_wait(&self) -> Duration {
        self.timeout
    }

    /// Stores a new job record for `op` on `target`.
    async fn create(
        &self,
        op: &str,
        kind: OpKind,
        data: Value,
        target: &Target,
        retry_of: Option<String>,
        start_by: Option<Duration>,
    ) -> Result<JobRecord, JobError> {
        if !is_connected(&self.client) {
            return Err(JobError::Unavailable("not connected".into()));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let record = JobRecord {
            id: id.clone(),
            status: "unprocessed".into(),
            created: rfc3339_seconds(time::OffsetDateTime::now_utc()),
            subject: self.resources.names.subjects().for_target(kind, target),
            operation: Operation {
                kind: op.to_owned(),
                data,
            },
            target: target.to_string(),
            kind,
            retry_of,
            start_by: start_by.map(|wait| rfc3339(time::OffsetDateTime::now_utc() + wait)),
        };
        let body = serde_json::to_vec(&record).map_err(unavailable)?;
        self.resources
            .jobs
            .put(JobRecord::key(&id), body.into())
            .await
            .map_err(unavailable)?;
        Ok(record)
    }

    /// Publishes the notification of a stored job and waits for the stream's ack. The
    /// trace context travels in the message headers.
    async fn publish(&self, record: &JobRecord) -> Result<(), JobError> {
        use opentelemetry::trace::TraceContextExt;
        let (cx, headers) = crate::telemetry::otel::publish_headers(&record.subject, &record.id);
        let result = async {
            self.resources
                .js
                .publish_with_headers(record.subject.clone(), headers, record.id.clone().into())
                .await
                .map_err(unavailable)?
                .await
                .map_err(unavailable)
        }
        .await;
        cx.span().end();
        result.map(|_| ())
    }

    /// Creates and publishes a job without waiting for it (retry). Returns its record.
    pub async fn submit(
        &self,
        op: &str,
        kind: OpKind,
        data: Value,
        target: &Target,
        retry_of: Option<String>,
    ) -> Result<JobRecord, JobError> {
        // Nobody waits for a retried job: it may start whenever an agent takes it.
        let record = self.create(op, kind, data, target, retry_of, None).await?;
        self.event(
            &record.id,
            "submitted",
            "_api",
            serde_json::json!({"target": target.to_string()}),
        )
        .await;
        self.publish(&record).await?;
        Ok(record)
    }

    /// Appends a status event; best effort, like the agent's.
    pub async fn event(&self, job_id: &str, name: &str, host: &str, data: Value) {
        super::record::write_event(&self.resources.jobs, job_id, name, host, data).await;
    }

    /// Runs the job and waits for the answers.
    ///
    /// A unicast returns on the first response. A broadcast returns when every host in
    /// `expected` has answered, or at the timeout with the silent hosts in `missing`.
    /// Hosts that stayed silent get a `failed` event, so the job does not look pending
    /// forever; a late answer still overrides it.
    pub async fn run(&self, job: Submit<'_>) -> Result<JobOutcome, JobError> {
        let Submit {
            op,
            kind,
            data,
            target,
            expected,
            wait,
        } = job;
        let record = self
            .create(op, kind, data, target, None, Some(wait))
            .await?;
        let job_id = record.id.clone();
        // Watch before publishing so that no response can slip past.
        let mut watch = self
            .resources
            .responses
            .watch(JobResponse::watch_filter(&job_id))
            .await
            .map_err(unavailable)?;
        self.publish(&record).await?;
        let deadline = Instant::now() + wait;
        let mut got: BTreeMap<String, JobResponse> = BTreeMap::new();
        loop {
            let entry = match tokio::time::timeout_at(deadline, watch.next()).await {
                Err(_) | Ok(None) => break,
                Ok(Some(entry)) => entry.map_err(unavailable)?,
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            let response: JobResponse = match serde_json::from_slice(&entry.value) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(key = %entry.key, error = %e, "unreadable job response");
                    continue;
                }
            };
            got.insert(response.hostname.clone(), response);
            let done = !target.is_broadcast() || expected.iter().all(|h| got.contains_key(h));
            if done {
                break;
            }
        }
        let missing: Vec<String> = if got.is_empty() && !target.is_broadcast() {
            vec![match target {
                Target::Host(h) => h.clone(),
                _ => target.to_string(),
            }]
        } else {
            expected
                .iter()
                .filter(|h| !got.contains_key(*h))
                .cloned()
                .collect()
        };
        let reason = format!("no response within {}s", wait.as_secs());
        for host in &missing {
            let data = serde_json::json!({"error": reason});
            self.event(&job_id, "failed", host, data).await;
        }
        if got.is_empty() {
            return Err(JobError::Timeout {
                job_id,
                timeout: wait,
            });
        }
        Ok(JobOutcome {
            job_id,
            responses: got.into_values().collect(),
            missing,
        })
    }
}
