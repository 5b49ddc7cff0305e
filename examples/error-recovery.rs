//! error-recovery: keep going after a failure and clean up.
//!
//! 1. A task function always fails. `.continue_on_error()` keeps the plan running; its
//!    unguarded dependent is skipped ("dependency failed"), and an `.only_if_failed()`
//!    cleanup runs instead.
//! 2. A shell `exit 1` on every agent. A broadcast step succeeds even when hosts fail:
//!    each host's error (`exit code 1`) is in its host result, and an
//!    `.only_if_any_host_failed()` cleanup reacts to it.
//!
//! DAG:
//!   always-fails (continue on error)   shell-exit (every host exits 1)
//!       ├── never-runs                      └── host-cleanup (only if any host failed)
//!       └── cleanup (only if failed)
//!
//! Run: `cargo run --example error-recovery` (with OSAPI_TOKEN set)

use osapi::orchestrator::{Orchestrator, TaskError, TaskOutput};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    let fails = o
        .task_func("always-fails", |_, _| async {
            Err(TaskError::msg("simulated failure"))
        })
        .continue_on_error()
        .id();
    // No guard: skipped because its dependency failed (and so would its dependents be).
    o.task_func("never-runs", |_, _| async { Ok(TaskOutput::default()) })
        .after(fails);
    // A guarded step is not skipped automatically: its guard decides.
    o.task_func("cleanup", |_, results| async move {
        let error = results.get("always-fails").and_then(|t| t.error.clone());
        println!("cleaning up after: {}", error.unwrap_or_default());
        Ok(TaskOutput::changed(Value::Null))
    })
    .after(fails)
    .only_if_failed();

    let exit = o.command_shell("_all", "exit 1").id();
    o.command_exec("_any", "echo", &["a host failed, cleaning up"])
        .named("host-cleanup")
        .after(exit)
        .only_if_any_host_failed();

    // Without `continue_on_error` a failure stops the plan after its level (StopAll), and
    // `run` returns the error with the partial report.
    let report = match o.run().await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(partial) = err.report() {
                eprintln!("reached: {}", partial.summary());
            }
            return Err(err.into());
        }
    };
    println!();
    for task in &report.tasks {
        let failed = task.hosts.iter().filter(|h| h.is_failed()).count();
        let hosts = (failed > 0).then(|| format!("{failed} host(s) failed"));
        let why = task.skip_reason.clone().or(task.error.clone()).or(hosts);
        let why = why.unwrap_or_default();
        println!("{:14} {:9} {why}", task.name, task.status.to_string());
    }
    Ok(())
}
