//! Checking the signature of each host's answer before the controller believes it.
//!
//! Every agent signs its answers with a key it makes at start and publishes in its
//! registry entry (`answer_key`), which only that agent's NATS user may write. An answer
//! whose signature is missing or does not match that key is not taken as the host's
//! result: the host's result says it was rejected, and a `failed` event records why.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::jetstream::kv;

use crate::job::target::sanitize_hostname;
use crate::security::signed::{self, Domain};
use crate::wire::job::{rfc3339, JobResponse, JobStatus};
use crate::wire::keys;
use crate::wire::registry::AgentRegistration;

/// Answer keys by hostname, read from the registry when first needed and again when an
/// answer does not match (the agent restarted with a new key).
#[derive(Clone)]
pub struct AnswerCheck {
    registry: kv::Store,
    keys: Arc<Mutex<HashMap<String, String>>>,
}

/// An answer that was not accepted, as the host's result and the reason.
pub struct Rejected {
    pub response: JobResponse,
    pub reason: String,
}

impl AnswerCheck {
    pub fn new(registry: kv::Store) -> Self {
        Self {
            registry,
            keys: Arc::default(),
        }
    }

    /// The answer stored under `<job>.<host>` (`host` sanitised, from the key), when its
    /// signature is good; else the host's rejection.
    pub async fn accept(
        &self,
        job_id: &str,
        host: &str,
        bytes: &[u8],
    ) -> Result<JobResponse, Rejected> {
        let reject = |hostname: &str, reason: String| Rejected {
            response: rejection(job_id, hostname, &reason),
            reason,
        };
        let claimed = match serde_json::from_slice::<JobResponse>(bytes) {
            Ok(r) if sanitize_hostname(&r.hostname) == host => r.hostname,
            Ok(r) => {
                let why = format!("answer rejected: written for {} under {host}", r.hostname);
                return Err(reject(host, why));
            }
            Err(e) => return Err(reject(host, format!("answer rejected: unreadable: {e}"))),
        };
        let cached = self.cached(&claimed);
        let mut result = match &cached {
            Some(key) => self.open(bytes, key),
            None => Err("no answer key known".to_owned()),
        };
        if result.is_err() {
            match self.refresh(&claimed).await {
                Some(key) if Some(&key) != cached.as_ref() => result = self.open(bytes, &key),
                Some(_) => {}
                None => result = Err("the host publishes no answer key".into()),
            }
        }
        match result {
            Ok(answer) if answer.hostname == claimed && answer.job_id == job_id => Ok(answer),
            Ok(answer) => Err(reject(
                &claimed,
                format!(
                    "answer rejected: signed for job {} of {}",
                    answer.job_id, answer.hostname
                ),
            )),
            Err(why) => Err(reject(&claimed, format!("answer rejected: {why}"))),
        }
    }

    fn open(&self, bytes: &[u8], key: &str) -> Result<JobResponse, String> {
        let body = signed::open(bytes, Domain::JobResponse, &[key.to_owned()])
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&body).map_err(|e| format!("unreadable: {e}"))
    }

    fn cached(&self, hostname: &str) -> Option<String> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.get(hostname).cloned()
    }

    /// The host's answer key as its registry entry says now.
    async fn refresh(&self, hostname: &str) -> Option<String> {
        let entry = self.registry.get(keys::agent(hostname)).await.ok()??;
        let entry: AgentRegistration = serde_json::from_slice(&entry).ok()?;
        let key = entry.answer_key?;
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.insert(hostname.to_owned(), key.clone());
        Some(key)
    }
}

/// The result of a host whose answer was rejected.
fn rejection(job_id: &str, hostname: &str, reason: &str) -> JobResponse {
    JobResponse {
        job_id: job_id.to_owned(),
        status: JobStatus::Failed,
        data: None,
        error: Some(reason.to_owned()),
        field: None,
        changed: None,
        hostname: hostname.to_owned(),
        timestamp: rfc3339(time::OffsetDateTime::now_utc()),
    }
}
