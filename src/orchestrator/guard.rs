//! Guards decide, just before a step would run, whether it runs. Each one answers
//! `Ok(())` to run or `Err(reason)` to skip; a step's guards must all pass.
//!
//! Unlike the original (where only the last guard set counted), guards compose: a step
//! with `only_if_changed()` and `when(...)` needs both. A step with any guard is not
//! skipped automatically when a dependency failed: its guards decide, which is what
//! makes `only_if_failed` cleanups possible.

use std::sync::Arc;

use super::result::{HostResult, Results, TaskResult, TaskStatus};

/// A guard: the results so far and the names of the step's dependencies.
pub type Guard = Arc<dyn Fn(&Results, &[String]) -> Result<(), String> + Send + Sync>;

fn deps<'a>(results: &'a Results, names: &'a [String]) -> impl Iterator<Item = &'a TaskResult> {
    names.iter().filter_map(|n| results.get(n))
}

fn check(ok: bool, reason: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(reason.to_owned())
    }
}

/// Some dependency reported a change.
pub fn only_if_changed() -> Guard {
    Arc::new(|r, names| check(deps(r, names).any(|t| t.changed), "no dependencies changed"))
}

/// Some dependency failed.
pub fn only_if_failed() -> Guard {
    Arc::new(|r, names| {
        check(
            deps(r, names).any(|t| t.status == TaskStatus::Failed),
            "only-if-failed: no dependency failed",
        )
    })
}

/// There is at least one dependency and every one changed.
pub fn only_if_all_changed() -> Guard {
    Arc::new(|r, names| {
        let all = !names.is_empty() && names.iter().all(|n| r.changed(n));
        check(all, "only-if-all-changed: not all dependencies changed")
    })
}

fn any_host(
    reason: &'static str,
    pred: impl Fn(&HostResult) -> bool + Send + Sync + 'static,
) -> Guard {
    Arc::new(move |r, names| check(deps(r, names).flat_map(|t| &t.hosts).any(&pred), reason))
}

fn all_hosts(
    reason: &'static str,
    pred: impl Fn(&HostResult) -> bool + Send + Sync + 'static,
) -> Guard {
    Arc::new(move |r, names| {
        let all = !names.is_empty()
            && names.iter().all(|n| {
                let hosts = r.host_results(n);
                !hosts.is_empty() && hosts.iter().all(&pred)
            });
        check(all, reason)
    })
}

/// Some host of some dependency failed.
pub fn only_if_any_host_failed() -> Guard {
    any_host(
        "only-if-any-host-failed: no host failed",
        HostResult::is_failed,
    )
}

/// Every dependency has host results and every host failed.
pub fn only_if_all_hosts_failed() -> Guard {
    all_hosts(
        "only-if-all-hosts-failed: not all hosts failed",
        HostResult::is_failed,
    )
}

/// Some host of some dependency was skipped.
pub fn only_if_any_host_skipped() -> Guard {
    any_host("only-if-any-host-skipped: no host skipped", |h| {
        h.status == super::result::HostStatus::Skipped
    })
}

/// Some host of some dependency changed.
pub fn only_if_any_host_changed() -> Guard {
    any_host("only-if-any-host-changed: no host changed", |h| h.changed)
}

/// Every dependency has host results and every host changed.
pub fn only_if_all_hosts_changed() -> Guard {
    all_hosts("only-if-all-hosts-changed: not all hosts changed", |h| {
        h.changed
    })
}

/// A predicate over the results so far.
pub fn when(
    pred: impl Fn(&Results) -> bool + Send + Sync + 'static,
    reason: impl Into<String>,
) -> Guard {
    let reason = reason.into();
    Arc::new(move |r, _| check(pred(r), &reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::result::TaskOutput;
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn results(entries: Vec<TaskResult>) -> Results {
        Results::new(
            entries
                .into_iter()
                .map(|t| (t.name.clone(), t))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn ran(name: &str, changed: bool, hosts: Vec<HostResult>) -> TaskResult {
        let mut out = TaskOutput::unchanged(Value::Null);
        out.changed = changed;
        out.hosts = hosts;
        TaskResult::from_output(name, out, 1, Duration::ZERO)
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn change_guards() {
        let r = results(vec![ran("a", true, vec![]), ran("b", false, vec![])]);
        assert!(only_if_changed()(&r, &names(&["a", "b"])).is_ok());
        assert_eq!(
            only_if_changed()(&r, &names(&["b"])),
            Err("no dependencies changed".into())
        );
        assert!(only_if_changed()(&r, &[]).is_err(), "no deps: skipped");
        assert!(only_if_all_changed()(&r, &names(&["a"])).is_ok());
        assert!(only_if_all_changed()(&r, &names(&["a", "b"])).is_err());
        assert!(only_if_all_changed()(&r, &[]).is_err());
    }

    #[test]
    fn failure_guard_reads_dependency_status() {
        let failed = TaskResult::from_error(
            "f",
            crate::orchestrator::TaskError::msg("x"),
            1,
            Duration::ZERO,
        );
        let r = results(vec![failed, ran("ok", false, vec![])]);
        assert!(only_if_failed()(&r, &names(&["ok", "f"])).is_ok());
        assert!(only_if_failed()(&r, &names(&["ok"])).is_err());
    }

    #[test]
    fn host_guards() {
        let mut skipped = HostResult::ok("s", false, Value::Null);
        skipped.status = crate::orchestrator::result::HostStatus::Skipped;
        let r = results(vec![
            ran(
                "mixed",
                true,
                vec![
                    HostResult::ok("a", true, Value::Null),
                    HostResult::failed("b", "exit code 1"),
                ],
            ),
            ran("allfail", false, vec![HostResult::failed("c", "boom")]),
            ran(
                "allchanged",
                true,
                vec![HostResult::ok("d", true, Value::Null)],
            ),
            ran("skip", false, vec![skipped]),
            ran("nohosts", false, vec![]),
        ]);
        assert!(only_if_any_host_failed()(&r, &names(&["mixed"])).is_ok());
        assert!(only_if_any_host_failed()(&r, &names(&["allchanged", "nohosts"])).is_err());
        assert!(only_if_all_hosts_failed()(&r, &names(&["allfail"])).is_ok());
        assert!(only_if_all_hosts_failed()(&r, &names(&["mixed"])).is_err());
        assert!(only_if_all_hosts_failed()(&r, &names(&["allfail", "nohosts"])).is_err());
        assert!(only_if_any_host_changed()(&r, &names(&["mixed"])).is_ok());
        assert!(only_if_any_host_changed()(&r, &names(&["allfail"])).is_err());
        assert!(only_if_all_hosts_changed()(&r, &names(&["allchanged"])).is_ok());
        assert!(only_if_all_hosts_changed()(&r, &names(&["mixed"])).is_err());
        assert!(only_if_any_host_skipped()(&r, &names(&["skip"])).is_ok());
        assert!(only_if_any_host_skipped()(&r, &names(&["mixed"])).is_err());
        assert!(HostResult::failed("x", "y").is_failed());
    }

    #[test]
    fn when_uses_its_reason() {
        let r = results(vec![ran("a", true, vec![])]);
        assert!(when(|r| r.changed("a"), "no")(&r, &[]).is_ok());
        assert_eq!(when(|r| r.changed("b"), "no")(&r, &[]), Err("no".into()));
    }
}
