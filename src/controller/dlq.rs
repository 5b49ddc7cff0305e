//! Dead letters: the server's max-deliveries advisories land in the DLQ stream; this
//! follower marks each such job failed with the reason, so it does not look pending.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::job::JobClient;
use crate::nats::Resources;

/// Durable consumer shared by all controllers: each advisory is handled once.
const CONSUMER: &str = "controller_dlq";

/// The fields of `io.nats.jetstream.advisory.v1.max_deliver` osapi uses.
#[derive(Debug, Deserialize)]
struct MaxDeliverAdvisory {
    stream: String,
    consumer: String,
    stream_seq: u64,
    deliveries: u64,
}

/// Name of the DLQ stream of a jobs stream.
pub fn stream_name(jobs_stream: &str) -> String {
    format!("{jobs_stream}-DLQ")
}

/// Follows the DLQ stream until `cancel`, retrying after errors.
pub async fn follow(resources: Resources, jobs: JobClient, cancel: CancellationToken) {
    loop {
        if let Err(e) = follow_once(&resources, &jobs, &cancel).await {
            tracing::warn!(error = %e, "dead-letter follower failed; retrying");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn follow_once(
    resources: &Resources,
    jobs: &JobClient,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let dlq = resources
        .js
        .get_stream(stream_name(&resources.jobs_stream))
        .await
        .map_err(|e| e.to_string())?;
    let consumer = dlq
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.into()),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            m = messages.next() => match m {
                Some(m) => m.map_err(|e| e.to_string())?,
                None => return Ok(()),
            },
        };
        match serde_json::from_slice::<MaxDeliverAdvisory>(&msg.payload) {
            Ok(adv) => record(resources, jobs, &adv).await,
            Err(e) => tracing::warn!(error = %e, "unreadable dead-letter advisory"),
        }
        if let Err(e) = msg.ack().await {
            tracing::warn!(error = %e, "cannot ack dead-letter advisory");
        }
    }
}

async fn record(resources: &Resources, jobs: &JobClient, adv: &MaxDeliverAdvisory) {
    let job_id = match resources.js.get_stream(&adv.stream).await {
        Ok(stream) => match stream.get_raw_message(adv.stream_seq).await {
            Ok(m) => crate::wire::job::notified_job(&m.payload).0,
            Err(e) => {
                tracing::warn!(seq = adv.stream_seq, error = %e, "dead letter's message is gone");
                return;
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the jobs stream");
            return;
        }
    };
    let reason = format!(
        "dead-lettered: delivered {} times via consumer {} without an answer (the agent vanished before answering)",
        adv.deliveries, adv.consumer
    );
    tracing::warn!(%job_id, %reason, "job dead-lettered");
    jobs.event(
        &job_id,
        crate::wire::job::JobEvent::Failed,
        "_dlq",
        json!({"error": reason}),
    )
    .await;
}
