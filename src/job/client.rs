//! The controller's side of the pipeline: write the job record, publish the notification,
//! and wait for per-host responses through the process's shared [`ResponseHub`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::answers::{AnswerCheck, Rejected};
use super::feed::{FeedError, FleetBus, JobFeed};
use super::hub::{Delivery, HubError, ResponseHub, Waiter};
use super::subject::OpKind;
use super::target::Target;

use crate::nats::connect::{connected_within, write_across_failover, RECONNECT_GRACE};
use crate::nats::Resources;
use crate::security::job_keys::JobSigner;
use crate::wire::job::{
    rfc3339, rfc3339_seconds, JobEvent, JobRecord, JobResponse, JobStatus, Operation,
};

/// Submitting or awaiting a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("NATS is unavailable: {0}")]
    Unavailable(#[source] crate::nats::BoxError),
    #[error("timeout waiting for job {job_id}: no agent answered within {}s", timeout.as_secs())]
    Timeout { job_id: String, timeout: Duration },
    /// The job record would not fit in one NATS message: nothing was stored.
    #[error("the request is too large: its job would be {size} bytes, and NATS carries at most {limit} per message")]
    TooLarge { size: usize, limit: usize },
}

/// Room a record needs beside its body in a KV message (subject, headers).
const MESSAGE_OVERHEAD: usize = 1024;

/// What came back for a job.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub job_id: String,
    /// One response per answering host, in hostname order.
    pub responses: Vec<JobResponse>,
    /// Expected hosts that did not answer in time (broadcasts only).
    pub missing: Vec<String>,
}

/// What a new job is: the operation, its data and where it goes.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub op: &'a str,
    pub kind: OpKind,
    pub data: Value,
    pub target: &'a Target,
}

/// A job record as stored: the record, its KV revision and its signed bytes (which the
/// notification carries too).
struct Stored {
    record: JobRecord,
    revision: u64,
    signed: bytes::Bytes,
}

/// One job to run and wait for.
#[derive(Debug, Clone)]
pub struct Submit<'a> {
    pub job: NewJob<'a>,
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
    hub: ResponseHub,
    signer: Arc<JobSigner>,
    /// How long a record stays valid for agents (`expires`).
    lifetime: Duration,
    answers: AnswerCheck,
    feed: JobFeed,
}

/// The job client's subscriptions could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// A job published and not yet collected: [`JobClient::finish`] waits for its answers.
pub struct Running {
    /// The job's id.
    pub job_id: String,
    target: Target,
    expected: Vec<String>,
    deadline: Instant,
    wait: Duration,
    waiter: Waiter,
}

fn unavailable(e: impl Into<crate::nats::BoxError>) -> JobError {
    JobError::Unavailable(e.into())
}

impl JobClient {
    /// Starts the shared answer subscription; it lives until `cancel` fires. Records are
    /// signed by `signing.0` and valid for agents for `signing.1`.
    pub async fn start(
        client: async_nats::Client,
        resources: Resources,
        timeout: Duration,
        signing: (Arc<JobSigner>, Duration),
        cancel: CancellationToken,
    ) -> Result<Self, StartError> {
        Self::start_with(
            client,
            resources,
            timeout,
            signing,
            FleetBus::default(),
            cancel,
        )
        .await
    }

    /// [`JobClient::start`], with the job event feed publishing `job.created` and
    /// `job.finished` on `fleet`.
    pub async fn start_with(
        client: async_nats::Client,
        resources: Resources,
        timeout: Duration,
        signing: (Arc<JobSigner>, Duration),
        fleet: FleetBus,
        cancel: CancellationToken,
    ) -> Result<Self, StartError> {
        let feed = JobFeed::start(
            &client,
            resources.jobs.clone(),
            resources.responses.clone(),
            fleet,
            cancel.clone(),
        )
        .await?;
        let hub = ResponseHub::start(
            &client,
            resources.responses.clone(),
            Some(feed.clone()),
            cancel,
        )
        .await?;
        let (signer, lifetime) = signing;
        let answers = AnswerCheck::new(resources.registry.clone());
        Ok(Self {
            answers,
            client,
            resources,
            timeout,
            hub,
            signer,
            lifetime,
            feed,
        })
    }

    /// The feed of job events (for streams following jobs).
    pub fn feed(&self) -> &JobFeed {
        &self.feed
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
        job: NewJob<'_>,
        retry_of: Option<String>,
        start_by: Option<Duration>,
        expected: &[String],
    ) -> Result<Stored, JobError> {
        let NewJob {
            op,
            kind,
            data,
            target,
        } = job;
        // A restarting server is back within a second: wait for it rather than fail.
        if !connected_within(&self.client, RECONNECT_GRACE).await {
            return Err(JobError::Unavailable("not connected".into()));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let now = time::OffsetDateTime::now_utc();
        let record = JobRecord {
            id: id.clone(),
            status: "unprocessed".into(),
            created: rfc3339_seconds(now),
            subject: self.resources.names.subjects().for_target(kind, target),
            operation: Operation {
                kind: op.to_owned(),
                data,
            },
            target: target.to_string(),
            kind,
            retry_of,
            start_by: start_by.map(|wait| rfc3339(now + wait)),
            expires: Some(rfc3339(now + self.lifetime)),
            expected: target.is_broadcast().then(|| expected.to_vec()),
        };
        let body = serde_json::to_vec(&record).map_err(unavailable)?;
        let body = self.signer.sign_record(&body).map_err(unavailable)?;
        let limit = self.client.server_info().max_payload;
        if body.len() + MESSAGE_OVERHEAD > limit {
            return Err(JobError::TooLarge {
                size: body.len() + MESSAGE_OVERHEAD,
                limit,
            });
        }
        let (key, body) = (JobRecord::key(&id), bytes::Bytes::from(body));
        // Storing the same record twice is harmless; losing it to a restart is not.
        let revision = write_across_failover(&self.client, || {
            self.resources.jobs.put(key.as_str(), body.clone())
        })
        .await
        .map_err(JobError::Unavailable)?;
        Ok(Stored {
            record,
            revision,
            signed: body,
        })
    }

    /// Publishes the notification of a stored job and waits for the stream's ack. It
    /// carries the signed record, so an agent seeing it for the first time need not read
    /// the record back; the trace context travels in the message headers.
    async fn publish(&self, stored: &Stored) -> Result<(), JobError> {
        let record = &stored.record;
        use opentelemetry::trace::TraceContextExt;
        let (cx, mut headers) =
            crate::telemetry::otel::publish_headers(&record.subject, &record.id);
        // The stream drops a second copy (within its duplicate window), so a publish
        // whose ack was lost can be sent again.
        headers.insert(async_nats::header::NATS_MESSAGE_ID, record.id.as_str());
        let result = write_across_failover(&self.client, || async {
            self.resources
                .js
                .publish_with_headers(
                    record.subject.clone(),
                    headers.clone(),
                    stored.signed.clone(),
                )
                .await?
                .await
        })
        .await;
        cx.span().end();
        result.map(|_| ()).map_err(JobError::Unavailable)
    }

    /// Creates and publishes a job without waiting for it (retry). Returns its record and
    /// the KV revision it was stored at.
    pub async fn submit(
        &self,
        job: NewJob<'_>,
        retry_of: Option<String>,
    ) -> Result<(JobRecord, u64), JobError> {
        let target = job.target.to_string();
        // Nobody waits for a retried job: it may start whenever an agent takes it.
        let stored = self.create(job, retry_of, None, &[]).await?;
        let data = serde_json::json!({ "target": target });
        self.event(&stored.record.id, JobEvent::Submitted, "_api", data)
            .await;
        if let Err(e) = self.publish(&stored).await {
            self.fail_unpublished(&stored.record.id, &e).await;
            return Err(e);
        }
        Ok((stored.record, stored.revision))
    }

    /// Records why a stored job was never published, so that it does not stay `submitted`.
    async fn fail_unpublished(&self, job_id: &str, e: &JobError) {
        tracing::warn!(%job_id, error = %e, "job stored but not published");
        let data = serde_json::json!({"error": "not published: NATS was unavailable"});
        self.event(job_id, JobEvent::Failed, "_api", data).await;
    }

    /// Appends a status event; best effort, like the agent's.
    pub async fn event(&self, job_id: &str, name: JobEvent, host: &str, data: Value) {
        super::store::write_event(&self.client, &self.resources.jobs, job_id, name, host, data)
            .await;
    }

    /// Runs the job and waits for the answers.
    ///
    /// A unicast returns on the first response. A broadcast returns when every host in
    /// `expected` has answered, or at the timeout with the silent hosts in `missing`.
    /// Hosts that stayed silent get a `failed` event, so the job does not look pending
    /// forever; a late answer still overrides it.
    pub async fn run(&self, job: Submit<'_>) -> Result<JobOutcome, JobError> {
        let running = self.start_job(job).await?;
        self.finish(running).await
    }

    /// Stores and publishes the job, registered for its answers first; collect them with
    /// [`JobClient::finish`].
    pub async fn start_job(&self, job: Submit<'_>) -> Result<Running, JobError> {
        let Submit {
            job,
            expected,
            wait,
        } = job;
        let target = job.target.clone();
        let stored = self.create(job, None, Some(wait), expected).await?;
        let job_id = stored.record.id.clone();
        // Registered before publishing so that no answer can slip past.
        let waiter = self.hub.wait_for(&job_id);
        if let Err(e) = self.publish(&stored).await {
            self.fail_unpublished(&job_id, &e).await;
            return Err(e);
        }
        Ok(Running {
            job_id,
            target,
            expected: expected.to_vec(),
            deadline: Instant::now() + wait,
            wait,
            waiter,
        })
    }

    /// Waits for a started job's answers (see [`JobClient::run`]).
    pub async fn finish(&self, running: Running) -> Result<JobOutcome, JobError> {
        let Running {
            job_id,
            target,
            expected,
            deadline,
            wait,
            mut waiter,
        } = running;
        let done = |got: &BTreeMap<String, JobResponse>| {
            !got.is_empty()
                && (!target.is_broadcast() || expected.iter().all(|h| got.contains_key(h)))
        };
        let Gathered { got, rejected } = collect(&mut waiter, &self.answers, deadline, done).await;
        for r in rejected {
            let data = serde_json::json!({"error": r.reason});
            let host = r.response.hostname;
            self.event(&job_id, JobEvent::Failed, &host, data).await;
        }
        let missing: Vec<String> = if got.is_empty() && !target.is_broadcast() {
            vec![match &target {
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
            self.event(&job_id, JobEvent::Failed, host, data).await;
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

/// What came back for one job: each host's answer, and the answers rejected (their
/// host's entry in `got` says so).
#[derive(Default)]
struct Gathered {
    got: BTreeMap<String, JobResponse>,
    rejected: Vec<Rejected>,
}

impl Gathered {
    /// Takes a stored answer whose signature `check` accepts; a rejected one becomes its
    /// host's failed result unless that host has a good answer already.
    async fn take(&mut self, check: &AnswerCheck, job_id: &str, host: &str, bytes: &[u8]) {
        match check.accept(job_id, host, bytes).await {
            Ok(answer) => {
                self.got.insert(answer.hostname.clone(), answer);
            }
            Err(rejected) => {
                tracing::warn!(%job_id, host = %rejected.response.hostname, "{}", rejected.reason);
                let host = rejected.response.hostname.clone();
                if !self
                    .got
                    .get(&host)
                    .is_some_and(|a| a.status != JobStatus::Failed)
                {
                    self.got.insert(host, rejected.response.clone());
                }
                self.rejected.push(rejected);
            }
        }
    }

    async fn reread(&mut self, check: &AnswerCheck, waiter: &Waiter) {
        match waiter.reread().await {
            Ok(answers) => {
                for (host, bytes) in answers {
                    self.take(check, waiter.job_id(), &host, &bytes).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot re-read job answers"),
        }
    }
}

/// Gathers answers until `done` holds or the deadline passes. Answers missed by the
/// subscription (a reconnect, a dropped message) are read from the bucket after a
/// reconnect and once more before giving up; without a hub (shutting down) the bucket is
/// polled. Only answers whose signature `check` accepts count as the host's.
async fn collect(
    waiter: &mut Waiter,
    check: &AnswerCheck,
    deadline: Instant,
    done: impl Fn(&BTreeMap<String, JobResponse>) -> bool,
) -> Gathered {
    let mut out = Gathered::default();
    let job_id = waiter.job_id().to_owned();
    while !done(&out.got) {
        match tokio::time::timeout_at(deadline, waiter.next()).await {
            Err(_) => break,
            Ok(Some(Delivery::Answer { host, bytes })) => {
                out.take(check, &job_id, &host, &bytes).await
            }
            Ok(Some(Delivery::Reread)) => out.reread(check, waiter).await,
            Ok(None) => {
                out.reread(check, waiter).await;
                if Instant::now() + POLL >= deadline {
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
    if !done(&out.got) {
        out.reread(check, waiter).await;
    }
    out
}

/// How often a waiter without a hub reads the bucket.
const POLL: Duration = Duration::from_millis(200);
