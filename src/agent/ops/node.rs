//! `node.*`: hostname, uptime, OS, load, memory, disks, and all of them at once.

use super::{Done, Handle};
use crate::agent::processor::{blocking, ExecContext, OpError};
use crate::wire::ops::node::{
    Disk, DiskPayload, HostnamePayload, LoadAverage, LoadPayload, Memory, MemoryPayload,
    NodeDiskGet, NodeHostnameGet, NodeLoadGet, NodeMemoryGet, NodeOsGet, NodeStatusGet,
    NodeTimezoneGet, NodeUptimeGet, OsInfo, OsPayload, StatusPayload, TimezonePayload,
    UptimePayload,
};
use crate::wire::ops::{go_duration, human_uptime, NoInput};

impl Handle for NodeHostnameGet {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<HostnamePayload>, OpError> {
        let node = ctx.providers.node.clone();
        let hostname = blocking(move || node.hostname())
            .await
            .map_err(|e| format!("failed to get hostname: {e}"))?;
        let labels = (!ctx.labels.is_empty()).then(|| ctx.labels.clone());
        Ok(Done::read(HostnamePayload { hostname, labels }))
    }
}

async fn read_load(ctx: &ExecContext) -> Result<LoadAverage, String> {
    let node = ctx.providers.node.clone();
    let l = blocking(move || node.load())
        .await
        .map_err(|e| format!("failed to get load averages: {e}"))?;
    Ok(LoadAverage {
        one: l.one,
        five: l.five,
        fifteen: l.fifteen,
    })
}

async fn read_memory(ctx: &ExecContext) -> Result<Memory, String> {
    let node = ctx.providers.node.clone();
    let m = blocking(move || node.memory())
        .await
        .map_err(|e| format!("failed to get memory: {e}"))?;
    Ok(Memory {
        total: m.total,
        free: m.free,
        used: m.total.saturating_sub(m.available),
        available: m.available,
        cached: m.cached,
    })
}

async fn read_disks(ctx: &ExecContext) -> Result<Vec<Disk>, String> {
    let node = ctx.providers.node.clone();
    let disks = blocking(move || node.disks())
        .await
        .map_err(|e| format!("failed to get disks: {e}"))?;
    Ok(disks
        .into_iter()
        .map(|d| Disk {
            name: d.name,
            total: d.total,
            used: d.used,
            free: d.free,
            device: d.device,
            fstype: d.fstype,
        })
        .collect())
}

async fn read_os(ctx: &ExecContext) -> Result<OsInfo, String> {
    let node = ctx.providers.node.clone();
    let os = blocking(move || node.os_info())
        .await
        .map_err(|e| format!("failed to get OS info: {e}"))?;
    Ok(OsInfo {
        distribution: os.distribution,
        version: os.version,
    })
}

async fn read_uptime(ctx: &ExecContext) -> Result<std::time::Duration, String> {
    let node = ctx.providers.node.clone();
    blocking(move || node.uptime())
        .await
        .map_err(|e| format!("failed to get uptime: {e}"))
}

/// A node read whose payload is one field filled by one provider read.
macro_rules! node_read_handler {
    ($op:ty, $read:ident, $payload:ident { $field:ident }) => {
        impl Handle for $op {
            async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<$payload>, OpError> {
                let $field = $read(ctx).await?;
                Ok(Done::read($payload { $field }))
            }
        }
    };
}

node_read_handler!(NodeLoadGet, read_load, LoadPayload { load_average });
node_read_handler!(NodeMemoryGet, read_memory, MemoryPayload { memory });
node_read_handler!(NodeDiskGet, read_disks, DiskPayload { disks });
node_read_handler!(NodeOsGet, read_os, OsPayload { os_info });

impl Handle for NodeTimezoneGet {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<TimezonePayload>, OpError> {
        let node = ctx.providers.node.clone();
        let tz = blocking(move || node.timezone())
            .await
            .map_err(|e| format!("failed to get the time zone: {e}"))?;
        Ok(Done::read(TimezonePayload {
            timezone: tz.name,
            utc_offset: tz.utc_offset,
        }))
    }
}

impl Handle for NodeUptimeGet {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<UptimePayload>, OpError> {
        let up = read_uptime(ctx).await?;
        Ok(Done::read(UptimePayload {
            uptime: go_duration(up),
            uptime_seconds: up.as_secs_f64(),
        }))
    }
}

/// Everything at once. A part that fails is left out (and logged) rather than failing the
/// whole answer, as the original does.
impl Handle for NodeStatusGet {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<StatusPayload>, OpError> {
        let (up, load, mem, disks, os) = tokio::join!(
            read_uptime(ctx),
            read_load(ctx),
            read_memory(ctx),
            read_disks(ctx),
            read_os(ctx)
        );
        let keep =
            |part: &str, e: &String| tracing::warn!(part, error = %e, "node status part failed");
        Ok(Done::read(StatusPayload {
            uptime: up.as_ref().ok().map(|d| human_uptime(*d)),
            uptime_seconds: up.as_ref().ok().map(|d| d.as_secs_f64()),
            load_average: load.inspect_err(|e| keep("load", e)).ok(),
            memory: mem.inspect_err(|e| keep("memory", e)).ok(),
            disks: disks.inspect_err(|e| keep("disks", e)).unwrap_or_default(),
            os_info: os.inspect_err(|e| keep("os", e)).ok(),
        }))
    }
}
