//! Engine tests on a fake client: plans of task functions that record what ran.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::*;

/// Records calls; a step named in `failures` fails that many times before succeeding.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    failures: Mutex<HashMap<String, u32>>,
    attempts: Mutex<HashMap<String, u32>>,
}

impl Fake {
    fn failing(steps: &[(&str, u32)]) -> Self {
        let fake = Self::default();
        if let Ok(mut f) = fake.failures.lock() {
            f.extend(steps.iter().map(|(s, n)| (s.to_string(), *n)));
        }
        fake
    }

    fn call(&self, name: &str) -> Result<(), TaskError> {
        self.calls.lock().expect("lock").push(name.to_owned());
        *self
            .attempts
            .lock()
            .expect("lock")
            .entry(name.into())
            .or_default() += 1;
        let mut failures = self.failures.lock().expect("lock");
        match failures.get_mut(name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(TaskError::msg(format!("{name} failed")))
            }
            _ => Ok(()),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }

    fn attempts(&self, name: &str) -> u32 {
        self.attempts
            .lock()
            .expect("lock")
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

fn orchestrator(fake: Fake) -> (Orchestrator<Fake>, Arc<Mutex<Vec<u8>>>) {
    let (renderer, out) = TextRenderer::buffer(true);
    let o = Orchestrator::with_client(fake).with_observer(Arc::new(renderer));
    (o, out)
}

/// A step that records its call, then reports `changed`.
fn step(o: &mut Orchestrator<Fake>, name: &'static str, changed: bool) -> StepId {
    o.task_func(name, move |c: Arc<Fake>, _| async move {
        c.call(name)?;
        Ok(TaskOutput {
            changed,
            data: json!({ "step": name }),
            ..TaskOutput::default()
        })
    })
    .id()
}

/// A step whose hosts report the given (changed, error) pairs.
fn hosts_step(
    o: &mut Orchestrator<Fake>,
    name: &'static str,
    hosts: &[(bool, Option<&str>)],
) -> StepId {
    let hosts: Vec<HostResult> = hosts
        .iter()
        .enumerate()
        .map(|(i, (changed, err))| match err {
            Some(e) => HostResult::failed(&format!("h{i}"), e),
            None => HostResult::ok(&format!("h{i}"), *changed, json!({"n": i})),
        })
        .collect();
    o.task_func(name, move |c: Arc<Fake>, _| {
        let hosts = hosts.clone();
        async move {
            c.call(name)?;
            Ok(TaskOutput {
                changed: hosts.iter().any(|h| h.changed),
                hosts,
                ..TaskOutput::default()
            })
        }
    })
    .id()
}

/// Sets a guard on a step.
type Configure = fn(Step<'_, Fake>) -> Step<'_, Fake>;

fn status(report: &Report, name: &str) -> TaskStatus {
    report.status(name)
}

#[tokio::test]
async fn dependencies_run_in_order_and_levels_follow_depth() {
    let (mut o, _) = orchestrator(Fake::default());
    let a = step(&mut o, "a", true);
    let b = step(&mut o, "b", false);
    let c = o
        .task_func("c", |c: Arc<Fake>, r: Results| async move {
            c.call("c")?;
            // Earlier results are visible to later steps.
            let a: serde_json::Value = r.decode("a").map_err(|e| TaskError::msg(e.to_string()))?;
            Ok(TaskOutput::unchanged(a))
        })
        .after([a, b])
        .id();
    o.task_func("d", |c: Arc<Fake>, _| async move {
        c.call("d")?;
        Ok(TaskOutput::default())
    })
    .after(c);
    assert_eq!(
        o.levels().expect("valid"),
        vec![vec!["a", "b"], vec!["c"], vec!["d"]]
    );
    let report = o.run().await.expect("runs");
    let calls = o.client().calls();
    assert_eq!(&calls[2..], ["c", "d"]);
    assert_eq!(report.tasks.len(), 4);
    let names: Vec<&str> = report.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(
        report.decode::<serde_json::Value>("c").expect("data"),
        json!({"step": "a"})
    );
    assert_eq!(report.summary(), "4 tasks, 1 changed, 3 unchanged");
}

#[tokio::test]
async fn independent_steps_run_at_the_same_time() {
    // Three steps that each wait for the other two: only a parallel run gets past.
    let barrier = Arc::new(tokio::sync::Barrier::new(3));
    let (mut o, _) = orchestrator(Fake::default());
    for name in ["p1", "p2", "p3"] {
        let barrier = barrier.clone();
        o.task_func(name, move |_, _| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                Ok(TaskOutput::default())
            }
        })
        .timeout(Duration::from_secs(10));
    }
    let report = o.run().await.expect("all three meet at the barrier");
    assert_eq!(report.count(TaskStatus::Unchanged), 3);
}

#[tokio::test]
async fn retries_until_success_or_exhaustion() {
    let (mut o, out) = orchestrator(Fake::failing(&[("flaky", 2), ("broken", 10)]));
    step(&mut o, "flaky", true);
    o.step(StepId(0)).retry(2);
    step(&mut o, "broken", false);
    o.step(StepId(1)).retry(1).continue_on_error();
    let report = o.run().await.expect("continue keeps the plan going");
    assert_eq!(o.client().attempts("flaky"), 3);
    assert_eq!(report.get("flaky").map(|t| t.attempts), Some(3));
    assert_eq!(status(&report, "flaky"), TaskStatus::Changed);
    assert_eq!(o.client().attempts("broken"), 2);
    assert_eq!(status(&report, "broken"), TaskStatus::Failed);
    let text = String::from_utf8(out.lock().expect("lock").clone()).expect("utf8");
    assert_eq!(text.matches("[retry]").count(), 3, "{text}");
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let r = Retry {
        retries: 5,
        backoff: Some((Duration::from_millis(100), Duration::from_millis(350))),
    };
    let waits: Vec<u128> = (0..4).map(|i| r.delay(i).as_millis()).collect();
    assert_eq!(waits, [100, 200, 350, 350]);
    let immediate = Retry {
        retries: 1,
        backoff: None,
    };
    assert_eq!(immediate.delay(3), Duration::ZERO);
}

#[tokio::test]
async fn stop_all_finishes_the_level_and_runs_nothing_after() {
    let (mut o, out) = orchestrator(Fake::failing(&[("bad", 1)]));
    let bad = step(&mut o, "bad", false);
    let sibling = step(&mut o, "sibling", true);
    step(&mut o, "later", false);
    o.step(StepId(2)).after([bad, sibling]);
    let err = o.run().await.expect_err("stops");
    let RunError::Stopped {
        step,
        error,
        report,
    } = &err
    else {
        panic!("unexpected {err}");
    };
    assert_eq!((step.as_str(), error.as_str()), ("bad", "bad failed"));
    assert_eq!(report.tasks.len(), 2, "later never reached");
    assert_eq!(report.status("sibling"), TaskStatus::Changed);
    assert_eq!(report.status("later"), TaskStatus::Unknown);
    assert!(!o.client().calls().contains(&"later".to_string()));
    let text = String::from_utf8(out.lock().expect("lock").clone()).expect("utf8");
    assert!(text.contains("<<< Step 1 done: 1/2 changed"), "{text}");
    assert!(
        text.contains("Complete: 2 tasks, 1 changed, 1 failed"),
        "{text}"
    );
    assert!(!text.contains(">>> Step 2"), "{text}");
}

#[tokio::test]
async fn continue_skips_unguarded_dependents_transitively() {
    let (mut o, _) = orchestrator(Fake::failing(&[("bad", 1)]));
    let bad = step(&mut o, "bad", false);
    o.step(bad).continue_on_error();
    let child = step(&mut o, "child", false);
    o.step(child).after(bad);
    let grandchild = step(&mut o, "grandchild", false);
    o.step(grandchild).after(child);
    let cleanup = step(&mut o, "cleanup", true);
    o.step(cleanup).after(bad).only_if_failed();
    let independent = step(&mut o, "independent", false);
    o.step(independent).after(cleanup);
    let report = o.run().await.expect("continue");
    assert_eq!(report.status("bad"), TaskStatus::Failed);
    for s in ["child", "grandchild"] {
        let t = report.get(s).expect("reached");
        assert_eq!(
            (t.status, t.skip_reason.as_deref()),
            (TaskStatus::Skipped, Some("dependency failed"))
        );
    }
    assert_eq!(report.status("cleanup"), TaskStatus::Changed);
    assert_eq!(report.status("independent"), TaskStatus::Unchanged);
    assert_eq!(o.client().calls(), ["bad", "cleanup", "independent"]);
}

#[tokio::test]
async fn guard_skips_do_not_propagate() {
    let (mut o, _) = orchestrator(Fake::default());
    let base = step(&mut o, "base", false);
    let guarded = step(&mut o, "guarded", true);
    o.step(guarded).after(base).only_if_changed();
    let next = step(&mut o, "next", false);
    o.step(next).after(guarded);
    let needs_change = step(&mut o, "needs-change", false);
    o.step(needs_change).after(guarded).only_if_changed();
    let report = o.run().await.expect("runs");
    let g = report.get("guarded").expect("reached");
    assert_eq!(g.skip_reason.as_deref(), Some("no dependencies changed"));
    assert_eq!(
        report.status("next"),
        TaskStatus::Unchanged,
        "a guard skip is not a failure"
    );
    assert_eq!(report.status("needs-change"), TaskStatus::Skipped);
}

#[tokio::test]
async fn every_guard_decides_on_dependency_results() {
    let (mut o, _) = orchestrator(Fake::default());
    let changed = step(&mut o, "changed", true);
    let unchanged = step(&mut o, "unchanged", false);
    let mixed = hosts_step(
        &mut o,
        "mixed",
        &[(true, None), (false, Some("exit code 1"))],
    );
    let all_changed = hosts_step(&mut o, "all-changed", &[(true, None), (true, None)]);
    let all_failed = hosts_step(
        &mut o,
        "all-failed",
        &[(false, Some("x")), (false, Some("y"))],
    );

    let cases: Vec<(&str, Vec<StepId>, Configure, bool)> = vec![
        (
            "oic-yes",
            vec![changed, unchanged],
            |s| s.only_if_changed(),
            true,
        ),
        ("oic-no", vec![unchanged], |s| s.only_if_changed(), false),
        (
            "oiac-yes",
            vec![changed, all_changed],
            |s| s.only_if_all_changed(),
            true,
        ),
        (
            "oiac-no",
            vec![changed, unchanged],
            |s| s.only_if_all_changed(),
            false,
        ),
        ("oif-no", vec![changed], |s| s.only_if_failed(), false),
        (
            "any-host-failed-yes",
            vec![mixed],
            |s| s.only_if_any_host_failed(),
            true,
        ),
        (
            "any-host-failed-no",
            vec![all_changed],
            |s| s.only_if_any_host_failed(),
            false,
        ),
        (
            "all-hosts-failed-yes",
            vec![all_failed],
            |s| s.only_if_all_hosts_failed(),
            true,
        ),
        (
            "all-hosts-failed-no",
            vec![mixed],
            |s| s.only_if_all_hosts_failed(),
            false,
        ),
        (
            "any-host-changed-yes",
            vec![mixed],
            |s| s.only_if_any_host_changed(),
            true,
        ),
        (
            "any-host-changed-no",
            vec![all_failed],
            |s| s.only_if_any_host_changed(),
            false,
        ),
        (
            "all-hosts-changed-yes",
            vec![all_changed],
            |s| s.only_if_all_hosts_changed(),
            true,
        ),
        (
            "all-hosts-changed-no",
            vec![mixed],
            |s| s.only_if_all_hosts_changed(),
            false,
        ),
        (
            "any-host-skipped-no",
            vec![mixed],
            |s| s.only_if_any_host_skipped(),
            false,
        ),
        (
            "when-yes",
            vec![changed],
            |s| s.when(|r| r.status("changed") == TaskStatus::Changed),
            true,
        ),
        (
            "when-no",
            vec![changed],
            |s| s.when(|r| r.host_results("mixed").len() > 5),
            false,
        ),
        (
            "both-no",
            vec![changed],
            |s| s.only_if_changed().when(|_| false),
            false,
        ),
    ];
    let mut expected = Vec::new();
    for (name, deps, configure, runs) in cases {
        let id = step(&mut o, name, false);
        configure(o.step(id).after(deps));
        expected.push((name, runs));
    }
    let report = o.run().await.expect("runs");
    for (name, runs) in expected {
        let want = if runs {
            TaskStatus::Unchanged
        } else {
            TaskStatus::Skipped
        };
        assert_eq!(report.status(name), want, "{name}: {:?}", report.get(name));
    }
    let reason = report.get("when-no").and_then(|t| t.skip_reason.clone());
    assert_eq!(reason.as_deref(), Some("when: guard returned false"));
}

#[tokio::test]
async fn when_fact_reads_an_agent_list_step() {
    let (mut o, _) = orchestrator(Fake::default());
    let agents = o
        .task_func("list-agents", |_, _| async {
            Ok(TaskOutput::unchanged(json!({
                "total": 1,
                "agents": [{
                    "hostname": "web-1", "labels": {"group": "web"}, "status": "Ready",
                    "registered_at": "", "started_at": "", "agent_version": "",
                    "conditions": []
                }]
            })))
        })
        .id();
    let yes = step(&mut o, "web-only", false);
    o.step(yes)
        .when_fact(agents, predicate::has_label("group", "web"));
    let no = step(&mut o, "db-only", false);
    o.step(no)
        .when_fact(agents, predicate::has_label("group", "db"));
    let report = o.run().await.expect("runs");
    assert_eq!(report.status("web-only"), TaskStatus::Unchanged);
    let skipped = report.get("db-only").expect("reached");
    assert_eq!(
        skipped.skip_reason.as_deref(),
        Some("when-fact: no matching agent")
    );
}

#[tokio::test]
async fn invalid_plans_fail_before_anything_runs() {
    let (mut o, _) = orchestrator(Fake::default());
    let a = step(&mut o, "a", false);
    let b = step(&mut o, "b", false);
    o.step(a).after(b);
    o.step(b).after(a);
    let err = o.run().await.expect_err("cycle");
    assert!(
        matches!(err, RunError::Invalid(PlanError::Cycle { .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("plan validation: cycle detected"),
        "{err}"
    );
    assert!(o.client().calls().is_empty());
    assert!(o.explain().starts_with("invalid plan: cycle detected"));

    let (mut o, _) = orchestrator(Fake::default());
    let s = step(&mut o, "self", false);
    o.step(s).after(s);
    assert!(matches!(o.levels(), Err(PlanError::Cycle { .. })));

    let (mut o, _) = orchestrator(Fake::default());
    step(&mut o, "a", false);
    o.step(StepId(0)).after_named("missing");
    assert_eq!(
        o.levels(),
        Err(PlanError::UnknownStep {
            step: "a".into(),
            dependency: "missing".into()
        })
    );

    let (mut o, _) = orchestrator(Fake::default());
    step(&mut o, "dup", false);
    step(&mut o, "dup", false);
    let err = o.run().await.expect_err("duplicate");
    assert_eq!(
        err.to_string(),
        "plan validation: duplicate step name \"dup\""
    );
    assert!(o.client().calls().is_empty());
}

#[tokio::test]
async fn a_foreign_handle_is_an_unknown_step() {
    let (mut o, _) = orchestrator(Fake::default());
    let a = step(&mut o, "a", false);
    o.step(a).after(StepId(42));
    assert!(matches!(o.levels(), Err(PlanError::UnknownStep { .. })));
}

#[tokio::test]
async fn timeouts_and_panics_fail_the_step_not_the_engine() {
    let (mut o, _) = orchestrator(Fake::default());
    o.task_func("slow", |_, _| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(TaskOutput::default())
    })
    .timeout(Duration::from_millis(50))
    .continue_on_error();
    o.task_func("panics", |_, _| async {
        if true {
            panic!("boom");
        }
        Ok(TaskOutput::default())
    })
    .continue_on_error();
    let report = o.run().await.expect("continue");
    assert_eq!(report.status("slow"), TaskStatus::Failed);
    assert!(report
        .get("slow")
        .and_then(|t| t.error.clone())
        .is_some_and(|e| e.contains("timed out")));
    assert_eq!(
        report
            .get("panics")
            .and_then(|t| t.error.clone())
            .as_deref(),
        Some("the step panicked")
    );
}

#[tokio::test]
async fn the_report_is_readable() {
    let (mut o, out) = orchestrator(Fake::default());
    let h = step(&mut o, "health", false);
    let hosts = hosts_step(
        &mut o,
        "broadcast",
        &[(true, None), (false, Some("exit code 2"))],
    );
    o.step(hosts).after(h);
    let skip = step(&mut o, "guarded", false);
    o.step(skip).after(h).only_if_changed();
    o.run().await.expect("runs");
    let text = String::from_utf8(out.lock().expect("lock").clone()).expect("utf8");
    for want in [
        "Execution Plan",
        "Plan: 3 tasks, 2 steps",
        "  Step 1 (sequential): health",
        "  Step 2 (parallel): broadcast, guarded",
        ">>> Step 2 (parallel): broadcast, guarded",
        "  [start]     health",
        "  [unchanged] health",
        "  [changed]   broadcast",
        "             [h0] ok changed",
        "             [h1] failed: exit code 2",
        "               n: 0",
        "  [skip]      guarded                   reason=\"no dependencies changed\"",
        "<<< Step 2 done: 1/2 changed",
        "Complete: 3 tasks, 1 changed, 1 unchanged, 1 skipped in",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[tokio::test]
async fn steps_are_named_after_their_operation() {
    let (mut o, _) = orchestrator(Fake::default());
    let calls = Arc::new(AtomicU32::new(0));
    for _ in 0..3 {
        let calls = calls.clone();
        o.op("get-hostname", move |_| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(TaskOutput::default())
            }
        });
    }
    assert_eq!(
        o.levels().expect("valid"),
        vec![vec!["get-hostname", "get-hostname-2", "get-hostname-3"]]
    );
    o.run().await.expect("runs");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
