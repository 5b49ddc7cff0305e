//! `node.user.*` and `node.sshKey.*` through the user and SSH key providers, off the async
//! threads.

use super::group::named_change;
use super::{change, Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::group::Named;
use crate::wire::ops::ssh_key::{
    NodeSshKeyAdd, NodeSshKeyList, NodeSshKeyRemove, SshKeyAdd, SshKeyList, SshKeyRemove,
};
use crate::wire::ops::user::{
    NodeUserCreate, NodeUserDelete, NodeUserGet, NodeUserList, NodeUserPassword, NodeUserUpdate,
    PasswordData, UserCreateData, UserList, UserName, UserUpdate,
};
use crate::wire::ops::{Changed, NoInput};

impl Handle for NodeUserList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<UserList>, OpError> {
        let users =
            with_provider(&ctx.providers.users, "failed to list users", |p| p.list()).await?;
        Ok(Done::read(UserList { users: Some(users) }))
    }
}

impl Handle for NodeUserGet {
    async fn run(ctx: &ExecContext, data: UserName) -> Result<Done<UserList>, OpError> {
        let doing = "failed to get a user";
        let user = with_provider(&ctx.providers.users, doing, move |p| p.get(&data.name)).await?;
        Ok(Done::read(UserList {
            users: Some(vec![user]),
        }))
    }
}

impl Handle for NodeUserCreate {
    async fn run(ctx: &ExecContext, data: UserCreateData) -> Result<Done<Named>, OpError> {
        let (users, name) = (&ctx.providers.users, data.name.clone());
        named_change(users, name, "failed to create a user", move |p, _| {
            p.create(&data)
        })
        .await
    }
}

impl Handle for NodeUserUpdate {
    async fn run(ctx: &ExecContext, data: UserUpdate) -> Result<Done<Named>, OpError> {
        let (users, name) = (&ctx.providers.users, data.name.clone());
        named_change(users, name, "failed to update a user", move |p, _| {
            p.update(&data)
        })
        .await
    }
}

impl Handle for NodeUserDelete {
    async fn run(ctx: &ExecContext, data: UserName) -> Result<Done<Named>, OpError> {
        let users = &ctx.providers.users;
        named_change(users, data.name, "failed to delete a user", |p, name| {
            p.delete(name)
        })
        .await
    }
}

impl Handle for NodeUserPassword {
    async fn run(ctx: &ExecContext, data: PasswordData) -> Result<Done<Named>, OpError> {
        let (users, hash) = (&ctx.providers.users, data.password_hash);
        named_change(
            users,
            data.name,
            "failed to set a password",
            move |p, name| p.set_password(name, &hash),
        )
        .await
    }
}

impl Handle for NodeSshKeyList {
    async fn run(ctx: &ExecContext, data: UserName) -> Result<Done<SshKeyList>, OpError> {
        let doing = "failed to list SSH keys";
        let keys =
            with_provider(&ctx.providers.ssh_keys, doing, move |p| p.list(&data.name)).await?;
        Ok(Done::read(SshKeyList { keys: Some(keys) }))
    }
}

impl Handle for NodeSshKeyAdd {
    async fn run(ctx: &ExecContext, data: SshKeyAdd) -> Result<Done<Changed>, OpError> {
        change(
            &ctx.providers.ssh_keys,
            "failed to add an SSH key",
            move |p| p.add(&data.name, &data.key),
        )
        .await
    }
}

impl Handle for NodeSshKeyRemove {
    async fn run(ctx: &ExecContext, data: SshKeyRemove) -> Result<Done<Changed>, OpError> {
        change(
            &ctx.providers.ssh_keys,
            "failed to remove an SSH key",
            move |p| p.remove(&data.name, &data.fingerprint),
        )
        .await
    }
}
