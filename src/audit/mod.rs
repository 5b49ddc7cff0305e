//! The audit log: every authenticated API call, who made it and how it ended, in the audit
//! bucket under time-ordered ids. Writing never slows or fails the request it records.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

pub use crate::wire::audit::{AuditEntry, AuditEntryResponse, ListAuditResponse};

mod spool;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use spool::Spool;

/// Entries waiting to be written; when full, a request waits for room (never drops).
const QUEUE: usize = 4096;
/// How often spooled entries are offered to NATS again.
const REPLAY_EVERY: Duration = Duration::from_secs(2);
/// Bodies larger than this are not recorded.
const MAX_BODY: usize = 8 * 1024;
const MASK: &str = "********";

/// Where the controller spools audit entries while NATS is away: beside the credentials
/// (the controller's state directory), one file per NATS server it writes to, so two
/// controllers of different fleets on one host never mix theirs.
pub fn spool_path(config: &crate::config::Config) -> std::path::PathBuf {
    let nats = &config.controller.nats;
    let server: String = format!("{}_{}", nats.host, nats.port)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    crate::security::credentials_dir(config).with_file_name(format!("audit-spool-{server}.jsonl"))
}

/// Hands entries to a background writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditEntry>,
}

impl AuditLog {
    /// Starts the writer for `bucket`, spooling to `spool` while NATS is away; it stores
    /// what is queued and stops when `stop` fires (await it through `tasks`).
    pub fn start(
        client: async_nats::Client,
        bucket: kv::Store,
        spool: Spool,
        stop: CancellationToken,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<AuditEntry>(QUEUE);
        let writer = Writer {
            client,
            bucket,
            spool: Arc::new(spool),
        };
        tasks.spawn(writer.run(rx, stop));
        Self { tx }
    }

    /// Queues an entry; waits only while the queue is full.
    pub async fn record(&self, entry: AuditEntry) {
        if self.tx.send(entry).await.is_err() {
            tracing::error!("audit writer stopped; entry not recorded");
        }
    }
}

/// Stores entries in order: in the bucket, or in the spool while NATS is away (then
/// every later entry goes to the spool too, until it is replayed, so order holds).
struct Writer {
    client: async_nats::Client,
    bucket: kv::Store,
    spool: Arc<Spool>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<AuditEntry>, stop: CancellationToken) {
        let mut spooled = !self.spool_call(|s| Ok(s.is_empty())).await.unwrap_or(true);
        let mut replay = tokio::time::interval(REPLAY_EVERY);
        loop {
            tokio::select! {
                entry = rx.recv() => match entry {
                    Some(entry) => spooled = self.store(entry, spooled).await,
                    None => break,
                },
                _ = replay.tick(), if spooled => spooled = !self.replay().await,
                _ = stop.cancelled() => break,
            }
        }
        // What was queued is stored before the controller (and then NATS) stops.
        rx.close();
        while let Some(entry) = rx.recv().await {
            spooled = self.store(entry, spooled).await;
        }
        if spooled && !self.replay().await {
            tracing::warn!(spool = %self.spool.path().display(), "audit entries left in the spool; stored at the next start");
        }
    }

    /// Stores one entry; returns whether the spool is in use afterwards.
    async fn store(&self, entry: AuditEntry, spooled: bool) -> bool {
        if !spooled {
            match self.put(&entry).await {
                Ok(()) => return false,
                Err(e) => tracing::warn!(error = %e, "audit bucket unavailable; spooling"),
            }
        }
        if let Err(e) = self.spool_call(move |s| s.append(&entry)).await {
            tracing::error!(error = %e, "audit entry lost: neither NATS nor the spool took it");
        }
        true
    }

    /// Moves the spool into the bucket; whether it is empty now.
    async fn replay(&self) -> bool {
        let Ok(entries) = self.spool_call(|s| s.read()).await else {
            return false;
        };
        for entry in &entries {
            if self.put(entry).await.is_err() {
                return false;
            }
        }
        tracing::info!(entries = entries.len(), "spooled audit entries stored");
        self.spool_call(|s| s.clear()).await.is_ok()
    }

    async fn put(&self, entry: &AuditEntry) -> Result<(), String> {
        // Disconnected, a put would wait out its whole timeout before failing.
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err("not connected to NATS".into());
        }
        let body = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        self.bucket
            .put(&entry.id, body.into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// A spool file operation, off the async workers.
    async fn spool_call<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Spool) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || op(&spool))
            .await
            .map_err(std::io::Error::other)?
    }
}

/// Whether a JSON key names a secret.
fn sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "pass",
        "secret",
        "token",
        "key",
        "auth",
        "credential",
        "env",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// The body as JSON with every sensitive field's value replaced, or `None` if it is not
/// small JSON.
pub fn masked_body(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() || bytes.len() > MAX_BODY {
        return None;
    }
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    mask(&mut v);
    Some(v)
}

fn mask(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if sensitive(k) {
                    *val = Value::String(MASK.into());
                } else {
                    mask(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// Reading the audit bucket failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditReadError {
    #[error(transparent)]
    Scan(#[from] crate::nats::kv_scan::ScanError),
    #[error("audit entry {id}: {source}")]
    Get {
        id: String,
        #[source]
        source: async_nats::jetstream::kv::EntryError,
    },
}

/// Newest first. Keys are UUID v7 (time-ordered), so only the page's values are read.
pub async fn list(
    bucket: &kv::Store,
    limit: usize,
    offset: usize,
) -> Result<ListAuditResponse, AuditReadError> {
    let mut keys: Vec<String> = crate::nats::kv_scan::scan(bucket, ">", false)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort_unstable_by(|a, b| b.cmp(a));
    let total = keys.len();
    let mut items = Vec::new();
    for key in keys.into_iter().skip(offset).take(limit) {
        if let Some(entry) = get(bucket, &key).await? {
            items.push(entry);
        }
    }
    Ok(ListAuditResponse {
        total_items: total,
        items,
    })
}

/// One entry.
pub async fn get(bucket: &kv::Store, id: &str) -> Result<Option<AuditEntry>, AuditReadError> {
    Ok(bucket
        .get(id)
        .await
        .map_err(|source| AuditReadError::Get {
            id: id.to_owned(),
            source,
        })?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Every entry, newest first (ids are UUID v7, so key order is time order).
pub async fn export(bucket: &kv::Store) -> Result<ListAuditResponse, AuditReadError> {
    let mut entries: BTreeMap<String, AuditEntry> = BTreeMap::new();
    for (key, value) in crate::nats::kv_scan::scan(bucket, ">", true).await? {
        if let Ok(e) = serde_json::from_slice(&value) {
            entries.insert(key, e);
        }
    }
    let items: Vec<AuditEntry> = entries.into_values().rev().collect();
    Ok(ListAuditResponse {
        total_items: items.len(),
        items,
    })
}

/// An export line's view of an entry: the same fields in the same order, except that
/// `roles` is left out when empty. Serialising this (instead of editing the entry's JSON
/// text) cannot touch a value that merely contains `"roles":[]`.
#[derive(Serialize)]
struct ExportLine<'a> {
    id: &'a str,
    timestamp: &'a str,
    user: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
    method: &'a str,
    path: &'a str,
    response_code: u16,
    duration_ms: u64,
    source_ip: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
}

impl<'a> From<&'a AuditEntry> for ExportLine<'a> {
    fn from(entry: &'a AuditEntry) -> Self {
        // Destructured without `..`: a field added to AuditEntry fails to compile here
        // instead of silently missing from exports.
        let AuditEntry {
            id,
            timestamp,
            user,
            roles,
            method,
            path,
            response_code,
            duration_ms,
            source_ip,
            operation_id,
            trace_id,
            body,
        } = entry;
        Self {
            id,
            timestamp,
            user,
            roles,
            method,
            path,
            response_code: *response_code,
            duration_ms: *duration_ms,
            source_ip,
            operation_id: operation_id.as_deref(),
            trace_id: trace_id.as_deref(),
            body: body.as_ref(),
        }
    }
}

/// One export line: the entry as compact JSON in field order, `roles` left out when
/// empty.
pub fn export_line(entry: &AuditEntry) -> String {
    // Strings and a JSON value always serialise; the default is never reached.
    serde_json::to_string(&ExportLine::from(entry)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_everywhere() {
        let body = json!({"command": "ls", "env": {"X": "1"}, "nested": [{"password": "p", "api_token": "t"}], "SigningKey": "k"});
        let v = masked_body(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(v["command"], "ls");
        assert_eq!(v["env"], MASK);
        assert_eq!(v["nested"][0]["password"], MASK);
        assert_eq!(v["nested"][0]["api_token"], MASK);
        assert_eq!(v["SigningKey"], MASK);
    }

    #[test]
    fn export_lines_keep_field_order() {
        let mut e = AuditEntry {
            id: "i".into(),
            timestamp: "t".into(),
            user: "u".into(),
            roles: vec![],
            method: "GET".into(),
            path: "/job".into(),
            response_code: 200,
            duration_ms: 3,
            source_ip: "127.0.0.1".into(),
            operation_id: None,
            trace_id: None,
            body: None,
        };
        assert_eq!(
            export_line(&e),
            r#"{"id":"i","timestamp":"t","user":"u","method":"GET","path":"/job","response_code":200,"duration_ms":3,"source_ip":"127.0.0.1"}"#
        );
        e.roles = vec!["admin".into()];
        assert!(export_line(&e).contains(r#""user":"u","roles":["admin"],"method""#));
    }

    #[test]
    fn export_lines_leave_roles_inside_values_alone() {
        // The removed field's name and its empty value as text and as a key inside the
        // body: only the entry's own `roles` may go.
        let body = json!({"note": ",\"roles\":[]", "inner": {"a": 1, "roles": []}});
        let e = AuditEntry {
            id: "i".into(),
            timestamp: "t".into(),
            user: r#"u","roles":[],"x"#.into(),
            roles: vec![],
            method: "POST".into(),
            path: "/job".into(),
            response_code: 202,
            duration_ms: 3,
            source_ip: "127.0.0.1".into(),
            operation_id: None,
            trace_id: None,
            body: Some(body.clone()),
        };
        let line = export_line(&e);
        let v: Value = serde_json::from_str(&line).expect("export line is JSON");
        let map = v.as_object().expect("object");
        assert!(!map.contains_key("roles"), "{line}");
        assert_eq!(v["user"], e.user.as_str());
        assert_eq!(v["body"], body, "{line}");
        assert_eq!(map.len(), 9, "{line}");
    }

    #[test]
    fn non_json_or_large_bodies_are_not_kept() {
        assert_eq!(masked_body(b"not json"), None);
        assert_eq!(masked_body(&vec![b' '; MAX_BODY + 1]), None);
        assert_eq!(masked_body(b""), None);
    }
}
