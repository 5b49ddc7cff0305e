//! agent-facts: what agents report about themselves. `agent_list` returns every agent
//! with labels, conditions and facts; `agent_get` one agent. A task function decodes both
//! from the results and prints the facts.
//!
//! Env: OSAPI_AGENT (default: the first registered agent).
//!
//! DAG:
//!   list-agents   get-agent
//!        └──────┬─────┘
//!          print-facts (task_func)
//!
//! Run: `cargo run --example agent-facts` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::{AgentListResult, AgentResult};
use osapi::orchestrator::{Orchestrator, TaskError, TaskOutput};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;
    // The agent to look at: OSAPI_AGENT, or the first one registered.
    let agents = o.discover(&[]).await?;
    let first = agents.first().map(|a| a.hostname.clone());
    let host = std::env::var("OSAPI_AGENT")
        .ok()
        .or(first)
        .ok_or("no agents")?;

    let list = o.agent_list().id();
    let one = o.agent_get(&host).id();
    o.task_func("print-facts", |_, results| async move {
        let fail = |e: osapi::orchestrator::DecodeError| TaskError::msg(e.to_string());
        let list: AgentListResult = results.decode("list-agents").map_err(fail)?;
        let names: Vec<&str> = list.agents.iter().map(|a| a.hostname.as_str()).collect();
        println!("{} agent(s): {names:?}", list.total);

        let agent: AgentResult = results.decode("get-agent").map_err(fail)?;
        println!(
            "{} ({}), labels {:?}",
            agent.hostname, agent.state, agent.labels
        );
        let Some(f) = agent.facts else {
            println!("  no facts reported yet");
            return Ok(TaskOutput::default());
        };
        if let Some(os) = &f.os {
            println!("  os:      {} {}", os.distribution, os.version);
        }
        println!("  kernel:  {} ({})", f.kernel_version, f.architecture);
        println!(
            "  cpus:    {}, memory {} MiB",
            f.cpu_count,
            f.memory_total >> 20
        );
        println!("  fqdn:    {}", f.fqdn);
        println!("  managers: {} / {}", f.service_mgr, f.package_mgr);
        for i in &f.interfaces {
            println!("  iface:   {} {} {} {}", i.name, i.ipv4, i.ipv6, i.mac);
        }
        Ok(TaskOutput::default())
    })
    .after([list, one]);

    o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    Ok(())
}
