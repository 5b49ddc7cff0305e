//! `osapi client node schedule cron ...`, `... package ...` and `... service ...`:
//! scheduled scripts, packages and systemd services, each sent through the typed SDK and
//! printed by its item's `Render` impl; `-j` prints the API's body as it came.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::node::{show, show_confirmed};
use crate::cli::render::{or_dash, Cells, Render};
use crate::sdk::Client;
use crate::wire::ops::cron::{
    CronCreate, CronItem, CronName, CronUpdate, Interval, ScheduleCronCreate, ScheduleCronDelete,
    ScheduleCronGet, ScheduleCronList, ScheduleCronUpdate,
};
use crate::wire::ops::package::{
    NodePackageGet, NodePackageInstall, NodePackageList, NodePackageListUpdates, NodePackageRemove,
    NodePackageUpdate, PackageList, PackageName, UpdateList,
};
use crate::wire::ops::service::{
    NodeServiceCreate, NodeServiceDelete, NodeServiceDisable, NodeServiceEnable, NodeServiceGet,
    NodeServiceList, NodeServiceRestart, NodeServiceStart, NodeServiceStop, NodeServiceUpdate,
    ServiceGet, ServiceInfo, ServiceList, ServiceName, ServiceUnit,
};
use crate::wire::ops::{Named, NoInput};

/// `client node schedule ...`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Scripts run by cron (`/etc/cron.d`, `/etc/cron.{hourly,daily,weekly,monthly}`).
    Cron {
        #[command(subcommand)]
        command: CronCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// Every managed cron entry.
    List,
    /// One managed entry.
    Get {
        #[arg(long)]
        name: String,
    },
    /// Install a stored script on a schedule or an interval.
    Create(CronCreateArgs),
    /// Change a managed entry's script, schedule or user.
    Update(CronUpdateArgs),
    /// Remove a managed entry's files.
    Delete {
        #[arg(long)]
        name: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Installed packages.
    List,
    /// One installed package.
    Get {
        #[arg(long)]
        name: String,
    },
    /// Install a package (nothing to do when it is installed).
    Install(PackageArgs),
    /// Remove a package (nothing to do when it is not installed).
    Remove(PackageArgs),
    /// Refresh the package index (apt-get update).
    Update {
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Packages with a newer version available.
    Updates,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    #[arg(long)]
    name: String,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Every service unit systemd knows.
    List,
    /// One service (`.service` is added to a bare name).
    Get {
        #[arg(long)]
        name: String,
    },
    /// Install the unit file osapi-<name>.service from a stored object.
    Create(ServiceUnitArgs),
    /// Replace a managed unit file.
    Update(ServiceUnitArgs),
    /// Stop, disable and remove a managed unit file.
    Delete(ServiceArgs),
    /// Start a service.
    Start(ServiceArgs),
    /// Stop a service.
    Stop(ServiceArgs),
    /// Restart a service.
    Restart(ServiceArgs),
    /// Start a service at boot.
    Enable(ServiceArgs),
    /// Do not start a service at boot.
    Disable(ServiceArgs),
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[arg(long)]
    name: String,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct ServiceUnitArgs {
    #[arg(long)]
    name: String,
    /// The stored unit file (upload it with `client file upload`).
    #[arg(long)]
    object: String,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

/// Template variables as `--var KEY=VALUE` (repeatable) or `--vars a=1,b=2`.
#[derive(Debug, Args)]
pub struct VarsArgs {
    #[arg(long = "var", alias = "vars", value_delimiter = ',', value_parser = super::parse_env)]
    vars: Vec<(String, String)>,
}

impl VarsArgs {
    fn into_map(self) -> BTreeMap<String, serde_json::Value> {
        self.vars
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect()
    }
}

#[derive(Debug, Args)]
pub struct CronCreateArgs {
    #[arg(long)]
    name: String,
    /// The stored script (upload it with `client file upload`).
    #[arg(long)]
    object: String,
    /// 5-field cron expression: "*/5 * * * *".
    #[arg(
        long,
        conflicts_with = "interval",
        required_unless_present = "interval"
    )]
    schedule: Option<String>,
    /// hourly, daily, weekly or monthly.
    #[arg(long, value_parser = parse_interval)]
    interval: Option<Interval>,
    /// The account a scheduled script runs as (default root).
    #[arg(long)]
    user: Option<String>,
    /// raw or template (default: as uploaded).
    #[arg(long)]
    content_type: Option<String>,
    #[command(flatten)]
    vars: VarsArgs,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct CronUpdateArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    object: Option<String>,
    #[arg(long)]
    schedule: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    content_type: Option<String>,
    #[command(flatten)]
    vars: VarsArgs,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

fn parse_interval(s: &str) -> Result<Interval, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s:?} is not hourly, daily, weekly or monthly"))
}

/// Runs a `schedule` subcommand on `target`.
pub async fn schedule(
    client: &Client,
    target: &str,
    command: ScheduleCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let ScheduleCommand::Cron { command } = command;
    match command {
        CronCommand::List => show::<ScheduleCronList>(client, target, &NoInput {}, json).await,
        CronCommand::Get { name } => {
            show::<ScheduleCronGet>(client, target, &CronName { name }, json).await
        }
        CronCommand::Create(a) => {
            let request = CronCreate {
                name: a.name,
                object: a.object,
                schedule: a.schedule,
                interval: a.interval,
                user: a.user,
                content_type: a.content_type,
                vars: a.vars.into_map(),
            };
            let ask = (a.yes, "create a cron entry");
            show_confirmed::<ScheduleCronCreate>(client, target, ask, &request, json).await
        }
        CronCommand::Update(a) => {
            let request = CronUpdate {
                name: a.name,
                object: a.object,
                schedule: a.schedule,
                user: a.user,
                content_type: a.content_type,
                vars: a.vars.into_map(),
            };
            let ask = (a.yes, "update a cron entry");
            show_confirmed::<ScheduleCronUpdate>(client, target, ask, &request, json).await
        }
        CronCommand::Delete { name, yes } => {
            let ask = (yes, "delete a cron entry");
            show_confirmed::<ScheduleCronDelete>(client, target, ask, &CronName { name }, json)
                .await
        }
    }
}

/// Runs a `package` subcommand on `target`.
pub async fn package(
    client: &Client,
    target: &str,
    command: PackageCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let read = NoInput {};
    match command {
        PackageCommand::List => show::<NodePackageList>(client, target, &read, json).await,
        PackageCommand::Get { name } => {
            show::<NodePackageGet>(client, target, &PackageName { name }, json).await
        }
        PackageCommand::Install(a) => {
            let ask = (a.yes, "install a package");
            let request = PackageName { name: a.name };
            show_confirmed::<NodePackageInstall>(client, target, ask, &request, json).await
        }
        PackageCommand::Remove(a) => {
            let ask = (a.yes, "remove a package");
            let request = PackageName { name: a.name };
            show_confirmed::<NodePackageRemove>(client, target, ask, &request, json).await
        }
        PackageCommand::Update { yes } => {
            let ask = (yes, "refresh the package index");
            show_confirmed::<NodePackageUpdate>(client, target, ask, &read, json).await
        }
        PackageCommand::Updates => {
            show::<NodePackageListUpdates>(client, target, &read, json).await
        }
    }
}

/// Runs a `service` subcommand on `target`.
pub async fn service(
    client: &Client,
    target: &str,
    command: ServiceCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let unit = |a: ServiceUnitArgs, verb| {
        let request = ServiceUnit {
            name: a.name,
            object: a.object,
        };
        ((a.yes, verb), request)
    };
    // One named service, after asking when the target is `_all`.
    let act = |a: ServiceArgs, verb| ((a.yes, verb), ServiceName { name: a.name });
    macro_rules! on_named {
        ($op:ty, $args:expr, $verb:literal) => {{
            let (ask, r) = act($args, $verb);
            show_confirmed::<$op>(client, target, ask, &r, json).await
        }};
    }
    match command {
        ServiceCommand::List => show::<NodeServiceList>(client, target, &NoInput {}, json).await,
        ServiceCommand::Get { name } => {
            show::<NodeServiceGet>(client, target, &ServiceName { name }, json).await
        }
        ServiceCommand::Create(a) => {
            let (ask, r) = unit(a, "install a unit file");
            show_confirmed::<NodeServiceCreate>(client, target, ask, &r, json).await
        }
        ServiceCommand::Update(a) => {
            let (ask, r) = unit(a, "replace a unit file");
            show_confirmed::<NodeServiceUpdate>(client, target, ask, &r, json).await
        }
        ServiceCommand::Delete(a) => on_named!(NodeServiceDelete, a, "remove a unit file"),
        ServiceCommand::Start(a) => on_named!(NodeServiceStart, a, "start a service"),
        ServiceCommand::Stop(a) => on_named!(NodeServiceStop, a, "stop a service"),
        ServiceCommand::Restart(a) => on_named!(NodeServiceRestart, a, "restart a service"),
        ServiceCommand::Enable(a) => on_named!(NodeServiceEnable, a, "enable a service"),
        ServiceCommand::Disable(a) => on_named!(NodeServiceDisable, a, "disable a service"),
    }
}

fn service_row(s: &ServiceInfo) -> Vec<String> {
    vec![
        s.name.clone(),
        s.status.clone(),
        s.enabled.to_string(),
        or_dash(s.pid),
        or_dash(s.description.as_ref()),
    ]
}

const SERVICE_COLUMNS: &[&str] = &["name", "status", "enabled", "pid", "description"];

impl Cells for ServiceList {
    const COLUMNS: &'static [&'static str] = SERVICE_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.services.iter().map(service_row).collect()
    }
}

impl Cells for ServiceGet {
    const COLUMNS: &'static [&'static str] = SERVICE_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![service_row(&self.service)]
    }
}

impl Cells for PackageList {
    const COLUMNS: &'static [&'static str] = &["name", "version", "size", "description"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.packages
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.size
                        .map_or_else(|| "-".to_owned(), crate::cli::render::bytes),
                    or_dash(p.description.as_ref()),
                ]
            })
            .collect()
    }
}

impl Cells for UpdateList {
    const COLUMNS: &'static [&'static str] = &["name", "current", "new"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.updates
            .iter()
            .map(|u| {
                vec![
                    u.name.clone(),
                    u.current_version.clone(),
                    u.new_version.clone(),
                ]
            })
            .collect()
    }
}

impl Render for CronItem {
    fn columns() -> &'static [&'static str] {
        &["name", "source", "schedule", "user", "object"]
    }

    fn rows(&self) -> Vec<Vec<String>> {
        let Some(e) = &self.entry else {
            return Vec::new();
        };
        vec![vec![
            e.name.clone(),
            e.source.clone(),
            or_dash(e.schedule.as_ref()),
            or_dash(e.user.as_ref()),
            e.object.clone(),
        ]]
    }
}

impl Cells for Named {
    const COLUMNS: &'static [&'static str] = &["name", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![self.name.clone(), changed.to_string()]]
    }
}
