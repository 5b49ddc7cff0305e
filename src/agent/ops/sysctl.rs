//! `node.sysctl.*` through the sysctl provider, off the async threads.

use super::{change, Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::sysctl::{
    NodeSysctlCreate, NodeSysctlDelete, NodeSysctlGet, NodeSysctlList, NodeSysctlUpdate,
    SysctlEntry, SysctlKey, SysctlList, SysctlSet,
};
use crate::wire::ops::{Changed, NoInput};

/// Create (`create`) or update a key.
async fn set(ctx: &ExecContext, d: SysctlSet, create: bool) -> Result<Done<Changed>, OpError> {
    let doing = if create {
        "failed to create a sysctl key"
    } else {
        "failed to update a sysctl key"
    };
    change(&ctx.providers.sysctl, doing, move |p| {
        p.set(&d.key, &d.value, create)
    })
    .await
}

impl Handle for NodeSysctlList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<SysctlList>, OpError> {
        let entries = with_provider(&ctx.providers.sysctl, "failed to list sysctl keys", |p| {
            p.list()
        })
        .await?;
        Ok(Done::read(SysctlList { entries }))
    }
}

impl Handle for NodeSysctlGet {
    async fn run(ctx: &ExecContext, data: SysctlKey) -> Result<Done<SysctlEntry>, OpError> {
        let entry = with_provider(
            &ctx.providers.sysctl,
            "failed to read a sysctl key",
            move |p| p.get(&data.key),
        )
        .await?;
        Ok(Done::read(entry))
    }
}

super::handled_by! {
    NodeSysctlCreate [SysctlSet => Changed] = set(true);
    NodeSysctlUpdate [SysctlSet => Changed] = set(false);
}

impl Handle for NodeSysctlDelete {
    async fn run(ctx: &ExecContext, data: SysctlKey) -> Result<Done<Changed>, OpError> {
        let doing = "failed to delete a sysctl key";
        change(&ctx.providers.sysctl, doing, move |p| p.delete(&data.key)).await
    }
}
