//! The audit log's spool: entries the writer could not store while NATS was away, kept in
//! a JSON-lines file until they are stored. Ids are unique and stored by key, so an entry
//! written twice (a crash mid-replay) is still one entry.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::AuditEntry;

/// A JSON-lines file of entries waiting for NATS.
pub struct Spool {
    path: PathBuf,
}

impl Spool {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` (and flushes it to the file).
    pub fn append(&self, entry: &AuditEntry) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Every spooled entry, oldest first (unreadable lines are logged and skipped).
    pub fn read(&self) -> std::io::Result<Vec<AuditEntry>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut entries = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            match serde_json::from_str(&line) {
                Ok(entry) => entries.push(entry),
                Err(e) => tracing::warn!(error = %e, "unreadable audit spool line skipped"),
            }
        }
        Ok(entries)
    }

    /// Forgets every spooled entry (they are stored).
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether entries are waiting.
    pub fn is_empty(&self) -> bool {
        std::fs::metadata(&self.path).map_or(true, |m| m.len() == 0)
    }
}
