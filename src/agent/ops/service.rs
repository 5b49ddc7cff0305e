//! `node.service.*` through the service provider, off the async threads; unit files get
//! their content from the object store first.

use super::file::object_content;
use super::{Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::provider::service::Action;
use crate::wire::ops::service::{
    managed_unit, NodeServiceCreate, NodeServiceDelete, NodeServiceDisable, NodeServiceEnable,
    NodeServiceGet, NodeServiceList, NodeServiceRestart, NodeServiceStart, NodeServiceStop,
    NodeServiceUpdate, ServiceGet, ServiceList, ServiceName, ServiceUnit,
};
use crate::wire::ops::{Named, NoInput};
use crate::wire::Validate;

/// The job data checked again on the host: names become file names and arguments here.
fn checked(data: &impl Validate) -> Result<(), OpError> {
    data.validate().map_err(|e| OpError::from(e.message))
}

/// Creates (`create`) or updates a managed unit; the answer names the unit.
async fn put(ctx: &ExecContext, data: ServiceUnit, create: bool) -> Result<Done<Named>, OpError> {
    checked(&data)?;
    let doing = if create {
        "failed to create a service unit"
    } else {
        "failed to update a service unit"
    };
    let content = object_content(ctx, &data.object, None, &Default::default())
        .await
        .map_err(|e| e.context(doing))?;
    let name = data.name.clone();
    let changed = with_provider(&ctx.providers.services, doing, move |p| {
        p.put_unit(&name, &content, create)
    })
    .await?;
    Ok(Done::new(
        Named {
            name: managed_unit(&data.name),
        },
        changed,
    ))
}

/// Runs `action` on a unit; the answer names it as given.
async fn act(ctx: &ExecContext, data: ServiceName, action: Action) -> Result<Done<Named>, OpError> {
    checked(&data)?;
    let doing = format!(
        "failed to {} a service",
        format!("{action:?}").to_lowercase()
    );
    let name = data.name.clone();
    let changed = with_provider(&ctx.providers.services, &doing, move |p| {
        p.act(&name, action)
    })
    .await?;
    Ok(Done::new(Named { name: data.name }, changed))
}

impl Handle for NodeServiceList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<ServiceList>, OpError> {
        let doing = "failed to list services";
        let services = with_provider(&ctx.providers.services, doing, |p| p.list()).await?;
        Ok(Done::read(ServiceList { services }))
    }
}

impl Handle for NodeServiceGet {
    async fn run(ctx: &ExecContext, data: ServiceName) -> Result<Done<ServiceGet>, OpError> {
        checked(&data)?;
        let doing = "failed to read a service";
        let service =
            with_provider(&ctx.providers.services, doing, move |p| p.get(&data.name)).await?;
        Ok(Done::read(ServiceGet { service }))
    }
}

impl Handle for NodeServiceDelete {
    async fn run(ctx: &ExecContext, data: ServiceName) -> Result<Done<Named>, OpError> {
        checked(&data)?;
        let doing = "failed to delete a service unit";
        let name = data.name.clone();
        let changed = with_provider(&ctx.providers.services, doing, move |p| {
            p.delete_unit(&name)
        })
        .await?;
        Ok(Done::new(
            Named {
                name: managed_unit(&data.name),
            },
            changed,
        ))
    }
}

super::handled_by! {
    NodeServiceCreate [ServiceUnit => Named] = put(true);
    NodeServiceUpdate [ServiceUnit => Named] = put(false);
    NodeServiceStart [ServiceName => Named] = act(Action::Start);
    NodeServiceStop [ServiceName => Named] = act(Action::Stop);
    NodeServiceRestart [ServiceName => Named] = act(Action::Restart);
    NodeServiceEnable [ServiceName => Named] = act(Action::Enable);
    NodeServiceDisable [ServiceName => Named] = act(Action::Disable);
}
