//! parallel: five independent node queries fan out after a health check. Steps of the
//! same level run concurrently; the next level starts when all of them are done.
//!
//! DAG:
//!   health-check
//!       ├── get-hostname
//!       ├── get-uptime
//!       ├── get-disk
//!       ├── get-memory
//!       └── get-load
//!
//! Run: `cargo run --example parallel` (with OSAPI_TOKEN set)

use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    let health = o.health_check().id();
    // None of these depend on each other, only on the health check: one level of five.
    o.node_hostname_get("_any").after(health);
    o.node_uptime_get("_any").after(health);
    o.node_disk_get("_any").after(health);
    o.node_memory_get("_any").after(health);
    o.node_load_get("_any").after(health);

    // The levels are known before anything runs.
    for (n, level) in o.levels()?.iter().enumerate() {
        println!("level {}: {}", n + 1, level.join(", "));
    }

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;

    // The whole run takes about as long as the slowest query, not the sum of all five.
    let sum: std::time::Duration = report.tasks.iter().map(|t| t.duration).sum();
    println!(
        "\nwall time {:?}, sum of step times {:?}",
        report.duration, sum
    );
    Ok(())
}
