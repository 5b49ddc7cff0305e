//! discover: find agents by their facts while building the plan, then add one step per
//! agent found. `discover` lists the agents now (not as a step) and keeps those matching
//! every predicate.
//!
//! Env: OSAPI_DISCOVER_OS (default: Ubuntu or Debian); the architecture is this machine's.
//!
//! DAG (one branch per matching agent):
//!   health-check
//!       ├── get-os-<host-1>
//!       └── get-os-<host-2> ...
//!
//! Run: `cargo run --example discover` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::OsResult;
use osapi::orchestrator::predicate::{arch, os};
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let distro = match std::env::var("OSAPI_DISCOVER_OS") {
        Ok(name) => os(&name),
        Err(_) => os("ubuntu").or(os("debian")),
    };
    let mut o = Orchestrator::from_env()?;

    // Every predicate must match (names ignore case). Agents that have not reported
    // facts yet match no fact predicate.
    let agents = o.discover(&[distro, arch(std::env::consts::ARCH)]).await?;
    if agents.is_empty() {
        println!("no matching agents; set OSAPI_DISCOVER_OS (e.g. fedora)");
        return Ok(());
    }

    let health = o.health_check().id();
    for agent in &agents {
        println!("found {} ({})", agent.hostname, agent.state);
        // Unique names per host (otherwise get-os, get-os-2, ...).
        o.node_os_get(&agent.hostname)
            .named(&format!("get-os-{}", agent.hostname))
            .after(health);
    }

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    for agent in &agents {
        let info: OsResult = report.decode(&format!("get-os-{}", agent.hostname))?;
        println!(
            "{}: {} {}",
            agent.hostname, info.os_info.distribution, info.os_info.version
        );
    }
    Ok(())
}
