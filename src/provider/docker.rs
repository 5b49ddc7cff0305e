//! Docker containers and images through the Engine API on the daemon's Unix socket
//! (`agent.docker.socket`), with `bollard`. A host where no daemon answers there says so
//! with [`ProviderError::Unsupported`]: its docker jobs are `skipped`.
//!
//! The API version is the daemon's own (read from its unversioned `/version`), capped at
//! what bollard knows: daemons reject versions newer than theirs, and recent ones also
//! reject much older ones, so no fixed version talks to every daemon.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
    RemoveImageOptions, StopContainerOptions,
};
use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};
use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::command::Capped;
use super::ProviderError;
use crate::wire::ops::docker::{
    parse_port, DockerAction, DockerContainer, DockerCreateRequest, DockerDetail,
    DockerExecRequest, DockerExecResult, DockerPullResult, ListState, NetworkSettings,
};

/// The socket osapi looks at unless `agent.docker.socket` says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// bollard's per-request limit; each operation's own, shorter limit applies on top.
const REQUEST_SECS: u64 = 600;
/// How long the daemon has to say its version.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What create did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A new container (started unless `auto_start` was false).
    New(DockerContainer),
    /// A container of that name from the same image was there already; `started` says
    /// whether it had to be started.
    Existing {
        container: DockerContainer,
        started: bool,
    },
    /// The name belongs to a container of another image.
    NameTaken { image: String },
}

/// The host's Docker daemon.
pub trait DockerProvider: Send + Sync {
    /// Creates (and starts) a container, or finds the one of that name.
    fn create(&self, request: DockerCreateRequest)
        -> BoxFuture<'_, Result<Created, ProviderError>>;
    /// The containers in `state`, at most `limit`.
    fn list(
        &self,
        state: ListState,
        limit: Option<u32>,
    ) -> BoxFuture<'_, Result<Vec<DockerContainer>, ProviderError>>;
    /// One container by ID or name.
    fn inspect(&self, id: String) -> BoxFuture<'_, Result<DockerDetail, ProviderError>>;
    /// Starts a container unless it runs; whether it had to.
    fn start(&self, id: String) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>>;
    /// Stops a running container, killing it after `timeout` seconds; whether it had to.
    fn stop(
        &self,
        id: String,
        timeout: Option<u32>,
    ) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>>;
    /// Removes a container if there is one; whether there was.
    fn remove(
        &self,
        id: String,
        force: bool,
    ) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>>;
    /// Runs a command in a running container, keeping `max_output` bytes of each stream.
    fn exec(
        &self,
        request: DockerExecRequest,
        max_output: usize,
    ) -> BoxFuture<'_, Result<DockerExecResult, ProviderError>>;
    /// Pulls an image; whether its ID changed (or it was not there).
    fn pull(&self, image: String)
        -> BoxFuture<'_, Result<(DockerPullResult, bool), ProviderError>>;
    /// Removes an image if there is one; whether there was.
    fn remove_image(
        &self,
        image: String,
        force: bool,
    ) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>>;
}

/// The Engine API on a Unix socket.
#[derive(Debug, Clone)]
pub struct LinuxDocker {
    pub socket: PathBuf,
}

impl Default for LinuxDocker {
    fn default() -> Self {
        Self::new(DEFAULT_SOCKET)
    }
}

impl LinuxDocker {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    /// A client speaking the daemon's API version, or why there is no daemon.
    async fn connect(&self) -> Result<Docker, ProviderError> {
        let version = self.api_version().await?;
        let path = self.socket.to_string_lossy();
        Docker::connect_with_unix(&path, REQUEST_SECS, &version)
            .map_err(|e| ProviderError::Failed(format!("Docker client for {path}: {e}")))
    }

    /// The daemon's API version (at most bollard's), from `GET /version` without a
    /// version prefix: the one request every daemon answers whatever its range.
    async fn api_version(&self) -> Result<ClientVersion, ProviderError> {
        let path = self.socket.display();
        let absent = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                ProviderError::PermissionDenied(format!("Docker socket {path}: {e}"))
            }
            _ => ProviderError::Unsupported(format!("no Docker daemon answers on {path}: {e}")),
        };
        let probe = async {
            let mut stream = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(absent)?;
            stream
                .write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")
                .await
                .map_err(absent)?;
            let mut answer = Vec::new();
            stream
                .take(256 * 1024)
                .read_to_end(&mut answer)
                .await
                .map_err(absent)?;
            Ok(answer)
        };
        let answer = tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .map_err(|_| {
                ProviderError::Unsupported(format!(
                    "the Docker daemon on {path} did not answer within {}s",
                    PROBE_TIMEOUT.as_secs()
                ))
            })??;
        let version = parse_api_version(&answer).ok_or_else(|| {
            ProviderError::Unsupported(format!(
                "{path} does not answer as a Docker Engine API (no ApiVersion in GET /version)"
            ))
        })?;
        Ok(if version < *API_DEFAULT_VERSION {
            version
        } else {
            *API_DEFAULT_VERSION
        })
    }
}

/// The `ApiVersion` of a raw `GET /version` answer (`HTTP/1.x 200`, headers, JSON).
fn parse_api_version(answer: &[u8]) -> Option<ClientVersion> {
    let text = std::str::from_utf8(answer).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if head.split(' ').nth(1) != Some("200") {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    let (major, minor) = json["ApiVersion"].as_str()?.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// An Engine API error as the host's error; `what` says what was being done.
fn api_error(what: &str, e: bollard::errors::Error) -> ProviderError {
    use bollard::errors::Error::DockerResponseServerError;
    match e {
        DockerResponseServerError {
            status_code: 404,
            message,
        } => ProviderError::NotFound(format!("{what}: {message}")),
        DockerResponseServerError { message, .. } => {
            ProviderError::Failed(format!("{what}: {message}"))
        }
        other => ProviderError::Failed(format!("{what}: {other}")),
    }
}

/// Whether an Engine API error is a 404.
fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A container's inspect answer, or `None` when there is none by that ID or name.
async fn find(
    docker: &Docker,
    id: &str,
) -> Result<Option<ContainerInspectResponse>, ProviderError> {
    match docker.inspect_container(id, None).await {
        Ok(found) => Ok(Some(found)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error(&format!("inspect container {id}"), e)),
    }
}

/// A container that must exist.
async fn get(docker: &Docker, id: &str) -> Result<ContainerInspectResponse, ProviderError> {
    find(docker, id)
        .await?
        .ok_or_else(|| ProviderError::NotFound(format!("no container {id:?}")))
}

fn is_running(c: &ContainerInspectResponse) -> bool {
    c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// The name as given to containers (`web`), without the API's leading `/`.
fn bare_name(name: &str) -> String {
    name.trim_start_matches('/').to_owned()
}

/// The fields create, list and inspect share.
fn container_of(c: &ContainerInspectResponse) -> DockerContainer {
    DockerContainer {
        id: c.id.clone().unwrap_or_default(),
        name: bare_name(c.name.as_deref().unwrap_or_default()),
        image: c
            .config
            .as_ref()
            .and_then(|cfg| cfg.image.clone())
            .unwrap_or_default(),
        state: c
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        created: c.created.clone().unwrap_or_default(),
    }
}

fn detail_of(c: &ContainerInspectResponse) -> DockerDetail {
    let base = container_of(c);
    // The published ports as configured: the live map stays empty on a daemon without
    // a bridge network, and the host ports asked for are fixed ones anyway.
    let mut ports: Vec<String> = c
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|(container_port, bindings)| {
            let container_port = container_port
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            bindings.iter().flatten().filter_map(move |b| {
                let host = b.host_port.as_deref()?;
                Some(format!("{host}:{container_port}"))
            })
        })
        .collect();
    ports.sort();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            let source = m
                .source
                .as_deref()
                .or(m.name.as_deref())
                .unwrap_or_default();
            format!("{source}:{}", m.destination.as_deref().unwrap_or_default())
        })
        .collect();
    let network_settings = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .and_then(|nets| first_network(nets))
        .map(|net| NetworkSettings {
            ip_address: net.ip_address.clone().filter(|a| !a.is_empty()),
            gateway: net.gateway.clone().filter(|g| !g.is_empty()),
        })
        .filter(|n| n.ip_address.is_some() || n.gateway.is_some());
    DockerDetail {
        ports: (!ports.is_empty()).then_some(ports),
        mounts: (!mounts.is_empty()).then_some(mounts),
        env: None,
        network_settings,
        health: c
            .state
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .map(|s| s.to_string()),
        id: base.id,
        name: base.name,
        image: base.image,
        state: base.state,
        created: base.created,
    }
}

/// The network first by name: the API's map has no order, and the answer must not
/// change between two reads.
fn first_network<V>(nets: &HashMap<String, V>) -> Option<&V> {
    nets.iter().min_by(|a, b| a.0.cmp(b.0)).map(|(_, v)| v)
}

/// The create body: ports published on TCP, volumes as bind mounts.
fn create_body(r: &DockerCreateRequest) -> Result<ContainerCreateBody, ProviderError> {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for spec in r.ports.iter().flatten() {
        let port = parse_port(spec).map_err(|e| ProviderError::InvalidInput(e.message))?;
        bindings
            .entry(format!("{}/tcp", port.container))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: None,
                host_port: Some(port.host.to_string()),
            });
    }
    let exposed: Vec<String> = bindings.keys().cloned().collect();
    Ok(ContainerCreateBody {
        image: Some(r.image.clone()),
        hostname: r.hostname.clone(),
        cmd: r.command.clone(),
        env: r.env.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            binds: r.volumes.clone(),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            dns: r.dns.clone(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// `fromImage` and `tag` of a pull: without a tag the Engine API would pull every tag of
/// the repository, so `latest` is asked for. A digest reference goes as it is.
fn pull_parts(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_owned(), None);
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => {
            let at = name_start + i;
            (image[..at].to_owned(), Some(image[at + 1..].to_owned()))
        }
        None => (image.to_owned(), Some("latest".to_owned())),
    }
}

/// An image's ID, first tag and size, or `None` when the daemon has no such image.
async fn image_info(
    docker: &Docker,
    image: &str,
) -> Result<Option<DockerPullResult>, ProviderError> {
    match docker.inspect_image(image).await {
        Ok(found) => Ok(Some(DockerPullResult {
            image_id: found.id,
            tag: Some(
                found
                    .repo_tags
                    .as_ref()
                    .and_then(|tags| tags.first())
                    .and_then(|t| t.rsplit_once(':').map(|(_, tag)| tag.to_owned()))
                    .unwrap_or_else(|| "latest".to_owned()),
            ),
            size: found.size,
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error(&format!("inspect image {image}"), e)),
    }
}

fn action(id: &str, message: &str) -> DockerAction {
    DockerAction {
        id: Some(id.to_owned()),
        message: Some(message.to_owned()),
    }
}

impl LinuxDocker {
    async fn create_container(&self, r: DockerCreateRequest) -> Result<Created, ProviderError> {
        let docker = self.connect().await?;
        if let Some(existing) = match &r.name {
            Some(name) => find(&docker, name).await?,
            None => None,
        } {
            return self.reuse(&docker, existing, &r).await;
        }
        let options = CreateContainerOptions {
            name: r.name.clone(),
            ..Default::default()
        };
        let id = docker
            .create_container(Some(options), create_body(&r)?)
            .await
            .map_err(|e| api_error(&format!("create a container from {}", r.image), e))?
            .id;
        if r.auto_start() {
            docker.start_container(&id, None).await.map_err(|e| {
                api_error(
                    &format!("container {id} was created, but starting it failed"),
                    e,
                )
            })?;
        }
        Ok(Created::New(container_of(&get(&docker, &id).await?)))
    }

    /// A container of the asked name: the same if its image is the asked one (started
    /// when asked and not running), else the name is taken.
    async fn reuse(
        &self,
        docker: &Docker,
        existing: ContainerInspectResponse,
        r: &DockerCreateRequest,
    ) -> Result<Created, ProviderError> {
        let found = container_of(&existing);
        if found.image != r.image {
            return Ok(Created::NameTaken { image: found.image });
        }
        if !r.auto_start() || is_running(&existing) {
            return Ok(Created::Existing {
                container: found,
                started: false,
            });
        }
        docker
            .start_container(&found.id, None)
            .await
            .map_err(|e| api_error(&format!("start container {}", found.id), e))?;
        Ok(Created::Existing {
            container: container_of(&get(docker, &found.id).await?),
            started: true,
        })
    }

    async fn list_containers(
        &self,
        state: ListState,
        limit: Option<u32>,
    ) -> Result<Vec<DockerContainer>, ProviderError> {
        let docker = self.connect().await?;
        // The status filter for running ones too: a limit alone counts stopped ones.
        let status = match state {
            ListState::Running => Some("running"),
            ListState::Stopped => Some("exited"),
            ListState::All => None,
        };
        let filters = status.map(|s| HashMap::from([("status".to_owned(), vec![s.to_owned()])]));
        let options = ListContainersOptions {
            all: state != ListState::Running,
            limit: limit.and_then(|l| i32::try_from(l).ok()),
            filters,
            ..Default::default()
        };
        let found = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| api_error("list containers", e))?;
        Ok(found
            .into_iter()
            .map(|c| DockerContainer {
                id: c.id.unwrap_or_default(),
                name: bare_name(c.names.as_ref().and_then(|n| n.first()).map_or("", |n| n)),
                image: c.image.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                created: c
                    .created
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .map(crate::wire::job::rfc3339_seconds)
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn start_container(&self, id: String) -> Result<(DockerAction, bool), ProviderError> {
        let docker = self.connect().await?;
        let c = get(&docker, &id).await?;
        if is_running(&c) {
            return Ok((action(&id, "container already running"), false));
        }
        docker
            .start_container(&id, None)
            .await
            .map_err(|e| api_error(&format!("start container {id}"), e))?;
        Ok((action(&id, "container started"), true))
    }

    async fn stop_container(
        &self,
        id: String,
        timeout: Option<u32>,
    ) -> Result<(DockerAction, bool), ProviderError> {
        let docker = self.connect().await?;
        let c = get(&docker, &id).await?;
        if !is_running(&c) {
            return Ok((action(&id, "container already stopped"), false));
        }
        let options = StopContainerOptions {
            t: timeout.and_then(|t| i32::try_from(t).ok()),
            ..Default::default()
        };
        docker
            .stop_container(&id, Some(options))
            .await
            .map_err(|e| api_error(&format!("stop container {id}"), e))?;
        Ok((action(&id, "container stopped"), true))
    }

    async fn remove_container(
        &self,
        id: String,
        force: bool,
    ) -> Result<(DockerAction, bool), ProviderError> {
        let docker = self.connect().await?;
        if find(&docker, &id).await?.is_none() {
            return Ok((action(&id, "no such container"), false));
        }
        let options = RemoveContainerOptions {
            force,
            ..Default::default()
        };
        docker
            .remove_container(&id, Some(options))
            .await
            .map_err(|e| api_error(&format!("remove container {id}"), e))?;
        Ok((action(&id, "container removed"), true))
    }

    async fn exec_in(
        &self,
        r: DockerExecRequest,
        max_output: usize,
    ) -> Result<DockerExecResult, ProviderError> {
        let docker = self.connect().await?;
        let doing = format!("exec in container {}", r.id);
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(r.command),
            env: r.env,
            working_dir: r.working_dir,
            ..Default::default()
        };
        let exec = docker
            .create_exec(&r.id, options)
            .await
            .map_err(|e| api_error(&doing, e))?;
        let (mut out, mut err) = (Capped::new(max_output), Capped::new(max_output));
        if let StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| api_error(&doing, e))?
        {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| api_error(&doing, e))? {
                    LogOutput::StdErr { message } => err.push(&message),
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        out.push(&message)
                    }
                    LogOutput::StdIn { .. } => {}
                }
            }
        }
        let finished = docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| api_error(&doing, e))?;
        let (stdout, stdout_truncated) = out.into_string();
        let (stderr, stderr_truncated) = err.into_string();
        Ok(DockerExecResult {
            stdout,
            stderr,
            exit_code: finished.exit_code.unwrap_or(-1),
            stdout_truncated,
            stderr_truncated,
        })
    }

    async fn pull_image(&self, image: String) -> Result<(DockerPullResult, bool), ProviderError> {
        let docker = self.connect().await?;
        let (from_image, tag) = pull_parts(&image);
        let reference = match &tag {
            Some(tag) => format!("{from_image}:{tag}"),
            None => from_image.clone(),
        };
        let before = image_info(&docker, &reference).await?;
        let options = CreateImageOptions {
            from_image: Some(from_image),
            tag,
            ..Default::default()
        };
        let doing = format!("pull {reference}");
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            let step = step.map_err(|e| api_error(&doing, e))?;
            if let Some(detail) = step.error_detail {
                let message = detail.message.unwrap_or_else(|| "failed".into());
                return Err(ProviderError::Failed(format!("{doing}: {message}")));
            }
            tracing::debug!(image = %reference, status = ?step.status, "pull");
        }
        let after = image_info(&docker, &reference).await?.ok_or_else(|| {
            ProviderError::Failed(format!(
                "{doing}: the daemon has no such image after the pull"
            ))
        })?;
        let changed = before.is_none_or(|b| b.image_id != after.image_id);
        Ok((after, changed))
    }

    async fn delete_image(
        &self,
        image: String,
        force: bool,
    ) -> Result<(DockerAction, bool), ProviderError> {
        let docker = self.connect().await?;
        if image_info(&docker, &image).await?.is_none() {
            return Ok((action(&image, "no such image"), false));
        }
        let options = RemoveImageOptions {
            force,
            ..Default::default()
        };
        docker
            .remove_image(&image, Some(options), None)
            .await
            .map_err(|e| api_error(&format!("remove image {image}"), e))?;
        Ok((action(&image, "image removed"), true))
    }
}

impl DockerProvider for LinuxDocker {
    fn create(
        &self,
        request: DockerCreateRequest,
    ) -> BoxFuture<'_, Result<Created, ProviderError>> {
        Box::pin(self.create_container(request))
    }

    fn list(
        &self,
        state: ListState,
        limit: Option<u32>,
    ) -> BoxFuture<'_, Result<Vec<DockerContainer>, ProviderError>> {
        Box::pin(self.list_containers(state, limit))
    }

    fn inspect(&self, id: String) -> BoxFuture<'_, Result<DockerDetail, ProviderError>> {
        Box::pin(async move {
            let docker = self.connect().await?;
            Ok(detail_of(&get(&docker, &id).await?))
        })
    }

    fn start(&self, id: String) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>> {
        Box::pin(self.start_container(id))
    }

    fn stop(
        &self,
        id: String,
        timeout: Option<u32>,
    ) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>> {
        Box::pin(self.stop_container(id, timeout))
    }

    fn remove(
        &self,
        id: String,
        force: bool,
    ) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>> {
        Box::pin(self.remove_container(id, force))
    }

    fn exec(
        &self,
        request: DockerExecRequest,
        max_output: usize,
    ) -> BoxFuture<'_, Result<DockerExecResult, ProviderError>> {
        Box::pin(self.exec_in(request, max_output))
    }

    fn pull(
        &self,
        image: String,
    ) -> BoxFuture<'_, Result<(DockerPullResult, bool), ProviderError>> {
        Box::pin(self.pull_image(image))
    }

    fn remove_image(
        &self,
        image: String,
        force: bool,
    ) -> BoxFuture<'_, Result<(DockerAction, bool), ProviderError>> {
        Box::pin(self.delete_image(image, force))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_from_a_raw_answer() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ApiVersion\":\"1.41\",\"Version\":\"20.10.24\"}\n";
        let v = parse_api_version(ok).unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        assert!(
            parse_api_version(b"HTTP/1.0 404 Not Found\r\n\r\n{\"ApiVersion\":\"1.41\"}").is_none()
        );
        assert!(parse_api_version(b"HTTP/1.0 200 OK\r\n\r\nnot json").is_none());
        assert!(parse_api_version(b"garbage").is_none());
    }

    #[test]
    fn pulls_name_a_tag() {
        let parts = |s: &str| pull_parts(s);
        assert_eq!(parts("busybox"), ("busybox".into(), Some("latest".into())));
        assert_eq!(
            parts("busybox:1.36"),
            ("busybox".into(), Some("1.36".into()))
        );
        assert_eq!(
            parts("registry:5000/team/app"),
            ("registry:5000/team/app".into(), Some("latest".into()))
        );
        assert_eq!(
            parts("registry:5000/team/app:2"),
            ("registry:5000/team/app".into(), Some("2".into()))
        );
        assert_eq!(parts("app@sha256:ab"), ("app@sha256:ab".into(), None));
    }

    #[test]
    fn ports_and_volumes_in_the_create_body() {
        let r = DockerCreateRequest {
            image: "busybox".into(),
            ports: Some(vec!["8080:80".into(), "8081:80".into(), "53:53".into()]),
            volumes: Some(vec!["/srv:/data:ro".into()]),
            ..Default::default()
        };
        let body = create_body(&r).unwrap();
        let host = body.host_config.unwrap();
        let bindings = host.port_bindings.unwrap();
        let ports: Vec<_> = bindings["80/tcp"]
            .iter()
            .flatten()
            .map(|b| b.host_port.clone().unwrap())
            .collect();
        assert_eq!(ports, ["8080", "8081"]);
        assert!(bindings.contains_key("53/tcp"));
        let mut exposed = body.exposed_ports.unwrap();
        exposed.sort();
        assert_eq!(exposed, ["53/tcp", "80/tcp"]);
        assert_eq!(host.binds.unwrap(), ["/srv:/data:ro"]);
    }
}
