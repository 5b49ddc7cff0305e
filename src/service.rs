//! Readiness and stop notices to systemd, for the `Type=notify` units.
//!
//! A unit is ready when every part its command runs is: `osapi start` waits for NATS, the
//! controller and the agent, `osapi controller start` for the controller alone. Each part
//! reports from the point where it really serves (nats-server up with its streams and
//! buckets, the API listening and connected to NATS, the agent's consumers created), and
//! `READY=1` goes out once, when the last expected part has reported.
//!
//! The notification socket belongs to the process, so this is process state: the command
//! says which parts it runs ([`expect`]) before starting them, and the parts report with
//! [`ready`]. A process that never called [`expect`] (tests, embedders) sends nothing,
//! and without `NOTIFY_SOCKET` (not under systemd) `sd_notify` itself is a no-op.

use std::sync::Mutex;

use sd_notify::NotifyState;

/// A part of osapi that a unit waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The supervised nats-server, with every stream and bucket created.
    Nats,
    /// The REST API, listening and connected to NATS (before that it answers 503).
    Controller,
    /// The agent, consuming jobs.
    Agent,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Nats => "NATS",
            Self::Controller => "controller",
            Self::Agent => "agent",
        })
    }
}

/// The parts still to report; READY is due when the list empties.
#[derive(Debug, Default)]
pub struct Readiness {
    pending: Option<Vec<Part>>,
}

impl Readiness {
    /// Waits for `parts`.
    pub fn expect(&mut self, parts: &[Part]) {
        self.pending = Some(parts.to_vec());
    }

    /// Records `part` as ready: `Some(true)` exactly once, for the last expected part;
    /// `None` when nothing is expected (nothing to tell anyone).
    pub fn ready(&mut self, part: Part) -> Option<bool> {
        let pending = self.pending.as_mut()?;
        let before = pending.len();
        pending.retain(|p| *p != part);
        Some(before != pending.len() && pending.is_empty())
    }
}

static READINESS: Mutex<Readiness> = Mutex::new(Readiness { pending: None });

fn with_readiness<T>(f: impl FnOnce(&mut Readiness) -> T) -> T {
    // A panic elsewhere while holding the lock leaves a usable list.
    let mut guard = READINESS.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

/// Declares the parts this process runs; call before starting them.
pub fn expect(parts: &[Part]) {
    with_readiness(|r| r.expect(parts));
}

/// Reports `part` ready: `READY=1` once every expected part has, else a status line.
pub fn ready(part: Part) {
    match with_readiness(|r| r.ready(part)) {
        Some(true) => send(&[NotifyState::Ready, NotifyState::Status("ready")]),
        Some(false) => send(&[NotifyState::Status(&format!("{part} ready"))]),
        None => {}
    }
}

/// Tells systemd the service is stopping (on SIGTERM/SIGINT).
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_is_due_once_when_the_last_expected_part_reports() {
        let mut r = Readiness::default();
        assert_eq!(r.ready(Part::Controller), None, "nothing expected");
        r.expect(&[Part::Nats, Part::Controller, Part::Agent]);
        assert_eq!(r.ready(Part::Agent), Some(false));
        assert_eq!(r.ready(Part::Agent), Some(false), "a repeat is no progress");
        assert_eq!(r.ready(Part::Nats), Some(false));
        assert_eq!(r.ready(Part::Controller), Some(true));
        assert_eq!(
            r.ready(Part::Controller),
            Some(false),
            "READY goes out once"
        );
    }
}
