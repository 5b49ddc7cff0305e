//! The operation catalogue: every job operation declared once, as a type implementing
//! [`Op`], with its request, job data and payload types beside it in its domain module.
//!
//! Each layer derives its part from these declarations: the controller's routes, permission
//! guards and OpenAPI paths, the agent's dispatch table, the SDK's typed calls and the
//! orchestrator's steps. [`for_each_op!`] lists every operation once; a layer that expands
//! it for its own trait fails to build when an operation lacks that layer's impl.

/// Declares an operation: its unit type and its [`Op`] impl, in one place.
///
/// `Type, "name", Kind, Method, "path", Permission, "tag", "summary",
/// Request => Data => Payload => Item; extra Op items (ANSWER, time_limit, ...)`.
macro_rules! op {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal,
     $perm:ident, $tag:literal, $summary:expr,
     $request:ty => $data:ty => $payload:ty => $item:ty $(; $($extra:tt)*)?) => {
        $(#[$doc])*
        pub struct $ty;

        impl $crate::wire::ops::Op for $ty {
            const NAME: &'static str = $name;
            const KIND: $crate::job::OpKind = $crate::job::OpKind::$kind;
            const METHOD: $crate::wire::ops::Method = $crate::wire::ops::Method::$method;
            const PATH: &'static str = $path;
            const PERMISSION: $crate::auth::Permission = $crate::auth::Permission::$perm;
            const TAG: &'static str = $tag;
            const SUMMARY: &'static str = $summary;
            type Request = $request;
            type Data = $data;
            type Payload = $payload;
            type Item = $item;
            $($($extra)*)?
        }
    };
}

pub mod certificate;
pub mod command;
pub mod cron;
pub mod file;
pub mod group;
pub mod host;
pub mod network;
pub mod node;
pub mod ntp;
pub mod package;
pub mod service;
pub mod ssh_key;
pub mod sysctl;
pub mod user;

pub mod log;
pub mod netplan;
pub mod process;

pub mod docker;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{HostItem, Payload, Validate};
use crate::auth::Permission;
use crate::job::OpKind;

/// HTTP method of an operation's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

/// One job operation: what it is called on the wire, how it is reached over HTTP, who may
/// call it, and the types that travel for it.
pub trait Op: Send + Sync + 'static {
    /// Job operation name (`node.hostname.get`).
    const NAME: &'static str;
    /// Reads (query) or changes (modify) the host.
    const KIND: OpKind;
    const METHOD: Method;
    /// Route template under the API root; `{hostname}` is the target, any other `{param}`
    /// is a field of [`Op::Request`].
    const PATH: &'static str;
    const PERMISSION: Permission;
    /// OpenAPI tag (the domain).
    const TAG: &'static str;
    /// One line for the API description.
    const SUMMARY: &'static str;
    /// Whether the request has a JSON body (else it is made of path parameters alone).
    const BODY: bool = matches!(Self::METHOD, Method::Post | Method::Put);
    /// Whether a request without a body is taken as `{}` (docker stop's optional
    /// `timeout`); else a [`Op::BODY`] operation answers 400 without one.
    const BODY_OPTIONAL: bool = false;
    /// Whether a bodiless request also takes the URL's query parameters (a read's
    /// filters: `?lines=50&priority=err`); the path parameters win over them.
    const QUERY: bool = false;
    /// The operation's name and kind.
    const OP: OpName = OpName {
        name: Self::NAME,
        kind: Self::KIND,
    };

    /// What the caller sends: the JSON body plus path parameters other than `hostname`.
    type Request: Serialize + DeserializeOwned + Validate + utoipa::ToSchema + Send + Sync;
    /// The job data the agent receives (stored in the job record). Usually the request.
    type Data: Serialize + DeserializeOwned + From<Self::Request> + Send + Sync;
    /// What one host answers (`changed` travels beside it).
    type Payload: Serialize + DeserializeOwned + Payload + utoipa::ToSchema + Send + Sync;
    /// The per-host item of the HTTP answer.
    type Item: HostItem + Serialize + DeserializeOwned + utoipa::ToSchema + Send + Sync;

    /// How the HTTP answer is shaped.
    const ANSWER: AnswerShape = AnswerShape::Collection;
    /// Whether success is `202 Accepted` (the seed era's changes) rather than `200`; the
    /// latest original's newer domains answer their changes with 200.
    const ACCEPTED: bool = matches!(Self::KIND, OpKind::Modify);

    /// The operation's own time limit; a caller's wait covers it.
    fn time_limit(_data: &Self::Data) -> Option<Duration> {
        None
    }

    /// The query parameters a [`Op::QUERY`] operation documents in the API description.
    fn query_parameters() -> Vec<utoipa::openapi::path::Parameter> {
        Vec::new()
    }

    /// The stored object (object store) the request names, which must exist before the
    /// job is sent.
    fn stored_object(_request: &Self::Request) -> Option<&str> {
        None
    }

    /// The request field that names the stored object (a 400 names it when the object
    /// was not uploaded).
    const STORED_OBJECT_FIELD: &'static str = "object_name";
}

/// The HTTP answer of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerShape {
    /// `{job_id, results: [item...]}`.
    Collection,
    /// The collection, plus (for a unicast target) the one host's item fields at the top
    /// level with `changed` always present: the original's file answers.
    WithUnicastItem,
}

/// The payload of a change whose answer is only `changed` (beside the item's status).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Changed {}

impl Payload for Changed {}

/// The payload of a change to one named thing (a cron entry, a package, a service): its
/// name beside the item's `changed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Named {
    pub name: String,
}

impl Named {
    pub fn of(name: &str) -> Self {
        Self {
            name: name.to_owned(),
        }
    }
}

impl Payload for Named {}

/// The request of an operation that takes nothing but its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

impl Validate for NoInput {
    fn validate(&self) -> Result<(), super::FieldError> {
        Ok(())
    }
}

/// Integers that arrive as text (path and query parameters) or as JSON numbers (bodies);
/// a number written with a zero fraction (`108.0`) is the integer JSON Schema takes it for.
pub fn int_or_text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    Raw::<T>::deserialize(d)?.value()
}

/// What [`int_or_text`] reads.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw<T> {
    Number(T),
    Float(f64),
    Text(String),
}

impl<T> Raw<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    fn value<E: serde::de::Error>(self) -> Result<T, E> {
        match self {
            Raw::Number(n) => Ok(n),
            Raw::Float(f) if f.fract() == 0.0 && f.abs() < 1e18 => {
                format!("{f:.0}").parse().map_err(E::custom)
            }
            Raw::Float(f) => Err(E::custom(format!("{f} is not an integer"))),
            Raw::Text(s) => s.trim().parse().map_err(E::custom),
        }
    }
}

/// [`int_or_text`] for an optional field (with `#[serde(default)]`); `null` is absent,
/// as for any other optional field.
pub fn opt_int_or_text<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    Option::<Raw<T>>::deserialize(d)?
        .map(Raw::value)
        .transpose()
}

/// Calls `$m!` with every operation type of the catalogue, in one list.
///
/// ```text
/// macro_rules! register { ($($op:ty),* $(,)?) => { $( table.add::<$op>(); )* } }
/// osapi::for_each_op!(register);
/// ```
#[macro_export]
macro_rules! for_each_op {
    ($m:ident) => {
        $m!(
            $crate::wire::ops::node::NodeHostnameGet,
            $crate::wire::ops::node::NodeStatusGet,
            $crate::wire::ops::node::NodeUptimeGet,
            $crate::wire::ops::node::NodeOsGet,
            $crate::wire::ops::node::NodeDiskGet,
            $crate::wire::ops::node::NodeMemoryGet,
            $crate::wire::ops::node::NodeLoadGet,
            $crate::wire::ops::node::NodeTimezoneGet,
            $crate::wire::ops::host::NodeHostnameUpdate,
            $crate::wire::ops::host::NodeTimezoneUpdate,
            $crate::wire::ops::host::NodePowerReboot,
            $crate::wire::ops::host::NodePowerShutdown,
            $crate::wire::ops::sysctl::NodeSysctlList,
            $crate::wire::ops::sysctl::NodeSysctlGet,
            $crate::wire::ops::sysctl::NodeSysctlCreate,
            $crate::wire::ops::sysctl::NodeSysctlUpdate,
            $crate::wire::ops::sysctl::NodeSysctlDelete,
            $crate::wire::ops::ntp::NodeNtpGet,
            $crate::wire::ops::ntp::NodeNtpCreate,
            $crate::wire::ops::ntp::NodeNtpUpdate,
            $crate::wire::ops::ntp::NodeNtpDelete,
            $crate::wire::ops::network::NetworkDnsGet,
            $crate::wire::ops::network::NetworkDnsUpdate,
            $crate::wire::ops::network::NetworkPingDo,
            $crate::wire::ops::command::CommandExec,
            $crate::wire::ops::command::CommandShell,
            $crate::wire::ops::file::FileDeploy,
            $crate::wire::ops::file::FileStatus,
            $crate::wire::ops::cron::ScheduleCronList,
            $crate::wire::ops::cron::ScheduleCronGet,
            $crate::wire::ops::cron::ScheduleCronCreate,
            $crate::wire::ops::cron::ScheduleCronUpdate,
            $crate::wire::ops::cron::ScheduleCronDelete,
            $crate::wire::ops::package::NodePackageList,
            $crate::wire::ops::package::NodePackageGet,
            $crate::wire::ops::package::NodePackageInstall,
            $crate::wire::ops::package::NodePackageRemove,
            $crate::wire::ops::package::NodePackageUpdate,
            $crate::wire::ops::package::NodePackageListUpdates,
            $crate::wire::ops::service::NodeServiceList,
            $crate::wire::ops::service::NodeServiceGet,
            $crate::wire::ops::service::NodeServiceCreate,
            $crate::wire::ops::service::NodeServiceUpdate,
            $crate::wire::ops::service::NodeServiceDelete,
            $crate::wire::ops::service::NodeServiceStart,
            $crate::wire::ops::service::NodeServiceStop,
            $crate::wire::ops::service::NodeServiceRestart,
            $crate::wire::ops::service::NodeServiceEnable,
            $crate::wire::ops::service::NodeServiceDisable,
            $crate::wire::ops::group::NodeGroupList,
            $crate::wire::ops::group::NodeGroupGet,
            $crate::wire::ops::group::NodeGroupCreate,
            $crate::wire::ops::group::NodeGroupUpdate,
            $crate::wire::ops::group::NodeGroupDelete,
            $crate::wire::ops::user::NodeUserList,
            $crate::wire::ops::user::NodeUserGet,
            $crate::wire::ops::user::NodeUserCreate,
            $crate::wire::ops::user::NodeUserUpdate,
            $crate::wire::ops::user::NodeUserDelete,
            $crate::wire::ops::user::NodeUserPassword,
            $crate::wire::ops::ssh_key::NodeSshKeyList,
            $crate::wire::ops::ssh_key::NodeSshKeyAdd,
            $crate::wire::ops::ssh_key::NodeSshKeyRemove,
            $crate::wire::ops::certificate::CertificateCaList,
            $crate::wire::ops::certificate::CertificateCaCreate,
            $crate::wire::ops::certificate::CertificateCaUpdate,
            $crate::wire::ops::certificate::CertificateCaDelete,
            $crate::wire::ops::file::FileUndeploy,
            $crate::wire::ops::process::NodeProcessList,
            $crate::wire::ops::process::NodeProcessGet,
            $crate::wire::ops::process::NodeProcessSignal,
            $crate::wire::ops::log::NodeLogQuery,
            $crate::wire::ops::log::NodeLogSources,
            $crate::wire::ops::log::NodeLogUnit,
            $crate::wire::ops::netplan::NetworkInterfaceList,
            $crate::wire::ops::netplan::NetworkInterfaceGet,
            $crate::wire::ops::netplan::NetworkInterfaceCreate,
            $crate::wire::ops::netplan::NetworkInterfaceUpdate,
            $crate::wire::ops::netplan::NetworkInterfaceDelete,
            $crate::wire::ops::netplan::NetworkRouteList,
            $crate::wire::ops::netplan::NetworkRouteGet,
            $crate::wire::ops::netplan::NetworkRouteCreate,
            $crate::wire::ops::netplan::NetworkRouteUpdate,
            $crate::wire::ops::netplan::NetworkRouteDelete,
            $crate::wire::ops::netplan::NetworkDnsDelete,
            $crate::wire::ops::docker::DockerCreate,
            $crate::wire::ops::docker::DockerList,
            $crate::wire::ops::docker::DockerInspect,
            $crate::wire::ops::docker::DockerRemove,
            $crate::wire::ops::docker::DockerStart,
            $crate::wire::ops::docker::DockerStop,
            $crate::wire::ops::docker::DockerExec,
            $crate::wire::ops::docker::DockerPull,
            $crate::wire::ops::docker::DockerImageRemove,
        )
    };
}

/// An operation's metadata, for code that handles operations by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpInfo {
    pub name: &'static str,
    pub kind: OpKind,
    pub method: Method,
    pub path: &'static str,
    pub permission: Permission,
}

impl OpInfo {
    /// The metadata of `O`.
    pub const fn of<O: Op>() -> Self {
        Self {
            name: O::NAME,
            kind: O::KIND,
            method: O::METHOD,
            path: O::PATH,
            permission: O::PERMISSION,
        }
    }
}

macro_rules! infos {
    ($($op:ty),* $(,)?) => { &[$(OpInfo::of::<$op>()),*] };
}

/// Every operation of the catalogue.
pub const CATALOGUE: &[OpInfo] = for_each_op!(infos);

/// The `{param}` names of a route template, in order.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
}

/// A named operation and whether it reads or changes the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpName {
    pub name: &'static str,
    pub kind: OpKind,
}

/// Go-style duration text (`26h3m4.5s`), as the original's uptime field.
pub fn go_duration(d: Duration) -> String {
    let total = d.as_secs();
    let (h, m) = (total / 3600, (total % 3600) / 60);
    let s = (total % 60) as f64 + f64::from(d.subsec_millis()) / 1000.0;
    let secs = if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// `D days, H hours, M minutes`, as the original's node status.
pub fn human_uptime(d: Duration) -> String {
    let total = d.as_secs();
    format!(
        "{} days, {} hours, {} minutes",
        total / 86400,
        (total % 86400) / 3600,
        (total % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_from_numbers_text_or_whole_floats() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "int_or_text")]
            n: u32,
            #[serde(default, deserialize_with = "opt_int_or_text")]
            o: Option<u32>,
        }
        let read = |j: &str| serde_json::from_str::<T>(j).map(|t| (t.n, t.o)).ok();
        assert_eq!(read(r#"{"n": 5}"#), Some((5, None)));
        assert_eq!(read(r#"{"n": "5", "o": null}"#), Some((5, None)));
        assert_eq!(read(r#"{"n": 108.0, "o": "7"}"#), Some((108, Some(7))));
        assert_eq!(read(r#"{"n": 1.5}"#), None);
        assert_eq!(read(r#"{"n": -1.0}"#), None);
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(Duration::from_secs(93784)), "26h3m4s");
        assert_eq!(go_duration(Duration::from_millis(90500)), "1m30.5s");
        assert_eq!(go_duration(Duration::from_secs(5)), "5s");
        assert_eq!(
            human_uptime(Duration::from_secs(90061)),
            "1 days, 1 hours, 1 minutes"
        );
    }
}
