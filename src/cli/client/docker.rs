//! `osapi client node container docker ...`: containers and images of the target's Docker
//! daemons, sent through the typed SDK and shown with the payloads' [`Cells`]; `-j` prints
//! the API's body as it came.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::node::{show, show_confirmed};
use crate::cli::render::{bytes, or_dash, Cells};
use crate::sdk::Client;
use crate::wire::ops::docker::{
    ContainerId, ContainerRemove, ContainerStop, DockerAction, DockerContainer,
    DockerContainerList, DockerCreate, DockerCreateRequest, DockerDetail, DockerExec,
    DockerExecRequest, DockerExecResult, DockerImageRemove, DockerInspect, DockerList,
    DockerListQuery, DockerPull, DockerPullResult, DockerRemove, DockerStart, DockerStop, ImageRef,
    ImageRemove, DEFAULT_STOP_SECS,
};

/// `client node container ...`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Containers and images of the Docker daemon.
    Docker {
        #[command(subcommand)]
        command: DockerCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DockerCommand {
    /// Create a container from a local image (and start it).
    Create(CreateArgs),
    /// The containers (running ones unless --state says otherwise).
    List {
        /// running, stopped or all.
        #[arg(long, default_value = "running")]
        state: String,
        /// At most this many (1-100); 0 lists every one.
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
    /// One container.
    Inspect {
        #[arg(long)]
        id: String,
    },
    /// Start a container.
    Start(IdArgs),
    /// Stop a container.
    Stop {
        #[command(flatten)]
        container: IdArgs,
        /// Seconds it has to stop before it is killed (0-300).
        #[arg(long, default_value_t = DEFAULT_STOP_SECS)]
        timeout: u32,
    },
    /// Remove a container.
    Remove {
        #[command(flatten)]
        container: IdArgs,
        /// Also a running one.
        #[arg(long)]
        force: bool,
    },
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Pull an image.
    Pull {
        #[arg(long)]
        image: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Remove an image.
    ImageRemove {
        #[arg(long)]
        image: String,
        /// Also an image containers use.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Container ID or name.
    #[arg(long)]
    id: String,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    image: String,
    #[arg(long)]
    name: Option<String>,
    /// KEY=VALUE (repeatable).
    #[arg(long)]
    env: Vec<String>,
    /// host:container TCP port (repeatable).
    #[arg(long = "port")]
    ports: Vec<String>,
    /// source:destination[:ro] bind mount (repeatable).
    #[arg(long = "volume")]
    volumes: Vec<String>,
    /// The container's hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// DNS server (repeatable).
    #[arg(long)]
    dns: Vec<String>,
    /// The command, comma-separated: sleep,3600 (the image's default when absent).
    #[arg(long, value_delimiter = ',')]
    command: Vec<String>,
    /// Start it once created.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    auto_start: bool,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Container ID or name.
    #[arg(long)]
    id: String,
    /// The program and its arguments, comma-separated: echo,hello.
    #[arg(long, value_delimiter = ',', required = true)]
    command: Vec<String>,
    /// KEY=VALUE (repeatable).
    #[arg(long)]
    env: Vec<String>,
    /// Absolute directory inside the container.
    #[arg(long)]
    working_dir: Option<String>,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

/// `Some(list)` unless it is empty.
fn given(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

impl From<CreateArgs> for DockerCreateRequest {
    fn from(a: CreateArgs) -> Self {
        Self {
            image: a.image,
            name: a.name,
            hostname: a.hostname,
            dns: given(a.dns),
            command: given(a.command),
            env: given(a.env),
            ports: given(a.ports),
            volumes: given(a.volumes),
            auto_start: Some(a.auto_start),
        }
    }
}

/// `client node container docker ...`.
pub async fn container(
    client: &Client,
    target: &str,
    command: ContainerCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let ContainerCommand::Docker { command } = command;
    match command {
        DockerCommand::Create(a) => {
            let ask = (a.yes, "create a container");
            show_confirmed::<DockerCreate>(client, target, ask, &a.into(), json).await
        }
        DockerCommand::List { state, limit } => {
            let query = DockerListQuery {
                state: Some(state),
                limit: (limit > 0).then_some(limit),
            };
            show::<DockerList>(client, target, &query, json).await
        }
        DockerCommand::Inspect { id } => {
            show::<DockerInspect>(client, target, &ContainerId { id }, json).await
        }
        DockerCommand::Start(IdArgs { id, yes }) => {
            let ask = (yes, "start a container");
            show_confirmed::<DockerStart>(client, target, ask, &ContainerId { id }, json).await
        }
        DockerCommand::Stop { container, timeout } => {
            let ask = (container.yes, "stop a container");
            let request = ContainerStop {
                id: container.id,
                timeout: Some(timeout),
            };
            show_confirmed::<DockerStop>(client, target, ask, &request, json).await
        }
        DockerCommand::Remove { container, force } => {
            let ask = (container.yes, "remove a container");
            let request = ContainerRemove {
                id: container.id,
                force,
            };
            show_confirmed::<DockerRemove>(client, target, ask, &request, json).await
        }
        DockerCommand::Exec(a) => {
            let ask = (a.yes, "run a command in a container");
            let request = DockerExecRequest {
                id: a.id,
                command: a.command,
                env: given(a.env),
                working_dir: a.working_dir,
            };
            show_confirmed::<DockerExec>(client, target, ask, &request, json).await
        }
        DockerCommand::Pull { image, yes } => {
            let ask = (yes, "pull an image");
            show_confirmed::<DockerPull>(client, target, ask, &ImageRef { image }, json).await
        }
        DockerCommand::ImageRemove { image, force, yes } => {
            let ask = (yes, "remove an image");
            let request = ImageRemove { image, force };
            show_confirmed::<DockerImageRemove>(client, target, ask, &request, json).await
        }
    }
}

/// The first 12 characters of an ID, as `docker ps` shows it.
fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

const CONTAINER_COLUMNS: &[&str] = &["id", "name", "image", "state", "created"];

fn container_row(c: &DockerContainer) -> Vec<String> {
    vec![
        short_id(&c.id),
        c.name.clone(),
        c.image.clone(),
        c.state.clone(),
        c.created.clone(),
    ]
}

impl Cells for DockerContainer {
    const COLUMNS: &'static [&'static str] =
        &["id", "name", "image", "state", "created", "changed"];

    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        let mut row = container_row(self);
        row.push(changed.to_string());
        vec![row]
    }
}

impl Cells for DockerContainerList {
    const COLUMNS: &'static [&'static str] = CONTAINER_COLUMNS;

    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.containers.iter().map(container_row).collect()
    }
}

impl Cells for DockerDetail {
    const COLUMNS: &'static [&'static str] = &[
        "id", "name", "image", "state", "created", "ports", "mounts", "ip", "health",
    ];

    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        let joined = |v: &Option<Vec<String>>| or_dash(v.as_ref().map(|v| v.join(", ")));
        let ip = self
            .network_settings
            .as_ref()
            .and_then(|n| n.ip_address.clone());
        vec![vec![
            short_id(&self.id),
            self.name.clone(),
            self.image.clone(),
            self.state.clone(),
            self.created.clone(),
            joined(&self.ports),
            joined(&self.mounts),
            or_dash(ip),
            or_dash(self.health.clone()),
        ]]
    }
}

impl Cells for DockerAction {
    const COLUMNS: &'static [&'static str] = &["id", "message", "changed"];

    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![
            or_dash(self.id.clone()),
            or_dash(self.message.clone()),
            changed.to_string(),
        ]]
    }
}

impl Cells for DockerExecResult {
    const COLUMNS: &'static [&'static str] = &["exit code", "stdout", "stderr"];

    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![
            self.exit_code.to_string(),
            self.stdout.trim_end().to_owned(),
            self.stderr.trim_end().to_owned(),
        ]]
    }
}

impl Cells for DockerPullResult {
    const COLUMNS: &'static [&'static str] = &["image id", "tag", "size", "changed"];

    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![
            or_dash(self.image_id.as_deref().map(short_id)),
            or_dash(self.tag.clone()),
            or_dash(self.size.and_then(|s| u64::try_from(s).ok()).map(bytes)),
            changed.to_string(),
        ]]
    }
}
