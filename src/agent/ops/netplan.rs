//! `network.interface.*`, `network.route.*` and `network.dns.delete` through the netplan
//! provider, off the async threads.

use super::{change, handled_by, Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::netplan::{
    DnsDeleteRequest, InterfaceChanged, InterfaceConfig, InterfaceGet, InterfaceList,
    InterfaceName, NetworkDnsDelete, NetworkInterfaceCreate, NetworkInterfaceDelete,
    NetworkInterfaceGet, NetworkInterfaceList, NetworkInterfaceUpdate, NetworkRouteCreate,
    NetworkRouteDelete, NetworkRouteGet, NetworkRouteList, NetworkRouteUpdate, RouteChanged,
    RouteInterface, RouteList, RouteRequest,
};
use crate::wire::ops::{Changed, NoInput};

impl Handle for NetworkInterfaceList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<InterfaceList>, OpError> {
        let doing = "failed to list interfaces";
        let interfaces = with_provider(&ctx.providers.netplan, doing, |p| p.interfaces()).await?;
        Ok(Done::read(InterfaceList { interfaces }))
    }
}

impl Handle for NetworkInterfaceGet {
    async fn run(ctx: &ExecContext, data: InterfaceName) -> Result<Done<InterfaceGet>, OpError> {
        let doing = "failed to read the interface";
        let interface = with_provider(&ctx.providers.netplan, doing, move |p| {
            p.interface(&data.name)
        })
        .await?;
        Ok(Done::read(InterfaceGet { interface }))
    }
}

/// Create (`create`) or update an interface's drop-in.
async fn set_interface(
    ctx: &ExecContext,
    config: InterfaceConfig,
    create: bool,
) -> Result<Done<InterfaceChanged>, OpError> {
    let name = config.name.clone();
    let doing = "failed to configure the interface";
    let changed = with_provider(&ctx.providers.netplan, doing, move |p| {
        p.set_interface(&config, create)
    })
    .await?;
    Ok(Done::new(InterfaceChanged { name }, changed))
}

/// Create (`create`) or update an interface's routes drop-in.
async fn set_routes(
    ctx: &ExecContext,
    data: RouteRequest,
    create: bool,
) -> Result<Done<RouteChanged>, OpError> {
    let interface = data.interface_name.clone();
    let doing = "failed to configure the routes";
    let changed = with_provider(&ctx.providers.netplan, doing, move |p| {
        p.set_routes(&data.interface_name, &data.routes, create)
    })
    .await?;
    Ok(Done::new(RouteChanged { interface }, changed))
}

handled_by! {
    NetworkInterfaceCreate [InterfaceConfig => InterfaceChanged] = set_interface(true);
    NetworkInterfaceUpdate [InterfaceConfig => InterfaceChanged] = set_interface(false);
    NetworkRouteCreate [RouteRequest => RouteChanged] = set_routes(true);
    NetworkRouteUpdate [RouteRequest => RouteChanged] = set_routes(false);
}

impl Handle for NetworkInterfaceDelete {
    async fn run(
        ctx: &ExecContext,
        data: InterfaceName,
    ) -> Result<Done<InterfaceChanged>, OpError> {
        let name = data.name.clone();
        let doing = "failed to remove the interface's configuration";
        let changed = with_provider(&ctx.providers.netplan, doing, move |p| {
            p.delete_interface(&name)
        })
        .await?;
        Ok(Done::new(InterfaceChanged { name: data.name }, changed))
    }
}

impl Handle for NetworkRouteList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<RouteList>, OpError> {
        let routes = with_provider(&ctx.providers.netplan, "failed to list routes", |p| {
            p.routes()
        })
        .await?;
        Ok(Done::read(RouteList { routes }))
    }
}

impl Handle for NetworkRouteGet {
    async fn run(ctx: &ExecContext, data: RouteInterface) -> Result<Done<RouteList>, OpError> {
        let doing = "failed to read the managed routes";
        let routes = with_provider(&ctx.providers.netplan, doing, move |p| {
            p.managed_routes(&data.interface_name)
        })
        .await?;
        Ok(Done::read(RouteList { routes }))
    }
}

impl Handle for NetworkRouteDelete {
    async fn run(ctx: &ExecContext, data: RouteInterface) -> Result<Done<RouteChanged>, OpError> {
        let interface = data.interface_name.clone();
        let doing = "failed to remove the managed routes";
        let changed = with_provider(&ctx.providers.netplan, doing, move |p| {
            p.delete_routes(&data.interface_name)
        })
        .await?;
        Ok(Done::new(RouteChanged { interface }, changed))
    }
}

impl Handle for NetworkDnsDelete {
    async fn run(ctx: &ExecContext, _: DnsDeleteRequest) -> Result<Done<Changed>, OpError> {
        let doing = "failed to remove the managed DNS settings";
        change(&ctx.providers.netplan, doing, |p| p.delete_dns()).await
    }
}
