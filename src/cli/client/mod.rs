//! `osapi client ...`: the REST API from the command line. One module per resource holds
//! its subcommands, its calls through the typed SDK and the [`Show`] impls of its answers;
//! this one dispatches and holds the shared helpers. `-j` prints the API's body as it came,
//! except where the original CLI printed a shape of its own (`job list`, `job delete`);
//! `--raw` prints the body as it came there too.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;

mod accounts;
mod agent;
mod audit;
mod certificate;
mod file;
mod health;
mod job;
mod live;
mod node;
mod runtime;
mod services;

mod docker;

pub use agent::AgentCommand;
pub use audit::AuditCommand;
pub use file::FileCommand;
pub use health::{HealthCommand, MetricsCommand, StatusOnly};
pub use job::JobCommand;
pub use node::NodeCommand;

use super::render::Show;
use crate::config::Config;
use crate::sdk::endpoint::Endpoint;
use crate::sdk::{self, Client, RawResponse, SdkError};

/// `osapi client`: the flags every client command takes, and the command.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Base URL of the API (overrides controller.client.url).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Bearer token (overrides controller.client.security.bearer_token).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// PEM file of the CA certificates an https:// URL's certificate may chain to
    /// (overrides controller.client.tls.ca_file).
    #[arg(long, global = true)]
    pub ca_file: Option<String>,
    /// Target: _any, _all, a hostname, or a key:value label.
    // Global, so it is accepted after `client` and after any subcommand: the latest
    // original takes it on `client node ...`, the seed era on `client`.
    #[arg(short = 'T', long, global = true, default_value = "_any")]
    pub target: String,
    /// Submit the job and print its id at once, without waiting (follow it with
    /// `osapi client job watch --job-id <id>`).
    #[arg(long = "async", global = true)]
    pub submit_async: bool,
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// The resources `osapi client` talks to.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Node operations.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Jobs: list, inspect, delete, retry.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Agents: list, inspect, drain, undrain.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Files in the object store.
    File {
        #[command(subcommand)]
        command: FileCommand,
    },
    /// Liveness, readiness and the full status.
    Health {
        #[command(subcommand)]
        command: HealthCommand,
    },
    /// The controller's part of the health status.
    Controller {
        #[command(subcommand)]
        command: StatusOnly,
    },
    /// The NATS part of the health status.
    Nats {
        #[command(subcommand)]
        command: StatusOnly,
    },
    /// Prometheus metrics of the controller.
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// Runs a client command. An API error prints its message and exits non-zero. `raw`
/// (`--raw`) prints the API's body as it came, also where `-j` prints the original CLI's
/// own shape.
pub async fn run(
    config: &Config,
    args: ClientArgs,
    json: bool,
    raw: bool,
) -> anyhow::Result<ExitCode> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| config.controller.client.url.clone());
    let token = match &args.token {
        Some(t) => t.clone(),
        None => config.bearer_token()?.to_owned(),
    };
    let client = sdk_client(config, &args, &url, &token)?;
    let target = args.target.as_str();
    live::set_async(args.submit_async);
    // Everywhere but `job list`/`job delete`, `-j` already prints the body as it came.
    let json = json || raw;
    match args.command {
        ClientCommand::Node { command } => node::run(&client, target, command, json).await,
        ClientCommand::Job { command } => job::run(&client, command, json, raw).await,
        ClientCommand::Agent { command } => agent::run(&client, command, json).await,
        ClientCommand::Audit { command } => audit::run(&client, command, json).await,
        ClientCommand::Health { command } => health::run(&client, command, json).await,
        ClientCommand::File { command } => file::run(&client, command, json).await,
        ClientCommand::Controller { .. } => {
            health::component_status(&client, "controller", json).await
        }
        ClientCommand::Nats { .. } => health::component_status(&client, "nats", json).await,
        ClientCommand::Metrics {
            command: MetricsCommand::Get { metrics_url },
        } => health::metrics(config, metrics_url).await,
    }
}

/// The SDK client for `url`, trusting `--ca-file` or `controller.client.tls.ca_file`.
fn sdk_client(
    config: &Config,
    args: &ClientArgs,
    url: &str,
    token: &str,
) -> anyhow::Result<Client> {
    let (key, ca_file) = match &args.ca_file {
        Some(path) => ("--ca-file", path.as_str()),
        None => (
            "controller.client.tls.ca_file",
            config.controller.client.tls.ca_file.as_str(),
        ),
    };
    if ca_file.is_empty() {
        return Ok(Client::new(url, token)?);
    }
    let pem =
        std::fs::read(ca_file).map_err(|e| anyhow::anyhow!("{key}: cannot read {ca_file}: {e}"))?;
    Client::with_ca_pem(url, token, &pem).map_err(|e| anyhow::anyhow!("{key} {ca_file}: {e}"))
}

/// Sends `endpoint` and prints its answer: the body as it came with `-j`, else the
/// decoded answer's [`Show`].
async fn print<T: Show + DeserializeOwned>(
    client: &Client,
    endpoint: Endpoint<T>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let resp = client.fetch_raw(&endpoint).await?;
    print_as::<T>(resp, json)
}

/// Prints `resp` as [`print`] does, its 2xx body decoded as `T`.
fn print_as<T: Show + DeserializeOwned>(resp: RawResponse, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        return Ok(print_raw(&resp));
    }
    let answer: T = check(resp)?.json()?;
    println!("{}", answer.show());
    Ok(ExitCode::SUCCESS)
}

/// The CLI's text for an SDK error: `API error <status>: <message>` for an API answer.
fn api_error(e: SdkError) -> anyhow::Error {
    match (e.status(), e.message()) {
        (Some(status), Some(message)) => anyhow::anyhow!("API error {status}: {message}"),
        _ => anyhow::Error::new(e),
    }
}

/// Like [`sdk::check`], keeping the CLI's error text `API error <status>: <message>`.
fn check(resp: RawResponse) -> anyhow::Result<RawResponse> {
    sdk::check(resp).map_err(api_error)
}

/// `--json`: the body as the API sent it; non-zero exit for a non-2xx answer.
fn print_raw(resp: &RawResponse) -> ExitCode {
    if !resp.body.is_empty() {
        println!("{}", resp.body.trim_end());
    }
    if resp.status.is_success() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: API answered {}", resp.status);
        ExitCode::FAILURE
    }
}

/// With `_all`, asks before changing every host; `--yes` skips the question.
fn confirm(target: &str, yes: bool, verb: &str) -> anyhow::Result<bool> {
    if target != "_all" || yes {
        return Ok(true);
    }
    eprint!("This will {verb} on ALL hosts. Continue? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if matches!(line.trim(), "y" | "Y") {
        Ok(true)
    } else {
        eprintln!("Aborted (pass --yes to skip this question).");
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::node::TimezoneCommand;
    use super::node::{GetOnly, HostnameArgs, HostnameCommand, MaybeGet, TimezoneArgs};
    use super::*;
    use crate::cli::{Cli, Command};

    /// Parses `osapi <args>` as a client command.
    fn client(args: &[&str]) -> ClientArgs {
        let cli = Cli::try_parse_from(std::iter::once("osapi").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?} does not parse: {e}"));
        match cli.command {
            Command::Client(args) => args,
            other => panic!("{args:?} is not a client command: {other:?}"),
        }
    }

    /// The read a `client node <read> [get]` line names, and whether it said `get`.
    fn read_of(command: &ClientCommand) -> (&'static str, Option<GetOnly>) {
        let ClientCommand::Node { command } = command else {
            panic!("not a node command: {command:?}");
        };
        // hostname and timezone also take `update`; their `get` is the read's.
        let get = |said: bool| said.then_some(GetOnly::Get);
        match command {
            NodeCommand::Hostname(HostnameArgs { command: c }) => {
                return ("hostname", get(*c == Some(HostnameCommand::Get)));
            }
            NodeCommand::Timezone(TimezoneArgs { command: c }) => {
                return ("timezone", get(*c == Some(TimezoneCommand::Get)));
            }
            _ => {}
        }
        let (name, MaybeGet { command }) = match command {
            NodeCommand::Disk(g) => ("disk", g),
            NodeCommand::Memory(g) => ("memory", g),
            NodeCommand::Load(g) => ("load", g),
            NodeCommand::Os(g) => ("os", g),
            NodeCommand::Uptime(g) => ("uptime", g),
            other => panic!("not a read: {other:?}"),
        };
        (name, *command)
    }

    const READS: [&str; 7] = [
        "hostname", "disk", "memory", "load", "os", "uptime", "timezone",
    ];

    #[test]
    fn every_read_parses_with_and_without_get() {
        for read in READS {
            let seed = client(&["client", "node", read]);
            assert_eq!(read_of(&seed.command), (read, None));
            let latest = client(&["client", "node", read, "get"]);
            assert_eq!(read_of(&latest.command), (read, Some(GetOnly::Get)));
            assert_eq!(seed.target, "_any");
            assert_eq!(latest.target, "_any");
        }
    }

    #[test]
    fn target_means_the_same_after_client_node_or_the_read() {
        for read in READS {
            let spellings: [Vec<&str>; 7] = [
                vec!["client", "-T", "web-01", "node", read],
                vec!["client", "--target", "web-01", "node", read, "get"],
                vec!["client", "node", "-T", "web-01", read],
                vec!["client", "node", "--target", "web-01", read, "get"],
                vec!["client", "node", "-T", "web-01", read, "get"],
                vec!["client", "node", read, "-T", "web-01"],
                vec!["client", "node", read, "get", "--target=web-01"],
            ];
            for args in &spellings {
                let parsed = client(args);
                assert_eq!(parsed.target, "web-01", "{args:?}");
                assert_eq!(read_of(&parsed.command).0, read, "{args:?}");
            }
        }
        // Other node commands take it after `node` too.
        let parsed = client(&[
            "client",
            "node",
            "-T",
            "_all",
            "command",
            "shell",
            "--command",
            "true",
            "--yes",
        ]);
        assert_eq!(parsed.target, "_all");
    }

    #[test]
    fn an_unknown_word_after_a_read_is_a_usage_error() {
        let err = Cli::try_parse_from(["osapi", "client", "node", "disk", "list"])
            .expect_err("only `get` follows a read");
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidSubcommand);
    }

    #[test]
    fn raw_is_accepted_anywhere_on_the_line() {
        let raw = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("osapi").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?} does not parse: {e}"))
                .raw
        };
        assert!(raw(&["--raw", "client", "job", "list"]));
        assert!(raw(&["-j", "client", "--raw", "job", "list"]));
        assert!(raw(&["client", "job", "delete", "--job-id", "x", "--raw"]));
        assert!(!raw(&["-j", "client", "job", "list"]));
    }
}
