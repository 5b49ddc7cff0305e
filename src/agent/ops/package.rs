//! `node.package.*` through the package provider, off the async threads (an install may
//! run for minutes; the consumer's progress acks keep the job alive meanwhile).

use super::{change, Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::package::{
    NodePackageGet, NodePackageInstall, NodePackageList, NodePackageListUpdates, NodePackageRemove,
    NodePackageUpdate, PackageList, PackageName, UpdateList,
};
use crate::wire::ops::{Changed, Named, NoInput};
use crate::wire::Validate;

/// Installs (`install`) or removes a package; the answer names it.
async fn apt(ctx: &ExecContext, data: PackageName, install: bool) -> Result<Done<Named>, OpError> {
    data.validate().map_err(|e| OpError::from(e.message))?;
    let doing = if install {
        "failed to install a package"
    } else {
        "failed to remove a package"
    };
    let name = data.name.clone();
    let changed = with_provider(&ctx.providers.packages, doing, move |p| {
        if install {
            p.install(&name)
        } else {
            p.remove(&name)
        }
    })
    .await?;
    Ok(Done::new(Named { name: data.name }, changed))
}

impl Handle for NodePackageList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<PackageList>, OpError> {
        let doing = "failed to list packages";
        let packages = with_provider(&ctx.providers.packages, doing, |p| p.list(None)).await?;
        Ok(Done::read(PackageList { packages }))
    }
}

impl Handle for NodePackageGet {
    async fn run(ctx: &ExecContext, data: PackageName) -> Result<Done<PackageList>, OpError> {
        data.validate().map_err(|e| OpError::from(e.message))?;
        let doing = "failed to read a package";
        let name = data.name.clone();
        let packages =
            with_provider(&ctx.providers.packages, doing, move |p| p.list(Some(&name))).await?;
        if packages.is_empty() {
            return Err(format!("{doing}: package {:?} is not installed", data.name).into());
        }
        Ok(Done::read(PackageList { packages }))
    }
}

super::handled_by! {
    NodePackageInstall [PackageName => Named] = apt(true);
    NodePackageRemove [PackageName => Named] = apt(false);
}

impl Handle for NodePackageUpdate {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<Changed>, OpError> {
        let doing = "failed to refresh the package index";
        change(&ctx.providers.packages, doing, |p| p.refresh()).await
    }
}

impl Handle for NodePackageListUpdates {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<UpdateList>, OpError> {
        let doing = "failed to list package updates";
        let updates = with_provider(&ctx.providers.packages, doing, |p| p.updates()).await?;
        Ok(Done::read(UpdateList { updates }))
    }
}
