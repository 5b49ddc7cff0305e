//! The audit log: every authenticated API call, who made it and how it ended, in the audit
//! bucket under time-ordered ids. Writing never slows or fails the request it records.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use serde_json::Value;
use tokio::sync::mpsc;

pub use crate::wire::audit::{AuditEntry, AuditEntryResponse, ListAuditResponse};

/// Entries waiting to be written; when full, new entries are dropped (and counted in the
/// log) rather than holding up requests.
const QUEUE: usize = 4096;
/// Bodies larger than this are not recorded.
const MAX_BODY: usize = 8 * 1024;
const MASK: &str = "********";

/// Hands entries to a background writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditEntry>,
}

impl AuditLog {
    /// Starts the writer for `bucket`.
    pub fn start(bucket: kv::Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<AuditEntry>(QUEUE);
        tokio::spawn(async move {
            while let Some(entry) = rx.recv().await {
                let Ok(body) = serde_json::to_vec(&entry) else {
                    continue;
                };
                if let Err(e) = bucket.put(&entry.id, body.into()).await {
                    tracing::warn!(error = %e, id = %entry.id, "audit entry not written");
                }
            }
        });
        Self { tx }
    }

    /// Queues an entry; never waits.
    pub fn record(&self, entry: AuditEntry) {
        if self.tx.try_send(entry).is_err() {
            tracing::warn!("audit queue full; entry dropped");
        }
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

/// Newest first. Keys are UUID v7 (time-ordered), so only the page's values are read.
pub async fn list(
    bucket: &kv::Store,
    limit: usize,
    offset: usize,
) -> Result<ListAuditResponse, String> {
    let mut keys: Vec<String> = crate::nats::kv_scan::scan(bucket, ">", false)
        .await
        .map_err(|e| e.to_string())?
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
pub async fn get(bucket: &kv::Store, id: &str) -> Result<Option<AuditEntry>, String> {
    Ok(bucket
        .get(id)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Every entry, newest first (ids are UUID v7, so key order is time order).
pub async fn export(bucket: &kv::Store) -> Result<ListAuditResponse, String> {
    let mut entries: BTreeMap<String, AuditEntry> = BTreeMap::new();
    for (key, value) in crate::nats::kv_scan::scan(bucket, ">", true)
        .await
        .map_err(|e| e.to_string())?
    {
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

/// One export line: the entry as compact JSON in field order, `roles` left out when
/// empty.
pub fn export_line(entry: &AuditEntry) -> String {
    let line = serde_json::to_string(entry).unwrap_or_default();
    if entry.roles.is_empty() {
        line.replacen(",\"roles\":[]", "", 1)
    } else {
        line
    }
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
    fn non_json_or_large_bodies_are_not_kept() {
        assert_eq!(masked_body(b"not json"), None);
        assert_eq!(masked_body(&vec![b' '; MAX_BODY + 1]), None);
        assert_eq!(masked_body(b""), None);
    }
}
