//! Job events pushed as they happen, fanned out in memory.
//!
//! One core subscription on the job bucket (records and status events) and the
//! [`ResponseHub`](super::hub::ResponseHub)'s one subscription on the response bucket feed
//! every follower of a job (`GET /job/{id}/events`) and the fleet's `job.created` /
//! `job.finished` events: no JetStream consumer is created per stream client.
//!
//! A follower that joins late registers first, then reads what is stored (one direct get
//! per key, through the subject index), then goes on live; [`Follow`] drops what both
//! delivered, so nothing is told twice or missed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::follow::Follow;
use super::index::{Change as IndexChange, JobIndex};
use super::store::StoreError;
use crate::nats::connect::route_messages;
use crate::nats::kv_scan;
use crate::wire::events::{FleetEvent, FleetKind, JobStreamEvent};
use crate::wire::job::{rfc3339, with_acknowledgements, JobRecord, JobResponse, StatusEvent};
use crate::wire::keys;

/// Fleet events a slow stream client may fall behind by before it misses some.
const FLEET_BACKLOG: usize = 4096;
/// How often the feed settles hosts, forgets stale jobs and looks for a reconnect.
const TICK: Duration = Duration::from_millis(250);
/// A job nobody finished (its controller stopped) is forgotten after this long.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The fleet's events, to every `GET /events` client (a broadcast channel: one copy of
/// each event, however many clients).
#[derive(Clone)]
pub struct FleetBus(broadcast::Sender<Arc<FleetEvent>>);

impl Default for FleetBus {
    fn default() -> Self {
        Self(broadcast::channel(FLEET_BACKLOG).0)
    }
}

impl FleetBus {
    /// Hands `event` to every current subscriber.
    pub fn publish(&self, event: FleetEvent) {
        let _ = self.0.send(Arc::new(event));
    }

    /// Every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FleetEvent>> {
        self.0.subscribe()
    }
}

/// What the feed hands a job's followers.
#[derive(Debug)]
pub enum FeedItem {
    Record(JobRecord),
    Status(StatusEvent),
    Answer(JobResponse),
    /// NATS reconnected: events may have been missed, read the buckets.
    Reread,
}

type Senders = Option<HashMap<String, Vec<(u64, mpsc::UnboundedSender<Arc<FeedItem>>)>>>;

/// A job the feed follows for the fleet's `job.finished`.
struct Tracked {
    follow: Follow,
    since: Instant,
    target: String,
}

struct Inner {
    followers: Mutex<Senders>,
    /// Jobs seen created and not yet finished, for `job.finished`.
    running: Mutex<HashMap<String, Tracked>>,
    next_id: AtomicU64,
    fleet: FleetBus,
    jobs: kv::Store,
    responses: kv::Store,
    /// The listing index, kept current from the same messages.
    index: JobIndex,
}

/// Routes job events from the shared subscriptions to the streams following them.
#[derive(Clone)]
pub struct JobFeed {
    inner: Arc<Inner>,
}

/// The subscription could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot subscribe to job events on {subject}")]
pub struct FeedError {
    subject: String,
    #[source]
    source: async_nats::Error,
}

impl JobFeed {
    /// Subscribes to the job bucket and routes its events until `cancel`. Returns once
    /// the server has the subscription.
    pub async fn start(
        client: &async_nats::Client,
        jobs: kv::Store,
        responses: kv::Store,
        fleet: FleetBus,
        cancel: CancellationToken,
    ) -> Result<Self, FeedError> {
        let subject = format!("{}>", jobs.prefix);
        let fail = |source: async_nats::Error| FeedError {
            subject: subject.clone(),
            source,
        };
        let subscription = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| fail(e.into()))?;
        client.flush().await.map_err(|e| fail(e.into()))?;
        let feed = Self {
            inner: Arc::new(Inner {
                followers: Mutex::new(Some(HashMap::new())),
                running: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                fleet,
                jobs,
                responses,
                index: JobIndex::default(),
            }),
        };
        tokio::spawn(feed.clone().route(client.clone(), subscription, cancel));
        feed.inner.index.refresh_in_background(&feed.inner.jobs);
        Ok(feed)
    }

    async fn route(
        self,
        client: async_nats::Client,
        subscription: async_nats::Subscriber,
        cancel: CancellationToken,
    ) {
        let on_tick = |reconnected: bool| {
            if reconnected {
                self.inner.index.mark_stale();
                self.inner.index.refresh_in_background(&self.inner.jobs);
                self.to_all(FeedItem::Reread);
            }
            self.settle(Instant::now());
        };
        let on_message = |msg: &async_nats::Message| self.job_message(msg);
        route_messages(&client, subscription, TICK, &cancel, on_message, on_tick).await;
        // Followers see their channel close and end.
        lock(&self.inner.followers).take();
    }

    /// One message of the job bucket: a new record or a status event.
    fn job_message(&self, msg: &async_nats::Message) {
        let Some(key) = msg.subject.as_str().strip_prefix(&self.inner.jobs.prefix) else {
            return;
        };
        if kv_scan::is_removal(msg.headers.as_ref()) {
            let key = key.to_owned();
            self.inner.index.apply(IndexChange::Removed { key });
            return;
        }
        if let Some((id, ..)) = keys::status_event_parts(key) {
            let change = IndexChange::Event {
                key: key.to_owned(),
            };
            self.inner.index.apply(change);
            match serde_json::from_slice::<StatusEvent>(&msg.payload) {
                Ok(event) => {
                    for event in with_acknowledgements([event]) {
                        self.status(id, event);
                    }
                }
                Err(e) => tracing::debug!(%key, error = %e, "unreadable status event"),
            }
        } else if key.starts_with("jobs.") {
            match serde_json::from_slice::<JobRecord>(&msg.payload) {
                Ok(record) => self.created(record),
                Err(e) => tracing::debug!(%key, error = %e, "unreadable job record"),
            }
        }
    }

    fn created(&self, record: JobRecord) {
        self.inner.index.apply(IndexChange::Record {
            id: record.id.clone(),
            unicast: super::status::is_unicast(&record.target),
        });
        self.inner.fleet.publish(FleetEvent {
            kind: FleetKind::JobCreated,
            hostname: None,
            target: Some(record.target.clone()),
            job_id: Some(record.id.clone()),
            labels: Default::default(),
            timestamp: record.created.clone(),
            data: serde_json::json!({
                "operation": record.operation.kind,
                "expected": record.expected,
            }),
        });
        let id = record.id.clone();
        let tracked = Tracked {
            follow: Follow::new(&record),
            since: Instant::now(),
            target: record.target.clone(),
        };
        lock(&self.inner.running).insert(id.clone(), tracked);
        self.to_followers(&id, FeedItem::Record(record));
    }

    fn status(&self, id: &str, event: StatusEvent) {
        let finished = {
            let mut running = lock(&self.inner.running);
            running
                .get_mut(id)
                .map(|t| t.follow.status(event.clone(), Instant::now()))
        };
        self.finish_if_done(id, finished.unwrap_or_default());
        self.to_followers(id, FeedItem::Status(event));
    }

    /// The listing index this feed keeps current.
    pub fn index(&self) -> &JobIndex {
        &self.inner.index
    }

    /// A host's answer, heard by the response hub's subscription.
    pub fn answer(&self, answer: JobResponse) {
        let id = answer.job_id.clone();
        let finished = {
            let mut running = lock(&self.inner.running);
            running
                .get_mut(&id)
                .map(|t| t.follow.answer(answer.clone(), Instant::now()))
        };
        self.finish_if_done(&id, finished.unwrap_or_default());
        self.to_followers(&id, FeedItem::Answer(answer));
    }

    /// Whether anything here wants `job_id`'s answers (so the hub decodes them).
    pub fn wants(&self, job_id: &str) -> bool {
        lock(&self.inner.running).contains_key(job_id)
            || lock(&self.inner.followers)
                .as_ref()
                .is_some_and(|f| f.contains_key(job_id))
    }

    fn finish_if_done(&self, id: &str, told: Vec<JobStreamEvent>) {
        for event in told {
            if let JobStreamEvent::Done(done) = event {
                if let Some(tracked) = lock(&self.inner.running).remove(id) {
                    self.job_finished(done, &tracked);
                }
            }
        }
    }

    fn job_finished(&self, done: crate::wire::events::JobDone, tracked: &Tracked) {
        let hosts: Vec<&String> = tracked.follow.finished().iter().collect();
        self.inner.fleet.publish(FleetEvent {
            kind: FleetKind::JobFinished,
            hostname: None,
            target: Some(tracked.target.clone()),
            job_id: Some(done.job_id),
            labels: Default::default(),
            timestamp: done.timestamp,
            data: serde_json::json!({"status": done.status, "hosts": hosts}),
        });
    }

    /// Settles hosts whose time ran out; forgets jobs nobody finished.
    fn settle(&self, now: Instant) {
        let mut done = Vec::new();
        {
            let mut running = lock(&self.inner.running);
            let due: Vec<String> = running
                .iter()
                .filter_map(|(id, t)| {
                    let stale = now.duration_since(t.since) > FORGET_AFTER;
                    (t.follow.next_deadline().is_some_and(|at| at <= now) || stale)
                        .then(|| id.clone())
                })
                .collect();
            for id in due {
                let Some(mut tracked) = running.remove(&id) else {
                    continue;
                };
                match tracked.follow.tick(now) {
                    Some(JobStreamEvent::Done(d)) => done.push((d, tracked)),
                    _ if now.duration_since(tracked.since) > FORGET_AFTER => {
                        tracing::debug!(job_id = %id, "job never finished; no longer followed");
                    }
                    _ => {
                        running.insert(id, tracked);
                    }
                }
            }
        }
        for (d, tracked) in &done {
            self.job_finished(d.clone(), tracked);
        }
    }

    fn to_followers(&self, id: &str, item: FeedItem) {
        let followers = lock(&self.inner.followers);
        let Some(list) = followers.as_ref().and_then(|f| f.get(id)) else {
            return;
        };
        let item = Arc::new(item);
        for (_, tx) in list {
            let _ = tx.send(item.clone());
        }
    }

    fn to_all(&self, item: FeedItem) {
        let item = Arc::new(item);
        let followers = lock(&self.inner.followers);
        for (_, tx) in followers.iter().flat_map(|f| f.values()).flatten() {
            let _ = tx.send(item.clone());
        }
    }

    /// Registers a follower of `job_id`; it ends when the returned value is dropped.
    pub fn follow(&self, job_id: &str) -> Following {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Some(followers) = lock(&self.inner.followers).as_mut() {
            followers
                .entry(job_id.to_owned())
                .or_default()
                .push((id, tx));
        }
        Following {
            job_id: job_id.to_owned(),
            id,
            rx,
            feed: self.clone(),
        }
    }

    /// The job's record, or `None` if there is no such job (one direct get).
    pub async fn record(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let key = JobRecord::key(job_id);
        let Some(bytes) = self
            .inner
            .jobs
            .get(&key)
            .await
            .map_err(|e| StoreError::Kv {
                op: "get",
                key: key.clone(),
                source: e.into(),
            })?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Decode { key, source })
    }

    /// Every stored event and answer of a job, oldest first (no consumer: the subject
    /// index and one direct get per key).
    pub async fn stored(&self, job_id: &str) -> Result<Vec<FeedItem>, StoreError> {
        let events = kv_scan::latest_by_index(&self.inner.jobs, &keys::status_of(job_id)).await?;
        let answers =
            kv_scan::latest_by_index(&self.inner.responses, &keys::responses_of(job_id)).await?;
        let mut items: Vec<(i128, FeedItem)> =
            with_acknowledgements(kv_scan::decode_each::<StatusEvent>(events, "status event"))
                .into_iter()
                .map(|e| (e.unix_nano, FeedItem::Status(e)))
                .collect();
        items.extend(
            kv_scan::decode_each::<JobResponse>(answers, "job response")
                .into_iter()
                .map(|a| (unix_nano(&a.timestamp), FeedItem::Answer(a))),
        );
        items.sort_by_key(|(at, _)| *at);
        Ok(items.into_iter().map(|(_, item)| item).collect())
    }
}

fn unix_nano(rfc3339_text: &str) -> i128 {
    time::OffsetDateTime::parse(rfc3339_text, &time::format_description::well_known::Rfc3339)
        .map_or(i128::MAX, time::OffsetDateTime::unix_timestamp_nanos)
}

/// One follower's registration with the feed.
pub struct Following {
    job_id: String,
    id: u64,
    rx: mpsc::UnboundedReceiver<Arc<FeedItem>>,
    feed: JobFeed,
}

impl Following {
    /// The next item; `None` when the feed stopped.
    pub async fn next(&mut self) -> Option<Arc<FeedItem>> {
        self.rx.recv().await
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut followers = lock(&self.feed.inner.followers);
        let Some(map) = followers.as_mut() else {
            return;
        };
        if let Some(list) = map.get_mut(&self.job_id) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                map.remove(&self.job_id);
            }
        }
    }
}

/// A job's events from the start: what is stored, then live, ending with `done`.
/// Register (`following`) before reading `stored`, so that nothing falls between.
pub fn job_stream(
    feed: JobFeed,
    record: JobRecord,
    following: Following,
    stored: Vec<FeedItem>,
) -> impl Stream<Item = JobStreamEvent> + Send {
    let mut state = Streaming {
        follow: Follow::new(&record),
        queue: VecDeque::new(),
        following,
        feed,
        ended: false,
    };
    state.take(&FeedItem::Record(record));
    for item in &stored {
        state.take(item);
    }
    futures::stream::unfold(state, |mut state| async move {
        let event = state.next_event().await?;
        Some((event, state))
    })
}

struct Streaming {
    follow: Follow,
    queue: VecDeque<JobStreamEvent>,
    following: Following,
    feed: JobFeed,
    /// `done` was queued, or the feed stopped.
    ended: bool,
}

impl Streaming {
    fn take(&mut self, item: &FeedItem) {
        let now = Instant::now();
        let told = match item {
            FeedItem::Record(r) => self.follow.record(r).into_iter().collect(),
            FeedItem::Status(e) => self.follow.status(e.clone(), now),
            FeedItem::Answer(a) => self.follow.answer(a.clone(), now),
            FeedItem::Reread => Vec::new(),
        };
        self.tell(told);
    }

    fn tell(&mut self, told: Vec<JobStreamEvent>) {
        self.ended |= self.follow.is_done();
        self.queue.extend(told);
    }

    async fn next_event(&mut self) -> Option<JobStreamEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let deadline = self.follow.next_deadline();
            let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
            tokio::select! {
                item = self.following.next() => match item {
                    Some(item) if matches!(*item, FeedItem::Reread) => self.reread().await,
                    Some(item) => self.take(&item),
                    None => self.ended = true,
                },
                _ = sleep, if deadline.is_some() => {
                    let told = self.follow.tick(Instant::now());
                    self.tell(told.into_iter().collect());
                }
            }
        }
    }

    async fn reread(&mut self) {
        let job_id = self.following.job_id.clone();
        match self.feed.stored(&job_id).await {
            Ok(items) => items.iter().for_each(|item| self.take(item)),
            Err(e) => tracing::warn!(%job_id, error = %e, "cannot re-read job events"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent whatever a panicking holder did: entries are whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// RFC 3339 now (fleet events made here).
pub fn now_text() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}
