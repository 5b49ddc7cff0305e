//! Reading a job's record, and this host's own history of it, when a notification arrives.
//!
//! A replica answering a direct get may not have applied the put yet (a cluster with
//! replicas), so a record that looks missing is read again from the stream leader, with
//! back-off, before the job is given up. A redelivered job is checked for a `started`
//! event of this host, so an interrupted change is not made twice.

use std::time::Duration;

use async_nats::jetstream::stream::{DirectGetErrorKind, LastRawMessageErrorKind};

use crate::nats::Resources;
use crate::security::job_keys::TrustedKeys;
use crate::wire::job::JobRecord;
use crate::wire::keys;

/// How long a record may take to appear at the leader before the job is given up.
const RECORD_PATIENCE: Duration = Duration::from_secs(5);

/// What reading a job's record found.
pub enum Record {
    Found(Box<JobRecord>),
    /// Deleted, or a notification that names no job: nothing to run or report.
    Dropped(String),
    /// Unreadable, not there after [`RECORD_PATIENCE`], or not signed by a trusted
    /// controller key: reported failed on this host, never run.
    Missing(String),
}

/// The record of `job_id`: a direct get, then leader reads with back-off while missing;
/// found only when signed by a key in `trust`. `Err` is a NATS failure worth a redelivery.
pub async fn load(res: &Resources, trust: &TrustedKeys, job_id: &str) -> Result<Record, String> {
    if job_id.is_empty() || job_id.contains(['.', '*', '>', ' ']) {
        return Ok(Record::Dropped(format!("invalid job id {job_id:?}")));
    }
    let key = keys::job(job_id);
    if let Some(bytes) = res.jobs.get(&key).await.map_err(|e| e.to_string())? {
        return Ok(decode(&bytes, trust));
    }
    let subject = format!("{}{key}", res.jobs.prefix);
    let deadline = tokio::time::Instant::now() + RECORD_PATIENCE;
    let mut wait = Duration::from_millis(25);
    loop {
        match res
            .jobs
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(msg) if is_tombstone(&msg.headers) => {
                return Ok(Record::Dropped("job deleted".into()))
            }
            Ok(msg) => return Ok(decode(&msg.payload, trust)),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(e.to_string()),
        }
        if tokio::time::Instant::now() + wait > deadline {
            return Ok(Record::Missing(format!(
                "not run: job record not found within {RECORD_PATIENCE:?}"
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

/// The record in `bytes`: only its signed part is read.
pub fn decode(bytes: &[u8], trust: &TrustedKeys) -> Record {
    let body = match trust.open_record(bytes) {
        Ok(body) => body,
        Err(refusal) => {
            return Record::Missing(format!(
                "refused: the job record is not from a trusted controller: {refusal}"
            ))
        }
    };
    match serde_json::from_slice(&body) {
        Ok(record) => Record::Found(Box::new(record)),
        Err(e) => Record::Missing(format!("not run: unreadable job record: {e}")),
    }
}

/// A KV delete or purge marker.
fn is_tombstone(headers: &async_nats::HeaderMap) -> bool {
    headers
        .get("KV-Operation")
        .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"))
}

/// Whether this host recorded `started` for the job in an earlier delivery.
pub async fn started_here(res: &Resources, job_id: &str, host: &str) -> Result<bool, String> {
    let filter = keys::status_events_of(job_id, "started", host);
    let subject = format!("{}{filter}", res.jobs.prefix);
    match res.jobs.stream.direct_get_first_for_subject(subject).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}
