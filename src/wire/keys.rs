//! Every KV key layout osapi reads or writes, in one place. The original's tools read
//! these buckets too, so the layouts are part of the wire contract.
//!
//! | bucket (config key)       | key                                      | value                |
//! |---------------------------|------------------------------------------|----------------------|
//! | jobs (`nats.kv.bucket`)   | `jobs.<id>`                              | job record           |
//! | jobs                      | `status.<id>.<event>.<host>.<unix_nanos>` | status event (append-only) |
//! | responses                 | `<id>.<host>`                            | one host's answer    |
//! | registry                  | `agents.<host>`, `controller.<host>`, `nats.<host>` | heartbeat |
//! | facts                     | `facts.<host>`                           | an agent's facts     |
//! | state                     | `drain.<host>`                           | drain flag           |
//! | state                     | `timeline.<host>.<event>.<unix_nanos>`   | timeline event (append-only) |
//! | file state                | `<host>.<sha256 of the path, hex>`       | a deployed file      |
//! | audit                     | `<entry id, UUID v7>`                    | audit entry          |
//!
//! `<host>` is always [`sanitize_hostname`]d: a hostname may hold dots, which are token
//! separators in a subject. Job and audit ids are UUID v7, so keys sort by creation time.

use sha2::{Digest, Sha256};

use crate::job::target::sanitize_hostname;

/// Filter over every job record.
pub const JOBS_ALL: &str = "jobs.*";
/// Filter over every status event of every job.
pub const STATUS_ALL: &str = "status.>";
/// Filter over every agent in the registry.
pub const AGENTS_ALL: &str = "agents.*";
/// Filter over every agent's facts.
pub const FACTS_ALL: &str = "facts.*";
/// Filter over every drain flag, in the state bucket.
pub const DRAINS_ALL: &str = "drain.*";

/// A job record.
pub fn job(id: &str) -> String {
    format!("jobs.{id}")
}

/// One status event of a job.
pub fn status_event(id: &str, event: &str, host: &str, unix_nano: i128) -> String {
    format!(
        "status.{id}.{event}.{}.{unix_nano}",
        sanitize_hostname(host)
    )
}

/// Filter over one host's events of one kind for one job (`status.<id>.started.<host>.*`).
pub fn status_events_of(id: &str, event: &str, host: &str) -> String {
    format!("status.{id}.{event}.{}.*", sanitize_hostname(host))
}

/// Filter over every status event of one job.
pub fn status_of(id: &str) -> String {
    format!("status.{id}.>")
}

/// The job id, event and (sanitised) host named by a status event key.
pub fn status_event_parts(key: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = key.splitn(5, '.').collect();
    let ["status", id, event, host, _] = parts[..] else {
        return None;
    };
    Some((id, event, host))
}

/// One host's answer to a job.
pub fn response(id: &str, host: &str) -> String {
    response_sanitized(id, &sanitize_hostname(host))
}

/// One host's answer, for a host already sanitised (as status keys carry it).
pub fn response_sanitized(id: &str, sanitized_host: &str) -> String {
    format!("{id}.{sanitized_host}")
}

/// Filter over every answer to one job.
pub fn responses_of(id: &str) -> String {
    format!("{id}.*")
}

/// An agent's heartbeat.
pub fn agent(host: &str) -> String {
    component("agents", host)
}

/// A component's heartbeat: `kind` is `agents`, `controller` or `nats`.
pub fn component(kind: &str, host: &str) -> String {
    format!("{kind}.{}", sanitize_hostname(host))
}

/// An agent's facts.
pub fn facts(host: &str) -> String {
    format!("facts.{}", sanitize_hostname(host))
}

/// An agent's drain flag, in the state bucket.
pub fn drain(host: &str) -> String {
    format!("drain.{}", sanitize_hostname(host))
}

/// One event of an agent's timeline, in the state bucket.
pub fn timeline(host: &str, event: &str, unix_nano: i128) -> String {
    format!("timeline.{}.{event}.{unix_nano}", sanitize_hostname(host))
}

/// Filter over every timeline event of one agent.
pub fn timeline_of(host: &str) -> String {
    format!("timeline.{}.>", sanitize_hostname(host))
}

/// A file deployed to `path` on `host`. The path is hashed: it may hold any byte, and
/// a key must be a few safe tokens.
pub fn file_state(host: &str, path: &str) -> String {
    format!(
        "{}.{:x}",
        sanitize_hostname(host),
        Sha256::digest(path.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys_round_trip() {
        let key = status_event("j1", "started", "web.01", 42);
        let (id, event, host) = status_event_parts(&key).expect("a status key");
        assert_eq!((id, event), ("j1", "started"));
        assert_eq!(response_sanitized(id, host), response("j1", "web.01"));
        assert!(status_event_parts("jobs.j1").is_none());
        assert!(status_event_parts("other.j1.started.h.1").is_none());
    }

    #[test]
    fn host_tokens_are_sanitised() {
        assert!(!agent("web.01").trim_start_matches("agents.").contains('.'));
        assert_eq!(file_state("h", "/etc/a"), file_state("h", "/etc/a"));
        assert_ne!(file_state("h", "/etc/a"), file_state("h", "/etc/b"));
    }
}
