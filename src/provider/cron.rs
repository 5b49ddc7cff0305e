//! Managed cron entries: a script from the object store, run either on a 5-field schedule
//! or by `run-parts` from a periodic directory.
//!
//! - interval: the script is `/etc/cron.<interval>/osapi-<name>` (0755);
//! - schedule: the script is `/var/lib/osapi/cron/<name>` (0755) and
//!   `/etc/cron.d/osapi-<name>` (0644) holds the one line `<schedule> <user> <script>`.
//!
//! Each entry's record (`/var/lib/osapi/cron/<name>.json`) says what osapi installed; only
//! entries with a record are listed, changed or removed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::managed::{ensure_file, read_optional, remove_file};
use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::cron::{CronEntry, Interval};

/// What osapi installed for one entry: the entry and how its script was rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CronRecord {
    #[serde(flatten)]
    pub entry: CronEntry,
    /// `raw` or `template`, as asked (none: as the object was uploaded).
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, Value>,
}

/// Reads and changes managed cron entries. Writes return whether anything changed.
pub trait CronProvider: Send + Sync {
    /// Every managed entry, by name.
    fn list(&self) -> Result<Vec<CronEntry>, ProviderError>;
    /// One managed entry; an error naming it when it is not managed.
    fn get(&self, name: &str) -> Result<CronRecord, ProviderError>;
    /// Installs `record` with `script`. `create` refuses an entry already managed
    /// otherwise; an update refuses one not managed or moved between schedule and interval.
    fn put(&self, record: &CronRecord, script: &[u8], create: bool) -> Result<bool, ProviderError>;
    /// Removes a managed entry's files; `false` when it was not managed.
    fn delete(&self, name: &str) -> Result<bool, ProviderError>;
}

/// Cron files under the system's root.
pub type LinuxCron = LinuxSystem;

/// Where osapi keeps scheduled scripts and every entry's record, on the host.
const STATE_DIR: &str = "/var/lib/osapi/cron";
const SCRIPT_MODE: u32 = 0o755;
const TABLE_MODE: u32 = 0o644;

impl LinuxCron {
    fn record_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{STATE_DIR}/{name}.json"))
    }

    /// The script's path on the host (what the cron.d line runs) for `entry`.
    fn script_on_host(entry: &CronEntry) -> String {
        match entry.interval {
            Some(i) => format!("/etc/cron.{}/osapi-{}", i.as_str(), entry.name),
            None => format!("{STATE_DIR}/{}", entry.name),
        }
    }

    fn table_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("etc/cron.d/osapi-{name}"))
    }

    fn record(&self, name: &str) -> Result<Option<CronRecord>, ProviderError> {
        let path = self.record_path(name);
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ProviderError::Failed(format!("cron record {}: {e}", path.display())))
    }

    /// Refuses a create over another entry, and an update of none or across placements.
    fn check_put(&self, record: &CronRecord, create: bool) -> Result<(), ProviderError> {
        let name = &record.entry.name;
        match (self.record(name)?, create) {
            (None, false) => Err(not_managed(name)),
            (Some(current), true) if current != *record => Err(ProviderError::InvalidInput(
                format!("cron entry {name:?} already exists: update it instead"),
            )),
            (Some(current), false) if current.entry.interval != record.entry.interval => {
                Err(ProviderError::InvalidInput(format!(
                    "cron entry {name:?} cannot move between a schedule and an interval"
                )))
            }
            _ => Ok(()),
        }
    }
}

fn not_managed(name: &str) -> ProviderError {
    ProviderError::NotFound(format!("cron entry {name:?} is not managed by osapi"))
}

/// The cron.d table of a scheduled entry: one line, its fields validated upstream.
fn table(entry: &CronEntry, script: &str) -> String {
    let schedule = entry.schedule.as_deref().unwrap_or_default();
    let user = entry.user.as_deref().unwrap_or("root");
    format!(
        "# osapi cron entry {:?} (object {:?}); managed by osapi\n{schedule} {user} {script}\n",
        entry.name, entry.object
    )
}

impl CronProvider for LinuxCron {
    fn list(&self) -> Result<Vec<CronEntry>, ProviderError> {
        let dir = self.root.join(STATE_DIR);
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ProviderError::from_io(&dir.display().to_string(), e)),
        };
        let mut names: Vec<String> = listing
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
            .collect();
        names.sort();
        let mut entries = Vec::new();
        for name in names {
            if let Some(r) = self.record(&name)? {
                entries.push(r.entry);
            }
        }
        Ok(entries)
    }

    fn get(&self, name: &str) -> Result<CronRecord, ProviderError> {
        self.record(name)?.ok_or_else(|| not_managed(name))
    }

    fn put(&self, record: &CronRecord, script: &[u8], create: bool) -> Result<bool, ProviderError> {
        self.check_put(record, create)?;
        let entry = &record.entry;
        let script_path = Self::script_on_host(entry);
        let mut changed = ensure_file(&self.root.join(&script_path), script, SCRIPT_MODE)?;
        if entry.schedule.is_some() {
            let line = table(entry, &script_path);
            changed |= ensure_file(&self.table_path(&entry.name), line.as_bytes(), TABLE_MODE)?;
        }
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| ProviderError::Failed(format!("cron record: {e}")))?;
        // Written last: an entry is managed once its files are in place.
        changed |= ensure_file(&self.record_path(&entry.name), &json, TABLE_MODE)?;
        Ok(changed)
    }

    fn delete(&self, name: &str) -> Result<bool, ProviderError> {
        let Some(record) = self.record(name)? else {
            return Ok(false);
        };
        // The table first: cron must not run a script that is about to go.
        remove_file(&self.table_path(name))?;
        remove_file(&self.root.join(Self::script_on_host(&record.entry)))?;
        remove_file(&self.record_path(name))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::RecordingRunner;
    use std::os::unix::fs::PermissionsExt;

    fn rooted() -> (tempfile::TempDir, LinuxCron) {
        let root = tempfile::tempdir().unwrap();
        let p = LinuxCron {
            root: root.path().into(),
            runner: RecordingRunner::new(),
        };
        (root, p)
    }

    fn record(name: &str, schedule: Option<&str>, interval: Option<Interval>) -> CronRecord {
        CronRecord {
            entry: CronEntry {
                name: name.into(),
                object: "job.sh".into(),
                schedule: schedule.map(Into::into),
                interval,
                source: interval.map_or("cron.d", Interval::as_str).into(),
                user: None,
            },
            content_type: None,
            vars: BTreeMap::new(),
        }
    }

    fn mode(path: PathBuf) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn scheduled_and_periodic_entries_round_trip_idempotently() {
        let (root, p) = rooted();
        let at = |rel: &str| root.path().join(rel);
        let nightly = record("backup", Some("0 2 * * *"), None);
        assert!(p.put(&nightly, b"#!/bin/sh\necho hi\n", true).unwrap());
        assert!(!p.put(&nightly, b"#!/bin/sh\necho hi\n", true).unwrap());
        assert_eq!(
            std::fs::read_to_string(at("etc/cron.d/osapi-backup")).unwrap(),
            "# osapi cron entry \"backup\" (object \"job.sh\"); managed by osapi\n\
             0 2 * * * root /var/lib/osapi/cron/backup\n"
        );
        assert_eq!(mode(at("etc/cron.d/osapi-backup")), 0o644);
        assert_eq!(mode(at("var/lib/osapi/cron/backup")), 0o755);
        let daily = record("rotate", None, Some(Interval::Daily));
        assert!(p.put(&daily, b"#!/bin/sh\n", true).unwrap());
        assert_eq!(mode(at("etc/cron.daily/osapi-rotate")), 0o755);
        let names: Vec<String> = p.list().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["backup", "rotate"]);

        let mut later = nightly.clone();
        later.entry.schedule = Some("0 3 * * *".into());
        assert!(
            p.put(&later, b"#!/bin/sh\necho hi\n", true).is_err(),
            "create"
        );
        assert!(p.put(&later, b"#!/bin/sh\necho hi\n", false).unwrap());
        assert_eq!(p.get("backup").unwrap(), later);
        let moved = record("backup", None, Some(Interval::Daily));
        assert!(
            p.put(&moved, b"x", false).is_err(),
            "no move to an interval"
        );
        assert!(p
            .put(&record("nope", None, Some(Interval::Daily)), b"x", false)
            .is_err());

        assert!(p.delete("backup").unwrap());
        assert!(!p.delete("backup").unwrap());
        assert!(!at("etc/cron.d/osapi-backup").exists());
        assert!(!at("var/lib/osapi/cron/backup").exists());
        assert!(p.get("backup").is_err());
    }
}
