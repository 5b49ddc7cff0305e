//! basic: the smallest plan. Check that the controller is alive, then ask one agent for
//! its hostname and decode the typed result from the report.
//!
//! DAG:
//!   health-check
//!       └── get-hostname (target _any)
//!
//! Run: `OSAPI_TOKEN=$(osapi -f osapi.yaml.example token generate -r admin -u me) cargo run --example basic`

use osapi::orchestrator::ops::types::HostnameResult;
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // OSAPI_URL (default http://localhost:8080) and OSAPI_TOKEN.
    let mut o = Orchestrator::from_env()?;

    // Each constructor adds one step and returns it for chaining; `.id()` is the handle
    // other steps depend on. Step names follow the operation.
    let health = o.health_check().id(); // "health-check"
    o.node_hostname_get("_any").after(health); // "get-hostname"

    // Validates the DAG, runs it level by level and prints the live report. On failure
    // the error carries the partial report (`err.report()`).
    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;

    // Step data decodes into the typed results of `ops::types`.
    let host: HostnameResult = report.decode("get-hostname")?;
    println!("\nhostname: {}", host.hostname);
    for (key, value) in host.labels.unwrap_or_default() {
        println!("  label {key}={value}");
    }
    Ok(())
}
