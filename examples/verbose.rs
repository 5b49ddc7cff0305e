//! verbose: the same live report with every host's data (stdout, stderr, exit code,
//! memory figures, ...) and the job id of each API step. `.verbose()` switches the
//! built-in renderer; `.with_observer(Arc::new(Silent))` would print nothing instead.
//!
//! DAG:
//!   health-check
//!       ├── shell-echo (_all): prints to stdout and stderr
//!       └── get-memory (_any)
//!
//! Run: `cargo run --example verbose` (with OSAPI_TOKEN set)

use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?.verbose();

    let health = o.health_check().id();
    o.command_shell("_all", "echo to stdout; echo to stderr >&2")
        .after(health);
    o.node_memory_get("_any").after(health);

    // Compare with `o.explain()`, a static description of the plan.
    print!("{}", o.explain());
    o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    Ok(())
}
