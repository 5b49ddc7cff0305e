//! Reading many KV entries at once with a subject filter: one ordered consumer instead of
//! a key listing followed by one `get` per key (a `get` only for a key the consumer missed).

use std::collections::{BTreeMap, HashSet};

use async_nats::jetstream::consumer::{push, DeliverPolicy, ReplayPolicy};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, kv};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;

/// How long a scan waits for its next message before giving up.
const STALL: std::time::Duration = std::time::Duration::from_secs(5);

/// A scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A NATS call of the scan failed.
    #[error("KV scan of {filter}: {source}")]
    Nats {
        filter: String,
        #[source]
        source: super::BoxError,
    },
    /// The server stopped delivering before the scan was complete.
    #[error("KV scan of {filter}: no message for {STALL:?}")]
    Stalled { filter: String },
}

fn scan_err<E: Into<super::BoxError>>(filter: &str) -> impl FnOnce(E) -> ScanError + '_ {
    move |e| ScanError::Nats {
        filter: filter.to_owned(),
        source: e.into(),
    }
}

/// Subjects of one stream under a common prefix, read as keys: a KV bucket
/// (`$KV.<bucket>.`) or an object store's metadata (`$O.<bucket>.M.`).
#[derive(Clone, Copy)]
pub struct Keyspace<'a> {
    pub stream: &'a jetstream::stream::Stream,
    pub prefix: &'a str,
}

impl<'a> From<&'a kv::Store> for Keyspace<'a> {
    fn from(store: &'a kv::Store) -> Self {
        Self {
            stream: &store.stream,
            prefix: &store.prefix,
        }
    }
}

/// Latest value of every key matching `filter` (NATS wildcards), skipping deletions,
/// ordered by key.
/// With `values` false only key names are fetched.
pub async fn scan(
    store: &kv::Store,
    filter: &str,
    values: bool,
) -> Result<Vec<(String, Bytes)>, ScanError> {
    scan_keyspace(store.into(), filter, values).await
}

/// [`scan`] over any [`Keyspace`].
pub async fn scan_keyspace(
    space: Keyspace<'_>,
    filter: &str,
    values: bool,
) -> Result<Vec<(String, Bytes)>, ScanError> {
    let prefix = space.prefix;
    let subject = format!("{prefix}{filter}");
    let consumer = space
        .stream
        .create_consumer(push::OrderedConfig {
            // A fresh inbox; the default `_INBOX.` prefix is what clients subscribe under.
            deliver_subject: format!("_INBOX.{}", uuid::Uuid::new_v4().simple()),
            filter_subject: subject.clone(),
            headers_only: !values,
            replay_policy: ReplayPolicy::Instant,
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(scan_err(filter))?;
    // Ephemeral consumers outlive their reader by 30 s, and servers cap the consumers of a
    // stream (recent nats-server: 1,000 by default), so busy listings must not leave them
    // behind: delete it as soon as it is read.
    let name = consumer.cached_info().name.clone();
    let delivered = read_consumer(consumer, prefix, filter).await;
    if let Err(e) = space.stream.delete_consumer(&name).await {
        tracing::debug!(consumer = %name, error = %e, "scan consumer not deleted; it expires");
    }
    let (mut latest, seen) = delivered?;
    // The server can skip an entry of the initial set when its key is rewritten while the
    // consumer starts, and then deliver neither it nor the rewrite. The stream's subject
    // index is exact: fetch any key it holds that the consumer did not deliver.
    fetch_unseen(space, filter, &seen, &mut latest).await?;
    Ok(latest.into_iter().collect())
}

/// Latest value of every key matching `filter`, read through the stream's subject index
/// and one direct read per key: no consumer, so it suits small sets read often (one job's
/// answers).
pub async fn latest_by_index(
    store: &kv::Store,
    filter: &str,
) -> Result<Vec<(String, Bytes)>, ScanError> {
    let mut latest = BTreeMap::new();
    fetch_unseen(store.into(), filter, &HashSet::new(), &mut latest).await?;
    Ok(latest.into_iter().collect())
}

/// Reads every key matching `filter` that is not in `seen` into `latest`.
async fn fetch_unseen(
    space: Keyspace<'_>,
    filter: &str,
    seen: &HashSet<String>,
    latest: &mut BTreeMap<String, Bytes>,
) -> Result<(), ScanError> {
    let prefix = space.prefix;
    let mut subjects = space
        .stream
        .info_with_subjects(format!("{prefix}{filter}"))
        .await
        .map_err(scan_err(filter))?;
    let mut missed = Vec::new();
    while let Some(entry) = subjects.next().await {
        let (subj, _) = entry.map_err(scan_err(filter))?;
        if !seen.contains(key_of(&subj, prefix)) {
            missed.push(subj);
        }
    }
    for subj in missed {
        match space.stream.get_last_raw_message_by_subject(&subj).await {
            Ok(m) => apply(latest, key_of(&subj, prefix), Some(&m.headers), &m.payload),
            // Purged or expired since the listing.
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(scan_err(filter)(e)),
        }
    }
    Ok(())
}

/// Every message the consumer delivers until none is pending: the latest entry per key,
/// and every key seen (deleted ones too).
async fn read_consumer(
    consumer: jetstream::consumer::Consumer<push::OrderedConfig>,
    prefix: &str,
    filter: &str,
) -> Result<(BTreeMap<String, Bytes>, HashSet<String>), ScanError> {
    let mut latest = BTreeMap::new();
    let mut seen = HashSet::new();
    if consumer.cached_info().num_pending == 0 {
        return Ok((latest, seen));
    }
    let mut messages = consumer.messages().await.map_err(scan_err(filter))?;
    loop {
        let next = tokio::time::timeout(STALL, messages.next())
            .await
            .map_err(|_| ScanError::Stalled {
                filter: filter.to_owned(),
            })?;
        let Some(msg) = next else { break };
        let msg = msg.map_err(scan_err(filter))?;
        let key = key_of(&msg.subject, prefix);
        // A key can arrive twice when rewritten during the scan: the later one wins.
        apply(&mut latest, key, msg.headers.as_ref(), &msg.payload);
        seen.insert(key.to_owned());
        if msg.info().map(|i| i.pending).unwrap_or(0) == 0 {
            break;
        }
    }
    Ok((latest, seen))
}

/// The key a bucket subject names (`$KV.<bucket>.<key>` without its prefix).
fn key_of<'a>(subject: &'a str, prefix: &str) -> &'a str {
    subject.strip_prefix(prefix).unwrap_or("")
}

/// Records `key`'s entry, or forgets the key when the entry is a delete or purge, or the
/// marker a bucket with limit markers leaves when an entry expires.
fn apply(
    latest: &mut BTreeMap<String, Bytes>,
    key: &str,
    headers: Option<&HeaderMap>,
    payload: &Bytes,
) {
    if is_removal(headers) {
        latest.remove(key);
    } else {
        latest.insert(key.to_owned(), payload.clone());
    }
}

/// The entries that decode as `T`; each one that does not is logged (with `what` it was
/// meant to be) and skipped, so one bad record cannot hide the rest.
pub fn decode_each<T: serde::de::DeserializeOwned>(
    entries: impl IntoIterator<Item = (String, Bytes)>,
    what: &str,
) -> Vec<T> {
    entries
        .into_iter()
        .filter_map(|(key, value)| match serde_json::from_slice(&value) {
            Ok(decoded) => Some(decoded),
            Err(e) => {
                tracing::warn!(%key, error = %e, "skipping unreadable {what}");
                None
            }
        })
        .collect()
}

/// True for a KV delete or purge, and for the marker a bucket with limit markers leaves
/// when an entry expires: none of them carries a value.
pub fn is_removal(headers: Option<&HeaderMap>) -> bool {
    headers.is_some_and(|h| {
        h.get("KV-Operation")
            .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"))
            || h.get("Nats-Marker-Reason").is_some()
    })
}
