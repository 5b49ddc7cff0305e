//! `osapi client node ...`: catalogue operations on the target's hosts (reads, network,
//! commands, file deploys), each sent through the typed SDK and printed by its item's
//! [`Render`] impl; `-j` prints the API's body as it came.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{check, confirm, print_raw};
use crate::cli::render::{results_table, Render};
use crate::sdk::{Client, RawResponse};
use crate::wire::ops::command::{
    CommandData, CommandExec, CommandExecRequest, CommandPayload, CommandShell, CommandShellRequest,
};
use crate::wire::ops::file::{DeployRequest, FileDeploy, FileStatus, FileUndeploy, StatusRequest};
use crate::wire::ops::host::{
    HostnameUpdateRequest, NodeHostnameUpdate, NodePowerReboot, NodePowerShutdown,
    NodeTimezoneUpdate, PowerRequest, TimezoneUpdateRequest,
};
use crate::wire::ops::network::{
    DnsGetRequest, DnsUpdateRequest, NetworkDnsGet, NetworkDnsUpdate, NetworkPingDo, PingRequest,
};
use crate::wire::ops::node::{
    NodeDiskGet, NodeHostnameGet, NodeLoadGet, NodeMemoryGet, NodeOsGet, NodeStatusGet,
    NodeTimezoneGet, NodeUptimeGet,
};
use crate::wire::ops::ntp::{NodeNtpCreate, NodeNtpDelete, NodeNtpGet, NodeNtpUpdate, NtpServers};
use crate::wire::ops::sysctl::{
    NodeSysctlCreate, NodeSysctlDelete, NodeSysctlGet, NodeSysctlList, NodeSysctlUpdate, SysctlKey,
    SysctlSet,
};
use crate::wire::ops::{NoInput, Op};
use crate::wire::{Collection, HostItem, HostResult};

/// `osapi client node ...`. The reads take an optional `get`, as the latest original
/// spells them (`client node disk get`); the seed era's `client node disk` still works.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// The hostname of the target's agents (`get`), or set it (`update --name`).
    Hostname(HostnameArgs),
    /// Uptime, load, memory, disks and OS in one view.
    Status,
    /// Mounted filesystems.
    Disk(MaybeGet),
    /// Memory.
    Memory(MaybeGet),
    /// Load averages.
    Load(MaybeGet),
    /// Distribution and version.
    Os(MaybeGet),
    /// Time since boot.
    Uptime(MaybeGet),
    /// The system time zone and its UTC offset (`get`), or set it (`update --timezone`).
    Timezone(TimezoneArgs),
    /// Time sources (chrony) and sync state.
    Ntp {
        #[command(subcommand)]
        command: NtpCommand,
    },
    /// Kernel parameters osapi manages (sysctl.d drop-ins).
    Sysctl {
        #[command(subcommand)]
        command: SysctlCommand,
    },
    /// Schedule a reboot or shutdown.
    Power {
        #[command(subcommand)]
        command: PowerCommand,
    },
    /// DNS and ping.
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Run programs.
    Command {
        #[command(subcommand)]
        command: CommandCommand,
    },
    /// Deploy files and check them.
    File {
        #[command(subcommand)]
        command: NodeFileCommand,
    },
    /// Scheduled scripts (cron).
    Schedule {
        #[command(subcommand)]
        command: super::services::ScheduleCommand,
    },
    /// Debian packages (dpkg, apt-get).
    Package {
        #[command(subcommand)]
        command: super::services::PackageCommand,
    },
    /// systemd services and the unit files osapi manages.
    Service {
        #[command(subcommand)]
        command: super::services::ServiceCommand,
    },
    /// Local groups.
    Group {
        #[command(subcommand)]
        command: super::accounts::GroupCommand,
    },
    /// Local users, their passwords and SSH keys.
    User {
        #[command(subcommand)]
        command: super::accounts::UserCommand,
    },
    /// Trusted CA certificates.
    Certificate {
        #[command(subcommand)]
        command: super::certificate::CertificateCommand,
    },
    /// The host's processes; signal one.
    Process {
        #[command(subcommand)]
        command: super::runtime::ProcessCommand,
    },
    /// The systemd journal.
    Log {
        #[command(subcommand)]
        command: super::runtime::LogCommand,
    },
    /// Containers (Docker).
    Container {
        #[command(subcommand)]
        command: super::docker::ContainerCommand,
    },
}

/// A read's optional `get`: the latest original's spelling, the same as leaving it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct MaybeGet {
    #[command(subcommand)]
    pub command: Option<GetOnly>,
}

/// The one subcommand of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum GetOnly {
    /// Same as without `get`.
    Get,
}

/// `client node hostname [get | update --name N]`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct HostnameArgs {
    #[command(subcommand)]
    pub command: Option<HostnameCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum HostnameCommand {
    /// Same as without `get`.
    Get,
    /// Set the static hostname.
    Update {
        /// The new hostname.
        #[arg(long)]
        name: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// `client node timezone [get | update --timezone Z]`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TimezoneArgs {
    #[command(subcommand)]
    pub command: Option<TimezoneCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TimezoneCommand {
    /// Same as without `get`.
    Get,
    /// Set the system time zone.
    Update {
        /// An IANA zone name: Europe/Berlin, UTC.
        #[arg(long)]
        timezone: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NtpCommand {
    /// Sync state and sources.
    Get,
    /// Write osapi's sources.
    Create(NtpArgs),
    /// Replace osapi's sources.
    Update(NtpArgs),
    /// Remove osapi's sources.
    Delete {
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct NtpArgs {
    /// Comma-separated servers.
    #[arg(long, value_delimiter = ',', required = true)]
    servers: Vec<String>,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum SysctlCommand {
    /// Every managed key with its live value.
    List,
    /// One managed key.
    Get {
        #[arg(long)]
        key: String,
    },
    /// Persist and apply a new key.
    Create(SysctlSetArgs),
    /// Change a managed key.
    Update(SysctlSetArgs),
    /// Remove a managed key's drop-in.
    Delete {
        #[arg(long)]
        key: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct SysctlSetArgs {
    /// Dotted name: net.ipv4.ip_forward.
    #[arg(long)]
    key: String,
    #[arg(long)]
    value: String,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum PowerCommand {
    /// Reboot after a delay (at least a minute).
    Reboot(PowerArgs),
    /// Power off after a delay (at least a minute).
    Shutdown(PowerArgs),
}

#[derive(Debug, Args)]
pub struct PowerArgs {
    /// Seconds from now, rounded up to whole minutes.
    #[arg(long, default_value_t = 0)]
    delay: u64,
    /// Shown to logged-in users.
    #[arg(long)]
    message: Option<String>,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// ICMP echo to an address.
    Ping {
        /// IPv4/IPv6 address or @fact reference.
        #[arg(long)]
        address: String,
        /// Echo requests (1-20).
        #[arg(long, default_value_t = 3)]
        count: u32,
    },
    /// DNS servers and search domains.
    Dns {
        #[command(subcommand)]
        command: DnsCommand,
    },
    /// Live interfaces; their Netplan configuration.
    Interface {
        #[command(subcommand)]
        command: super::runtime::InterfaceCommand,
    },
    /// Live routes; static routes of an interface (Netplan).
    Route {
        #[command(subcommand)]
        command: super::runtime::RouteCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Show an interface's DNS configuration.
    Get {
        /// Interface name or @fact.interface.primary.
        #[arg(long)]
        interface_name: String,
    },
    /// Set servers and/or search domains.
    Update {
        #[arg(long)]
        interface_name: String,
        /// Comma-separated server IPs.
        #[arg(long, value_delimiter = ',')]
        servers: Option<Vec<String>>,
        /// Comma-separated search domains.
        #[arg(long, value_delimiter = ',')]
        search_domains: Option<Vec<String>>,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Remove the managed DNS settings (the Netplan drop-in osapi-dns.yaml).
    Delete {
        #[arg(long)]
        interface_name: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Program (exec) or shell string (shell).
    #[arg(long)]
    command: String,
    /// Working directory.
    #[arg(long)]
    cwd: Option<String>,
    /// Seconds (1-300). Sent on every request, 30 unless given, as the original CLI does
    /// (the agent's own default is also 30, but a request should say what it means).
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Extra environment, KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = super::parse_env)]
    env: Vec<(String, String)>,
    /// Print only stdout, each line prefixed with [host]; exit with the highest remote code.
    #[arg(long)]
    stdout: bool,
    /// Print only stderr likewise.
    #[arg(long)]
    stderr: bool,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum CommandCommand {
    /// Run a program with arguments (no shell).
    Exec {
        #[command(flatten)]
        run: RunArgs,
        /// Comma-separated arguments.
        #[arg(long, value_delimiter = ',')]
        args: Vec<String>,
    },
    /// Run a /bin/sh -c string.
    Shell {
        #[command(flatten)]
        run: RunArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodeFileCommand {
    /// Write a stored file to a path on the target's hosts.
    Deploy {
        #[arg(long)]
        object: String,
        #[arg(long)]
        path: String,
        /// raw or template.
        #[arg(long, default_value = "raw")]
        content_type: String,
        /// Octal mode, e.g. 0644.
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        group: Option<String>,
        /// Template variable KEY=VALUE (repeatable).
        #[arg(long = "var", value_parser = super::parse_env)]
        vars: Vec<(String, String)>,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// in-sync, drifted or missing.
    Status {
        #[arg(long)]
        path: String,
    },
    /// Remove a file osapi deployed (its state is kept, marked undeployed).
    Undeploy {
        #[arg(long)]
        path: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// Runs a `node` subcommand on `target`.
pub async fn run(
    client: &Client,
    target: &str,
    command: NodeCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let read = NoInput {};
    match command {
        NodeCommand::Hostname(HostnameArgs {
            command: Some(HostnameCommand::Update { name, yes }),
        }) => {
            let request = HostnameUpdateRequest { hostname: name };
            show_confirmed::<NodeHostnameUpdate>(
                client,
                target,
                (yes, "set the hostname"),
                &request,
                json,
            )
            .await
        }
        NodeCommand::Hostname(_) => show::<NodeHostnameGet>(client, target, &read, json).await,
        NodeCommand::Status => show::<NodeStatusGet>(client, target, &read, json).await,
        NodeCommand::Disk(_) => show::<NodeDiskGet>(client, target, &read, json).await,
        NodeCommand::Memory(_) => show::<NodeMemoryGet>(client, target, &read, json).await,
        NodeCommand::Load(_) => show::<NodeLoadGet>(client, target, &read, json).await,
        NodeCommand::Os(_) => show::<NodeOsGet>(client, target, &read, json).await,
        NodeCommand::Uptime(_) => show::<NodeUptimeGet>(client, target, &read, json).await,
        NodeCommand::Timezone(TimezoneArgs { command }) => {
            timezone(client, target, command, json).await
        }
        NodeCommand::Power { command } => power(client, target, command, json).await,
        NodeCommand::Sysctl { command } => sysctl(client, target, command, json).await,
        NodeCommand::Ntp { command } => ntp(client, target, command, json).await,
        NodeCommand::Network { command } => network(client, target, command, json).await,
        NodeCommand::Command { command } => run_command(client, target, command, json).await,
        NodeCommand::File { command } => node_file(client, target, command, json).await,
        NodeCommand::Schedule { command } => {
            super::services::schedule(client, target, command, json).await
        }
        NodeCommand::Package { command } => {
            super::services::package(client, target, command, json).await
        }
        NodeCommand::Service { command } => {
            super::services::service(client, target, command, json).await
        }
        NodeCommand::Group { command } => {
            super::accounts::group(client, target, command, json).await
        }
        NodeCommand::User { command } => super::accounts::user(client, target, command, json).await,
        NodeCommand::Certificate { command } => {
            super::certificate::certificate(client, target, command, json).await
        }
        NodeCommand::Process { command } => {
            super::runtime::process(client, target, command, json).await
        }
        NodeCommand::Log { command } => super::runtime::log(client, target, command, json).await,
        NodeCommand::Container { command } => {
            super::docker::container(client, target, command, json).await
        }
    }
}

/// `client node timezone [get | update]`.
async fn timezone(
    client: &Client,
    target: &str,
    command: Option<TimezoneCommand>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let Some(TimezoneCommand::Update { timezone, yes }) = command else {
        return show::<NodeTimezoneGet>(client, target, &NoInput {}, json).await;
    };
    let ask = (yes, "set the time zone");
    let request = TimezoneUpdateRequest { timezone };
    show_confirmed::<NodeTimezoneUpdate>(client, target, ask, &request, json).await
}

/// `client node ntp ...`.
async fn ntp(
    client: &Client,
    target: &str,
    command: NtpCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let servers = |a: NtpArgs| NtpServers { servers: a.servers };
    match command {
        NtpCommand::Get => show::<NodeNtpGet>(client, target, &NoInput {}, json).await,
        NtpCommand::Create(a) => {
            let ask = (a.yes, "set the NTP servers");
            show_confirmed::<NodeNtpCreate>(client, target, ask, &servers(a), json).await
        }
        NtpCommand::Update(a) => {
            let ask = (a.yes, "replace the NTP servers");
            show_confirmed::<NodeNtpUpdate>(client, target, ask, &servers(a), json).await
        }
        NtpCommand::Delete { yes } => {
            let ask = (yes, "remove the NTP servers");
            show_confirmed::<NodeNtpDelete>(client, target, ask, &NoInput {}, json).await
        }
    }
}

/// `client node sysctl ...`.
async fn sysctl(
    client: &Client,
    target: &str,
    command: SysctlCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    // (ask before a -T _all change, the request): all three changes are confirmed.
    let set = |a: SysctlSetArgs, verb| {
        let request = SysctlSet {
            key: a.key,
            value: a.value,
        };
        ((a.yes, verb), request)
    };
    match command {
        SysctlCommand::List => show::<NodeSysctlList>(client, target, &NoInput {}, json).await,
        SysctlCommand::Get { key } => {
            show::<NodeSysctlGet>(client, target, &SysctlKey { key }, json).await
        }
        SysctlCommand::Create(a) => {
            let (ask, request) = set(a, "set a kernel parameter");
            show_confirmed::<NodeSysctlCreate>(client, target, ask, &request, json).await
        }
        SysctlCommand::Update(a) => {
            let (ask, request) = set(a, "change a kernel parameter");
            show_confirmed::<NodeSysctlUpdate>(client, target, ask, &request, json).await
        }
        SysctlCommand::Delete { key, yes } => {
            let ask = (yes, "remove a kernel parameter");
            show_confirmed::<NodeSysctlDelete>(client, target, ask, &SysctlKey { key }, json).await
        }
    }
}

/// `client node power reboot|shutdown`.
async fn power(
    client: &Client,
    target: &str,
    command: PowerCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (reboot, args) = match command {
        PowerCommand::Reboot(args) => (true, args),
        PowerCommand::Shutdown(args) => (false, args),
    };
    let verb = if reboot { "reboot" } else { "shut down" };
    if !confirm(target, args.yes, verb)? {
        return Ok(ExitCode::FAILURE);
    }
    let request = PowerRequest {
        delay: Some(args.delay),
        message: args.message,
    };
    if reboot {
        show::<NodePowerReboot>(client, target, &request, json).await
    } else {
        show::<NodePowerShutdown>(client, target, &request, json).await
    }
}

/// [`show`] after the `-T _all` question for a change (`yes` skips it).
pub(super) async fn show_confirmed<O: Op>(
    client: &Client,
    target: &str,
    (yes, verb): (bool, &str),
    request: &O::Request,
    json: bool,
) -> anyhow::Result<ExitCode>
where
    O::Item: Render,
{
    if !confirm(target, yes, verb)? {
        return Ok(ExitCode::FAILURE);
    }
    show::<O>(client, target, request, json).await
}

/// Sends `O` and prints its answer.
pub(super) async fn show<O: Op>(
    client: &Client,
    target: &str,
    request: &O::Request,
    json: bool,
) -> anyhow::Result<ExitCode>
where
    O::Item: Render,
{
    if super::live::is_async() {
        return super::live::submit::<O>(client, target, request, json).await;
    }
    if !super::live::progress_wanted(json) {
        let resp = client.run_raw::<O>(target, request).await?;
        return print_answer::<O::Item>(resp, json);
    }
    if crate::job::Target::parse(target).is_ok_and(|t| t.is_broadcast()) {
        let answer = super::live::broadcast::<O>(client, target, request).await?;
        return Ok(print_collection(&answer));
    }
    let call = client.run_raw::<O>(target, request);
    let resp = super::live::with_spinner(&format!("waiting for {target}"), call).await?;
    print_answer::<O::Item>(resp, json)
}

/// Prints raw JSON or a table; a non-2xx answer or any host error exits 1.
fn print_answer<T: Render + serde::de::DeserializeOwned>(
    resp: RawResponse,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if json {
        return Ok(print_raw(&resp));
    }
    Ok(print_collection(&answer_of::<T>(resp)?))
}

/// The job id and the per-host table; any host error exits 1.
fn print_collection<T: Render>(answer: &Collection<T>) -> ExitCode {
    let (table, any_error) = results_table(answer);
    println!("\n  Job ID: {}\n", answer.job_id);
    println!("{table}");
    if any_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The decoded answer of a 2xx, or of a 502 (which carries a failed unicast's result);
/// any other status is an error.
fn answer_of<T: HostItem + serde::de::DeserializeOwned>(
    resp: RawResponse,
) -> anyhow::Result<Collection<T>> {
    let resp = if resp.status == reqwest::StatusCode::BAD_GATEWAY {
        resp
    } else {
        check(resp)?
    };
    let mut answer: Collection<T> = serde_json::from_str(&resp.body)
        .map_err(|e| anyhow::anyhow!("unexpected answer from the API: {e}"))?;
    answer
        .results
        .iter_mut()
        .for_each(HostItem::drop_payload_if_failed);
    Ok(answer)
}

async fn network(
    client: &Client,
    target: &str,
    command: NetworkCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        NetworkCommand::Ping { address, count } => {
            let request = PingRequest { address, count };
            show::<NetworkPingDo>(client, target, &request, json).await
        }
        NetworkCommand::Dns {
            command: DnsCommand::Get { interface_name },
        } => {
            let request = DnsGetRequest { interface_name };
            show::<NetworkDnsGet>(client, target, &request, json).await
        }
        NetworkCommand::Dns {
            command:
                DnsCommand::Update {
                    interface_name,
                    servers,
                    search_domains,
                    yes,
                },
        } => {
            let request = DnsUpdateRequest {
                interface_name,
                servers,
                search_domains,
                ..Default::default()
            };
            show_confirmed::<NetworkDnsUpdate>(client, target, (yes, "update DNS"), &request, json)
                .await
        }
        NetworkCommand::Dns {
            command:
                DnsCommand::Delete {
                    interface_name,
                    yes,
                },
        } => super::runtime::dns_delete(client, target, interface_name, yes, json).await,
        NetworkCommand::Interface { command } => {
            super::runtime::interface(client, target, command, json).await
        }
        NetworkCommand::Route { command } => {
            super::runtime::route(client, target, command, json).await
        }
    }
}

async fn run_command(
    client: &Client,
    target: &str,
    command: CommandCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let run = match &command {
        CommandCommand::Exec { run, .. } | CommandCommand::Shell { run } => run,
    };
    if !confirm(target, run.yes, "run a command")? {
        return Ok(ExitCode::FAILURE);
    }
    let streams = (run.stdout || run.stderr) && !json;
    let (stdout, stderr) = (run.stdout, run.stderr);
    let resp = match command {
        CommandCommand::Exec { run, args } => {
            let data = run.data(args);
            let request = CommandExecRequest {
                command: data.command,
                args: data.args,
                cwd: data.cwd,
                timeout: data.timeout,
                env: data.env,
            };
            client.run_raw::<CommandExec>(target, &request).await?
        }
        CommandCommand::Shell { run } => {
            let data = run.data(Vec::new());
            let request = CommandShellRequest {
                command: data.command,
                cwd: data.cwd,
                timeout: data.timeout,
                env: data.env,
            };
            client.run_raw::<CommandShell>(target, &request).await?
        }
    };
    if streams {
        return raw_streams(resp, stdout, stderr);
    }
    print_answer::<HostResult<CommandPayload>>(resp, json)
}

impl RunArgs {
    /// The command's job data.
    fn data(self, args: Vec<String>) -> CommandData {
        CommandData {
            command: self.command,
            args,
            cwd: self.cwd,
            timeout: Some(self.timeout),
            env: self.env.into_iter().collect(),
        }
    }
}

/// `--stdout`/`--stderr`: each line prefixed with its host; exit with the highest code.
fn raw_streams(resp: RawResponse, stdout: bool, stderr: bool) -> anyhow::Result<ExitCode> {
    let answer = answer_of::<HostResult<CommandPayload>>(resp)?;
    let mut code = 0;
    for r in &answer.results {
        let host = &r.hostname;
        let Some(out) = r.data.as_ref().filter(|_| r.error.is_none()) else {
            eprintln!(
                "[{host}] error: {}",
                r.error.as_deref().unwrap_or("no result")
            );
            code = code.max(1);
            continue;
        };
        if stdout {
            out.stdout.lines().for_each(|l| println!("[{host}] {l}"));
        }
        if stderr {
            out.stderr.lines().for_each(|l| eprintln!("[{host}] {l}"));
        }
        code = code.max(out.exit_code.clamp(0, 255));
    }
    Ok(ExitCode::from(code as u8))
}

async fn node_file(
    client: &Client,
    target: &str,
    command: NodeFileCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        NodeFileCommand::Deploy {
            object,
            path,
            content_type,
            mode,
            owner,
            group,
            vars,
            yes,
        } => {
            let request = DeployRequest {
                object_name: object,
                path,
                content_type,
                mode,
                owner,
                group,
                vars: vars
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect::<BTreeMap<_, _>>(),
            };
            show_confirmed::<FileDeploy>(client, target, (yes, "deploy a file"), &request, json)
                .await
        }
        NodeFileCommand::Status { path } => {
            show::<FileStatus>(client, target, &StatusRequest { path }, json).await
        }
        NodeFileCommand::Undeploy { path, yes } => {
            let (ask, request) = ((yes, "remove a deployed file"), StatusRequest { path });
            show_confirmed::<FileUndeploy>(client, target, ask, &request, json).await
        }
    }
}
