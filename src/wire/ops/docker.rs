//! `docker.*`: containers and images of the host's Docker daemon (Engine API over its
//! Unix socket), at the latest original's paths under `/node/{hostname}/container/docker`.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::rules::{ip_list, one_of, Text, HOST_NAME};
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// An image reference: a letter or digit first, then `[A-Za-z0-9._:@-]` and single `/`
/// separators, not ending in `/`, `:` or `@`.
static IMAGE: Text = Text::new(
    "^[A-Za-z0-9]((?:[A-Za-z0-9._:@-]|/[A-Za-z0-9._:@-])*(?:[A-Za-z0-9._-]|/[A-Za-z0-9._-]))?$",
    1,
    512,
);
crate::text_schemas!(IMAGE => image_schema, _, _, _);

/// A container id or name (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`); a new container's
/// name has at least two characters.
static CONTAINER_ID: Text = Text::new("^[A-Za-z0-9][A-Za-z0-9_.-]*$", 1, 128);
static CONTAINER_NAME: Text = Text::new("^[A-Za-z0-9][A-Za-z0-9_.-]*$", 2, 128);
crate::text_schemas!(CONTAINER_ID => id_schema, _, _, _);
crate::text_schemas!(CONTAINER_NAME => _, name_schema, _, _);
crate::text_schemas!(HOST_NAME => _, hostname_schema, _, _);

/// `KEY=VALUE`: a variable name, then anything but NUL.
static ENV: Text = Text::new(r"^[A-Za-z_][A-Za-z0-9_]*=[^\x00]*$", 2, usize::MAX);
crate::text_schemas!(ENV => _, _, _, env_schema);

/// `host:container`, each a port from 1 to 65535 (leading zeros allowed, as `u16` reads).
static PORT: Text = Text::new(
    "^0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]):0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$",
    3,
    usize::MAX,
);
crate::text_schemas!(PORT => _, _, _, ports_schema);

/// `source:destination[:ro|rw]`: an absolute host path or a volume name, then an absolute
/// path in the container; no control characters.
static VOLUME: Text = Text::new(
    r"^(/[^:\x00-\x1f\x7f-\x9f]*|[A-Za-z0-9][A-Za-z0-9_.-]+):/[^:\x00-\x1f\x7f-\x9f]*(:(ro|rw))?$",
    3,
    usize::MAX,
);
crate::text_schemas!(VOLUME => _, _, _, volumes_schema);

/// An absolute path without control characters.
static WORKING_DIR: Text = Text::new(r"^/[^\x00-\x1f\x7f-\x9f]*$", 1, usize::MAX);
crate::text_schemas!(WORKING_DIR => _, working_dir_schema, _, _);

/// The states a listing filters by.
const LIST_STATES: [&str; 3] = ["running", "stopped", "all"];

fn state_schema() -> utoipa::openapi::schema::Object {
    one_of(&LIST_STATES, false)
}

fn dns_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    ip_list(true)
}

/// A command of at least one word, when given.
fn create_command_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(<String as utoipa::PartialSchema>::schema())
        .min_items(Some(1))
        .into()
}

/// A command whose first word (the program) is not empty.
fn exec_command_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let program = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1));
    ArrayBuilder::new()
        .prefix_items([program])
        .items(<String as utoipa::PartialSchema>::schema())
        .min_items(Some(1))
        .into()
}

/// How long one Engine API call may take (create, list, inspect, start, remove).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an exec may run: the command domain's longest timeout. Docker cannot kill
/// an exec, so a command still running then is left to finish inside its container.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a pull may take; the agent's progress acks keep the job alive meanwhile.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// The daemon's own stop grace when a stop names none.
pub const DEFAULT_STOP_SECS: u32 = 10;
/// The longest stop grace a caller may ask for.
pub const MAX_STOP_SECS: u32 = 300;
/// The most containers a listing may ask for.
pub const MAX_LIST: u32 = 100;

/// A docker operation: tag `docker`, its request as the job data, a per-host
/// [`HostResult`] of its payload, limited to `$limit`.
macro_rules! docker_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty, $limit:expr $(; $($extra:tt)*)?) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "docker", $summary,
            $req => $req => $payload => HostResult<$payload>;
            fn time_limit(data: &$req) -> Option<Duration> {
                #[allow(clippy::redundant_closure_call)]
                Some(($limit)(data))
            }
            $($($extra)*)?
        );
    };
}

/// A bodiless docker operation that also takes the URL's query (`?force=true`).
macro_rules! with_query {
    ($params:ty) => {
        const QUERY: bool = true;

        fn query_parameters() -> Vec<utoipa::openapi::path::Parameter> {
            <$params as utoipa::IntoParams>::into_params(|| {
                Some(utoipa::openapi::path::ParameterIn::Query)
            })
        }
    };
}

/// The limit of an operation that is one short Engine API call or a few.
const fn short_call(_: &impl Sized) -> Duration {
    CALL_TIMEOUT
}

docker_op!(DockerCreate, "docker.create.execute", Modify, Post, "/node/{hostname}/container/docker",
    DockerWrite, "Creates a container from a local image and, unless auto_start is false, starts it.",
    DockerCreateRequest => DockerContainer, short_call);
docker_op!(DockerList, "docker.list.get", Query, Get, "/node/{hostname}/container/docker",
    DockerRead, "The host's containers (state running, stopped or all; limit 1-100).",
    DockerListQuery => DockerContainerList, short_call; with_query!(DockerListParams););
docker_op!(DockerInspect, "docker.inspect.get", Query, Get,
    "/node/{hostname}/container/docker/{id}", DockerRead,
    "One container: state, ports, mounts and its first network's address.",
    ContainerId => DockerDetail, short_call);
docker_op!(DockerRemove, "docker.remove.execute", Modify, Delete,
    "/node/{hostname}/container/docker/{id}", DockerWrite,
    "Removes a container (force: a running one too); an absent one is nothing to do.",
    ContainerRemove => DockerAction, short_call; with_query!(ForceParam););
docker_op!(DockerStart, "docker.start.execute", Modify, Post,
    "/node/{hostname}/container/docker/{id}/start", DockerWrite,
    "Starts a container; a running one is left as it is.", ContainerId => DockerAction, short_call;
    const BODY: bool = false;);
docker_op!(DockerStop, "docker.stop.execute", Modify, Post,
    "/node/{hostname}/container/docker/{id}/stop", DockerWrite,
    "Stops a container (timeout: seconds before it is killed, 0-300); a stopped one is left as it is.",
    ContainerStop => DockerAction,
    |d: &ContainerStop| CALL_TIMEOUT + Duration::from_secs(d.timeout.unwrap_or(DEFAULT_STOP_SECS).into());
    const BODY_OPTIONAL: bool = true;);
docker_op!(DockerExec, "docker.exec.execute", Modify, Post,
    "/node/{hostname}/container/docker/{id}/exec", DockerExecute,
    "Runs a command in a running container: exit code, stdout and stderr (capped).",
    DockerExecRequest => DockerExecResult, |_: &DockerExecRequest| EXEC_TIMEOUT);
docker_op!(DockerPull, "docker.pull.execute", Modify, Post, "/node/{hostname}/container/docker/pull",
    DockerWrite, "Pulls an image (the tag latest when it names none).",
    ImageRef => DockerPullResult, |_: &ImageRef| PULL_TIMEOUT);
docker_op!(DockerImageRemove, "docker.image-remove.execute", Modify, Delete,
    "/node/{hostname}/container/docker/image/{image}", DockerWrite,
    "Removes an image (force: also when containers use it); an absent one is nothing to do.",
    ImageRemove => DockerAction, short_call; with_query!(ForceParam););

/// Body of `POST .../container/docker`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerCreateRequest {
    /// A local image: `busybox`, `registry:5000/team/app:1.2`, `app@sha256:...`.
    #[schema(schema_with = image_schema)]
    pub image: String,
    /// The container's name; a container of that name from the same image is reused.
    #[schema(schema_with = name_schema)]
    pub name: Option<String>,
    /// The container's hostname (RFC 1123, up to 253 characters).
    #[schema(schema_with = hostname_schema)]
    pub hostname: Option<String>,
    /// DNS servers (IP addresses).
    #[schema(schema_with = dns_schema)]
    pub dns: Option<Vec<String>>,
    /// The command (the image's default when absent).
    #[schema(schema_with = create_command_schema)]
    pub command: Option<Vec<String>>,
    /// `KEY=VALUE` environment entries.
    #[schema(schema_with = env_schema)]
    pub env: Option<Vec<String>>,
    /// `host:container` TCP ports to publish.
    #[schema(schema_with = ports_schema)]
    pub ports: Option<Vec<String>>,
    /// `source:destination[:ro|rw]` bind mounts (an absolute host path or a volume name).
    #[schema(schema_with = volumes_schema)]
    pub volumes: Option<Vec<String>>,
    /// Start it once created (default true).
    pub auto_start: Option<bool>,
}

impl DockerCreateRequest {
    /// Whether to start the container once created.
    pub fn auto_start(&self) -> bool {
        self.auto_start.unwrap_or(true)
    }
}

impl Validate for DockerCreateRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_image("image", &self.image)?;
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        if let Some(h) = &self.hostname {
            check_hostname(h)?;
        }
        for dns in self.dns.iter().flatten() {
            if dns.parse::<IpAddr>().is_err() {
                return Err(FieldError::new(
                    "dns",
                    format!("{dns:?} is not an IP address"),
                ));
            }
        }
        if self.command.as_ref().is_some_and(Vec::is_empty) {
            return Err(FieldError::new(
                "command",
                "command, when given, has at least one word",
            ));
        }
        check_env("env", self.env.iter().flatten())?;
        for port in self.ports.iter().flatten() {
            parse_port(port)?;
        }
        for volume in self.volumes.iter().flatten() {
            check_volume(volume)?;
        }
        Ok(())
    }
}

/// `?state=&limit=` of `GET .../container/docker`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DockerListQuery {
    /// `running`, `stopped` or `all` (default `all`).
    pub state: Option<String>,
    /// 1 to 100 (default: every container).
    #[serde(default, deserialize_with = "super::opt_int_or_text")]
    pub limit: Option<u32>,
}

/// The query parameters of a listing, for the API description.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
struct DockerListParams {
    /// `running`, `stopped` or `all` (default `all`).
    #[param(schema_with = state_schema)]
    state: Option<String>,
    /// 1 to 100 (default: every container).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Which containers a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListState {
    Running,
    Stopped,
    All,
}

impl DockerListQuery {
    /// The asked state; `all` when absent, as the API description says (the original's
    /// server answered running ones only).
    pub fn state(&self) -> Result<ListState, FieldError> {
        match self.state.as_deref() {
            None | Some("all") => Ok(ListState::All),
            Some("running") => Ok(ListState::Running),
            Some("stopped") => Ok(ListState::Stopped),
            Some(other) => Err(FieldError::new(
                "state",
                format!("unknown state {other:?}: one of running, stopped, all"),
            )),
        }
    }
}

impl Validate for DockerListQuery {
    fn validate(&self) -> Result<(), FieldError> {
        self.state()?;
        if self.limit.is_some_and(|l| !(1..=MAX_LIST).contains(&l)) {
            return Err(FieldError::new(
                "limit",
                format!("limit must be between 1 and {MAX_LIST}"),
            ));
        }
        Ok(())
    }
}

/// `{id}` of `GET .../container/docker/{id}` and `.../start`: a container ID or name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerId {
    #[schema(schema_with = id_schema)]
    pub id: String,
}

impl Validate for ContainerId {
    fn validate(&self) -> Result<(), FieldError> {
        check_id(&self.id)
    }
}

/// `?force=` of the removals.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
struct ForceParam {
    /// Remove also what is running or in use.
    force: Option<bool>,
}

/// `DELETE .../container/docker/{id}?force=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContainerRemove {
    #[schema(schema_with = id_schema)]
    pub id: String,
    /// Also a running container (it is killed first).
    #[serde(default, deserialize_with = "super::int_or_text")]
    pub force: bool,
}

impl Validate for ContainerRemove {
    fn validate(&self) -> Result<(), FieldError> {
        check_id(&self.id)
    }
}

/// `POST .../container/docker/{id}/stop` with an optional `{"timeout": 10}` body.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerStop {
    #[schema(schema_with = id_schema)]
    pub id: String,
    /// Seconds the container has to stop before it is killed (0-300, default 10).
    #[serde(default, deserialize_with = "super::opt_int_or_text")]
    #[schema(maximum = 300)]
    pub timeout: Option<u32>,
}

impl Validate for ContainerStop {
    fn validate(&self) -> Result<(), FieldError> {
        check_id(&self.id)?;
        if self.timeout.is_some_and(|t| t > MAX_STOP_SECS) {
            return Err(FieldError::new(
                "timeout",
                format!("timeout must be between 0 and {MAX_STOP_SECS} seconds"),
            ));
        }
        Ok(())
    }
}

/// `POST .../container/docker/{id}/exec`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerExecRequest {
    #[schema(schema_with = id_schema)]
    pub id: String,
    /// The program and its arguments (no shell).
    #[schema(schema_with = exec_command_schema)]
    pub command: Vec<String>,
    /// `KEY=VALUE` environment entries.
    #[schema(schema_with = env_schema)]
    pub env: Option<Vec<String>>,
    /// Absolute directory inside the container.
    #[schema(schema_with = working_dir_schema)]
    pub working_dir: Option<String>,
}

impl Validate for DockerExecRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_id(&self.id)?;
        if self.command.first().is_none_or(|c| c.is_empty()) {
            return Err(FieldError::new("command", "command needs a program name"));
        }
        check_env("env", self.env.iter().flatten())?;
        if let Some(dir) = &self.working_dir {
            if !WORKING_DIR.matches(dir) {
                return Err(FieldError::new(
                    "working_dir",
                    format!("{dir:?} is not an absolute path"),
                ));
            }
        }
        Ok(())
    }
}

/// Body of `POST .../container/docker/pull`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    #[schema(schema_with = image_schema)]
    pub image: String,
}

impl Validate for ImageRef {
    fn validate(&self) -> Result<(), FieldError> {
        check_image("image", &self.image)
    }
}

/// `DELETE .../container/docker/image/{image}?force=` (`/` and `:` percent-encoded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageRemove {
    #[schema(schema_with = image_schema)]
    pub image: String,
    /// Also an image that containers use.
    #[serde(default, deserialize_with = "super::int_or_text")]
    pub force: bool,
}

impl Validate for ImageRemove {
    fn validate(&self) -> Result<(), FieldError> {
        check_image("image", &self.image)
    }
}

/// Create's answer: the container as it is after create (and start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DockerContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// RFC 3339.
    pub created: String,
}

impl Payload for DockerContainer {}

/// One container of a listing (the same fields as create's answer).
pub type DockerSummary = DockerContainer;

/// A listing: one host's containers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DockerContainerList {
    #[serde(default)]
    pub containers: Vec<DockerSummary>,
}

impl Payload for DockerContainerList {}

/// The first network's address of a container.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetworkSettings {
    pub ip_address: Option<String>,
    pub gateway: Option<String>,
}

/// Inspect's answer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DockerDetail {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    pub created: String,
    /// Published ports, `host:container`.
    pub ports: Option<Vec<String>>,
    /// Mounts, `source:destination`.
    pub mounts: Option<Vec<String>>,
    /// Never filled (it may hold secrets), as in the original.
    pub env: Option<Vec<String>>,
    pub network_settings: Option<NetworkSettings>,
    /// The health check's status, when the image has one.
    pub health: Option<String>,
}

impl Payload for DockerDetail {}

/// Start, stop and the removals: what was acted on and what happened.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DockerAction {
    pub id: Option<String>,
    /// `container started`, `container already running`, `image removed`, ...
    pub message: Option<String>,
}

impl Payload for DockerAction {}

/// Exec's answer. The streams are capped at `agent.command.max_output` bytes each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DockerExecResult {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i64,
    /// Output past the cap was dropped (only sent when it was).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdout_truncated: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stderr_truncated: bool,
}

impl Payload for DockerExecResult {
    /// A non-zero exit is the host's failure, as a command's is.
    fn failure(&self) -> Option<String> {
        (self.exit_code != 0).then(|| format!("exit code {}", self.exit_code))
    }
}

/// Pull's answer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DockerPullResult {
    pub image_id: Option<String>,
    pub tag: Option<String>,
    /// Bytes.
    pub size: Option<i64>,
}

impl Payload for DockerPullResult {}

/// A published port: `host:container`, each 1-65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    pub host: u16,
    pub container: u16,
}

/// Parses a `host:container` port.
pub fn parse_port(spec: &str) -> Result<PortSpec, FieldError> {
    // The pattern first: `u16` alone would also read `+80`.
    let port = |s: &str| s.parse::<u16>().ok().filter(|_| PORT.matches(spec));
    match spec.split_once(':') {
        Some((h, c)) => match (port(h), port(c)) {
            (Some(host), Some(container)) => Ok(PortSpec { host, container }),
            _ => Err(FieldError::new(
                "ports",
                format!("{spec:?}: both ports are numbers from 1 to 65535"),
            )),
        },
        None => Err(FieldError::new(
            "ports",
            format!("{spec:?} is not host:container (8080:80)"),
        )),
    }
}

/// An image reference: `[registry[:port]/]path[:tag][@digest]` of lower-case path
/// parts. It becomes part of an Engine API URL, so nothing else may be in it.
pub fn check_image(field: &str, image: &str) -> Result<(), FieldError> {
    let ok = IMAGE.matches(image);
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{image:?} is not an image reference such as busybox:1.36 or registry:5000/team/app"),
        ))
    }
}

/// Docker's own rule for container names (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`): no `/`.
fn check_name(name: &str) -> Result<(), FieldError> {
    let ok = CONTAINER_NAME.matches(name);
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            format!("{name:?} is not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"),
        ))
    }
}

/// A container ID or name (`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`, the API description's pattern).
fn check_id(id: &str) -> Result<(), FieldError> {
    let ok = CONTAINER_ID.matches(id);
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "id",
            format!("{id:?} is not a container ID or name"),
        ))
    }
}

/// RFC 1123 host names.
fn check_hostname(h: &str) -> Result<(), FieldError> {
    if HOST_NAME.matches(h) {
        Ok(())
    } else {
        Err(FieldError::new(
            "hostname",
            format!("{h:?} is not a host name (RFC 1123, up to 253 characters)"),
        ))
    }
}

/// `KEY=VALUE` entries: a key of letters, digits and `_`, a value without NUL.
fn check_env<'a>(field: &str, env: impl Iterator<Item = &'a String>) -> Result<(), FieldError> {
    for entry in env {
        let ok = ENV.matches(entry);
        if !ok {
            return Err(FieldError::new(
                field,
                format!("{entry:?} is not KEY=VALUE"),
            ));
        }
    }
    Ok(())
}

/// `source:destination[:ro|rw]`: an absolute host path or a volume name, an absolute
/// path in the container.
fn check_volume(spec: &str) -> Result<(), FieldError> {
    let ok = VOLUME.matches(spec);
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "volumes",
            format!("{spec:?} is not source:destination[:ro|rw] (/srv/data:/data)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(f: impl FnOnce(&mut DockerCreateRequest)) -> Result<(), FieldError> {
        let mut r = DockerCreateRequest {
            image: "busybox".into(),
            ..Default::default()
        };
        f(&mut r);
        r.validate()
    }

    #[test]
    fn image_references() {
        for good in [
            "busybox",
            "busybox:1.36",
            "registry:5000/team/app:1.2",
            "ghcr.io/osapi/osapi@sha256:0123abcd",
            "osapi-test/busybox:1",
        ] {
            assert!(check_image("image", good).is_ok(), "{good:?}");
        }
        for bad in [
            "", "busy box", "busybox ", "-busybox", "a//b", "a/", "x:", "a?b", "a\nb", "../etc",
            "a%2fb",
        ] {
            assert_eq!(
                check_image("image", bad).unwrap_err().field,
                "image",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ports() {
        assert_eq!(
            parse_port("8080:80").unwrap(),
            PortSpec {
                host: 8080,
                container: 80
            }
        );
        for bad in [
            "80", "0:80", "8080:0", "70000:80", "80:65536", "a:b", "1:2:3", ":80",
        ] {
            assert_eq!(parse_port(bad).unwrap_err().field, "ports", "{bad:?}");
        }
    }

    #[test]
    fn create_fields() {
        assert!(create(|_| {}).is_ok());
        let field = |f: fn(&mut DockerCreateRequest)| create(f).unwrap_err().field;
        assert_eq!(field(|r| r.image = "bad image".into()), "image");
        assert_eq!(field(|r| r.name = Some("a/b".into())), "name");
        assert_eq!(field(|r| r.name = Some("x".into())), "name");
        assert_eq!(field(|r| r.hostname = Some("-x".into())), "hostname");
        assert_eq!(field(|r| r.dns = Some(vec!["dns.example".into()])), "dns");
        assert_eq!(field(|r| r.command = Some(vec![])), "command");
        assert_eq!(field(|r| r.env = Some(vec!["NOVALUE".into()])), "env");
        assert_eq!(field(|r| r.env = Some(vec!["A B=1".into()])), "env");
        assert_eq!(field(|r| r.ports = Some(vec!["99999:80".into()])), "ports");
        assert_eq!(
            field(|r| r.volumes = Some(vec!["rel/path:/data".into()])),
            "volumes"
        );
        assert_eq!(
            field(|r| r.volumes = Some(vec!["/srv:/data:rx".into()])),
            "volumes"
        );
        assert!(create(|r| {
            r.name = Some("web-1".into());
            r.hostname = Some("web-1.example".into());
            r.dns = Some(vec!["192.0.2.53".into(), "2001:db8::53".into()]);
            r.env = Some(vec!["A=1".into(), "EMPTY=".into()]);
            r.ports = Some(vec!["8080:80".into()]);
            r.volumes = Some(vec!["/srv/data:/data:ro".into(), "cache:/cache".into()]);
        })
        .is_ok());
    }

    #[test]
    fn other_requests() {
        let list = |state: Option<&str>, limit| DockerListQuery {
            state: state.map(Into::into),
            limit,
        };
        assert_eq!(list(None, None).state().unwrap(), ListState::All);
        assert_eq!(
            list(Some("stopped"), Some(100)).state().unwrap(),
            ListState::Stopped
        );
        assert_eq!(
            list(Some("paused"), None).validate().unwrap_err().field,
            "state"
        );
        assert_eq!(list(None, Some(0)).validate().unwrap_err().field, "limit");
        assert_eq!(list(None, Some(101)).validate().unwrap_err().field, "limit");
        let stop = |id: &str, timeout| ContainerStop {
            id: id.into(),
            timeout,
        };
        assert!(stop("web-1", Some(300)).validate().is_ok());
        assert_eq!(
            stop("web-1", Some(301)).validate().unwrap_err().field,
            "timeout"
        );
        assert_eq!(stop("a/b", None).validate().unwrap_err().field, "id");
        let exec = |command: &[&str], dir: Option<&str>| DockerExecRequest {
            id: "web-1".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            env: None,
            working_dir: dir.map(Into::into),
        };
        assert!(exec(&["echo", "hi"], Some("/tmp")).validate().is_ok());
        assert_eq!(exec(&[], None).validate().unwrap_err().field, "command");
        assert_eq!(
            exec(&["ls"], Some("tmp")).validate().unwrap_err().field,
            "working_dir"
        );
    }

    #[test]
    fn query_text_becomes_numbers_and_flags() {
        let q: DockerListQuery =
            serde_json::from_value(serde_json::json!({"state": "all", "limit": "5"})).unwrap();
        assert_eq!(q.limit, Some(5));
        let r: ContainerRemove =
            serde_json::from_value(serde_json::json!({"id": "x1", "force": "true"})).unwrap();
        assert!(r.force);
        let r: ImageRemove =
            serde_json::from_value(serde_json::json!({"image": "busybox"})).unwrap();
        assert!(!r.force);
    }
}
