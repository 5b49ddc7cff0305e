//! fact-predicates: compose predicates with `.and()`, `.or()` and `.not()`. A composed
//! predicate works everywhere a predicate does: `discover`, `group_by_fact` and
//! `when_fact`.
//!
//! DAG (one branch per agent with >= 2 CPUs, >= 1 GiB memory, this architecture):
//!   health-check
//!       └── get-load-<host> ...
//!
//! Run: `cargo run --example fact-predicates` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::LoadResult;
use osapi::orchestrator::predicate::{arch, min_cpu, min_memory};
use osapi::orchestrator::Orchestrator;

const GIB: u64 = 1 << 30;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    // One predicate made of three facts: CPU count, memory in bytes, architecture.
    let capable = min_cpu(2)
        .and(min_memory(GIB))
        .and(arch(std::env::consts::ARCH));
    let agents = o.discover(&[capable]).await?;
    println!("{} agent(s) with >= 2 CPUs and >= 1 GiB", agents.len());

    let health = o.health_check().id();
    for agent in &agents {
        if let Some(facts) = &agent.facts {
            let gib = facts.memory_total as f64 / GIB as f64;
            println!(
                "  {}: {} CPUs, {gib:.1} GiB",
                agent.hostname, facts.cpu_count
            );
        }
        o.node_load_get(&agent.hostname)
            .named(&format!("get-load-{}", agent.hostname))
            .after(health);
    }

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    for agent in &agents {
        let load: LoadResult = report.decode(&format!("get-load-{}", agent.hostname))?;
        println!("{}: load {:.2}", agent.hostname, load.load_average.one);
    }
    Ok(())
}
