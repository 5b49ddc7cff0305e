//! condition-filter: leave out agents under pressure. Agents report conditions
//! (MemoryPressure, HighLoad, DiskPressure, ...) with every heartbeat;
//! `no_condition(kind)` matches agents where that condition is not active and
//! `healthy()` agents with no active condition at all.
//!
//! DAG:
//!   health-check
//!       ├── disk-<host>     for agents without DiskPressure
//!       └── uptime-<host>   for agents with no active condition
//!
//! Run: `cargo run --example condition-filter` (with OSAPI_TOKEN set)

use osapi::orchestrator::predicate::{healthy, no_condition};
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    // Show every agent's active conditions first.
    for agent in o.discover(&[]).await? {
        let active: Vec<&str> = agent
            .conditions
            .iter()
            .filter(|c| c.status)
            .map(|c| c.kind.as_str())
            .collect();
        println!("{}: active conditions {active:?}", agent.hostname);
    }

    let health = o.health_check().id();
    // Disk work only where disks are not nearly full.
    for agent in o.discover(&[no_condition("DiskPressure")]).await? {
        o.node_disk_get(&agent.hostname)
            .named(&format!("disk-{}", agent.hostname))
            .after(health);
    }
    // Anything else only on agents without any active condition.
    for agent in o.discover(&[healthy()]).await? {
        o.node_uptime_get(&agent.hostname)
            .named(&format!("uptime-{}", agent.hostname))
            .after(health);
    }

    o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    Ok(())
}
