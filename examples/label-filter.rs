//! label-filter: select agents by label and by fact value. `has_label(key, value)` needs
//! the exact label value; `fact_equals(key, value)` compares a fact (by name or dotted
//! path, e.g. `os.version`, `cpu_count`, `service_manager`) with a JSON value.
//!
//! Env: OSAPI_LABEL (default `group=web.dev.us-east`, the label in osapi.yaml.example).
//!
//! DAG:
//!   health-check
//!       ├── uptime-<host>     every agent with the label
//!       ├── systemd-<host>    those of them that run systemd
//!       └── get-hostname      the label as a target (`group:web.dev.us-east`)
//!
//! Run: `cargo run --example label-filter` (with OSAPI_TOKEN set)

use osapi::orchestrator::predicate::{fact_equals, has_label};
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let label = std::env::var("OSAPI_LABEL");
    let label = label.unwrap_or_else(|_| "group=web.dev.us-east".into());
    let (key, value) = label.split_once('=').ok_or("OSAPI_LABEL: key=value")?;
    let mut o = Orchestrator::from_env()?;

    // Every predicate in the slice must match.
    let labelled = o.discover(&[has_label(key, value)]).await?;
    let systemd = [
        has_label(key, value),
        fact_equals("service_manager", "systemd"),
    ];
    let systemd = o.discover(&systemd).await?;
    println!(
        "{} agent(s) labelled {key}={value}, {} with systemd",
        labelled.len(),
        systemd.len()
    );

    let health = o.health_check().id();
    for agent in &labelled {
        o.node_uptime_get(&agent.hostname)
            .named(&format!("uptime-{}", agent.hostname))
            .after(health);
    }
    for agent in &systemd {
        o.command_exec(&agent.hostname, "systemctl", &["is-system-running"])
            .named(&format!("systemd-{}", agent.hostname))
            .after(health);
    }
    // Targets can address labels too: `group:web` reaches web, web.dev, web.dev.us-east.
    if !labelled.is_empty() {
        o.node_hostname_get(&format!("{key}:{value}")).after(health);
    }

    o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    Ok(())
}
