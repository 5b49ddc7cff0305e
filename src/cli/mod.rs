//! The command-line interface: one clap tree for servers, client and tokens.

pub mod client;
pub mod config;
pub mod man;
pub mod render;
pub mod token;
pub mod version;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, DEFAULT_CONFIG_PATH};

/// Manage Linux servers through a REST API and a job system over NATS.
#[derive(Debug, Parser)]
#[command(name = "osapi", version = crate::VERSION, propagate_version = true)]
pub struct Cli {
    /// Log at debug level.
    #[arg(short = 'd', long, global = true)]
    pub debug: bool,
    /// Print JSON, as the original CLI does (and log as JSON).
    #[arg(short = 'j', long, global = true)]
    pub json: bool,
    /// Print the API's JSON body as it came, also for job list/delete (implies -j).
    // Only `client job list` and `client job delete` print another shape with `-j` (the
    // original CLI's own); everywhere else `-j` already prints the body as it came.
    #[arg(long, global = true)]
    pub raw: bool,
    /// The config file.
    #[arg(short = 'f', long = "osapi-file", global = true, env = "OSAPI_OSAPIFILE",
          default_value = DEFAULT_CONFIG_PATH)]
    pub osapi_file: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print version information as JSON.
    Version,
    /// Print a shell completion script: `source <(osapi completion bash)`.
    Completion {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Write the man pages, one per command, into a directory.
    Man {
        /// Where the pages go (created if missing).
        dir: PathBuf,
    },
    /// Write, check or show the config file.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Run NATS, the controller and an agent in one process.
    Start,
    /// The embedded NATS server.
    Nats {
        #[command(subcommand)]
        command: NatsCommand,
    },
    /// The REST API server.
    Controller {
        /// Listen port (overrides controller.api.port).
        #[arg(short = 'p', long)]
        port: Option<u16>,
        #[command(subcommand)]
        command: StartOnly,
    },
    /// The job-processing agent.
    Agent {
        #[command(flatten)]
        flags: AgentFlags,
        #[command(subcommand)]
        command: StartOnly,
    },
    /// Create and inspect API tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Talk to a controller.
    Client(client::ClientArgs),
    /// Empty, as in the original: job commands are under `osapi client job`.
    Job,
}

#[derive(Debug, Subcommand)]
pub enum NatsCommand {
    /// The supervised nats-server.
    Server {
        #[command(subcommand)]
        command: StartOnly,
    },
}

#[derive(Debug, Subcommand)]
pub enum StartOnly {
    /// Run until SIGINT/SIGTERM.
    Start,
}

/// Loads the config. A missing file at the default path is fine (defaults and `OSAPI_*`
/// apply); a missing file the user named is an error.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    if path == Path::new(DEFAULT_CONFIG_PATH) && !path.exists() {
        let config = Config::from_yaml_and_env("", path, std::env::vars())?;
        return Ok(config);
    }
    Ok(Config::load(path)?)
}

impl Cli {
    /// Whether the command runs on a single-threaded runtime: the agent and the NATS
    /// supervisor mostly wait, their blocking work (providers) runs on tokio's blocking
    /// pool either way, and one thread keeps their memory small. The controller (and
    /// `start`, which holds one) serves requests on every core.
    pub fn single_threaded(&self) -> bool {
        matches!(self.command, Command::Agent { .. } | Command::Nats { .. })
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Job = cli.command {
        println!("Job commands talk to a controller: osapi client job list|get|delete|retry");
        return Ok(ExitCode::SUCCESS);
    }
    // Neither needs a config, so both work on a machine without one (and before the
    // config is fixed).
    if let Command::Version = cli.command {
        let info = version::VersionInfo::current();
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Completion { shell } = cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "osapi", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Man { dir } = &cli.command {
        let pages = man::write_pages(dir)
            .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
        for page in pages {
            println!("{}", page.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    // `config` loads the file its own way: `check` must report a broken one, not fail on it.
    if let Command::Config { command } = cli.command {
        return config::run(&cli.osapi_file, command, cli.json);
    }
    let mut config = load_config(&cli.osapi_file)?;
    crate::telemetry::init_logging(cli.debug || config.debug, cli.json || cli.raw);
    // The services say once at start what they accept but do not do; a client call that
    // merely reads the same file need not repeat it every time.
    if !matches!(cli.command, Command::Client(..) | Command::Token { .. }) {
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
    }
    let service = match &cli.command {
        Command::Start => "osapi",
        Command::Controller { .. } => "osapi-controller",
        Command::Agent { .. } => "osapi-agent",
        _ => "osapi-cli",
    };
    // Flushed when dropped at the end of the command.
    let _tracing = crate::telemetry::otel::init(&config.telemetry.tracing, service)
        .map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Version
        | Command::Completion { .. }
        | Command::Job
        | Command::Man { .. }
        | Command::Config { .. } => {
            unreachable!("handled above")
        }
        Command::Start => {
            crate::security::signing_key::prepare(&mut config)?;
            crate::app::run_all(config).await?;
        }
        Command::Nats {
            command: NatsCommand::Server { .. },
        } => {
            crate::app::run_nats(config).await?;
        }
        Command::Controller { port, .. } => {
            if let Some(port) = port {
                config.controller.api.port = port;
            }
            crate::security::signing_key::prepare(&mut config)?;
            crate::app::run_controller(config).await?;
        }
        Command::Agent { flags, .. } => {
            let config = config.with_overrides(&flags.overrides())?;
            crate::app::run_agent(config).await?;
        }
        Command::Token { command } => {
            crate::security::signing_key::load(&mut config)?;
            token::run(&config, command)?
        }
        Command::Client(args) => {
            return client::run(&config, args, cli.json, cli.raw)
                .await
                .context("client command failed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The original's `osapi agent` flags; each overrides the config key it names.
#[derive(Debug, Default, clap::Args)]
pub struct AgentFlags {
    /// NATS host (agent.nats.host).
    #[arg(long = "agent-host")]
    host: Option<String>,
    /// NATS port (agent.nats.port).
    #[arg(long = "agent-port")]
    port: Option<String>,
    /// NATS client name (agent.nats.client_name).
    #[arg(long = "agent-client-name")]
    client_name: Option<String>,
    /// Queue group (agent.queue_group).
    #[arg(long = "agent-queue-group")]
    queue_group: Option<String>,
    /// Agent identity (agent.hostname).
    #[arg(long = "agent-hostname")]
    hostname: Option<String>,
    /// Jobs run at once (agent.max_jobs).
    #[arg(long = "agent-max-jobs")]
    max_jobs: Option<String>,
    /// Deliveries before the DLQ (agent.consumer.max_deliver).
    #[arg(long = "consumer-max-deliver")]
    max_deliver: Option<String>,
    /// Ack wait, e.g. 2m (agent.consumer.ack_wait).
    #[arg(long = "consumer-ack-wait")]
    ack_wait: Option<String>,
    /// Unacknowledged jobs in flight (agent.consumer.max_ack_pending).
    #[arg(long = "consumer-max-ack-pending")]
    max_ack_pending: Option<String>,
    /// instant or original (agent.consumer.replay_policy).
    #[arg(long = "consumer-replay-policy")]
    replay_policy: Option<String>,
    /// Redelivery delays, comma-separated, e.g. 30s,2m (agent.consumer.back_off).
    #[arg(long = "consumer-back-off")]
    back_off: Option<String>,
}

impl AgentFlags {
    /// `(flag, config key, value)` for every flag given.
    fn overrides(&self) -> Vec<(&'static str, &'static str, String)> {
        [
            ("--agent-host", "agent.nats.host", &self.host),
            ("--agent-port", "agent.nats.port", &self.port),
            (
                "--agent-client-name",
                "agent.nats.client_name",
                &self.client_name,
            ),
            (
                "--agent-queue-group",
                "agent.queue_group",
                &self.queue_group,
            ),
            ("--agent-hostname", "agent.hostname", &self.hostname),
            ("--agent-max-jobs", "agent.max_jobs", &self.max_jobs),
            (
                "--consumer-max-deliver",
                "agent.consumer.max_deliver",
                &self.max_deliver,
            ),
            (
                "--consumer-ack-wait",
                "agent.consumer.ack_wait",
                &self.ack_wait,
            ),
            (
                "--consumer-max-ack-pending",
                "agent.consumer.max_ack_pending",
                &self.max_ack_pending,
            ),
            (
                "--consumer-replay-policy",
                "agent.consumer.replay_policy",
                &self.replay_policy,
            ),
            (
                "--consumer-back-off",
                "agent.consumer.back_off",
                &self.back_off,
            ),
        ]
        .into_iter()
        .filter_map(|(flag, key, value)| value.clone().map(|v| (flag, key, v)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_flags_of_the_original_parse_into_overrides() {
        let cli = Cli::try_parse_from([
            "osapi",
            "agent",
            "--agent-hostname",
            "web-01",
            "--consumer-back-off",
            "1s,2s",
            "--agent-queue-group",
            "workers",
            "start",
        ])
        .expect("the original's agent flags parse");
        let Command::Agent { flags, .. } = cli.command else {
            panic!("not the agent command");
        };
        let overrides = flags.overrides();
        assert_eq!(
            overrides,
            [
                (
                    "--agent-queue-group",
                    "agent.queue_group",
                    "workers".to_string()
                ),
                ("--agent-hostname", "agent.hostname", "web-01".to_string()),
                (
                    "--consumer-back-off",
                    "agent.consumer.back_off",
                    "1s,2s".to_string()
                ),
            ]
        );
        let config = Config::default().with_overrides(&overrides).expect("valid");
        assert_eq!(config.agent.hostname, "web-01");
        assert_eq!(config.agent.consumer.back_off.len(), 2);
    }

    #[test]
    fn the_empty_job_group_parses() {
        assert!(matches!(
            Cli::try_parse_from(["osapi", "job"]).map(|c| c.command),
            Ok(Command::Job)
        ));
    }
}
