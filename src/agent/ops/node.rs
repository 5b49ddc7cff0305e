//! `node.*`: hostname, uptime, OS, load, memory, disks, and all of them at once.

use super::{Done, Handle};
use crate::agent::processor::{blocking, ExecContext, OpError};
use crate::provider::node::NodeProvider;
use crate::provider::ProviderError;
use crate::wire::ops::node::{
    Disk, DiskPayload, HostnamePayload, LoadAverage, LoadPayload, Memory, MemoryPayload,
    NodeDiskGet, NodeHostnameGet, NodeLoadGet, NodeMemoryGet, NodeOsGet, NodeStatusGet,
    NodeTimezoneGet, NodeUptimeGet, OsInfo, OsPayload, StatusPayload, TimezonePayload,
    UptimePayload,
};
use crate::wire::ops::{go_duration, human_uptime, NoInput};

impl Handle for NodeHostnameGet {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<HostnamePayload>, OpError> {
        let hostname = read(ctx, "hostname", |n| n.hostname()).await?;
        let labels = (!ctx.labels.is_empty()).then(|| ctx.labels.clone());
        Ok(Done::read(HostnamePayload { hostname, labels }))
    }
}

/// One node read off the async threads; a failure says what could not be read.
async fn read<T: Send + 'static>(
    ctx: &ExecContext,
    what: &'static str,
    read: impl FnOnce(&dyn NodeProvider) -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, OpError> {
    let node = ctx.providers.node.clone();
    blocking(move || read(node.as_ref()))
        .await
        .map_err(|e| e.context(&format!("failed to get {what}")))
}

async fn read_load(ctx: &ExecContext) -> Result<LoadAverage, OpError> {
    read(ctx, "load averages", |n| n.load()).await
}

async fn read_memory(ctx: &ExecContext) -> Result<Memory, OpError> {
    read(ctx, "memory", |n| n.memory()).await
}

async fn read_disks(ctx: &ExecContext) -> Result<Vec<Disk>, OpError> {
    read(ctx, "disks", |n| n.disks()).await
}

async fn read_os(ctx: &ExecContext) -> Result<OsInfo, OpError> {
    read(ctx, "OS info", |n| n.os_info()).await
}

async fn read_uptime(ctx: &ExecContext) -> Result<std::time::Duration, OpError> {
    read(ctx, "uptime", |n| n.uptime()).await
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
        let tz = read(ctx, "the time zone", |n| n.timezone()).await?;
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
            |part: &str, e: &OpError| tracing::warn!(part, error = %e, "node status part failed");
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
