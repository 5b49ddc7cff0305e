//! dns-update: read the DNS configuration of an interface, then write it back.
//!
//! WARNING: `update-dns` modifies the host's resolver configuration (resolvectl where
//! systemd-resolved runs, otherwise /etc/resolv.conf). Use a test box. By default this
//! example re-applies the servers and search domains it has just read, so nothing
//! should change (`changed=false`). Set OSAPI_DNS_SERVERS=192.0.2.1,192.0.2.2 to set
//! other servers for real.
//!
//! Env: OSAPI_DNS_TARGET (default `_any`), OSAPI_DNS_INTERFACE (default
//! `@fact.interface.primary`, each agent's primary interface), OSAPI_DNS_SERVERS.
//!
//! Two plans: the first reads (and tells which agent answered), the second writes to
//! that same agent:
//!   update-dns (on error: Continue)
//!       ├── get-dns        (only if changed: show the new configuration)
//!       └── update-failed  (only if failed)
//!
//! Run: `cargo run --example dns-update` (with OSAPI_TOKEN set)

use std::env;

use osapi::orchestrator::ops::types::DnsConfigResult;
use osapi::orchestrator::{ErrorStrategy, Orchestrator, TaskOutput};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = env::var("OSAPI_DNS_TARGET").unwrap_or_else(|_| "_any".into());
    let iface = env::var("OSAPI_DNS_INTERFACE");
    let iface = iface.unwrap_or_else(|_| "@fact.interface.primary".into());

    // Plan 1: read. The host result names the agent that answered.
    let mut o = Orchestrator::from_env()?;
    o.network_dns_get(&target, &iface);
    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    let answer = report.get("get-dns").and_then(|t| t.hosts.first());
    let answer = answer.ok_or("no agent answered")?;
    let current: DnsConfigResult = answer.decode()?;
    let host = answer.hostname.clone();

    // Unless asked otherwise, write back exactly what is there.
    let servers = match env::var("OSAPI_DNS_SERVERS") {
        Ok(list) => list.split(',').map(|s| s.trim().to_owned()).collect(),
        Err(_) => current.servers.clone(),
    };
    let servers: Vec<&str> = servers.iter().map(String::as_str).collect();
    let search: Vec<&str> = current.search_domains.iter().map(String::as_str).collect();
    if servers.is_empty() && search.is_empty() {
        println!("{host}: nothing configured on {iface}, nothing to write back");
        return Ok(());
    }

    // Plan 2: write (an empty list keeps the current one), then react.
    let mut o = Orchestrator::from_env()?;
    let update = o
        .network_dns_update(&host, &iface, &servers, &search)
        .on_error(ErrorStrategy::Continue) // a failure does not stop the plan
        .id();
    o.network_dns_get(&host, &iface)
        .after(update)
        .only_if_changed();
    o.task_func("update-failed", |_, _| async {
        eprintln!("DNS update failed; the configuration was left as it was");
        Ok(TaskOutput::default())
    })
    .after(update)
    .only_if_failed();

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    let update = report.get("update-dns").ok_or("update-dns not run")?;
    println!("\n{host} {iface}: servers {servers:?} search {search:?}");
    println!("update-dns: {} (changed={})", update.status, update.changed);
    Ok(())
}
