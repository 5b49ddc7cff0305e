//! `osapi client node process|log|network interface|network route ...`: the runtime and
//! network-configuration domains, each sent through the typed SDK and shown with the
//! payload's [`Cells`].

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::node::{show, show_confirmed};
use crate::cli::render::{bytes, Cells};
use crate::sdk::Client;
use crate::wire::ops::log::{
    LogEntries, LogQuery, LogSources, LogUnitQuery, NodeLogQuery, NodeLogSources, NodeLogUnit,
    DEFAULT_LINES,
};
use crate::wire::ops::netplan::{
    DnsDeleteRequest, InterfaceChanged, InterfaceConfig, InterfaceGet, InterfaceInfo,
    InterfaceList, InterfaceName, NetworkDnsDelete, NetworkInterfaceCreate, NetworkInterfaceDelete,
    NetworkInterfaceGet, NetworkInterfaceList, NetworkInterfaceUpdate, NetworkRouteCreate,
    NetworkRouteDelete, NetworkRouteGet, NetworkRouteList, NetworkRouteUpdate, RouteChanged,
    RouteInterface, RouteItem, RouteList, RouteRequest,
};
use crate::wire::ops::process::{
    NodeProcessGet, NodeProcessList, NodeProcessSignal, ProcessGet, ProcessInfo, ProcessList,
    ProcessPid, SignalPayload, SignalRequest,
};
use crate::wire::ops::NoInput;

#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// Every process of the host.
    List,
    /// One process.
    Get {
        #[arg(long)]
        pid: i64,
    },
    /// Send a signal (TERM, KILL, HUP, INT, USR1, USR2) to a process.
    Signal {
        #[arg(long)]
        pid: i64,
        #[arg(long)]
        signal: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// `client node process ...`.
pub async fn process(
    client: &Client,
    target: &str,
    command: ProcessCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        ProcessCommand::List => show::<NodeProcessList>(client, target, &NoInput {}, json).await,
        ProcessCommand::Get { pid } => {
            show::<NodeProcessGet>(client, target, &ProcessPid { pid }, json).await
        }
        ProcessCommand::Signal { pid, signal, yes } => {
            let ask = (yes, "signal a process");
            let request = SignalRequest { pid, signal };
            show_confirmed::<NodeProcessSignal>(client, target, ask, &request, json).await
        }
    }
}

const PROCESS_COLUMNS: &[&str] = &[
    "pid", "user", "state", "cpu%", "mem%", "rss", "started", "command",
];

fn process_row(p: &ProcessInfo) -> Vec<String> {
    let command = if p.command.is_empty() {
        format!("[{}]", p.name)
    } else {
        p.command.clone()
    };
    vec![
        p.pid.to_string(),
        p.user.clone(),
        p.state.clone(),
        format!("{:.1}", p.cpu_percent),
        format!("{:.1}", p.mem_percent),
        bytes(p.mem_rss),
        p.start_time.clone(),
        command,
    ]
}

impl Cells for ProcessList {
    const COLUMNS: &'static [&'static str] = PROCESS_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.processes.iter().map(process_row).collect()
    }
}

impl Cells for ProcessGet {
    const COLUMNS: &'static [&'static str] = PROCESS_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![process_row(&self.process)]
    }
}

impl Cells for SignalPayload {
    const COLUMNS: &'static [&'static str] = &["pid", "signal", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![
            self.pid.to_string(),
            self.signal.clone(),
            changed.to_string(),
        ]]
    }
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// The newest journal entries.
    Query(LogArgs),
    /// Every source (SYSLOG_IDENTIFIER) in the journal.
    Source,
    /// The newest journal entries of one unit.
    Unit {
        /// The unit: ssh.service, cron.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        query: LogArgs,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Entries (1-10000).
    #[arg(long, default_value_t = DEFAULT_LINES)]
    lines: u32,
    /// journalctl time: "1 hour ago", "2024-01-01 10:00", today.
    #[arg(long)]
    since: Option<String>,
    /// emerg, alert, crit, err, warning, notice, info or debug (and more severe).
    #[arg(long)]
    priority: Option<String>,
}

impl From<LogArgs> for LogQuery {
    fn from(a: LogArgs) -> Self {
        Self {
            lines: Some(a.lines),
            since: a.since,
            priority: a.priority,
        }
    }
}

/// `client node log ...`.
pub async fn log(
    client: &Client,
    target: &str,
    command: LogCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Query(a) => show::<NodeLogQuery>(client, target, &a.into(), json).await,
        LogCommand::Source => show::<NodeLogSources>(client, target, &NoInput {}, json).await,
        LogCommand::Unit { name, query } => {
            let request = LogUnitQuery {
                name,
                query: query.into(),
            };
            show::<NodeLogUnit>(client, target, &request, json).await
        }
    }
}

impl Cells for LogEntries {
    const COLUMNS: &'static [&'static str] = &["timestamp", "unit", "priority", "pid", "message"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.entries
            .iter()
            .map(|e| {
                vec![
                    e.timestamp.clone(),
                    e.unit.clone(),
                    e.priority.clone(),
                    e.pid.to_string(),
                    e.message.clone(),
                ]
            })
            .collect()
    }
}

impl Cells for LogSources {
    const COLUMNS: &'static [&'static str] = &["source"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.sources.iter().map(|s| vec![s.clone()]).collect()
    }
}

#[derive(Debug, Subcommand)]
pub enum InterfaceCommand {
    /// Every live interface (loopback left out).
    List,
    /// One live interface.
    Get {
        #[arg(long)]
        name: String,
    },
    /// Write and apply /etc/netplan/osapi-<name>.yaml.
    Create(InterfaceArgs),
    /// Replace a managed interface's settings.
    Update(InterfaceArgs),
    /// Remove a managed interface's drop-in.
    Delete {
        #[arg(long)]
        name: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct InterfaceArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    dhcp4: Option<bool>,
    #[arg(long)]
    dhcp6: Option<bool>,
    /// CIDR (repeatable): 192.0.2.10/24.
    #[arg(long = "address")]
    addresses: Vec<String>,
    #[arg(long)]
    gateway4: Option<String>,
    #[arg(long)]
    gateway6: Option<String>,
    /// 68-9000.
    #[arg(long)]
    mtu: Option<u32>,
    #[arg(long)]
    mac_address: Option<String>,
    #[arg(long)]
    wakeonlan: Option<bool>,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

impl From<InterfaceArgs> for InterfaceConfig {
    fn from(a: InterfaceArgs) -> Self {
        Self {
            name: a.name,
            dhcp4: a.dhcp4,
            dhcp6: a.dhcp6,
            addresses: (!a.addresses.is_empty()).then_some(a.addresses),
            gateway4: a.gateway4,
            gateway6: a.gateway6,
            mtu: a.mtu,
            mac_address: a.mac_address,
            wakeonlan: a.wakeonlan,
        }
    }
}

/// `client node network interface ...`.
pub async fn interface(
    client: &Client,
    target: &str,
    command: InterfaceCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        InterfaceCommand::List => {
            show::<NetworkInterfaceList>(client, target, &NoInput {}, json).await
        }
        InterfaceCommand::Get { name } => {
            show::<NetworkInterfaceGet>(client, target, &InterfaceName { name }, json).await
        }
        InterfaceCommand::Create(a) => {
            let ask = (a.yes, "configure an interface");
            show_confirmed::<NetworkInterfaceCreate>(client, target, ask, &a.into(), json).await
        }
        InterfaceCommand::Update(a) => {
            let ask = (a.yes, "reconfigure an interface");
            show_confirmed::<NetworkInterfaceUpdate>(client, target, ask, &a.into(), json).await
        }
        InterfaceCommand::Delete { name, yes } => {
            let ask = (yes, "remove an interface's configuration");
            let request = InterfaceName { name };
            show_confirmed::<NetworkInterfaceDelete>(client, target, ask, &request, json).await
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Every live route.
    List,
    /// The static routes osapi manages for an interface.
    Get {
        #[arg(long)]
        interface: String,
    },
    /// Write and apply /etc/netplan/osapi-<interface>-routes.yaml.
    Create(RouteArgs),
    /// Replace an interface's managed routes.
    Update(RouteArgs),
    /// Remove an interface's managed routes.
    Delete {
        #[arg(long)]
        interface: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[arg(long)]
    interface: String,
    /// TO:VIA[:METRIC] (repeatable): 10.0.0.0/8:192.0.2.1:100.
    #[arg(long = "route", required = true, value_parser = parse_route)]
    routes: Vec<RouteItem>,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

/// `TO:VIA[:METRIC]`; IPv6 routes are written `[TO]:[VIA][:METRIC]`, since their
/// addresses hold colons.
fn parse_route(text: &str) -> Result<RouteItem, String> {
    let bad = || format!("{text:?} is not TO:VIA[:METRIC] (IPv6: [TO]:[VIA][:METRIC])");
    let (to, via, metric) = match text.strip_prefix('[') {
        Some(rest) => {
            let (to, rest) = rest.split_once("]:[").ok_or_else(bad)?;
            let (via, rest) = rest.split_once(']').ok_or_else(bad)?;
            let metric = match rest {
                "" => None,
                m => Some(m.strip_prefix(':').ok_or_else(bad)?),
            };
            (to, via, metric)
        }
        None => match text.split(':').collect::<Vec<_>>().as_slice() {
            [to, via] => (*to, *via, None),
            [to, via, metric] => (*to, *via, Some(*metric)),
            _ => return Err(bad()),
        },
    };
    let metric = metric
        .map(|m| {
            m.parse::<u32>()
                .map_err(|_| format!("{m:?} is not a metric"))
        })
        .transpose()?;
    Ok(RouteItem {
        to: to.to_owned(),
        via: via.to_owned(),
        metric,
    })
}

/// `client node network route ...`.
pub async fn route(
    client: &Client,
    target: &str,
    command: RouteCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let routes = |a: RouteArgs| RouteRequest {
        interface_name: a.interface,
        routes: a.routes,
    };
    match command {
        RouteCommand::List => show::<NetworkRouteList>(client, target, &NoInput {}, json).await,
        RouteCommand::Get { interface } => {
            let request = RouteInterface {
                interface_name: interface,
            };
            show::<NetworkRouteGet>(client, target, &request, json).await
        }
        RouteCommand::Create(a) => {
            let ask = (a.yes, "add static routes");
            show_confirmed::<NetworkRouteCreate>(client, target, ask, &routes(a), json).await
        }
        RouteCommand::Update(a) => {
            let ask = (a.yes, "replace static routes");
            show_confirmed::<NetworkRouteUpdate>(client, target, ask, &routes(a), json).await
        }
        RouteCommand::Delete { interface, yes } => {
            let ask = (yes, "remove static routes");
            let request = RouteInterface {
                interface_name: interface,
            };
            show_confirmed::<NetworkRouteDelete>(client, target, ask, &request, json).await
        }
    }
}

/// `client node network dns delete --interface-name <if>`.
pub async fn dns_delete(
    client: &Client,
    target: &str,
    interface_name: String,
    yes: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let ask = (yes, "remove the managed DNS settings");
    let request = DnsDeleteRequest { interface_name };
    show_confirmed::<NetworkDnsDelete>(client, target, ask, &request, json).await
}

fn or_dash(v: Option<&String>) -> String {
    v.cloned().unwrap_or_else(|| "-".into())
}

const INTERFACE_COLUMNS: &[&str] = &[
    "name",
    "state",
    "mac",
    "mtu",
    "addresses",
    "gateway",
    "dhcp4",
    "primary",
];

fn interface_row(i: &InterfaceInfo) -> Vec<String> {
    vec![
        i.name.clone(),
        or_dash(i.state.as_ref()),
        or_dash(i.mac.as_ref()),
        i.mtu.map_or_else(|| "-".into(), |m| m.to_string()),
        i.addresses.join(", "),
        or_dash(i.gateway4.as_ref().or(i.gateway6.as_ref())),
        i.dhcp4.to_string(),
        i.primary.to_string(),
    ]
}

impl Cells for InterfaceList {
    const COLUMNS: &'static [&'static str] = INTERFACE_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.interfaces.iter().map(interface_row).collect()
    }
}

impl Cells for InterfaceGet {
    const COLUMNS: &'static [&'static str] = INTERFACE_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![interface_row(&self.interface)]
    }
}

impl Cells for InterfaceChanged {
    const COLUMNS: &'static [&'static str] = &["name", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![self.name.clone(), changed.to_string()]]
    }
}

impl Cells for RouteList {
    const COLUMNS: &'static [&'static str] = &["destination", "gateway", "interface", "metric"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.routes
            .iter()
            .map(|r| {
                vec![
                    r.destination.clone(),
                    if r.gateway.is_empty() {
                        "-".into()
                    } else {
                        r.gateway.clone()
                    },
                    r.interface.clone(),
                    r.metric.map_or_else(|| "-".into(), |m| m.to_string()),
                ]
            })
            .collect()
    }
}

impl Cells for RouteChanged {
    const COLUMNS: &'static [&'static str] = &["interface", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![self.interface.clone(), changed.to_string()]]
    }
}

#[cfg(test)]
mod tests {
    use super::parse_route;

    #[test]
    fn routes_from_the_command_line() {
        let r = parse_route("10.0.0.0/8:192.0.2.1:100").unwrap();
        assert_eq!(
            (r.to.as_str(), r.via.as_str(), r.metric),
            ("10.0.0.0/8", "192.0.2.1", Some(100))
        );
        let r = parse_route("[2001:db8::/32]:[fe80::]").unwrap();
        assert_eq!(
            (r.to.as_str(), r.via.as_str(), r.metric),
            ("2001:db8::/32", "fe80::", None)
        );
        let r = parse_route("[2001:db8::/32]:[fe80::1]:5").unwrap();
        assert_eq!(r.metric, Some(5));
        assert!(parse_route("10.0.0.0/8").is_err());
        assert!(parse_route("10.0.0.0/8:192.0.2.1:x").is_err());
    }
}
