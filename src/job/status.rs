//! The status model: a job's overall state from each host's furthest lifecycle event,
//! computed from status keys alone (see [`crate::wire::keys::status_event`]).

use std::collections::BTreeMap;

use crate::wire::job::{JobEvent, OverallStatus};

/// Overall status from each host's furthest event (`_api` and `retried` are ignored).
///
/// A unicast job runs on one agent at a time: once any host reached an outcome, a host
/// still marked started is one that vanished and whose delivery moved on, so outcomes
/// decide (a completion beats a timeout or dead letter). A broadcast needs every host.
pub fn overall_status<E: Into<JobEvent>>(
    host_events: impl IntoIterator<Item = E>,
    unicast: bool,
) -> OverallStatus {
    let (mut any, mut running, mut ok, mut failed) = (false, false, false, false);
    for e in host_events {
        any = true;
        match e.into() {
            JobEvent::Completed => ok = true,
            JobEvent::Failed => failed = true,
            _ => running = true,
        }
    }
    if unicast && ok {
        return OverallStatus::Completed;
    }
    if unicast && failed {
        return OverallStatus::Failed;
    }
    match (any, running, ok, failed) {
        (false, ..) => OverallStatus::Submitted,
        (_, true, ..) => OverallStatus::Processing,
        (_, _, true, true) => OverallStatus::PartialFailure,
        (_, _, false, true) => OverallStatus::Failed,
        _ => OverallStatus::Completed,
    }
}

/// True for a job that runs on one agent (a hostname or `_any`), from its target.
pub fn is_unicast(target: &str) -> bool {
    super::Target::parse(target).is_ok_and(|t| !t.is_broadcast())
}

/// Records `event` as a host's state when it is further than what the host reached.
pub fn advance(furthest: &mut BTreeMap<String, JobEvent>, host: &str, event: JobEvent) {
    let Some(rank) = event.progress_rank() else {
        return;
    };
    let further = furthest
        .get(host)
        .and_then(JobEvent::progress_rank)
        .is_none_or(|old| rank > old);
    if further {
        furthest.insert(host.to_owned(), event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_status_of_broadcasts() {
        let b = |e: &[&str]| overall_status(e.iter().copied(), false);
        assert_eq!(b(&[]), OverallStatus::Submitted);
        assert_eq!(b(&["started"]), OverallStatus::Processing);
        assert_eq!(b(&["completed", "started"]), OverallStatus::Processing);
        assert_eq!(b(&["completed", "completed"]), OverallStatus::Completed);
        assert_eq!(b(&["failed"]), OverallStatus::Failed);
        assert_eq!(b(&["failed", "completed"]), OverallStatus::PartialFailure);
    }

    #[test]
    fn overall_status_of_unicasts_follows_outcomes() {
        let u = |e: &[&str]| overall_status(e.iter().copied(), true);
        assert_eq!(u(&["started"]), OverallStatus::Processing);
        // The first agent vanished mid-run; another completed the redelivery.
        assert_eq!(u(&["started", "completed"]), OverallStatus::Completed);
        // Timed out, then dead-lettered.
        assert_eq!(u(&["started", "failed", "failed"]), OverallStatus::Failed);
        // Timed out at the controller, but the agent answered later.
        assert_eq!(u(&["failed", "completed"]), OverallStatus::Completed);
    }
}
