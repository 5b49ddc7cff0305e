//! ping: ICMP echo from an agent to an address (3 packets), decoded as `PingResult`.
//! The agent needs unprivileged ICMP (`net.ipv4.ping_group_range`) or root; otherwise the
//! host reports a permission error.
//!
//! Env: OSAPI_PING_ADDRESS (default 127.0.0.1).
//!
//! DAG:
//!   health-check
//!       └── ping (_any)
//!
//! Run: `cargo run --example ping` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::PingResult;
use osapi::orchestrator::Orchestrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::var("OSAPI_PING_ADDRESS").unwrap_or_else(|_| "127.0.0.1".into());
    let mut o = Orchestrator::from_env()?;

    let health = o.health_check().id();
    o.network_ping("_any", &address).after(health);

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    let ping: PingResult = report.decode("ping")?;
    println!(
        "\n{address}: {}/{} received, {:.0}% loss, rtt min/avg/max {}/{}/{}",
        ping.packets_received,
        ping.packets_sent,
        ping.packet_loss,
        ping.min_rtt,
        ping.avg_rtt,
        ping.max_rtt
    );
    Ok(())
}
