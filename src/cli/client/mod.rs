//! `osapi client ...`: the REST API from the command line. One module per resource holds
//! its subcommands, its calls through the typed SDK and the [`Show`] impls of its answers;
//! this one dispatches and holds the shared helpers. `-j` prints the API's body as it came.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;

mod agent;
mod audit;
mod file;
mod health;
mod job;
mod node;

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

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Base URL of the API (overrides controller.client.url).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Bearer token (overrides controller.client.security.bearer_token).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Target: _any, _all, a hostname, or a key:value label.
    #[arg(short = 'T', long, global = true, default_value = "_any")]
    pub target: String,
    #[command(subcommand)]
    pub command: ClientCommand,
}

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

/// Runs a client command. An API error prints its message and exits non-zero.
pub async fn run(config: &Config, args: ClientArgs, json: bool) -> anyhow::Result<ExitCode> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| config.controller.client.url.clone());
    let token = match &args.token {
        Some(t) => t.clone(),
        None => config.bearer_token()?.to_owned(),
    };
    let client = Client::new(&url, &token)?;
    let target = args.target.as_str();
    match args.command {
        ClientCommand::Node { command } => node::run(&client, target, command, json).await,
        ClientCommand::Job { command } => job::run(&client, command, json).await,
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
