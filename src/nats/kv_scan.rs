//! Reading many KV entries at once with a subject filter: one ordered consumer instead of
//! a key listing followed by one `get` per key.

use async_nats::jetstream::consumer::{push, DeliverPolicy, ReplayPolicy};
use async_nats::jetstream::kv;
use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt;

/// How long a scan waits for its next message before giving up.
const STALL: std::time::Duration = std::time::Duration::from_secs(5);

/// A scan failed.
#[derive(Debug, thiserror::Error)]
#[error("KV scan: {0}")]
pub struct ScanError(String);

fn scan_err(e: impl std::fmt::Display) -> ScanError {
    ScanError(e.to_string())
}

/// Latest value of every key matching `filter` (NATS wildcards), skipping deletions,
/// ordered by key.
/// With `values` false only key names are fetched.
pub async fn scan(
    store: &kv::Store,
    filter: &str,
    values: bool,
) -> Result<Vec<(String, Bytes)>, ScanError> {
    let prefix = store.prefix.clone();
    let consumer = store
        .stream
        .create_consumer(push::OrderedConfig {
            // A fresh inbox; the default `_INBOX.` prefix is what clients subscribe under.
            deliver_subject: format!("_INBOX.{}", uuid::Uuid::new_v4().simple()),
            filter_subject: format!("{prefix}{filter}"),
            headers_only: !values,
            replay_policy: ReplayPolicy::Instant,
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(scan_err)?;
    let mut latest = BTreeMap::new();
    // The latest entry of every key at creation time. One of them may vanish before it is
    // delivered when its key is rewritten meanwhile, and the server's pending count can
    // then read 0 too early; the rewrite is delivered after the others, so read on until
    // as many messages as keys arrived.
    let expected = consumer.cached_info().num_pending;
    if expected == 0 {
        return Ok(Vec::new());
    }
    let mut received = 0u64;
    let mut messages = consumer.messages().await.map_err(scan_err)?;
    loop {
        let next = tokio::time::timeout(STALL, messages.next())
            .await
            .map_err(|_| ScanError(format!("no message for {STALL:?} while scanning {filter}")))?;
        let Some(msg) = next else { break };
        let msg = msg.map_err(scan_err)?;
        received += 1;
        // A delete or purge, or the marker a bucket with limit markers leaves when an
        // entry expires.
        let deleted = msg.headers.as_ref().is_some_and(|h| {
            h.get("KV-Operation")
                .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"))
                || h.get("Nats-Marker-Reason").is_some()
        });
        let pending = msg.info().map(|i| i.pending).unwrap_or(0);
        let key = msg.subject.as_str().strip_prefix(&prefix).unwrap_or("");
        // A key can arrive twice when rewritten during the scan: the later one wins.
        if deleted {
            latest.remove(key);
        } else {
            latest.insert(key.to_owned(), msg.payload.clone());
        }
        if pending == 0 && received >= expected {
            break;
        }
    }
    Ok(latest.into_iter().collect())
}
