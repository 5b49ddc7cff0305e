//! `node.group.*` through the group provider, off the async threads.

use super::{Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::provider::ProviderError;
use crate::wire::ops::group::{
    GroupCreate, GroupList, GroupMembers, GroupName, Named, NodeGroupCreate, NodeGroupDelete,
    NodeGroupGet, NodeGroupList, NodeGroupUpdate,
};
use crate::wire::ops::NoInput;

/// An account change through `provider`, answered with the name it acted on.
pub(super) async fn named_change<P: ?Sized + Send + Sync + 'static>(
    provider: &std::sync::Arc<P>,
    name: String,
    doing: &str,
    f: impl FnOnce(&P, &str) -> Result<bool, ProviderError> + Send + 'static,
) -> Result<Done<Named>, OpError> {
    let named = Named::of(&name);
    let changed = with_provider(provider, doing, move |p| f(p, &name)).await?;
    Ok(Done::new(named, changed))
}

impl Handle for NodeGroupList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<GroupList>, OpError> {
        let groups =
            with_provider(&ctx.providers.groups, "failed to list groups", |p| p.list()).await?;
        Ok(Done::read(GroupList {
            groups: Some(groups),
        }))
    }
}

impl Handle for NodeGroupGet {
    async fn run(ctx: &ExecContext, data: GroupName) -> Result<Done<GroupList>, OpError> {
        let doing = "failed to get a group";
        let group = with_provider(&ctx.providers.groups, doing, move |p| p.get(&data.name)).await?;
        Ok(Done::read(GroupList {
            groups: Some(vec![group]),
        }))
    }
}

impl Handle for NodeGroupCreate {
    async fn run(ctx: &ExecContext, data: GroupCreate) -> Result<Done<Named>, OpError> {
        let name = data.name.clone();
        named_change(
            &ctx.providers.groups,
            name,
            "failed to create a group",
            move |p, _| p.create(&data),
        )
        .await
    }
}

impl Handle for NodeGroupUpdate {
    async fn run(ctx: &ExecContext, data: GroupMembers) -> Result<Done<Named>, OpError> {
        let members = data.members;
        named_change(
            &ctx.providers.groups,
            data.name,
            "failed to update a group",
            move |p, name| p.set_members(name, &members),
        )
        .await
    }
}

impl Handle for NodeGroupDelete {
    async fn run(ctx: &ExecContext, data: GroupName) -> Result<Done<Named>, OpError> {
        named_change(
            &ctx.providers.groups,
            data.name,
            "failed to delete a group",
            |p, name| p.delete(name),
        )
        .await
    }
}
