//! Reading and removing stored jobs: list with per-status totals, detail with events and
//! per-host responses. Scans use subject filters (`jobs.*`, `status.<id>.>`), so listing
//! never reads response payloads and detail never scans other jobs.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::detail::build_detail;
use super::index::JobIndex;
use crate::nats::connect::write_across_failover;
use crate::nats::kv_scan::ScanError;
use crate::nats::BoxError;
use crate::wire::job::{
    JobDetailResponse, JobEvent, JobRecord, JobResponse, ListJobsResponse, OverallStatus,
    StatusEvent,
};
use crate::wire::keys;

/// Reading or changing the job buckets failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// A get, put or purge failed.
    #[error("job store: {op} {key}: {source}")]
    Kv {
        op: &'static str,
        key: String,
        #[source]
        source: BoxError,
    },
    /// A stored job record does not parse.
    #[error("job record {key} is unreadable: {source}")]
    Decode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

fn kv_err<E: Into<BoxError>>(op: &'static str, key: &str) -> impl FnOnce(E) -> StoreError {
    let key = key.to_owned();
    move |e| StoreError::Kv {
        op,
        key,
        source: e.into(),
    }
}

/// Latest values under `filter` in a job bucket.
async fn scan(
    store: &kv::Store,
    filter: &str,
    values: bool,
) -> Result<Vec<(String, Bytes)>, StoreError> {
    Ok(crate::nats::kv_scan::scan(store, filter, values).await?)
}

/// Number of jobs and the totals per status (for health), from the index.
pub async fn totals(
    jobs: &kv::Store,
    index: &JobIndex,
) -> Result<(usize, BTreeMap<String, usize>), StoreError> {
    index.totals(jobs).await
}

/// Ids of the jobs that no host ever acknowledged although their start-by time lies
/// before `cutoff` (jobs without one, retries, are never stranded).
/// The index picks the candidates (jobs still `submitted`, usually a handful), so only
/// their records are read.
pub async fn stranded(
    jobs: &kv::Store,
    index: &JobIndex,
    cutoff: time::OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    let submitted = index
        .ids_with_status(jobs, OverallStatus::Submitted)
        .await?;
    let mut stranded = Vec::new();
    for id in submitted {
        let key = JobRecord::key(&id);
        let Some(bytes) = jobs.get(&key).await.map_err(kv_err("get", &key))? else {
            continue;
        };
        let record = serde_json::from_slice::<JobRecord>(&bytes);
        if record.is_ok_and(|r| r.expired_at(cutoff)) {
            stranded.push(id);
        }
    }
    Ok(stranded)
}

/// Jobs of a listing page read at once.
const PAGE_READS: usize = 16;

/// One page of jobs, newest first. The index chooses the page; only the page's records,
/// events and responses are read.
pub async fn list(
    jobs: &kv::Store,
    responses: &kv::Store,
    index: &JobIndex,
    status: Option<OverallStatus>,
    limit: usize,
    offset: usize,
) -> Result<ListJobsResponse, StoreError> {
    let page = index.page(jobs, status, limit, offset).await?;
    let items = futures::stream::iter(page.jobs)
        .map(|(id, event_keys)| async move {
            let key = JobRecord::key(&id);
            let Some(bytes) = jobs.get(&key).await.map_err(kv_err("get", &key))? else {
                // Expired or removed since the index heard of it.
                index.forget(&id);
                return Ok(None);
            };
            let record: JobRecord = match serde_json::from_slice(&bytes) {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!(%key, error = %e, "unreadable job record; not listed");
                    return Ok(None);
                }
            };
            let mut d = detail_by_keys(jobs, responses, record, event_keys).await?;
            d.changed = None;
            d.responses = None;
            d.agent_states = None;
            d.timeline = None;
            Ok::<_, StoreError>(Some(d))
        })
        .buffered(PAGE_READS)
        .try_filter_map(|d| async move { Ok(d) })
        .try_collect::<Vec<_>>()
        .await?;
    Ok(ListJobsResponse {
        total_items: page.total_items,
        status_counts: page.status_counts,
        items,
    })
}

/// The job, or `None` if it does not exist.
pub async fn get(
    jobs: &kv::Store,
    responses: &kv::Store,
    id: &str,
) -> Result<Option<JobDetailResponse>, StoreError> {
    let key = JobRecord::key(id);
    let Some(bytes) = jobs.get(&key).await.map_err(kv_err("get", &key))? else {
        return Ok(None);
    };
    let record: JobRecord =
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Decode { key, source })?;
    detail(jobs, responses, record).await.map(Some)
}

/// A job's detail from its record, events and responses.
async fn detail(
    jobs: &kv::Store,
    responses: &kv::Store,
    record: JobRecord,
) -> Result<JobDetailResponse, StoreError> {
    let id = record.id.clone();
    let events: Vec<StatusEvent> = scan(jobs, &keys::status_of(&id), true)
        .await?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect();
    let answers: Vec<JobResponse> = scan(responses, &keys::responses_of(&id), true)
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
            .map_err(kv_err("get", "status events"))?
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_slice(&v).ok())
            .collect();
    // Event keys carry the host already sanitised, as response keys do.
    let hosts: std::collections::BTreeSet<&str> = event_keys
        .iter()
        .filter_map(|k| keys::status_event_parts(k).map(|(_, _, host)| host))
        .collect();
    let answers: Vec<JobResponse> = futures::future::try_join_all(
        hosts
            .iter()
            .map(|h| responses.get(keys::response_sanitized(&record.id, h))),
    )
    .await
    .map_err(kv_err("get", "responses"))?
    .into_iter()
    .flatten()
    .filter_map(|v| serde_json::from_slice::<JobResponse>(&v).ok())
    .collect();
    Ok(build_detail(record, events, answers))
}

/// Removes the job, its events and its responses. `false` if it did not exist.
pub async fn delete(jobs: &kv::Store, responses: &kv::Store, id: &str) -> Result<bool, StoreError> {
    let record = JobRecord::key(id);
    if jobs
        .get(&record)
        .await
        .map_err(kv_err("get", &record))?
        .is_none()
    {
        return Ok(false);
    }
    for (key, _) in scan(jobs, &keys::status_of(id), false).await? {
        jobs.purge(&key).await.map_err(kv_err("purge", &key))?;
    }
    for (key, _) in scan(responses, &keys::responses_of(id), false).await? {
        responses.purge(&key).await.map_err(kv_err("purge", &key))?;
    }
    jobs.purge(&record)
        .await
        .map_err(kv_err("purge", &record))?;
    Ok(true)
}

/// Appends a status event to the job bucket. Best effort: a lost event is logged and
/// must not fail the job it describes.
pub async fn write_event(
    client: &async_nats::Client,
    jobs: &async_nats::jetstream::kv::Store,
    job_id: &str,
    event: JobEvent,
    host: &str,
    data: Value,
) {
    let ev = StatusEvent::now(job_id, event, host, data);
    let Ok(body) = serde_json::to_vec(&ev) else {
        return;
    };
    let (key, body) = (ev.key(), bytes::Bytes::from(body));
    let written = write_across_failover(client, || jobs.put(key.as_str(), body.clone())).await;
    if let Err(e) = written {
        tracing::warn!(%job_id, event = %ev.event, error = %e, "cannot write status event");
    }
}
