//! The controller's in-memory index of stored jobs, so that a listing page or the health
//! totals cost a page of reads, not a scan of the whole job bucket.
//!
//! It holds, per job, only what the listing needs to choose a page: the id (time-ordered,
//! UUID v7), whether the job is a unicast, the keys of its status events (which give each
//! host's furthest event, hence the job's overall status) and whether its record was seen.
//! Per-status counters are kept as entries change.
//!
//! Built by scanning the bucket in the background as the controller starts (a listing
//! that comes first waits for it), then kept current by the job feed, which hears every
//! put and removal in the bucket. After a reconnect core delivery may have lost
//! messages, so the index is rebuilt the same way. Records
//! expire with the bucket's age limit without any message: entries older than that limit
//! are dropped as pages are read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::kv;

use super::status::overall_status;
use super::store::StoreError;
use crate::nats::kv_scan;
use crate::wire::job::{JobEvent, OverallStatus};
use crate::wire::keys;

/// What the feed saw happen to one key of the job bucket.
#[derive(Debug, Clone)]
pub enum Change {
    /// A job record was stored.
    Record { id: String, unicast: bool },
    /// A status event was stored under `key`.
    Event { key: String },
    /// `key` was deleted or purged.
    Removed { key: String },
}

/// The index; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct JobIndex {
    state: Arc<Mutex<State>>,
    /// One rebuild at a time; others wait for it and use its result.
    rebuilding: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<u128, Entry>,
    /// Jobs with a record, by overall status.
    counts: [usize; OverallStatus::ALL.len()],
    /// Built by a scan with no message missed since.
    fresh: bool,
    /// Changes heard while a rebuild scans, replayed onto its result.
    pending: Option<Vec<Change>>,
    /// Counts the times messages may have been lost, so that a rebuild that overlapped
    /// one does not call itself fresh.
    losses: u64,
    /// The bucket's age limit (zero: none).
    ttl: Duration,
}

#[derive(Default)]
struct Entry {
    /// The record was seen (events can arrive first).
    recorded: bool,
    unicast: bool,
    status: Option<OverallStatus>,
    /// How many hosts stand at each furthest event: kept as events come, so that an
    /// event costs the same whatever the number of hosts (recomputing from every event
    /// made a 1,000-host broadcast quadratic).
    standing: Standing,
    hosts: Hosts,
}

/// The hosts that stored events for one job. Almost every job has one host, so they are
/// a list, searched in place; a broadcast's hosts get a map by name once there are many.
/// (A unicast job's entry, with its allocations, is about 340 bytes: 100,000 jobs take
/// about 33 MB.)
#[derive(Default)]
struct Hosts {
    list: Vec<HostEvents>,
    // Boxed: 8 bytes in every entry instead of a map's 48, for the few that need one.
    #[allow(clippy::box_collection)]
    by_name: Option<Box<HashMap<Box<str>, usize>>>,
}

/// Hosts are searched in the list up to this many; a map by name is built beyond.
const LISTED_HOSTS: usize = 8;

/// One host's stored events of a job.
struct HostEvents {
    /// As status keys carry it (sanitised).
    host: Box<str>,
    /// Each stored event as `<event>.<rest of the key>`, space-separated (no key holds a
    /// space): enough to give each key back whole.
    stamps: Box<str>,
    /// [`JobEvent::progress_rank`] of the furthest event (0: none yet).
    furthest: u8,
}

/// Hosts by their furthest event.
#[derive(Default)]
struct Standing {
    running: u32,
    failed: u32,
    completed: u32,
}

/// One page chosen from the index: the totals, and each job's id and status event keys.
pub struct Page {
    pub total_items: usize,
    pub status_counts: Option<BTreeMap<String, usize>>,
    pub jobs: Vec<(String, Vec<String>)>,
}

impl JobIndex {
    /// Applies what the feed heard.
    pub fn apply(&self, change: Change) {
        let mut state = self.lock();
        if let Some(pending) = state.pending.as_mut() {
            pending.push(change.clone());
        }
        state.apply(change);
    }

    /// Messages may have been lost (a reconnect): the next read rebuilds.
    pub fn mark_stale(&self) {
        let mut state = self.lock();
        state.fresh = false;
        state.losses += 1;
    }

    /// Rebuilds in the background when not fresh, so that no caller waits for the scan
    /// (at start and after a reconnect; 100,000 jobs take seconds).
    pub fn refresh_in_background(&self, jobs: &kv::Store) {
        let (index, jobs) = (self.clone(), jobs.clone());
        tokio::spawn(async move {
            if let Err(e) = index.ensure_fresh(&jobs).await {
                tracing::debug!(error = %e, "job index not rebuilt; the next listing tries again");
            }
        });
    }

    /// The number of jobs and the totals per status.
    pub async fn totals(
        &self,
        jobs: &kv::Store,
    ) -> Result<(usize, BTreeMap<String, usize>), StoreError> {
        self.ensure_fresh(jobs).await?;
        let mut state = self.lock();
        state.prune_expired(now_ms());
        Ok((state.recorded(), state.counts_by_name()))
    }

    /// The page of jobs `offset..offset + limit`, newest first, of `status` or of all.
    pub async fn page(
        &self,
        jobs: &kv::Store,
        status: Option<OverallStatus>,
        limit: usize,
        offset: usize,
    ) -> Result<Page, StoreError> {
        self.ensure_fresh(jobs).await?;
        let mut state = self.lock();
        state.prune_expired(now_ms());
        let total = state.recorded();
        let total_items = status.map_or(total, |s| state.counts[slot(s)]);
        let chosen = state
            .jobs
            .iter()
            .rev()
            .filter(|(_, e)| e.recorded && status.is_none_or(|s| e.status == Some(s)))
            .skip(offset)
            .take(limit)
            .map(|(id, e)| {
                let id = uuid::Uuid::from_u128(*id).to_string();
                let event_keys = e.event_keys(&id);
                (id, event_keys)
            })
            .collect();
        Ok(Page {
            total_items,
            status_counts: (total > 0).then(|| state.counts_by_name()),
            jobs: chosen,
        })
    }

    /// The ids of every job in `status`, oldest first.
    pub async fn ids_with_status(
        &self,
        jobs: &kv::Store,
        status: OverallStatus,
    ) -> Result<Vec<String>, StoreError> {
        self.ensure_fresh(jobs).await?;
        let mut state = self.lock();
        state.prune_expired(now_ms());
        Ok(state
            .jobs
            .iter()
            .filter(|(_, e)| e.counted() == Some(status))
            .map(|(id, _)| uuid::Uuid::from_u128(*id).to_string())
            .collect())
    }

    /// Forgets a job whose record turned out to be gone.
    pub fn forget(&self, id: &str) {
        if let Some(id) = parse_id(id) {
            self.lock().remove(id);
        }
    }

    async fn ensure_fresh(&self, jobs: &kv::Store) -> Result<(), StoreError> {
        if self.lock().fresh {
            return Ok(());
        }
        let _one = self.rebuilding.lock().await;
        if self.lock().fresh {
            return Ok(());
        }
        let losses = {
            let mut state = self.lock();
            state.pending = Some(Vec::new());
            state.losses
        };
        let built = build(jobs).await;
        let mut state = self.lock();
        let pending = state.pending.take().unwrap_or_default();
        let mut rebuilt = built?;
        for change in pending {
            rebuilt.apply(change);
        }
        rebuilt.fresh = state.losses == losses;
        rebuilt.losses = state.losses;
        *state = rebuilt;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters that are at worst stale.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An index from a scan of every record and every status key of the bucket.
async fn build(jobs: &kv::Store) -> Result<State, StoreError> {
    let ttl = jobs.status().await.map(|s| s.max_age()).unwrap_or_default();
    let records = kv_scan::scan(jobs, keys::JOBS_ALL, true).await?;
    let status_keys = kv_scan::scan(jobs, keys::STATUS_ALL, false).await?;
    let mut state = State {
        ttl,
        ..State::default()
    };
    for (_, bytes) in records {
        if let Ok(record) = serde_json::from_slice::<crate::wire::job::JobRecord>(&bytes) {
            let unicast = super::status::is_unicast(&record.target);
            state.apply(Change::Record {
                id: record.id,
                unicast,
            });
        }
    }
    for (key, _) in status_keys {
        state.apply(Change::Event { key });
    }
    Ok(state)
}

impl State {
    fn apply(&mut self, change: Change) {
        match change {
            Change::Record { id, unicast } => {
                if let Some(id) = parse_id(&id) {
                    self.update(id, |e| {
                        e.recorded = true;
                        e.unicast = unicast;
                    });
                }
            }
            Change::Event { key } => {
                let Some((id, ..)) = keys::status_event_parts(&key) else {
                    return;
                };
                let Some(id_num) = parse_id(id) else {
                    return;
                };
                let suffix = &key["status.".len() + id.len() + 1..];
                self.update(id_num, |e| e.add_event(suffix));
            }
            Change::Removed { key } => {
                let id = key.strip_prefix("jobs.").and_then(parse_id);
                if let Some(id) = id {
                    self.remove(id);
                }
            }
        }
    }

    /// Changes one entry (creating it) and keeps the counters in step.
    fn update(&mut self, id: u128, change: impl FnOnce(&mut Entry)) {
        let entry = self.jobs.entry(id).or_default();
        let before = entry.counted();
        change(entry);
        entry.status = Some(entry.compute_status());
        let after = entry.counted();
        if before != after {
            if let Some(s) = before {
                self.counts[slot(s)] -= 1;
            }
            if let Some(s) = after {
                self.counts[slot(s)] += 1;
            }
        }
    }

    fn remove(&mut self, id: u128) {
        if let Some(s) = self.jobs.remove(&id).and_then(|e| e.counted()) {
            self.counts[slot(s)] -= 1;
        }
    }

    /// Drops jobs older than the bucket's age limit: their records expired silently.
    fn prune_expired(&mut self, now_ms: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let cutoff = now_ms.saturating_sub(self.ttl.as_millis() as u64);
        while let Some((&id, _)) = self.jobs.first_key_value() {
            if created_ms(id) >= cutoff {
                break;
            }
            self.remove(id);
        }
    }

    fn recorded(&self) -> usize {
        self.counts.iter().sum()
    }

    fn counts_by_name(&self) -> BTreeMap<String, usize> {
        OverallStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), self.counts[slot(*s)]))
            .collect()
    }
}

impl Entry {
    /// The status this entry adds to the counters: only jobs with a record count.
    fn counted(&self) -> Option<OverallStatus> {
        self.status.filter(|_| self.recorded)
    }

    /// Adds a status event by its key without the `status.<id>.` prefix; one heard
    /// before (a rebuild replays what was heard) changes nothing.
    fn add_event(&mut self, suffix: &str) {
        let mut parts = suffix.splitn(3, '.');
        let (Some(event), Some(host), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let at = self.hosts.find_or_add(host);
        let host = &mut self.hosts.list[at];
        let stored = |s: &str| s.split_once('.') == Some((event, rest));
        if host.stamps.split(' ').any(stored) {
            return;
        }
        host.stamps = match host.stamps.is_empty() {
            true => format!("{event}.{rest}").into(),
            false => format!("{} {event}.{rest}", host.stamps).into(),
        };
        let Some(rank) = JobEvent::from(event).progress_rank() else {
            return;
        };
        if rank > host.furthest {
            self.standing.count(host.furthest, false);
            self.standing.count(rank, true);
            host.furthest = rank;
        }
    }

    fn compute_status(&self) -> OverallStatus {
        overall_status(self.standing.present(), self.unicast)
    }

    fn event_keys(&self, id: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .hosts
            .list
            .iter()
            .flat_map(|h| {
                h.stamps.split(' ').filter_map(move |stamp| {
                    let (event, rest) = stamp.split_once('.')?;
                    Some(format!("status.{id}.{event}.{}.{rest}", h.host))
                })
            })
            .collect();
        keys.sort_unstable();
        keys
    }
}

impl Standing {
    /// Adds (or takes away) a host whose furthest event has `rank` (0: none, not counted).
    fn count(&mut self, rank: u8, add: bool) {
        let n = match rank {
            0 => return,
            r if Some(r) == JobEvent::Completed.progress_rank() => &mut self.completed,
            r if Some(r) == JobEvent::Failed.progress_rank() => &mut self.failed,
            _ => &mut self.running,
        };
        *n = if add { *n + 1 } else { n.saturating_sub(1) };
    }

    /// One event for each kind of standing some host has: all `overall_status` needs.
    fn present(&self) -> impl Iterator<Item = JobEvent> {
        [
            (self.running, JobEvent::Started),
            (self.failed, JobEvent::Failed),
            (self.completed, JobEvent::Completed),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(_, e)| e)
    }
}

impl Hosts {
    /// The position of `host` in the list, added (with no events) when new.
    fn find_or_add(&mut self, host: &str) -> usize {
        let found = match &self.by_name {
            Some(map) => map.get(host).copied(),
            None => self.list.iter().position(|h| &*h.host == host),
        };
        if let Some(at) = found {
            return at;
        }
        if self.list.is_empty() {
            // One host is the common case: no room for more until a second comes.
            self.list.reserve_exact(1);
        }
        self.list.push(HostEvents {
            host: host.into(),
            stamps: "".into(),
            furthest: 0,
        });
        let at = self.list.len() - 1;
        match self.by_name.as_mut() {
            Some(map) => {
                map.insert(host.into(), at);
            }
            None if self.list.len() > LISTED_HOSTS => {
                let map = self.list.iter().enumerate();
                let map = map.map(|(i, h)| (h.host.clone(), i)).collect();
                self.by_name = Some(Box::new(map));
            }
            None => {}
        }
        at
    }
}

fn slot(status: OverallStatus) -> usize {
    OverallStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default()
}

fn parse_id(id: &str) -> Option<u128> {
    uuid::Uuid::parse_str(id).ok().map(|u| u.as_u128())
}

/// The creation time (ms since the epoch) a UUID v7 carries in its first 48 bits.
fn created_ms(id: u128) -> u64 {
    (id >> 80) as u64
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> String {
        // A v7-shaped id created at `n` ms.
        uuid::Uuid::from_u128(((n as u128) << 80) | 0x7000_8000_0000_0000_0000).to_string()
    }

    fn record(state: &mut State, n: u64, unicast: bool) {
        state.apply(Change::Record { id: id(n), unicast });
    }

    fn event(state: &mut State, n: u64, event: &str, host: &str) {
        let key = keys::status_event(&id(n), event, host, n as i128);
        state.apply(Change::Event { key });
    }

    fn counts(state: &State) -> Vec<(String, usize)> {
        state
            .counts_by_name()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    #[test]
    fn counters_follow_each_jobs_furthest_events() {
        let mut s = State::default();
        record(&mut s, 1, true);
        record(&mut s, 2, false);
        assert_eq!(counts(&s), [("submitted".to_owned(), 2)]);
        event(&mut s, 1, "started", "a");
        event(&mut s, 2, "completed", "a");
        event(&mut s, 2, "started", "b");
        assert_eq!(counts(&s), [("processing".to_owned(), 2)]);
        event(&mut s, 1, "completed", "a");
        event(&mut s, 2, "failed", "b");
        assert_eq!(
            counts(&s),
            [
                ("completed".to_owned(), 1),
                ("partial_failure".to_owned(), 1)
            ]
        );
        // The same event heard twice (a replay after a rebuild) changes nothing.
        event(&mut s, 2, "failed", "b");
        assert_eq!(s.recorded(), 2);
    }

    #[test]
    fn events_before_their_record_count_once_the_record_comes() {
        let mut s = State::default();
        event(&mut s, 5, "completed", "a");
        assert_eq!(s.recorded(), 0);
        record(&mut s, 5, true);
        assert_eq!(counts(&s), [("completed".to_owned(), 1)]);
        s.apply(Change::Removed {
            key: keys::job(&id(5)),
        });
        assert_eq!(s.recorded(), 0);
        assert!(s.jobs.is_empty());
    }

    #[test]
    fn expired_jobs_leave_by_their_creation_time() {
        let mut s = State {
            ttl: Duration::from_millis(100),
            ..State::default()
        };
        for n in [1_000, 1_050, 1_200] {
            record(&mut s, n, true);
        }
        s.prune_expired(1_160);
        assert_eq!(
            s.recorded(),
            1,
            "only the job of 1,200 ms is younger than 100 ms"
        );
        assert_eq!(
            s.jobs.keys().map(|k| created_ms(*k)).collect::<Vec<_>>(),
            [1_200]
        );
    }

    #[test]
    fn a_broadcast_to_many_hosts_is_counted_once_per_host() {
        let mut s = State::default();
        record(&mut s, 9, false);
        let hosts: Vec<String> = (0..20).map(|n| format!("web-{n:02}")).collect();
        let mut stored = Vec::new();
        for (n, host) in hosts.iter().enumerate() {
            let outcome = if n == 13 { "failed" } else { "completed" };
            for (event, at) in [("started", 100), (outcome, 200)] {
                let key = keys::status_event(&id(9), event, host, at + n as i128);
                stored.push(key.clone());
                // Heard twice (a rebuild replays): counted once.
                s.apply(Change::Event { key: key.clone() });
                s.apply(Change::Event { key });
            }
            if n == 10 {
                // Eleven hosts answered, none failed (the index knows no expected hosts).
                assert_eq!(counts(&s), [("completed".to_owned(), 1)]);
                assert_eq!(
                    s.jobs[&parse_id(&id(9)).expect("id")].standing.completed,
                    11
                );
            }
        }
        assert_eq!(counts(&s), [("partial_failure".to_owned(), 1)]);
        let entry = &s.jobs[&parse_id(&id(9)).expect("id")];
        assert!(entry.hosts.by_name.is_some(), "20 hosts are found by a map");
        assert_eq!(
            (
                entry.standing.completed,
                entry.standing.failed,
                entry.standing.running
            ),
            (19, 1, 0)
        );
        stored.sort_unstable();
        assert_eq!(entry.event_keys(&id(9)), stored);
    }

    #[test]
    fn event_keys_are_given_back_whole() {
        let mut s = State::default();
        record(&mut s, 7, true);
        event(&mut s, 7, "started", "web.01");
        let entry = s.jobs.values().next().expect("entry");
        let keys_back = entry.event_keys(&id(7));
        assert_eq!(
            keys_back,
            [keys::status_event(&id(7), "started", "web.01", 7)]
        );
    }
}
