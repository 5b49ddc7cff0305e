//! when-fact: decide at run time from agent facts. `.when_fact(agents, predicate)` runs
//! the step only if some agent in the `agents` step's list (an `agent_list` step)
//! matches; it also makes the step depend on `agents`.
//!
//! DAG:
//!   list-agents
//!       ├── linux-uname   (when some agent runs on this architecture)  -> runs
//!       └── plan9-only    (when some agent runs Plan 9)                -> skipped
//!
//! Run: `cargo run --example when-fact` (with OSAPI_TOKEN set)

use osapi::orchestrator::predicate::{arch, os};
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    let agents = o.agent_list().id();
    o.command_exec("_any", "uname", &["-a"])
        .named("linux-uname")
        .when_fact(agents, arch(std::env::consts::ARCH));
    o.command_exec("_any", "echo", &["never printed"])
        .named("plan9-only")
        .when_fact(agents, os("plan9")); // skipped: "when-fact: no matching agent"

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    println!();
    for name in ["linux-uname", "plan9-only"] {
        let task = report.get(name).ok_or("step not reached")?;
        println!(
            "{name:12} {} {}",
            task.status,
            task.skip_reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
