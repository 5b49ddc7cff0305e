//! `network.*`: DNS read and update, ping.

use std::net::IpAddr;
use std::time::Duration;

use super::{Done, Handle};
use crate::agent::processor::{blocking, ExecContext, OpError};
use crate::provider::netplan::DnsSettings;
use crate::wire::ops::network::{
    DnsGetData, DnsPayload, DnsUpdateData, DnsUpdatePayload, NetworkDnsGet, NetworkDnsUpdate,
    NetworkPingDo, PingPayload, PingRequest,
};

impl Handle for NetworkDnsGet {
    async fn run(ctx: &ExecContext, data: DnsGetData) -> Result<Done<DnsPayload>, OpError> {
        let dns = ctx.providers.dns.clone();
        let cfg = blocking(move || dns.get(&data.interface))
            .await
            .map_err(|e| e.context("failed to get DNS config"))?;
        Ok(Done::read(DnsPayload {
            servers: cfg.servers,
            search_domains: cfg.search_domains,
        }))
    }
}

impl Handle for NetworkDnsUpdate {
    async fn run(
        ctx: &ExecContext,
        data: DnsUpdateData,
    ) -> Result<Done<DnsUpdatePayload>, OpError> {
        let (dns, netplan) = (ctx.providers.dns.clone(), ctx.providers.netplan.clone());
        // Where Netplan configures the host the settings persist in its managed drop-in,
        // as the original's (and DELETE removes them); elsewhere resolved or resolv.conf.
        let changed = blocking(move || {
            if netplan.manages_network() {
                return netplan.set_dns(&DnsSettings {
                    interface: &data.interface,
                    servers: data.servers.as_deref(),
                    search_domains: data.search_domains.as_deref(),
                    override_dhcp: data.override_dhcp.unwrap_or(false),
                });
            }
            dns.update(
                &data.interface,
                data.servers.as_deref(),
                data.search_domains.as_deref(),
            )
        })
        .await
        .map_err(|e| e.context("failed to update DNS config"))?;
        Ok(Done {
            payload: DnsUpdatePayload {},
            changed,
        })
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

impl Handle for NetworkPingDo {
    async fn run(ctx: &ExecContext, data: PingRequest) -> Result<Done<PingPayload>, OpError> {
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
        Ok(Done::read(PingPayload {
            packets_sent: stats.packets_sent,
            packets_received: stats.packets_received,
            packet_loss: stats.packet_loss,
            min_rtt: ms(stats.min_rtt),
            avg_rtt: ms(stats.avg_rtt),
            max_rtt: ms(stats.max_rtt),
            min_rtt_ns: stats.min_rtt.as_nanos() as u64,
            avg_rtt_ns: stats.avg_rtt.as_nanos() as u64,
            max_rtt_ns: stats.max_rtt.as_nanos() as u64,
        }))
    }
}
