//! task-func: a custom step. `task_func(name, f)` runs an async function of the SDK
//! client and the results of the steps finished so far; it returns a `TaskOutput`
//! (changed flag and free-form JSON data) or a `TaskError`. Its data is decoded after the
//! run like any other step's.
//!
//! DAG:
//!   get-uptime (_all)
//!       └── summarize (task_func: reads get-uptime, calls the API itself)
//!
//! Run: `cargo run --example task-func` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::UptimeResult;
use osapi::orchestrator::{Orchestrator, TaskError, TaskOutput};
use serde::Deserialize;
use serde_json::json;

/// What `summarize` returns, read back from the report.
#[derive(Debug, Deserialize)]
struct Summary {
    agents: usize,
    longest_uptime_host: String,
    longest_uptime_seconds: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    let uptime = o.node_uptime_get("_all").id();
    o.task_func("summarize", |client, results| async move {
        // Earlier results: one host result per agent, each decodable.
        let mut longest = (String::new(), 0.0);
        for host in results.host_results("get-uptime") {
            let up: UptimeResult = host.decode().map_err(|e| TaskError::msg(e.to_string()))?;
            if up.uptime_seconds > longest.1 {
                longest = (host.hostname.clone(), up.uptime_seconds);
            }
        }
        // The client is the SDK client: any API call works here (SDK errors convert).
        let agents = client.agent_list().await?.total;
        Ok(TaskOutput::unchanged(json!({
            "agents": agents,
            "longest_uptime_host": longest.0,
            "longest_uptime_seconds": longest.1,
        })))
    })
    .after(uptime);

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    let summary: Summary = report.decode("summarize")?;
    println!(
        "\n{} agent(s); longest uptime: {} ({:.0}s)",
        summary.agents, summary.longest_uptime_host, summary.longest_uptime_seconds
    );
    Ok(())
}
