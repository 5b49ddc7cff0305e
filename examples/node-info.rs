//! node-info: every node read at once. Six independent queries run in parallel after the
//! health check; each result decodes into its own type from `ops::types`.
//!
//! Env: OSAPI_TARGET (default `_any`; a hostname gives all answers from one host).
//!
//! DAG:
//!   health-check
//!       ├── get-status  ├── get-uptime  ├── get-disk
//!       ├── get-memory  ├── get-load    └── get-os
//!
//! Run: `cargo run --example node-info` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::{
    DiskResult, LoadResult, MemoryResult, NodeStatusResult, OsResult, UptimeResult,
};
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::var("OSAPI_TARGET").unwrap_or_else(|_| "_any".into());
    let mut o = Orchestrator::from_env()?;

    let health = o.health_check().id();
    o.node_status_get(&target).after(health);
    o.node_uptime_get(&target).after(health);
    o.node_disk_get(&target).after(health);
    o.node_memory_get(&target).after(health);
    o.node_load_get(&target).after(health);
    o.node_os_get(&target).after(health);

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;

    let status: NodeStatusResult = report.decode("get-status")?;
    let uptime: UptimeResult = report.decode("get-uptime")?;
    let disk: DiskResult = report.decode("get-disk")?;
    let memory: MemoryResult = report.decode("get-memory")?;
    let load: LoadResult = report.decode("get-load")?;
    let os: OsResult = report.decode("get-os")?;

    println!(
        "\nos:     {} {}",
        os.os_info.distribution, os.os_info.version
    );
    println!("uptime: {} ({:.0}s)", uptime.uptime, uptime.uptime_seconds);
    let l = &load.load_average;
    println!("load:   {:.2} {:.2} {:.2}", l.one, l.five, l.fifteen);
    let m = &memory.memory;
    println!("memory: {} MiB used of {} MiB", m.used >> 20, m.total >> 20);
    for d in &disk.disks {
        println!(
            "disk:   {} {} GiB used of {} GiB",
            d.name,
            d.used >> 30,
            d.total >> 30
        );
    }
    let since = status.uptime.unwrap_or_default();
    println!("status: {} disk(s), up {since}", status.disks.len());
    Ok(())
}
