//! Pulling job notifications and running them, at most `max_jobs` at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::processor::{execute, ExecContext, OpError};
use super::record::{self, Record};
use crate::job::OpKind;
use crate::nats::connect::{reconnected, write_across_failover};
use crate::nats::Resources;
use crate::security::job_keys::TrustedKeys;
use crate::security::signed::{self, Domain};
use crate::wire::job::{rfc3339, JobEvent, JobRecord, JobResponse, JobStatus};

/// How long one pull request waits on the server for a message.
const PULL_EXPIRY: Duration = Duration::from_secs(5);

/// Shared by every job the agent runs.
pub struct JobContext {
    pub exec: ExecContext,
    /// The agent's connection (a reconnect re-issues the pull at once).
    pub client: async_nats::Client,
    pub resources: Resources,
    /// Period of in-progress acks, so a long job is not redelivered while it runs.
    pub progress_every: Duration,
    pub metrics: Arc<crate::telemetry::metrics::AgentMetrics>,
    /// Fired when the shutdown grace ran out: running jobs are dropped unacknowledged,
    /// so that JetStream redelivers them to another agent.
    pub abandon: CancellationToken,
    /// The controller keys job records must be signed with.
    pub trust: TrustedKeys,
    /// This agent's answer-signing key (its public key is in the registry entry).
    pub answer_key: nkeys::KeyPair,
    /// Jobs this process ran, until their records expire: a record written again and
    /// notified again (a replay) is refused even when its events and answers were deleted.
    pub ran: Mutex<HashMap<String, time::OffsetDateTime>>,
}

impl JobContext {
    /// Notes that `record` runs now; false when it ran here before (a replay).
    fn first_run(&self, record: &JobRecord) -> bool {
        let now = time::OffsetDateTime::now_utc();
        let mut ran = self.ran.lock().unwrap_or_else(PoisonError::into_inner);
        ran.retain(|_, expires| *expires > now);
        let expires = record
            .expires
            .as_deref()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .unwrap_or(now);
        ran.insert(record.id.clone(), expires).is_none()
    }
}

/// Pulls from `consumer` until `cancel`, running each job on `tracker`.
///
/// The loop pulls only while the agent has room, and asks for as many jobs as it has room
/// for, so one pull request serves a burst (a request per job would cost a subscription
/// and a round trip each). It holds no permit while it waits on the server: an agent has
/// several consumers, and a permit parked in an idle pull would starve the others. A
/// message that arrives once the permits went elsewhere waits here, kept alive with
/// progress acks.
pub async fn consume(
    consumer: jetstream::consumer::Consumer<pull::Config>,
    ctx: Arc<JobContext>,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            room = limit.acquire() => match room {
                Ok(room) => drop(room),
                Err(_) => break,
            },
        }
        let room = limit.available_permits().max(1);
        let batch = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            batch = consumer.batch().max_messages(room).expires(PULL_EXPIRY).messages() => batch,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "pull request failed; retrying");
                pause(&cancel, Duration::from_secs(1)).await;
                continue;
            }
        };
        if run_batch(batch, &ctx, &limit, &tracker, &cancel)
            .await
            .is_break()
        {
            break;
        }
    }
}

/// Runs the jobs one pull request delivers, each once a permit is free; `Break` when the
/// agent stops.
async fn run_batch(
    mut batch: jetstream::consumer::pull::Batch,
    ctx: &Arc<JobContext>,
    limit: &Arc<Semaphore>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> std::ops::ControlFlow<()> {
    use std::ops::ControlFlow::{Break, Continue};
    loop {
        // A server restart forgets the pull request: pull again once reconnected, rather
        // than wait out its expiry with jobs queued.
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Break(()),
            next = batch.next() => next,
            _ = reconnected(&ctx.client) => return Continue(()),
        };
        let msg = match next {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "pull ended with an error");
                pause(cancel, Duration::from_millis(200)).await;
                return Continue(());
            }
            None => return Continue(()),
        };
        let wait = with_progress(&msg, ctx.progress_every, limit.clone().acquire_owned());
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                // Not started: hand it back for another agent or a later run.
                ack(&msg, AckKind::Nak(None)).await;
                return Break(());
            }
            permit = wait => match permit {
                Ok(p) => p,
                Err(_) => return Break(()),
            },
        };
        let ctx = ctx.clone();
        ctx.metrics.in_flight.inc();
        tracker.spawn(async move {
            tokio::select! {
                _ = handle(&ctx, msg) => {}
                _ = ctx.abandon.cancelled() => {}
            }
            ctx.metrics.in_flight.dec();
            drop(permit);
        });
    }
}

async fn pause(cancel: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

async fn ack(msg: &jetstream::Message, kind: AckKind) {
    if let Err(e) = msg.ack_with(kind).await {
        tracing::warn!(error = %e, "ack failed");
    }
}

/// Runs one job: record (carried or read) -> events -> provider -> outcome event and
/// response -> ack.
///
/// A job that ran is acked whether it succeeded or failed: its outcome is recorded and a
/// modify operation must not run again. Only jobs whose agent vanished get redelivered.
async fn handle(ctx: &JobContext, msg: jetstream::Message) {
    let (job_id, carried) = crate::wire::job::notified_job(&msg.payload);
    let res = &ctx.resources;
    let me = &ctx.exec.hostname;
    let kind_of_subject = res.names.subjects().kind_of(&msg.subject);
    // A read delivered for the first time runs from the record its notification carries:
    // no answer of this host can be stored yet, and a read may run again anyway.
    let first_read = kind_of_subject == Some(OpKind::Query) && !redelivered(&msg);
    let (loaded, answered) = match carried.filter(|_| first_read && !job_id.is_empty()) {
        Some(signed) => (Ok(record::decode(signed, &ctx.trust)), Ok(None)),
        // Both reads at once: one round trip instead of two (the answer is usually absent).
        None => tokio::join!(
            record::load(res, &ctx.trust, &job_id),
            res.responses.get(JobResponse::key(&job_id, me))
        ),
    };
    let record = match loaded {
        Ok(Record::Found(r)) => r,
        Ok(Record::Dropped(why)) => {
            tracing::warn!(%job_id, "{why}; dropping notification");
            ack(&msg, AckKind::Term).await;
            return;
        }
        Ok(Record::Missing(why)) => {
            let kind = kind_of_subject.unwrap_or(OpKind::Query);
            finish_unrun(ctx, &msg, &job_id, kind, why).await;
            return;
        }
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "cannot read job record; will retry");
            ack(&msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
            return;
        }
    };
    // Answered before but the ack was lost: do not run it a second time.
    match answered {
        Ok(Some(_)) => {
            ack(&msg, AckKind::Ack).await;
            return;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "cannot read job answers; will retry");
            ack(&msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
            return;
        }
    }
    let kind = kind_of_subject.unwrap_or(record.kind);
    if let Some(reason) = misdelivered(&msg, &job_id, &record) {
        finish_unrun(ctx, &msg, &job_id, kind, reason).await;
        return;
    }
    match refusal(ctx, &msg, &record, kind).await {
        Ok(None) => {}
        Ok(Some(reason)) => {
            finish_unrun(ctx, &msg, &job_id, kind, reason).await;
            return;
        }
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "cannot read the job's events; will retry");
            ack(&msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
            return;
        }
    }
    let cx = crate::telemetry::otel::process_context(
        msg.headers.as_ref(),
        &job_id,
        &record.operation.kind,
        me,
    );
    // Log lines of this job carry the trace id of the request that started it.
    let span = match crate::telemetry::otel::trace_id(&cx) {
        Some(id) => tracing::info_span!("job", trace_id = %id),
        None => tracing::Span::none(),
    };
    {
        use opentelemetry::context::FutureExt;
        use tracing::Instrument;
        run_job(ctx, &msg, &job_id, &record, kind)
            .with_context(cx.clone())
            .instrument(span)
            .await;
    }
    use opentelemetry::trace::TraceContextExt;
    cx.span().end();
}

/// Why a signed record must not run from this notification: it was signed for another
/// job id or subject (a record copied to another key, or its id published on another
/// subject), or its validity ended (an old record written again).
fn misdelivered(msg: &jetstream::Message, job_id: &str, record: &JobRecord) -> Option<String> {
    let refused = "refused: the signed job record";
    if record.id != job_id {
        return Some(format!("{refused} is job {}, not {job_id}", record.id));
    }
    if record.subject != msg.subject.as_str() {
        return Some(format!(
            "{refused} was sent to {}, not {}",
            record.subject, msg.subject
        ));
    }
    if record.stale_at(time::OffsetDateTime::now_utc()) {
        return Some(format!(
            "{refused} expired at {} (stale or replayed)",
            record.expires.as_deref().unwrap_or("?")
        ));
    }
    None
}

/// Why a redelivered job that had started on this host is not run again.
const INTERRUPTED: &str = "agent stopped while running; not re-run: check the host";

/// Whether JetStream delivered this notification before (the agent died or gave it back).
fn redelivered(msg: &jetstream::Message) -> bool {
    msg.info().is_ok_and(|i| i.delivered > 1)
}

/// Why this delivery must not run the job, if it must not: it started here before and
/// changes the host (or its caller is gone), or it arrived after its start-by time.
/// `Err`: this host's events could not be read; retry later.
async fn refusal(
    ctx: &JobContext,
    msg: &jetstream::Message,
    record: &JobRecord,
    kind: OpKind,
) -> Result<Option<String>, String> {
    // A server that died before it stored the ack delivers again as if for the first
    // time; a read may run again, a change must not.
    if !ctx.first_run(record) && !redelivered(msg) && kind == OpKind::Modify {
        return Ok(Some(
            "refused: this job already ran on this host; its record was notified again (replayed)"
                .into(),
        ));
    }
    let expired = record.expired_at(time::OffsetDateTime::now_utc());
    if redelivered(msg) && (kind == OpKind::Modify || expired) {
        let (res, me) = (&ctx.resources, &ctx.exec.hostname);
        if record::started_here(res, &record.id, me).await? {
            return Ok(Some(INTERRUPTED.into()));
        }
    }
    Ok(expired.then(|| {
        format!(
            "not started: delivered after its start-by time {}, when the caller had stopped waiting; retry the job if it is still wanted",
            record.start_by.as_deref().unwrap_or("?")
        )
    }))
}

/// A job not run on this host, for `reason`: recorded as failed here, and acked.
async fn finish_unrun(
    ctx: &JobContext,
    msg: &jetstream::Message,
    job_id: &str,
    kind: OpKind,
    reason: String,
) {
    let res = &ctx.resources;
    let me = &ctx.exec.hostname;
    tracing::warn!(%job_id, "{reason}");
    event(res, job_id, JobEvent::Failed, me, json!({"error": reason})).await;
    let response = build_response(job_id, me, kind, Err(OpError::from(reason)));
    if let Err(e) = put_response(ctx, &response).await {
        tracing::error!(%job_id, error = %e, "cannot write job response");
        ack(msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
        return;
    }
    ack(msg, AckKind::Ack).await;
}

/// Events, provider, response and ack of a job whose record was read.
///
/// One `started` event stands for the acknowledgement too (it carries the subject the
/// acknowledgement did). A change runs only once it is stored (at most once per host); a
/// read writes it while it runs, so its events and answer take one round trip.
async fn run_job(
    ctx: &JobContext,
    msg: &jetstream::Message,
    job_id: &str,
    record: &JobRecord,
    kind: OpKind,
) {
    let data = json!({
        "subject": msg.subject.as_str(),
        "pid": crate::provider::process::pid(),
    });
    let started = event(
        &ctx.resources,
        job_id,
        JobEvent::Started,
        &ctx.exec.hostname,
        data,
    );
    match kind {
        OpKind::Modify => {
            started.await;
            run_and_answer(ctx, msg, job_id, record, kind).await;
        }
        OpKind::Query => {
            tokio::join!(started, run_and_answer(ctx, msg, job_id, record, kind));
        }
    }
}

/// Provider, then outcome event and response, then ack.
async fn run_and_answer(
    ctx: &JobContext,
    msg: &jetstream::Message,
    job_id: &str,
    record: &JobRecord,
    kind: OpKind,
) {
    let res = &ctx.resources;
    let me = &ctx.exec.hostname;
    let started = std::time::Instant::now();
    let result = with_progress(
        msg,
        ctx.progress_every,
        execute(&record.operation, &ctx.exec),
    )
    .await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let op = record.operation.kind.as_str();
    ctx.metrics
        .job_duration
        .with_label_values(&[op])
        .observe(started.elapsed().as_secs_f64());
    // A skipped host finished without error and changed nothing: its event is
    // `completed`; its response says `skipped`.
    let outcome = match &result {
        Err(e) if !e.skipped => JobEvent::Failed,
        _ => JobEvent::Completed,
    };
    ctx.metrics
        .jobs
        .with_label_values(&[op, outcome.as_str()])
        .inc();
    let response = build_response(job_id, me, kind, result);
    let status = response.status;
    let data = match status {
        JobStatus::Completed => json!({"duration_ms": duration_ms}),
        JobStatus::Failed => json!({"duration_ms": duration_ms, "error": response.error}),
        JobStatus::Skipped => json!({"duration_ms": duration_ms, "skipped": response.error}),
    };
    // Written together (one round trip): a caller may hold the answer before the outcome
    // event is stored, so a job's detail takes a host's stored answer as its outcome.
    let (_, written) = tokio::join!(
        event(res, job_id, outcome, me, data),
        put_response(ctx, &response)
    );
    if let Err(e) = written {
        // Without a recorded outcome the caller cannot know: let it be redelivered.
        tracing::error!(%job_id, error = %e, "cannot write job response");
        ack(msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
        return;
    }
    // A plain ack, not a confirmed one: if it is lost, the redelivery finds this host's
    // answer stored and is acked then, without running again.
    ack(msg, AckKind::Ack).await;
    tracing::debug!(%job_id, op = %record.operation.kind, ?status, duration_ms, "job done");
}

async fn with_progress<F: std::future::Future>(
    msg: &jetstream::Message,
    every: Duration,
    work: F,
) -> F::Output {
    tokio::pin!(work);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticker.tick() => ack(msg, AckKind::Progress).await,
        }
    }
}

fn build_response(
    job_id: &str,
    hostname: &str,
    kind: OpKind,
    result: Result<serde_json::Value, OpError>,
) -> JobResponse {
    let timestamp = rfc3339(time::OffsetDateTime::now_utc());
    let (status, data, error, field) = match result {
        Ok(data) => (JobStatus::Completed, Some(data), None, None),
        Err(e) => (
            if e.skipped {
                JobStatus::Skipped
            } else {
                JobStatus::Failed
            },
            None,
            Some(e.message),
            e.field.map(str::to_owned),
        ),
    };
    let changed = match kind {
        OpKind::Modify => Some(
            data.as_ref()
                .and_then(|d| d.get("changed"))
                .and_then(|c| c.as_bool())
                .unwrap_or(false),
        ),
        OpKind::Query => None,
    };
    JobResponse {
        job_id: job_id.to_owned(),
        status,
        data,
        error,
        field,
        changed,
        hostname: hostname.to_owned(),
        timestamp,
    }
}

/// Writes this host's answer, signed with its answer key.
async fn put_response(ctx: &JobContext, response: &JobResponse) -> Result<(), String> {
    let res = &ctx.resources;
    let body = serde_json::to_vec(response).map_err(|e| e.to_string())?;
    let body =
        signed::sign(&ctx.answer_key, Domain::JobResponse, &body).map_err(|e| e.to_string())?;
    let key = JobResponse::key(&response.job_id, &response.hostname);
    // Retried across reconnects and leader elections; any other error is for the caller
    // (which naks, so the job is redelivered and answered then).
    let put = || res.responses.put(&key, body.clone().into());
    write_across_failover(&ctx.client, put)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn event(res: &Resources, job_id: &str, name: JobEvent, host: &str, data: serde_json::Value) {
    crate::job::store::write_event(&res.js.client(), &res.jobs, job_id, name, host, data).await;
}

/// Creates the consumer or updates the one that exists, keeping its original start point
/// (a JetStream consumer's deliver policy cannot change).
///
/// Agents starting together race to create the shared consumer: the loser's create fails
/// because its start time differs from the winner's, so it reads the winner's and tries again.
pub async fn ensure_consumer(
    res: &Resources,
    name: &str,
    mut config: pull::Config,
) -> Result<jetstream::consumer::Consumer<pull::Config>, String> {
    let stream = res
        .js
        .get_stream(&res.jobs_stream)
        .await
        .map_err(|e| format!("stream {}: {e}", res.jobs_stream))?;
    config.durable_name = Some(name.to_owned());
    let mut last = String::new();
    for _ in 0..3 {
        if let Ok(existing) = stream.get_consumer::<pull::Config>(name).await {
            config.deliver_policy = existing.cached_info().config.deliver_policy;
        }
        match stream.create_consumer(config.clone()).await {
            Ok(consumer) => return Ok(consumer),
            Err(e) => last = format!("consumer {name}: {e}"),
        }
    }
    Err(last)
}
