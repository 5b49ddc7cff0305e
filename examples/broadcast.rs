//! broadcast: target `_all` and read one result per host. A broadcast step keeps a host
//! result for every agent (hostname, status, changed, error, data); the step's `changed`
//! is true when any host changed.
//!
//! DAG:
//!   health-check
//!       ├── get-hostname  (_all)
//!       └── run-uname     (_all, `uname -r`)
//!
//! Run: `cargo run --example broadcast` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::{CommandResult, HostnameResult};
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    let health = o.health_check().id();
    o.node_hostname_get("_all").after(health);
    o.command_exec("_all", "uname", &["-r"]).after(health);

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;

    println!("\nhostnames and labels:");
    for host in &report.get("get-hostname").ok_or("not run")?.hosts {
        match host.decode::<HostnameResult>() {
            Ok(h) => println!("  {:20} {:?}", host.hostname, h.labels.unwrap_or_default()),
            Err(_) => println!("  {:20} error: {:?}", host.hostname, host.error),
        }
    }

    println!("\nkernels:");
    for host in &report.get("run-uname").ok_or("not run")?.hosts {
        // A host that failed (e.g. a non-zero exit) has `error` set; its data may still
        // hold the command's output.
        match (host.decode::<CommandResult>(), &host.error) {
            (Ok(out), None) => println!("  {:20} {}", host.hostname, out.stdout.trim()),
            (_, error) => println!("  {:20} failed: {error:?}", host.hostname),
        }
    }
    Ok(())
}
