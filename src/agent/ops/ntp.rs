//! `node.ntp.*` through the NTP provider, off the async threads.

use super::{change, Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::ntp::{
    NodeNtpCreate, NodeNtpDelete, NodeNtpGet, NodeNtpUpdate, NtpServers, NtpStatus,
};
use crate::wire::ops::{Changed, NoInput};

impl Handle for NodeNtpGet {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<NtpStatus>, OpError> {
        let doing = "failed to read the NTP status";
        with_provider(&ctx.providers.ntp, doing, |p| p.status())
            .await
            .map(Done::read)
    }
}

/// Create (`create`) or replace the managed servers.
async fn set(ctx: &ExecContext, data: NtpServers, create: bool) -> Result<Done<Changed>, OpError> {
    let servers = data.servers;
    let doing = "failed to write the NTP servers";
    change(&ctx.providers.ntp, doing, move |p| {
        p.set_servers(&servers, create)
    })
    .await
}

super::handled_by! {
    NodeNtpCreate [NtpServers => Changed] = set(true);
    NodeNtpUpdate [NtpServers => Changed] = set(false);
}

impl Handle for NodeNtpDelete {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<Changed>, OpError> {
        change(
            &ctx.providers.ntp,
            "failed to remove the NTP servers",
            |p| p.delete(),
        )
        .await
    }
}
