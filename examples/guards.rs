//! guards: conditions checked just before a step would run. `when` takes a predicate over
//! the results so far; `when_with_reason` also sets the skip reason shown in the report.
//! A step's guards all have to pass. Guards do not add dependencies: use `.after(...)` so
//! the steps a guard reads have finished.
//!
//! DAG:
//!   health-check
//!       └── get-hostname
//!               ├── hostname-known    when: get-hostname did not fail        -> runs
//!               ├── only-on-change    when: get-hostname changed something   -> skipped
//!               └── needs-two-agents  when_with_reason: two or more hosts    -> depends
//!
//! Run: `cargo run --example guards` (with OSAPI_TOKEN set)

use osapi::orchestrator::{Orchestrator, TaskStatus};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    let health = o.health_check().id();
    let hostnames = o.node_hostname_get("_all").after(health).id();

    // Passes: reading hostnames succeeded (a read reports `unchanged`).
    o.command_exec("_any", "echo", &["the hostname step succeeded"])
        .named("hostname-known")
        .after(hostnames)
        .when(|r| r.status("get-hostname") == TaskStatus::Unchanged);

    // Blocks: a read never reports a change, so this is skipped with the default reason
    // "when: guard returned false".
    o.command_exec("_any", "echo", &["never printed"])
        .named("only-on-change")
        .after(hostnames)
        .when(|r| r.changed("get-hostname"));

    // Runs only in a fleet; on a single dev box it is skipped with this reason.
    o.command_exec("_all", "echo", &["part of a fleet"])
        .named("needs-two-agents")
        .after(hostnames)
        .when_with_reason(
            |r| r.host_results("get-hostname").len() >= 2,
            "fewer than two agents answered",
        );

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    println!();
    for name in ["hostname-known", "only-on-change", "needs-two-agents"] {
        let task = report.get(name).ok_or("step not reached")?;
        let why = task.skip_reason.as_deref().unwrap_or("-");
        println!("{name:18} {:10} reason: {why}", task.status.to_string());
    }
    Ok(())
}
