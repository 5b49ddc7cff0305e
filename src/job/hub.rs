//! The controller's one subscription to job answers, shared by every waiting request.
//!
//! Agents write each answer to the response bucket, which JetStream publishes on the
//! bucket's subject (`$KV.<bucket>.<job>.<host>`). One core NATS subscription per process
//! hears every answer as it is written and hands it to the request waiting for that job;
//! no JetStream consumer is created per request (a stream holds at most 1,000 of them).
//!
//! Invariants:
//! - A waiter is registered before its job is published, and the subscription is live on
//!   the server before the first waiter exists, so no answer can pass unseen.
//! - Core delivery is at-most-once (a reconnect or a slow consumer can drop a message), so
//!   after every reconnect each waiter re-reads its job's keys once, and a waiter re-reads
//!   them once more before it gives up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::jetstream::kv;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::feed::JobFeed;
use crate::nats::connect::route_messages;
use crate::nats::kv_scan;
use crate::wire::job::JobResponse;

/// How often the hub looks for a finished reconnect.
const RECONNECT_CHECK: Duration = Duration::from_millis(250);

/// What the hub tells a waiter.
#[derive(Debug)]
pub enum Delivery {
    /// One host's answer as stored (signed), with the host of its key (sanitised).
    Answer { host: String, bytes: bytes::Bytes },
    /// The connection came back: answers may have been missed, read the bucket.
    Reread,
}

/// Waiters by job id; `None` once the hub stopped routing.
type Senders = Option<HashMap<String, mpsc::UnboundedSender<Delivery>>>;

/// Routes answers from the shared subscription to the requests waiting for them.
#[derive(Clone)]
pub struct ResponseHub {
    waiters: Arc<Mutex<Senders>>,
    responses: kv::Store,
    /// Streams following jobs hear the same answers.
    feed: Option<JobFeed>,
}

/// The subscription could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot subscribe to job answers on {subject}")]
pub struct HubError {
    subject: String,
    #[source]
    source: async_nats::Error,
}

impl ResponseHub {
    /// Subscribes to every answer in `responses` and routes them until `cancel` fires or
    /// the client closes. Returns once the server has the subscription.
    pub async fn start(
        client: &async_nats::Client,
        responses: kv::Store,
        feed: Option<JobFeed>,
        cancel: CancellationToken,
    ) -> Result<Self, HubError> {
        let subject = format!("{}>", responses.prefix);
        let fail = |source: async_nats::Error| HubError {
            subject: subject.clone(),
            source,
        };
        let subscription = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| fail(e.into()))?;
        // The SUB must reach the server before any job is published.
        client.flush().await.map_err(|e| fail(e.into()))?;
        let hub = Self {
            waiters: Arc::new(Mutex::new(Some(HashMap::new()))),
            responses,
            feed,
        };
        tokio::spawn(hub.clone().route(client.clone(), subscription, cancel));
        Ok(hub)
    }

    /// Registers interest in `job_id`'s answers. Call before publishing the job; the
    /// registration ends when the returned waiter is dropped. Once the hub has stopped,
    /// the waiter's channel is closed at once.
    pub fn wait_for(&self, job_id: &str) -> Waiter {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(waiters) = lock(&self.waiters).as_mut() {
            waiters.insert(job_id.to_owned(), tx);
        }
        Waiter {
            job_id: job_id.to_owned(),
            rx,
            hub: self.clone(),
        }
    }

    async fn route(
        self,
        client: async_nats::Client,
        subscription: async_nats::Subscriber,
        cancel: CancellationToken,
    ) {
        let on_tick = |reconnected: bool| {
            if reconnected {
                self.broadcast_reread();
            }
        };
        let on_message = |msg: &async_nats::Message| self.deliver(msg);
        route_messages(
            &client,
            subscription,
            RECONNECT_CHECK,
            &cancel,
            on_message,
            on_tick,
        )
        .await;
        // Waiters see their channel close and fall back to reading the bucket.
        lock(&self.waiters).take();
    }

    /// Hands one bucket message to the waiter of its job, if this process has one.
    fn deliver(&self, msg: &async_nats::Message) {
        let Some(key) = msg.subject.as_str().strip_prefix(&self.responses.prefix) else {
            return;
        };
        let (job_id, host) = key.split_once('.').unwrap_or((key, ""));
        let waiter = lock(&self.waiters)
            .as_ref()
            .and_then(|w| w.get(job_id))
            .cloned();
        let feed = self.feed.as_ref().filter(|f| f.wants(job_id));
        if (waiter.is_none() && feed.is_none()) || kv_scan::is_removal(msg.headers.as_ref()) {
            return;
        }
        // Streams show answers as stored, as `GET /job/{id}` does; the waiter checks the
        // signature before the caller's result believes one.
        if let Some(feed) = feed {
            match serde_json::from_slice::<JobResponse>(&msg.payload) {
                Ok(answer) => feed.answer(answer),
                Err(e) => tracing::warn!(%key, error = %e, "unreadable job response"),
            }
        }
        if let Some(tx) = waiter {
            let _ = tx.send(Delivery::Answer {
                host: host.to_owned(),
                bytes: msg.payload.clone(),
            });
        }
    }

    fn broadcast_reread(&self) {
        let waiters = lock(&self.waiters);
        let Some(waiters) = waiters.as_ref() else {
            return;
        };
        tracing::info!(
            waiters = waiters.len(),
            "NATS reconnected; waiting requests re-read their answers"
        );
        for tx in waiters.values() {
            let _ = tx.send(Delivery::Reread);
        }
    }
}

/// One request's view of the hub: its job's answers, in arrival order.
pub struct Waiter {
    job_id: String,
    rx: mpsc::UnboundedReceiver<Delivery>,
    hub: ResponseHub,
}

impl Waiter {
    /// The next delivery; `None` when the hub stopped.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// Every answer stored for the job now, read from the bucket (no consumer), as
    /// (host of its key, stored bytes).
    pub async fn reread(&self) -> Result<Vec<(String, bytes::Bytes)>, kv_scan::ScanError> {
        let filter = JobResponse::watch_filter(&self.job_id);
        let entries = kv_scan::latest_by_index(&self.hub.responses, &filter).await?;
        let prefix = format!("{}.", self.job_id);
        Ok(entries
            .into_iter()
            .filter_map(|(key, bytes)| Some((key.strip_prefix(&prefix)?.to_owned(), bytes)))
            .collect())
    }

    /// The job this waiter waits for.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(waiters) = lock(&self.hub.waiters).as_mut() {
            waiters.remove(&self.job_id);
        }
    }
}

fn lock(waiters: &Mutex<Senders>) -> MutexGuard<'_, Senders> {
    // The map stays consistent whatever a panicking holder did: entries are whole.
    waiters.lock().unwrap_or_else(PoisonError::into_inner)
}
