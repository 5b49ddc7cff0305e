//! `network.*`: DNS read and update, ping.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::agent::processor::{blocking, payload, ExecContext};
use crate::job::ops::network::{
    DnsGetData, DnsPayload, DnsUpdateData, DnsUpdatePayload, PingData, PingPayload,
};

pub async fn dns_get(ctx: &ExecContext, data: DnsGetData) -> Result<Value, String> {
    let dns = ctx.providers.dns.clone();
    let cfg = blocking(move || dns.get(&data.interface))
        .await
        .map_err(|e| format!("failed to get DNS config: {e}"))?;
    let p = DnsPayload {
        servers: cfg.servers,
        search_domains: cfg.search_domains,
    };
    payload(&p, false)
}

pub async fn dns_update(ctx: &ExecContext, data: DnsUpdateData) -> Result<Value, String> {
    let dns = ctx.providers.dns.clone();
    let changed = blocking(move || {
        dns.update(
            &data.interface,
            data.servers.as_deref(),
            data.search_domains.as_deref(),
        )
    })
    .await
    .map_err(|e| format!("failed to update DNS config: {e}"))?;
    payload(&DnsUpdatePayload { changed }, changed)
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

pub async fn ping(ctx: &ExecContext, data: PingData) -> Result<Value, String> {
    let addr: IpAddr = data
        .address
        .parse()
        .map_err(|_| format!("{:?} is not an IP address", data.address))?;
    let stats = ctx
        .providers
        .ping
        .ping(addr, data.count, Duration::from_secs(1))
        .await
        .map_err(|e| format!("ping failed: {e}"))?;
    let p = PingPayload {
        packets_sent: stats.packets_sent,
        packets_received: stats.packets_received,
        packet_loss: stats.packet_loss,
        min_rtt: ms(stats.min_rtt),
        avg_rtt: ms(stats.avg_rtt),
        max_rtt: ms(stats.max_rtt),
        min_rtt_ns: stats.min_rtt.as_nanos() as u64,
        avg_rtt_ns: stats.avg_rtt.as_nanos() as u64,
        max_rtt_ns: stats.max_rtt.as_nanos() as u64,
    };
    payload(&p, false)
}
